"""Tool rows: forced, named, parallel and disabled tool use, and tool input validity."""

from __future__ import annotations

from typing import Any

from conformance.oracles.base import POSITIVE, failure, oracle, tool_uses
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed


def _validate_input(tool: dict[str, Any] | None, block: dict[str, Any]) -> str | None:
    import jsonschema

    if not isinstance(block.get("input"), dict):
        return f"input is {type(block.get('input')).__name__}, not an object"
    if tool is None:
        return None
    try:
        jsonschema.Draft202012Validator(tool.get("input_schema", {})).validate(block["input"])
    except jsonschema.ValidationError as exc:
        return f"input does not match input_schema: {exc.message}"
    return None


@oracle(
    "tool_use",
    params={
        "expect": {"enum": ["named", "any", "auto", "none", "single"]},
        "trials": POSITIVE,
        "tool": {"type": "string"},
        "check_input": {"type": "boolean"},
    },
    required=("expect",),
)
def tool_use(p: Probe, case: Any) -> Observation:
    """Tool behaviour over N trials, with forced choice wherever the row allows.

    ``params.expect``: ``named`` (every trial calls ``params.tool`` with schema-valid input),
    ``any`` (every trial calls some tool), ``none`` (no trial calls a tool, while the control
    arm shows a tool call is reachable), ``auto`` (a tool call is possible at all),
    ``single`` (at most one call per answer, while the control shows parallel calls).
    """
    expect = case.params["expect"]
    n = case.params.get("trials", p.settings.trials)
    counts, problems, names = [], [], []
    right = 0  # calls of params.tool, whose {{K}} resolves per trial like the body's
    for trial in range(n):
        body = p.body(case.probe, trial=trial)
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        uses = tool_uses(ex)
        counts.append(len(uses))
        tools = {t.get("name"): t for t in body.get("tools", []) if isinstance(t, dict)}
        for block in uses:
            names.append(block.get("name"))
            right += block.get("name") == p.resolve(case.params.get("tool"), trial)
            problem = _validate_input(tools.get(block.get("name")), block)
            if problem:
                problems.append(f"trial {trial + 1}: {problem}")
    evidence: dict[str, Any] = {
        "tool_uses_per_trial": counts,
        "names": names,
        "input_problems": problems,
    }
    control_counts: list[int] = []
    if case.control is not None:
        for trial in range(n):
            ex = p.send(f"control {trial + 1}", p.body(case.probe, case.control, trial=trial))
            control_counts.append(len(tool_uses(ex)) if ex.ok else -1)
        evidence["control_tool_uses"] = control_counts
    called = sum(1 for c in counts if c)
    summary = f"tool called in {called}/{n}"
    if expect == "named":
        want = p.resolve(case.params["tool"])
        summary = f"{want} called in {right}/{n}"
        if right == n and problems and case.params.get("check_input"):
            return Observation(
                Observed.IGNORED,
                f"{summary}, but input ignores input_schema: {problems[0]}",
                evidence,
            )
        if right == n and all(c == 1 for c in counts) and not problems:
            return Observation(Observed.HONORED, f"{summary}, input schema-valid", evidence)
        if right == n:
            return Observation(Observed.HONORED, f"{summary}; but {problems or counts}", evidence)
        if right == 0:
            return Observation(
                Observed.IGNORED, f"{summary} (names: {names or 'no tool call'})", evidence
            )
        return Observation(Observed.INCONCLUSIVE, summary, evidence)
    if expect == "any":
        if called == n:
            return Observation(Observed.HONORED, summary, evidence)
        return Observation(
            Observed.IGNORED if called == 0 else Observed.INCONCLUSIVE, summary, evidence
        )
    if expect == "auto":
        if called:
            return Observation(Observed.HONORED, summary, evidence)
        return Observation(
            Observed.INCONCLUSIVE, f"{summary}: the model chose not to call a tool", evidence
        )
    if expect == "none":
        if not any(c > 0 for c in control_counts):
            return Observation(
                Observed.INCONCLUSIVE,
                f"{summary}; the control never called a tool either",
                evidence,
            )
        if called == 0:
            return Observation(
                Observed.HONORED,
                f"no tool call in {n}/{n}; control called in "
                f"{sum(1 for c in control_counts if c > 0)}/{n}",
                evidence,
            )
        return Observation(Observed.IGNORED, summary, evidence)
    if expect == "single":
        if not any(c > 1 for c in control_counts):
            return Observation(
                Observed.INCONCLUSIVE,
                f"the control never made parallel calls {control_counts}; nothing to disable",
                evidence,
            )
        if all(c <= 1 for c in counts):
            return Observation(
                Observed.HONORED,
                f"at most one call per answer {counts}; control {control_counts}",
                evidence,
            )
        return Observation(Observed.IGNORED, f"parallel calls despite the flag {counts}", evidence)
    raise ValueError(f"unknown tool_use expectation {expect!r}")
