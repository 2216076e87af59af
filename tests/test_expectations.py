"""Known versus new: expectations files load with file/line/fix errors, classify a run's rows,
gate the exit code, and are generated from a run; the shipped files match the cassettes."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import expectations as ex
from conformance.expectations import write as exw
from conformance.yamlfile import InputError
from conftest import SHIPPED_TARGETS

REPO = Path(__file__).resolve().parent.parent


def rec(case_id: str, outcome: str, observed: str, target: str = "t", **kw: Any) -> dict[str, Any]:
    out = {
        "id": case_id,
        "target": target,
        "outcome": outcome,
        "observed": observed,
        "declared": {"status": kw.pop("declared", "honored"), "profile": kw.pop("profile", "p")},
        "message": kw.pop("message", f"{observed} — declared honored, observed {observed}"),
        "evidence": {},
    }
    out.update(kw)
    return out


def doc(*records: dict[str, Any], complete: bool = True) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run": {"mode": "replay", "suite_version": "0.1.0", "complete": complete, "targets": []},
        "results": list(records),
    }


def exps(target: str = "t", **entries: tuple[str, str]) -> dict[str, ex.Expectations]:
    """``a_b=(outcome, observed)`` expects case ``a.b`` (the first ``_`` is the dot)."""
    return {
        target: ex.Expectations(
            target=target,
            entries={
                k.replace("_", ".", 1): ex.Expectation(o, v, "because")
                for k, (o, v) in entries.items()
            },
        )
    }


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- loading ------------------------------------------------------------------------------


def test_load_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        target: t
        expectations:
          a.b:
            outcome: fail
            observed: ignored
            reason: dropped
            issue: https://github.com/example/x/issues/1
        """,
    )
    loaded = ex.load_file(path, known_ids={"a.b"})
    assert loaded.entries["a.b"] == ex.Expectation(
        "fail", "ignored", "dropped", loaded.entries["a.b"].issue, 3
    )
    assert loaded.where("a.b") == f"{path}:3"


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ("target: t\nexpectations:\n  a.b:\n    outcome: pass\n    observed: honored\n"
         "    reason: x\n", ":4:", "outcome"),
        ("target: t\nexpectations:\n  a.b:\n    outcome: fail\n    observed: ignored\n",
         ":3:", "reason"),
        ("target: t\nexpectations:\n  a.b:\n    outcome: fail\n    observed: ignored\n"
         "    reason: x\n    resaon: y\n", ":7:", "resaon"),
        ("target: other\nexpectations: {}\n", ":1:", "rename the file"),
        ("target: t\nexpectations:\n  a.c:\n    outcome: fail\n    observed: ignored\n"
         "    reason: x\n", ":3:", "did you mean 'a.b'"),
        ("target: t\nexpectations:\n  a.b:\n    outcome: error\n    observed: ignored\n"
         "    reason: x\n", ":3:", "make both 'error'"),
        ("target: t\nexpectations:\n  a.b: [\n", ":", "YAML syntax error"),
    ],
)  # fmt: skip
def test_load_errors_name_file_line_and_fix(
    tmp_path: Path, body: str, where: str, words: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputError) as err:
        ex.load_file(path, known_ids={"a.b"})
    text = str(err.value)
    assert text.startswith(f"{path}{where}"), text
    assert words in text


def test_load_dir_only_named_targets(tmp_path: Path) -> None:
    folder = tmp_path / "expectations"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.yaml").write_text(f"target: {name}\nexpectations: {{}}\n")
    assert set(ex.load_dir(tmp_path)) == {"a", "b"}
    assert set(ex.load_dir(tmp_path, ["b", "c"])) == {"b"}
    assert ex.load_dir(tmp_path / "nowhere") == {}


# --- classification and exit code --------------------------------------------------------


def test_classify_every_kind() -> None:
    results = doc(
        rec("a.pass", "pass", "honored"),
        rec("a.known", "fail", "ignored"),
        rec("a.new", "fail", "rejected"),
        rec("a.fixed", "pass", "honored"),
        rec("a.changed", "fail", "rejected"),
        rec("a.moved", "inconclusive", "ignored"),
        rec("a.err", "error", "error"),
        rec("a.known_err", "error", "error"),
        rec("a.inc", "inconclusive", "inconclusive"),
    )
    e = exps(
        a_known=("fail", "ignored"),
        a_fixed=("fail", "ignored"),
        a_changed=("fail", "ignored"),
        a_moved=("fail", "ignored"),
        a_known_err=("error", "error"),
        a_absent=("fail", "ignored"),
    )
    summary = ex.classify(results, e)
    kinds = {r.id: r.kind for r in summary.rows}
    assert kinds == {
        "a.pass": ex.PASS,
        "a.known": ex.KNOWN,
        "a.new": ex.NEW,
        "a.fixed": ex.STALE,
        "a.changed": ex.STALE,
        "a.moved": ex.STALE,
        "a.err": ex.ERROR,
        "a.known_err": ex.ERROR,  # listed, and still never known (issue 26)
        "a.inc": ex.NEW_INCONCLUSIVE,
    }
    why = {r.id: r.why for r in summary.rows if r.why}
    assert why["a.fixed"] == "expected fail (ignored), now passes"
    assert why["a.changed"] == "expected fail (ignored), now fail (rejected)"
    assert summary.not_run == [("t", "a.absent")]
    assert summary.without_file == []
    assert ex.exit_code(summary) == 1
    assert "never a known deviation" in why["a.known_err"]


@pytest.mark.parametrize(
    ("records", "diagnosed", "code"),
    [
        ((("a.pass", "pass", "honored"), ("a.known", "fail", "ignored")), False, 0),
        ((("a.known", "fail", "ignored"), ("a.new", "fail", "rejected")), False, 1),
        ((("a.known", "pass", "honored"),), False, 1),  # stale
        ((("a.pass", "pass", "honored"), ("a.err", "error", "error")), False, 3),
        ((("a.known_err", "error", "error"),), False, 3),  # listed as known: still 3
        ((("a.new", "fail", "rejected"), ("a.err", "error", "error")), False, 1),
        ((("a.pass", "pass", "honored"), ("a.new", "fail", "rejected")), True, 3),
    ],
    ids=["known", "new", "stale", "error", "listed-error", "new-and-error", "diagnosed"],
)
def test_exit_codes_tell_findings_from_rows_not_judged(
    records: tuple[tuple[str, str, str], ...], diagnosed: bool, code: int
) -> None:
    e = exps(a_known=("fail", "ignored"), a_known_err=("error", "error"))
    summary = ex.classify(doc(*(rec(*r) for r in records)), e)
    assert ex.exit_code(summary, diagnosed) == code


def test_exit_code_zero_only_when_everything_is_expected() -> None:
    results = doc(rec("a.x", "fail", "ignored"), rec("a.y", "inconclusive", "accepted"))
    e = exps(a_x=("fail", "ignored"), a_y=("inconclusive", "accepted"))
    assert ex.exit_code(ex.classify(results, e)) == 0
    assert ex.exit_code(ex.classify(results, {})) == 1  # no file: every deviation is new
    undecided = doc(rec("a.y", "inconclusive", "inconclusive"))
    assert [r.kind for r in ex.classify(undecided, {}).rows] == [ex.INCONCLUSIVE]
    assert ex.exit_code(ex.classify(undecided, {})) == 0  # no file: undecided is not new
    only_pass = doc(rec("a.z", "pass", "honored"))
    assert ex.exit_code(ex.classify(only_pass, {})) == 0
    assert ex.classify(only_pass, {}).without_file == ["t"]


def test_expectations_of_other_targets_do_not_apply() -> None:
    results = doc(rec("a.x", "fail", "ignored", target="u"))
    summary = ex.classify(results, exps("t", a_x=("fail", "ignored")))
    assert [r.kind for r in summary.rows] == [ex.NEW]
    assert summary.not_run == []  # target t did not run at all


# --- generation ---------------------------------------------------------------------------


def test_reasons_from_notes_and_messages() -> None:
    assert ex.reason_from_note("Finding: the header is not read; any passes. Also X.") == (
        "the header is not read; any passes"
    )
    assert ex.reason_from_note("Finding (upstream): dropped by llama-server. More.") == (
        "upstream: dropped by llama-server"
    )
    assert ex.reason_from_message("tool called in 0/2 — declared honored, observed ignored") == (
        "tool called in 0/2"
    )
    long = ex.shorten("word " * 60, 40)
    assert len(long) <= 40 and long.endswith("…")


def test_generate_round_trips_and_keeps_unselected_rows(tmp_path: Path) -> None:
    run = doc(
        rec("a.pass", "pass", "honored"),
        rec("a.noted", "fail", "ignored"),
        rec("a.plain", "inconclusive", "accepted", message="2xx; invisible — nothing declared"),
    )
    text = exw.generate(run, {"p": {"a.noted": "Finding: dropped silently."}})
    assert text.startswith("# Known deviations of target t")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    loaded = ex.load_file(path)
    assert {k: (v.outcome, v.observed, v.reason) for k, v in loaded.entries.items()} == {
        "a.noted": ("fail", "ignored", "dropped silently"),
        "a.plain": (
            "inconclusive",
            "accepted",
            "no effect observable from outside; 2xx; invisible",
        ),
    }
    assert ex.exit_code(ex.classify(run, {"t": loaded})) == 0
    # a -k run of one row that now passes: that entry goes, the others stay
    partial = doc(rec("a.noted", "pass", "honored"))
    again = yaml.safe_load(exw.generate(partial, {}, "t", existing=loaded))
    assert set(again["expectations"]) == {"a.plain"}


def test_generate_keeps_a_written_reason_for_the_same_deviation(tmp_path: Path) -> None:
    old = ex.Expectations("t", {"a.x": ex.Expectation("fail", "ignored", "my words", "https://x")})
    run = doc(rec("a.x", "fail", "ignored"))
    entry = yaml.safe_load(exw.generate(run, {}, "t", existing=old))["expectations"]["a.x"]
    assert entry == {
        "outcome": "fail",
        "observed": "ignored",
        "reason": "my words",
        "issue": "https://x",
    }
    changed = doc(rec("a.x", "fail", "rejected", message="400 — declared honored"))
    entry = yaml.safe_load(exw.generate(changed, {}, "t", existing=old))["expectations"]["a.x"]
    assert entry == {"outcome": "fail", "observed": "rejected", "reason": "400"}


def test_generate_needs_a_target_when_the_run_has_several() -> None:
    run = doc(rec("a.x", "fail", "ignored", target="t"), rec("a.x", "fail", "ignored", target="u"))
    with pytest.raises(ValueError, match="name one"):
        exw.generate(run, {})
    assert "target: u" in exw.generate(run, {}, "u")


def test_cli_write_refuses_an_incomplete_run_and_check_gates(tmp_path: Path, capsys: Any) -> None:
    cases_dir = tmp_path / "cases"
    (cases_dir / "profiles").mkdir(parents=True)
    run = doc(rec("a.x", "fail", "ignored"), complete=False)
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_schema_valid(run)))
    assert exw.main(["write", "--results", str(results), "--cases", str(cases_dir)]) == 4
    assert "not complete" in capsys.readouterr().err
    assert exw.main(["check", "--results", str(results), "--cases", str(cases_dir)]) == 1
    assert "NEW: a.x [t]" in capsys.readouterr().out
    argv = ["write", "--results", str(results), "--cases", str(cases_dir), "--force"]
    assert exw.main(argv) == 0
    assert (cases_dir / "expectations" / "t.yaml").is_file()
    assert exw.main(["check", "--results", str(results), "--cases", str(cases_dir)]) == 0
    results.write_text("{}")
    assert exw.main(["check", "--results", str(results), "--cases", str(cases_dir)]) == 4
    assert "not a valid results.json" in capsys.readouterr().err


def _schema_valid(run: dict[str, Any]) -> dict[str, Any]:
    """The same run as results.py writes it (every field results.schema.json requires)."""
    from conformance.results import RunInfo, build_document

    records = copy.deepcopy(run["results"])
    for r in records:
        r.update(table="T", row="r", variant=None)
        r["declared"].update(says="honored")
    info = RunInfo("0.1.0", "replay", [], "2026-01-01T00:00:00Z", complete=run["run"]["complete"])
    return build_document(info, records)


# --- the shipped files ----------------------------------------------------------------------


def test_shipped_expectations_are_valid_and_name_real_cases() -> None:
    from conformance import cases, oracles

    loaded, _ = cases.load_all(REPO / "cases", set(oracles.ORACLES))
    files = ex.load_dir(REPO / "cases", known_ids=[c.id for c in loaded])
    assert {"llamacpp", "litellm"} <= set(files)
    for exp in files.values():
        assert exp.entries, exp.path


SHIPPED = SHIPPED_TARGETS


@pytest.mark.parametrize("target", SHIPPED)
def test_shipped_expectations_match_a_replay(tmp_path: Path, target: str) -> None:
    """Replaying the shipped cassettes finds nothing new against the committed expectations:
    every row that does not pass is known, or is an ``error`` (not judged), which is never
    known and makes the run exit 3 instead of 0. (If this fails after a re-recording, rerun
    the generator; an error row is fixed by re-recording, not by listing it.)"""
    import subprocess
    import sys

    out = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", target, "-p", "no:xdist", "-q",
         f"--report-dir={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    run = json.loads((out / "results.json").read_text())
    summary = ex.classify(run, ex.load_dir(REPO / "cases", [target]))
    bad = [(r.id, r.kind, r.why) for r in summary.rows if r.kind in ex.FINDING_KINDS]
    assert bad == [], proc.stdout[-2000:]
    errors = sorted(r.id for r in summary.of(ex.ERROR))
    assert proc.returncode == (3 if errors else 0), (errors, proc.stdout[-2000:] + proc.stderr)
    assert ex.exit_code(summary) == (3 if errors else 0)
    if errors:
        print(f"{target}: {len(errors)} error row(s), exit 3: {errors}")


def test_the_main_job_fails_when_one_cassette_is_edited_to_change_a_verdict(tmp_path: Path):
    """The shipped replay of llamacpp exits 0 (every deviation is known); the same run over a
    copy of its cassettes in which one answer was edited exits 1 and names the row as NEW."""
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    cassettes = tmp_path / "cassettes"
    shutil.copytree(repo / "cassettes" / "llamacpp", cassettes / "llamacpp")
    edited = cassettes / "llamacpp" / "fields.max_tokens.json"
    doc = json.loads(edited.read_text())
    (answer,) = [i["response"]["body"] for i in doc["interactions"]]
    assert '"stop_reason":"max_tokens"' in answer["string"]
    answer["string"] = answer["string"].replace(
        '"stop_reason":"max_tokens"', '"stop_reason":"end_turn"'
    )
    edited.write_text(json.dumps(doc))

    def run(cassette_dir: Path, report: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--target", "llamacpp", "-p", "no:xdist", "-q",
             f"--cassette-dir={cassette_dir}", f"--report-dir={tmp_path / report}"],
            cwd=repo, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    shipped = run(repo / "cassettes", "shipped")
    assert shipped.returncode == 0, shipped.stdout[-3000:]
    changed = run(cassettes, "edited")
    assert changed.returncode == 1, changed.stdout[-3000:]
    assert "NEW: fields.max_tokens [llamacpp]" in changed.stdout
    # ... and the report marks it NEW, apart from the known deviations around it.
    doc = json.loads((tmp_path / "edited" / "results.json").read_text())
    marks = {r["id"]: r.get("expectation") for r in doc["results"] if r["target"] == "llamacpp"}
    assert marks["fields.max_tokens"] in ("new", "new-inconclusive")
    assert "known" in marks.values()
    page = (tmp_path / "edited" / "index.html").read_text()
    assert page.count('class="xp xp-new"') == 2  # the cell and the legend
    md = (tmp_path / "edited" / "matrix.md").read_text()
    assert "against the committed expectations:" in md and "1 NEW" in md


@pytest.mark.parametrize("target", SHIPPED)
def test_no_expectation_hides_a_missing_cassette_or_a_local_path(target: str) -> None:
    """An expectation records a deviation of the endpoint, never a hole in the recordings
    (a stale cassette with no answer for the row) nor a path of the machine it was written on."""
    text = ex.path_for(REPO / "cases", target).read_text()
    for bad in ("no recorded answer", "no cassette", "/work/", "/tmp/", "/home/", "/root/"):
        assert bad not in text, f"cases/expectations/{target}.yaml holds {bad!r}"
