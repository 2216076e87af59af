"""One conformance run in one pytest process, and the end of that run.

:class:`Session` is everything the plugin loads at configure time (cases, profiles, targets,
keys, settings, clients) plus what the run gathers (the result records). The plugin keeps it
in ``config.stash`` and hands it to :func:`finish` at ``pytest_sessionfinish``: build the
results document, write the report, apply the regression gate, write cassette provenance,
and tell ``pytest_conformance_report`` implementations.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

RUN_DIR_KEY = "anthropic_conformance_run_dir"
RUN_START_KEY = "anthropic_conformance_run_started"  # the controller's time.time() at start


class Session:
    """Everything one process of a run loaded and gathered."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance import cases, catalog, expectations, oracles, runner, sdk, targets
        from conformance.results import RunInfo, now_iso
        from conformance.yamlfile import InputError

        # cases/ and cassettes/ are found beside the directory pytest runs from (the repo
        # root), else under rootdir.
        invoked = Path(config.invocation_params.dir)
        root = invoked if (invoked / "cases").is_dir() else Path(config.rootpath)
        opt = config.option
        self.mode: str = opt.mode
        self.cases_dir = Path(opt.cases_dir) if opt.cases_dir else root / "cases"
        self.cassette_dir = Path(opt.cassette_dir) if opt.cassette_dir else root / "cassettes"
        self.report_dir = Path(opt.report_dir)
        if not self.report_dir.is_absolute():
            self.report_dir = invoked / self.report_dir
        self.previous_path = Path(opt.previous) if opt.previous else None
        self.fail_on_regression: bool = opt.fail_on_regression
        self.overwrite_report: bool = opt.overwrite_report
        self.selection = selection_text(opt)
        worker = getattr(config, "workerinput", None)
        self.is_worker = worker is not None
        names = [n.strip() for arg in opt.target for n in arg.split(",") if n.strip()]
        try:
            catalog.check_yaml_booleans(self.cases_dir)  # Yes/No read as booleans: say so first
            self.cases, self.profiles = cases.load_all(self.cases_dir, oracles.ORACLES)
            self.targets = targets.resolve(names, self.cases_dir / "targets")
            apply_overrides(self.targets, opt)
            targets.check_base_urls(self.targets, opt.base_url)
            targets.check_profiles(self.targets, self.profiles)
            self.keys = {
                t.name: t.api_key(
                    required=self.mode != "replay",
                    replayable=has_cassettes(self.cassette_dir, t.name),
                )
                for t in self.targets
            }
            if self.mode == "replay":
                check_replayable(self.targets, self.cassette_dir)
            # the official client's verdicts are memoized for replayed bytes only (sdk.py)
            sdk.use_memo(sdk.default_memo_dir() if self.mode == "replay" else None)
            self.settings = runner.load_settings(self.cases_dir / "settings.yaml")
            ids = [c.id for c in self.cases]
            self.expectations = expectations.load_dir(
                self.cases_dir, [t.name for t in self.targets], ids
            )
            for path in opt.expectations:  # --expectations=FILE: replaces that target's file
                exp = expectations.load_file(Path(path), ids, named_by_file=False)
                self.expectations[exp.target] = exp
            check_dir_option("--report-dir", self.report_dir)
            check_dir_option("--cassette-dir", self.cassette_dir, create=self.mode == "record")
            if self.previous_path and not self.is_worker:
                load_previous(self.previous_path)
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
        # The run's time budget counts from the controller's start (workers are told it).
        self.started_at: float = float((worker or {}).get(RUN_START_KEY) or time.time())
        self.clients: dict[str, Any] = {}
        self.unredact_logs: Any = lambda: None  # set by the plugin (secrets.redact_logs)
        self.previous_sigterm: Any = None
        self.verbosity: int = config.get_verbosity()
        self._results: list[dict[str, Any]] = []
        self._unread: list[str] = []  # records as their reports carried them (JSON text)
        self.ending: Ending | None = None
        self.run = RunInfo(
            suite_version=__import__("conformance").__version__,
            mode=self.mode,
            targets=[
                {"name": t.name, "base_url_host": t.host, "model": t.model, "profile": t.profile}
                for t in self.targets
            ],
            started=now_iso(),
        )

    def add_result(self, record: dict[str, Any] | str) -> None:
        """Keep one row's record: a dict, or the JSON text its test report carried, read
        only when the records are asked for. Text is no object for Python's collector to
        walk: held as dicts, every record judged so far was walked again by each
        collection of the rows' short-lived objects, a cost that grew with the run (about
        half of a 20-target replay's collecting)."""
        if isinstance(record, str):
            self._unread.append(record)
        else:
            self._results.append(record)

    @property
    def results(self) -> list[dict[str, Any]]:
        """Every record kept so far, as dicts (see :meth:`read_results`)."""
        self.read_results()
        return self._results

    def read_results(self) -> None:
        """Read the text kept by :meth:`add_result`, once, with the collector paused: what is
        read lives to the end of the run (the plugin freezes it right after)."""
        if not self._unread:
            return
        was_on = gc.isenabled()
        gc.disable()
        try:
            self._results.extend(json.loads(text) for text in self._unread)
        finally:
            if was_on:
                gc.enable()
        self._unread.clear()

    @functools.cached_property
    def secrets(self) -> list[str]:
        """The keys, and the ``user:password`` of any base URL (see conformance.secrets):
        fixed once the session is configured, and asked for by every row."""
        from conformance.secrets import url_secrets

        found = [k for k in self.keys.values() if k]
        return found + [s for t in self.targets for s in url_secrets(t.base_url)]

    def client(self, target: Any) -> Any:
        from conformance import limits, runner

        if target.name not in self.clients:
            key = self.keys[target.name]
            if self.mode == "replay" and target.api_key_env:
                key = "replay-placeholder-key"  # scrubbed to the same placeholder as recorded
            limiter = limits.for_target(
                self.run_dir, target.name, target.concurrency, target.requests_per_minute
            )
            client = runner.make_client(target, self.settings, key, limiter=limiter)
            if self.mode == "replay":
                client.sleep = lambda _seconds: None
                client.secrets = list(self.secrets)  # the placeholder key is no secret
            left = self.started_at + self.settings.budget.run_seconds - time.time()
            client.run_deadline = time.monotonic() + left
            self.clients[target.name] = client
        return self.clients[target.name]

    def run_case(self, case: Any, target: Any) -> Any:
        from conformance import runner

        return runner.run_case(
            case,
            target,
            self.client(target),
            self.settings,
            self.profiles,
            mode=self.mode,
            cassette_dir=self.cassette_dir,
            secrets=self.secrets,
        )

    def close_clients(self) -> None:
        for client in self.clients.values():
            client.close()


def selection_text(opt: Any) -> str | None:
    """How the command line narrowed the run (``-k``, ``-m``, ``--deselect``), or None."""
    given = (("-k", opt.keyword), ("-m", opt.markexpr))
    words = [f"{flag} {value}" for flag, value in given if value]
    if getattr(opt, "deselect", None):
        words.append("--deselect")
    return " ".join(words) or None


def apply_overrides(targets: list[Any], opt: Any) -> None:
    """``--base-url``, ``--model``, ``--api-key-env``: for one target only."""
    from conformance.targets import check_api_key_env
    from conformance.yamlfile import InputError

    overrides = {"--base-url": opt.base_url, "--model": opt.model, "--api-key-env": opt.api_key_env}
    if opt.api_key_env:
        check_api_key_env(opt.api_key_env)  # before anything could print it
    given = [flag for flag, value in overrides.items() if value]
    if given and len(targets) > 1:
        raise InputError(f"{', '.join(given)} apply to one target; got {len(targets)}")
    for t in targets:
        t.base_url = opt.base_url or t.base_url
        t.model = opt.model or t.model
        t.api_key_env = opt.api_key_env or t.api_key_env


def load_previous(path: Path) -> dict[str, Any]:
    """The ``--previous`` results file; InputError naming the option for a bad one."""
    from conformance import report
    from conformance.yamlfile import InputError

    try:
        return report.load_results_file(path)
    except report.ReportInputError as exc:
        raise InputError(f"--previous: {exc}") from None


def has_cassettes(cassette_dir: Path, target: str) -> bool:
    from conformance import recording

    return recording.has_recordings(cassette_dir / target)


def check_replayable(targets: list[Any], cassette_dir: Path) -> None:
    """Replay (the default mode) of a target with no cassettes at all would give one
    identical "no cassette" error per row: say so once, before anything runs."""
    from conformance.yamlfile import InputError

    for t in targets:
        if not has_cassettes(cassette_dir, t.name):
            key = f" with {t.api_key_env} set" if t.api_key_env else ""
            raise InputError(
                f"target {t.name!r} has no cassettes in {cassette_dir / t.name}, and replay is "
                f"the default mode: run it live (--mode live{key}) or record it (--mode record)"
            )


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


@dataclass
class Ending:
    """What :func:`finish` produced, for the terminal summary."""

    results_path: Path
    written: str = ""  # where this run's files went, and why there
    summary: Any = None  # expectations.Summary: known, NEW and stale rows
    doc: dict[str, Any] | None = None
    declared_error: str | None = None
    regressions: list[dict[str, Any]] | None = None  # None: no gate was asked for
    exitstatus: int | None = None  # None: keep pytest's
    diagnoses: list[Any] = field(default_factory=list)  # diagnosis.Diagnosis: unjudged targets


def finish(run: Session, config: pytest.Config, selected: int, exitstatus: int) -> Ending:
    """The end of a run (controller only): results.json, the matrix, the gate, provenance."""
    from conformance import diagnosis, exitcodes, expectations, gate, report, results
    from conformance.report import guard
    from conformance.results import now_iso
    from conformance.yamlfile import InputError

    run.run.finished = now_iso()
    expected = len(run.cases) * len(run.targets)
    got = len(run.results)
    run.run.complete = exitstatus in (0, 1) and got >= min(selected, expected) > 0
    doc = results.build_document(run.run, list(run.results))
    guard.annotate(doc, selected, expected, run.selection)
    decision = guard.decide(
        run.report_dir, doc, selected=selected, expected=expected,
        selection=run.selection, overwrite=run.overwrite_report,
    )  # fmt: skip
    try:
        previous = load_previous(run.previous_path) if run.previous_path else None
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    # Every known target's declared column, shown as "not run" where this run has no record.
    declared_error = None
    try:
        declared = report.declared_matrix(run.cases_dir, loaded=(run.cases, run.profiles))
    except InputError as exc:
        declared, declared_error = None, str(exc)
    # A replayed column was measured when its cassettes were recorded: say by which server.
    names = [t.name for t in run.targets]
    provenance = (
        report.cassette_provenance(run.cassette_dir, names) if run.mode == "replay" else None
    )
    summary = expectations.classify(doc, run.expectations)
    expectations.annotate(doc, summary)  # the report marks known deviations apart from new
    paths = report.write_report(
        doc, decision.out_dir, previous, declared, provenance, judged_here=True
    )
    ending = Ending(paths["results"], decision.message, summary, doc, declared_error)
    ending.diagnoses = diagnosis.diagnose_run(doc)
    if exitstatus in (0, 1):  # known deviations pass; NEW or stale: 1; unjudged rows: 3
        ending.exitstatus = expectations.exit_code(summary, bool(ending.diagnoses))
    if run.fail_on_regression and exitstatus in (0, 1):
        ending.regressions = gate.compare(previous, doc).regressions
        if not ending.diagnoses:  # a target that could not be judged stays unjudged
            ending.exitstatus = exitcodes.FINDINGS if ending.regressions else exitcodes.OK
    if run.mode == "record":
        write_provenance(run)
    config.hook.pytest_conformance_report(paths=paths, document=doc)
    return ending


def write_provenance(run: Session) -> None:
    from conformance import recording

    for t in run.targets:
        recording.write_provenance(
            run.cassette_dir,
            t.name,
            {
                "target": t.name,
                "base_url_host": t.host,
                "model": t.model,
                "suite_version": run.run.suite_version,
                "recorded": run.run.finished,
                "cases": sorted(r["id"] for r in run.results if r["target"] == t.name),
                **({"software": dict(t.software)} if t.software else {}),
            },
        )


def summary_lines(run: Session) -> list[str]:
    """The terminal summary's lines: one per row that did not pass, the counts against the
    expectations, cost per target, where the report went."""
    lines: list[str] = []
    ending = run.ending
    if ending is not None and ending.summary is not None:
        from conformance import terminal

        lines += terminal.lines(ending.doc, ending.summary, verbose=max(run.verbosity, 0))
        lines += terminal.scoreboard_lines(ending.doc)
        lines.append(terminal.summary_line(ending.summary, ending.diagnoses))
    else:
        counts: dict[str, int] = {}
        for r in run.results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        lines.append("rows: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                                 or "no rows run"))  # fmt: skip
    if run.results:
        from conformance.report import cost_text

        for name in sorted({r["target"] for r in run.results}):
            cost = cost_text(r for r in run.results if r["target"] == name)
            lines.append(f"cost:    {name}: {cost}")
    if ending is None:
        return lines
    path = ending.results_path
    lines.append(ending.written or f"results: {path}")
    lines.append(f"matrix:  {path.parent / 'index.html'}, {path.parent / 'matrix.md'}")
    if ending.declared_error:
        lines.append(f"declared-only columns left out: {ending.declared_error}")
    if ending.regressions is not None:
        lines.append(f"regressions against --previous: {len(ending.regressions)}")
        for change in ending.regressions[:20]:
            lines.append(
                f"  {change.get('target')} {change.get('id')}: "
                f"{change.get('before')} -> {change.get('after')}"
            )
    return lines
