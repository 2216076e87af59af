"""What a user can name: targets, cases, oracles; "did you mean" for a misspelt one; and the
YAML-boolean check for profiles and case files.

Pure functions over ``cases/`` and the oracle registry, for ``python -m conformance list``
and for the loaders' error messages. The oracle registry is imported lazily by name
(``conformance.oracles.ORACLES``), so this module works whether oracles is a module or a
package.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from conformance.yamlfile import InputError, did_you_mean

ORACLES_MODULE = "conformance.oracles"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"


# --- did you mean -------------------------------------------------------------------------


def unknown(kind: str, name: str, known: Iterable[str], listing: str = "") -> str:
    """One message for an unknown name: what it is, the suggestion, where to list them all."""
    names = sorted(set(known))
    hint = did_you_mean(name, names)
    tail = f" (list them: {listing})" if listing else f"; known: {', '.join(names) or '(none)'}"
    return f"unknown {kind} {name!r}{hint}{tail}"


# --- listings -----------------------------------------------------------------------------


def oracle_registry() -> dict[str, Any]:
    """``{name: function}`` from ``conformance.oracles.ORACLES``, imported when asked."""
    return dict(importlib.import_module(ORACLES_MODULE).ORACLES)


def list_oracles() -> list[dict[str, str]]:
    """Every registered oracle: name, one-line summary and full docstring."""
    out = []
    for name, entry in sorted(oracle_registry().items()):
        doc = inspect.getdoc(getattr(entry, "fn", entry)) or ""  # a registry entry wraps its fn
        out.append(
            {"name": name, "summary": doc.split("\n\n", 1)[0].replace("\n", " "), "doc": doc}
        )
    return out


def list_targets(cases_dir: Path, cassette_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every target file under ``cases_dir/targets``: name, title, base URL, model, profile,
    the variable holding its key, and whether it can be replayed (it has cassettes in
    ``cassette_dir``, default ``cassettes/`` beside ``cases_dir``: replay is the default mode,
    and a target without any is refused in it)."""
    from conformance import recording
    from conformance.targets import load_target

    cassettes = Path(cassette_dir) if cassette_dir else Path(cases_dir).parent / "cassettes"
    out = []
    for path in sorted((Path(cases_dir) / "targets").glob("*.yaml")):
        t = load_target(path)
        where = cassettes / t.name
        out.append(
            {
                "name": t.name,
                "title": t.title,
                "base_url": t.base_url,
                "model": t.model,
                "profile": t.profile,
                "api_key_env": t.api_key_env,
                "replayable": recording.has_recordings(where),
            }
        )
    return out


def list_cases(cases_dir: Path, oracle_names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every case (validated as a run loads them): id, table, row, oracle, file:line and the
    profiles that declare it."""
    from conformance.cases import load_all

    names = set(oracle_names) if oracle_names is not None else set(oracle_registry())
    loaded, _ = load_all(Path(cases_dir), names)
    return [
        {
            "id": c.id,
            "table": c.table,
            "row": c.row,
            "variant": c.variant,
            "oracle": c.oracle,
            "where": c.where,
            "declared_by": sorted(c.declared),
        }
        for c in loaded
    ]


def format_listing(kind: str, items: list[dict[str, Any]]) -> list[str]:
    """Lines for ``python -m conformance list <kind>``: aligned, one item per line."""
    if kind == "targets":
        how = {True: "replay or live", False: "live only (no cassettes)"}
        rows = [
            (
                t["name"],
                f"{how[bool(t.get('replayable'))]:<24}  {t['base_url']}  model {t['model']}  "
                f"profile {t['profile']}",
            )
            for t in items
        ]
    elif kind == "cases":
        rows = [(c["id"], f"{c['oracle']:<14} {c['table']}: {c['row']}") for c in items]
    elif kind == "oracles":
        rows = [(o["name"], o["summary"]) for o in items]
    else:
        raise ValueError(kind)
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name:<{width}}  {text}" for name, text in rows]


# --- YAML booleans --------------------------------------------------------------------------


def _plain_bool(node: yaml.Node) -> bool:
    """A plain (unquoted) scalar that YAML 1.1 reads as a boolean or null (Yes, No, On,
    Off, y, n, ~, null)."""
    return (
        isinstance(node, yaml.ScalarNode)
        and node.style is None
        and node.tag in (BOOL_TAG, NULL_TAG)
        and node.value != ""
    )


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _read(loaded: yaml.Loader, node: yaml.Node) -> str:
    value = loaded.construct_object(node)
    return {True: "true", False: "false", None: "null"}.get(value, str(value))


def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None  # the loader proper reports syntax errors with their line


def yaml_booleans_in_profile(path: Path) -> list[str]:
    """Problems (``file:line: ...; fix: ...``) where a profile's ``vocabulary`` has an
    unquoted Yes/No/On/Off... key or value, which YAML reads as true/false."""
    root = _compose(Path(path))
    vocab = _get(root, "vocabulary")
    if not isinstance(vocab, yaml.MappingNode):
        return []
    loader = yaml.SafeLoader("")
    out = []
    for key, value in vocab.value:
        if _plain_bool(key):
            status = value.value if isinstance(value, yaml.ScalarNode) else "honored"
            out.append(
                f"{path}:{key.start_mark.line + 1}: vocabulary word {key.value} is read by YAML "
                f"as {_read(loader, key)}, not as the text {key.value!r}; "
                f"fix: quote it: '{key.value}': {status}"
            )
        if _plain_bool(value):
            out.append(
                f"{path}:{value.start_mark.line + 1}: vocabulary status {value.value} is read by "
                f"YAML as {_read(loader, value)}; fix: a status is one of honored, ignored, "
                "rejected, unsupported, undocumented"
            )
    return out


def yaml_booleans_in_cases(path: Path) -> list[str]:
    """Problems where a case file declares a profile's words unquoted (``llamacpp: Yes``),
    which YAML reads as true/false instead of the vendor's word."""
    root = _compose(Path(path))
    rows = _get(root, "rows")
    if not isinstance(rows, yaml.SequenceNode):
        return []
    loader = yaml.SafeLoader("")
    out = []
    for row in rows.value:
        declared = _get(row, "declared")
        if not isinstance(declared, yaml.MappingNode):
            continue
        for prof, decl in declared.value:
            says = _get(decl, "says") if isinstance(decl, yaml.MappingNode) else decl
            if says is not None and _plain_bool(says):
                out.append(
                    f"{path}:{says.start_mark.line + 1}: {prof.value}: {says.value} is read by "
                    f"YAML as {_read(loader, says)}, not as the vendor's word {says.value!r}; "
                    f"fix: quote it: {prof.value}: '{says.value}'"
                )
    return out


def check_yaml_booleans(cases_dir: Path) -> None:
    """Raise InputError (one line per problem) if any profile or case file under
    ``cases_dir`` has a Yes/No-style word YAML turns into a boolean. Meant to run before
    the cases are loaded, so the user sees this instead of a contradictory error."""
    cases_dir = Path(cases_dir)
    problems: list[str] = []
    for path in sorted((cases_dir / "profiles").glob("*.yaml")):
        problems += yaml_booleans_in_profile(path)
    for path in sorted(cases_dir.glob("*.yaml")):
        if path.name != "settings.yaml":
            problems += yaml_booleans_in_cases(path)
    if problems:
        raise InputError("\n".join(problems))
