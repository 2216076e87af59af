"""Writing and checking ``cases/expectations/<target>.yaml`` from a run's results.json.

    python -m conformance expectations write --results reports/results.json --cases cases/
    python -m conformance expectations check --results reports/results.json --cases cases/

Reasons come from the profile's ``notes`` for that row (its "Finding:" text) where there is
one, else from the result's message, shortened.

An ``error`` row is never written: it says the row could not be judged, not what the
endpoint does, and a file listing a dead endpoint's errors once made it pass forever. A
target whose run could not be judged at all (:mod:`conformance.diagnosis`) is refused with
its diagnosis, and nothing is written for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance import exitcodes
from conformance.diagnosis import diagnose_run
from conformance.expectations import (
    ERROR_NOT_KNOWN,
    NOT_PASSING,
    Expectation,
    Expectations,
    _declared_status,
    _records,
    classify,
    exit_code,
    load_dir,
    load_file,
    path_for,
    reason_from_note,
    why_not_decided,
)
from conformance.yamlfile import InputError


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
        if rec["outcome"] == "error":  # never an expectation (ERROR_NOT_KNOWN)
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
# stale entry (the row now passes, or observes something else) exits 1. Error rows (not
# judged) are never listed: they exit 3.
# Regenerate from a complete run:
#   python -m conformance expectations write --results reports/results.json --cases cases/
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
        unjudged = {
            r["id"]
            for r in _records(results_doc)
            if r["target"] == target and r["outcome"] == "error"
        }
        for case_id, old in existing.entries.items():
            new = entries.get(case_id)
            if old.outcome == "error":
                continue  # an error entry (older files had them) is dropped
            if case_id not in ran or case_id in unjudged:  # nothing new was learnt of it
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
    diagnosed = {d.target: d for d in diagnose_run(doc)}
    for name in names:
        if name in diagnosed:
            print(f"{diagnosed[name].line()}: {name} not written", file=sys.stderr)
            continue
        path = path_for(cases_dir, name)
        existing = load_file(path) if path.exists() and not args.replace else None
        text = generate(doc, notes, name, existing)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        count = sum(1 for line in text.splitlines() if line.startswith("    outcome:"))
        errors = sum(1 for r in doc["results"] if r["target"] == name and r["outcome"] == "error")
        left = f"; {errors} error row(s) not recorded: {ERROR_NOT_KNOWN}" if errors else ""
        print(f"{path}: {count} expected deviations{left}")
    return exitcodes.UNJUDGED if any(n in diagnosed for n in names) else exitcodes.OK


def _cmd_check(args: argparse.Namespace) -> int:
    from conformance import terminal

    doc = _load_results(Path(args.results))
    names = {r["target"] for r in doc["results"]}
    summary = classify(doc, load_dir(Path(args.cases), names))
    for line in terminal.lines(doc, summary, verbose=args.verbose):
        print(line)
    for line in terminal.scoreboard_lines(doc):
        print(line)
    diagnoses = diagnose_run(doc)
    print(terminal.summary_line(summary, diagnoses))
    return exit_code(summary, bool(diagnoses))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance expectations",
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
    except SystemExit as exc:  # argparse: --help (0), or bad arguments (a usage error)
        return exitcodes.USAGE if exc.code else 0
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"conformance expectations {args.command}: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE


if __name__ == "__main__":
    sys.exit(main())
