"""Terminal lines: one readable line per row that did not pass, marked known / NEW / stale /
inconclusive, with the evidence only on request."""

from __future__ import annotations

from typing import Any

from conformance import expectations as ex
from conformance import terminal


def rec(case_id: str, outcome: str, observed: str, message: str, **declared: Any) -> dict:
    return {
        "id": case_id,
        "target": "t",
        "outcome": outcome,
        "observed": observed,
        "declared": {"status": "honored", "profile": "p", **declared},
        "message": message,
        "evidence": {"requests": [{"status": 200}]},
    }


RUN = {
    "results": [
        rec("a.pass", "pass", "honored", "ok — observed honored, as declared"),
        rec("a.known", "fail", "ignored",
            "prompt did not grow — declared honored, observed ignored"),
        rec("a.new", "fail", "rejected", "400 invalid_request_error: no — declared honored"),
        rec("a.fixed", "pass", "honored", "it works now — observed honored, as declared"),
        rec("a.weak", "inconclusive", "inconclusive",
            "tool called in 0/2: the model chose not to call a tool — the probe could not decide"),
        rec("a.acc", "inconclusive", "accepted", "valid values accepted — accepted; consistent",
            implied=True),
        rec("a.undecl", "inconclusive", "ignored", "no growth — nothing declared",
            status="undocumented"),
        rec("a.err", "error", "error", "connection refused — no verdict"),
    ]
}  # fmt: skip
EXPECT = {
    "t": ex.Expectations(
        "t",
        {
            "a.known": ex.Expectation("fail", "ignored", "dropped silently"),
            "a.fixed": ex.Expectation("fail", "violated", "has_more missing"),
            "a.weak": ex.Expectation("inconclusive", "inconclusive", "weak model"),
            "a.acc": ex.Expectation("inconclusive", "accepted", "x"),
            "a.undecl": ex.Expectation("inconclusive", "ignored", "x"),
        },
    )
}


def summary() -> ex.Summary:
    return ex.classify(RUN, EXPECT)


def test_one_line_per_non_passing_row() -> None:
    lines = terminal.lines(RUN, summary())
    assert lines == [
        "known: a.known [t]: declared honored → observed ignored — dropped silently",
        "inconclusive: a.acc [t]: declared honored (implied) → observed accepted — no effect "
        "observable from outside; valid values accepted",
        "inconclusive: a.undecl [t]: declared nothing → observed ignored — nothing declared to "
        "compare with; no growth",
        "inconclusive: a.weak [t]: declared honored → observed inconclusive — tool called in "
        "0/2: the model chose not to call a tool",
        "stale: a.fixed [t]: declared honored → observed honored — expected fail (violated), "
        "now passes; was: has_more missing",
        "error: a.err [t]: declared honored → observed error — connection refused",
        "NEW: a.new [t]: declared honored → observed rejected — 400 invalid_request_error: no",
    ]
    assert not any("a.pass" in line for line in lines)


def test_verbose_adds_message_then_evidence() -> None:
    plain = terminal.lines(RUN, summary())
    one = terminal.lines(RUN, summary(), verbose=1)
    two = terminal.lines(RUN, summary(), verbose=2)
    assert len(plain) < len(one) < len(two)
    assert "    message: prompt did not grow — declared honored, observed ignored" in one
    assert "    expected: fail (ignored): dropped silently" in one
    assert any('"status": 200' in line for line in two)
    assert not any('"status": 200' in line for line in one)


def test_long_reasons_stay_short() -> None:
    run = {"results": [rec("a.x", "fail", "ignored", "word " * 80)]}
    (line,) = terminal.lines(run, ex.classify(run, {}))
    assert line.startswith("NEW: a.x [t]:")
    assert len(line) < 160 and line.endswith("…")


def test_summary_line_says_why_the_exit_code() -> None:
    text = terminal.summary_line(summary())
    # the scoreboard's words and columns: an expected inconclusive is inconclusive, not known
    assert text.startswith(
        "rows: 1 pass, 1 known, 1 NEW, 1 stale, 3 inconclusive, 1 error; exit 1:"
    )
    assert "new deviations and stale expectations" in text
    ok = {"results": [RUN["results"][1]]}
    assert terminal.summary_line(ex.classify(ok, EXPECT)).endswith(
        "exit 0: every row that did not pass is a known deviation\n"
        "4 expected deviation(s) not run in this selection"
    )
    undecided = {"results": [RUN["results"][4]]}
    assert terminal.summary_line(ex.classify(undecided, {})).startswith(
        "rows: 1 inconclusive; exit 0"
    )
    assert terminal.lines(undecided, ex.classify(undecided, {}))[0].startswith(
        "inconclusive: a.weak [t]:"
    )
    bare = terminal.summary_line(ex.classify(ok, {}))
    assert "no expectations file for t" in bare
    assert "python -m conformance expectations write" in bare
    assert terminal.summary_line(ex.Summary(rows=[])) == "rows: none run"  # no exit claim


def test_rows_not_judged_exit_3_and_a_diagnosis_comes_first() -> None:
    from conformance.diagnosis import Diagnosis

    errors = {"results": [RUN["results"][1], rec("a.err", "error", "error", "connection refused")]}
    text = terminal.summary_line(ex.classify(errors, EXPECT))
    assert text.startswith("rows: 1 known, 1 error; exit 3: 1 row(s) could not be judged"), text
    assert "expectations write" not in text  # nothing to record: errors are never known
    found = Diagnosis("t", "all 9 requests: connection refused at h:1", "start the server")
    text = terminal.summary_line(ex.classify(errors, EXPECT), [found])
    first, second = text.splitlines()[:2]
    assert first == "diagnosis: t: all 9 requests: connection refused at h:1; fix: start the server"
    assert second.startswith("rows: 1 known, 1 error; exit 3: could not judge t")


def test_the_scoreboard_has_one_line_a_target_in_the_scoreboards_words() -> None:
    records = [
        dict(rec("a.pass", "pass", "honored", ""), target="x"),
        dict(rec("a.known", "fail", "ignored", ""), target="x", expectation="known"),
        dict(rec("a.new", "fail", "rejected", ""), target="y", expectation="new"),
        dict(rec("a.err", "error", "error", ""), target="y", expectation="error"),
        dict(rec("a.inc", "inconclusive", "inconclusive", ""), target="y", expectation="known"),
    ]
    head, x, y = terminal.scoreboard_lines({"results": records})
    assert head.split()[1:] == [
        "target", "pass", "known", "NEW", "stale", "inconclusive", "error", "Claude", "Code",
    ]  # fmt: skip
    assert x.split()[1:] == ["x", "1", "1", "0", "0", "0", "0", "—"]
    assert y.split()[1:] == ["y", "0", "0", "1", "0", "1", "1", "—"]


def test_describe_one_row_for_a_pytest_item() -> None:
    record = RUN["results"][2]
    row = ex.classify_one(record, EXPECT)
    assert row.kind == ex.NEW
    assert terminal.describe(row, record) == [terminal.line(row, record)]
    assert len(terminal.describe(row, record, verbose=2)) > 2
