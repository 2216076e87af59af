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
    ex.ERROR: "error:",  # never known: the row could not be judged
    ex.PASS: "pass:",  # listed with -vv only, for its evidence
}
# Order of the lines: what is expected first, what needs attention last (nearest the summary).
ORDER = {
    ex.PASS: -1,
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
    return PREFIX.get(row.kind, f"{row.kind}:")


def reason(row: ex.Row) -> str:
    """A few words on why: the expectation's reason for a known row, the message otherwise."""
    if row.kind == ex.ERROR and row.expectation is not None:
        return ex.shorten(f"{ex.reason_from_message(row.message)}; listed in the expectations "
                          "file, but an error is never known", REASON_WORDS)  # fmt: skip
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
    evidence (JSON), and lists the passing rows too (first), with theirs: a pass is a claim
    whose evidence a reader may want to check."""
    index = _index(results)
    rows = [r for r in summary.rows if r.kind != ex.PASS or verbose >= 2]
    rows.sort(key=lambda r: (ORDER.get(_group(r), 9), r.id, r.target))
    out = []
    for row in rows:
        out += describe(row, index.get((row.target, row.id)), verbose)
    return out


def scoreboard_lines(results: Any) -> list[str]:
    """One line a target: pass, known, NEW, stale, inconclusive, error, Claude Code."""
    from conformance.report import scoreboard

    records = results.get("results", []) if isinstance(results, Mapping) else results
    board = scoreboard.scores(records)
    return scoreboard.text_lines(board) if len(board) else []


def _counts(summary: ex.Summary) -> dict[str, int]:
    """The summary line's counts, by the scoreboard's columns (one vocabulary)."""
    from conformance.report.scoreboard import COLUMNS, column_of

    found = [column_of(r.kind, r.outcome) for r in summary.rows]
    return {c: found.count(c) for c in COLUMNS if c in found}


def _why(code: int, counts: Mapping[str, int], diagnoses: list[Any]) -> str:
    """(``counts`` are the scoreboard's: pass, known, NEW, stale, inconclusive, error.)"""
    """Why the run exits with ``code`` (conformance.exitcodes)."""
    from conformance import exitcodes

    if code == exitcodes.OK:
        return "every row that did not pass is a known deviation"
    if code == exitcodes.UNJUDGED:
        if diagnoses:
            names = ", ".join(d.target for d in diagnoses)
            return f"could not judge {names} (the diagnosis line above: cause and fix)"
        return (
            f"{counts.get('error', 0)} row(s) could not be judged (error: fix the endpoint, "
            "the target file or the cassette named; an error is never a known deviation)"
        )
    why = []
    if counts.get("NEW"):
        why.append("new deviations")
    if counts.get("stale"):
        why.append("stale expectations (update cases/expectations/)")
    if counts.get("error"):
        why.append(f"{counts['error']} row(s) could not be judged")
    return " and ".join(why)


def summary_line(summary: ex.Summary, diagnoses: list[Any] | None = None) -> str:
    """``rows: 53 pass, 51 known, 2 NEW, 1 stale; exit 1: ...``, and what to do about it.
    A target that could not be judged gets its one diagnosis line first (cause and fix)."""
    diagnoses = list(diagnoses or [])
    counts = _counts(summary)
    parts = [f"{n} {name}" for name, n in counts.items()]
    text = "rows: " + (", ".join(parts) or "none run")
    code = ex.exit_code(summary, bool(diagnoses))
    if parts:  # (no row ran: nothing to say about deviations)
        text += f"; exit {code}: {_why(code, counts, diagnoses)}"
    text = "\n".join([*(d.line() for d in diagnoses), text])
    judged = [t for t in summary.without_file if t not in {d.target for d in diagnoses}]
    if judged and (counts.get("NEW") or summary.of(ex.INCONCLUSIVE)):
        text += (
            f"\nno expectations file for {', '.join(judged)}: every row that does not pass "
            "counts as NEW; after checking them, record them with `python -m conformance "
            "expectations write --results <results.json> --cases cases/` (error rows are "
            "never recorded)"
        )
    if summary.not_run:
        text += f"\n{len(summary.not_run)} expected deviation(s) not run in this selection"
    return text
