"""Known versus new: each target's committed list of expected deviations.

A first run against a real endpoint fails dozens of rows, and most of those failures are
known: the profile's notes explain them. Without a record of which ones are known, every run
looks broken and a new failure hides among the old ones. ``cases/expectations/<target>.yaml``
is that record, in the spirit of WPT's expectation metadata and test262's known-failures
list: case id -> ``{outcome, observed, reason}``. A row not listed is expected to pass.

:func:`classify` sorts a run's results into pass, known (expected), NEW, stale (an expected
deviation that now passes, or whose verdict changed) and unexpected errors; :func:`exit_code`
is 0 exactly when nothing is new or stale. ``write.generate`` writes the files from a run::

    python -m conformance expectations write --results reports/results.json --cases cases/
    python -m conformance expectations check --results reports/results.json --cases cases/
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.yamlfile import InputError, LineDict, load, plain, validate

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "expectations.schema.json"
DIR_NAME = "expectations"  # cases/expectations/<target>.yaml
NOT_PASSING = ("fail", "inconclusive", "error")

# Kinds of classified rows. Only NEW, NEW_INCONCLUSIVE, STALE and ERROR make the run fail.
PASS = "pass"
KNOWN = "known"  # does not pass, and the expectations file says so (same outcome and verdict)
NEW = "new"  # fails, and no expectation says it would
NEW_INCONCLUSIVE = "new-inconclusive"  # inconclusive, not listed in its target's file
# inconclusive, for a target with no expectations file at all: reported, never failing (a
# first run fails on contradictions only, as it always has)
INCONCLUSIVE = "inconclusive"
STALE = "stale"  # expected a deviation: it now passes, or its outcome or verdict changed
# an error outcome: the row could not be judged. Never known, even where a file lists it:
# listing a closed port's errors as "known" once made a dead endpoint pass forever.
ERROR = "error"
FAILING_KINDS = (NEW, NEW_INCONCLUSIVE, STALE, ERROR)
FINDING_KINDS = (NEW, NEW_INCONCLUSIVE, STALE)  # the endpoint was judged, and deviates
ERROR_NOT_KNOWN = (
    "an error is never a known deviation: it says the row could not be judged (endpoint "
    "unreachable, a transport failure, a broken cassette), not what the endpoint does"
)


@dataclass(frozen=True)
class Expectation:
    outcome: str
    observed: str
    reason: str
    issue: str | None = None
    line: int = 0  # in its file, for messages


@dataclass
class Expectations:
    """One target's file: case id -> expectation."""

    target: str
    entries: dict[str, Expectation] = field(default_factory=dict)
    path: Path | None = None
    generated: dict[str, Any] = field(default_factory=dict)

    def where(self, case_id: str) -> str:
        entry = self.entries.get(case_id)
        return f"{self.path}:{entry.line if entry else 0}"


@dataclass
class Row:
    """One result, classified."""

    id: str
    target: str
    kind: str
    outcome: str
    observed: str
    declared: str | None
    message: str
    expectation: Expectation | None = None
    why: str = ""  # for stale rows: what changed


@dataclass
class Summary:
    rows: list[Row]
    # expectations whose row was not in this run (a -k selection): neither kept nor broken
    not_run: list[tuple[str, str]] = field(default_factory=list)
    # targets that have no expectations file at all
    without_file: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.kind] = out.get(row.kind, 0) + 1
        return out

    def of(self, *kinds: str) -> list[Row]:
        return [r for r in self.rows if r.kind in kinds]


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def path_for(cases_dir: Path, target: str) -> Path:
    return Path(cases_dir) / DIR_NAME / f"{target}.yaml"


def load_file(
    path: Path, known_ids: Iterable[str] | None = None, named_by_file: bool = True
) -> Expectations:
    """Load and validate one expectations file; InputError names file, line and the fix.

    ``named_by_file``: the file is ``cases/expectations/<target>.yaml``, so its name must be
    its target's (a file given with ``--expectations`` may be named anything).

    With ``known_ids`` (every case id of the suite), an entry for an unknown id is an error
    with a "did you mean" suggestion: a renamed case must not leave a silent expectation.
    """
    doc = load(path)
    validate(doc, _schema(), path, "expectations file")
    target = doc["target"]
    if named_by_file and target != path.stem:
        line = doc.key_lines.get("target", 1) if isinstance(doc, LineDict) else 1
        raise InputError(
            f"{path}:{line}: target {target!r} must match the file name; "
            f"fix: rename the file to {target}.yaml or write target: {path.stem}"
        )
    raw = doc["expectations"] or {}
    ids = set(known_ids) if known_ids is not None else None
    entries: dict[str, Expectation] = {}
    for case_id, entry in raw.items():
        line = raw.key_lines.get(str(case_id), 0) if isinstance(raw, LineDict) else 0
        if ids is not None and case_id not in ids:
            close = difflib.get_close_matches(case_id, sorted(ids), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"{path}:{line}: expectation for unknown case id {case_id!r}; {hint}"
                "fix: rename or remove the entry (or regenerate the file)"
            )
        if (entry["outcome"] == "error") != (entry["observed"] == "error"):
            raise InputError(
                f"{path}:{line}: {case_id}: outcome {entry['outcome']!r} with observed "
                f"{entry['observed']!r} cannot happen (only an observed error gives the "
                "outcome error); fix: make both 'error' or neither"
            )
        entries[case_id] = Expectation(
            outcome=entry["outcome"],
            observed=entry["observed"],
            reason=entry["reason"],
            issue=entry.get("issue"),
            line=line,
        )
    return Expectations(
        target=target, entries=entries, path=path, generated=plain(doc.get("generated") or {})
    )


def load_dir(
    cases_dir: Path, targets: Iterable[str] | None = None, known_ids: Iterable[str] | None = None
) -> dict[str, Expectations]:
    """Every expectations file under ``cases_dir/expectations`` (or only those of
    ``targets``; a target without a file is simply absent from the answer)."""
    folder = Path(cases_dir) / DIR_NAME
    ids = list(known_ids) if known_ids is not None else None
    wanted = set(targets) if targets is not None else None
    out = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if wanted is not None and path.stem not in wanted:
            continue
        exp = load_file(path, ids)
        out[exp.target] = exp
    return out


def _records(results: Any) -> list[dict[str, Any]]:
    if isinstance(results, Mapping):
        return list(results.get("results", []))
    return list(results)


def _declared_status(record: Mapping[str, Any]) -> str | None:
    declared = record.get("declared")
    return declared.get("status") if isinstance(declared, Mapping) else None


def classify(results: Any, expectations: Mapping[str, Expectations]) -> Summary:
    """Classify every result (a results.json document or its list of records) against the
    expectations of its target (``{target: Expectations}``)."""
    rows = []
    seen: set[tuple[str, str]] = set()
    for rec in _records(results):
        seen.add((rec["target"], rec["id"]))
        rows.append(_row(rec, expectations))
    ran_targets = {t for t, _ in seen}
    not_run = sorted(
        (name, case_id)
        for name, exp_file in expectations.items()
        if name in ran_targets
        for case_id in exp_file.entries
        if (name, case_id) not in seen
    )
    without = sorted(t for t in ran_targets if t not in expectations)
    return Summary(rows=rows, not_run=not_run, without_file=without)


def classify_one(record: Mapping[str, Any], expectations: Mapping[str, Expectations]) -> Row:
    """One result's row (what a pytest item needs to decide pass / xfail / skip / fail),
    without :func:`classify`'s pass over every expected row of the target (``not_run``)."""
    return _row(record, expectations)


def _row(rec: Mapping[str, Any], expectations: Mapping[str, Expectations]) -> Row:
    """One record's row: its kind against its target's expectations."""
    target, case_id, outcome, observed = (
        rec["target"],
        rec["id"],
        rec["outcome"],
        rec["observed"],
    )
    exp_file = expectations.get(target)
    exp = exp_file.entries.get(case_id) if exp_file else None
    why = ""
    if exp is None:
        kind = {
            "pass": PASS,
            "fail": NEW,
            "inconclusive": NEW_INCONCLUSIVE if exp_file else INCONCLUSIVE,
            "error": ERROR,
        }.get(outcome, ERROR)
    elif outcome == "error":
        kind, why = ERROR, f"listed as {exp.outcome} ({exp.observed}); {ERROR_NOT_KNOWN}"
    elif outcome == "pass":
        kind, why = STALE, f"expected {exp.outcome} ({exp.observed}), now passes"
    elif exp.outcome != outcome or exp.observed != observed:
        kind = STALE
        why = f"expected {exp.outcome} ({exp.observed}), now {outcome} ({observed})"
    else:
        kind = KNOWN
    return Row(
        id=case_id,
        target=target,
        kind=kind,
        outcome=outcome,
        observed=observed,
        declared=_declared_status(rec),
        message=rec.get("message", ""),
        expectation=exp,
        why=why,
    )


def annotate(doc: dict[str, Any], summary: Summary) -> None:
    """Write each non-passing row's kind (known, new, stale, ...) into its record as
    ``expectation``, so results.json, the page and matrix.md tell a known deviation from a
    new one, and a report rendered later from results.json still does."""
    kinds = {(r.target, r.id): r.kind for r in summary.rows}
    for rec in doc.get("results") or []:
        kind = kinds.get((rec.get("target"), rec.get("id")))
        if kind is not None and kind != PASS:
            rec["expectation"] = kind
        else:
            rec.pop("expectation", None)


def exit_code(summary: Summary, diagnosed: bool = False) -> int:
    """The run's code (:mod:`conformance.exitcodes`): 0 when every row that does not pass is
    expected and no expectation is stale; 1 on a NEW or stale row; 3 when rows could not be
    judged and nothing else was found, or when a target's diagnosis fired (``diagnosed``:
    then the findings rest on nothing the endpoint really answered).

    Inconclusive rows of a target that has no expectations file do not count (they are
    undecided, not deviations); once the target has a file, an unlisted one does."""
    from conformance import exitcodes

    if diagnosed:
        return exitcodes.UNJUDGED
    if summary.of(*FINDING_KINDS):
        return exitcodes.FINDINGS
    return exitcodes.UNJUDGED if summary.of(ERROR) else exitcodes.OK


# --- writing the files from a run ---------------------------------------------------------

_FINDING = re.compile(r"^\s*Finding(?:\s*\(([^)]*)\))?\s*:\s*", re.IGNORECASE)


def shorten(text: str, limit: int = 120) -> str:
    """One line, at most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-\u2013\u2014 ")
    return cut + "…"


def reason_from_note(note: str, limit: int = 120) -> str:
    """A profile note as a short reason: no "Finding:" prefix, its first sentence."""
    m = _FINDING.match(note)
    qualifier = f"{m.group(1)}: " if m and m.group(1) else ""
    body = note[m.end() :] if m else note
    body = " ".join(body.split())
    first = re.split(r"(?<=\.)\s", body, maxsplit=1)[0].rstrip(".;")
    return shorten(qualifier + first, limit)


def reason_from_message(message: str, limit: int = 120) -> str:
    """A result's message as a short reason: the observation, not the outcome's wording."""
    head = str(message).split(" — ", 1)[0]
    return shorten(head or message, limit)


def why_not_decided(outcome: str, observed: str, declared: str | None, message: str) -> str:
    """A short reason for a row, from its message; for an inconclusive row whose probe did
    decide, also why its verdict could not become an outcome."""
    head = reason_from_message(message)
    if outcome == "inconclusive" and observed != "inconclusive":
        if not declared or declared == "undocumented":
            return shorten(f"nothing declared to compare with; {head}")
        if observed == "accepted":
            return shorten(f"no effect observable from outside; {head}")
    return head
