"""Wire checks applied to every response the suite receives.

Two independent judges:

* the **schemas** generated from the pinned SDK (``schemas/anthropic/*.json``, see
  ``scripts/gen_schemas.py``) plus a *wire overlay* in code. The SDK types are lenient by
  construction (optional keys, no value constraints) and miss a few wire facts, so the overlay
  requires keys clients index directly, checks values, and relaxes what the docs themselves
  send differently. The generated files are never edited by hand. These checks need only
  ``jsonschema``, not the SDK.
* the **official client** (``sdk_load_message`` / ``sdk_load_stream``): does the pinned
  ``anthropic`` SDK load the response? A single binary "will real users' code work" signal.
  The SDK is an optional dependency; without it these raise ``SDKUnavailable``.

Every check returns a list of short, specific violations; an empty list means conformant.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from conformance import fastschema, sse
from conformance.sdk import SDKUnavailable, sdk_load_message, sdk_load_stream
from conformance.transport import row_time_up

SCHEMA_DIR = Path(__file__).parent / "schemas" / "anthropic"

# The keys a client indexes directly: present even when null (the SDK types make the last
# three optional, so the schema alone would let a response without them pass).
MESSAGE_KEYS = ("id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage")
# Clients echo tool ids back in tool_result blocks; Anthropic rejects ids outside this pattern.
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# error.type each HTTP status should carry (docs' error page). Any 4xx may also say
# invalid_request_error.
ERROR_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_TYPES = frozenset(ERROR_TYPE_FOR_STATUS.values())
STATUS_FOR_ERROR_TYPE = {v: k for k, v in ERROR_TYPE_FOR_STATUS.items()}
# Stream event type -> its definition in RawMessageStreamEvent.json.
EVENT_DEFS = {
    "message_start": "RawMessageStartEvent",
    "message_delta": "RawMessageDeltaEvent",
    "message_stop": "RawMessageStopEvent",
    "content_block_start": "RawContentBlockStartEvent",
    "content_block_delta": "RawContentBlockDeltaEvent",
    "content_block_stop": "RawContentBlockStopEvent",
}


# --- schemas and overlay ----------------------------------------------------------------


def load_schema(name: str) -> dict[str, Any]:
    """A generated schema as written by ``scripts/gen_schemas.py`` (a fresh copy)."""
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def _overlaid(name: str) -> dict[str, Any]:
    """The schema ``name`` with the wire overlay applied."""
    schema = load_schema(name)
    defs = schema.setdefault("$defs", {})
    if name == "Message":
        schema["required"] = sorted(set(schema["required"]) | set(MESSAGE_KEYS))
    elif name == "RawMessageStreamEvent":
        # The docs' thinking example starts the block without `signature`; it arrives in a
        # signature_delta. Only the block-start copy is relaxed, not the final Message's.
        start = copy.deepcopy(defs["ThinkingBlock"])
        start["required"] = [k for k in start["required"] if k != "signature"]
        defs["ThinkingBlockStart"] = start
        branches = defs["RawContentBlockStartEvent"]["properties"]["content_block"]["anyOf"]
        for branch in branches:
            if branch.get("$ref") == "#/$defs/ThinkingBlock":
                branch["$ref"] = "#/$defs/ThinkingBlockStart"
    elif name == "ErrorResponse":
        # The docs list request_too_large for HTTP 413; the SDK's error union lacks it.
        extra = copy.deepcopy(defs["InvalidRequestErrorObject"])
        extra["properties"]["type"]["const"] = "request_too_large"
        extra["title"] = "RequestTooLargeErrorObject"
        defs["RequestTooLargeErrorObject"] = extra
        schema["properties"]["error"]["anyOf"].append(
            {"$ref": "#/$defs/RequestTooLargeErrorObject"}
        )
    elif name == "ModelInfo":
        # `lifecycle` is a recent SDK addition; the documented wire shape is these four.
        schema["required"] = ["id", "type", "display_name", "created_at"]
    return schema


@cache
def _validator(name: str, ref: str | None = None) -> Draft202012Validator:
    """A validator for the overlaid schema ``name``, or for its definition ``ref``."""
    schema = _overlaid(name)
    if ref is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{ref}"}
    return Draft202012Validator(schema)


@cache
def _valid(name: str, ref: str | None = None) -> fastschema.Check | None:
    """The compiled validity check of the overlaid schema ``name`` (or its ``ref``), or
    None if it uses a keyword :mod:`conformance.fastschema` does not implement."""
    try:
        return fastschema.compile_schema(_overlaid(name), ref)
    except fastschema.Unsupported:
        return None


def schema_errors(
    name: str, instance: Any, *, where: str = "", ref: str | None = None
) -> list[str]:
    """Validate against the overlaid schema ``name``; readable messages prefixed by ``where``.

    A valid instance (nearly every one) is told by the compiled check alone; jsonschema
    explains the rest. Its messages are memoized by the instance's exact JSON text (key
    order included): a deviating endpoint repeats the same deviation in every answer."""
    valid = _valid(name, ref)
    try:
        if valid is not None and valid(instance):
            return []
    except RecursionError:
        pass  # jsonschema says what it makes of an instance that deep
    try:
        text = json.dumps(instance, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        found = _schema_messages(name, ref, instance)
    else:
        found = _SCHEMA_MEMO.get((name, ref, text))
        if found is None:
            found = _schema_messages(name, ref, instance)
            if len(_SCHEMA_MEMO) >= SCHEMA_MEMO_SIZE:
                _SCHEMA_MEMO.clear()
            _SCHEMA_MEMO[(name, ref, text)] = found
    return [f"{where}: {m}" if where else m for m in found]


SCHEMA_MEMO_SIZE = 4096  # entries; past it the memo starts afresh (bounded memory)
_SCHEMA_MEMO: dict[tuple[str, str | None, str], tuple[str, ...]] = {}


def _schema_messages(name: str, ref: str | None, instance: Any) -> tuple[str, ...]:
    validator = _validator(name, ref)
    defs = validator.schema["$defs"]
    errors = sorted(validator.iter_errors(instance), key=lambda e: _path(e.absolute_path))
    return tuple(m for e in errors for m in _explain(e, defs))


def _explain(
    err: ValidationError, defs: dict[str, Any], anchor: tuple[int, str] | None = None
) -> list[str]:
    """Turn one jsonschema error into messages that say what is wrong.

    The SDK's unions reach JSON Schema as plain ``anyOf`` (its discriminator is lost), so a
    bad content block would only say "not valid under any of the given schemas". Pick the
    branch whose ``type`` const matches the instance's ``type`` and explain that branch
    (``anchor`` = its depth and label, e.g. ``content[0] (tool_use)``); for ``X | null``
    explain the non-null branch.
    """
    if err.validator not in ("anyOf", "oneOf") or not err.context:
        return [_leaf(err, anchor)]
    parts = list(err.absolute_path)
    here = _path(parts) or "value"
    kinds = [_branch_type(b, defs) for b in err.validator_value]
    instance = err.instance
    if any(kinds):
        if not isinstance(instance, dict):
            return [f"{here}: is {_described(instance)}, expected object"]
        kind = instance.get("type")
        if kind not in kinds:
            expected = ", ".join(repr(k) for k in kinds if k)
            what = "no 'type'" if kind is None else f"unknown type {kind!r}"
            return [f"{here}: {what}; expected one of {expected}"]
        pick = kinds.index(kind)
        anchor = (len(parts), f"{here} ({kind})")
    else:
        non_null = [i for i, b in enumerate(err.validator_value) if b != {"type": "null"}]
        if len(non_null) != 1:
            return [_leaf(err, anchor)]
        pick = non_null[0]
    chosen = [e for e in err.context if e.relative_schema_path[0] == pick]
    return [m for e in chosen for m in _explain(e, defs, anchor)]


def _branch_type(branch: dict[str, Any], defs: dict[str, Any]) -> str | None:
    if "$ref" in branch:
        branch = defs.get(branch["$ref"].rsplit("/", 1)[-1], {})
    const = branch.get("properties", {}).get("type", {}).get("const")
    return const if isinstance(const, str) else None


def _leaf(err: ValidationError, anchor: tuple[int, str] | None) -> str:
    depth, prefix = anchor or (0, "")
    field = _path(list(err.absolute_path)[depth:])
    if err.validator == "type":
        text = f"is {_described(err.instance)}, expected {err.validator_value}"
    elif err.validator == "const":
        text = f"is {err.instance!r}, expected {err.validator_value!r}"
    elif err.validator == "enum":
        text = f"is {err.instance!r}, expected one of {err.validator_value}"
    else:
        text = f"{field}: {err.message}" if field else err.message
        return f"{prefix}: {text}" if prefix else text
    text = f"{field!r} {text}" if field else f"value {text}"
    return f"{prefix}: {text}" if prefix else text


def _described(value: Any) -> str:
    kind = sse.json_type(value)
    return kind if kind == "null" else f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


# --- checks ------------------------------------------------------------------------------


def check_message(body: Any, *, max_tokens: int | None = None) -> list[str]:
    """A complete (non-streaming or accumulated) Message: schema plus wire overlay."""
    if not isinstance(body, dict):
        return [f"body is {_described(body)}, expected a Message object"]
    out = schema_errors("Message", body)
    if "stop_reason" in body and body["stop_reason"] is None:
        out.append("stop_reason is null in a complete message")
    if isinstance(body.get("id"), str) and not body["id"]:
        out.append("id is empty")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    for key in ("input_tokens", "output_tokens"):
        value = usage.get(key)
        if isinstance(value, int) and value < 0:
            out.append(f"usage.{key} is {value}, expected >= 0")
    output_tokens = usage.get("output_tokens")
    if max_tokens is not None and isinstance(output_tokens, int) and output_tokens > max_tokens:
        out.append(f"usage.output_tokens {output_tokens} exceeds max_tokens {max_tokens}")
    content = body.get("content") if isinstance(body.get("content"), list) else []
    for i, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") in TOOL_BLOCKS:
            block_id = block.get("id")
            if isinstance(block_id, str) and not TOOL_ID.match(block_id):
                out.append(
                    f"content[{i}] ({block['type']}): id {block_id!r} does not match "
                    f"{TOOL_ID.pattern}"
                )
    return out


def check_error(status: int, body: Any, raw: bytes) -> list[str]:
    """An error response: Anthropic's envelope, a documented error.type, matching the status.

    ``body`` is the decoded JSON (None when the body is not JSON); ``raw`` the bytes, to say
    what came instead (often a proxy's HTML page).
    """
    out = []
    if status < 400:
        out.append(f"error body sent with HTTP {status}; clients take it for a success")
    if body is None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return [*out, f"HTTP {status} with an empty body, expected an error object"]
        kind = "HTML" if text.startswith("<") else "not JSON"
        return [*out, f"HTTP {status} body is {kind}, expected an error object: {text[:60]!r}"]
    if not isinstance(body, dict):
        return [*out, f"body is {_described(body)}, expected an error object"]
    out.extend(schema_errors("ErrorResponse", body))
    error = body.get("error")
    error_type = error.get("type") if isinstance(error, dict) else None
    if error_type in ERROR_TYPES and status >= 400:
        expected = ERROR_TYPE_FOR_STATUS.get(status)
        home = STATUS_FOR_ERROR_TYPE[error_type]
        if expected is not None:
            ok = error_type == expected or (status < 500 and error_type == "invalid_request_error")
        else:
            ok = (home >= 500) == (status >= 500)
        if not ok:
            want = repr(expected) if expected else f"a {status // 100}xx type"
            out.append(f"HTTP {status} with error.type {error_type!r}, expected {want}")
    return out


def check_count_tokens(body: Any) -> list[str]:
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": int >= 0}``."""
    if not isinstance(body, dict):
        return [f"body is {_described(body)}, expected an object"]
    out = schema_errors("MessageTokensCount", body)
    tokens = body.get("input_tokens")
    if isinstance(tokens, int) and tokens < 0:
        out.append(f"input_tokens is {tokens}, expected >= 0")
    return out


def check_models_list(body: Any) -> list[str]:
    """``GET /v1/models``: the page envelope (not an SDK type) and a ModelInfo per item."""
    if not isinstance(body, dict):
        return [f"body is {_described(body)}, expected an object"]
    out = [
        f"'{key}' is missing"
        for key in ("data", "has_more", "first_id", "last_id")
        if key not in body
    ]
    if "has_more" in body and not isinstance(body["has_more"], bool):
        out.append(f"'has_more' is {_described(body['has_more'])}, expected boolean")
    for key in ("first_id", "last_id"):
        if body.get(key) is not None and not isinstance(body[key], str):
            out.append(f"{key!r} is {_described(body[key])}, expected string or null")
    data = body.get("data")
    if "data" in body and not isinstance(data, list):
        return [*out, f"'data' is {_described(data)}, expected array"]
    for i, item in enumerate(data or []):
        out.extend(schema_errors("ModelInfo", item, where=f"data[{i}]"))
    return out


def check_stream(
    raw: bytes, *, max_tokens: int | None = None, events: list[sse.Event] | None = None
) -> tuple[list[str], dict[str, Any] | None]:
    """A streamed body: framing and grammar, each event's schema, then the accumulated
    Message must pass ``check_message`` like a non-streaming one.

    Returns the violations and the accumulated Message; the Message is None when there is no
    ``message_start`` or the stream ended with an ``error`` event (``sse.stream_error``).
    ``events``: ``raw`` as the client already parsed it (``sse.parse(raw)``; read, never
    changed), so a stream is not parsed twice.
    """
    events = sse.parse(raw) if events is None else events
    out = sse.check_grammar(events)
    for i, ev in enumerate(events):
        kind = ev.type
        if i % 256 == 0 and row_time_up():  # 40k deltas took 15 s here under a 10 s budget
            out.append(f"event {i}: the row time budget ran out; events from here not checked")
            return out, None
        if ev.data is None:
            continue
        if kind in EVENT_DEFS:
            out.extend(
                schema_errors(
                    "RawMessageStreamEvent",
                    ev.data,
                    where=f"event {i} ({kind})",
                    ref=EVENT_DEFS[kind],
                )
            )
        elif kind == "error":
            out.extend(schema_errors("ErrorResponse", ev.data, where=f"event {i} (error)"))
    if sse.stream_error(events) is not None or not any(ev.type == "message_start" for ev in events):
        return out, None
    message = sse.accumulate(events)
    out.extend(f"accumulated message: {m}" for m in check_message(message, max_tokens=max_tokens))
    return out, message


__all__ = ["SDKUnavailable", "sdk_load_message", "sdk_load_stream"]  # re-exported from sdk.py
