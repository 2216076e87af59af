"""YAML loading that remembers line numbers, so every error can name the file and line.

Case files and target files are edited by hand; an error that says "cases/fields.yaml:42:
unknown oracle 'max_token'" is the difference between a fix and a hunt.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class InputError(Exception):
    """Bad input from a file or an option. Its text is shown to the user as it is."""


class LineDict(dict):
    """A dict that knows the line (1-based) where it and each of its keys start."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list):
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


# libyaml's parser (when PyYAML has it) with the same constructors: about 5x faster on the
# case files. Errors are re-parsed with the pure-Python loader, whose messages name lines.
class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit  # "<<: *anchor" pairs come first; explicit keys win
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    seen = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if index >= merged:
            if key in seen:
                raise InputError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    return out


for _cls in (_Loader, _FastLoader):
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# Nodes a file may hold once its aliases are expanded. Our biggest case file has about 2,500
# (anchors such as ``&weather`` / ``<<: *weather`` included); a "billion laughs" file of a
# few hundred bytes has 10^9, and expanding it (for a JSON body, for the schema check) took
# 3 GB and 51 s before this budget.
MAX_EXPANDED_NODES = 100_000
MAX_FILE_BYTES = 16 * 1024 * 1024  # cases, targets, cassettes (the biggest shipped: 1.4 MB)


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` becomes with its aliases expanded (each shared node counted
    once per use, computed once: the graph is never expanded). A recursive alias is
    infinite."""
    key = id(node)
    if key in memo:
        if memo[key] < 0:
            return MAX_EXPANDED_NODES + 1  # recursive: an alias inside its own anchor
        return memo[key]
    memo[key] = -1
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded(child, memo) for child in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _check_bounds(node: yaml.Node | None) -> None:
    """InputError (``N: ...``, N the line) when aliases expand past
    :data:`MAX_EXPANDED_NODES`, naming the line of the node where the expansion crosses it."""
    if node is None:
        return
    memo: dict[int, int] = {}
    if _expanded(node, memo) <= MAX_EXPANDED_NODES:
        return
    worst = node
    while isinstance(worst, (yaml.MappingNode, yaml.SequenceNode)) and worst.value:
        children = [
            c for pair in worst.value for c in (pair if isinstance(pair, tuple) else [pair])
        ]
        biggest = max(children, key=lambda c: memo.get(id(c), 1))
        if memo.get(id(biggest), 1) <= MAX_EXPANDED_NODES or biggest is worst:
            break
        worst = biggest
    raise InputError(
        f"{worst.start_mark.line + 1}: YAML aliases expand to more than "
        f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?); not loaded"
    )


def _load_bounded(text: str, loader_cls: type) -> Any:
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        _check_bounds(node)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def check_text(text: str) -> None:
    """InputError (``N: ...``, N the line) for YAML text past the bounds: aliases expanding past
    :data:`MAX_EXPANDED_NODES`, nesting too deep to parse, or a ``!!python`` tag. For YAML
    that another loader reads (cassettes, read by vcrpy)."""
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise InputError("1: YAML nested too deep to parse") from None
    finally:
        loader.dispose()
    _check_bounds(node)
    _check_tags(node)


def _check_tags(node: yaml.Node | None) -> None:
    """No ``!!python/...`` tag: vcrpy's loader would build (or run) what it names."""
    stack, seen = [node] if node is not None else [], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.tag.startswith("tag:yaml.org,2002:python/"):
            raise InputError(f"{current.start_mark.line + 1}: a !!python tag; not loaded")
        if isinstance(current, yaml.MappingNode):
            stack += [c for pair in current.value for c in pair]
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value


def load(path: Path) -> Any:
    """Parse ``path``; raise InputError naming the file and line on any syntax problem, and
    on a file past the bounds (:data:`MAX_FILE_BYTES`, :data:`MAX_EXPANDED_NODES`)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: over {MAX_FILE_BYTES // 2**20} MB; not loaded")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        try:
            return _load_bounded(text, _FastLoader)
        except yaml.YAMLError:
            return _load_bounded(text, _Loader)  # the same error, with its usual message
    except RecursionError:
        raise InputError(f"{path}:1: YAML nested too deep to parse") from None
    except InputError as exc:
        raise InputError(f"{path}:{exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        # e.g. an unterminated quote is only noticed at the end of the file: name its start too
        context = exc.context_mark
        started = (
            f" ({exc.context} that starts on line {context.line + 1})"
            if exc.context and context and (not mark or context.line != mark.line)
            else ""
        )
        raise InputError(f"{where}: YAML syntax error: {exc.problem}{started}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {exc}") from None


def line_of(doc: Any, path: list[Any]) -> int:
    """Best line for a JSON-Schema error path inside ``doc`` (deepest node that knows one)."""
    line = getattr(doc, "line", 0)
    node = doc
    for part in path:
        if isinstance(node, LineDict):
            line = node.key_lines.get(str(part), line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def plain(value: Any) -> Any:
    """Deep copy into plain dicts/lists (for JSON bodies and results)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def validate(doc: Any, schema: dict[str, Any], path: Path, what: str) -> None:
    """Validate with JSON Schema; raise InputError for the first (deepest) problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (-len(e.absolute_path), e.message))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    line = line_of(doc, list(err.absolute_path))
    if err.validator == "additionalProperties" and isinstance(err.instance, LineDict):
        # a misspelt key: name its own line, not the line where its mapping starts
        unexpected = [k for k in err.instance if k not in err.schema.get("properties", {})]
        if unexpected:
            line = err.instance.key_lines.get(str(unexpected[0]), line)
    raise InputError(f"{path}:{line}: invalid {what} at {where}: {err.message}")


# An unknown name in an input file: say which known one was probably meant.
def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Known names close to ``name`` (difflib), best first; a case-insensitive or prefix
    match comes first."""
    names = sorted(set(known))
    exact = [k for k in names if k.lower() == name.lower() and k != name]
    prefix = [k for k in names if name and k.startswith(name) and k != name][:n]
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    out: list[str] = []
    for k in exact + close + prefix:
        if k not in out:
            out.append(k)
    return out[:n]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x' or 'y'?"`` or ``""``."""
    close = suggest(name, known)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(k) for k in close) + "?"
