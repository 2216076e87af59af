"""Case files: one YAML entry per row of a vendor's compatibility table.

A case file reads like the vendor's table: ``table`` names it, each entry names its ``row``,
what each known profile declares for it (in the vendor's own words), the probe request and
the oracle that decides. Everything is validated before a single request is sent; a broken
file stops the run with the file, the line and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.vocabulary import Declared
from conformance.yamlfile import InputError, LineDict, did_you_mean, line_of, load, plain, validate

SCHEMAS = Path(__file__).parent / "schemas"
CASE_SCHEMA = json.loads((SCHEMAS / "case.schema.json").read_text())
PROFILE_SCHEMA = json.loads((SCHEMAS / "profile.schema.json").read_text())
# Files in the cases directory that are not case files.
NOT_CASE_FILES = {"settings.yaml"}


@dataclass
class Case:
    id: str
    table: str
    row: str
    oracle: str
    variant: str | None = None
    declared: dict[str, Any] = field(default_factory=dict)  # profile -> str | {status, says, ...}
    probe: dict[str, Any] = field(default_factory=dict)
    control: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    workaround: dict[str, Any] | None = None  # a documented client setting that avoids a failure
    file: Path | None = None
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Profile:
    """A vendor's declared table: where it was read, and how its words map to statuses."""

    name: str
    title: str
    source: dict[str, str]
    vocabulary: dict[str, str]
    implies: str | None = None
    implies_note: str = ""
    # An earlier dated snapshot of the same vendor's table (e.g. deepseek-2026 supersedes
    # deepseek): the report lists what changed between the two declarations.
    supersedes: str | None = None
    # case id -> what is known about that row beyond the declaration (e.g. a reported
    # deviation where the row is undeclared or only implied), shown next to it.
    notes: dict[str, str] = field(default_factory=dict)
    # where the file says what: "implies", "supersedes", "notes.<case id>" -> its line
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def status_of(self, words: str) -> Declared | None:
        if words in self.vocabulary:
            return Declared(self.vocabulary[words])
        try:
            return Declared(words)
        except ValueError:
            return None


def load_profiles(profiles_dir: Path) -> dict[str, Profile]:
    out = {}
    for path in sorted(profiles_dir.glob("*.yaml")):
        raw = load(path)
        validate(raw, PROFILE_SCHEMA, path, "profile")
        lines = {k: line_of(raw, [k]) for k in ("implies", "supersedes")}
        lines |= {f"notes.{c}": line_of(raw, ["notes", c]) for c in raw.get("notes") or {}}
        doc = plain(raw)
        if doc["name"] != path.stem:
            raise InputError(f"{path}:1: profile name {doc['name']!r} must match the file name")
        out[doc["name"]] = Profile(
            name=doc["name"],
            title=doc.get("title", doc["name"]),
            source=doc["source"],
            vocabulary=doc.get("vocabulary", {}),
            implies=doc.get("implies"),
            implies_note=doc.get("implies_note", ""),
            supersedes=doc.get("supersedes"),
            notes=doc.get("notes", {}),
            lines=lines,
        )
    for prof in out.values():
        for key in ("implies", "supersedes"):
            named = getattr(prof, key)
            if named and named not in out:
                raise InputError(
                    f"{profiles_dir / prof.name}.yaml:{prof.lines[key]}: {key} unknown profile "
                    f"{named!r}{did_you_mean(named, out)}; fix: name one of "
                    f"{', '.join(sorted(out))}, or add {profiles_dir / named}.yaml"
                )
    return out


def check_params(entry: Any, case: Case, oracle: Any, path: Path) -> None:
    """A case's ``params`` against its oracle's schema; InputError naming file, line, fix."""
    import jsonschema

    schema = getattr(oracle, "params_schema", None)
    if schema is None:
        return
    params = entry.get("params", LineDict())
    validator = getattr(oracle, "params_validator", None) or jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(params))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    params_line = getattr(entry, "key_lines", {}).get("params", case.line)
    line = line_of(params, list(err.absolute_path)) or params_line
    known = ", ".join(sorted(schema["properties"])) or "none"
    module = getattr(oracle, "module", "") or "conformance.oracles"
    where = "params" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in err.path)
    extra = [k for k in params if k not in schema["properties"]] if isinstance(params, dict) else []
    if err.validator in ("additionalProperties", "propertyNames") and extra:
        line = getattr(params, "key_lines", {}).get(extra[0], line)
        what = f"unknown param {extra[0]!r}"
        fix = f"known params of oracle {case.oracle!r}: {known}"
    else:
        what = f"{where}: {err.message}"
        fix = f"see the @oracle({case.oracle!r}, params=...) schema in {module}"
    if err.validator == "propertyNames" and not extra:
        what = f"{where}: {err.message} for params.check {params.get('check')!r}"
    raise InputError(f"{path}:{line}: case {case.id}: {what}; fix: {fix}")


def check_shape_files(entry: Any, case: Case, path: Path) -> None:
    """``params.shape`` and ``workaround.shape`` name a captured client shape, relative to
    the case file: a missing one is refused at load (file, line, fix), not found as an
    error row after the run has started."""
    for key in ("params", "workaround"):
        section = entry.get(key)
        name = section.get("shape") if isinstance(section, dict) else None
        if not isinstance(name, str) or (path.parent / name).is_file():
            continue
        line = getattr(section, "key_lines", {}).get("shape", case.line)
        folder = (path.parent / name).parent
        known = [f"{Path(name).parent / p.name}" for p in sorted(folder.glob("*.json"))]
        raise InputError(
            f"{path}:{line}: case {case.id}: {key}.shape {name!r}: no such file"
            f"{did_you_mean(name, known)}; fix: name a shape under {folder}, or capture one "
            "with: python -m conformance capture claude-code"
        )


def case_files(cases_dir: Path) -> list[Path]:
    return sorted(p for p in cases_dir.glob("*.yaml") if p.name not in NOT_CASE_FILES)


def load_file(
    path: Path, oracle_names: Collection[str], profiles: dict[str, Profile]
) -> list[Case]:
    """The cases of one file. ``oracle_names`` is the oracle registry (name -> oracle with a
    ``params_schema``: each case's params are checked against it) or just the names."""
    doc = load(path)
    validate(doc, CASE_SCHEMA, path, "case file")
    out = []
    for entry in doc["rows"]:
        line = getattr(entry, "line", 0)
        case = Case(
            id=entry["id"],
            table=doc["table"],
            row=entry["row"],
            oracle=entry["oracle"],
            variant=entry.get("variant"),
            declared=plain(entry.get("declared", {})),
            probe=plain(entry.get("probe", {})),
            control=plain(entry["control"]) if "control" in entry else None,
            params=plain(entry.get("params", {})),
            why=entry.get("why", ""),
            workaround=plain(entry["workaround"]) if "workaround" in entry else None,
            file=path,
            line=line,
        )
        if case.oracle not in oracle_names:
            known = ", ".join(sorted(oracle_names))
            raise InputError(
                f"{path}:{entry.key_lines.get('oracle', line)}: case {case.id}: unknown oracle "
                f"{case.oracle!r}{did_you_mean(case.oracle, oracle_names)}; known oracles: {known}"
            )
        if isinstance(oracle_names, Mapping):
            check_params(entry, case, oracle_names[case.oracle], path)
        check_shape_files(entry, case, path)
        for prof_name, decl in case.declared.items():
            dline = entry.key_lines.get("declared", line)
            dline = getattr(entry["declared"], "key_lines", {}).get(prof_name, dline)
            if prof_name not in profiles:
                raise InputError(
                    f"{path}:{dline}: case {case.id}: declared for unknown profile "
                    f"{prof_name!r}{did_you_mean(prof_name, profiles)}; "
                    f"known profiles: {', '.join(sorted(profiles))} "
                    f"(add cases/profiles/{prof_name}.yaml)"
                )
            words = decl if isinstance(decl, str) else decl.get("says") or decl.get("status")
            if profiles[prof_name].status_of(words) is None and (
                isinstance(decl, str) or "status" not in decl
            ):
                raise InputError(
                    f"{path}:{dline}: case {case.id}: profile {prof_name!r} declares "
                    f"{words!r}, which is neither a status "
                    f"({', '.join(d.value for d in Declared)}) nor a word in that profile's "
                    f"vocabulary; add it to cases/profiles/{prof_name}.yaml"
                )
        out.append(case)
    return out


def load_all(
    cases_dir: Path, oracle_names: Collection[str]
) -> tuple[list[Case], dict[str, Profile]]:
    """Every case and profile under ``cases_dir``, validated; ids are unique."""
    if not cases_dir.is_dir():
        raise InputError(f"cases directory {cases_dir} does not exist (see --cases-dir)")
    profiles = load_profiles(cases_dir / "profiles")
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    for path in case_files(cases_dir):
        for case in load_file(path, oracle_names, profiles):
            if case.id in seen:
                raise InputError(
                    f"{case.where}: duplicate case id {case.id!r} (first at {seen[case.id].where})"
                )
            seen[case.id] = case
            cases.append(case)
    for prof in profiles.values():
        unknown = sorted(set(prof.notes) - set(seen), key=lambda c: prof.lines.get(f"notes.{c}", 0))
        if unknown:
            first = unknown[0]
            raise InputError(
                f"{cases_dir / 'profiles' / prof.name}.yaml:{prof.lines.get(f'notes.{first}', 0)}: "
                f"notes for unknown case id(s) {', '.join(unknown)}{did_you_mean(first, seen)}; "
                "fix: use a case id of cases/*.yaml (python -m conformance list cases), or "
                "remove the note"
            )
    return cases, profiles


def declared_for(case: Case, profile_name: str, profiles: dict[str, Profile]) -> dict[str, Any]:
    """What ``profile_name`` declares for ``case``, with its source.

    A profile that ``implies`` another (e.g. "Anthropic-compatible" with no row-level table)
    inherits that profile's row, flagged ``implied`` so the report can tell it apart.
    """
    prof = profiles.get(profile_name)
    if prof is None:
        return {"status": Declared.UNDOCUMENTED.value, "says": None, "profile": profile_name}
    chain = [(prof, False)]
    if prof.implies:
        chain.append((profiles[prof.implies], True))
    for source_prof, implied in chain:
        decl = case.declared.get(source_prof.name)
        if decl is None:
            continue
        if isinstance(decl, str):
            decl = {"says": decl}
        status = decl.get("status") or source_prof.status_of(decl["says"]).value
        out = {
            "status": status,
            "says": decl.get("says", status),
            "profile": profile_name,
            "implied": implied,
            "source": decl.get("source") or source_prof.source,
        }
        if implied:
            out["says"] = f"{out['says']} (implied: {prof.implies_note or prof.implies})"
        note = decl.get("note") if not implied else None
        note = note or prof.notes.get(case.id)
        if note:
            out["note"] = note
        return out
    out = {
        "status": Declared.UNDOCUMENTED.value,
        "says": None,
        "profile": profile_name,
        "implied": False,
        "source": prof.source,
    }
    if prof.notes.get(case.id):
        out["note"] = prof.notes[case.id]
    return out
