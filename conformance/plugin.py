"""The pytest plugin: glue between pytest and the modules that do the work.

Registered through the ``pytest11`` entry point. With ``--target`` it collects the case
files under ``cases/`` as one item per (target, case); without it, it stays out of the way.
Results travel from xdist workers to the controller in ``user_properties`` (JSON-safe), and
the controller alone writes ``results.json``, so ``pytest -n auto`` gives one whole file.
The controller also makes the run's directory of shared request limits (``limits``) and hands
its path to the workers; SIGTERM is turned into the interruption pytest already handles.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

RESULT_KEY = "anthropic_conformance_result"
RUN_DIR_KEY = "anthropic_conformance_run_dir"
MODES = ("live", "record", "replay")
# Options whose value is a path. pytest decides its rootdir from the command line before any
# plugin's options are known, so in `--report-dir DIR` it takes an existing DIR for a test
# path, moves rootdir (and the ini file) there and collects whatever lies around DIR.
PATH_OPTIONS = ("--report-dir", "--previous", "--cases-dir", "--cassette-dir")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """Stop a two-word path option before pytest collects from the wrong rootdir."""
    for flag, value in itertools.pairwise(args):
        if flag in PATH_OPTIONS and not value.startswith("-"):
            raise pytest.UsageError(
                f"write {flag}={value} (with '='): as two words pytest takes {value!r} for a "
                "test path before this option is known, and collects from the wrong rootdir"
            )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("anthropic-conformance")
    group.addoption(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="target(s) to test (repeatable or comma-separated), from cases/targets/",
    )
    group.addoption("--base-url", metavar="URL", help="override the target's base URL")
    group.addoption("--api-key-env", metavar="VAR", help="override the variable holding the key")
    group.addoption("--model", metavar="NAME", help="override the target's model")
    group.addoption(
        "--mode",
        choices=MODES,
        default="replay",
        help="replay: serve the shipped cassettes offline (default); live: call the "
        "endpoint; record: call it and write cassettes",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where results.json (and the matrix) go (default: reports/)",
    )
    group.addoption(
        "--previous",
        metavar="RESULTS_JSON",
        help="an earlier results.json: the report lists rows whose behaviour changed",
    )
    group.addoption(
        "--fail-on-regression",
        action="store_true",
        help="exit non-zero only if a row that passed in --previous no longer passes",
    )
    group.addoption(
        "--cases-dir", default=None, metavar="DIR", help="case files (default: <rootdir>/cases)"
    )
    group.addoption(
        "--cassette-dir",
        default=None,
        metavar="DIR",
        help="cassettes (default: <rootdir>/cassettes)",
    )


class State:
    """Everything the plugin loaded at configure time, shared by the items of one process."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance import cases, oracles, runner, targets
        from conformance.results import RunInfo, now_iso
        from conformance.yamlfile import InputError

        # cases/ and cassettes/ are found beside the directory pytest runs from (the repo
        # root), else under rootdir: pytest may take an option's value such as
        # `--report-dir /tmp/x` for a path and move rootdir there.
        invoked = Path(config.invocation_params.dir)
        root = invoked if (invoked / "cases").is_dir() else Path(config.rootpath)
        opt = config.option
        self.mode: str = opt.mode
        self.cases_dir = Path(opt.cases_dir) if opt.cases_dir else root / "cases"
        self.cassette_dir = Path(opt.cassette_dir) if opt.cassette_dir else root / "cassettes"
        self.report_dir = Path(opt.report_dir)
        if not self.report_dir.is_absolute():
            self.report_dir = Path(config.invocation_params.dir) / self.report_dir
        names = [n.strip() for arg in opt.target for n in arg.split(",") if n.strip()]
        try:
            self.cases, self.profiles = cases.load_all(self.cases_dir, set(oracles.ORACLES))
            self.targets = targets.resolve(names, self.cases_dir / "targets")
            overrides = {
                "--base-url": opt.base_url,
                "--model": opt.model,
                "--api-key-env": opt.api_key_env,
            }
            given = [flag for flag, value in overrides.items() if value]
            if given and len(self.targets) > 1:
                raise InputError(f"{', '.join(given)} apply to one target; got {len(self.targets)}")
            for t in self.targets:
                t.base_url = opt.base_url or t.base_url
                t.model = opt.model or t.model
                t.api_key_env = opt.api_key_env or t.api_key_env
            self.keys = {t.name: t.api_key(required=self.mode != "replay") for t in self.targets}
            self.settings = runner.load_settings(self.cases_dir / "settings.yaml")
            check_dir_option("--report-dir", self.report_dir)
            check_dir_option("--cassette-dir", self.cassette_dir, create=self.mode == "record")
            worker = getattr(config, "workerinput", None)
            if opt.previous and worker is None:
                from conformance import report

                try:
                    report.load_results_file(Path(opt.previous))
                except report.ReportInputError as exc:
                    raise InputError(f"--previous: {exc}") from None
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None
        # Shared request limits (targets' concurrency / requests_per_minute), live and record
        # only: the controller makes the directory, xdist workers get its path.
        self.run_dir: Path | None = None
        if worker is not None:
            self.run_dir = Path(worker[RUN_DIR_KEY]) if worker.get(RUN_DIR_KEY) else None
        elif self.mode != "replay" and any(
            t.concurrency or t.requests_per_minute for t in self.targets
        ):
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"anthropic-conformance-{os.getpid()}-"))
        self.by_file: dict[Path, list[Any]] = {}
        for case in self.cases:
            self.by_file.setdefault(case.file.resolve(), []).append(case)
        self.clients: dict[str, Any] = {}
        self.unredact_logs: Any = lambda: None  # set by pytest_configure (runner.redact_logs)
        self.results: list[dict[str, Any]] = []
        self.run = RunInfo(
            suite_version=__import__("conformance").__version__,
            mode=self.mode,
            targets=[
                {"name": t.name, "base_url_host": t.host, "model": t.model, "profile": t.profile}
                for t in self.targets
            ],
            started=now_iso(),
        )

    def client(self, target: Any) -> Any:
        from conformance import runner

        if target.name not in self.clients:
            key = self.keys[target.name]
            if self.mode == "replay" and target.api_key_env:
                key = "replay-placeholder-key"  # scrubbed to the same placeholder as recorded
            from conformance import limits

            limiter = limits.for_target(
                self.run_dir, target.name, target.concurrency, target.requests_per_minute
            )
            client = runner.make_client(target, self.settings, key, limiter=limiter)
            if self.mode == "replay":
                client.sleep = lambda _seconds: None
            self.clients[target.name] = client
        return self.clients[target.name]


def check_dir_option(flag: str, path: Path, create: bool = True) -> None:
    """A directory option must name a directory, or a place where one can be made."""
    from conformance.yamlfile import InputError

    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a directory")
    if not create:
        return
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: cannot be created: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {parent}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled), raised as the interruption pytest handles like Ctrl-C:
    the run stops and results.json is still written, with ``complete: false``."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated("terminated by SIGTERM")


def _state(config: pytest.Config) -> State | None:
    return getattr(config, "_anthropic_conformance", None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a conformance case (one row x one target)")
    _collected.clear()  # a second run in the same process (pytest.main) starts empty
    if config.option.target:
        state = config._anthropic_conformance = State(config)  # type: ignore[attr-defined]
        from conformance import runner

        state.unredact_logs = runner.redact_logs(list(state.keys.values()))
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
            config._anthropic_conformance_sigterm = previous  # type: ignore[attr-defined]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker where the run's shared limits live."""
    state = _state(node.config)
    if state is not None and state.run_dir is not None:
        node.workerinput[RUN_DIR_KEY] = str(state.run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = _state(config)
    if state is None:
        return
    previous = getattr(config, "_anthropic_conformance_sigterm", None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    state.unredact_logs()
    if state.run_dir is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(state.run_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = _state(config)
    if state is None:
        return None
    names = ", ".join(f"{t.name} ({t.host}, {t.model})" for t in state.targets)
    return [f"anthropic-conformance: mode={state.mode}; targets: {names}; {len(state.cases)} cases"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = _state(parent.config)
    if state is None or file_path.suffix != ".yaml":
        return None
    if file_path.resolve() in state.by_file:
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self) -> Any:
        state = _state(self.config)
        assert state is not None
        for case in state.by_file[self.path.resolve()]:
            for target in state.targets:
                yield CaseItem.from_parent(
                    self, name=f"{case.id}[{target.name}]", case=case, target=target
                )


class CaseFailure(Exception):
    """A row whose observation contradicts its declaration (or whose endpoint failed)."""


class CaseItem(pytest.Item):
    def __init__(self, *, case: Any, target: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.target = target
        self.add_marker(pytest.mark.conformance)

    def runtest(self) -> None:
        from conformance import runner

        state = _state(self.config)
        assert state is not None
        secrets = [k for k in state.keys.values() if k]
        result = runner.run_case(
            self.case,
            self.target,
            state.client(self.target),
            state.settings,
            state.profiles,
            mode=state.mode,
            cassette_dir=state.cassette_dir,
            secrets=secrets,
        )
        self.user_properties.append((RESULT_KEY, json.dumps(result.to_dict())))
        text = runner.describe(result)
        if result.outcome == "pass":
            return
        if result.outcome == "inconclusive":
            pytest.skip(f"inconclusive: {result.message}")
        raise CaseFailure(text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.case.line - 1, 0), f"{self.case.id} [{self.target.name}]"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the controller for xdist reports too. The result is attached during the call
    # phase; teardown reports carry the same properties, so take each result exactly once.
    if report.when != "call":
        return
    for key, value in getattr(report, "user_properties", []):
        if key == RESULT_KEY:
            _collected.append(json.loads(value))


_collected: list[dict[str, Any]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is None:
        return
    for client in state.clients.values():
        client.close()
    if hasattr(session.config, "workerinput"):
        return  # xdist worker: the controller writes the file
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM: finish the file
    if session.config.option.collectonly:
        return  # nothing ran: keep the last report
    from conformance import results
    from conformance.results import now_iso

    state.run.finished = now_iso()
    expected = len(state.cases) * len(state.targets)
    selected = session.testscollected
    state.run.complete = exitstatus in (0, 1) and len(_collected) >= min(selected, expected) > 0
    doc = results.build_document(state.run, list(_collected))
    from conformance import report
    from conformance.yamlfile import InputError

    previous = None
    if session.config.option.previous:
        try:
            previous = report.load_results_file(Path(session.config.option.previous))
        except report.ReportInputError as exc:
            raise pytest.UsageError(f"--previous: {exc}") from None
    # Every known target's declared column, shown as "not run" where this run has no record.
    try:
        declared = report.declared_matrix(state.cases_dir, loaded=(state.cases, state.profiles))
    except InputError as exc:
        declared = None
        session.config._anthropic_conformance_declared_error = str(exc)  # type: ignore[attr-defined]
    # A replayed column was measured when its cassettes were recorded: say by which server.
    names = [t.name for t in state.targets]
    provenance = (
        report.cassette_provenance(state.cassette_dir, names) if state.mode == "replay" else None
    )
    paths = report.write_report(doc, state.report_dir, previous, declared, provenance)
    path = paths["results"]
    if session.config.option.fail_on_regression and exitstatus in (0, 1):
        regressions = (
            [c for c in report.drift(previous, doc) if c["regression"]] if previous else []
        )
        session.exitstatus = 1 if regressions else 0
        session.config._anthropic_conformance_regressions = regressions  # type: ignore[attr-defined]
    if state.mode == "record":
        from conformance import recording

        for t in state.targets:
            recording.write_provenance(
                state.cassette_dir,
                t.name,
                {
                    "target": t.name,
                    "base_url_host": t.host,
                    "model": t.model,
                    "suite_version": state.run.suite_version,
                    "recorded": state.run.finished,
                    "cases": sorted(r["id"] for r in _collected if r["target"] == t.name),
                },
            )
    session.config._anthropic_conformance_results = path  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    if state is None:
        return
    counts: dict[str, int] = {}
    for r in _collected:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    path = getattr(config, "_anthropic_conformance_results", None)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no rows run"
    terminalreporter.write_sep("-", "anthropic-conformance")
    terminalreporter.write_line(f"rows: {summary}")
    if _collected:
        from conformance.report import cost_text

        for name in sorted({r["target"] for r in _collected}):
            cost = cost_text(r for r in _collected if r["target"] == name)
            terminalreporter.write_line(f"cost:    {name}: {cost}")
    if path:
        terminalreporter.write_line(f"results: {path}")
        terminalreporter.write_line(
            f"matrix:  {path.parent / 'index.html'}, {path.parent / 'matrix.md'}"
        )
    declared_error = getattr(config, "_anthropic_conformance_declared_error", None)
    if declared_error:
        terminalreporter.write_line(f"declared-only columns left out: {declared_error}")
    regressions = getattr(config, "_anthropic_conformance_regressions", None)
    if regressions is not None:
        terminalreporter.write_line(f"regressions against --previous: {len(regressions)}")
        for change in regressions[:20]:
            terminalreporter.write_line(
                f"  {change.get('target')} {change.get('id')}: "
                f"{change.get('before')} -> {change.get('after')}"
            )
