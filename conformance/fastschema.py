"""A compiled yes/no for JSON Schema: is this instance valid? Only that; jsonschema still says
what is wrong.

Every answer the suite receives, every stream event and the results file are checked against
a schema, and nearly all of them are valid. jsonschema's validator builds an error iterator,
an evolved validator and a path for every keyword it visits, valid or not: in replay that was
a fifth of the run. :func:`compile_schema` turns a schema into nested Python closures that
return True or False and allocate nothing on the way, for the keywords the suite's schemas
use (Draft 2020-12 semantics: ``integer`` admits 1.0, booleans are neither integers nor
numbers, ``const``/``enum`` tell ``true`` from ``1``, ``format`` is an annotation). A schema
with any other keyword is refused (:class:`Unsupported`), so a caller falls back to
jsonschema rather than trust a check that skipped something. The callers use the closure
only to skip jsonschema for a valid instance; an invalid one goes to jsonschema for its
messages. ``tests/test_fastschema.py`` holds every shipped answer and thousands of mutants
of them to jsonschema's own verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that say nothing about validity (Draft 2020-12 without a format checker).
ANNOTATIONS = frozenset(
    {"title", "description", "default", "$comment", "$defs", "format", "$schema", "$id",
     "examples", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip


# The keywords that decide validity, each compiled by the method of that name.
KEYWORDS = {
    "$ref": "kw_ref", "type": "kw_type", "properties": "kw_properties",
    "additionalProperties": "kw_additionalProperties", "required": "kw_required",
    "items": "kw_items", "anyOf": "kw_anyOf", "allOf": "kw_allOf", "oneOf": "kw_oneOf",
    "const": "kw_const", "enum": "kw_enum", "minimum": "kw_minimum", "maximum": "kw_maximum",
    "minLength": "kw_minLength", "maxLength": "kw_maxLength", "minItems": "kw_minItems",
    "maxItems": "kw_maxItems", "pattern": "kw_pattern",
}  # fmt: skip


class Unsupported(ValueError):
    """The schema uses a keyword (or a ``$ref``) this compiler does not implement."""


def _is_type(kind: str) -> Check:
    checks: dict[str, Check] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "integer": lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, float) and v.is_integer())
        ),
    }
    if kind not in checks:
        raise Unsupported(f"type {kind!r}")
    return checks[kind]


def equal(one: Any, two: Any) -> bool:
    """JSON equality as JSON Schema means it: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one is two
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, (dict, list)) or isinstance(two, (dict, list)):
        return False
    return bool(type(one) is type(two) or {type(one), type(two)} <= {int, float}) and one == two


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = root.get("$defs") or {}
        self.compiled: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        prefix = "#/$defs/"
        name = ref[len(prefix) :] if ref.startswith(prefix) else None
        if name is None or "/" in name or name not in self.defs:
            raise Unsupported(f"$ref {ref!r}")
        if name not in self.compiled:
            slot: list[Check] = []
            self.compiled[name] = lambda v: slot[0](v)  # recursion: resolved once compiled
            slot.append(self.node(self.defs[name]))
        return self.compiled[name]

    def node(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        checks = [self.keyword(k, v, schema) for k, v in schema.items() if k not in ANNOTATIONS]
        checks = [c for c in checks if c is not None]
        if not checks:
            return lambda v: True
        return _conjunction(checks)

    def keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check | None:
        name = KEYWORDS.get(key)
        if name is None:  # jsonschema would ignore it, or apply what this does not know
            raise Unsupported(f"keyword {key!r}")
        return getattr(self, name)(value, schema)

    def kw_type(self, value: Any, _: dict[str, Any]) -> Check:
        kinds = [_is_type(k) for k in (value if isinstance(value, list) else [value])]
        return kinds[0] if len(kinds) == 1 else lambda v: any(k(v) for k in kinds)

    def kw_ref(self, value: str, _: dict[str, Any]) -> Check:
        return self.ref(value)

    def kw_properties(self, value: dict[str, Any], _: dict[str, Any]) -> Check:
        props = [(name, self.node(sub)) for name, sub in value.items()]

        def check(v: Any) -> bool:
            if isinstance(v, dict):
                for name, c in props:
                    if name in v and not c(v[name]):
                        return False
            return True

        return check

    def kw_additionalProperties(self, value: Any, schema: dict[str, Any]) -> Check | None:
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        known = frozenset(schema.get("properties") or {})
        if value is True:
            return None
        if value is False:
            return lambda v: not isinstance(v, dict) or v.keys() <= known
        extra = self.node(value)
        return lambda v: (
            not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)
        )

    def kw_required(self, value: list[str], _: dict[str, Any]) -> Check:
        names = frozenset(value)
        return lambda v: not isinstance(v, dict) or v.keys() >= names

    def kw_items(self, value: Any, schema: dict[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise Unsupported("prefixItems")
        item = self.node(value)

        def check(v: Any) -> bool:
            if isinstance(v, list):
                for x in v:
                    if not item(x):
                        return False
            return True

        return check

    def kw_anyOf(self, value: list[Any], _: dict[str, Any]) -> Check:
        return _disjunction([self.node(b) for b in value]) if value else lambda v: False

    def kw_allOf(self, value: list[Any], _: dict[str, Any]) -> Check:
        return _conjunction([self.node(b) for b in value]) if value else lambda v: True

    def kw_oneOf(self, value: list[Any], _: dict[str, Any]) -> Check:
        branches = [self.node(b) for b in value]
        return lambda v: sum(1 for b in branches if b(v)) == 1

    def kw_const(self, value: Any, _: dict[str, Any]) -> Check:
        if type(value) is str:  # what equal() means for a string, without its type tests
            return lambda v: type(v) is str and v == value
        return lambda v: equal(v, value)

    def kw_enum(self, value: list[Any], _: dict[str, Any]) -> Check:
        if all(type(e) is str for e in value):  # as kw_const: a set lookup
            names = frozenset(value)
            return lambda v: type(v) is str and v in names
        return lambda v: any(equal(v, e) for e in value)

    def kw_minimum(self, value: float, _: dict[str, Any]) -> Check:
        return lambda v: not _number(v) or v >= value

    def kw_maximum(self, value: float, _: dict[str, Any]) -> Check:
        return lambda v: not _number(v) or v <= value

    def kw_minLength(self, value: int, _: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) >= value

    def kw_maxLength(self, value: int, _: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) <= value

    def kw_minItems(self, value: int, _: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= value

    def kw_maxItems(self, value: int, _: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) <= value

    def kw_pattern(self, value: str, _: dict[str, Any]) -> Check:
        found = re.compile(value).search
        return lambda v: not isinstance(v, str) or found(v) is not None


def _conjunction(checks: list[Check]) -> Check:
    """All of ``checks``, in order, stopping at the first that fails: unrolled for the two
    or three a node mostly has (``all()`` over a generator for each of them cost a fifth of
    a valid answer's check)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    return lambda v: all(c(v) for c in checks)


def _disjunction(checks: list[Check]) -> Check:
    """Any of ``checks``, in order, stopping at the first that holds (unrolled like
    :func:`_conjunction`: most unions are a type or ``null``)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) or second(v)
    return lambda v: any(c(v) for c in checks)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compile_schema(schema: dict[str, Any], ref: str | None = None) -> Check:
    """A validity check for ``schema`` (or for its definition ``#/$defs/<ref>``).

    Raises :class:`Unsupported` for a schema this compiler does not fully understand.
    A check compiled here may recurse as deep as the instance does: callers pass instances
    already bounded in depth (``safejson`` parses answers with a depth limit)."""
    compiler = _Compiler(schema)
    if ref is not None:
        return compiler.ref(f"#/$defs/{ref}")
    return compiler.node(schema)
