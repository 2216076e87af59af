"""Issue 26: a run that could not reach the endpoint never goes green.

A closed port or a server answering HTML 404 to everything (a wrong base path) exits 3 with
one diagnosis line naming the cause and the fix; ``expectations write`` refuses to record
it, so no command the suite suggests makes the rerun exit 0. A broken cassette exits 3, not
1 (a finding). Every exit code of the table in the README is checked here or named.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeserver import FakeAnthropic
from hostileserver import HostileAnthropic

from conformance import diagnosis, exitcodes
from conftest import TARGET

REPO = Path(__file__).resolve().parent.parent
SOME = ("-k", "protocol.message or protocol.auth_errors or fields.temperature or fields.model")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_expectations(cases_dir: Path, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "expectations", "write",
         f"--results={results}", f"--cases={cases_dir}"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def assert_unjudged(run: Any, cause: str, fix: str) -> None:
    assert run.returncode == exitcodes.UNJUDGED, run
    lines = [line for line in run.stdout.splitlines() if line.startswith("diagnosis:")]
    assert len(lines) == 1, run
    assert cause in lines[0] and f"fix: {fix}" in lines[0], lines[0]
    assert "exit 3" in run.stdout, run


@pytest.mark.parametrize("where", ["closed port", "html 404"])
def test_an_unreachable_endpoint_exits_3_and_no_suggested_command_turns_it_green(
    suite: Any, where: str
) -> None:
    if where == "closed port":
        server: Any = None
        base_url = f"http://127.0.0.1:{closed_port()}"
        cause, fix = "connection refused", "start the server"
    else:
        server = HostileAnthropic("html_404").start()
        base_url = server.base_url
        cause, fix = "404 with no API error envelope", "correct base_url"
    try:
        cases_dir = suite.cases_dir(base_url)
        first = suite.run(cases_dir, *SOME)
        assert_unjudged(first, cause, fix)
        assert first.doc is not None
        assert {r["outcome"] for r in first.doc["results"]} == {"error"}, first.results
        # what the terminal suggests, run: it refuses, says why, and writes nothing
        wrote = write_expectations(cases_dir, first.report_dir / "results.json")
        assert wrote.returncode == exitcodes.UNJUDGED, wrote
        assert "diagnosis:" in wrote.stderr and "not written" in wrote.stderr, wrote
        assert not (cases_dir / "expectations" / f"{TARGET}.yaml").exists()
        again = suite.run(cases_dir, *SOME)
        assert_unjudged(again, cause, fix)
    finally:
        if server is not None:
            server.stop()


def test_every_request_refused_401_is_diagnosed_as_the_key(suite: Any) -> None:
    with FakeAnthropic() as server:
        cases_dir = suite.cases_dir(server.base_url)
        run = suite.run(cases_dir, *SOME, key="sk-not-the-servers-key-0000")
    assert_unjudged(run, "refused with 401", "check the key")


def test_error_rows_are_never_written_as_expectations(tmp_path: Path) -> None:
    """A judged run with some error rows: the errors are left out of the file (and the
    command says so), the other deviations are written."""
    from conformance.expectations import load_file
    from conformance.results import Result, RunInfo, build_document, write_results

    ok = {"label": "probe", "path": "/v1/messages", "status": 200}

    def record(case_id: str, outcome: str, observed: str) -> Result:
        return Result(
            case_id, TARGET, "fields", case_id, None, None, observed, outcome,
            {"requests": [ok]}, f"{observed} — seen",
        )  # fmt: skip

    records = [
        record("fields.top_k", "fail", "ignored"),
        record("fields.system", "error", "error"),
        record("fields.model", "pass", "honored"),
    ]
    target = {"name": TARGET, "base_url_host": "h:1", "model": "m"}
    info = RunInfo("0.1.0", "live", [target], "2026-01-01T00:00:00Z", complete=True)
    results = tmp_path / "results.json"
    write_results(results, build_document(info, records))
    cases_dir = tmp_path / "cases"
    (cases_dir / "profiles").mkdir(parents=True)
    wrote = write_expectations(cases_dir, results)
    assert wrote.returncode == 0, wrote
    assert "1 error row(s) not recorded: an error is never a known deviation" in wrote.stdout
    written = load_file(cases_dir / "expectations" / f"{TARGET}.yaml")
    assert set(written.entries) == {"fields.top_k"}


def test_a_broken_cassette_exits_3_not_1(suite: Any, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with FakeAnthropic() as server:
        cases_dir = suite.cases_dir(server.base_url)
        rec = suite.run(cases_dir, "-k", "protocol.message or protocol.stream", mode="record")
    assert rec.returncode == exitcodes.OK, rec
    broken = cassettes / TARGET / "protocol.message.json"
    broken.write_text(broken.read_text() + "\n: : garbage [\n")
    rep = suite.run(cases_dir, "-k", "protocol.message or protocol.stream", mode="replay")
    assert rep.returncode == exitcodes.UNJUDGED, rep
    assert rep.results["protocol.message"]["outcome"] == "error"
    assert rep.results["protocol.stream"]["outcome"] == "pass"
    assert "exit 3: 1 row(s) could not be judged" in rep.stdout, rep
    assert "protocol.message.json" in rep.stdout


def test_a_finding_exits_1_and_a_usage_error_4(suite: Any) -> None:
    with FakeAnthropic(deviations={"ignore_top_k"}) as server:
        cases_dir = suite.cases_dir(server.base_url)
        found = suite.run(cases_dir, "-k", "fields.top_k or protocol.message")
        usage = suite.run(cases_dir, "--mode=nonsense")
    assert found.returncode == exitcodes.FINDINGS, found
    assert "exit 1: new deviations" in found.stdout
    # pytest's own counts in the scoreboard's words
    counts = found.stdout.strip().splitlines()[-1]
    assert "1 NEW" in counts and "pass" in counts, counts
    assert not any(w in counts for w in ("failed", "passed", "xfailed", "skipped")), counts
    assert usage.returncode == exitcodes.USAGE, usage


def test_vv_shows_a_passing_rows_evidence(suite: Any) -> None:
    with FakeAnthropic() as server:
        cases_dir = suite.cases_dir(server.base_url)
        plain = suite.run(cases_dir, "-k", "protocol.message")
        run = suite.run(cases_dir, "-k", "protocol.message", "-vvv")  # -q -vvv: -vv
    assert plain.results["protocol.message"]["outcome"] == "pass", plain
    assert "pass: protocol.message [" not in plain.stdout
    assert "pass: protocol.message [" in run.stdout and '"status": 200' in run.stdout, run


def test_the_diagnosis_reads_the_requests_not_the_verdicts() -> None:
    refused = {"status": None, "error": "connection refused: [Errno 111] Connection refused"}
    page = {"status": 404, "error_message": "<html>Not Found</html>"}
    rows = [{"id": f"r{i}", "outcome": "fail", "evidence": {"requests": [page]}} for i in range(3)]
    found = diagnosis.diagnose("t", rows, "h:1")
    assert found is not None and "all 3 requests got 404" in found.cause
    assert diagnosis.diagnose("t", [dict(rows[0], evidence={"requests": [refused]})]) is not None
    working = [*rows, {"id": "ok", "outcome": "pass", "evidence": {"requests": [{"status": 200}]}}]
    assert diagnosis.diagnose("t", working) is None  # something answered: judged
    assert diagnosis.diagnose("t", []) is None
    # an auth row alone: its 401s to a wrong key and to none are what it asked for
    wrong = [{"label": "wrong key", "status": 401}, {"label": "no key", "status": 401}]
    auth = {"id": "protocol.auth_errors", "outcome": "pass", "evidence": {"requests": wrong}}
    assert diagnosis.diagnose("t", [auth]) is None


def test_the_readme_documents_every_exit_code() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Exit codes") :]
    for code in (0, 1, 2, 3, 4, 5):
        assert f"| {code} |" in table, code
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert "unjudged" in action["outputs"]["outcome"]["description"]


def test_plain_pytest_names_the_target_option() -> None:
    """Issue 26: plain ``pytest`` said "no tests ran" (exit 5) and nothing about --target."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=REPO, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == exitcodes.NOTHING_RUN, proc
    assert "no --target given" in proc.stdout and "pytest --target llamacpp" in proc.stdout
