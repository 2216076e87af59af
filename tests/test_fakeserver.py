"""The fake endpoint itself: a test double is only useful if it is right.

The official SDK (strict validation) and the suite's wire checks must accept everything the
clean server sends, and its accounting must be self-consistent (count_tokens = usage, a
stream accumulates to the non-streamed message).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conformance import protocol, sse

FAKE_KEY = "sk-fake-test-key-123"
HEADERS = {"x-api-key": FAKE_KEY, "anthropic-version": "2023-06-01"}
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
BODIES = {
    "text": {"messages": [{"role": "user", "content": "Reply with OK."}]},
    "capped": {"max_tokens": 5, "messages": [{"role": "user", "content": "Write a story."}]},
    "stop": {
        "stop_sequences": ["five"],
        "messages": [{"role": "user", "content": "Count from one to ten in words."}],
    },
    "parallel tools": {
        "max_tokens": 160,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Paris, Tokyo and Lima?"}],
    },
    "forced tool": {
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Say hello."}],
    },
    "thinking": {
        "max_tokens": 1100,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "What is 27*453?"}],
    },
}


def post(server: Any, body: dict[str, Any], path: str = "/v1/messages", **headers: str) -> Any:
    full = {"model": "fake-model-1", "max_tokens": 64, **body}
    return httpx.post(server.base_url + path, json=full, headers={**HEADERS, **headers})


@pytest.mark.parametrize("name", list(BODIES))
def test_messages_pass_the_wire_checks_streamed_or_not(fake_server: Any, name: str) -> None:
    body = BODIES[name]
    plain = post(fake_server, body)
    assert plain.status_code == 200, plain.text
    message = plain.json()
    assert protocol.check_message(message, max_tokens=body.get("max_tokens", 64)) == []
    assert protocol.sdk_load_message(message) is None
    streamed = post(fake_server, {**body, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    violations, accumulated = protocol.check_stream(streamed.content)
    assert violations == []
    assert protocol.sdk_load_stream(streamed.content) is None
    for key in ("content", "stop_reason", "stop_sequence", "model", "usage"):
        if key != "content":
            assert accumulated[key] == message[key], key
    strip = [{k: v for k, v in b.items() if k != "id"} for b in message["content"]]
    assert [{k: v for k, v in b.items() if k != "id"} for b in accumulated["content"]] == strip


def test_what_each_body_produces(fake_server: Any) -> None:
    def answer(name: str) -> dict[str, Any]:
        return post(fake_server, BODIES[name]).json()

    assert answer("text")["content"] == [{"type": "text", "text": "OK."}]
    capped = answer("capped")
    assert (capped["stop_reason"], capped["usage"]["output_tokens"]) == ("max_tokens", 5)
    stop = answer("stop")
    assert (stop["stop_reason"], stop["stop_sequence"]) == ("stop_sequence", "five")
    assert stop["content"][0]["text"].split() == ["one", "two", "three", "four"]
    calls = [b["input"] for b in answer("parallel tools")["content"] if b["type"] == "tool_use"]
    assert calls == [{"city": "Paris"}, {"city": "Tokyo"}, {"city": "Lima"}]
    forced = answer("forced tool")
    assert forced["stop_reason"] == "tool_use"
    assert [b["type"] for b in forced["content"]] == ["tool_use"]
    thinking = answer("thinking")
    assert [b["type"] for b in thinking["content"]] == ["thinking", "text"]
    assert thinking["content"][0]["signature"] and thinking["content"][1]["text"] == "12231"


def test_count_tokens_agrees_with_usage(fake_server: Any) -> None:
    body = {"system": "Be terse.", **BODIES["parallel tools"]}
    usage = post(fake_server, body).json()["usage"]
    counted = post(fake_server, body, "/v1/messages/count_tokens").json()
    assert protocol.check_count_tokens(counted) == []
    assert counted["input_tokens"] == usage["input_tokens"] > 0


def test_cache_control_creates_then_reads(fake_server: Any) -> None:
    long_text = " ".join(["word"] * 1200)
    block = {"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}
    body = {"max_tokens": 1, "messages": [{"role": "user", "content": [block]}]}
    first, second = (post(fake_server, body).json()["usage"] for _ in range(2))
    assert first["cache_creation_input_tokens"] > 1024 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert first["input_tokens"] == second["input_tokens"]
    del block["cache_control"]
    third = post(fake_server, body).json()["usage"]
    assert third["cache_read_input_tokens"] == third["cache_creation_input_tokens"] == 0


@pytest.mark.parametrize(
    ("change", "status", "error_type"),
    [
        ({"headers": {"x-api-key": "wrong"}}, 401, "authentication_error"),
        ({"headers": {"anthropic-version": "1999-01-01"}}, 400, "invalid_request_error"),
        ({"headers": {"anthropic-beta": "zz-unknown"}}, 400, "invalid_request_error"),
        ({"body": {"temperature": 1.5}}, 400, "invalid_request_error"),
        ({"body": {"top_k": -1}}, 400, "invalid_request_error"),
        ({"body": {"model": "not-a-model"}}, 404, "not_found_error"),
        ({"body": {"thinking": {"type": "enabled", "budget_tokens": 100}}}, 400, None),
        ({"body": {"messages": [{"role": "user", "content": ""}]}}, 400, None),
        ({"body": {"tools": [WEATHER, WEATHER]}}, 400, None),
        (
            {"body": {"tool_choice": {"type": "tool", "name": "nope"}, "tools": [WEATHER]}},
            400,
            None,
        ),
    ],
    ids=str,
)
def test_invalid_requests_get_anthropic_errors(
    fake_server: Any, change: dict[str, Any], status: int, error_type: str | None
) -> None:
    response = post(
        fake_server, {**BODIES["text"], **change.get("body", {})}, **change.get("headers", {})
    )
    assert response.status_code == status
    assert protocol.check_error(status, response.json(), response.content) == []
    assert response.json()["error"]["type"] == (error_type or "invalid_request_error")


def test_the_official_sdk_works_against_it(fake_server: Any) -> None:
    """SDK 2.x sends Authorization: Bearer and anthropic-version 2026-10-21."""
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(
        api_key=FAKE_KEY, base_url=fake_server.base_url, max_retries=0,
        _strict_response_validation=True,
    )  # fmt: skip
    try:
        message = client.messages.create(
            model="fake-model-1", max_tokens=64, tools=[WEATHER],
            tool_choice={"type": "any"}, messages=[{"role": "user", "content": "Say hello."}],
        )  # fmt: skip
        (call,) = message.content
        assert call.type == "tool_use" and call.input == {"city": "Paris"}
        with client.messages.stream(
            model="fake-model-1", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            assert stream.get_final_message().content[0].text == "OK."
        counted = client.messages.count_tokens(
            model="fake-model-1", messages=[{"role": "user", "content": "Hi"}]
        )
        assert counted.input_tokens > 0
        assert [m.id for m in client.models.list()] == ["fake-model-1"]
        with pytest.raises(anthropic.AuthenticationError):
            client.with_options(api_key="wrong").messages.create(
                model="fake-model-1", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
            )
    finally:
        client.close()
    seen = fake_server.requests[0].headers
    assert seen["authorization"] == f"Bearer {FAKE_KEY}"


@pytest.mark.deviations("sse_no_event_lines", "no_usage_in_message_delta", "string_tool_input")
def test_stream_deviations_are_on_the_wire(fake_server: Any) -> None:
    raw = post(fake_server, {**BODIES["forced tool"], "stream": True}).content
    assert b"event:" not in raw
    events = sse.parse(raw)
    delta = next(e.data for e in events if e.type == "message_delta")
    assert "usage" not in delta
    assert isinstance(sse.accumulate(events)["content"][0]["input"], str)
    assert json.loads(sse.accumulate(events)["content"][0]["input"]) == {"city": "Paris"}


def test_unknown_deviation_is_refused() -> None:
    import fakeserver

    with pytest.raises(ValueError, match="unknown deviations"):
        fakeserver.FakeAnthropic(deviations={"drop_sytem"})
