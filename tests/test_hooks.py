"""The run's end: hooks a conftest.py implements, and the regression gate of the plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROWS = ["fields.max_tokens", "fields.system", "fields.metadata"]

CONFTEST = """
import json, pathlib

OUT = pathlib.Path(__file__).parent / "hook-calls.jsonl"


def _log(**entry):
    with OUT.open("a") as f:
        f.write(json.dumps(entry, default=str) + "\\n")


def pytest_conformance_result(result):
    _log(hook="result", id=result["id"], target=result["target"], outcome=result["outcome"])


def pytest_conformance_report(paths, document):
    _log(hook="report", paths={k: str(v) for k, v in paths.items()}, rows=len(document["results"]))
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_conftest_hook_receives_every_result_and_the_report(
    suite: Any, fake_server: Any, workers: list[str]
) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    (cases_dir / "conftest.py").write_text(CONFTEST)
    run = suite.run(cases_dir, *workers, "-k", " or ".join(ROWS))
    assert run.returncode == 0, run
    calls = [json.loads(line) for line in (cases_dir / "hook-calls.jsonl").read_text().splitlines()]
    results = [c for c in calls if c["hook"] == "result"]
    reports = [c for c in calls if c["hook"] == "report"]
    assert sorted(c["id"] for c in results) == sorted(run.results)
    assert set(ROWS) <= set(run.results)
    assert {c["id"]: c["outcome"] for c in results} == {
        i: r["outcome"] for i, r in run.results.items()
    }
    assert len(reports) == 1 and calls[-1] == reports[0]  # after every result
    assert reports[0]["rows"] == len(run.results)
    assert Path(reports[0]["paths"]["results"]) == run.report_dir / "results.json"


def test_the_plugin_gate_fails_only_on_a_regression(suite: Any, start_fake_server: Any) -> None:
    rows = " or ".join(ROWS)
    cases_dir = suite.cases_dir(start_fake_server().base_url)
    first = suite.run(cases_dir, "-k", rows)
    assert first.returncode == 0 and first.doc, first
    before = suite.tmp / "before.json"
    before.write_text(json.dumps(first.doc))

    target_file = cases_dir / "targets" / "fake.yaml"
    doc = yaml.safe_load(target_file.read_text())
    doc["base_url"] = start_fake_server({"drop_system"}).base_url  # fields.system now fails
    target_file.write_text(yaml.safe_dump(doc))
    gate = [f"--previous={before}", "--fail-on-regression"]
    worse = suite.run(cases_dir, "-k", rows, *gate)
    assert worse.returncode == 1, worse
    assert worse.results["fields.system"]["outcome"] == "fail"
    assert "regressions against --previous: 2" in worse.stdout  # system and system.echo
    assert "fake fields.system:" in worse.stdout

    # The same failing row against a run where it failed already: no regression, exit 0.
    after = suite.tmp / "after.json"
    after.write_text(json.dumps(worse.doc))
    again = suite.run(cases_dir, "-k", rows, f"--previous={after}", "--fail-on-regression")
    assert again.returncode == 0, again
    assert "regressions against --previous: 0" in again.stdout


def test_the_cli_and_the_plugin_share_one_gate() -> None:
    from conformance import gate

    def doc(outcome: str) -> dict[str, Any]:
        record = {"target": "t", "id": "a.b", "table": "T", "row": "r", "observed": "honored"}
        return {"results": [{**record, "outcome": outcome}]}

    assert gate.compare(None, doc("fail")).regressions == []
    drift = gate.compare(doc("pass"), doc("fail"))
    assert [c["id"] for c in drift.regressions] == ["a.b"] and drift.improvements == 0
    assert gate.compare(doc("fail"), doc("pass")).improvements == 1
