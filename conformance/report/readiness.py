"""The Claude Code readiness line of a column: works as is, with settings, or not at all.

Computed from the results alone (the client-shape rows, the rows that carry a
``workaround``, and the tool rows Claude Code lives on), so both writers show the same line.
"""

from __future__ import annotations

from typing import Any

CLAUDE_CODE_SHAPES = "clients.claude_code."
# Claude Code's turns offer tools under auto and run the calls from the streamed input: an
# endpoint whose requests are all accepted is still no use to it when these do not pass.
TOOL_CALL_ROWS = ("tool_choice.auto", "claude_code.tool_input.stream")
FORCED = "tool_choice.any"  # shows whether tools reach the model at all


WITH_SETTINGS = ".with_"  # clients.claude_code.<turn>.with_<settings>: a shape with settings on


def _shape_settings(record: dict[str, Any]) -> dict[str, str]:
    """The Claude Code settings a client-shape row's shape was captured with ({}: defaults)."""
    found = (record.get("evidence") or {}).get("settings")
    return found if isinstance(found, dict) else {}


def _is_variant(record: dict[str, Any]) -> bool:
    """A row replaying a shape captured with settings on; by its id too, because a row that
    ended in error before its shape was read has no settings in its evidence."""
    return bool(_shape_settings(record)) or WITH_SETTINGS in record["id"]


def tool_calls(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """What stops Claude Code's tool calls (``id: message``), and the tool rows that could
    not tell (ids). A tool row that fails blocks; so does auto with no call at all when even
    a forced call (``tool_choice.any``) is never made: tools do not reach the model."""
    by_id = {r["id"]: r for r in records}
    blocked: list[str] = []
    unsure: list[str] = []
    forced = by_id.get(FORCED)
    never = forced is not None and forced.get("observed") == "ignored"
    for cid in TOOL_CALL_ROWS:
        r = by_id.get(cid)
        if r is None or r["outcome"] == "pass":
            continue
        message = (r.get("message") or "").split(" — ")[0][:160]
        if r["outcome"] == "fail":
            blocked.append(f"{cid}: {message}")
        elif never and cid == "tool_choice.auto":
            blocked.append(f"{cid}: {message}; even forced, {FORCED} got no call")
        else:
            unsure.append(cid)
    return blocked, unsure


def claude_code_readiness(records: list[dict[str, Any]]) -> str | None:
    """The readiness line of :func:`_shapes_line`, qualified by the tool rows: requests that
    are all accepted do not make Claude Code work when its tool calls do not."""
    line = _shapes_line(records)
    if line is None:
        return None
    blocked, unsure = tool_calls(records)
    if blocked:
        if line.startswith("does not work"):
            return f"{line}; tool calls: {'; '.join(blocked)}"
        return f"does not work: tool calls: {'; '.join(blocked)} (its requests: {line})"
    if unsure and line.startswith("works"):
        return f"not decided: tool calls ({', '.join(unsure)} inconclusive; its requests: {line})"
    return line


def _shapes_line(records: list[dict[str, Any]]) -> str | None:
    """One line: does Claude Code work against this target as is, with documented settings,
    or not at all, and why. From the client-shape rows (``clients.claude_code.*``: what
    Claude Code really sends, by default and captured with settings on) and the rows
    carrying a ``workaround`` (evidence).

    Where shapes captured with settings were run, they decide: the fewest settings whose
    shape is accepted are the way out, and none accepted means it does not work. Without
    them, a refused shape counts as worked around when its bisection names a request part
    a workaround ``covers``. None when no default Claude Code shape row was run."""
    shapes = [r for r in records if r["id"].startswith(CLAUDE_CODE_SHAPES)]
    default = [r for r in shapes if not _is_variant(r)]
    variants = [r for r in shapes if _is_variant(r)]
    if not default:
        return None
    fixes = [
        (r, r["evidence"]["workaround"])
        for r in records
        if isinstance((r.get("evidence") or {}).get("workaround"), dict)
    ]
    settings: dict[str, str] = {}  # setting -> why (rows that break Claude Code)
    advised: dict[str, str] = {}  # setting -> why (rows that only cost: the prompt cache)
    for r, fix in fixes:
        if r["outcome"] == "fail":
            (advised if fix.get("effect") == "cost" else settings).setdefault(
                fix["setting"], r["id"]
            )
    blocked: list[str] = []
    for r in default:
        if r["outcome"] == "pass":
            continue
        message = r.get("message") or ""
        cover = next(
            (fix for _, fix in fixes if any(c in message for c in fix.get("covers") or [])),
            None,
        )
        if r["outcome"] == "fail" and cover is not None and not variants:
            settings.setdefault(cover["setting"], r["id"])
        elif r["outcome"] == "fail":  # an error row was not judged: "not decided", below
            blocked.append(f"{r['id']}: {message.split(' — ')[0][:160]}")
    others = sorted(
        r["id"]
        for r in records
        if r["id"].startswith("claude_code.")
        and r["id"] not in TOOL_CALL_ROWS  # the tool-call verdict names them
        and r["outcome"] == "fail"
        and not (r.get("evidence") or {}).get("workaround")
    )
    tail = "".join(f"; advised: {k} (for {v})" for k, v in advised.items())
    if others:
        tail += f"; and these Claude Code rows fail with no setting for them: {', '.join(others)}"
    if blocked and variants:
        accepted = sorted(
            (v for v in variants if v["outcome"] == "pass" and _shape_settings(v)),
            key=lambda v: len(_shape_settings(v)),
        )
        if accepted:
            way = accepted[0]
            listed = " ".join(f"{k}={v}" for k, v in sorted(_shape_settings(way).items()))
            return (
                f"works with these settings: {listed} ({way['id']} accepted; without them "
                f"{'; '.join(blocked)}){tail}"
            )
        tried = ", ".join(v["id"] for v in variants)
        why = "; ".join(blocked)
        return f"does not work: {why} (nor with settings: {tried} not accepted){tail}"
    if blocked:
        return "does not work: " + "; ".join(blocked) + tail
    if settings:
        listed = ", ".join(f"{k} (for {v})" for k, v in settings.items())
        return f"works with these settings: {listed}{tail}"
    unsure = [f"{r['id']} {r['outcome']}" for r in default if r["outcome"] != "pass"]
    if unsure:
        return f"not decided: {', '.join(unsure)}{tail}"
    return f"works as is{tail}"
