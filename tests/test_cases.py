"""Case files: the real cases load whole, and a broken case file stops the run with one line
that names the file, the line and the fix, never a traceback and never a half-run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import cases, oracles
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent

# Every row of DeepSeek's compatibility tables (the seed), one case each.
SEED_ROWS = {
    # HTTP Header
    "headers.x-api-key", "headers.anthropic-version", "headers.anthropic-beta",
    # Simple Fields
    "fields.model", "fields.max_tokens", "fields.container", "fields.mcp_servers",
    "fields.metadata", "fields.service_tier", "fields.stop_sequences", "fields.stream",
    "fields.system", "fields.temperature", "fields.thinking", "fields.top_k", "fields.top_p",
    # Tool Fields: tools / tool_choice
    "tools.name", "tools.input_schema", "tools.description", "tools.cache_control",
    "tool_choice.none", "tool_choice.auto", "tool_choice.any", "tool_choice.tool",
    # Message Fields
    "content.string", "content.text.text", "content.text.cache_control",
    "content.text.citations", "content.image", "content.document", "content.search_result",
    "content.thinking", "content.redacted_thinking", "content.tool_use.id",
    "content.tool_use.input", "content.tool_use.name", "content.tool_use.cache_control",
    "content.tool_result.tool_use_id", "content.tool_result.content",
    "content.tool_result.cache_control", "content.tool_result.is_error",
    "content.server_tool_use", "content.web_search_tool_result",
    "content.code_execution_tool_result", "content.mcp_tool_use", "content.mcp_tool_result",
    "content.container_upload",
}  # fmt: skip
# Rows the table words as a qualifier of another row ("budget_tokens is ignored", a range).
VARIANTS = {
    "fields.temperature.range", "fields.thinking.budget_tokens",
    "tool_choice.auto.disable_parallel_tool_use", "tool_choice.any.disable_parallel_tool_use",
    "tool_choice.tool.disable_parallel_tool_use",
}  # fmt: skip
# Rows decided a second way (a second oracle on the same row, e.g. information flow).
SECOND_ORACLES = {"fields.system.echo"}
# The files that transcribe the vendor's table; other files (protocol.yaml, extras.yaml, ...)
# hold rows beyond it.
SEED_FILES = {"headers.yaml", "fields.yaml", "tools.yaml", "tool_choice.yaml", "content.yaml"}


def load_repo() -> list[cases.Case]:
    return cases.load_all(REPO / "cases", oracles.ORACLES)[0]


def test_seed_table_has_47_rows_and_5_variants() -> None:
    assert len(SEED_ROWS) == 47
    assert len(VARIANTS) == 5


def test_the_real_cases_load_with_unique_ids_and_every_seed_row() -> None:
    loaded = load_repo()
    ids = [c.id for c in loaded]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    from_table = {c.id for c in loaded if c.file.name in SEED_FILES}
    assert len(from_table) == 52 + len(SECOND_ORACLES)
    assert from_table == SEED_ROWS | VARIANTS | SECOND_ORACLES
    assert {c.id for c in loaded if c.id.startswith("protocol.")} >= {
        "protocol.message", "protocol.stream", "protocol.errors", "protocol.auth_errors",
        "protocol.bearer", "protocol.count_tokens", "protocol.models",
    }  # fmt: skip


def test_seed_rows_are_plain_rows_declared_by_deepseek_and_variants_qualify_one() -> None:
    by_id = {c.id: c for c in load_repo()}
    for case_id in SEED_ROWS:
        case = by_id[case_id]
        assert case.variant is None, case_id
        assert "deepseek" in case.declared, f"{case_id}: DeepSeek's table declares every seed row"
    for case_id in VARIANTS | SECOND_ORACLES:
        case = by_id[case_id]
        assert case.variant, case_id
        parent = [c for c in by_id.values() if c.row == case.row and c.table == case.table]
        assert any(c.variant is None for c in parent), f"{case_id} qualifies no plain row"
    keys = [(c.table, c.row, c.variant) for c in by_id.values()]
    assert len(keys) == len(set(keys)), "two cases for the same table row and variant"


def test_every_case_knows_its_file_and_line() -> None:
    for case in load_repo():
        text = case.file.read_text().splitlines()
        assert text[case.line - 1].strip() == f"- id: {case.id}", case.where


# --- broken case files --------------------------------------------------------------------

GOOD_ROW = """\
table: Test
rows:
  - id: test.first
    row: first
    declared:
      deepseek: Fully Supported
    oracle: stream
"""

BROKEN: dict[str, tuple[dict[str, str], str, int, list[str]]] = {
    # name: ({file: text}, file that is named, line, phrases the message must contain)
    "yaml syntax": (
        {"bad.yaml": GOOD_ROW + "  - id: test.second\n    row: second\n   oracle: stream\n"},
        "bad.yaml", 10, ["YAML syntax error", "expected <block end>"],
    ),
    "unterminated quote": (  # noticed at the end of the file; the message names its start
        {"bad.yaml": GOOD_ROW + '    probe: {prompt: "unterminated}\n  - id: test.second\n'},
        "bad.yaml", 10, ["YAML syntax error", "quoted scalar that starts on line 8"],
    ),
    "missing oracle": (
        {"bad.yaml": GOOD_ROW + "  - id: test.second\n    row: second\n"},
        "bad.yaml", 8, ["invalid case file at rows/1", "'oracle' is a required property"],
    ),
    "bad id pattern": (
        {"bad.yaml": GOOD_ROW + "  - id: Test Second\n    row: second\n    oracle: stream\n"},
        "bad.yaml", 8, ["rows/1/id", "'Test Second' does not match"],
    ),
    "unknown key": (
        {"bad.yaml": GOOD_ROW + "  - id: test.second\n    row: second\n    oracle: stream\n"
                                "    orcale: stream\n"},
        "bad.yaml", 11, ["rows/1", "'orcale' was unexpected"],
    ),
    "unknown oracle": (
        {"bad.yaml": GOOD_ROW + "  - id: test.second\n    row: second\n    oracle: max_token\n"},
        "bad.yaml", 10, ["unknown oracle 'max_token'", "known oracles: ", "max_tokens"],
    ),
    "params typo": (  # each oracle's params schema, checked at load, not at run time
        {"bad.yaml": GOOD_ROW + "  - id: test.second\n    row: second\n    oracle: echo\n"
                                "    params:\n      trails: 3\n"},
        "bad.yaml", 12, ["case test.second: unknown param 'trails'",
                         "fix: known params of oracle 'echo': trials"],
    ),
    "duplicate id across files": (
        {"a.yaml": GOOD_ROW, "b.yaml": "\n\n" + GOOD_ROW},
        "b.yaml", 5, ["duplicate case id 'test.first'", "first at ", "a.yaml:3"],
    ),
    "unknown profile": (
        {"bad.yaml": GOOD_ROW.replace("deepseek: Fully Supported", "acme: Supported")},
        "bad.yaml", 6, ["unknown profile 'acme'",
                        "known profiles: anthropic, claude-code-proxy, claude-code-router, deep",
                        "add cases/profiles/acme.yaml"],
    ),
    "unknown vendor word": (
        {"bad.yaml": GOOD_ROW.replace("Fully Supported", "Mostly Supported")},
        "bad.yaml", 6, ["profile 'deepseek' declares 'Mostly Supported'",
                        "add it to cases/profiles/deepseek.yaml"],
    ),
}  # fmt: skip


def broken_cases_dir(suite: Any, files: dict[str, str]) -> Path:
    """A cases dir holding only ``files``, with the repo's profiles, targets and settings."""
    cases_dir = suite.cases_dir("http://127.0.0.1:9")
    for path in cases_dir.glob("*.yaml"):
        if path.name != "settings.yaml":
            path.unlink()
    for path in (cases_dir / "profiles").glob("*.yaml"):  # their notes name the real cases
        doc = yaml.safe_load(path.read_text())
        doc.pop("notes", None)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for name, text in files.items():
        (cases_dir / name).write_text(text)
    return cases_dir


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_case_file_names_file_line_and_fix(suite: Any, name: str) -> None:
    files, culprit, line, phrases = BROKEN[name]
    cases_dir = broken_cases_dir(suite, files)
    with pytest.raises(InputError) as caught:
        cases.load_all(cases_dir, oracles.ORACLES)
    message = str(caught.value)
    assert message.startswith(f"{cases_dir / culprit}:{line}:"), message
    for phrase in phrases:
        assert phrase in message, message
    assert "\n" not in message


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_case_file_is_a_one_line_usage_error_in_pytest(suite: Any, name: str) -> None:
    files, culprit, line, phrases = BROKEN[name]
    cases_dir = broken_cases_dir(suite, files)
    run = suite.run(cases_dir)
    assert run.returncode == 4, run
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, run
    assert lines[0].startswith(f"ERROR: {cases_dir / culprit}:{line}:"), run
    assert all(p in lines[0] for p in phrases), run
    assert "Traceback" not in run.stdout + run.stderr
    assert not re.search(r"\d+ (passed|failed|errors?)", run.stdout), run
    assert run.doc is None, "a run that never started must not write results.json"


def test_profile_that_implies_an_unknown_profile(suite: Any) -> None:
    cases_dir = broken_cases_dir(suite, {"ok.yaml": GOOD_ROW})
    (cases_dir / "profiles" / "acme.yaml").write_text(
        "name: acme\nsource: {url: 'https://example.invalid', read: today}\nimplies: nobody\n"
    )
    with pytest.raises(InputError, match=r"acme\.yaml:3: implies unknown profile 'nobody'.*fix:"):
        cases.load_all(cases_dir, oracles.ORACLES)


def test_profile_notes_for_an_unknown_case_name_line_and_fix(suite: Any) -> None:
    cases_dir = broken_cases_dir(suite, {"ok.yaml": GOOD_ROW})
    (cases_dir / "profiles" / "acme.yaml").write_text(
        "name: acme\nsource: {url: 'https://example.invalid', read: today}\nnotes:\n"
        "  test.firs: 'Finding: a typo'\n"
    )
    with pytest.raises(InputError) as exc:
        cases.load_all(cases_dir, oracles.ORACLES)
    said = str(exc.value)
    assert "acme.yaml:4: notes for unknown case id(s) test.firs" in said
    assert "did you mean 'test.first'" in said and "fix:" in said


def test_profile_named_unlike_its_file(suite: Any) -> None:
    cases_dir = broken_cases_dir(suite, {"ok.yaml": GOOD_ROW})
    (cases_dir / "profiles" / "acme.yaml").write_text(
        "name: other\nsource: {url: 'https://example.invalid', read: today}\n"
    )
    with pytest.raises(InputError, match=r"acme\.yaml:1: profile name 'other' must match"):
        cases.load_all(cases_dir, oracles.ORACLES)


def test_a_missing_cases_dir_says_which_option_sets_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"does not exist \(see --cases-dir\)"):
        cases.load_all(tmp_path / "nowhere", oracles.ORACLES)


def test_yaml_line_numbers_survive_merge_keys(suite: Any) -> None:
    """Anchors and ``<<:`` merges (used by the real tool cases) keep each entry's own line."""
    text = textwrap.dedent(
        """\
        table: Test
        rows:
          - id: test.first
            row: first
            oracle: stream
            probe: &base {max_tokens: 5}
          - id: test.second
            row: second
            oracle: stream
            probe:
              <<: *base
              stream: true
        """
    )
    cases_dir = broken_cases_dir(suite, {"ok.yaml": text})
    loaded = cases.load_all(cases_dir, oracles.ORACLES)[0]
    assert [(c.id, c.line) for c in loaded] == [("test.first", 3), ("test.second", 7)]
    assert loaded[1].probe == {"max_tokens": 5, "stream": True}


def test_a_missing_shape_file_is_refused_at_load_with_a_suggestion(suite: Any) -> None:
    """A client-shape row naming a shape that is not there: file, line and the close names,
    before any request; not an error row once the run has started."""
    row = textwrap.dedent(
        """\
        table: Test
        rows:
          - id: test.shape
            row: shape
            declared: {deepseek: Fully Supported}
            oracle: client_shape
            params: {shape: shapes/claude-code-2.1.332-frist.json}
        """
    )
    cases_dir = broken_cases_dir(suite, {"ok.yaml": row})
    with pytest.raises(InputError) as exc:
        cases.load_all(cases_dir, oracles.ORACLES)
    said = str(exc.value)
    assert said.startswith(f"{cases_dir / 'ok.yaml'}:7: case test.shape: params.shape"), said
    assert "did you mean 'shapes/claude-code-2.1.332-first.json'" in said and "fix:" in said


def test_cases_dir_alone_collects_the_cases_it_loads(suite: Any, tmp_path: Path) -> None:
    """`pytest --target T --cases-dir=DIR` with no path: the rows of DIR are collected (not
    the repo's testpaths, which would collect nothing of DIR and call the run interrupted)."""
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    copy = tmp_path / "mycases"
    shutil.copytree(repo / "cases", copy)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", "llamacpp", f"--cases-dir={copy}",
         "-k", "fields.max_tokens", "-p", "no:cacheprovider", "-q",
         f"--report-dir={tmp_path / 'r'}"],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 pass in" in proc.stdout, proc.stdout[-1000:]
