"""Verdicts: the declared x observed truth table, and every oracle against a fake endpoint.

A clean fake server (tests/fakeserver.py) honours everything, so each row's observation is
known in advance; each switchable deviation is a realistic way endpoints go wrong and must
flip exactly the rows it concerns, to the value the oracle promises. A deviation no row
notices would be an oracle that cannot see what it exists to see.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.cases import Case
from conformance.results import Declared, Observed, Outcome, decide_outcome

# --- decide_outcome -----------------------------------------------------------------------

TRUTH_TABLE = """
declared \\ observed  honored  ignored  rejected  accepted  violated  inconclusive  error
honored              pass     fail     fail      incon     fail      incon         error
ignored              fail     pass     fail      incon     fail      incon         error
rejected             fail     fail     pass      fail      fail      incon         error
unsupported          fail     pass     pass      incon     fail      incon         error
undocumented         incon    incon    incon     incon     incon     incon         error
(none)               incon    incon    incon     incon     incon     incon         error
"""


def truth_table() -> dict[tuple[Declared | None, Observed], Outcome]:
    rows = [line.split() for line in TRUTH_TABLE.strip().splitlines()]
    columns = [Observed(name) for name in rows[0][3:]]
    out = {}
    for row in rows[1:]:
        declared = None if row[0] == "(none)" else Declared(row[0])
        for observed, cell in zip(columns, row[1:], strict=True):
            out[declared, observed] = Outcome("inconclusive" if cell == "incon" else cell)
    return out


def test_truth_table_covers_every_pair() -> None:
    table = truth_table()
    assert set(table) == {(d, o) for d in [*Declared, None] for o in Observed}


@pytest.mark.parametrize(("pair", "expected"), truth_table().items(), ids=str)
def test_decide_outcome(pair: tuple[Declared | None, Observed], expected: Outcome) -> None:
    outcome, reason = decide_outcome(*pair)
    assert outcome is expected, reason
    assert reason and "\n" not in reason


def test_accepted_never_passes() -> None:
    for declared in [*Declared, None]:
        assert decide_outcome(declared, Observed.ACCEPTED)[0] is not Outcome.PASS


# --- oracles against the fake endpoint ----------------------------------------------------

# Stop reasons no probe can provoke (Anthropic's policy classifiers, long server-tool loops).
UNPROVOKED = ("extras.stop_reason.refusal", "extras.stop_reason.pause_turn")
# On a clean fake server every effect oracle sees its field honored, except these.
CLEAN_EXCEPTIONS = {
    "fields.temperature.range": "rejected",  # 2.0 is outside Anthropic's 0..1
    # acceptance rows: no effect is observable from outside
    "content.container_upload": "accepted",
    "fields.container": "accepted",
    "fields.mcp_servers": "accepted",
    "fields.metadata": "accepted",
    "fields.service_tier": "accepted",
    # fields Claude Code sends that have no effect observable from outside: answered is all
    "claude_code.output_config.effort": "accepted",
    "claude_code.context_management": "accepted",
    "claude_code.cache_control.ttl_1h": "accepted",
    "claude_code.max_tokens": "accepted",
    "claude_code.tool_search.defer_loading": "accepted",
    # values no API defines, and a max_tokens and a prompt past the model's limits: Anthropic
    # refuses each with a 400
    "extras.anthropic-beta.unknown": "rejected",
    "extras.unknown_field": "rejected",
    "extras.max_tokens.above_limit": "rejected",
    "extras.stop_reason.model_context_window_exceeded": "rejected",
    # no probe provokes a refusal or a paused turn (see test_rare_stop_reasons_are_judged)
    **dict.fromkeys(UNPROVOKED, "inconclusive"),
    # "is this value accepted?" rows: a 2xx is acceptance, not an observed effect
    **{
        f"extras.{cid}": "accepted"
        for cid in (
            "anthropic-beta.claude-code-20250219",
            "anthropic-beta.context-management-2025-06-27",
            "anthropic-beta.effort-2025-11-24",
            "anthropic-beta.fine-grained-tool-streaming-2025-05-14",
            "anthropic-beta.interleaved-thinking-2025-05-14",
            "anthropic-version.2023-06-01",
            "anthropic-version.2026-10-21",
            "beta_query",
        )
    },
}
# Rows the brief names: a clean endpoint must be seen honouring each of them.
MUST_BE_HONORED = [
    "fields.max_tokens", "fields.stop_sequences", "fields.stream", "fields.system",
    "tools.name", "tools.input_schema", "tool_choice.any", "tool_choice.tool",
    "tool_choice.none", "fields.top_k", "fields.temperature", "headers.x-api-key",
    "headers.anthropic-version",
]  # fmt: skip


def clean(case_ids: Any) -> dict[str, str]:
    return {cid: CLEAN_EXCEPTIONS.get(cid, "honored") for cid in case_ids}


# deviation -> every row whose observation changes, and to what.
# Client shapes that stream (Claude Code streams every turn): a broken stream breaks them.
CLAUDE_CODE_FIRST_WITH_SETTINGS = (
    "clients.claude_code.first_turn.with_disable_experimental_betas",
    "clients.claude_code.first_turn.with_disable_prompt_caching",
    "clients.claude_code.first_turn.with_attribution_header_off",
    "clients.claude_code.first_turn.with_all_three",
)
STREAMING_CLIENTS = {
    "clients.claude_code.first_turn": "violated",
    "clients.claude_code.streaming": "violated",
    "clients.claude_code.tool_round_trip": "violated",
    "clients.sdk_python.streaming": "violated",
    **{r: "violated" for r in CLAUDE_CODE_FIRST_WITH_SETTINGS},
}
CLAUDE_CODE_SHAPES = {
    "clients.claude_code.first_turn": "violated",
    "clients.claude_code.streaming": "violated",
    "clients.claude_code.tool_round_trip": "violated",
    **{r: "violated" for r in CLAUDE_CODE_FIRST_WITH_SETTINGS},
}
# A broken stream: the protocol rows that stream (stream_equivalence's own stream is in its
# evidence) and every streaming client shape.
BROKEN_STREAM = {
    "protocol.stream": "violated",
    "protocol.stream_equivalence": "violated",
    **STREAMING_CLIENTS,
}
TOOL_STREAM = {
    "claude_code.tool_input.stream": "violated",
    "claude_code.tool_input.parallel_stream": "violated",
    "extras.tools.eager_input_streaming": "violated",
}
PROTOCOL_ROWS = (
    "protocol.message", "protocol.stream", "protocol.stream_equivalence", "protocol.errors",
    "protocol.auth_errors", "protocol.bearer", "protocol.count_tokens", "protocol.models",
    "protocol.stop_reason",
)  # fmt: skip
# rows that judge by a prompt-token differential
TOKEN_DIFF_ROWS = (
    "claude_code.tool_result.image", "content.string", "content.text.text", "content.image",
    "content.document", "content.search_result", "content.thinking",
    "content.redacted_thinking", "content.tool_use.input", "content.tool_use.name",
    "content.tool_result.content", "content.tool_result.is_error", "content.server_tool_use",
    "content.web_search_tool_result", "content.code_execution_tool_result",
    "content.mcp_tool_use", "content.mcp_tool_result", "extras.system_role.mid_conversation",
    "fields.system", "tools.description",
)  # fmt: skip
# the usage rows whose prompt opens with a code drawn per run ({{FRESH}}): no cache holds it
UNCACHED_ROWS = {
    "claude_code.usage.uncached": "violated",
    "claude_code.usage.uncached_stream": "violated",
}
# The Claude Code turns that send its experimental betas (all but those captured with
# CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1): a refusal of any of those betas refuses them.
BETA_SHAPES_REJECTED = {
    r: "rejected"
    for r in CLAUDE_CODE_SHAPES
    if not r.endswith(("with_disable_experimental_betas", "with_all_three"))
}

FLIPS: dict[str, dict[str, str]] = {
    # the count_tokens row's 1-token usage request answers more: a wire violation in its evidence
    "ignore_max_tokens": {
        "fields.max_tokens": "ignored",
        "protocol.count_tokens": "violated",
        **CLAUDE_CODE_SHAPES,  # adaptive thinking past their max_tokens of 4
    },
    "end_turn_for_max_tokens": {"fields.max_tokens": "ignored"},
    # the protocol row needs a stop to judge the stop_reason of
    "drop_stop_sequences": {
        "fields.stop_sequences": "ignored",
        "protocol.stop_reason": "inconclusive",
    },
    # the output is cut (the field works) but the stop is reported as end_turn / null
    "stop_without_reason": {"protocol.stop_reason": "violated"},
    "drop_system": {
        "fields.system": "ignored",
        "fields.system.echo": "ignored",
        "claude_code.billing_header.prefix_cache": "inconclusive",  # no system: nothing cached
        "extras.cache_control.automatic": "ignored",  # the long prefix was the system prompt
    },
    "sse_bad_order": {**BROKEN_STREAM},
    "sse_no_event_lines": {"fields.stream": "ignored", **BROKEN_STREAM},
    "no_usage_in_message_delta": {**BROKEN_STREAM, "claude_code.usage.stream": "violated"},
    # the wrong-key arm of protocol.bearer gets an OpenAI-shaped 401 too; no Anthropic
    # envelope on the prompt-too-long 400
    "openai_errors": {
        "protocol.errors": "violated",
        "protocol.auth_errors": "violated",
        "protocol.bearer": "violated",
        "claude_code.prompt_too_long": "violated",
    },
    "html_500": {
        "claude_code.prompt_too_long": "violated",  # an HTML 500, not a 400
        "protocol.bearer": "error",  # the wrong-key arm gets an HTML 500
        "content.text.citations": "error",
        "content.tool_use.id": "error",
        "content.tool_result.tool_use_id": "error",
        "fields.temperature.range": "error",
        "fields.thinking.budget_tokens": "error",
        "headers.x-api-key": "error",
        "headers.anthropic-version": "error",
        "headers.anthropic-beta": "error",
        "protocol.errors": "violated",
        "protocol.auth_errors": "violated",
    },
    "accept_bad_keys": {
        "headers.x-api-key": "ignored",
        "protocol.auth_errors": "violated",
        "protocol.bearer": "accepted",  # a wrong Bearer key passes too: no effect to see
    },
    "ignore_anthropic_version": {"headers.anthropic-version": "ignored"},
    "forced_tool_as_text": {
        # no tool_use to stream: nothing to judge
        "claude_code.tool_input.stream": "inconclusive",
        "claude_code.tool_input.parallel_stream": "inconclusive",
        "tool_choice.tool": "ignored",
        "tool_choice.any": "ignored",
        "tools.name": "ignored",
        "tools.input_schema": "ignored",
        # their control arms force a call, so nothing can be concluded (none's control is
        # auto, which still calls)
        "tool_choice.any.disable_parallel_tool_use": "inconclusive",
        "tool_choice.tool.disable_parallel_tool_use": "inconclusive",
        "extras.tools.eager_input_streaming": "inconclusive",
        "extras.tools.strict": "inconclusive",  # no forced call, no input to judge
    },
    "ignore_tool_choice_none": {"tool_choice.none": "ignored"},
    # the call written as text markup under none is a call all the same
    "none_call_as_text": {"tool_choice.none": "ignored"},
    # no tool reaches the model: nothing is ever called, even where a call is forced
    "drop_tools": {
        "claude_code.tool_input.stream": "inconclusive",
        "claude_code.tool_input.parallel_stream": "inconclusive",
        "tool_choice.tool": "ignored",
        "tool_choice.any": "ignored",
        "tool_choice.auto": "inconclusive",  # no call for either arm: says nothing of auto
        "tools.name": "ignored",
        "tools.input_schema": "ignored",
        "tools.description": "ignored",
        "tools.cache_control": "ignored",
        "tool_choice.none": "inconclusive",
        "tool_choice.any.disable_parallel_tool_use": "inconclusive",
        "tool_choice.tool.disable_parallel_tool_use": "inconclusive",
        "tool_choice.auto.disable_parallel_tool_use": "inconclusive",
        "extras.tools.eager_input_streaming": "inconclusive",
        "extras.tools.strict": "inconclusive",
        "extras.tools.defer_loading": "inconclusive",  # no tool in any arm's prompt
    },
    # every request answered as auto: forced and named choices, none and the parallel flag
    # do nothing (tools.input_schema's prompt asks for its only tool, so auto calls it too)
    "drop_tool_choice": {
        "tool_choice.any": "ignored",
        "tool_choice.tool": "ignored",
        "tool_choice.none": "ignored",
        "tools.name": "ignored",
        "tool_choice.any.disable_parallel_tool_use": "ignored",
        "tool_choice.auto.disable_parallel_tool_use": "ignored",
        "tool_choice.tool.disable_parallel_tool_use": "ignored",
    },
    # named choice answered as any: the other tool, the one the prompt asks for, is called
    "named_as_any": {"tool_choice.tool": "ignored"},
    "ignore_disable_parallel_tool_use": {
        "tool_choice.auto.disable_parallel_tool_use": "ignored",
        "tool_choice.any.disable_parallel_tool_use": "ignored",
        "tool_choice.tool.disable_parallel_tool_use": "ignored",
    },
    "string_tool_input": {
        "tools.input_schema": "ignored",
        "extras.tools.strict": "ignored",  # a string is no input the schema allows
        **TOOL_STREAM,
    },
    # the cached prefix was mostly the description: what is left is too short to cache
    "drop_tool_description": {"tools.description": "ignored", "tools.cache_control": "ignored"},
    "ignore_temperature": {"fields.temperature": "ignored"},
    "ignore_top_k": {"fields.top_k": "ignored"},
    "drop_images": {"content.image": "ignored", "claude_code.tool_result.image": "ignored"},
    "drop_documents": {"content.document": "ignored"},
    "reject_images": {"content.image": "rejected"},
    "image_500": {"content.image": "rejected"},  # 5xx only with the block: the block is refused
    "cache_billing_block": {"claude_code.billing_header.prefix_cache": "violated"},
    "ignore_cache_control": {
        "claude_code.billing_header.prefix_cache": "inconclusive",  # no cache to lose
        "content.text.cache_control": "ignored",
        "content.tool_use.cache_control": "ignored",
        "content.tool_result.cache_control": "ignored",
        "tools.cache_control": "ignored",
        "extras.cache_control.automatic": "ignored",
    },
    "echo_key_in_errors": {},  # a secret-handling deviation: see test_recording.py
    "empty_message_id": {
        **{
            r: "violated"
            for r in PROTOCOL_ROWS
            if r not in ("protocol.errors", "protocol.auth_errors", "protocol.models")
        },
        **CLAUDE_CODE_SHAPES,
        "clients.sdk_python.defaults": "violated",
        "clients.sdk_python.tool_round_trip": "violated",
        "clients.sdk_python.streaming": "violated",
    },
    "models_without_has_more": {"protocol.models": "violated"},
    # every prompt-token differential sees 0 -> 0: "never reached the model"
    "zero_input_tokens": {
        "claude_code.usage.input_tokens": "violated",
        "claude_code.usage.cache_fields": "violated",
        "claude_code.usage.stream": "violated",
        **UNCACHED_ROWS,
        "claude_code.billing_header.prefix_cache": "inconclusive",  # 0 prompt tokens
        **{r: "ignored" for r in TOKEN_DIFF_ROWS},
        "extras.tools.defer_loading": "inconclusive",  # 0 tokens, with the tool or without
    },
    # issue 24's masking case: the totals still add up, so only a prompt no cache can hold
    # (and the cache rows, which now see every prompt read from cache) tells
    "zero_input_tokens_as_cache_read": {
        **UNCACHED_ROWS,
        "claude_code.billing_header.prefix_cache": "inconclusive",  # "already cached"
        "content.text.cache_control": "ignored",  # with or without the marker: all "read"
        "content.tool_use.cache_control": "ignored",
        "content.tool_result.cache_control": "ignored",
        "tools.cache_control": "ignored",
        "extras.cache_control.automatic": "ignored",  # reads with and without the marker
    },
    # the repeat adds up to its uncached part only
    "cache_read_left_out": {
        **UNCACHED_ROWS,
        "claude_code.usage.cache_fields": "violated",
        "claude_code.billing_header.prefix_cache": "inconclusive",  # no cache_read to judge by
    },
    "stream_past_max_tokens": {"claude_code.usage.stream": "violated"},
    "drop_input_json_delta": {**TOOL_STREAM},
    "tool_index_from_1": {**TOOL_STREAM, **BROKEN_STREAM},
    "adaptive_empty_answer": {"claude_code.thinking.adaptive": "violated"},
    "reject_context_management": {
        "claude_code.context_management": "rejected",
        # every Claude Code turn sends it, unless CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1
        **BETA_SHAPES_REJECTED,
    },
    # a 500 with a traceback: to the stop-reason row the working endpoint's refusal (rejected)
    "context_500": {"claude_code.prompt_too_long": "violated"},
    "truncate_context": {
        "claude_code.prompt_too_long": "ignored",
        "extras.stop_reason.model_context_window_exceeded": "ignored",
    },
    # the prompt cut to the window and answered with the stop reason: no error to compact on
    "context_window_stop": {
        "claude_code.prompt_too_long": "ignored",
        "extras.stop_reason.model_context_window_exceeded": "honored",
    },
    "ignore_output_format": {"extras.output_config.format": "ignored"},
    "ignore_strict": {"extras.tools.strict": "ignored"},
    "reject_eager_input_streaming": {"extras.tools.eager_input_streaming": "rejected"},
    "reject_defer_loading": {
        "extras.tools.defer_loading": "rejected",
        "claude_code.tool_search.defer_loading": "rejected",
        # every Claude Code turn defers a tool, unless CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1
        **BETA_SHAPES_REJECTED,
    },
    "load_deferred_tools": {"extras.tools.defer_loading": "ignored"},
    # the validation row's invalid arm is an unknown beta too
    "ignore_unknown_betas": {
        "extras.anthropic-beta.unknown": "ignored",
        "headers.anthropic-beta": "ignored",
    },
    "ignore_unknown_fields": {"extras.unknown_field": "ignored"},
    "clamp_max_tokens": {"extras.max_tokens.above_limit": "accepted"},
    "small_output_limit": {"claude_code.max_tokens": "rejected"},
    "ignore_top_level_cache_control": {"extras.cache_control.automatic": "ignored"},
    "rare_stop_reasons": {},  # no row's probe names one: see test_rare_stop_reasons_are_judged
    "sse_done_sentinel": {"claude_code.stream_end": "violated", **BROKEN_STREAM},
    "flaky_429": {},  # retried (retry-after: 0): nothing changes, the evidence shows the retry
}


def diff(observed: dict[str, str]) -> dict[str, str]:
    expected = clean(observed)
    return {cid: obs for cid, obs in observed.items() if expected[cid] != obs}


def test_every_deviation_of_the_fake_server_is_tested() -> None:
    import fakeserver

    assert set(FLIPS) | {"slow"} | fakeserver.FAULTS == fakeserver.DEVIATIONS  # FAULTS: test_faults


def test_clean_server_is_observed_as_expected(harness: Any) -> None:
    results = {cid: harness.run(cid) for cid in harness.cases}
    assert set(MUST_BE_HONORED) <= set(results)
    assert diff({cid: r.observed for cid, r in results.items()}) == {}
    # the fake behaves like Anthropic: every row the anthropic profile declares passes,
    # except that "accepted" (no observable effect) never passes
    declared = [cid for cid, r in results.items() if r.declared["status"] != "undocumented"]
    assert len(declared) > 40
    expected = {
        c: "inconclusive" if results[c].observed == "accepted" or c in UNPROVOKED else "pass"
        for c in declared
    }
    assert {cid: results[cid].outcome for cid in declared} == expected


@pytest.mark.parametrize("fake_server", [{d} for d in FLIPS], ids=list(FLIPS), indirect=True)
def test_deviation_flips_exactly_its_rows(fake_server: Any, harness: Any) -> None:
    (deviation,) = fake_server.deviations
    changed = diff(harness.observe())
    assert changed == FLIPS[deviation]


@pytest.mark.deviations("stop_without_reason")
def test_stop_without_reason_is_named_in_the_message(harness: Any) -> None:
    result = harness.run("fields.stop_sequences")
    assert result.observed == "honored"  # the output was cut: the field took effect
    assert "protocol deviation" in result.message
    assert result.evidence["stop_reason"] == "end_turn"
    assert result.evidence["stop_sequence"] is None
    assert result.evidence["sequence"] not in result.evidence["text"]


@pytest.mark.deviations("flaky_429")
def test_rate_limits_are_retried_and_shown(harness: Any, fake_server: Any) -> None:
    result = harness.run("fields.max_tokens")
    assert result.observed == "honored"
    (request,) = result.evidence["requests"]
    assert request["status"] == 200
    assert request["retries"] == ["429: retried after 0.0s"]
    assert [r.status for r in fake_server.requests] == [429, 200]
    assert result.requests == 2  # both attempts are accounted


@pytest.mark.deviations("sse_bad_order")
def test_stream_grammar_problems_reach_the_row_evidence(harness: Any) -> None:
    result = harness.run("fields.stream")
    assert result.observed == "honored"  # it streams; the grammar is the protocol row's
    assert "grammar violation" in result.message
    assert any("never started" in v for v in result.evidence["grammar_violations"])


@pytest.mark.deviations("image_500")
def test_a_5xx_only_with_the_block_is_a_rejection(harness: Any) -> None:
    result = harness.run("content.image")
    assert result.observed == "rejected"
    assert "5xx, though the control passed" in result.message
    assert "mmproj" in result.message


def test_slow_endpoint_is_an_error_not_a_hang(start_fake_server: Any, make_harness: Any) -> None:
    server = start_fake_server({"slow"}, slow_seconds=2.0)
    harness = make_harness(server, {"limits": {"read_timeout": 0.3}})
    for case_id in ("fields.max_tokens", "fields.system"):
        result = harness.run(case_id)
        assert result.observed == "error", result.message
        assert "timeout: ReadTimeout" in result.message
        assert result.duration_ms < 1500


# The echo oracle (information flow with a control arm) has no case in the repo yet.
ECHO = Case(
    id="test.echo.system",
    table="Test",
    row="system (code echo)",
    oracle="echo",
    declared={"anthropic": "honored"},
    probe={
        "system": "The access code is {{K}}.",
        "prompt": "Reply with the access code only.",
        "max_tokens": 16,
    },
    control={
        "system": None,
        "prompt": "The access code is {{K}}. Reply with the access code only.",
    },
)


@pytest.mark.parametrize(
    ("fake_server", "observed", "summary"),
    [(set(), "honored", "code echoed 3/3, control 3/3"),
     ({"drop_system"}, "ignored", "code echoed 0/3, control 3/3")],
    ids=["clean", "drop_system"],
    indirect=["fake_server"],
)  # fmt: skip
def test_echo_oracle(harness: Any, fake_server: Any, observed: str, summary: str) -> None:
    result = harness.run(ECHO)
    assert result.observed == observed
    assert result.message.startswith(summary)
    codes = {r.body["system"] for r in fake_server.requests if "system" in r.body}
    assert len(codes) == 3, "each trial carries its own code"


# --- a verdict never contradicts its evidence ---------------------------------------------

# protocol row -> a deviation whose wire violation shows in that row's answers (for most rows
# in an answer the row's own check does not look at: a usage request, a wrong-key arm).
EVIDENCE_VIOLATIONS = {
    "protocol.message": "empty_message_id",
    "protocol.stream": "empty_message_id",
    "protocol.stream_equivalence": "empty_message_id",
    "protocol.errors": "openai_errors",
    "protocol.auth_errors": "openai_errors",
    "protocol.bearer": "openai_errors",
    "protocol.count_tokens": "empty_message_id",
    "protocol.models": "models_without_has_more",
    "protocol.stop_reason": "empty_message_id",
}


def test_every_protocol_row_has_an_evidence_test() -> None:
    from conftest import repo_cases

    cases, _ = repo_cases()
    protocol_rows = {cid for cid, c in cases.items() if c.oracle == "protocol"}
    assert protocol_rows == set(EVIDENCE_VIOLATIONS) == set(PROTOCOL_ROWS)


@pytest.mark.parametrize(
    ("fake_server", "case_id"),
    [({d}, cid) for cid, d in EVIDENCE_VIOLATIONS.items()],
    ids=list(EVIDENCE_VIOLATIONS),
    indirect=["fake_server"],
)
def test_a_wire_violation_in_the_evidence_makes_the_row_violated(
    fake_server: Any, harness: Any, case_id: str
) -> None:
    result = harness.run(case_id)
    recorded = [v for item in result.evidence["requests"] for v in item.get("protocol", [])]
    assert recorded, "the deviation must show in the row's evidence"
    assert result.observed == "violated", result.message
    assert result.outcome == "fail"
    assert "conforms" not in result.message.split(" — ")[0].split("(the check alone")[0]
    listed = " ".join(result.evidence["violations"])
    assert any(v in listed for v in recorded)


@pytest.mark.deviations("openai_errors")
def test_auth_errors_row_names_the_missing_envelope(harness: Any) -> None:
    result = harness.run("protocol.auth_errors")
    assert result.observed == "violated"
    assert any("'type' is a required property" in v for v in result.evidence["violations"])


# --- the Claude Code rows: each deviation says what it broke ------------------------------

CLAUDE_CODE_MESSAGES = [
    ("zero_input_tokens", "claude_code.usage.input_tokens", "prompt's tokens are 0"),
    ("zero_input_tokens", "claude_code.usage.stream", "message_start.usage.input_tokens"),
    ("stream_past_max_tokens", "claude_code.usage.stream", "text deltas for max_tokens 6"),
    ("zero_input_tokens", "claude_code.usage.uncached", "input_tokens 0 for a prompt no cache"),
    ("zero_input_tokens_as_cache_read", "claude_code.usage.uncached", "cache_read_input_tokens 1"),
    ("zero_input_tokens_as_cache_read", "claude_code.usage.uncached_stream", "input_tokens 0"),
    ("cache_read_left_out", "claude_code.usage.uncached", "sent again adds up to 4 prompt"),
    ("cache_read_left_out", "claude_code.usage.uncached_stream", "it does not remove them"),
    ("no_usage_in_message_delta", "claude_code.usage.stream", "output_tokens is missing"),
    ("drop_input_json_delta", "claude_code.tool_input.stream", "differs from unstreamed"),
    ("tool_index_from_1", "claude_code.tool_input.parallel_stream", "block indices [1, 2]"),
    ("string_tool_input", "claude_code.tool_input.stream", "not a JSON object"),
    ("forced_tool_as_text", "claude_code.tool_input.stream", "never called the tool"),
    ("adaptive_empty_answer", "claude_code.thinking.adaptive", "empty answer"),
    ("reject_context_management", "claude_code.context_management", "Extra inputs"),
    ("context_500", "claude_code.prompt_too_long", "leaks internals"),
    ("truncate_context", "claude_code.prompt_too_long", "no prompt-too-long error"),
    ("openai_errors", "claude_code.prompt_too_long", "'type' is a required property"),
    ("sse_done_sentinel", "claude_code.stream_end", "after message_stop: data: [DONE]"),
    ("drop_images", "claude_code.tool_result.image", "never reached the model"),
    ("cache_billing_block", "claude_code.billing_header.prefix_cache", "costs the prompt cache"),
]


@pytest.mark.parametrize(
    ("fake_server", "case_id", "words"),
    [({d}, cid, w) for d, cid, w in CLAUDE_CODE_MESSAGES],
    ids=[f"{d}-{cid}" for d, cid, _ in CLAUDE_CODE_MESSAGES],
    indirect=["fake_server"],
)
def test_claude_code_rows_name_the_deviation(
    fake_server: Any, harness: Any, case_id: str, words: str
) -> None:
    result = harness.run(case_id)
    assert words in result.message, result.message


# (usage of the fresh request, of the repeat) -> the violation named, or None: 800 words
# behind the code, so at least 400 uncached tokens (settings: usage.min_tokens_per_word 0.5).
UNCACHED_USAGE = [
    ({"input_tokens": 1000}, {"input_tokens": 1000}, None),  # no cache at all
    ({"input_tokens": 990, "cache_read_input_tokens": 10},  # the template's few tokens
     {"input_tokens": 1, "cache_read_input_tokens": 999}, None),  # llama-server's repeat
    ({"input_tokens": 5, "cache_creation_input_tokens": 995},  # Anthropic with the marker
     {"input_tokens": 5, "cache_read_input_tokens": 995}, None),
    ({"input_tokens": 1, "cache_read_input_tokens": 999}, {"input_tokens": 1000},
     "1 uncached prompt tokens (input_tokens 1 + cache_creation_input_tokens 0) for the 800 "
     "words behind a code no cache holds: at least 400"),  # a cached answer to a fresh prompt
    ({"input_tokens": 0, "cache_creation_input_tokens": 1000}, {"input_tokens": 1000},
     "input_tokens 0 for a prompt no cache can hold"),
    ({"cache_read_input_tokens": 1000}, {"input_tokens": 1000}, "input_tokens is None"),
    ({"input_tokens": 1000}, {"input_tokens": 1}, "sent again adds up to 1 prompt tokens"),
    ({"input_tokens": 1000}, {}, "sent again reports no input_tokens"),
]  # fmt: skip


@pytest.mark.parametrize(("first", "again", "named"), UNCACHED_USAGE)
def test_uncached_usage_is_judged_by_each_of_its_checks(
    first: dict[str, int], again: dict[str, int], named: str | None
) -> None:
    from conformance.oracles.uncached import _uncached_found
    from conformance.probe import Probe
    from conftest import settings_for_tests

    p = Probe("t", "m", {}, None, settings_for_tests())  # type: ignore[arg-type]
    found = _uncached_found(p, first, again, 800)
    assert found == [] if named is None else any(named in f for f in found), found


def test_a_stream_without_message_start_is_named_by_the_uncached_stream_row() -> None:
    """What live llama-server once sent for a one-token stream whose token gave no text:
    message_delta and message_stop only. The client has no prompt usage at all."""
    import json

    from conformance.exchange import Exchange
    from conformance.oracles.uncached import uncached_stream
    from conformance.probe import Probe
    from conftest import repo_cases, settings_for_tests

    delta = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
             "usage": {"output_tokens": 1}}  # fmt: skip
    raw = f"event: message_delta\ndata: {json.dumps(delta)}\n\n".encode()
    raw += b'event: message_stop\ndata: {"type": "message_stop"}\n\n'

    class Canned(Probe):
        def send(self, label: str, body: Any, **kwargs: Any) -> Exchange:
            ex = Exchange("POST", "/v1/messages", {}, body, 200,
                          {"content-type": "text/event-stream"}, raw)  # fmt: skip
            self.exchanges.append((label, ex))
            return ex

    cases, _ = repo_cases()
    p = Canned("claude_code.usage.uncached_stream", "m", {}, None, settings_for_tests())  # type: ignore[arg-type]
    obs = uncached_stream(p, cases["claude_code.usage.uncached_stream"])
    assert obs.observed is Observed.VIOLATED
    assert "the fresh prompt's stream has no message_start with usage" in obs.message
    assert "the repeated stream has no message_start with usage" in obs.evidence["violations"]


def test_leak_pattern_finds_traces_and_paths_not_prose() -> None:
    from conformance.oracles.usage import LEAKS

    leaky = [
        'Traceback (most recent call last):\n  File "/app/x.py", line 1',
        "at handler (/usr/lib/node_modules/litellm/proxy.js:10:5)",
        "goroutine 17 [running]:",
        "open /home/runner/models/smollm2.gguf: no such file",
    ]
    clean = ["Internal server error", "upstream returned 500: model overloaded", "a/b/c path"]
    assert all(LEAKS.search(t) for t in leaky)
    assert not any(LEAKS.search(t) for t in clean)


@pytest.mark.deviations("named_as_any")
def test_the_named_row_tells_another_tool_from_the_named_one(harness: Any) -> None:
    """A named choice answered with some tool (the one the prompt asks for) is not honored,
    and the message names the tool that was called instead."""
    result = harness.run("tool_choice.tool")
    assert result.observed == "ignored", result.message
    assert "get_time called in 0/2" in result.message
    assert "another tool (get_weather) called in 2/2" in result.message
    assert result.evidence["names"] == ["get_weather", "get_weather"]


def test_the_named_row_passes_when_the_named_tool_is_called(harness: Any) -> None:
    result = harness.run("tool_choice.tool")
    assert result.observed == "honored", result.message
    assert result.evidence["names"] == ["get_time", "get_time"]


@pytest.mark.deviations("none_call_as_text")
def test_a_call_written_as_text_under_none_is_not_honored(harness: Any) -> None:
    result = harness.run("tool_choice.none")
    assert result.observed == "ignored", result.message
    assert "the call came back as text in 2/2" in result.message
    assert result.evidence["tool_uses_per_trial"] == [0, 0]
    assert len(result.evidence["call_markup_in_text"]) == 2


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>', True),
        ('{"name": "get_weather", "arguments": {"city": "Paris"}}', True),
        ("Tool usage:\nTool: get_weather\nArguments: {}", True),  # claude-code-proxy
        ("get_weather(city='Paris')", True),
        ("I cannot use the get_weather tool right now. It is sunny in Paris.", False),
        ("Hello! How can I help?", False),
    ],
)
def test_call_markup_is_told_from_prose(text: str, found: bool) -> None:
    from conformance.oracles.tools import call_markup

    assert (call_markup(text, ["get_weather"]) is not None) is found


# --- the surface rows (issue 24): each verdict says what it saw ----------------------------

SURFACE_MESSAGES = [
    (set(), "extras.output_config.format", "schema-valid answers 2/2, control (no format) 0/2"),
    ({"ignore_output_format"}, "extras.output_config.format", "the format was not enforced"),
    (set(), "extras.tools.strict", "2/2 forced calls, 0 with invalid input"),
    ({"ignore_strict"}, "extras.tools.strict", "strict did not hold"),
    ({"reject_eager_input_streaming"}, "extras.tools.eager_input_streaming", "Extra inputs"),
    (set(), "extras.tools.defer_loading", "prompt shrank by"),
    ({"load_deferred_tools"}, "extras.tools.defer_loading", "put in all the same"),
    ({"drop_tools"}, "extras.tools.defer_loading", "even when it is not deferred"),
    ({"reject_defer_loading"}, "claude_code.tool_search.defer_loading", "defer_loading: Extra"),
    (set(), "extras.anthropic-beta.unknown", "Unexpected value(s)"),
    ({"ignore_unknown_betas"}, "extras.anthropic-beta.unknown", "passed over"),
    (set(), "extras.unknown_field", "zz_unknown_field_2099: Extra inputs are not permitted"),
    (set(), "extras.max_tokens.above_limit", "maximum allowed number of output tokens"),
    ({"small_output_limit"}, "claude_code.max_tokens", "8192"),
    (set(), "extras.stop_reason.model_context_window_exceeded", "Claude Code acts on)"),
    ({"openai_errors"}, "extras.stop_reason.model_context_window_exceeded", "not the 400"),
    ({"context_window_stop"}, "extras.stop_reason.model_context_window_exceeded", "conforms"),
    ({"truncate_context"}, "extras.stop_reason.model_context_window_exceeded", "prompt was cut"),
    (set(), "extras.stop_reason.refusal", "no probe here provokes one"),
    (set(), "extras.cache_control.automatic", "marker made a cache entry"),
]


@pytest.mark.parametrize(
    ("fake_server", "case_id", "words"),
    [(d, cid, w) for d, cid, w in SURFACE_MESSAGES],
    ids=[f"{'+'.join(sorted(d)) or 'clean'}-{cid}" for d, cid, _ in SURFACE_MESSAGES],
    indirect=["fake_server"],
)
def test_surface_rows_name_what_they_saw(
    fake_server: Any, harness: Any, case_id: str, words: str
) -> None:
    result = harness.run(case_id)
    assert words in result.message, result.message


def _stop_case(reason: str, prompt: str) -> Case:
    return Case(
        id=f"test.stop_reason.{reason}",
        table="Test",
        row=f"stop_reason {reason}",
        oracle="stop_reason",
        declared={"anthropic": "honored"},
        why="cannot be provoked here",
        probe={"prompt": prompt},
        params={"reason": reason},
    )


@pytest.mark.parametrize(
    ("fake_server", "reason", "observed"),
    [({"rare_stop_reasons"}, "refusal", "honored"),
     ({"rare_stop_reasons"}, "pause_turn", "honored"),
     (set(), "refusal", "inconclusive"),
     (set(), "pause_turn", "inconclusive")],
    indirect=["fake_server"],
)  # fmt: skip
def test_rare_stop_reasons_are_judged(
    fake_server: Any, harness: Any, reason: str, observed: str
) -> None:
    """Where the endpoint does answer a rare stop reason, the answer (stop_details included)
    is checked against the wire contract and the pinned SDK; else the row is inconclusive."""
    result = harness.run(_stop_case(reason, f"[[{reason}]] Reply with OK."))
    assert result.observed == observed, result.message
    if observed == "honored":
        assert result.evidence["stop_reason"] == reason
        assert result.evidence["official_client"] == "loads it"
        assert (result.evidence["stop_details"] is not None) is (reason == "refusal")
    else:
        assert "cannot be provoked here" in result.message


def test_an_unknown_value_is_not_blamed_for_a_request_refused_without_it(harness: Any) -> None:
    """A 4xx counts against the unknown field only when the request without it passes."""
    case = Case(
        id="test.unknown_input.both_refused",
        table="Test",
        row="unknown field beside a bad value",
        oracle="unknown_input",
        declared={"anthropic": "rejected"},
        probe={"zz_unknown_field_2099": 1, "temperature": 5},
        control={"zz_unknown_field_2099": None},
    )
    result = harness.run(case)
    assert result.observed == "inconclusive", result.message
    assert "refused without the unknown value too (400)" in result.message


def test_a_probe_body_shares_no_container_with_its_layers_or_the_target() -> None:
    """Probe.body() no longer deep-copies its layers first: resolving placeholders builds
    every mapping and list anew (and copies anything else that could change in place), so
    editing a body, as bisection and the oracles do, never edits a case, a shape or the
    target's extra fields."""
    import copy

    from conformance.probe import Probe
    from conftest import settings_for_tests

    extra = {"metadata": {"user_id": "u-{{K}}", "tags": ["a", {"b": [1]}]}}
    layers = [
        {"system": [{"type": "text", "text": "s {{N}}"}], "tools": [{"name": "t", "x": (1, [2])}]},
        {"prompt": [{"type": "text", "text": "hi"}], "stop_sequences": ["{{S}}"], "odd": {3}},
        {"metadata": {"user_id": "v"}, "max_tokens": None},
    ]
    before = copy.deepcopy((extra, layers))
    p = Probe("t.case", "m", extra, None, settings_for_tests())  # type: ignore[arg-type]
    body = p.body(*layers)
    assert "{{" not in str(body) and "max_tokens" not in body, body

    def scramble(value: Any) -> None:
        if isinstance(value, dict):
            for v in list(value.values()):
                scramble(v)
            value["changed"] = True
        elif isinstance(value, list):
            for v in value:
                scramble(v)
            value.append("changed")
        elif isinstance(value, tuple):
            for v in value:
                scramble(v)
        elif isinstance(value, set):
            value.add("changed")

    scramble(body)
    assert (extra, layers) == before
