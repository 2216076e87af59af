"""The llamacpp-tools chat template: llama.cpp routes it to the Gemma4 tool parser, and it
keeps both a forced call and a prose answer working (scripts/templates/README.md).

The static tests read the template's source for the strings llama.cpp's format detection
looks for. The live tests talk to the llama-server that `scripts/servers.py start
llamacpp-tools` serves on 127.0.0.1:8089 (`.ci/run` starts it before `pytest tests`): they
skip when it is not running, and fail instead under CI, where it must be.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "scripts" / "templates" / "smollm2-tools.jinja"
URL = "http://127.0.0.1:8089"
KEY = os.environ.get("LLAMACPP_API_KEY") or "sk-local-llamacpp"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_the_template_holds_what_routes_it_to_the_gemma4_parser() -> None:
    source = TEMPLATE.read_text()
    # common/chat.cpp: a template whose source holds '<|tool_call>call:' (quoted, as a Jinja
    # string) gets the Gemma4 format; without the OpenAI comment it also has its role: tool
    # messages rewritten into Gemma's tool_responses, which this template does not read.
    assert "'<|tool_call>call:'" in source
    assert "{#- OpenAI Chat Completions:" in source
    # no marker of a format llama.cpp checks earlier may creep in and win the detection
    for other in ("<|START_ACTION|>", "<tool_call>", "[TOOL_CALLS]", "<|channel|>", "DSML"):
        assert other not in source, other


def test_servers_start_llamacpp_tools_with_this_template() -> None:
    servers = (REPO / "scripts" / "servers.py").read_text()
    assert 'TEMPLATES / "smollm2-tools.jinja"' in servers
    assert "--dry-multiplier" not in servers  # DRY penalises copying the call example


@pytest.fixture(scope="module")
def server() -> httpx.Client:
    client = httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {KEY}"}, timeout=180)
    try:
        up = client.get("/health").status_code == 200
    except httpx.HTTPError:
        up = False
    if not up:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"llamacpp-tools is not running at {URL} (.ci/run starts it)")
        pytest.skip(f"llamacpp-tools is not running at {URL} (scripts/servers.py start)")
    return client


def chat(server: httpx.Client, prompt: str, choice: str, max_tokens: int = 48) -> dict[str, Any]:
    body = {
        "model": "smollm2",
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": prompt}],
        "tools": [WEATHER],
        "tool_choice": choice,
    }
    answer = server.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["choices"][0]["message"]


def test_llama_server_reads_it_as_a_tool_template(server: httpx.Client) -> None:
    caps = server.get("/props").json()["chat_template_caps"]
    assert caps["supports_tools"] and caps["supports_tool_calls"], caps


def test_the_prompt_renders_tools_calls_and_results(server: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    answer = server.post("/apply-template", json={"messages": messages, "tools": [WEATHER]})
    assert answer.status_code == 200, answer.text[:300]
    prompt = answer.json()["prompt"]
    assert prompt.startswith("<|im_start|>system\nBe brief.")
    # the call example carries the schema's required key
    assert 'Call it like this: <|tool_call>call:get_weather{city:<|"|>...<|"|>}<tool_call|>' in (
        prompt
    )
    # the history's call, in the syntax the parser reads back, and its result
    assert '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>' in prompt
    assert "Result of call_1: 18C and sunny" in prompt or "Result of get_weather" in prompt
    # the reply starts right after the ChatML header: the generation prompt is that header
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_forced_call_comes_back_as_a_call(server: httpx.Client) -> None:
    message = chat(server, "Say hello.", "required")
    calls = message.get("tool_calls") or []
    assert [c["function"]["name"] for c in calls] == ["get_weather"], message


def test_prose_under_auto_and_none_is_text_not_a_500(server: httpx.Client) -> None:
    # the template this one replaced got 500 "does not match the expected peg-native format"
    for choice in ("auto", "none"):
        message = chat(server, "Say hello.", choice, max_tokens=16)
        assert not message.get("tool_calls"), (choice, message)
        assert message.get("content"), (choice, message)


def test_auto_calls_when_the_prompt_needs_the_tool(server: httpx.Client) -> None:
    message = chat(server, "What is the weather in Paris? Use the get_weather tool.", "auto")
    assert [c["function"]["name"] for c in message.get("tool_calls") or []] == ["get_weather"]
