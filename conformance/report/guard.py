"""Results are never clobbered by accident.

Every run used to rewrite ``reports/``: a ``pytest --target X -k one.row`` left a one-row
report where the full matrix was. :func:`decide` says where a run's files should go, given
what is already in the report directory:

- a whole run (every selected row ran, ``complete: true``, all the targets of the run already
  there) writes in place, replacing whatever was there;
- a partial run (a ``-k`` / ``--deselect`` / ``-m`` selection), an incomplete one (interrupted,
  ``complete: false``), a refused one (e.g. a missing key), or a run of fewer targets than the
  whole run in place, goes to a side directory ``<report dir>/<kind>-<timestamp>/`` when the
  report directory holds a whole run; where it holds nothing worth keeping (no results.json,
  or only a partial one) it writes in place.

``overwrite=True`` (a command-line flag) always writes in place. The decision's ``message``
says where the files went and what the report directory still holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SELECTION_KEY = "selection"  # run.extra.selection: how much of the run was selected

PARTIAL, INCOMPLETE, REFUSED, SUBSET, WHOLE = "partial", "incomplete", "refused", "subset", "whole"


@dataclass(frozen=True)
class Decision:
    out_dir: Path  # where this run's files go
    in_place: bool
    kind: str  # whole | partial | incomplete | refused | subset
    message: str  # one or two lines for the terminal


def annotate(
    doc: dict[str, Any],
    selected: int,
    expected: int,
    selection: str | None = None,
    refused: str | None = None,
) -> dict[str, Any]:
    """Record in ``run.extra.selection`` how much of the run ran, so that a later run can
    tell a partial results.json from a whole one. Returns ``doc`` (changed in place)."""
    extra = doc.setdefault("run", {}).setdefault("extra", {})
    info: dict[str, Any] = {
        "selected": selected,
        "expected": expected,
        "partial": selected < expected or bool(refused),
    }
    if selection:
        info["by"] = selection
    if refused:
        info["refused"] = refused
    extra[SELECTION_KEY] = info
    return doc


def kind_of(
    doc: Mapping[str, Any] | None,
    selected: int | None = None,
    expected: int | None = None,
    refused: str | None = None,
) -> str:
    """whole, partial, incomplete or refused (for a new run, or an existing file)."""
    if doc is None:
        return REFUSED if refused else INCOMPLETE
    run = doc.get("run") or {}
    info = (run.get("extra") or {}).get(SELECTION_KEY) or {}
    if refused or info.get("refused"):
        return REFUSED
    if not run.get("complete"):
        return INCOMPLETE
    if selected is not None and expected is not None and selected < expected:
        return PARTIAL
    if info.get("partial"):
        return PARTIAL
    return WHOLE


def _targets(doc: Mapping[str, Any]) -> set[str]:
    names = {t.get("name") for t in (doc.get("run") or {}).get("targets", [])}
    names |= {r.get("target") for r in doc.get("results", [])}
    return {n for n in names if n}


def _stamp(doc: Mapping[str, Any] | None, now: str | None) -> str:
    when = (doc or {}).get("run", {}).get("started") or now or "now"
    return "".join(c for c in str(when) if c.isalnum())  # 2026-12-02T00:00:27Z -> 20261202T000027Z


def read_existing(report_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The results.json already in ``report_dir`` (None if absent), and a problem if it
    cannot be read (then it is kept, not replaced)."""
    path = Path(report_dir) / "results.json"
    if not path.exists():
        return None, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read ({exc.__class__.__name__}); it is kept"
    if not isinstance(doc, dict) or "run" not in doc:
        return None, f"{path} is not a results file; it is kept"
    return doc, None


def _describe(doc: Mapping[str, Any]) -> str:
    run = doc.get("run") or {}
    names = ", ".join(sorted(_targets(doc))) or "no targets"
    rows = len(doc.get("results", []))
    return f"the {kind_of(doc)} run of {names} ({rows} rows, {run.get('finished') or '?'})"


def decide(
    report_dir: Path,
    new_doc: Mapping[str, Any] | None,
    *,
    selected: int | None = None,
    expected: int | None = None,
    selection: str | None = None,
    refused: str | None = None,
    existing: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    now: str | None = None,
) -> Decision:
    """Where the files of ``new_doc`` go.

    ``selected``/``expected``: rows collected after the selection / rows of the whole run
    (cases times targets); ``selection`` names the selection for the message (e.g. ``-k
    fields.max_tokens``); ``refused`` why the run was refused (nothing ran). ``existing``
    defaults to the results.json in ``report_dir``.
    """
    report_dir = Path(report_dir)
    problem = None
    if existing is None:
        existing, problem = read_existing(report_dir)
    kind = kind_of(new_doc, selected, expected, refused)
    new_targets = _targets(new_doc or {})
    if kind == WHOLE and existing is not None and kind_of(existing) == WHOLE:
        missing = _targets(existing) - new_targets
        if missing:
            kind = SUBSET
    here = report_dir / "results.json"
    protect = problem is not None or (existing is not None and kind_of(existing) == WHOLE)
    if overwrite or kind == WHOLE or not protect:
        replaced = f" (replaces {_describe(existing)})" if existing is not None else ""
        note = "" if kind == WHOLE else f" ({_what(kind, selected, expected, selection, refused)})"
        return Decision(report_dir, True, kind, f"results: {here}{note}{replaced}")
    side = report_dir / f"{kind}-{_stamp(new_doc, now)}"
    n = 2
    base = side
    while side.exists():
        side = base.with_name(f"{base.name}-{n}")
        n += 1
    kept = problem or f"{here} still holds {_describe(existing or {})}"
    what = _what(kind, selected, expected, selection, refused, existing, new_targets)
    return Decision(
        side,
        False,
        kind,
        f"results: {side / 'results.json'} ({what}; written beside, not over, the whole run)\n"
        f"kept:    {kept}; write over it with --overwrite-report",
    )


def _what(
    kind: str,
    selected: int | None,
    expected: int | None,
    selection: str | None,
    refused: str | None,
    existing: Mapping[str, Any] | None = None,
    new_targets: set[str] | None = None,
) -> str:
    if kind == REFUSED:
        return f"refused: {refused}" if refused else "refused"
    if kind == INCOMPLETE:
        if selected == 0:
            by = f" ({selection})" if selection else ""
            return f"nothing run: no row matches the selection{by}"
        return "incomplete: the run was interrupted"
    if kind == SUBSET:
        missing = sorted(_targets(existing or {}) - (new_targets or set()))
        return f"a run without {', '.join(missing)}"
    by = f" {selection}" if selection else ""
    if selected is not None and expected is not None:
        return f"a partial selection{by}: {selected} of {expected} rows"
    return f"a partial selection{by}"
