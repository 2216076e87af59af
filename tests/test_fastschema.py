"""The compiled validity check (conformance.fastschema) against jsonschema's own verdict.

The check only lets a valid instance skip jsonschema, so one wrong "valid" would hide a
violation from every row. It is held to jsonschema on every JSON answer and stream event in
the shipped cassettes, against every schema the wire checks use (so most pairs are invalid,
and "invalid" is tested as much as "valid"), and on thousands of mutants of them: a key
dropped, a value of another type, ``true`` for ``1``, ``1.0`` for ``1``, an unknown key, an
empty list, an unknown ``type``.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance import cassettefile, fastschema, protocol, sse
from conformance.results import SCHEMA_PATH

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = [
    ("Message", None),
    ("ErrorResponse", None),
    ("MessageTokensCount", None),
    ("ModelInfo", None),
    *(("RawMessageStreamEvent", ref) for ref in sorted(set(protocol.EVENT_DEFS.values()))),
]


def shipped_instances() -> list[Any]:
    """Every distinct JSON body and stream event's data in the shipped cassettes, and each
    model of a /v1/models page."""
    seen: dict[str, Any] = {}
    for path in sorted((ROOT / "cassettes").glob(f"*/*{cassettefile.SUFFIX}")):
        doc = cassettefile.load_document(path.read_text(encoding="utf-8"))
        for item in doc["interactions"]:
            text = cassettefile._loaded_response_body(item["response"]["body"])
            raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
            found = [e.data for e in sse.parse(raw) if e.data is not None]
            if not found:
                try:
                    found = [json.loads(raw)]
                except ValueError:
                    continue
            for data in found:
                seen.setdefault(json.dumps(data, sort_keys=True), data)
                for item in data.get("data") or [] if isinstance(data, dict) else []:
                    seen.setdefault(json.dumps(item, sort_keys=True), item)  # /v1/models
    return list(seen.values())


CORPUS = shipped_instances()


def paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*here, i))
    return out


REPLACEMENTS: list[Any] = [None, True, False, 0, 1, 1.0, 1.5, -1, "", "x", "text", "tool_use",
                           "message", [], {}, [{}], {"type": "text"}]  # fmt: skip


def mutate(value: Any, rng: random.Random) -> Any:
    """One random change at one random place of a copy of ``value``."""
    out = copy.deepcopy(value)
    where = rng.choice(paths(out))
    if not where:
        return rng.choice(REPLACEMENTS)
    parent = out
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    action = rng.randrange(5)
    if action == 0 and isinstance(parent, dict):
        del parent[last]
    elif action == 1 and isinstance(parent, dict):
        parent[rng.choice(["extra", "type", "id", "index", "usage"]) + "_x"] = 1
    elif (
        action == 2
        and isinstance(parent[last], (int, float))
        and not isinstance(parent[last], bool)
    ):
        parent[last] = rng.choice([float(parent[last]), True, str(parent[last]), -1])
    elif action == 3 and isinstance(parent[last], str):
        parent[last] = rng.choice(["", parent[last] + "_", "text", "end_turn", "error"])
    else:
        parent[last] = rng.choice(REPLACEMENTS)
    return out


def agree(schema: dict[str, Any], ref: str | None, instances: list[Any]) -> list[Any]:
    fast = fastschema.compile_schema(schema, ref)
    slow = Draft202012Validator(schema if ref is None else {**schema, "$ref": f"#/$defs/{ref}"})
    if ref is not None:
        slow = Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{ref}"})
    return [x for x in instances if fast(x) != slow.is_valid(x)]


def test_the_corpus_is_the_shipped_answers() -> None:
    kinds = {d.get("type") for d in CORPUS if isinstance(d, dict)}
    assert len(CORPUS) > 500, len(CORPUS)
    assert {"message", "error", "message_start", "content_block_delta", "ping"} <= kinds


@pytest.mark.parametrize(("name", "ref"), SCHEMAS, ids=[f"{n}-{r}" for n, r in SCHEMAS])
def test_every_shipped_answer_is_judged_as_jsonschema_judges_it(name: str, ref: str | None) -> None:
    schema = protocol._overlaid(name)
    assert agree(schema, ref, CORPUS) == []


@pytest.mark.parametrize(("name", "ref"), SCHEMAS, ids=[f"{n}-{r}" for n, r in SCHEMAS])
def test_mutants_of_shipped_answers_are_judged_as_jsonschema_judges_them(
    name: str, ref: str | None
) -> None:
    schema = protocol._overlaid(name)
    fast = fastschema.compile_schema(schema, ref)
    rng = random.Random(f"fastschema/{name}/{ref}")  # the same mutants every run
    # mutate what this schema takes, so the mutants sit near its valid instances
    base = [x for x in CORPUS if fast(x)] or CORPUS
    mutants = [mutate(rng.choice(base), rng) for _ in range(1500)]
    wrong = agree(schema, ref, mutants)
    assert wrong == [], json.dumps(wrong[:3])[:2000]
    verdicts = {fast(m) for m in mutants}
    assert verdicts == {True, False}, verdicts  # the mutants test both answers


def test_the_results_file_is_judged_as_jsonschema_judges_it() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    doc = json.loads((ROOT / "tests" / "data" / "results-sample.json").read_text())
    rng = random.Random("fastschema/results")
    mutants = [doc, *(mutate(doc, rng) for _ in range(400))]
    assert agree(schema, None, mutants) == []
    assert {fastschema.compile_schema(schema)(m) for m in mutants} == {True, False}


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "integer"}, [1, 1.0, -3], [True, 1.5, "1", None]),
        ({"type": "number"}, [1, 1.5], [True, "1"]),
        ({"type": ["string", "null"]}, ["", None], [0, False]),
        ({"const": 1}, [1, 1.0], [True, "1"]),
        ({"const": True}, [True], [1, 1.0]),
        ({"enum": [[1], {"a": False}]}, [[1.0], {"a": False}], [[True], {"a": 0}, {}]),
        ({"required": ["a"]}, [{"a": None}, "not an object"], [{}]),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": False},
         [{}, {"a": "x"}, 3], [{"a": 1}, {"b": 1}]),
        ({"minimum": 0, "pattern": "^a"}, [0, "ab", True], [-1, "ba"]),
        ({"items": {"type": "integer"}, "minItems": 1}, [[1], "x"], [[], [1, "2"]]),
    ],
)  # fmt: skip
def test_keywords_mean_what_draft_2020_12_says(schema: Any, good: list, bad: list) -> None:
    check = fastschema.compile_schema(schema)
    slow = Draft202012Validator(schema)
    assert [check(x) for x in good] == [slow.is_valid(x) for x in good] == [True] * len(good)
    assert [check(x) for x in bad] == [slow.is_valid(x) for x in bad] == [False] * len(bad)


def test_a_recursive_definition_compiles_and_checks() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"kids": {"type": "array",
                  "items": {"$ref": "#/$defs/Node"}}}, "additionalProperties": False}},
        "$ref": "#/$defs/Node",
    }  # fmt: skip
    check = fastschema.compile_schema(schema)
    assert check({"kids": [{"kids": []}, {}]})
    assert not check({"kids": [{"kids": [{"x": 1}]}]})


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {"^a": {}}},
        {"prefixItems": [{}], "items": {}},
        {"$dynamicRef": "#x"},
        {"$ref": "other.json"},
        {"if": {}, "then": {}},
        {"type": "decimal"},
        {"properties": {"a": {"unknownKeyword": 1}}},
    ],
)
def test_a_keyword_it_does_not_implement_is_refused_so_jsonschema_decides(schema: Any) -> None:
    with pytest.raises(fastschema.Unsupported):
        fastschema.compile_schema(schema)


def test_every_schema_the_wire_checks_use_compiles() -> None:
    """If an SDK update brought a keyword this does not implement, every answer would be
    judged by jsonschema alone: correct, but the replay would be slow again unnoticed."""
    for name, ref in SCHEMAS:
        assert protocol._valid(name, ref) is not None, (name, ref)
