"""JSON from an endpoint, parsed defensively: an answer nested 100,000 deep is refused with a
``ValueError`` (like any malformed body) instead of exhausting the stack, and every parser of
answers (the client, SSE events, cassette scrubbing) uses this one function."""

from __future__ import annotations

import json
from typing import Any

# Deeper than this, an answer is not parsed (no Message nests anywhere near as deep).
MAX_JSON_DEPTH = 64
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


def json_depth_exceeds(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``data`` nests arrays/objects deeper than ``limit`` (strings skipped)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def loads(data: bytes | str) -> Any:
    """``json.loads`` that refuses (ValueError) what nests deeper than :data:`MAX_JSON_DEPTH`
    instead of exhausting the stack."""
    if json_depth_exceeds(data):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels; not parsed")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep to parse") from None
