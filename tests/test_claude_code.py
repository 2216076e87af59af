"""The way out for Claude Code: a row's ``workaround`` (schema, panel, matrix.md) and the
per-target "Claude Code readiness" line computed from the client-shape and workaround rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import cases, oracles, shapes
from conformance.report import markdown, panels
from conformance.report.readiness import claude_code_readiness
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent

BETAS = {
    "setting": "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1",
    "changes": "no experimental betas, no context_management",
    "doc": "https://code.claude.com/docs/en/env-vars",
    "covers": ["context_management", "context-management-2025-06-27"],
}


def rec(cid: str, outcome: str, message: str = "", workaround: Any = None) -> dict[str, Any]:
    evidence = {"workaround": workaround} if workaround else {}
    observed = {"pass": "honored", "fail": "rejected"}.get(outcome, outcome)
    return {"id": cid, "outcome": outcome, "observed": observed, "message": message,
            "evidence": evidence}  # fmt: skip


SHAPES = ("clients.claude_code.first_turn", "clients.claude_code.streaming")


def test_readiness_works_as_is() -> None:
    records = [rec(s, "pass") for s in SHAPES] + [rec("claude_code.context_management", "pass",
                                                      workaround=BETAS)]  # fmt: skip
    assert claude_code_readiness(records) == "works as is"


def test_readiness_needs_the_setting_a_refused_shape_was_bisected_to() -> None:
    refused = "claude-code first refused (400): passes without body key context_management"
    records = [
        rec(SHAPES[0], "fail", refused),
        rec(SHAPES[1], "pass"),
        rec("claude_code.context_management", "fail", "400", workaround=BETAS),
    ]
    line = claude_code_readiness(records)
    assert line is not None and line.startswith("works with these settings: ")
    assert "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1" in line


def test_readiness_does_not_work_when_no_setting_covers_the_failure() -> None:
    records = [
        rec(SHAPES[0], "fail", "claude-code first violated: stream does not end — x"),
        rec(SHAPES[1], "pass"),
        rec("claude_code.usage.stream", "fail", "input_tokens 0"),
    ]
    line = claude_code_readiness(records)
    assert line is not None and line.startswith("does not work: clients.claude_code.first_turn")
    assert "claude_code.usage.stream" in line  # named, with no setting for it


def test_readiness_names_the_uncached_usage_rows_claude_code_reads() -> None:
    """A prompt reported as cached though no cache could hold it is a context meter that
    reads too little: works-as-is requests are qualified by it, with no setting to offer."""
    records = [rec(s, "pass") for s in SHAPES] + [
        rec("claude_code.usage.input_tokens", "pass"),  # the static row: masked by the cache
        rec("claude_code.usage.uncached", "fail", "input_tokens 0 for a prompt no cache"),
        rec("claude_code.usage.uncached_stream", "fail", "input_tokens 0"),
    ]
    assert claude_code_readiness(records) == (
        "works as is; and these Claude Code rows fail with no setting for them: "
        "claude_code.usage.uncached, claude_code.usage.uncached_stream"
    )


def test_readiness_is_silent_without_client_shape_rows() -> None:
    assert claude_code_readiness([rec("claude_code.usage.stream", "fail")]) is None


def test_workaround_is_schema_checked(tmp_path: Path) -> None:
    _, profiles = cases.load_all(REPO / "cases", oracles.ORACLES)
    path = tmp_path / "x.yaml"
    path.write_text(
        "table: X\nrows:\n  - id: x.y\n    row: y\n    oracle: acceptance\n"
        "    workaround: {setting: A=1, changes: b, doc: 'http://insecure.example'}\n"
    )
    with pytest.raises(InputError, match="workaround"):
        cases.load_file(path, oracles.ORACLES, profiles)
    path.write_text(path.read_text().replace("http://", "https://"))
    (case,) = cases.load_file(path, oracles.ORACLES, profiles)
    assert case.workaround == {"setting": "A=1", "changes": "b", "doc": "https://insecure.example"}


def test_shipped_workarounds_name_public_docs() -> None:
    loaded, _ = cases.load_all(REPO / "cases", oracles.ORACLES)
    fixes = {c.id: c.workaround for c in loaded if c.workaround}
    assert "claude_code.context_management" in fixes and "extras.model.claude-opus-4-1" in fixes
    assert all(f["doc"].startswith("https://code.claude.com/docs/") for f in fixes.values())


def test_panel_and_matrix_reasons_name_the_workaround() -> None:
    record = {
        "id": "claude_code.context_management",
        "target": "t",
        "table": "What breaks Claude Code",
        "row": "context_management",
        "variant": None,
        "observed": "rejected",
        "outcome": "fail",
        "message": "rejected 400",
        "declared": {"status": "honored"},
        "evidence": {"workaround": BETAS},
    }
    html = panels.evidence_html(record)
    assert "Workaround" in html and "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1" in html
    assert 'href="https://code.claude.com/docs/en/env-vars"' in html

    class Row:
        title = "context_management"
        cells = {"t": record}

    class Target:
        name = "t"

    (text,) = [line for line in markdown._reasons([Row()], [Target()]) if "workaround" in line]
    assert "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1" in text and BETAS["doc"] in text


# --- each workaround checked against the shape Claude Code sends with the setting on ----------


def shape_mentions(shape: dict[str, Any], part: str) -> bool:
    """Is ``part`` (a body key, a beta, a text prefix) anywhere in the shape's request?"""
    return part in json.dumps(shape["request"])


def test_every_workaround_is_checked_against_a_shape_captured_with_it() -> None:
    """A workaround names what the setting changes; what it ``covers`` must really be in the
    request Claude Code sends by default and gone from the one captured with the setting
    (python -m conformance capture claude-code --setting=VAR=VALUE), so the way out the
    report names was observed, not remembered."""
    loaded, _ = cases.load_all(REPO / "cases", oracles.ORACLES)
    fixes = [c for c in loaded if c.workaround]
    assert len(fixes) >= 5, [c.id for c in fixes]
    for case in fixes:
        fix = case.workaround
        assert fix is not None
        if not fix.get("covers"):
            continue  # claims nothing a row's bisection can lean on
        assert fix.get("shape"), f"{case.id}: a workaround that covers parts needs its shape"
        variant = shapes.load_shape(REPO / "cases" / fix["shape"])
        name, _, value = fix["setting"].partition("=")
        assert name in (variant.get("settings") or {}), (case.id, variant.get("settings"))
        if not value.startswith("<"):
            assert variant["settings"][name] == value, case.id
        base = shapes.load_shape(
            REPO / "cases" / "shapes" / f"{variant['client']}-{variant['version']}-"
            f"{variant['turn']}.json"
        )
        for part in fix["covers"]:
            if part == "model":  # the setting names the model to ask for
                want = variant["settings"][name]
                assert base["request"]["body"]["model"] != want, case.id
                assert variant["request"]["body"]["model"] == want, case.id
                continue
            assert shape_mentions(base, part), f"{case.id}: {part!r} not sent by default"
            assert not shape_mentions(variant, part), f"{case.id}: {part!r} still sent"


def test_a_setting_that_does_not_remove_a_part_fails_the_check(tmp_path: Path) -> None:
    """The check above can fail: the betas setting keeps interleaved-thinking (measured)."""
    variant = shapes.load_shape(
        REPO / "cases/shapes/claude-code-2.1.332-first.with-disable-experimental-betas-1.json"
    )
    assert shape_mentions(variant, "interleaved-thinking-2025-05-14")
    assert not shape_mentions(variant, "context-management-2025-06-27")


def variant(cid: str, outcome: str, settings: dict[str, str]) -> dict[str, Any]:
    record = rec(cid, outcome)
    record["evidence"]["settings"] = settings
    return record


def test_readiness_with_settings_is_backed_by_the_shape_captured_with_them() -> None:
    refused = "claude-code first refused (400): passes without body key context_management"
    records = [
        rec(SHAPES[0], "fail", refused),
        rec(SHAPES[1], "pass"),
        variant(SHAPES[0] + ".with_all", "pass", {"A": "1", "B": "1"}),
        variant(SHAPES[0] + ".with_b", "pass", {"B": "1"}),
        variant(SHAPES[0] + ".with_c", "fail", {"C": "0"}),
    ]
    line = claude_code_readiness(records)
    assert line is not None
    assert line.startswith("works with these settings: B=1 (clients.claude_code.first_turn.with_b")
    assert "without them clients.claude_code.first_turn: claude-code first refused" in line


def test_readiness_with_every_settings_shape_refused_does_not_work() -> None:
    records = [
        rec(SHAPES[0], "fail", "claude-code first refused (422): passes without messages"),
        variant(SHAPES[0] + ".with_b", "fail", {"B": "1"}),
        rec("claude_code.context_management", "fail", "400", workaround=BETAS),
    ]
    line = claude_code_readiness(records)
    assert line is not None and line.startswith("does not work: clients.claude_code.first_turn")
    assert "nor with settings: clients.claude_code.first_turn.with_b not accepted" in line
    # a settings shape that passes while the defaults do is not needed: works as is
    ok = [rec(SHAPES[0], "pass"), variant(SHAPES[0] + ".with_b", "pass", {"B": "1"})]
    assert claude_code_readiness(ok) == "works as is"


def test_readiness_advises_a_setting_that_only_saves_cost() -> None:
    """A lost prompt cache costs tokens and time; Claude Code still works: advised, not needed."""
    cost = {**BETAS, "setting": "CLAUDE_CODE_ATTRIBUTION_HEADER=0", "effect": "cost"}
    records = [rec(SHAPES[0], "pass"), rec("claude_code.billing_header.prefix_cache", "fail",
                                            workaround=cost)]  # fmt: skip
    assert claude_code_readiness(records) == (
        "works as is; advised: CLAUDE_CODE_ATTRIBUTION_HEADER=0 "
        "(for claude_code.billing_header.prefix_cache)"
    )


def test_a_settings_row_that_errored_before_its_shape_was_read_is_still_a_settings_row() -> None:
    records = [
        rec(SHAPES[0], "fail", "claude-code first violated: error event"),
        rec(SHAPES[0] + ".with_all_three", "error", "no cassette at ..."),
    ]
    line = claude_code_readiness(records)
    assert line == (
        "does not work: clients.claude_code.first_turn: claude-code first violated: error "
        "event (nor with settings: clients.claude_code.first_turn.with_all_three not accepted)"
    )


def test_readiness_needs_tool_calls_too() -> None:
    """Accepted requests are not enough: a tool row that fails (calls that come back as text)
    makes the line 'does not work', and so does auto with no call when even a forced call
    is never made; auto merely inconclusive leaves it undecided."""
    ok = [rec(s, "pass") for s in SHAPES]
    text = "called for the prompt that needs it in 0/2; a call came back as text"
    failing = [*ok, {**rec("tool_choice.auto", "fail", text), "observed": "ignored"}]
    line = claude_code_readiness(failing)
    assert line is not None and line.startswith("does not work: tool calls: tool_choice.auto")
    assert "(its requests: works as is)" in line

    weak = {**rec("tool_choice.auto", "inconclusive", "called in 0/2"), "observed": "inconclusive"}
    forced_ignored = {**rec("tool_choice.any", "fail", "called in 0/2"), "observed": "ignored"}
    line = claude_code_readiness([*ok, weak, forced_ignored])
    assert line is not None and line.startswith("does not work: tool calls: tool_choice.auto")
    assert "even forced, tool_choice.any got no call" in line

    forced_ok = {**rec("tool_choice.any", "pass"), "observed": "honored"}
    line = claude_code_readiness([*ok, weak, forced_ok])
    assert line == (
        "not decided: tool calls (tool_choice.auto inconclusive; its requests: works as is)"
    )
    passing = [*ok, rec("tool_choice.auto", "pass"), rec("claude_code.tool_input.stream", "pass")]
    assert claude_code_readiness(passing) == "works as is"


def test_a_failing_tool_row_is_named_once() -> None:
    stream = {**rec("claude_code.tool_input.stream", "fail", "1 violation"), "observed": "violated"}
    line = claude_code_readiness([*(rec(s, "pass") for s in SHAPES), stream])
    assert line is not None and line.count("claude_code.tool_input.stream") == 1
