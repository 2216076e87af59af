"""What each profile declares for each case, with no observation: the declared columns.

Built from the case files, profiles and targets alone (no run, no results), so the report, the
CLI and a pytest run all read declarations the same way. The report imports this module; it
never imports the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def brief(declared: dict[str, Any]) -> dict[str, Any]:
    """What a reader compares between two readings of a table: the status and the words."""
    return {"status": declared.get("status"), "says": declared.get("says")}


def declared_matrix(
    cases_dir: Path,
    targets: Iterable[str] | None = None,
    loaded: tuple[list[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What every known target's profile declares for every case, with no observation.

    Built from the case files, profiles and targets under ``cases_dir`` (validated as a run
    validates them). ``columns`` has one entry per target in ``cases_dir/targets`` (or the
    ``targets`` given) and one per profile no target uses; ``rows[i]["declared"]`` maps each
    column to :func:`conformance.cases.declared_for`'s answer (status, the vendor's words,
    source URL and date read, implied, note). ``changes`` lists, for every profile that
    ``supersedes`` an earlier dated one, the rows whose declaration changed between them.

    The page and the Markdown show these as muted "not run" cells wherever a run has no
    record; results.json never contains them (they are declarations, not observations).
    Raises :class:`conformance.yamlfile.InputError` for a broken case, profile or target file.
    ``loaded`` is ``(cases, profiles)`` as :func:`conformance.cases.load_all` returned them
    for ``cases_dir`` (a pytest run passes what it loaded, so the files are read once).
    """
    from conformance import cases as case_files

    cases_dir = Path(cases_dir)
    if loaded is None:
        from conformance import oracles

        loaded = case_files.load_all(cases_dir, set(oracles.ORACLES))
    cases, profiles = loaded
    columns = declared_columns(cases_dir / "targets", profiles, targets)
    rows = [
        {
            **_case_key(case),
            "declared": {
                c["name"]: case_files.declared_for(case, c["profile"], profiles) for c in columns
            },
        }
        for case in cases
    ]
    return {
        "profiles": {
            name: {
                "title": prof.title,
                "source": prof.source,
                "implies": prof.implies,
                "supersedes": prof.supersedes,
            }
            for name, prof in profiles.items()
        },
        "columns": columns,
        "rows": rows,
        "changes": declaration_changes(cases, profiles),
    }


def _case_key(case: Any) -> dict[str, Any]:
    return {"id": case.id, "table": case.table, "row": case.row, "variant": case.variant}


def declared_columns(
    targets_dir: Path, profiles: dict[str, Any], targets: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """One column per target (all of ``targets_dir``, or ``targets``), then one per profile
    that no target uses (a vendor's table with no endpoint of ours yet)."""
    from conformance import targets as target_files

    if targets is None:
        names = target_files.available(targets_dir) if targets_dir.is_dir() else []
    else:
        names = list(targets)
    columns: list[dict[str, Any]] = [
        {
            "name": target.name,
            "title": target.title,
            "profile": target.profile,
            "model": target.model,
            "base_url_host": target.host,
        }
        for target in (target_files.resolve(names, targets_dir) if names else [])
    ]
    used = {c["profile"] for c in columns}
    columns += [
        {"name": name, "title": prof.title, "profile": name, "model": None, "base_url_host": None}
        for name, prof in profiles.items()
        if name not in used
    ]
    return columns


def declaration_changes(cases: list[Any], profiles: dict[str, Any]) -> list[dict[str, Any]]:
    """For each profile that ``supersedes`` an earlier dated one, the rows whose declared
    status or words changed between the two readings."""
    from conformance.cases import declared_for

    changes = []
    for prof in profiles.values():
        if not prof.supersedes:
            continue
        old = profiles[prof.supersedes]
        changed = []
        for case in cases:
            before = brief(declared_for(case, old.name, profiles))
            after = brief(declared_for(case, prof.name, profiles))
            if before != after:
                changed.append({**_case_key(case), "before": before, "after": after})
        changes.append(
            {
                "from": old.name,
                "to": prof.name,
                "from_source": old.source,
                "to_source": prof.source,
                "rows": changed,
            }
        )
    return changes
