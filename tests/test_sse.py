"""The SSE parser, grammar checker and accumulator, on streams built by hand.

Each deviation test changes one thing in a canonical stream and asserts the specific
violation, so a checker that stops noticing it (or reports something else) fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import sse


def frame(name: str | None, data: dict[str, Any] | str, sep: str = "\n") -> str:
    """One SSE event; ``name=None`` leaves out the ``event:`` line."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}{sep}" if name is not None else ""
    return f"{head}data: {text}{sep}{sep}"


def ev(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An event named after its data's type, as the API sends it."""
    return data["type"], data


def start(message: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    base = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "test-model",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    return ev({"type": "message_start", "message": {**base, **(message or {})}})


def block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ev({"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ev({"type": "content_block_delta", "index": index, "delta": payload})


def block_stop(index: int) -> tuple[str, dict[str, Any]]:
    return ev({"type": "content_block_stop", "index": index})


def message_delta(
    stop_reason: str | None = "end_turn", usage: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
    }
    if usage is not None:
        data["usage"] = usage
    return ev(data)


STOP = ev({"type": "message_stop"})
PING = ev({"type": "ping"})


def text_events() -> list[tuple[str | None, Any]]:
    return [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        PING,
        delta(0, {"type": "text_delta", "text": "Hello"}),
        delta(0, {"type": "text_delta", "text": ", world"}),
        block_stop(0),
        message_delta(usage={"output_tokens": 7}),
        STOP,
    ]


def tool_events(fragments: list[str]) -> list[tuple[str | None, Any]]:
    tool = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}
    return [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Checking."}),
        block_stop(0),
        block_start(1, tool),
        *[delta(1, {"type": "input_json_delta", "partial_json": f}) for f in fragments],
        block_stop(1),
        message_delta("tool_use", {"output_tokens": 20}),
        STOP,
    ]


def encode(events: list[tuple[str | None, Any]], sep: str = "\n") -> bytes:
    return "".join(frame(name, data, sep) for name, data in events).encode()


def problems(events: list[tuple[str | None, Any]]) -> list[str]:
    return sse.check_grammar(sse.parse(encode(events)))


# --- parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r"])
def test_parse_splits_on_every_blank_line_style(sep: str) -> None:
    events = sse.parse(encode(text_events(), sep))
    assert [e.name for e in events] == [name for name, _ in text_events()]
    assert events[3].data == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hello"},
    }


def test_parse_joins_multiline_data_and_skips_comments() -> None:
    raw = b': keep-alive\n\nevent: ping\n: note\ndata: {"type":\ndata:  "ping"}\n\n'
    events = sse.parse(raw)
    assert len(events) == 1
    assert events[0].data == {"type": "ping"}
    assert events[0].raw.startswith("event: ping\n: note\n")


def test_parse_reports_bad_utf8_and_non_json_instead_of_raising() -> None:
    events = sse.parse(b'event: x\ndata: {"type": "x\xff"}\n\nevent: y\ndata: nope\n\n')
    assert events[0].data_error == "invalid UTF-8 at byte 26 of the event"
    assert events[1].data is None
    assert events[1].data_error == "data is not JSON: 'nope'"


def test_parse_keeps_an_unterminated_last_event_but_flags_it() -> None:
    raw = encode(text_events())[:-1]
    events = sse.parse(raw)
    assert events[-1].terminated is False
    assert "event 7: not ended by a blank line, so clients drop it" in sse.check_grammar(events)


# --- grammar --------------------------------------------------------------------------------


def test_canonical_text_stream_is_conformant() -> None:
    assert problems(text_events()) == []


def test_canonical_tool_stream_is_conformant() -> None:
    assert problems(tool_events(["", '{"city": ', '"Paris"}'])) == []


def test_missing_event_lines() -> None:
    events = [(None, data) for _, data in text_events()]
    found = problems(events)
    assert "event 0: no event: line (data.type 'message_start'); the SDK drops such events" in found
    assert len([p for p in found if "no event: line" in p]) == len(events)


def test_event_name_differs_from_data_type() -> None:
    events = text_events()
    events[3] = ("text_delta", events[3][1])
    assert problems(events) == [
        "event 3: event: 'text_delta' but data.type is 'content_block_delta'"
    ]


def test_block_index_starting_at_one() -> None:
    events = [
        start(),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "hi"}),
        block_stop(1),
        message_delta(usage={"output_tokens": 2}),
        STOP,
    ]
    assert problems(events) == ["event 1: content_block_start index 1, expected 0"]


def test_delta_before_start() -> None:
    events = text_events()
    events.insert(1, delta(0, {"type": "text_delta", "text": "early"}))
    assert problems(events) == [
        "event 1: content_block_delta for index 0 but block 0 was never started"
    ]


def test_delta_after_stop() -> None:
    events = text_events()
    events.insert(6, delta(0, {"type": "text_delta", "text": "late"}))
    assert problems(events) == ["event 6: content_block_delta for block 0, which is closed"]


def test_nested_block_start() -> None:
    events = text_events()
    events.insert(2, block_start(1, {"type": "text", "text": ""}))
    assert "event 2: block 1 starts while block 0 is open" in problems(events)


def test_text_delta_in_tool_use_block() -> None:
    events = tool_events(['{"city": "Paris"}'])
    events.insert(6, delta(1, {"type": "text_delta", "text": "oops"}))
    assert problems(events) == ["event 6: text_delta in a tool_use block (index 1)"]


def test_message_delta_without_usage() -> None:
    events = text_events()
    events[6] = message_delta(usage=None)
    assert problems(events) == ["event 6: message_delta without usage.output_tokens"]


def test_no_stop_reason_anywhere() -> None:
    events = text_events()
    events[6] = message_delta(None, {"output_tokens": 7})
    assert problems(events) == ["no message_delta with a non-null stop_reason"]


def test_message_stop_missing() -> None:
    assert problems(text_events()[:-1]) == ["stream does not end with message_stop"]


def test_done_sentinel() -> None:
    raw = encode(text_events()) + b"data: [DONE]\n\n"
    found = sse.check_grammar(sse.parse(raw))
    assert found == ["event 8: data: [DONE] sentinel (OpenAI style); the stream must just end"]


def test_events_after_message_stop() -> None:
    assert problems([*text_events(), PING]) == ["event 8: ping after message_stop"]


def test_not_starting_with_message_start() -> None:
    events = text_events()
    assert "event 0: stream starts with content_block_start, expected message_start" in problems(
        events[1:2] + events
    )


def test_ping_before_message_start_is_tolerated() -> None:
    # LiteLLM pings first when its upstream is slow; the SDK skips pings wherever they are.
    assert problems([PING, *text_events()]) == []


def test_message_start_must_have_empty_content_and_input_tokens() -> None:
    events = text_events()
    events[0] = start({"content": [{"type": "text", "text": "x"}], "usage": {"output_tokens": 1}})
    assert problems(events) == [
        "event 0: message_start message.content is not []",
        "event 0: message_start message.usage.input_tokens missing",
    ]


def test_unknown_event_types_are_tolerated() -> None:
    events = text_events()
    events.insert(2, ev({"type": "content_block_hint", "index": 0}))
    assert problems(events) == []


def test_error_event_ends_the_stream_without_violations() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*text_events()[:4], ev(error)]
    parsed = sse.parse(encode(events))
    assert sse.check_grammar(parsed) == []
    assert sse.stream_error(parsed) == error
    assert sse.stream_error(sse.parse(encode(text_events()))) is None


def test_events_after_an_error_event_are_reported() -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    events = [*text_events()[:4], ev(error), STOP]
    assert problems(events) == ["event 5: message_stop after the error event"]


def test_double_encoded_tool_input_is_reported() -> None:
    encoded = json.dumps(json.dumps({"city": "Paris"}))  # a JSON string holding JSON
    assert problems(tool_events([encoded])) == [
        "block 1: partial_json is a JSON string, not an object"
    ]


def test_unparseable_tool_input_is_reported() -> None:
    found = problems(tool_events(['{"city": "Par']))
    assert len(found) == 1
    assert found[0].startswith("block 1: partial_json does not parse (")


# --- accumulate -----------------------------------------------------------------------------


def test_accumulate_text_stream() -> None:
    message = sse.accumulate(sse.parse(encode(text_events())))
    assert message["content"] == [{"type": "text", "text": "Hello, world"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {"input_tokens": 12, "output_tokens": 7}


def test_accumulate_reassembles_tool_input_from_fragments() -> None:
    events = sse.parse(encode(tool_events(["", '{"city": ', '"Paris", "days": [1,', " 2]}"])))
    message = sse.accumulate(events)
    assert message["content"][1]["input"] == {"city": "Paris", "days": [1, 2]}
    assert message["content"][0]["text"] == "Checking."
    assert message["stop_reason"] == "tool_use"


def test_accumulate_keeps_start_input_when_no_fragments() -> None:
    events = tool_events([])
    events[4] = block_start(
        1, {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {"whole": True}}
    )
    assert sse.accumulate(sse.parse(encode(events)))["content"][1]["input"] == {"whole": True}


def test_accumulate_double_encoded_input_becomes_a_string() -> None:
    encoded = json.dumps(json.dumps({"city": "Paris"}))
    message = sse.accumulate(sse.parse(encode(tool_events([encoded]))))
    assert message["content"][1]["input"] == '{"city": "Paris"}'


def test_accumulate_merges_delta_usage_over_start_usage() -> None:
    events = text_events()
    events[0] = start(
        {"usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 4}}
    )
    events[6] = message_delta("max_tokens", {"output_tokens": 9, "input_tokens": None})
    usage = sse.accumulate(sse.parse(encode(events)))["usage"]
    assert usage == {"input_tokens": 12, "output_tokens": 9, "cache_read_input_tokens": 4}


def test_accumulate_thinking_block() -> None:
    events = [
        start(),
        block_start(0, {"type": "thinking", "thinking": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        delta(0, {"type": "thinking_delta", "thinking": "think."}),
        delta(0, {"type": "signature_delta", "signature": "sig=="}),
        block_stop(0),
        message_delta(usage={"output_tokens": 5}),
        STOP,
    ]
    assert problems(events) == []
    block = sse.accumulate(sse.parse(encode(events)))["content"][0]
    assert block == {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="}


def test_plain_json_body_is_not_an_event_stream() -> None:
    raw = json.dumps({"id": "msg_01", "type": "message"}, indent=1).encode()
    assert sse.check_grammar(sse.parse(raw)) == [
        'no data: lines, not an event stream (body starts \'{\\n "id": "msg_01",\\n "type": '
        '"message"\\n}\')'
    ]
