"""A fake Anthropic Messages API on 127.0.0.1, for the suite's own tests.

A real HTTP server (``http.server.ThreadingHTTPServer`` in a background thread, ephemeral
port) that speaks a small but correct subset of the Messages API: ``POST /v1/messages`` (JSON
and SSE), ``POST /v1/messages/count_tokens`` and ``GET /v1/models``. It is deterministic and
honours every field in a way the oracles can observe:

* tokens are "word-ish" pieces (runs of letters, runs of digits, single punctuation marks) of
  everything rendered into the prompt: tools (name, description, schema), system, every block
  of every message (tool_use name/input, tool_result content and ``is_error``, documents,
  search results, thinking, server/MCP blocks ...). An image costs ``IMAGE_TOKENS``;
* ``max_tokens`` caps the output (``stop_reason: max_tokens``), ``stop_sequences`` cut and are
  echoed, ``temperature``/``top_k``/``top_p`` collapse the diversity of creative answers,
  ``tools``/``tool_choice``/``disable_parallel_tool_use`` drive tool calls with schema-valid
  input, ``thinking`` adds a signed thinking block, ``cache_control`` creates and reads cache
  entries;
* requests are validated like Anthropic does (auth, ``anthropic-version``, ``anthropic-beta``,
  ranges, tool pairing, citations, budget_tokens ...).

``FakeAnthropic(deviations={...})`` switches on realistic ways endpoints deviate; each is a
name in :data:`DEVIATIONS`, checked with ``if "name" in self.deviations``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import Loopback, url

FAKE_KEY = "sk-fake-test-key-123"
MODEL = "fake-model-1"
IMAGE_TOKENS = 64
MIN_CACHEABLE = 1024
CONTEXT_TOKENS = 16000  # past it: "prompt is too long" (Claude Code shapes 8.4k-13.4k, probe ~20k)
MAX_OUTPUT = 128000  # the model's output limit: Claude Code asks for exactly this much
SMALL_MAX_OUTPUT = 8192  # the limit of "small_output_limit" (a local model's window)
# Top-level body fields the Messages API defines; any other is "Extra inputs are not permitted".
KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stream", "stop_sequences", "temperature",
        "top_k", "top_p", "tools", "tool_choice", "metadata", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "output_config", "cache_control",
        "inference_geo",
    }
)  # fmt: skip
KNOWN_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
KNOWN_BETAS = frozenset(
    {
        "claude-code-20250219",
        # What Claude Code 2.1.332 sends (cases/shapes): Anthropic accepts its own client.
        "per-turn-control-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01",
        "thinking-token-count-2026-05-13",
        "advanced-tool-use-2025-11-20",
        "thinking-display-updates-2026-08-18",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "effort-2025-11-24",
        "mcp-client-2025-04-04",
        "mcp-client-2025-11-20",
        "prompt-caching-2024-07-31",
        "output-128k-2025-02-19",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "token-counting-2024-11-01",
    }
)
CITATION_TYPES = frozenset(
    {
        "char_location",
        "page_location",
        "content_block_location",
        "web_search_result_location",
        "search_result_location",
    }
)
BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
FAULTS = frozenset(
    {  # transport and gateway faults, exercised by tests/test_faults.py
        "retry_after_ms",  # first try of each body: 429 with retry-after-ms: 300
        "overloaded_529",  # first try of each body: 529 overloaded, retry-after: 1
        "flaky_503",  # first two tries of each body: 503 without a retry hint
        "always_529",  # every /v1/messages request: 529 overloaded, retry-after: 0
        "bad_json",  # /v1/messages answers 200 application/json that is not JSON
        "html_502",  # /v1/messages answers a gateway's HTML 502 page
        "echo_key_in_headers",  # every answer quotes the credential in a header
        "gzip",  # JSON answers gzip-compressed when the client accepts gzip
    }
)
DEVIATIONS = FAULTS | frozenset(
    {
        "ignore_max_tokens",  # generates past max_tokens
        "end_turn_for_max_tokens",  # caps the output but says end_turn
        "drop_stop_sequences",  # never stops on a sequence
        "stop_without_reason",  # cuts at the sequence but reports end_turn / null
        "drop_system",  # the system prompt never reaches the model
        "sse_bad_order",  # content_block_delta before its content_block_start
        "sse_no_event_lines",  # data: lines only, no event: lines
        "no_usage_in_message_delta",  # message_delta without usage
        "openai_errors",  # errors as {"error": {"message": ...}}
        "html_500",  # what would be a 4xx comes back as an HTML 500 page (a crashing proxy)
        "accept_bad_keys",  # any key, or none, is accepted
        "ignore_anthropic_version",  # the header is not validated
        "forced_tool_as_text",  # tool_choice any/tool answered with text
        "ignore_tool_choice_none",  # tool_choice none treated as auto
        "ignore_disable_parallel_tool_use",  # parallel calls even when disabled
        "string_tool_input",  # tool_use.input as a JSON string
        "drop_tool_description",  # tool descriptions never reach the model
        "drop_tools",  # tools never reach the model: no tool is rendered, none is ever called
        "drop_tool_choice",  # tool_choice is dropped: every request is answered as auto
        "named_as_any",  # {type: tool, name} answered as any: the tool the prompt asks for
        "none_call_as_text",  # under none the call is written as text markup, not tool_use
        "ignore_temperature",  # temperature has no effect
        "ignore_top_k",  # top_k has no effect
        "drop_images",  # image blocks silently dropped
        "drop_documents",  # document blocks silently dropped
        "reject_images",  # image blocks answered with 400
        "image_500",  # image blocks answered with 500 (llama-server without a vision projector)
        "ignore_cache_control",  # no cache accounting at all
        "cache_billing_block",  # the billing system block is part of the cache key (exact prefix)
        "echo_key_in_errors",  # error messages quote the request's credentials
        "flaky_429",  # the first request of each body is answered 429 with retry-after: 0
        "empty_message_id",  # every Message (and message_start) has id ""
        "models_without_has_more",  # GET /v1/models leaves out has_more
        "zero_input_tokens",  # usage.input_tokens 0 everywhere (message_start too)
        # input_tokens 0 and the whole prompt claimed as cache_read_input_tokens, everywhere: a
        # proxy that zeroes input_tokens in front of a server whose automatic prompt cache
        # already holds the prompt (llama-server answers a repeated prompt with input_tokens 1)
        "zero_input_tokens_as_cache_read",
        # a cache read is taken off input_tokens but cache_read_input_tokens is left out: the
        # prompt shrinks to its uncached part once it is cached
        "cache_read_left_out",
        "stream_past_max_tokens",  # a stream sends more text deltas than max_tokens allows
        "drop_input_json_delta",  # streamed tool_use blocks get no input_json_delta events
        "tool_index_from_1",  # streamed content blocks are numbered from 1
        "adaptive_empty_answer",  # thinking {type: adaptive} answered 200 with no content
        "reject_context_management",  # the context_management field: 400 extra inputs
        "context_500",  # a prompt past the context: 500 with a Python traceback
        "truncate_context",  # a prompt past the context is cut silently and answered
        "sse_done_sentinel",  # data: [DONE] after message_stop (OpenAI style)
        "slow",  # every /v1/messages answer waits slow_seconds (past a small read timeout)
        "ignore_output_format",  # output_config.format accepted, the text is not constrained
        "ignore_strict",  # tools[].strict accepted, the input follows the prompt, not the schema
        "reject_eager_input_streaming",  # tools[].eager_input_streaming: 400 extra inputs
        "reject_defer_loading",  # tools[].defer_loading: 400 extra inputs (Bedrock, #82549)
        "load_deferred_tools",  # defer_loading accepted, the tool is put in the prompt anyway
        "ignore_unknown_betas",  # an unknown anthropic-beta value is passed over
        "ignore_unknown_fields",  # an unknown top-level body field is passed over
        "context_window_stop",  # a prompt past the context: cut, 200 model_context_window_exceeded
        "clamp_max_tokens",  # max_tokens above the model's limit is served (clamped), not refused
        "small_output_limit",  # max_tokens above 8192 is a 400 (Claude Code asks for 128000)
        "ignore_top_level_cache_control",  # top-level cache_control: no automatic breakpoint
        "rare_stop_reasons",  # a prompt naming "refusal" or "pause_turn" in [[...]] stops so
    }
)

TOKEN = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
NONCE = re.compile(r"\bZQ[A-Z2-7]{6}\b")
CITIES = ("Paris", "Tokyo", "Lima", "London", "Berlin", "Madrid", "Rome", "Oslo")
# 32 invented colour names for creative answers: "Amberglow", "Amberleaf", ...
COLOURS = tuple(
    first + second
    for first in ("Amber", "Azure", "Bramble", "Cinder", "Dusk", "Ember", "Fern", "Frost")
    for second in ("glow", "leaf", "mist", "stone")
)
STORY = (
    "The lighthouse stood alone on the northern cliff, its lamp turning slowly through the "
    "long winter nights while the keeper wrote letters he never sent. Ships passed far out "
    "at sea and every one of them owed him a little of its safety."
)
NUMBERS = "one two three four five six seven eight nine ten"
CACHE_FIELDS = ("cache_creation_input_tokens", "cache_read_input_tokens")


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def cut_tokens(text: str, n: int) -> str:
    """The first ``n`` tokens of ``text`` (with the text between them)."""
    if n <= 0:
        return ""
    for i, match in enumerate(TOKEN.finditer(text), start=1):
        if i == n:
            return text[: match.end()]
    return text


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


BILLING_BLOCK = "x-anthropic-billing-header:"


@dataclass
class Segment:
    """A piece of the rendered prompt; ``marked`` when a cache_control breakpoint ends it."""

    text: str
    extra_tokens: int = 0
    marked: bool = False

    @property
    def tokens(self) -> int:
        return count_tokens(self.text) + self.extra_tokens


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]  # one chunk: sent with content-length; several: chunked (SSE)
    delay: float = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class Logged:
    """One request the server received and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    response: bytes = b""
    usage: dict[str, int] = field(default_factory=dict)
    received: float = 0.0  # time.time() when the request arrived


# --- the server ---------------------------------------------------------------------------


class FakeAnthropic:
    """``with FakeAnthropic(deviations={"drop_system"}) as server: server.base_url``."""

    def __init__(
        self,
        *,
        key: str = FAKE_KEY,
        deviations: set[str] | frozenset[str] | tuple[str, ...] = (),
        model: str = MODEL,
        slow_seconds: float = 2.0,
        latency: float = 0.0,
    ) -> None:
        unknown = set(deviations) - DEVIATIONS
        if unknown:
            raise ValueError(f"unknown deviations {sorted(unknown)}; known: {sorted(DEVIATIONS)}")
        self.key = key
        self.deviations = frozenset(deviations)
        self.model = model
        self.slow_seconds = slow_seconds
        self.latency = latency
        self.requests: list[Logged] = []
        self.received = threading.Condition()
        self._lock = threading.Lock()
        self._counter = 0
        self._cache: set[str] = set()
        self._seen_bodies: dict[bytes, int] = {}
        self.in_flight = 0  # requests being answered right now
        self.max_in_flight = 0  # the most answered at once
        self._loop: Loopback | None = None

    # lifecycle

    def start(self) -> FakeAnthropic:
        app = self

        class Handler(_Handler):
            server_app = app

        self._loop = Loopback(Handler).start()
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._loop is not None, "server not started"
        return self._loop.port

    @property
    def base_url(self) -> str:
        return url(self.port)

    def wait_for_requests(self, n: int, timeout: float = 30.0) -> bool:
        with self.received:
            return self.received.wait_for(lambda: len(self.requests) >= n, timeout)

    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _tries(self, raw: bytes) -> int:
        """How many times this exact body has been sent (1 for the first)."""
        with self._lock:
            self._seen_bodies[raw] = self._seen_bodies.get(raw, 0) + 1
            return self._seen_bodies[raw]

    def entered(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    # dispatch

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        """Answer one request; never raises."""
        headers = {k.lower(): v for k, v in headers.items()}
        route = path.split("?", 1)[0]
        logged = Logged(method, route, headers, parse_json(raw), received=time.time())
        credential = headers.get("x-api-key") or headers.get("authorization")
        try:
            reply = self._dispatch(method, route, headers, raw, logged)
        except ApiError as exc:
            if "echo_key_in_errors" in self.deviations:
                exc.message += f" (request credentials: {credential})"
            reply = self.error_reply(exc)
        if "echo_key_in_headers" in self.deviations:
            reply.headers["x-debug-credential"] = f"seen {credential}"
        if (
            "gzip" in self.deviations
            and "gzip" in headers.get("accept-encoding", "")
            and len(reply.chunks) == 1
            and reply.headers["content-type"] == "application/json"
        ):
            reply.chunks = [gzip.compress(reply.chunks[0])]
            reply.headers["content-encoding"] = "gzip"
        if "slow" in self.deviations and route.startswith("/v1/messages"):
            reply.delay = self.slow_seconds
        reply.delay += self.latency
        logged.status, logged.response = reply.status, reply.body
        with self.received:
            self.requests.append(logged)
            self.received.notify_all()
        return reply

    def _dispatch(
        self, method: str, route: str, headers: dict[str, str], raw: bytes, logged: Logged
    ) -> Reply:
        if route not in ("/v1/messages", "/v1/messages/count_tokens", "/v1/models"):
            raise ApiError(404, "not_found_error", f"no route {method} {route}")
        self.check_auth(headers)
        if method == "GET" and route == "/v1/models":
            return self.models_reply()
        if method != "POST" or route == "/v1/models":
            raise ApiError(405, "invalid_request_error", f"{method} not allowed on {route}")
        self.check_version(headers)
        self.check_betas(headers)
        if "flaky_429" in self.deviations and self._tries(raw) == 1:
            reply = self.error_reply(ApiError(429, "rate_limit_error", "rate limited; retry"))
            reply.headers["retry-after"] = "0"
            return reply
        fault = self.fault_reply(route, raw)
        if fault is not None:
            return fault
        body = logged.body
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        counting = route == "/v1/messages/count_tokens"
        validate_body(body, counting=counting, model=self.model)
        self.check_surface(body, counting)
        self.check_images(body)
        if counting:
            return json_reply(200, {"input_tokens": sum(s.tokens for s in self.render(body))})
        self.check_context(body)
        message = self.generate(body)
        logged.usage = {k: v for k, v in message["usage"].items() if isinstance(v, int)}
        if body.get("stream"):
            return self.stream_reply(message, body)
        return json_reply(200, message)

    # checks that depend on headers or deviations

    def check_auth(self, headers: dict[str, str]) -> None:
        if "accept_bad_keys" in self.deviations:
            return
        bearer = headers.get("authorization", "")
        if headers.get("x-api-key") == self.key or bearer == f"Bearer {self.key}":
            return
        raise ApiError(401, "authentication_error", "invalid x-api-key")

    def check_version(self, headers: dict[str, str]) -> None:
        if "ignore_anthropic_version" in self.deviations:
            return
        version = headers.get("anthropic-version")
        if version is None:
            raise bad_request("anthropic-version: header is required")
        if version not in KNOWN_VERSIONS:
            raise bad_request(f"anthropic-version: {version!r} is not a valid version")

    def check_betas(self, headers: dict[str, str]) -> None:
        names = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
        unknown = [b for b in names if b not in KNOWN_BETAS]
        if unknown and "ignore_unknown_betas" not in self.deviations:
            raise bad_request(
                f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header. "
                "Please consult our documentation at docs.anthropic.com or try again without "
                "the header."
            )

    def check_surface(self, body: dict[str, Any], counting: bool) -> None:
        """Unknown fields, the output limit and the newer tool flags, as Anthropic checks them
        (or not, under a deviation)."""
        unknown = sorted(set(body) - KNOWN_FIELDS)
        if unknown and "ignore_unknown_fields" not in self.deviations:
            raise bad_request(f"{unknown[0]}: Extra inputs are not permitted")
        for i, tool in enumerate(body.get("tools") or []):
            for flag, deviation in (
                ("eager_input_streaming", "reject_eager_input_streaming"),
                ("defer_loading", "reject_defer_loading"),
            ):
                if flag in tool and deviation in self.deviations:
                    raise bad_request(f"tools.{i}.{flag}: Extra inputs are not permitted")
        if counting or "clamp_max_tokens" in self.deviations:
            return
        limit = SMALL_MAX_OUTPUT if "small_output_limit" in self.deviations else MAX_OUTPUT
        if body["max_tokens"] > limit:
            raise bad_request(
                f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed "
                f"number of output tokens for {body['model']}"
            )

    def check_images(self, body: dict[str, Any]) -> None:
        has_image = any(b.get("type") == "image" for b in all_blocks(body))
        if has_image and "reject_images" in self.deviations:
            raise bad_request("image input is not supported by this model")
        if has_image and "image_500" in self.deviations:
            raise ApiError(
                500,
                "api_error",
                "image input is not supported - hint: you may need to provide the mmproj",
            )

    def check_context(self, body: dict[str, Any]) -> None:
        if "context_management" in body and "reject_context_management" in self.deviations:
            raise bad_request("context_management: Extra inputs are not permitted")
        size = sum(s.tokens for s in self.render(body))
        if size <= CONTEXT_TOKENS or self.deviations & {"truncate_context", "context_window_stop"}:
            return
        if "context_500" in self.deviations:
            raise ApiError(
                500,
                "api_error",
                'Traceback (most recent call last):\n  File "/app/server/engine.py", line 88, '
                "in generate\nValueError: input too large for the slot",
            )
        raise bad_request(f"prompt is too long: {size} tokens > {CONTEXT_TOKENS} maximum")

    # prompt rendering

    def render(self, body: dict[str, Any]) -> list[Segment]:
        """Everything the model sees, in Anthropic's cache order: tools, system, messages."""
        tools = [] if "drop_tools" in self.deviations else body.get("tools") or []
        out = [self.render_tool(t) for t in tools if self.loaded(t)]
        if "drop_system" not in self.deviations:
            out.extend(render_system(body.get("system")))
        for msg in body.get("messages") or []:
            out.append(Segment(f"{msg['role']}:"))
            content = msg["content"]
            if isinstance(content, str):
                out.append(Segment(content))
                continue
            for block in content:
                out.extend(self.render_block(block))
        return out

    def loaded(self, tool: dict[str, Any]) -> bool:
        """A deferred tool stays out of the prompt (until a tool search would find it)."""
        return not tool.get("defer_loading") or "load_deferred_tools" in self.deviations

    def render_tool(self, tool: dict[str, Any]) -> Segment:
        parts = [f"tool {tool.get('name', '')}"]
        if "drop_tool_description" not in self.deviations:
            parts.append(str(tool.get("description", "")))
        parts.append(json.dumps(tool.get("input_schema", {}), sort_keys=True))
        return Segment(" ".join(parts), marked="cache_control" in tool)

    def render_block(self, block: dict[str, Any]) -> list[Segment]:
        kind = block["type"]
        marked = "cache_control" in block
        if kind == "image":
            if "drop_images" in self.deviations:
                return []
            return [Segment("", IMAGE_TOKENS, marked)]
        if kind == "document" and "drop_documents" in self.deviations:
            return []
        if kind == "tool_result":
            content = block.get("content")
            images = (
                [b for b in content if b.get("type") == "image"]
                if isinstance(content, list)
                else []
            )
            extra = 0 if "drop_images" in self.deviations else IMAGE_TOKENS * len(images)
            return [Segment(render_tool_result(block), extra, marked)]
        return [Segment(render_block_text(block), 0, marked)]

    # generation

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        number = self._next()
        segments = self.render(body)
        usage = self.cache_usage(body, segments)
        user_text = last_user_text(body)
        budget = body["max_tokens"]
        if "ignore_max_tokens" in self.deviations:
            budget = 10**9
        content: list[dict[str, Any]] = []
        used = 0
        stop_reason, stop_sequence = "end_turn", None
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "adaptive" and "adaptive_empty_answer" in self.deviations:
            usage["output_tokens"] = 0
            return {
                "id": f"msg_fake{number:06d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        # adaptive: the model thinks when there is room for it (not in a 4-token probe)
        if thinking.get("type") == "enabled" or (
            thinking.get("type") == "adaptive" and budget >= 32
        ):
            text = f"The user asks: {user_text[:80]} I will answer briefly."
            content.append({"type": "thinking", "thinking": text, "signature": signature(text)})
            used += count_tokens(text)
        calls = self.plan_tool_calls(body, user_text)
        text = (
            ""
            if calls and body.get("tool_choice", {}).get("type") in ("any", "tool")
            else (self.answer(body, user_text, number))
        )
        if "none_call_as_text" in self.deviations:
            text = self.call_as_text(body, user_text) or text
        text = self.formatted(body) or text
        text, stop_reason, stop_sequence = self.apply_stop_sequences(body, text)
        if text:
            room = budget - used
            if count_tokens(text) > room:
                text, stop_reason = cut_tokens(text, room), "max_tokens"
            if text:
                content.append({"type": "text", "text": text})
            used += count_tokens(text)
        if stop_reason not in ("max_tokens", "stop_sequence"):
            for i, (tool, args) in enumerate(calls):
                cost = count_tokens(tool["name"] + json.dumps(args))
                if used + cost > budget:
                    stop_reason = "max_tokens"
                    break
                used += cost
                args_out: Any = json.dumps(args) if "string_tool_input" in self.deviations else args
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_fake{number:05d}{i}",
                        "name": tool["name"],
                        "input": args_out,
                    }
                )
                stop_reason = "tool_use"
        if stop_reason == "max_tokens" and "end_turn_for_max_tokens" in self.deviations:
            stop_reason = "end_turn"
        usage["output_tokens"] = max(used, 1)
        if "zero_input_tokens" in self.deviations:
            usage["input_tokens"] = 0
        if "zero_input_tokens_as_cache_read" in self.deviations:
            usage["cache_read_input_tokens"] = sum(
                usage.pop(k) for k in ("input_tokens", *CACHE_FIELDS)
            )
            usage.update(input_tokens=0, cache_creation_input_tokens=0)
        if "cache_read_left_out" in self.deviations:
            del usage["cache_read_input_tokens"]
        message = {
            "id": "" if "empty_message_id" in self.deviations else f"msg_fake{number:06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
        }
        return self.rare_stop(message, segments, user_text)

    def formatted(self, body: dict[str, Any]) -> str | None:
        """output_config.format: the text is an instance of the schema (constrained decoding)."""
        fmt = (body.get("output_config") or {}).get("format") or {}
        if fmt.get("type") != "json_schema" or "ignore_output_format" in self.deviations:
            return None
        return json.dumps(schema_value(fmt.get("schema") or {}, "Paris"))

    def rare_stop(
        self, message: dict[str, Any], segments: list[Segment], user_text: str
    ) -> dict[str, Any]:
        """The stop reasons a probe cannot provoke by itself: a prompt past the context under
        "context_window_stop" (cut to the window), or a "[[refusal]]" / "[[pause_turn]]"
        marker under "rare_stop_reasons" (the suite's own tests of the stop_reason oracle)."""
        too_long = sum(s.tokens for s in segments) > CONTEXT_TOKENS
        if "context_window_stop" in self.deviations and too_long:
            message["usage"]["input_tokens"] = CONTEXT_TOKENS
            message["stop_reason"] = "model_context_window_exceeded"
        if "rare_stop_reasons" not in self.deviations:
            return message
        if "[[refusal]]" in user_text:
            message["stop_reason"] = "refusal"
            message["stop_details"] = {
                "type": "refusal",
                "category": None,
                "explanation": "The request was declined.",
            }
        elif "[[pause_turn]]" in user_text:
            message["stop_reason"] = "pause_turn"
        return message

    def call_as_text(self, body: dict[str, Any], user_text: str) -> str | None:
        """Under tool_choice none, the call a template-driven model writes when the endpoint
        only stops parsing calls (llama-server's OpenAI route does this)."""
        if (body.get("tool_choice") or {}).get("type") != "none":
            return None
        for tool in body.get("tools") or []:
            if mentioned(tool.get("name", ""), user_text):
                return f'<|tool_call>call:{tool["name"]}{{city:<|"|>Paris<|"|>}}<tool_call|>'
        return None

    def answer(self, body: dict[str, Any], user_text: str, number: int) -> str:
        """The text a tiny but obedient model would write."""
        lowered = user_text.lower()
        if "count from one to ten" in lowered:
            return NUMBERS if "in words" in lowered else ", ".join(map(str, range(1, 11)))
        if "invent a name" in lowered:
            if self.deterministic(body):
                return COLOURS[0]
            return COLOURS[number % len(COLOURS)]
        if "story" in lowered:
            return " ".join([STORY] * 8)
        arithmetic = re.search(r"(\d+)\s*([*x+])\s*(\d+)", user_text)
        if arithmetic:
            a, op, b = arithmetic.groups()
            return str(int(a) * int(b) if op in "*x" else int(a) + int(b))
        if "code" in lowered:
            codes = NONCE.findall(" ".join(s.text for s in self.render(body)))
            if codes:
                return " ".join(dict.fromkeys(codes))
        return "OK."

    def deterministic(self, body: dict[str, Any]) -> bool:
        temperature = body.get("temperature", 1.0)
        if "ignore_temperature" in self.deviations:
            temperature = 1.0
        top_k = None if "ignore_top_k" in self.deviations else body.get("top_k")
        top_p = body.get("top_p", 1.0)
        return temperature == 0 or top_k == 1 or top_p <= 0.1

    def apply_stop_sequences(self, body: dict[str, Any], text: str) -> tuple[str, str, str | None]:
        sequences = body.get("stop_sequences") or []
        if "drop_stop_sequences" in self.deviations or not sequences:
            return text, "end_turn", None
        hits = [(text.find(s), s) for s in sequences if s and s in text]
        if not hits:
            return text, "end_turn", None
        at, seq = min(hits)
        if "stop_without_reason" in self.deviations:
            return text[:at], "end_turn", None
        return text[:at], "stop_sequence", seq

    def plan_tool_calls(
        self, body: dict[str, Any], user_text: str
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Which tools to call with what input: forced choice first, else what the prompt asks."""
        tools = [t for t in body.get("tools") or [] if "input_schema" in t and self.loaded(t)]
        if not tools or "drop_tools" in self.deviations:
            return []
        choice = body.get("tool_choice") or {"type": "auto"}
        if "drop_tool_choice" in self.deviations:
            choice = {"type": "auto"}
        kind = choice["type"]
        if kind == "tool" and "named_as_any" in self.deviations:
            kind = "any"
        if kind == "none" and "ignore_tool_choice_none" in self.deviations:
            kind = "auto"
        if kind == "none" or (kind in ("any", "tool") and "forced_tool_as_text" in self.deviations):
            return []
        wanted = [t for t in tools if mentioned(t["name"], user_text)]
        if kind == "tool":
            tool = next(t for t in tools if t["name"] == choice["name"])
        elif wanted:
            tool = wanted[0]
        elif kind == "any":
            tool = tools[0]
        else:
            return []
        cities = [c for c in CITIES if c in user_text] or ["Paris"]
        n = len(cities) if "city" in tool["input_schema"].get("properties", {}) else 1
        disabled = choice.get("disable_parallel_tool_use") and (
            "ignore_disable_parallel_tool_use" not in self.deviations
        )
        if disabled:
            n = 1
        calls = [(tool, schema_value(tool["input_schema"], cities[i])) for i in range(n)]
        if tool.get("strict") is not True or "ignore_strict" in self.deviations:
            # without strict, a weak model writes what the prompt says, schema or not
            for _, args in calls:
                args.update(re.findall(r"\bset (\w+) to (\w+)", user_text))
        return calls

    def cache_usage(self, body: dict[str, Any], segments: list[Segment]) -> dict[str, int]:
        """input_tokens excludes what was written to or read from the cache, as Anthropic's."""
        total = sum(s.tokens for s in segments)
        usage = {
            "input_tokens": total,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        marks = [i for i, s in enumerate(segments) if s.marked]
        if body.get("cache_control") and "ignore_top_level_cache_control" not in self.deviations:
            marks.append(len(segments) - 1)  # automatic caching: the last cacheable block
        if not marks or "ignore_cache_control" in self.deviations:
            return usage
        prefix = segments[: marks[-1] + 1]
        size = sum(s.tokens for s in prefix)
        if size < MIN_CACHEABLE:
            return usage
        if "cache_billing_block" not in self.deviations:
            # Claude Code's per-session attribution block is no part of what is cached
            prefix = [s for s in prefix if not s.text.startswith(BILLING_BLOCK)]
        key = hashlib.sha256(
            json.dumps([body["model"], [(s.text, s.extra_tokens) for s in prefix]]).encode()
        ).hexdigest()
        with self._lock:
            hit = key in self._cache
            self._cache.add(key)
        usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = size
        usage["input_tokens"] = total - size
        return usage

    # replies

    def error_reply(self, exc: ApiError) -> Reply:
        if "html_500" in self.deviations and 400 <= exc.status < 500 and exc.status != 429:
            page = (
                "<html><head><title>500 Internal Server Error</title></head><body>"
                "<center><h1>500 Internal Server Error</h1></center><hr>"
                "<center>nginx</center></body></html>"
            )
            return Reply(500, {"content-type": "text/html"}, [page.encode()])
        if "openai_errors" in self.deviations:
            return json_reply(exc.status, {"error": {"message": exc.message}})
        request_id = "req_fake" + hashlib.sha256(exc.message.encode()).hexdigest()[:12]
        return json_reply(
            exc.status,
            {
                "type": "error",
                "error": {"type": exc.kind, "message": exc.message},
                "request_id": request_id,
            },
        )

    def fault_reply(self, route: str, raw: bytes) -> Reply | None:
        """What a rate limiter, an overloaded backend or a broken gateway answers instead."""
        if route != "/v1/messages" or not self.deviations & FAULTS:
            return None
        tries = self._tries(raw)
        if "retry_after_ms" in self.deviations and tries == 1:
            reply = self.error_reply(ApiError(429, "rate_limit_error", "slow down"))
            reply.headers["retry-after-ms"] = "300"
            return reply
        if ("overloaded_529" in self.deviations and tries == 1) or "always_529" in self.deviations:
            reply = self.error_reply(ApiError(529, "overloaded_error", "Overloaded"))
            reply.headers["retry-after"] = "1" if "overloaded_529" in self.deviations else "0"
            return reply
        if "flaky_503" in self.deviations and tries <= 2:
            return self.error_reply(ApiError(503, "api_error", "upstream unavailable"))
        if "bad_json" in self.deviations:
            return Reply(200, {"content-type": "application/json"}, [b'{"id": "msg_1", "type": '])
        if "html_502" in self.deviations:
            page = (
                "<html><head><title>502 Bad Gateway</title></head><body>"
                "<center><h1>502 Bad Gateway</h1></center><hr>"
                "<center>nginx</center></body></html>"
            )
            return Reply(502, {"content-type": "text/html"}, [page.encode()])
        return None

    def models_reply(self) -> Reply:
        info = {
            "id": self.model,
            "type": "model",
            "display_name": "Fake model",
            "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": "active",
        }
        page = {"data": [info], "has_more": False, "first_id": self.model, "last_id": self.model}
        if "models_without_has_more" in self.deviations:
            del page["has_more"]
        return json_reply(200, page)

    def stream_reply(self, message: dict[str, Any], body: dict[str, Any]) -> Reply:
        events = stream_events(message)
        if "no_usage_in_message_delta" in self.deviations:
            for data in events:
                if data["type"] == "message_delta":
                    del data["usage"]
        if "sse_bad_order" in self.deviations:
            first_delta = next(
                (i for i, d in enumerate(events) if d["type"] == "content_block_delta"), None
            )
            if first_delta is not None:
                events.insert(1, events.pop(first_delta))
        last = message["content"][-1]["type"] if message["content"] else None
        if "stream_past_max_tokens" in self.deviations and last == "text":
            at = max(i for i, d in enumerate(events) if d["type"] == "content_block_stop")
            index = events[at]["index"]
            extra = {"type": "text_delta", "text": " more"}
            for _ in range(body["max_tokens"] + 1):
                events.insert(at, {"type": "content_block_delta", "index": index, "delta": extra})
        if "drop_input_json_delta" in self.deviations:
            events = [
                d
                for d in events
                if not (
                    d["type"] == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
                )
            ]
        if "tool_index_from_1" in self.deviations:
            for d in events:
                if "index" in d:
                    d["index"] += 1
        named = "sse_no_event_lines" not in self.deviations
        chunks = [
            ((f"event: {d['type']}\n" if named else "") + f"data: {json.dumps(d)}\n\n").encode()
            for d in events
        ]
        if "sse_done_sentinel" in self.deviations:
            chunks.append(b"data: [DONE]\n\n")
        headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        return Reply(200, headers, chunks)


# --- pure helpers -------------------------------------------------------------------------


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, {"content-type": "application/json"}, [json.dumps(payload).encode()])


def signature(text: str) -> str:
    return "sig_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def mentioned(tool_name: str, text: str) -> bool:
    """A tool is asked for when a meaningful word of its name is in the text."""
    words = [w for w in re.split(r"[_\W]+", tool_name.lower()) if len(w) > 3]
    return any(w in text.lower() for w in words)


def schema_value(schema: dict[str, Any], city: str, name: str = "") -> Any:
    """A value valid against a (simple) JSON Schema: first enum value, lowest allowed number."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: schema_value(sub, city, key) for key, sub in props.items()}
    if kind == "integer":
        low = schema.get("minimum", 1)
        return int(min(low, schema.get("maximum", low)))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return city if name == "city" else "example"


def render_system(system: Any) -> list[Segment]:
    if isinstance(system, str):
        return [Segment(system)]
    if isinstance(system, list):
        return [Segment(b.get("text", ""), marked="cache_control" in b) for b in system]
    return []


def render_tool_result(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        text = " ".join(render_block_text(b) for b in content if isinstance(b, dict))
    else:
        text = str(content)
    return f"result {text}" + (" error" if block.get("is_error") else "")


def render_block_text(block: dict[str, Any]) -> str:
    """What a block contributes to the prompt, as text."""
    kind = block.get("type")
    if kind == "text":
        return block["text"]
    if kind == "document":
        source = block.get("source") or {}
        data = source.get("data") if source.get("type") == "text" else source.get("content", "")
        if isinstance(data, list):
            data = " ".join(render_block_text(b) for b in data if isinstance(b, dict))
        return " ".join(str(x) for x in (block.get("title", ""), block.get("context", ""), data))
    if kind == "search_result":
        texts = [b.get("text", "") for b in block.get("content") or [] if isinstance(b, dict)]
        return " ".join([block.get("source", ""), block.get("title", ""), *texts])
    if kind == "thinking":
        return block.get("thinking", "")
    if kind == "redacted_thinking":
        return block.get("data", "")
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        server = block.get("server_name", "")
        return f"{server} {block.get('name', '')} {json.dumps(block.get('input', {}))}"
    if kind == "web_search_tool_result":
        results = block.get("content") if isinstance(block.get("content"), list) else []
        return " ".join(f"{r.get('title', '')} {r.get('url', '')}" for r in results)
    if kind == "code_execution_tool_result":
        result = block.get("content") or {}
        return f"{result.get('stdout', '')} {result.get('stderr', '')}"
    if kind == "mcp_tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
        return str(content) + (" error" if block.get("is_error") else "")
    if kind == "container_upload":
        return block.get("file_id", "")
    return ""


def all_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and isinstance(msg.get("content"), list):
            out.extend(b for b in msg["content"] if isinstance(b, dict))
    return out


def last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if msg["role"] != "user":
            continue
        if isinstance(msg["content"], str):
            return msg["content"]
        return " ".join(b["text"] for b in msg["content"] if b.get("type") == "text")
    return ""


def stream_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The canonical event sequence for ``message``."""
    usage = message["usage"]
    start = dict(
        message,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=dict(usage, output_tokens=1),
    )
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            first = {"type": "text", "text": ""}
            words = re.findall(r"\S+\s*", block["text"]) or [""]
            deltas = [
                {"type": "text_delta", "text": "".join(words[i : i + 3])}
                for i in range(0, len(words), 3)
            ]
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            text = json.dumps(block["input"])  # a JSON string literal for string_tool_input
            half = len(text) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": part}
                for part in ("", text[:half], text[half:])
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": first})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


# --- validation, like Anthropic's ---------------------------------------------------------


def validate_body(body: dict[str, Any], *, counting: bool, model: str) -> None:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise bad_request("model: Field required")
    if name != model and not name.startswith("claude-"):
        raise ApiError(404, "not_found_error", f"model: {name}")
    if not counting:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise bad_request("max_tokens: Field required (an integer >= 1)")
        validate_options(body)
    validate_sampling(body)
    validate_thinking(body, counting)
    validate_tools(body)
    validate_messages(body.get("messages"))


def validate_options(body: dict[str, Any]) -> None:
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad_request("stop_sequences: Input should be a list of strings")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
        raise bad_request("metadata: Extra inputs are not permitted")
    user_id = metadata.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
        raise bad_request("metadata.user_id: String should have at most 256 characters")
    if body.get("service_tier", "auto") not in ("auto", "standard_only"):
        raise bad_request("service_tier: Input should be 'auto' or 'standard_only'")
    if body.get("container") is not None and not isinstance(body["container"], str):
        raise bad_request("container: Input should be a valid string")
    for server in body.get("mcp_servers") or []:
        if not isinstance(server, dict) or server.get("type") != "url" or "url" not in server:
            raise bad_request("mcp_servers: each entry needs type 'url', url and name")


def validate_sampling(body: dict[str, Any]) -> None:
    for key, high in (("temperature", 1.0), ("top_p", 1.0)):
        if key in body:
            value = body[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise bad_request(f"{key}: Input should be a valid number")
            if not 0.0 <= value <= high:
                raise bad_request(f"{key}: range: 0 <= {key} <= {high}")
    if "top_k" in body:
        top_k = body["top_k"]
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
            raise bad_request("top_k: Input should be an integer >= 0")


def validate_thinking(body: dict[str, Any], counting: bool) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in (
        "enabled",
        "disabled",
        "adaptive",  # SDK 2.x and Claude Code send it; the model picks its own budget
    ):
        raise bad_request("thinking: Input tag should be 'enabled', 'disabled' or 'adaptive'")
    if thinking["type"] in ("disabled", "adaptive"):
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        raise bad_request("thinking.enabled.budget_tokens: Input should be >= 1024")
    if not counting and budget >= body["max_tokens"]:
        raise bad_request("`max_tokens` must be greater than `thinking.budget_tokens`")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise bad_request("Thinking may not be enabled when tool_choice forces tool use.")


def validate_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        raise bad_request("tools: Input should be a valid list")
    names = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad_request(f"tools.{i}: Input should be an object")
        name = tool.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", name):
            raise bad_request(
                f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            )
        schema = tool.get("input_schema")
        if "type" not in tool and (not isinstance(schema, dict) or schema.get("type") != "object"):
            raise bad_request(f"tools.{i}.input_schema: type must be 'object'")
        names.append(name)
    if len(set(names)) != len(names):
        raise bad_request("tools: Tool names must be unique.")
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise bad_request("tool_choice: Input tag should be 'auto', 'any', 'tool' or 'none'")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise bad_request(f"tool_choice: tool {choice.get('name')!r} not found in tools")


def validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: at least one message is required")
    for i, msg in enumerate(messages):
        # "system" items mid-conversation: SDK 2.x types (newer models)
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant", "system"):
            raise bad_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = msg.get("content")
        if isinstance(content, str):
            if not content:
                raise bad_request(f"messages.{i}: text content blocks must be non-empty")
            continue
        if not isinstance(content, list):
            raise bad_request(f"messages.{i}.content: Input should be a string or a list")
        for j, block in enumerate(content):
            validate_block(block, f"messages.{i}.content.{j}")
    validate_pairing(messages)


def validate_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        kind = block.get("type") if isinstance(block, dict) else type(block).__name__
        raise bad_request(f"{where}.type: unknown content block type {kind!r}")
    if block["type"] == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise bad_request(f"{where}: text content blocks must be non-empty")
        for k, citation in enumerate(block.get("citations") or []):
            if (
                not isinstance(citation, dict)
                or citation.get("type") not in CITATION_TYPES
                or not isinstance(citation.get("cited_text"), str)
            ):
                raise bad_request(f"{where}.citations.{k}: invalid citation")
    if block["type"] == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64" and source.get("media_type") not in (
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
        ):
            raise bad_request(f"{where}.source.media_type: unsupported image type")


def validate_pairing(messages: list[dict[str, Any]]) -> None:
    """Each tool_use needs its tool_result in the next user turn, and vice versa."""
    for i, msg in enumerate(messages):
        blocks = msg["content"] if isinstance(msg["content"], list) else []
        if msg["role"] == "assistant":
            ids = [b.get("id") for b in blocks if b["type"] == "tool_use"]
            if not ids:
                continue
            following = messages[i + 1] if i + 1 < len(messages) else None
            answered = (
                {
                    b.get("tool_use_id")
                    for b in (following or {}).get("content") or []
                    if isinstance(b, dict) and b.get("type") == "tool_result"
                }
                if following and following["role"] == "user"
                else set()
            )
            missing = [x for x in ids if x not in answered]
            if missing and following is not None:
                raise bad_request(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks "
                    "immediately after: {}".format(i, ", ".join(missing))
                )
        else:
            results = [b.get("tool_use_id") for b in blocks if b["type"] == "tool_result"]
            if not results:
                continue
            previous = messages[i - 1] if i > 0 else None
            known = (
                {
                    b.get("id")
                    for b in (previous or {}).get("content") or []
                    if isinstance(b, dict) and b.get("type") == "tool_use"
                }
                if previous and previous["role"] == "assistant"
                else set()
            )
            for tool_use_id in results:
                if tool_use_id not in known:
                    raise bad_request(
                        f"messages.{i}.content: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {tool_use_id}"
                    )


# --- HTTP plumbing ------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK
    server_app: FakeAnthropic

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.server_app.entered(1)
        try:
            self._answer(method)
        finally:
            self.server_app.entered(-1)

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server_app.handle(method, self.path, dict(self.headers.items()), raw)
        if reply.delay:
            time.sleep(reply.delay)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        """Write one reply: whole with a content-length, or chunk by chunk."""
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if len(reply.chunks) == 1:
                self.send_header("content-length", str(len(reply.chunks[0])))
                self.end_headers()
                self.wfile.write(reply.chunks[0])
            else:
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in reply.chunks:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
