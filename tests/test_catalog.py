"""Listing targets, cases and oracles; "did you mean"; YAML booleans caught with their fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance import catalog, yamlfile
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "cases"


def test_unknown_names_in_input_files_get_a_suggestion(tmp_path) -> None:
    """The loaders' errors carry the suggestion: a target on the command line, a profile a
    target names, an oracle or a profile a case names."""
    from conformance import targets
    from conformance.yamlfile import InputError

    repo_targets = Path(__file__).resolve().parent.parent / "cases" / "targets"
    with pytest.raises(InputError, match="did you mean 'llamacpp'"):
        targets.resolve(["llamacp"], repo_targets)


def test_suggestions() -> None:
    known = ["llamacpp", "litellm", "deepseek", "deepseek-2026", "lmstudio"]
    assert yamlfile.suggest("llamcpp", known)[0] == "llamacpp"
    assert yamlfile.suggest("DeepSeek", known)[0] == "deepseek"
    assert yamlfile.suggest("zzzz", known) == []
    assert yamlfile.did_you_mean("litelm", known) == "; did you mean 'litellm'?"
    assert yamlfile.did_you_mean("zzzz", known) == ""
    text = catalog.unknown("target", "llamcpp", known, "python -m conformance list targets")
    assert text == (
        "unknown target 'llamcpp'; did you mean 'llamacpp'? "
        "(list them: python -m conformance list targets)"
    )
    assert catalog.unknown("oracle", "x", ["a", "b"]) == "unknown oracle 'x'; known: a, b"


def test_list_targets_cases_oracles_from_the_repo() -> None:
    targets = {t["name"]: t for t in catalog.list_targets(CASES)}
    assert targets["llamacpp"]["replayable"] and not targets["deepseek"]["replayable"]
    assert {"llamacpp", "litellm", "deepseek"} <= set(targets)
    assert targets["llamacpp"]["api_key_env"] == "LLAMACPP_API_KEY"
    cases = catalog.list_cases(CASES)
    assert len(cases) == len({c["id"] for c in cases}) > 70
    first = next(c for c in cases if c["id"] == "fields.max_tokens")
    assert first["oracle"] == "max_tokens" and "deepseek" in first["declared_by"]
    assert first["where"].startswith(str(CASES / "fields.yaml") + ":")
    oracles = {o["name"]: o for o in catalog.list_oracles()}
    assert {"token_diff", "echo", "protocol", "client_shape"} <= set(oracles)
    assert all(o["summary"] for o in oracles.values())
    assert "\n" not in oracles["token_diff"]["summary"]


def test_format_listing_aligns() -> None:
    lines = catalog.format_listing(
        "oracles", [{"name": "a", "summary": "x"}, {"name": "bbb", "summary": "y"}]
    )
    assert lines == ["a    x", "bbb  y"]
    lines = catalog.format_listing("targets", catalog.list_targets(CASES))
    assert any(line.startswith("llamacpp ") and "replay or live" in line for line in lines)
    assert any(line.startswith("deepseek ") and "live only" in line for line in lines)
    assert any(line.startswith("llamacpp ") and "model smollm2" in line for line in lines)
    with pytest.raises(ValueError):
        catalog.format_listing("things", [])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


PROFILE = """\
name: v
source: {url: "https://example.com/table", read: "2026-11"}
vocabulary:
  Yes: honored
  "No": rejected
  Off: ignored
  Partial: no
"""


def test_profile_vocabulary_booleans_name_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "profiles" / "v.yaml", PROFILE)
    problems = catalog.yaml_booleans_in_profile(path)
    assert problems == [
        f"{path}:4: vocabulary word Yes is read by YAML as true, not as the text 'Yes'; "
        "fix: quote it: 'Yes': honored",
        f"{path}:6: vocabulary word Off is read by YAML as false, not as the text 'Off'; "
        "fix: quote it: 'Off': ignored",
        f"{path}:7: vocabulary status no is read by YAML as false; fix: a status is one of "
        "honored, ignored, rejected, unsupported, undocumented",
    ]


def test_case_declared_booleans(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.yaml",
        """\
        table: T
        rows:
          - id: a.b
            row: r
            oracle: acceptance
            declared:
              v: Yes
              w: {says: Off}
              x: "On"
              y: Supported
        """,
    )
    assert catalog.yaml_booleans_in_cases(path) == [
        f"{path}:7: v: Yes is read by YAML as true, not as the vendor's word 'Yes'; "
        "fix: quote it: v: 'Yes'",
        f"{path}:8: w: Off is read by YAML as false, not as the vendor's word 'Off'; "
        "fix: quote it: w: 'Off'",
    ]


def test_check_yaml_booleans_over_a_cases_dir(tmp_path: Path) -> None:
    catalog.check_yaml_booleans(CASES)  # the shipped files are clean
    write(tmp_path / "profiles" / "v.yaml", PROFILE)
    write(tmp_path / "settings.yaml", "flag: yes\n")  # not a case file: not checked
    with pytest.raises(InputError) as err:
        catalog.check_yaml_booleans(tmp_path)
    assert len(str(err.value).splitlines()) == 3
    assert "settings.yaml" not in str(err.value)


def test_broken_yaml_is_left_to_the_loader(tmp_path: Path) -> None:
    path = write(tmp_path / "profiles" / "v.yaml", "vocabulary: [\n")
    assert catalog.yaml_booleans_in_profile(path) == []
    assert catalog.yaml_booleans_in_cases(tmp_path / "missing.yaml") == []
