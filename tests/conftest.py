"""Shared fixtures for the suite's own tests (``pytest tests``): a fake Anthropic endpoint and
ways to run the conformance suite against it.

* ``fake_server``: a :class:`tests.fakeserver.FakeAnthropic` on 127.0.0.1 for one test, with
  the key ``sk-fake-test-key-123``. Deviations come from indirect parametrization
  (``@pytest.mark.parametrize("fake_server", [{"drop_system"}], indirect=True)``) or from
  ``@pytest.mark.deviations("drop_system", ...)``; ``start_fake_server`` starts more.
* ``suite``: writes a cases directory (a copy of the repo's case files, profiles and
  settings, plus ``targets/fake.yaml`` pointing at a server) and runs ``python -m pytest
  --target fake ...`` in a subprocess, the way users run it (entry-point plugin, xdist),
  returning the parsed ``results.json`` as ``{case_id: record}``.
* ``harness``: the same cases run in-process through ``conformance.runner.run_case``
  against ``fake_server`` — much faster, for per-oracle tests.

Test servers live beside it: ``fakeserver.py`` (Anthropic-like, with deviations),
``faultserver.py`` (byte-level faults) and ``loopback.py`` (the one loopback HTTP helper).
A real conformance run never loads this file (the root ``conftest.py`` is empty on purpose).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeserver
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
KEY_ENV = "CONFORMANCE_FAKE_KEY"
TARGET = "fake"
# The README's main job: the targets whose cassettes are shipped, in its column order.
SHIPPED_TARGETS = [
    "llamacpp",
    "llamacpp-tools",
    "litellm",
    "claude-code-router",
    "claude-code-proxy",
]
# Test settings on top of cases/settings.yaml: no waiting between retries, short timeouts.
TEST_SETTINGS: dict[str, Any] = {
    "limits": {
        "retries": 2,
        "backoff": 0.0,
        "connect_timeout": 5,
        "read_timeout": 10,
        "total_timeout": 60,
    }
}


FAKE_KEY: str = fakeserver.FAKE_KEY
# Replays memoize the official SDK's verdicts (conformance/sdk.py); the suite's own tests,
# and the runs they start, keep theirs in a folder of their own, not in ~/.cache.
os.environ.setdefault("ANTHROPIC_CONFORMANCE_CACHE", tempfile.mkdtemp(prefix="conformance-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deviations(*names): deviations of the fake_server fixture")


def merged(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, dicts recursively (neither is changed)."""
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- the server ---------------------------------------------------------------------------


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    deviations = set(getattr(request, "param", None) or ())
    marker = request.node.get_closest_marker("deviations")
    if marker:
        deviations |= set(marker.args)
    with fakeserver.FakeAnthropic(deviations=deviations) as server:
        yield server


@pytest.fixture
def start_fake_server() -> Iterator[Any]:
    """``start_fake_server({"slow"}, slow_seconds=1.0)`` -> a started server, stopped after."""
    servers: list[Any] = []

    def start(deviations: Any = (), **options: Any) -> Any:
        server = fakeserver.FakeAnthropic(deviations=set(deviations), **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- a cases directory and a suite run in a subprocess ------------------------------------


def target_yaml(base_url: str, **changes: Any) -> dict[str, Any]:
    doc = {
        "name": TARGET,
        "title": "Fake Anthropic (tests/fakeserver.py)",
        "base_url": base_url,
        "auth": "x-api-key",
        "api_key_env": KEY_ENV,
        "model": fakeserver.MODEL,
        "profile": "anthropic",
        "headers": {"anthropic-version": "2023-06-01"},
        "concurrency": 2,
    }
    doc.update(changes)
    return doc


def write_cases_dir(
    where: Path,
    base_url: str,
    *,
    settings: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
) -> Path:
    """``where/cases``: the repo's case files, profiles, targets and settings (``TEST_SETTINGS``
    and ``settings`` merged in), plus ``targets/fake.yaml`` pointing at ``base_url``."""
    cases_dir = where / "cases"
    cases_dir.mkdir(parents=True)
    for path in (REPO / "cases").glob("*.yaml"):
        if path.name != "settings.yaml":
            shutil.copy(path, cases_dir / path.name)
    shutil.copytree(REPO / "cases" / "profiles", cases_dir / "profiles")
    shutil.copytree(REPO / "cases" / "targets", cases_dir / "targets")
    shutil.copytree(REPO / "cases" / "shapes", cases_dir / "shapes")
    base = yaml.safe_load((REPO / "cases" / "settings.yaml").read_text())
    doc = merged(merged(base, TEST_SETTINGS), settings)
    (cases_dir / "settings.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    fake = target_yaml(base_url, **(target or {}))
    (cases_dir / "targets" / f"{TARGET}.yaml").write_text(yaml.safe_dump(fake, sort_keys=False))
    return cases_dir


@dataclass
class SuiteRun:
    """One ``python -m pytest --target ...`` run: exit code, output and results.json."""

    returncode: int
    stdout: str
    stderr: str
    report_dir: Path
    doc: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def observed(self) -> dict[str, str]:
        return {case_id: r["observed"] for case_id, r in self.results.items()}

    def __str__(self) -> str:
        out, err = self.stdout[-3000:], self.stderr[-3000:]
        return f"exit {self.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


class Suite:
    """Runs the conformance suite in a subprocess against a cases directory under ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.runs = 0

    def cases_dir(self, base_url: str, **kwargs: Any) -> Path:
        return write_cases_dir(self.tmp, base_url, **kwargs)

    def command(
        self,
        cases_dir: Path,
        *args: str,
        mode: str = "live",
        report_dir: Path | None = None,
        cassette_dir: Path | None = None,
        target: str = TARGET,
    ) -> tuple[list[str], Path]:
        self.runs += 1
        report_dir = report_dir or self.tmp / f"report{self.runs}"
        cassette_dir = cassette_dir or self.tmp / "cassettes"
        cmd = [
            sys.executable, "-m", "pytest", str(cases_dir),
            "--target", target, "--mode", mode,
            f"--cases-dir={cases_dir}", f"--report-dir={report_dir}",
            f"--cassette-dir={cassette_dir}",
            "-p", "no:cacheprovider", "-q", *args,
        ]  # fmt: skip
        return cmd, report_dir

    def env(
        self, key: str | None = FAKE_KEY, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != KEY_ENV}
        if key is not None:
            env[KEY_ENV] = key
        env.update(extra or {})
        return env

    def run(
        self,
        cases_dir: Path,
        *args: str,
        key: str | None = FAKE_KEY,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        **kwargs: Any,
    ) -> SuiteRun:
        cmd, report_dir = self.command(cases_dir, *args, **kwargs)
        proc = subprocess.run(
            cmd, cwd=self.tmp, env=self.env(key, env), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        return self.finish(proc.returncode, proc.stdout, proc.stderr, report_dir)

    def start(self, cases_dir: Path, *args: str, **kwargs: Any) -> tuple[subprocess.Popen, Path]:
        """The run in the background (for interrupting it), with SIGINT at its default: a
        shell that starts the tests as a background job hands them SIGINT ignored, and the
        run would inherit that and never see the Ctrl-C these tests send."""
        cmd, report_dir = self.command(cases_dir, *args, **kwargs)
        proc = subprocess.Popen(
            cmd, cwd=self.tmp, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_default_sigint,
        )  # fmt: skip
        return proc, report_dir

    def interrupt(self, proc: subprocess.Popen, report_dir: Path) -> SuiteRun:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        return self.finish(proc.returncode, stdout, stderr, report_dir)

    @staticmethod
    def finish(code: int, stdout: str, stderr: str, report_dir: Path) -> SuiteRun:
        run = SuiteRun(code, stdout, stderr, report_dir)
        path = report_dir / "results.json"
        if path.exists():
            run.doc = json.loads(path.read_text())
            for record in run.doc["results"]:
                assert record["id"] not in run.results, f"two records for {record['id']}"
                run.results[record["id"]] = record
        return run


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    return Suite(tmp_path)


# --- in-process runs ----------------------------------------------------------------------


@functools.cache
def repo_cases() -> tuple[dict[str, Any], dict[str, Any]]:
    """The repo's cases by id, and its profiles (loaded once)."""
    from conformance import cases, oracles

    loaded, profiles = cases.load_all(REPO / "cases", oracles.ORACLES)
    return {c.id: c for c in loaded}, profiles


def all_case_ids() -> tuple[str, ...]:
    """Every row of the repo's cases, sorted: for sweeps over the whole suite."""
    return tuple(sorted(repo_cases()[0]))


def settings_for_tests(extra: dict[str, Any] | None = None) -> Any:
    from conformance import settings

    base = yaml.safe_load((REPO / "cases" / "settings.yaml").read_text())
    return settings.from_dict(merged(merged(base, TEST_SETTINGS), extra))


class Harness:
    """``run_case`` for the repo's cases against one server, without pytest or a subprocess."""

    def __init__(self, server: Any, settings: dict[str, Any] | None = None) -> None:
        from conformance.targets import Target

        self.server = server
        self.cases, self.profiles = repo_cases()
        self.settings = settings_for_tests(settings)
        self.target = Target(
            name=TARGET,
            title="fake",
            base_url=server.base_url,
            auth="x-api-key",
            api_key_env=KEY_ENV,
            model=fakeserver.MODEL,
            profile="anthropic",
            headers={"anthropic-version": "2023-06-01"},
        )
        self._client: Any = None

    @property
    def client(self) -> Any:
        from conformance import runner

        if self._client is None:
            self._client = runner.make_client(self.target, self.settings, FAKE_KEY)
        return self._client

    def run(self, case: Any, **kwargs: Any) -> Any:
        """The Result of a case (an id of the repo's cases, or a ``Case``); ``mode`` and
        ``cassette_dir`` as for ``run_case``."""
        from conformance import runner

        if isinstance(case, str):
            case = self.cases[case]
        kwargs.setdefault("secrets", [FAKE_KEY])
        return runner.run_case(
            case, self.target, self.client, self.settings, self.profiles, **kwargs
        )

    def observe(self, case_ids: Any = None) -> dict[str, str]:
        """``{case_id: observed}`` for ``case_ids`` (default: every case)."""
        return {cid: self.run(cid).observed for cid in (case_ids or self.cases)}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@pytest.fixture
def harness(fake_server: Any) -> Iterator[Harness]:
    h = Harness(fake_server)
    yield h
    h.close()


@pytest.fixture
def make_harness() -> Iterator[Any]:
    """``make_harness(server, {"limits": {"read_timeout": 0.3}})``: a Harness with settings."""
    made: list[Harness] = []

    def make(server: Any, settings: dict[str, Any] | None = None) -> Harness:
        made.append(Harness(server, settings))
        return made[-1]

    yield make
    for h in made:
        h.close()
