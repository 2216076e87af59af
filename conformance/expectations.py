"""Known versus new: each target's committed list of expected deviations.

A first run against a real endpoint fails dozens of rows, and most of those failures are
known: the profile's notes explain them. Without a record of which ones are known, every run
looks broken and a new failure hides among the old ones. ``cases/expectations/<target>.yaml``
is that record, in the spirit of WPT's expectation metadata and test262's known-failures
list: case id -> ``{outcome, observed, reason}``. A row not listed is expected to pass.

:func:`classify` sorts a run's results into pass, known (expected), NEW, stale (an expected
deviation that now passes, or whose verdict changed) and unexpected errors; :func:`exit_code`
is 0 exactly when nothing is new or stale. :func:`generate` writes the files from a run::

    python -m conformance.expectations write --results reports/results.json --cases cases/
    python -m conformance.expectations check --results reports/results.json --cases cases/
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.yamlfile import InputError, LineDict, load, plain, validate

SCHEMA_PATH = Path(__file__).parent / "schemas" / "expectations.schema.json"
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
ERROR = "error"  # an error outcome no expectation lists
FAILING_KINDS = (NEW, NEW_INCONCLUSIVE, STALE, ERROR)


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


def load_file(path: Path, known_ids: Iterable[str] | None = None) -> Expectations:
    """Load and validate one expectations file; InputError names file, line and the fix.

    With ``known_ids`` (every case id of the suite), an entry for an unknown id is an error
    with a "did you mean" suggestion: a renamed case must not leave a silent expectation.
    """
    doc = load(path)
    validate(doc, _schema(), path, "expectations file")
    target = doc["target"]
    if target != path.stem:
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
        target, case_id, outcome, observed = (
            rec["target"],
            rec["id"],
            rec["outcome"],
            rec["observed"],
        )
        seen.add((target, case_id))
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
        elif outcome == "pass":
            kind, why = STALE, f"expected {exp.outcome} ({exp.observed}), now passes"
        elif exp.outcome != outcome or exp.observed != observed:
            kind = STALE
            why = f"expected {exp.outcome} ({exp.observed}), now {outcome} ({observed})"
        else:
            kind = KNOWN
        rows.append(
            Row(
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
        )
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
    """One result's row (what a pytest item needs to decide pass / xfail / skip / fail)."""
    return classify([record], expectations).rows[0]


def exit_code(summary: Summary) -> int:
    """0 when every row that does not pass is expected (and no expectation is stale), else 1.

    Inconclusive rows of a target that has no expectations file do not count (they are
    undecided, not deviations); once the target has a file, an unlisted one does."""
    return 1 if summary.of(*FAILING_KINDS) else 0


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


def _profile_of(doc: Mapping[str, Any], rec: Mapping[str, Any]) -> str | None:
    declared = rec.get("declared")
    if isinstance(declared, Mapping) and declared.get("profile"):
        return declared["profile"]
    for t in (doc.get("run") or {}).get("targets", []):
        if t.get("name") == rec.get("target"):
            return t.get("profile")
    return None


def entries_from(
    results_doc: Mapping[str, Any],
    profiles_notes: Mapping[str, Mapping[str, str]],
    target: str,
) -> dict[str, dict[str, str]]:
    """The expectation entries of ``target``'s non-passing rows in a run."""
    out = {}
    for rec in sorted(_records(results_doc), key=lambda r: r["id"]):
        if rec["target"] != target or rec["outcome"] not in NOT_PASSING:
            continue
        profile = _profile_of(results_doc, rec)
        note = (profiles_notes.get(profile or "") or {}).get(rec["id"])
        if not note and isinstance(rec.get("declared"), Mapping):
            note = rec["declared"].get("note")
        reason = (
            reason_from_note(note)
            if note
            else why_not_decided(
                rec["outcome"], rec["observed"], _declared_status(rec), rec.get("message", "")
            )
        )
        out[rec["id"]] = {
            "outcome": rec["outcome"],
            "observed": rec["observed"],
            "reason": reason or rec["outcome"],
        }
    return out


HEADER = """\
# Known deviations of target {target}: every row expected not to pass, with the verdict it is
# expected to observe. A row not listed is expected to pass. A run exits 0 when every row that
# does not pass is listed here with the same outcome and observed verdict; a NEW failure or a
# stale entry (the row now passes, or observes something else) exits 1.
# Regenerate from a complete run:
#   python -m conformance.expectations write --results reports/results.json --cases cases/
# Format: docs/expectations.md. Reasons come from the profile's notes where it has one.
"""


def generate(
    results_doc: Mapping[str, Any],
    profiles_notes: Mapping[str, Mapping[str, str]],
    target: str | None = None,
    existing: Expectations | None = None,
) -> str:
    """The YAML text of ``target``'s expectations file from a run.

    ``profiles_notes`` is ``{profile name: {case id: note}}`` (the profiles' ``notes``); a
    row's reason is its profile's note when there is one, else its message, shortened.
    ``target`` may be left out when the run has one target. With ``existing``, rows this run
    did not select keep their entries (so a ``-k`` run updates only what it ran); an
    ``issue`` link of a row whose verdict did not change is kept, and a hand-written reason too.
    """
    import yaml

    names = sorted({r["target"] for r in _records(results_doc)})
    if target is None:
        if len(names) != 1:
            raise ValueError(f"the run has targets {names}: name one")
        target = names[0]
    entries = entries_from(results_doc, profiles_notes, target)
    if existing is not None:
        ran = {r["id"] for r in _records(results_doc) if r["target"] == target}
        for case_id, old in existing.entries.items():
            new = entries.get(case_id)
            if case_id not in ran:
                entries[case_id] = _entry_dict(old)
            elif new and (new["outcome"], new["observed"]) == (old.outcome, old.observed):
                kept = _entry_dict(old)  # same deviation: keep what a person wrote
                entries[case_id] = kept
    run = results_doc.get("run") or {}
    doc: dict[str, Any] = {"target": target}
    generated = {k: run.get(k) for k in ("mode", "suite_version", "finished") if run.get(k)}
    if generated:
        doc["generated"] = generated
    doc["expectations"] = {k: entries[k] for k in sorted(entries)}
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return HEADER.format(target=target) + body


def _entry_dict(exp: Expectation) -> dict[str, str]:
    out = {"outcome": exp.outcome, "observed": exp.observed, "reason": exp.reason}
    if exp.issue:
        out["issue"] = exp.issue
    return out


def profiles_notes(cases_dir: Path) -> dict[str, dict[str, str]]:
    """``{profile: {case id: note}}`` from ``cases_dir/profiles``."""
    from conformance.cases import load_profiles

    return {name: dict(p.notes) for name, p in load_profiles(Path(cases_dir) / "profiles").items()}


# --- command line -------------------------------------------------------------------------


def _load_results(path: Path) -> dict[str, Any]:
    import jsonschema

    from conformance.results import load_results

    try:
        return load_results(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such results file") from None
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InputError(f"{path}: not a valid results.json at {where}: {exc.message}") from None
    except (ValueError, OSError) as exc:  # JSON errors, unreadable file
        raise InputError(f"{path}: not a valid results.json: {str(exc).splitlines()[0]}") from None


def _cmd_write(args: argparse.Namespace) -> int:
    doc = _load_results(Path(args.results))
    if not doc["run"].get("complete") and not args.force:
        raise InputError(
            f"{args.results}: the run is not complete (interrupted or refused); "
            "fix: rerun it whole, or pass --force to write from it anyway"
        )
    cases_dir = Path(args.cases)
    notes = profiles_notes(cases_dir)
    names = sorted({r["target"] for r in doc["results"]})
    if args.target:
        unknown = sorted(set(args.target) - set(names))
        if unknown:
            raise InputError(f"--target {', '.join(unknown)}: not in {args.results} ({names})")
        names = sorted(set(args.target))
    for name in names:
        path = path_for(cases_dir, name)
        existing = load_file(path) if path.exists() and not args.replace else None
        text = generate(doc, notes, name, existing)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        count = sum(1 for line in text.splitlines() if line.startswith("    outcome:"))
        print(f"{path}: {count} expected deviations")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from conformance import terminal

    doc = _load_results(Path(args.results))
    names = {r["target"] for r in doc["results"]}
    summary = classify(doc, load_dir(Path(args.cases), names))
    for line in terminal.lines(doc, summary, verbose=args.verbose):
        print(line)
    print(terminal.summary_line(summary))
    return exit_code(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.expectations",
        description="Known deviations per target (cases/expectations/<target>.yaml).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write the expectations files from a complete run")
    w.add_argument("--results", required=True, metavar="RESULTS_JSON")
    w.add_argument("--cases", default="cases", metavar="CASES_DIR")
    w.add_argument("--target", action="append", help="only this target (repeatable)")
    w.add_argument(
        "--replace", action="store_true", help="drop entries of rows this run did not select"
    )
    w.add_argument("--force", action="store_true", help="write even from an incomplete run")
    w.set_defaults(func=_cmd_write)
    c = sub.add_parser("check", help="classify a run against the files; exit 1 on new/stale")
    c.add_argument("--results", required=True, metavar="RESULTS_JSON")
    c.add_argument("--cases", default="cases", metavar="CASES_DIR")
    c.add_argument("-v", "--verbose", action="count", default=0, help="-v: add each message")
    c.set_defaults(func=_cmd_check)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"conformance.expectations {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
