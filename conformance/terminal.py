"""What the terminal says about a run: one line per row that did not pass.

Instead of a block of raw evidence per failed row, each row gets one line a person can read::

    known: headers.anthropic-version [llamacpp]: declared honored (implied) → observed
        ignored — the header is not read
    NEW: tools.name [litellm]: declared honored → observed rejected — 400 invalid_request_error
    stale: protocol.models [llamacpp]: declared honored → observed honored — expected fail
        (violated), now passes
    inconclusive: tool_choice.auto [llamacpp]: declared honored → observed inconclusive — tool
        called in 0/2: the model chose not to call a tool

(each is one line; wrapped here).
Pure functions of the results and the classification (:mod:`conformance.expectations`);
the full message and evidence only on request (``verbose``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance import expectations as ex
from conformance.display import escape_controls

PREFIX = {
    ex.KNOWN: "known:",
    ex.NEW: "NEW:",
    ex.NEW_INCONCLUSIVE: "NEW inconclusive:",
    ex.INCONCLUSIVE: "inconclusive:",
    ex.STALE: "stale:",
    ex.ERROR: "NEW error:",
}
# Order of the lines: what is expected first, what needs attention last (nearest the summary).
ORDER = {
    "known": 0,
    "known-inconclusive": 1,
    ex.INCONCLUSIVE: 1,
    ex.STALE: 2,
    ex.ERROR: 3,
    ex.NEW_INCONCLUSIVE: 4,
    ex.NEW: 5,
}
REASON_WORDS = 90  # characters of a reason in one line


def _declared_text(record: Mapping[str, Any] | None, row: ex.Row) -> str:
    declared = (record or {}).get("declared")
    status = row.declared
    if not status or status == "undocumented":
        return "declared nothing"
    implied = isinstance(declared, Mapping) and declared.get("implied")
    return f"declared {status}{' (implied)' if implied else ''}"


def _group(row: ex.Row) -> str:
    if row.kind == ex.KNOWN:
        return "known-inconclusive" if row.outcome == "inconclusive" else "known"
    return row.kind


def prefix(row: ex.Row) -> str:
    if row.kind == ex.KNOWN and row.outcome == "inconclusive":
        return "inconclusive:"
    if row.kind == ex.KNOWN and row.outcome == "error":
        return "known error:"
    return PREFIX.get(row.kind, f"{row.kind}:")


def reason(row: ex.Row) -> str:
    """A few words on why: the expectation's reason for a known row, the message otherwise."""
    if row.kind == ex.STALE:
        known = f"; was: {row.expectation.reason}" if row.expectation else ""
        return ex.shorten(row.why + known, REASON_WORDS)
    if row.kind == ex.KNOWN and row.outcome != "inconclusive" and row.expectation:
        return ex.shorten(row.expectation.reason, REASON_WORDS)
    why = ex.why_not_decided(row.outcome, row.observed, row.declared, row.message)
    return ex.shorten(why, REASON_WORDS)


def line(row: ex.Row, record: Mapping[str, Any] | None = None) -> str:
    """``<prefix> id [target]: declared X → observed Y — reason``."""
    return (
        f"{prefix(row)} {row.id} [{row.target}]: {_declared_text(record, row)} → "
        f"observed {row.observed} — {reason(row)}"
    )


def _index(results: Any) -> dict[tuple[str, str], Mapping[str, Any]]:
    records = results.get("results", []) if isinstance(results, Mapping) else results
    return {(r["target"], r["id"]): r for r in records}


def describe(row: ex.Row, record: Mapping[str, Any] | None = None, verbose: int = 0) -> list[str]:
    """A row's line, then with ``verbose`` 1 its full message (and expectation), with 2 its
    evidence (JSON) too."""
    out = [line(row, record)]
    if verbose >= 1:
        out.append(f"    message: {row.message}")
        if row.expectation is not None:
            out.append(
                f"    expected: {row.expectation.outcome} ({row.expectation.observed}): "
                f"{row.expectation.reason}"
            )
    if verbose >= 2 and record is not None:
        evidence = json.dumps(record.get("evidence", {}), indent=1, ensure_ascii=False)
        out.extend("    " + part for part in evidence.splitlines())
    return [escape_controls(text, one_line=True) for text in out]  # an endpoint's text


def lines(results: Any, summary: ex.Summary, verbose: int = 0) -> list[str]:
    """One line per row that did not pass (passes are counted, not listed), ordered known,
    inconclusive, stale, errors, NEW. ``verbose`` 1 adds each row's full message; 2 also its
    evidence (JSON)."""
    index = _index(results)
    rows = [r for r in summary.rows if r.kind != ex.PASS]
    rows.sort(key=lambda r: (ORDER.get(_group(r), 9), r.id, r.target))
    out = []
    for row in rows:
        out += describe(row, index.get((row.target, row.id)), verbose)
    return out


def summary_line(summary: ex.Summary) -> str:
    """``rows: 53 pass, 51 known, 2 NEW, 1 stale; exit 1: ...``, and what to do about it."""
    counts = summary.counts()
    names = [
        (ex.PASS, "pass"),
        (ex.KNOWN, "known"),
        (ex.INCONCLUSIVE, "inconclusive"),
        (ex.NEW, "NEW"),
        (ex.NEW_INCONCLUSIVE, "NEW inconclusive"),
        (ex.ERROR, "NEW error"),
        (ex.STALE, "stale"),
    ]
    parts = [f"{counts[k]} {label}" for k, label in names if counts.get(k)]
    text = "rows: " + (", ".join(parts) or "none run")
    code = ex.exit_code(summary)
    if parts and code == 0:  # (no row ran: nothing to say about deviations)
        text += "; exit 0: every row that did not pass is a known deviation"
    elif parts:
        why = []
        if counts.get(ex.NEW) or counts.get(ex.NEW_INCONCLUSIVE) or counts.get(ex.ERROR):
            why.append("new deviations")
        if counts.get(ex.STALE):
            why.append("stale expectations (update cases/expectations/)")
        text += f"; exit {code}: {' and '.join(why)}"
    if summary.without_file:
        text += (
            f"\nno expectations file for {', '.join(summary.without_file)}: every row that "
            "does not pass counts as NEW; after checking them, record them with "
            "`python -m conformance.expectations write --results <results.json> --cases cases/`"
        )
    if summary.not_run:
        text += f"\n{len(summary.not_run)} expected deviation(s) not run in this selection"
    return text
