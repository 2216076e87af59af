"""A partial, interrupted or refused run never replaces a whole run's results in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.report import guard


def run(*targets: str, rows: int = 2, complete: bool = True, started: str = "2026-12-02T00:00:27Z"):
    return {
        "schema_version": 1,
        "run": {
            "complete": complete,
            "started": started,
            "finished": "2026-12-02T00:00:31Z",
            "targets": [{"name": t} for t in targets],
            "extra": {},
        },
        "results": [{"id": f"a.r{i}", "target": t} for t in targets for i in range(rows)],
    }


def put(report_dir: Path, doc: dict[str, Any]) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "results.json").write_text(json.dumps(doc))


def test_whole_run_writes_in_place(tmp_path: Path) -> None:
    put(tmp_path, run("a", "b"))
    d = guard.decide(tmp_path, run("a", "b"), selected=4, expected=4)
    assert (d.in_place, d.out_dir, d.kind) == (True, tmp_path, "whole")
    assert d.message.startswith(f"results: {tmp_path / 'results.json'} (replaces the whole run")


def test_first_run_writes_in_place_whatever_it_is(tmp_path: Path) -> None:
    d = guard.decide(tmp_path, run("a"), selected=1, expected=4, selection="-k r0")
    assert d.in_place and d.kind == "partial"
    assert "a partial selection -k r0: 1 of 4 rows" in d.message


def test_partial_run_goes_beside_a_whole_one(tmp_path: Path) -> None:
    put(tmp_path, run("a", "b"))
    d = guard.decide(tmp_path, run("a", rows=1), selected=1, expected=4, selection="-k r0")
    assert not d.in_place
    assert d.out_dir == tmp_path / "partial-20261202T000027Z"
    first, second = d.message.splitlines()
    assert first == (
        f"results: {d.out_dir / 'results.json'} (a partial selection -k r0: 1 of 4 rows; "
        "written beside, not over, the whole run)"
    )
    assert second.startswith(
        f"kept:    {tmp_path / 'results.json'} still holds the whole run of a, b"
    )
    assert "--overwrite-report" in second
    d.out_dir.mkdir()  # a second partial run started in the same second
    again = guard.decide(tmp_path, run("a", rows=1), selected=1, expected=4)
    assert again.out_dir == tmp_path / "partial-20261202T000027Z-2"


def test_overwrite_writes_in_place(tmp_path: Path) -> None:
    put(tmp_path, run("a", "b"))
    d = guard.decide(tmp_path, run("a"), selected=1, expected=4, overwrite=True)
    assert d.in_place and "replaces the whole run of a, b" in d.message


def test_incomplete_and_refused_runs_go_beside(tmp_path: Path) -> None:
    put(tmp_path, run("a"))
    d = guard.decide(tmp_path, run("a", complete=False), selected=2, expected=2)
    assert (d.in_place, d.kind) == (False, "incomplete")
    assert d.out_dir.name.startswith("incomplete-")
    d = guard.decide(tmp_path, None, refused="DEEPSEEK_API_KEY is not set", now="2026-12-02T01:00Z")
    assert (d.in_place, d.kind, d.out_dir.name) == (False, "refused", "refused-20261202T0100Z")
    assert "refused: DEEPSEEK_API_KEY is not set" in d.message


def test_a_run_of_fewer_targets_does_not_replace_a_whole_run(tmp_path: Path) -> None:
    put(tmp_path, run("a", "b"))
    d = guard.decide(tmp_path, run("a"), selected=2, expected=2)
    assert (d.in_place, d.kind) == (False, "subset")
    assert "a run without b" in d.message
    assert guard.decide(tmp_path, run("a", "b", "c"), selected=6, expected=6).in_place


def test_a_partial_file_in_place_is_not_protected(tmp_path: Path) -> None:
    partial = guard.annotate(run("a", rows=1), selected=1, expected=4, selection="-k r0")
    assert partial["run"]["extra"]["selection"] == {
        "selected": 1,
        "expected": 4,
        "partial": True,
        "by": "-k r0",
    }
    put(tmp_path, partial)
    assert guard.kind_of(partial) == "partial"
    d = guard.decide(tmp_path, run("a", rows=1), selected=1, expected=4)
    assert d.in_place and "replaces the partial run of a" in d.message
    put(tmp_path, run("a", complete=False))
    assert guard.decide(tmp_path, run("a", rows=1), selected=1, expected=4).in_place


def test_an_unreadable_results_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{not json")
    d = guard.decide(tmp_path, run("a", rows=1), selected=1, expected=4)
    assert not d.in_place
    assert "cannot be read (JSONDecodeError); it is kept" in d.message
    # a whole run still writes in place: it is what the directory is for
    assert guard.decide(tmp_path, run("a"), selected=2, expected=2).in_place
