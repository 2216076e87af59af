"""The pytest plugin: glue between pytest and the modules that do the work.

Registered through the ``pytest11`` entry point. With ``--target`` it collects the case
files under ``cases/`` as one item per (target, case); without it, it stays out of the way.
Results travel from xdist workers to the controller in ``user_properties`` (JSON-safe), and
the controller alone writes ``results.json``, so ``pytest -n auto`` gives one whole file.
The controller also makes the run's directory of shared request limits (``limits``) and hands
its path to the workers; SIGTERM is turned into the interruption pytest already handles.

The run's state is one :class:`conformance.session.Session` in ``config.stash[SESSION]``;
``pytest_sessionfinish`` hands it to :func:`conformance.session.finish`. The hooks of
``conformance.hookspecs`` are registered here. Nothing of the package beyond that small
module is imported until ``--target`` is given (start-up time is benchmarked).
"""

from __future__ import annotations

import gc
import itertools
import json
import shutil
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.session import Session

RESULT_KEY = "anthropic_conformance_result"
COLUMN_KEY = "anthropic_conformance_column"  # the row's scoreboard column, for pytest's counts
# pytest's counts in the scoreboard's words (conformance.report.scoreboard.COLUMNS):
# category, progress letter, -v word. "known" rather than "xfailed", "inconclusive" rather
# than "skipped", "NEW" and "stale" rather than "failed".
TEST_STATUS = {
    "pass": ("pass", ".", "PASS"),
    "known": ("known", "x", "KNOWN"),
    "inconclusive": ("inconclusive", "s", "INCONCLUSIVE"),
    "NEW": ("NEW", "F", "NEW"),
    "stale": ("stale", "F", "STALE"),
    "error": ("error", "E", "ERROR"),
}
MODES = ("live", "record", "replay")
# Options whose value is a path. pytest decides its rootdir from the command line before any
# plugin's options are known, so in `--report-dir DIR` it takes an existing DIR for a test
# path, moves rootdir (and the ini file) there and collects whatever lies around DIR.
PATH_OPTIONS = ("--report-dir", "--previous", "--cases-dir", "--cassette-dir", "--expectations")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """Stop a two-word path option before pytest collects from the wrong rootdir; collect
    from ``--cases-dir`` when it is given and no path is (else pytest's ``testpaths``, the
    repo's own ``cases/``, would be collected, none of them the cases loaded)."""
    for flag, value in itertools.pairwise(args):
        if flag in PATH_OPTIONS and not value.startswith("-"):
            raise pytest.UsageError(
                f"write {flag}={value} (with '='): as two words pytest takes {value!r} for a "
                "test path before this option is known, and collects from the wrong rootdir"
            )
    known = early_config.known_args_namespace
    cases_dir = getattr(known, "cases_dir", None)
    if cases_dir and getattr(known, "target", None) and not getattr(known, "file_or_dir", None):
        args.append(str(cases_dir))


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
        "--expectations",
        action="append",
        default=[],
        metavar="FILE",
        help="known deviations of one target (repeatable), in place of that target's "
        "cases/expectations/<target>.yaml",
    )
    group.addoption(
        "--overwrite-report",
        action="store_true",
        help="write a partial, interrupted or fewer-target run over the whole run in "
        "--report-dir (by default it goes to <report dir>/<kind>-<timestamp>/)",
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled), raised as the interruption pytest handles like Ctrl-C:
    the run stops and results.json is still written, with ``complete: false``."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated("terminated by SIGTERM")


SESSION = pytest.StashKey["Session"]()  # set in pytest_configure when --target is given
# How a row that neither passes nor fails leaves pytest: ("skip" | "xfail", its text), set by
# CaseItem.runtest and applied to the call report by pytest_runtest_makereport.
ROW_END = pytest.StashKey[tuple[str, str]]()


def _session(config: pytest.Config) -> Session | None:
    return config.stash.get(SESSION, None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from conformance import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a conformance case (one row x one target)")
    if not config.option.target:
        return
    from conformance.secrets import redact_logs
    from conformance.session import Session

    run = config.stash[SESSION] = Session(config)
    run.unredact_logs = redact_logs(run.secrets)
    config.pluginmanager.register(_Collector(config), "anthropic-conformance-results")
    if threading.current_thread() is threading.main_thread():
        run.previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker where the run's shared limits live."""
    run = _session(node.config)
    if run is None:
        return
    from conformance.session import RUN_DIR_KEY, RUN_START_KEY

    node.workerinput[RUN_START_KEY] = run.started_at
    if run.run_dir is not None:
        node.workerinput[RUN_DIR_KEY] = str(run.run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _session(config)
    if run is None:
        return
    if run.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, run.previous_sigterm)
    run.unredact_logs()
    if run.run_dir is not None and not run.is_worker:
        shutil.rmtree(run.run_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = _session(config)
    if run is None:
        return None
    names = ", ".join(f"{t.name} ({t.host}, {t.model})" for t in run.targets)
    version = __import__("conformance").__version__
    known = sum(len(e.entries) for e in run.expectations.values())
    return [
        f"anthropic-conformance {version}: mode={run.mode}; targets: {names}; "
        f"{len(run.cases)} cases; {known} known deviations (cases/expectations/)"
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    run = _session(parent.config)
    if run is None or file_path.suffix != ".yaml":
        return None
    if file_path.resolve() in run.by_file:
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self) -> Any:
        run = _session(self.config)
        assert run is not None
        for case in run.by_file[self.path.resolve()]:
            for target in run.targets:
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
        from conformance import expectations, terminal

        run = _session(self.config)
        assert run is not None
        result = run.run_case(self.case, self.target)
        record = result.to_dict()
        self.user_properties.append((RESULT_KEY, result.to_json()))
        row = expectations.classify_one(record, run.expectations)
        from conformance.report.scoreboard import column_of

        self.user_properties.append((COLUMN_KEY, column_of(row.kind, row.outcome)))
        if row.kind == expectations.PASS:
            return
        # Skips and xfails show on pytest's progress line: their text is the one line; a NEW
        # row's failure block says more with -v (its message) and -vv (its evidence).
        failing = row.kind in expectations.FAILING_KINDS
        verbose = self.config.get_verbosity() if failing else 0
        text = "\n".join(terminal.describe(row, record, verbose))
        if row.kind == expectations.INCONCLUSIVE:  # a target without an expectations file
            self.stash[ROW_END] = ("skip", text)
        elif row.kind == expectations.KNOWN:  # a known deviation (cases/expectations/)
            self.stash[ROW_END] = ("skip" if row.outcome == "inconclusive" else "xfail", text)
        else:
            raise CaseFailure(text)  # NEW, NEW inconclusive, NEW error, or a stale expectation

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # A failing row leaves through CaseFailure, which pytest would render as a full
        # traceback with source parsing (~0.1 s a row); its text is all there is to show.
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(self.case.line - 1, 0), f"{self.case.id} [{self.target.name}]"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Once the cases, schemas and modules are loaded, they live to the end of the run:
    frozen, Python's collector stops walking them again in every collection of the rows'
    short-lived objects (a tenth of a replay; pytest also collects twice at exit)."""
    if _session(session.config) is not None and not session.config.option.collectonly:
        gc.freeze()


# What a row's call lets through rather than reporting it (as pytest's own runner does).
_RERAISE = (pytest.exit.Exception, KeyboardInterrupt)


def _no_phase() -> None:
    """A row's setup and teardown: it has no fixtures and nothing to tear down."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A replayed row's protocol: the reports pytest's own would give, without its per-phase
    machinery. A replayed row reads a cassette and prints nothing, so capturing its output,
    catching its log records and setting up fixtures three times a row only cost time (a
    tenth of a replay). Its setup, call and teardown still become the three reports every
    reporter reads (terminal, JUnit, xdist, this plugin), through ``makereport`` and
    ``logreport``, between ``logstart`` and ``logfinish``; wrappers of this hook (warnings,
    faulthandler, timeouts) still wrap it. Live and recorded rows, and every other test,
    keep pytest's protocol."""
    run = _session(item.config)
    if not isinstance(item, CaseItem) or run is None or run.mode != "replay":
        return None
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for when, phase in (("setup", _no_phase), ("call", item.runtest), ("teardown", _no_phase)):
        call = pytest.CallInfo.from_call(phase, when=when, reraise=_RERAISE)  # type: ignore[arg-type]
        ihook.pytest_runtest_logreport(report=ihook.pytest_runtest_makereport(item=item, call=call))
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A skipped or known row's call report, as ``pytest.skip`` and ``pytest.xfail`` would
    make it (skipped at the case's file and line; xfailed with ``wasxfail``), without
    raising them: pytest's exception and traceback handling cost 1 ms a row, and two thirds
    of the rows end this way."""
    report = yield
    end = item.stash.get(ROW_END, None) if call.when == "call" and call.excinfo is None else None
    if end is not None:
        kind, text = end
        report.outcome = "skipped"
        if kind == "xfail":
            report.wasxfail = text
            report.longrepr = text
        else:
            path, line, _ = item.reportinfo()
            report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {text}")
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """A row's status in pytest's own counts, in the scoreboard's words: ``12 pass, 30
    known, 29 inconclusive, 2 NEW, 1 error`` rather than passed, xfailed, skipped, failed."""
    if report.when != "call" or _session(config) is None:
        return None
    column = dict(getattr(report, "user_properties", ())).get(COLUMN_KEY)
    return TEST_STATUS.get(column) if isinstance(column, str) else None


class _Collector:
    """Takes each result from its test report (in the xdist controller too: the result
    travels in ``user_properties``) into the session, and tells ``pytest_conformance_result``
    implementations in the process that writes results.json."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._told: bool | None = None  # whether any conftest implements the hook

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Teardown reports carry the same properties: take each result exactly once.
        if report.when != "call":
            return
        run = self.config.stash[SESSION]
        if self._told is None:
            hook = self.config.hook.pytest_conformance_result
            self._told = not run.is_worker and bool(hook.get_hookimpls())
        for key, value in getattr(report, "user_properties", []):
            if key != RESULT_KEY:
                continue
            if not self._told:  # read when the run ends (Session.add_result says why)
                run.add_result(value)
                continue
            record = json.loads(value)
            run.add_result(record)
            self.config.hook.pytest_conformance_result(result=record)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = _session(session.config)
    if run is None:
        return
    run.close_clients()
    if run.is_worker:
        return  # xdist worker: the controller writes the file
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM: finish the file
    if session.config.option.collectonly:
        return  # nothing ran: keep the last report
    from conformance.session import finish

    run.read_results()
    gc.freeze()  # the rows' records live to the end too (see pytest_collection_finish)
    run.ending = finish(run, session.config, session.testscollected, exitstatus)
    if run.ending.exitstatus is not None:
        session.exitstatus = run.ending.exitstatus


NO_TARGET_HINT = (
    "anthropic-conformance: no --target given, so no conformance case was collected. Run "
    "e.g. `pytest --target llamacpp` (replays the shipped cassettes; `python -m conformance "
    "list targets` lists them all), or `pytest tests` for the suite's own tests."
)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = _session(config)
    if run is None:
        # Plain `pytest` collects cases/ (testpaths) and finds nothing without --target:
        # pytest's "no tests ran" (exit 5) alone does not say what was missing.
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not config.option.target:
            terminalreporter.write_line(NO_TARGET_HINT)
        return
    from conformance.session import summary_lines

    terminalreporter.write_sep("-", "anthropic-conformance")
    for line in summary_lines(run):
        terminalreporter.write_line(line)
