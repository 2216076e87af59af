"""results.json: one whole, schema-valid file per run, however the run was split or stopped.

These run the suite the way users do (``python -m pytest --target ...`` in a subprocess,
the entry-point plugin, xdist) against the fake endpoint.
"""

from __future__ import annotations

import time
from typing import Any

from conformance import cases, oracles, results


def ledger(server: Any) -> dict[str, int]:
    """What the server itself counted: requests, and the tokens it reported as used."""
    done = [r for r in server.requests if r.status == 200 and r.usage]
    return {
        "requests": len(server.requests),
        "input_tokens": sum(
            r.usage["input_tokens"]
            + r.usage.get("cache_creation_input_tokens", 0)
            + r.usage.get("cache_read_input_tokens", 0)
            for r in done
        ),
        "output_tokens": sum(r.usage["output_tokens"] for r in done),
    }


def test_parallel_run_writes_one_whole_file(suite: Any, fake_server: Any) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    run = suite.run(cases_dir, "-n", "2", "-vv")
    assert run.returncode == 0, run  # every declared row passes on a clean endpoint
    assert "[gw0]" in run.stdout and "[gw1]" in run.stdout, run  # two workers ran rows
    path = run.report_dir / "results.json"
    doc = results.load_results(path)  # validates against the schema
    assert [p.name for p in run.report_dir.iterdir() if p.name.startswith(".results-")] == []
    records = doc["results"]
    pairs = [(r["target"], r["id"]) for r in records]
    assert len(pairs) == len(set(pairs)), "a (target, case) pair was written twice"
    case_ids = {c.id for c in cases.load_all(cases_dir, set(oracles.ORACLES))[0]}
    assert set(pairs) == {("fake", case_id) for case_id in case_ids}
    assert doc["run"]["complete"] is True
    assert doc["run"]["mode"] == "live"
    assert doc["run"]["targets"][0]["base_url_host"] == f"127.0.0.1:{fake_server.port}"
    for key in ("requests", "input_tokens", "output_tokens"):
        assert doc["run"][key] == sum(r[key] for r in records), key
    assert {k: doc["run"][k] for k in ledger(fake_server)} == ledger(fake_server)
    assert doc["run"]["requests"] > len(records)
    assert not [r["id"] for r in records if r["outcome"] in ("fail", "error")]
    assert (run.report_dir / "index.html").exists() and (run.report_dir / "matrix.md").exists()


def test_selected_rows_make_a_complete_run_of_their_own(suite: Any, fake_server: Any) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    run = suite.run(cases_dir, "-k", "fields.max_tokens or (fields.system and not echo)")
    assert run.returncode == 0, run
    assert sorted(run.results) == ["fields.max_tokens", "fields.system"]
    assert run.doc["run"]["complete"] is True


def test_stopping_at_the_first_failure_is_not_complete(suite: Any, start_fake_server: Any) -> None:
    server = start_fake_server({"drop_system"})  # fields.system contradicts its declaration
    cases_dir = suite.cases_dir(server.base_url)
    run = suite.run(cases_dir, "-x", "-k", "fields.system or fields.t")  # system comes first
    assert run.returncode == 1, run
    assert list(run.results) == ["fields.system"]
    assert run.results["fields.system"]["outcome"] == "fail"
    results.validate_results(run.doc)
    assert run.doc["run"]["complete"] is False


def test_interrupted_run_writes_what_it_has_and_says_incomplete(
    suite: Any, start_fake_server: Any
) -> None:
    server = start_fake_server(latency=0.02)  # slow enough to interrupt mid-run
    cases_dir = suite.cases_dir(server.base_url)
    proc, report_dir = suite.start(cases_dir)
    try:
        assert server.wait_for_requests(15, timeout=60), "the run never got going"
    finally:
        run = suite.interrupt(proc, report_dir)
    assert run.returncode == 2, run  # pytest's "interrupted"
    results.validate_results(run.doc)
    assert run.doc["run"]["complete"] is False
    assert run.doc["run"]["finished"]
    assert 0 < len(run.results) < 40, run
    time.sleep(0.3)
    before = len(server.requests)
    time.sleep(0.3)
    assert len(server.requests) == before, "the interrupted run kept sending requests"


def test_collect_only_keeps_the_last_report(suite: Any, fake_server: Any) -> None:
    cases_dir = suite.cases_dir(fake_server.base_url)
    first = suite.run(cases_dir, "-k", "fields.max_tokens")
    assert first.returncode == 0, first
    before = (first.report_dir / "results.json").read_bytes()
    listed = suite.run(cases_dir, "--collect-only", report_dir=first.report_dir)
    assert listed.returncode == 0, listed
    assert (first.report_dir / "results.json").read_bytes() == before
    assert len(fake_server.requests) == first.doc["run"]["requests"]
