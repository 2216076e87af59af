"""docs/: the generated blocks match the schemas, every oracle is documented, every case's
params are the ones its oracle's documentation lists, and the docs cite no local paths."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest

from conformance import catalog

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "conformance" / "schemas" / "oracles.schema.json").read_text())
DOCUMENTED = SCHEMA["$defs"]["oracles"]["properties"]


def gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_docs_are_up_to_date() -> None:
    stale = gen_docs().stale_docs(REPO / "docs")
    assert stale == [], "run: python scripts/gen_docs.py"


def test_every_doc_exists_and_has_its_generated_block() -> None:
    for name, schema in [
        ("cases", "case"),
        ("targets", "target"),
        ("profiles", "profile"),
        ("expectations", "expectations"),
        ("oracles", "oracles"),
    ]:
        text = (REPO / "docs" / f"{name}.md").read_text()
        assert f"<!-- BEGIN generated: {schema}.schema.json -->" in text
        assert "| field | type | required | description |" in text


def test_every_registered_oracle_is_documented_and_no_other() -> None:
    assert set(DOCUMENTED) == set(catalog.oracle_registry())


def test_every_case_uses_documented_params() -> None:
    """A param the docs do not list, or a required one missing, fails here (and names the row)."""
    problems = []
    from conformance import cases

    loaded, _ = cases.load_all(REPO / "cases", set(catalog.oracle_registry()))
    for case in loaded:
        schema = {"$defs": SCHEMA["$defs"], **DOCUMENTED[case.oracle]}
        for err in jsonschema.Draft202012Validator(schema).iter_errors(case.params):
            problems.append(f"{case.where}: {case.id} ({case.oracle}): {err.message}")
    assert problems == []


def test_an_undocumented_param_is_caught() -> None:
    schema = {"$defs": SCHEMA["$defs"], **DOCUMENTED["token_diff"]}
    with pytest.raises(jsonschema.ValidationError, match="min_detla"):
        jsonschema.validate({"min_detla": 3}, schema)


def test_rendering() -> None:
    g = gen_docs()
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "string", "description": "the | a", "pattern": "^x$"},
            "b": {"type": "object", "properties": {"c": {"enum": [1, "two"]}}},
            "d": {"type": "array", "items": {"$ref": "#/$defs/e"}},
            "f": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "$defs": {"e": {"type": "object", "properties": {"g": {"type": ["string", "null"]}}}},
    }
    assert g.rows(schema, schema) == [
        ["`a`", "string", "yes", "the \\| a Pattern `^x$`."],
        ["`b`", "object", "", ""],
        ["`b.c`", "one of `1`, `two`", "", ""],
        ["`d`", "list of object", "", ""],
        ["`d[].g`", "string or null", "", ""],
        ["`f`", "map of name → integer", "", ""],
    ]


def test_docs_cite_only_public_urls() -> None:
    for path in sorted((REPO / "docs").glob("*.md")):
        text = path.read_text()
        for url in re.findall(r"\]\(([^)]+)\)", text):
            assert url.startswith("https://") or re.fullmatch(r"[\w.-]+\.md(#[\w-]+)?", url), (
                path.name,
                url,
            )
        assert "/work/" not in text and "file://" not in text, path.name


@pytest.mark.parametrize(
    ("doc", "schema"),
    [
        ("targets", "target"),
        ("cases", "case"),
        ("profiles", "profile"),
        ("expectations", "expectations"),
    ],
)
def test_each_docs_example_file_is_valid(doc: str, schema: str) -> None:
    """The first YAML example of a format's page is a whole file: copied as it stands, it must
    load (a stale key such as a removed ``features:`` would be refused by the schema)."""
    import yaml

    text = (REPO / "docs" / f"{doc}.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example, f"docs/{doc}.md has no YAML example"
    spec = json.loads((REPO / "conformance" / "schemas" / f"{schema}.schema.json").read_text())
    errors = [
        e.message
        for e in jsonschema.validators.validator_for(spec)(spec).iter_errors(
            yaml.safe_load(example.group(1))
        )
    ]
    assert not errors, f"docs/{doc}.md's example: {errors}"


def test_the_readmes_layout_names_only_files_that_exist_once() -> None:
    """Issue 26: the layout table named conformance/capture.py (a package) and listed
    others twice."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("\n## ", 3)] if "\n## " in layout[3:] else layout
    first_cells = [line.split("|")[1] for line in layout.splitlines() if line.startswith("| `")]
    named = [
        n
        for cell in first_cells
        for n in re.findall(r"`((?:conformance|cases|tests|docs|scripts|cassettes)/[^`<*]*)`", cell)
    ]
    assert named, layout[:500]
    missing = [n for n in named if not (REPO / n).exists()]
    assert missing == [], missing
    twice = sorted({n for n in named if named.count(n) > 1})
    assert twice == [], twice
