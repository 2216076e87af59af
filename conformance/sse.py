"""Server-Sent Events of the Anthropic Messages stream, read from the raw bytes.

The suite parses streams itself rather than through the SDK: the SDK silently drops events
without an ``event:`` line and tolerates a missing ``message_stop``, so it would hide exactly
the framing mistakes a conformance suite must report. Three steps, kept apart so each can be
tested alone: ``parse`` (bytes to events), ``check_grammar`` (the event order the docs
define) and ``accumulate`` (fold the events into the Message a non-streaming call returns).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from conformance import safejson

# Which delta types may appear inside which block type.
DELTAS_FOR_BLOCK: dict[str, frozenset[str]] = {
    "text": frozenset({"text_delta", "citations_delta"}),
    "thinking": frozenset({"thinking_delta", "signature_delta"}),
    "tool_use": frozenset({"input_json_delta"}),
    "server_tool_use": frozenset({"input_json_delta"}),
    "mcp_tool_use": frozenset({"input_json_delta"}),
}
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# Events one answer may have: the longest shipped stream has 86; 350k pings (14 MB, under
# the byte cap) took 590 MB as events. A longer stream is unusable, like an over-long body.
MAX_EVENTS = 20_000


@dataclass
class Event:
    """One event as received. ``raw`` keeps the wire text for evidence in reports."""

    name: str | None  # the ``event:`` line, None when absent
    data: dict[str, Any] | None  # the ``data:`` payload when it is a JSON object
    raw: str
    data_error: str | None = None  # why ``data`` is None (or suspect: invalid UTF-8)
    text: str | None = None  # the joined ``data:`` lines, None when there were none
    terminated: bool = True  # False for a trailing event without its blank line
    # Why the event cannot be read at all (invalid UTF-8, JSON nested too deep): like the
    # same body outside a stream, the answer is unusable, not a wire violation.
    unusable: str | None = None

    @property
    def type(self) -> str | None:
        """What the event is: ``data.type``, else the ``event:`` name."""
        kind = self.data.get("type") if self.data else None
        return kind if isinstance(kind, str) else self.name


def parse(raw: bytes) -> list[Event]:
    """Split a stream body into events; never raises, problems land in ``data_error``.

    Lines end in ``\\n``, ``\\r\\n`` or ``\\r`` and a blank line ends an event, so
    ``\\n\\n``, ``\\r\\n\\r\\n`` and ``\\r\\r`` all separate events (as in the SDK's decoder).
    Comment-only blocks (``: keep-alive``) are not events.
    """
    events: list[Event] = []
    lines: list[bytes] = []
    for line in raw.splitlines(keepends=True):
        if line.strip(b"\r\n"):
            lines.append(line)
        elif lines:
            _append(events, lines, terminated=True)
            lines = []
            if len(events) > MAX_EVENTS:
                events[-1].unusable = f"more than {MAX_EVENTS:,} events; the rest not read"
                return events
    if lines:
        _append(events, lines, terminated=False)
    return events


def _append(events: list[Event], lines: list[bytes], *, terminated: bool) -> None:
    chunk = b"".join(lines)
    try:
        text = chunk.decode("utf-8")
        decode_error = None
    except UnicodeDecodeError as exc:
        text = chunk.decode("utf-8", errors="replace")
        decode_error = f"invalid UTF-8 at byte {exc.start} of the event"
    name: str | None = None
    data_lines: list[str] = []
    fields = 0
    for line in text.splitlines():
        if line.startswith(":"):
            continue
        fields += 1
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data_lines.append(value)
    if not fields:
        return
    data_text = "\n".join(data_lines) if data_lines else None
    data, data_error = _decode_data(data_text)
    too_deep = data_error if data_error and data_error.startswith("data is JSON nested") else None
    events.append(
        Event(
            name=name,
            data=data,
            raw=text,
            data_error=decode_error or data_error,
            text=data_text,
            terminated=terminated,
            unusable=decode_error or too_deep,
        )
    )


def _decode_data(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if text is None:
        return None, "no data: line"
    if safejson.json_depth_exceeds(text):
        return None, f"data is JSON nested deeper than {safejson.MAX_JSON_DEPTH} levels; not parsed"
    try:
        value = safejson.loads(text)
    except ValueError:
        return None, f"data is not JSON: {text[:60]!r}"
    if not isinstance(value, dict):
        return None, f"data is a JSON {json_type(value)}, not an object"
    return value, None


def check_grammar(events: list[Event]) -> list[str]:  # noqa: C901  (the SSE state machine)
    """The stream's order and framing rules; an empty list means conformant.

    ``ping`` may come anywhere, even before ``message_start``: the docs allow "any number of
    ping events" and the official SDK skips them (LiteLLM sends one first when its upstream is
    slow, so a stricter rule would make verdicts depend on latency); an ``error`` event ends
    the stream
    legitimately (expose it with ``stream_error``), so completion rules are then skipped;
    unknown event types are tolerated, as the API's versioning policy asks of clients.
    """
    if not events:
        return ["stream has no events"]
    if all(ev.text is None for ev in events):
        return [f"no data: lines, not an event stream (body starts {events[0].raw[:60]!r})"]
    out: list[str] = []
    blocks: dict[int, str] = {}  # index -> block type, for every started block
    tool_json: dict[int, str] = {}  # index -> concatenated partial_json
    open_index: int | None = None
    started = deltas = stop_reason_seen = stopped = early = False
    for i, ev in enumerate(events):
        at = f"event {i}"
        if ev.text == "[DONE]":
            out.append(f"{at}: data: [DONE] sentinel (OpenAI style); the stream must just end")
            continue
        if ev.data_error:
            out.append(f"{at}: {ev.data_error}")
        if not ev.terminated:
            out.append(f"{at}: not ended by a blank line, so clients drop it")
        kind = ev.type
        if ev.name is None:
            out.append(f"{at}: no event: line (data.type {kind!r}); the SDK drops such events")
        elif ev.data and ev.name != ev.data.get("type"):
            out.append(f"{at}: event: {ev.name!r} but data.type is {ev.data.get('type')!r}")
        if stopped:
            out.append(f"{at}: {kind} after message_stop")
            break
        if not started and not early and kind not in ("message_start", "error", "ping"):
            early = True
            out.append(f"{at}: stream starts with {kind}, expected message_start")
        data = ev.data or {}
        index = data.get("index")
        if kind == "message_start":
            if started:
                out.append(f"{at}: message_start again")
            started = True
            out.extend(f"{at}: {p}" for p in _message_start_problems(data.get("message")))
        elif kind == "error":
            rest = events[i + 1 :]
            if rest:
                out.append(f"event {i + 1}: {rest[0].type} after the error event")
            return out
        elif kind == "content_block_start":
            block = data.get("content_block")
            block_type = block.get("type") if isinstance(block, dict) else None
            if open_index is not None:
                out.append(f"{at}: block {index} starts while block {open_index} is open")
            expected = max(blocks) + 1 if blocks else 0
            if index != expected:
                out.append(f"{at}: content_block_start index {index}, expected {expected}")
            if isinstance(index, int) and not isinstance(index, bool):
                blocks[index] = str(block_type)
                open_index = index
        elif kind == "content_block_delta":
            delta = data.get("delta")
            delta_type = delta.get("type") if isinstance(delta, dict) else None
            if index not in blocks:
                out.append(
                    f"{at}: content_block_delta for index {index} but block {index} "
                    "was never started"
                )
            elif index != open_index:
                out.append(f"{at}: content_block_delta for block {index}, which is closed")
            elif delta_type not in DELTAS_FOR_BLOCK.get(blocks[index], frozenset()):
                out.append(f"{at}: {delta_type} in a {blocks[index]} block (index {index})")
            elif delta_type == "input_json_delta":
                partial = delta.get("partial_json")
                tool_json[index] = tool_json.get(index, "") + (
                    partial if isinstance(partial, str) else ""
                )
        elif kind == "content_block_stop":
            if index != open_index:
                out.append(f"{at}: content_block_stop for block {index}, which is not open")
            else:
                open_index = None
        elif kind == "message_delta":
            deltas = True
            if open_index is not None:
                out.append(f"{at}: message_delta while block {open_index} is open")
            delta, usage = data.get("delta"), data.get("usage")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                stop_reason_seen = True
            if not isinstance(usage, dict) or not isinstance(usage.get("output_tokens"), int):
                out.append(f"{at}: message_delta without usage.output_tokens")
        elif kind == "message_stop":
            stopped = True
            if open_index is not None:
                out.append(f"{at}: message_stop while block {open_index} is open")
    out.extend(_tool_input_problems(tool_json))
    if not deltas:
        out.append("no message_delta event")
    elif not stop_reason_seen:
        out.append("no message_delta with a non-null stop_reason")
    if not stopped:
        out.append("stream does not end with message_stop")
    return out


def _message_start_problems(message: Any) -> list[str]:
    if not isinstance(message, dict):
        return ["message_start has no message object"]
    out = []
    if message.get("type") != "message":
        out.append(f"message_start message.type is {message.get('type')!r}, expected 'message'")
    if message.get("role") != "assistant":
        out.append(f"message_start message.role is {message.get('role')!r}, expected 'assistant'")
    if message.get("content") != []:
        out.append("message_start message.content is not []")
    usage = message.get("usage")
    if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
        out.append("message_start message.usage.input_tokens missing")
    return out


def _tool_input_problems(tool_json: dict[int, str]) -> list[str]:
    """Tool input arrives as JSON fragments; their concatenation must be one JSON object."""
    out = []
    for index, text in tool_json.items():
        if not text:
            continue
        try:
            value = safejson.loads(text)
        except ValueError as exc:
            out.append(f"block {index}: partial_json does not parse ({exc}): {text[:60]!r}")
            continue
        if not isinstance(value, dict):
            out.append(f"block {index}: partial_json is a JSON {json_type(value)}, not an object")
    return out


def accumulate(events: list[Event]) -> dict[str, Any]:
    """Fold a stream into the Message a non-streaming call would have returned.

    Mirrors the SDK's accumulation (usage on ``message_delta`` is cumulative and overwrites,
    ``None`` values do not), but never raises: tool input that does not parse is kept as
    the raw string so the Message check reports it. Problems are ``check_grammar``'s job.
    """
    message: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    tool_json: dict[int, str] = {}
    for ev in events:
        data = ev.data or {}
        kind, index = data.get("type"), data.get("index")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            message = copy.deepcopy(data["message"])
        elif kind == "content_block_start" and isinstance(data.get("content_block"), dict):
            if isinstance(index, int):
                blocks[index] = dict(data["content_block"])
        elif kind == "content_block_delta" and index in blocks:
            _apply_delta(blocks[index], data.get("delta"), tool_json, index)
        elif kind == "message_delta":
            _apply_message_delta(message, data)
    for index, text in tool_json.items():
        if text:
            try:
                blocks[index]["input"] = safejson.loads(text)
            except ValueError:
                blocks[index]["input"] = text
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def _apply_delta(block: dict[str, Any], delta: Any, tool_json: dict[int, str], index: int) -> None:
    if not isinstance(delta, dict):
        return
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = _joined(block.get("text"), delta.get("text"))
    elif kind == "citations_delta":
        block["citations"] = [*(block.get("citations") or []), delta.get("citation")]
    elif kind == "thinking_delta":
        block["thinking"] = _joined(block.get("thinking"), delta.get("thinking"))
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "input_json_delta" and block.get("type") in TOOL_BLOCKS:
        tool_json[index] = _joined(tool_json.get(index), delta.get("partial_json"))


def _joined(before: Any, piece: Any) -> str:
    """Append a string fragment; a non-string is skipped (the event schema reports it)."""
    before = before if isinstance(before, str) else ""
    return before + piece if isinstance(piece, str) else before


def _apply_message_delta(message: dict[str, Any], data: dict[str, Any]) -> None:
    delta = data.get("delta")
    if isinstance(delta, dict):
        for key in ("stop_reason", "stop_sequence", "stop_details", "container"):
            if key in delta and (key != "container" or delta[key] is not None):
                message[key] = delta[key]
    usage = data.get("usage")
    if isinstance(usage, dict):
        merged = dict(message.get("usage") or {})
        merged.update({k: v for k, v in usage.items() if v is not None})
        message["usage"] = merged


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages ("a string, expected object")."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    if value is None:
        return "null"
    return names.get(type(value), "number")


def stream_error(events: list[Event]) -> dict[str, Any] | None:
    """The payload of the stream's ``error`` event (``{}`` if it was not JSON), else None."""
    for ev in events:
        if ev.type == "error":
            return ev.data or {}
    return None
