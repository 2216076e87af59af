"""Wire checks: Message, error, count_tokens, models list, streams, and the SDK check.

Bodies and streams are built by hand; each deviation test asserts the specific message so a
check that goes quiet or vague fails.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import protocol

MESSAGE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "model": "test-model",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 12},
}


def message(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(MESSAGE)
    body.update(changes)
    return body


def sse_bytes(*events: dict[str, Any], named: bool = True) -> bytes:
    """A stream whose event names equal each data's type (or no ``event:`` lines at all)."""
    out = ""
    for data in events:
        out += (f"event: {data['type']}\n" if named else "") + f"data: {json.dumps(data)}\n\n"
    return out.encode()


def stream(tool_fragments: list[str], *, first_block: dict[str, Any] | None = None) -> bytes:
    """message_start, a text block (or ``first_block``), a tool_use block fed by fragments."""
    start = {**copy.deepcopy(MESSAGE), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": 30, "output_tokens": 1}
    first = first_block or {"type": "text", "text": ""}
    first_deltas = (
        [
            {"type": "thinking_delta", "thinking": "hmm"},
            {"type": "signature_delta", "signature": "s"},
        ]
        if first["type"] == "thinking"
        else [{"type": "text_delta", "text": "Let me check."}]
    )
    return sse_bytes(
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": first},
        *[{"type": "content_block_delta", "index": 0, "delta": d} for d in first_deltas],
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {},
            },
        },
        *[
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": f},
            }
            for f in tool_fragments
        ],
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 12},
        },
        {"type": "message_stop"},
    )


CANONICAL_STREAM = stream(["", '{"city": ', '"Paris"}'])
DOUBLE_ENCODED_STREAM = stream([json.dumps(json.dumps({"city": "Paris"}))])


def error_body(error_type: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": "x"}, "request_id": "req_1"}


# --- Message -----------------------------------------------------------------------------------


def test_canonical_message_passes() -> None:
    assert protocol.check_message(MESSAGE, max_tokens=100) == []


def test_tool_input_as_string_names_the_block() -> None:
    body = message()
    body["content"][1]["input"] = '{"city": "Paris"}'
    assert protocol.check_message(body) == [
        "content[1] (tool_use): 'input' is a string, expected object"
    ]


def test_missing_wire_keys_are_reported() -> None:
    body = message()
    del body["stop_sequence"], body["stop_reason"]
    assert protocol.check_message(body) == [
        "'stop_reason' is a required property",
        "'stop_sequence' is a required property",
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"stop_reason": None}, "stop_reason is null in a complete message"),
        ({"stop_reason": "stop"}, "'stop_reason' is 'stop', expected one of ["),
        ({"type": "chat.completion"}, "'type' is 'chat.completion', expected 'message'"),
        ({"role": "user"}, "'role' is 'user', expected 'assistant'"),
        (
            {"usage": {"input_tokens": "30", "output_tokens": 1}},
            "'usage.input_tokens' is a string, expected integer",
        ),
        (
            {"usage": {"input_tokens": 30, "output_tokens": -1}},
            "usage.output_tokens is -1, expected >= 0",
        ),
        (
            {"usage": {"input_tokens": 30, "output_tokens": 101}},
            "usage.output_tokens 101 exceeds max_tokens 100",
        ),
        (
            {"content": [{"type": "reasoning_content", "text": "x"}]},
            "content[0]: unknown type 'reasoning_content'; expected one of 'text', ",
        ),
        (
            {"content": [{"type": "thinking", "thinking": "x"}]},
            "content[0] (thinking): 'signature' is a required property",
        ),
        (
            {"content": [{"type": "tool_use", "id": "call 1", "name": "f", "input": {}}]},
            "content[0] (tool_use): id 'call 1' does not match ^[a-zA-Z0-9_-]+$",
        ),
    ],
)
def test_message_deviation(changes: dict[str, Any], expected: str) -> None:
    found = protocol.check_message(message(**changes), max_tokens=100)
    assert len(found) == 1, found
    assert found[0].startswith(expected)


def test_non_object_body() -> None:
    assert protocol.check_message([MESSAGE]) == ["body is an array, expected a Message object"]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        *protocol.ERROR_TYPE_FOR_STATUS.items(),
        (404, "invalid_request_error"),
        (422, "invalid_request_error"),
        (503, "overloaded_error"),
    ],
)
def test_documented_error_envelopes_pass(status: int, error_type: str) -> None:
    assert protocol.check_error(status, error_body(error_type), b"") == []


def test_openai_shaped_error() -> None:
    found = protocol.check_error(400, {"error": {"message": "bad", "code": 400}}, b"")
    assert found[0] == "'type' is a required property"
    assert found[1].startswith("error: no 'type'; expected one of 'invalid_request_error'")
    assert len(found) == 2


def test_500_with_invalid_request_error() -> None:
    assert protocol.check_error(500, error_body("invalid_request_error"), b"") == [
        "HTTP 500 with error.type 'invalid_request_error', expected 'api_error'"
    ]


def test_4xx_type_on_unmapped_5xx() -> None:
    assert protocol.check_error(502, error_body("not_found_error"), b"") == [
        "HTTP 502 with error.type 'not_found_error', expected a 5xx type"
    ]


def test_html_error_body() -> None:
    raw = b"<html><head><title>502 Bad Gateway</title></head></html>"
    assert protocol.check_error(502, None, raw) == [
        "HTTP 502 body is HTML, expected an error object: '<html><head><title>502 Bad Gateway"
        "</title></head></html>'"
    ]


def test_empty_error_body() -> None:
    assert protocol.check_error(503, None, b"") == [
        "HTTP 503 with an empty body, expected an error object"
    ]


def test_unknown_error_type_and_error_with_200() -> None:
    found = protocol.check_error(200, error_body("server_error"), b"")
    assert found[0] == "error body sent with HTTP 200; clients take it for a success"
    assert found[1].startswith("error: unknown type 'server_error'")


# --- count_tokens, models -----------------------------------------------------------------


def test_count_tokens() -> None:
    assert protocol.check_count_tokens({"input_tokens": 14}) == []
    assert protocol.check_count_tokens({"input_tokens": -1}) == [
        "input_tokens is -1, expected >= 0"
    ]
    assert protocol.check_count_tokens({"tokens": 14}) == ["'input_tokens' is a required property"]


def test_models_list() -> None:
    model = {
        "id": "m1",
        "type": "model",
        "display_name": "M1",
        "created_at": "2025-02-19T00:00:00Z",
    }
    page = {"data": [model], "has_more": False, "first_id": "m1", "last_id": "m1"}
    assert protocol.check_models_list(page) == []
    openai_page = {"object": "list", "data": [{"id": "m1", "object": "model", "owned_by": "x"}]}
    assert protocol.check_models_list(openai_page) == [
        "'has_more' is missing",
        "'first_id' is missing",
        "'last_id' is missing",
        "data[0]: 'type' is a required property",
        "data[0]: 'display_name' is a required property",
        "data[0]: 'created_at' is a required property",
    ]


# --- streams ------------------------------------------------------------------------------


def test_canonical_stream_passes_and_accumulates() -> None:
    found, accumulated = protocol.check_stream(CANONICAL_STREAM, max_tokens=100)
    assert found == []
    assert accumulated is not None
    assert accumulated["content"] == MESSAGE["content"]
    assert accumulated["usage"] == MESSAGE["usage"]


def test_a_stream_still_judged_past_the_row_budget_stops_being_judged() -> None:
    """Issue 25: the row budget covers judging, not only the wire. Past the row's deadline
    the stream's events stop being checked, and no accumulated Message is returned."""
    import time

    from conformance import transport

    transport.row.at = time.monotonic() - 1
    try:
        found, accumulated = protocol.check_stream(CANONICAL_STREAM, max_tokens=100)
    finally:
        transport.row.at = None
    assert accumulated is None
    assert found == ["event 0: the row time budget ran out; events from here not checked"]


def test_thinking_block_may_start_without_signature() -> None:
    # The docs' example omits `signature` in content_block_start; the overlay relaxes that
    # there only (a final Message still needs it, see test_message_deviation).
    raw = stream(['{"city": "Paris"}'], first_block={"type": "thinking", "thinking": ""})
    found, accumulated = protocol.check_stream(raw)
    assert found == []
    assert accumulated is not None
    assert accumulated["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "s"}


def test_thinking_block_must_end_with_a_signature() -> None:
    raw = stream(['{"city": "Paris"}'], first_block={"type": "thinking", "thinking": ""})
    raw = raw.replace(
        b'{"type": "signature_delta", "signature": "s"}',
        b'{"type": "thinking_delta", "thinking": "!"}',
    )
    assert protocol.check_stream(raw)[0] == [
        "accumulated message: content[0] (thinking): 'signature' is a required property"
    ]


def test_double_encoded_stream_input_is_caught_twice() -> None:
    found, accumulated = protocol.check_stream(DOUBLE_ENCODED_STREAM)
    assert accumulated is not None
    assert accumulated["content"][1]["input"] == '{"city": "Paris"}'
    assert found == [
        "block 1: partial_json is a JSON string, not an object",
        "accumulated message: content[1] (tool_use): 'input' is a string, expected object",
    ]


def test_event_payload_is_schema_checked() -> None:
    raw = CANONICAL_STREAM.replace(b'"text": "Let me check."', b'"text": 42')
    assert protocol.check_stream(raw)[0] == [
        "event 2 (content_block_delta): delta (text_delta): 'text' is an integer, expected string"
    ]


def test_stream_ending_in_error_returns_no_message() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    raw = CANONICAL_STREAM.split(b"event: content_block_stop")[0] + sse_bytes(error)
    assert protocol.check_stream(raw) == ([], None)


def test_stream_error_event_payload_is_checked() -> None:
    raw = CANONICAL_STREAM.split(b"event: content_block_stop")[0] + sse_bytes(
        {"type": "error", "error": {"message": "Overloaded"}}
    )
    found, _ = protocol.check_stream(raw)
    assert len(found) == 1
    assert found[0].startswith("event 3 (error): error: no 'type'")


# --- the official SDK -------------------------------------------------------------------------


def test_sdk_loads_canonical_message_and_rejects_string_input() -> None:
    pytest.importorskip("anthropic")
    assert protocol.sdk_load_message(MESSAGE) is None
    body = message()
    body["content"][1]["input"] = "{}"
    error = protocol.sdk_load_message(body)
    assert error is not None
    assert error.startswith("ValidationError: content.1.ToolUseBlock.input: Input should be")


def test_sdk_loads_canonical_stream() -> None:
    pytest.importorskip("anthropic")
    assert protocol.sdk_load_stream(CANONICAL_STREAM) is None


def test_sdk_rejects_data_only_stream() -> None:
    pytest.importorskip("anthropic")
    events = [
        json.loads(line[6:])
        for line in CANONICAL_STREAM.decode().splitlines()
        if line.startswith("data: ")
    ]
    assert protocol.sdk_load_stream(sse_bytes(*events, named=False)) == "AssertionError"


def test_sdk_rejects_double_encoded_tool_input() -> None:
    pytest.importorskip("anthropic")
    error = protocol.sdk_load_stream(DOUBLE_ENCODED_STREAM)
    assert error is not None
    assert "ToolUseBlock.input" in error


def test_sdk_raises_on_stream_error_event() -> None:
    pytest.importorskip("anthropic")
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    raw = CANONICAL_STREAM.split(b"event: content_block_stop")[0] + sse_bytes(error)
    result = protocol.sdk_load_stream(raw)
    assert result is not None
    assert result.startswith("APIStatusError: ")


def test_missing_sdk_is_distinguishable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # makes `import anthropic` fail
    with pytest.raises(protocol.SDKUnavailable, match="anthropic SDK not installed"):
        protocol.sdk_load_message(MESSAGE)
    with pytest.raises(protocol.SDKUnavailable):
        protocol.sdk_load_stream(CANONICAL_STREAM)


def test_replay_memoizes_the_sdk_verdicts_and_only_replay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """conformance/sdk.py: a verdict asked again under the memo is not asked of the SDK
    again; an edited memo is ignored; no memo, no reuse; a missing SDK is still missing."""
    pytest.importorskip("anthropic")
    from conformance import sdk

    calls: dict[str, bool] = {}
    try:
        sdk.use_memo(tmp_path)
        first = protocol.sdk_load_stream(CANONICAL_STREAM)
        assert first is None
        (memo,) = tmp_path.glob("verdicts-*.json")
        assert len(json.loads(memo.read_text())["verdicts"]) == 1

        def asked(raw: bytes) -> str:
            calls["asked"] = True
            return "asked the SDK"

        monkeypatch.setattr(sdk, "_load_stream", asked)
        assert protocol.sdk_load_stream(CANONICAL_STREAM) is None  # from the memo
        assert "asked" not in calls
        assert protocol.sdk_load_stream(CANONICAL_STREAM + b"\n") == "asked the SDK"  # new bytes

        sdk.use_memo(tmp_path)  # a second process reads what the first wrote
        assert protocol.sdk_load_stream(CANONICAL_STREAM) is None
        doc = json.loads(memo.read_text())
        doc["verdicts"] = {k: 3 for k in doc["verdicts"]}  # not a verdict: ignored, rebuilt
        memo.write_text(json.dumps(doc))
        sdk.use_memo(tmp_path)
        assert protocol.sdk_load_stream(CANONICAL_STREAM) == "asked the SDK"

        sdk.use_memo(None)  # live and record: every answer goes to the SDK
        assert protocol.sdk_load_stream(CANONICAL_STREAM + b"\n") == "asked the SDK"

        sdk.use_memo(tmp_path)
        monkeypatch.setitem(sys.modules, "anthropic", None)
        with pytest.raises(protocol.SDKUnavailable):
            protocol.sdk_load_message(MESSAGE)
    finally:
        sdk.use_memo(None)


# --- the vendored schemas --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Message", "RawMessageStreamEvent", "ErrorResponse", "MessageTokensCount", "ModelInfo"]
)
def test_vendored_schemas_are_what_the_pinned_sdk_generates(name: str) -> None:
    anthropic = pytest.importorskip("anthropic")
    pydantic = pytest.importorskip("pydantic")
    shared = pytest.importorskip("anthropic.types.shared")

    vendored = protocol.load_schema(name)
    assert f"anthropic=={anthropic.__version__}" in vendored.pop("$comment")
    module = shared if name == "ErrorResponse" else anthropic.types
    assert vendored == pydantic.TypeAdapter(getattr(module, name)).json_schema()


# --- issue 26: which 4xx is the endpoint's own refusal --------------------------------------


@pytest.mark.parametrize(
    ("body", "envelope"),
    [
        ({"type": "error", "error": {"type": "invalid_request_error", "message": "x"}}, True),
        ({"error": {"message": "bad", "type": "invalid_request_error", "code": 400}}, True),
        ({"error": {"code": 400, "message": "Field 'temperature': bad"}}, True),
        ({"detail": [{"loc": ["body", "messages", 0], "msg": "bad", "type": "x"}]}, True),
        ({"detail": "Not Found"}, False),
        ({"message": "Route GET:/v1/models not found", "error": "Not Found"}, False),
        ({"error": {"code": 404}}, False),
        ({"detail": []}, False),
        (["error"], False),
        (None, False),
    ],
)
def test_only_an_api_error_envelope_is_a_refusal(body: Any, envelope: bool) -> None:
    from conformance.exchange import Exchange, api_error_envelope

    assert api_error_envelope(body) is envelope
    ex = Exchange("POST", "/v1/messages", {}, {}, status=400, json=body, raw=b"{}")
    assert ex.api_shaped is envelope
    # a 4xx is a refusal to the oracles either way; one without an envelope is doubtful: the
    # runner holds it for the endpoint's answer only when the API is there (a control)
    assert ex.client_error and not ex.transport_failure
    assert ex.doubtful is not envelope


def test_an_html_404_is_not_served_and_an_api_404_is_a_refusal() -> None:
    from conformance.exchange import Exchange

    html = Exchange("POST", "/v1/messages", {}, {}, status=404, raw=b"<html>404</html>")
    html.headers = {"content-type": "text/html"}
    assert html.not_served and html.doubtful and not html.unanswered
    api = Exchange(
        "POST", "/v1/messages", {}, {}, status=404,
        json={"type": "error", "error": {"type": "not_found_error", "message": "model: x"}},
    )  # fmt: skip
    assert api.client_error and not api.not_served and not api.doubtful
    crash = Exchange("POST", "/v1/messages", {}, {}, status=500, raw=b"Internal Server Error")
    assert crash.doubtful and not crash.unanswered
    busy = Exchange("POST", "/v1/messages", {}, {}, status=503, raw=b"busy")
    assert busy.unanswered and not busy.doubtful
