"""Targets: resolution by name, command-line overrides, and keys — a missing key is one clear
usage error before any request, and replaying cassettes needs no key at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import targets
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent
TARGETS = REPO / "cases" / "targets"
KEY_ENV = "CONFORMANCE_FAKE_KEY"
FAKE_KEY = "sk-fake-test-key-123"


def stderr_lines(run: Any) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.strip()]


def test_known_targets_resolve_with_their_settings() -> None:
    deepseek, llamacpp = targets.resolve(["deepseek", "llamacpp"], TARGETS)
    assert deepseek.name == "deepseek"
    assert deepseek.base_url == "https://api.deepseek.com/anthropic"
    assert deepseek.host == "api.deepseek.com"
    assert (deepseek.auth, deepseek.api_key_env) == ("x-api-key", "DEEPSEEK_API_KEY")
    assert deepseek.profile == "deepseek"
    assert deepseek.extra_body == {"thinking": {"type": "disabled"}}
    assert deepseek.headers == {"anthropic-version": "2023-06-01"}
    assert llamacpp.profile == "llamacpp" and llamacpp.host == "127.0.0.1:8088"


def test_unknown_target_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        targets.resolve(["deepseek", "nope"], TARGETS)
    message = str(caught.value)
    assert message.startswith("unknown target 'nope': known targets are ")
    for name in targets.available(TARGETS):
        assert name in message
    assert str(TARGETS) in message


def test_invalid_target_file_names_file_and_line(tmp_path: Path) -> None:
    doc = yaml.safe_load((TARGETS / "llamacpp.yaml").read_text())
    doc.update(name="broken", auth="basic")
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    line = 1 + next(
        i for i, text in enumerate((tmp_path / "broken.yaml").read_text().splitlines())
        if text.startswith("auth:")
    )  # fmt: skip
    with pytest.raises(InputError, match=rf"broken\.yaml:{line}: invalid target at auth: 'basic'"):
        targets.resolve(["broken"], tmp_path)


def test_target_named_unlike_its_file(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text((TARGETS / "llamacpp.yaml").read_text())
    with pytest.raises(InputError, match=r"mine\.yaml:1: target name 'llamacpp' must match"):
        targets.resolve(["mine"], tmp_path)


def test_key_comes_from_the_named_variable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    (target,) = targets.resolve(["llamacpp"], TARGETS)
    monkeypatch.delenv("LLAMACPP_API_KEY", raising=False)
    assert target.api_key(required=False) is None
    with pytest.raises(InputError) as caught:
        target.api_key(required=True)
    assert "LLAMACPP_API_KEY" in str(caught.value) and "--mode replay" in str(caught.value)
    monkeypatch.setenv("LLAMACPP_API_KEY", "sk-local")
    assert target.api_key(required=True) == "sk-local"


# --- through pytest -------------------------------------------------------------------------


def test_unknown_target_is_a_one_line_usage_error(suite: Any) -> None:
    cases_dir = suite.cases_dir("http://127.0.0.1:9")
    run = suite.run(cases_dir, target="nope")
    assert run.returncode == 4, run
    (line,) = stderr_lines(run)
    known = ", ".join(targets.available(cases_dir / "targets"))
    assert "fake" in known.split(", ")
    assert line.startswith(f"ERROR: unknown target 'nope': known targets are {known} (files in")
    assert "Traceback" not in run.stdout + run.stderr and run.doc is None


def test_overrides_reach_the_wire(suite: Any, fake_server: Any) -> None:
    """--base-url, --model and --api-key-env replace the target file's values."""
    cases_dir = suite.cases_dir(
        "http://127.0.0.1:9",  # nothing listens there: only the override can work
        target={"model": "not-served-here", "api_key_env": "NOT_SET_ANYWHERE"},
    )
    run = suite.run(
        cases_dir, "-k", "fields.max_tokens",
        "--base-url", fake_server.base_url, "--model", "claude-haiku-4-5",
        "--api-key-env", "OTHER_KEY_VAR",
        key=None, env={"OTHER_KEY_VAR": FAKE_KEY},
    )  # fmt: skip
    assert run.returncode == 0, run
    assert run.observed == {"fields.max_tokens": "honored"}
    (info,) = run.doc["run"]["targets"]
    assert info == {
        "name": "fake",
        "base_url_host": f"127.0.0.1:{fake_server.port}",
        "model": "claude-haiku-4-5",
        "profile": "anthropic",
    }
    assert fake_server.requests, "no request reached the override URL"
    assert {r.body["model"] for r in fake_server.requests} == {"claude-haiku-4-5"}
    assert {r.headers.get("x-api-key") for r in fake_server.requests} == {FAKE_KEY}


@pytest.mark.parametrize("flag", ["--base-url", "--model", "--api-key-env"])
def test_overrides_with_two_targets_are_a_usage_error(suite: Any, flag: str) -> None:
    cases_dir = suite.cases_dir("http://127.0.0.1:9")
    value = {"--base-url": "http://127.0.0.1:9", "--api-key-env": "X_KEY"}.get(flag, "m")
    run = suite.run(cases_dir, flag, value, target="fake,llamacpp")
    assert run.returncode == 4, run
    (line,) = stderr_lines(run)
    assert line == f"ERROR: {flag} apply to one target; got 2"


def test_missing_key_is_one_message_naming_the_variable(suite: Any, fake_server: Any) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    run = suite.run(cases_dir, key=None)
    assert run.returncode == 4, run
    (line,) = stderr_lines(run)
    expected = f"ERROR: target 'fake' needs an API key: set the environment variable {KEY_ENV}"
    assert line.startswith(expected), line
    # the fake target has no cassettes: replay is not suggested as a way out
    assert "--mode replay" not in line and "no cassettes are shipped for it" in line
    assert "failed" not in run.stdout and "Traceback" not in run.stdout + run.stderr
    assert run.doc is None
    assert fake_server.requests == []


def test_missing_key_suggests_replay_only_where_cassettes_are_shipped() -> None:
    from conformance.targets import Target
    from conformance.yamlfile import InputError

    t = Target(
        name="x", title="x", base_url="http://127.0.0.1:9", auth="x-api-key",
        api_key_env="CONFORMANCE_TEST_UNSET_KEY", model="m", profile="anthropic",
    )  # fmt: skip
    with pytest.raises(InputError, match="or replay its shipped cassettes with --mode replay"):
        t.api_key(required=True, replayable=True)
    with pytest.raises(InputError, match="no cassettes are shipped"):
        t.api_key(required=True, replayable=False)


def test_replay_needs_no_key(suite: Any, fake_server: Any, tmp_path: Path) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    other = tmp_path / "empty" / "fake" / "fields.stream.json"  # cassettes, but not this row's
    other.parent.mkdir(parents=True)
    other.write_text("interactions: []\nversion: 1\n")
    run = suite.run(
        cases_dir, "-k", "fields.max_tokens", mode="replay", key=None,
        cassette_dir=tmp_path / "empty",
    )  # fmt: skip
    assert run.returncode == 3, run  # the row errors (no cassette): not judged, exit 3
    record = run.results["fields.max_tokens"]
    assert record["observed"] == "error"
    assert "no cassette at" in record["message"] and "API key" not in record["message"]
    assert fake_server.requests == [], "replay must never call the endpoint"


def test_every_local_target_says_what_it_installed_and_its_provenance_agrees() -> None:
    """The translators send no version header: the target file names the pinned versions,
    and the shipped cassettes' provenance carries the same (a re-record writes it)."""
    import yaml

    from conformance.targets import load_target

    repo = Path(__file__).resolve().parent.parent
    for prov in sorted((repo / "cassettes").glob("*/_provenance.yaml")):
        target = load_target(repo / "cases" / "targets" / f"{prov.parent.name}.yaml")
        assert target.software, target.name
        assert yaml.safe_load(prov.read_text())["software"] == target.software, target.name


def test_replay_of_a_target_without_cassettes_stops_before_any_row(tmp_path: Path) -> None:
    """Replay is the default: a target with no cassettes gets one message naming the ways
    out (live with its key, or record), exit 4, and no report, not 96 identical errors."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", "minimax", "-p", "no:cacheprovider",
         f"--report-dir={tmp_path / 'r'}"],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert "target 'minimax' has no cassettes in" in proc.stderr
    assert "--mode live with MINIMAX_API_KEY set" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_target_without_profile_is_told_to_write_profile_anthropic(tmp_path: Path) -> None:
    """Issue 26: it was told it "declares unknown profile 'acme'", a key it never wrote."""
    from conformance.targets import check_profiles, load_target
    from conformance.yamlfile import InputError

    path = tmp_path / "acme.yaml"
    path.write_text("name: acme\nbase_url: http://127.0.0.1:9\nmodel: m\nauth: x-api-key\n")
    with pytest.raises(InputError) as exc:
        check_profiles([load_target(path)], {"anthropic", "llamacpp"})
    text = str(exc.value)
    assert "has no profile:" in text and "add `profile: anthropic`" in text, text
    assert "declares unknown profile" not in text
