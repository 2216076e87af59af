"""The per-target scoreboard: who is worst, read in ten seconds.

One line a target: pass, known, NEW, stale, inconclusive, error, and the Claude Code
readiness word. The terminal, the top of the page and the top of ``matrix.md`` show it, and
pytest's own counts use the same words (``conformance.plugin``), so "known" means one thing
everywhere: a row listed in the target's expectations file with the verdict observed.

Computed from result records alone (each non-passing record's ``expectation`` mark, written
by ``expectations.annotate``), so a report rendered later from results.json shows the same.
A record without a mark (a results file written before the marks existed) counts a fail as
NEW: nothing says it is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.readiness import claude_code_readiness

# The columns, in reading order: what is fine, what needs a decision, what was not judged.
COLUMNS = ("pass", "known", "NEW", "stale", "inconclusive", "error")
# A record's expectation mark (conformance.expectations kinds) -> its column.
BY_MARK = {
    "known": "known",
    "new": "NEW",
    "new-inconclusive": "NEW",
    "inconclusive": "inconclusive",
    "stale": "stale",
    "error": "error",
}
BY_OUTCOME = {"pass": "pass", "fail": "NEW", "inconclusive": "inconclusive", "error": "error"}
# The readiness line's first words -> the word on the scoreboard.
READINESS_WORDS = (
    ("works as is", "works"),
    ("works with these settings", "with settings"),
    ("does not work", "does not work"),
    ("not decided", "not decided"),
)


@dataclass
class Score:
    target: str
    counts: dict[str, int]  # every COLUMNS key
    readiness: str  # one of READINESS_WORDS' words, or "—" (no Claude Code shape row ran)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def column_of(kind: str | None, outcome: str) -> str:
    """The column of a row of expectations ``kind`` (None: not classified) and ``outcome``."""
    if outcome == "pass" and kind in (None, "pass"):
        return "pass"
    if kind == "known" and outcome == "inconclusive":
        return "inconclusive"  # an expected inconclusive is still undecided, not a deviation
    if kind in BY_MARK:
        return BY_MARK[kind]
    return BY_OUTCOME.get(outcome, "error")


def column(record: Mapping[str, Any]) -> str:
    """The scoreboard column of one result record (its ``expectation`` mark and outcome)."""
    return column_of(record.get("expectation"), str(record.get("outcome")))


def readiness_word(line: str | None) -> str:
    if not line:
        return "—"
    return next((word for start, word in READINESS_WORDS if line.startswith(start)), line)


def score(target: str, records: Iterable[Mapping[str, Any]]) -> Score:
    recs = [dict(r) for r in records]
    counts = dict.fromkeys(COLUMNS, 0)
    for r in recs:
        counts[column(r)] += 1
    return Score(target, counts, readiness_word(claude_code_readiness(recs)))


def scores(records: Iterable[Mapping[str, Any]]) -> list[Score]:
    """One score per target, in the order targets first appear."""
    by_target: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_target.setdefault(str(r["target"]), []).append(r)
    return [score(name, recs) for name, recs in by_target.items()]


def text_lines(board: list[Score]) -> list[str]:
    """The terminal's scoreboard: a heading and one aligned line a target."""
    if not board:
        return []
    width = max(len("target"), *(len(s.target) for s in board))
    head = f"{'target':<{width}}  " + " ".join(f"{c:>{max(len(c), 4)}}" for c in COLUMNS)
    out = [f"score:   {head}  Claude Code"]
    for s in board:
        cells = " ".join(f"{s.counts[c]:>{max(len(c), 4)}}" for c in COLUMNS)
        out.append(f"score:   {s.target:<{width}}  {cells}  {s.readiness}")
    return out
