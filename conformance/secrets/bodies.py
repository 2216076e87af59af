"""Stored answers' bodies without the keys: one pass over every byte of a body as raw text,
after a stream's deltas are scrubbed where they join (see :func:`scrub_body`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from conformance.safejson import loads
from conformance.secrets.forms import PLACEHOLDER, key_spans, scrub_text, usable


def scrub_bytes(data: bytes, secrets: Iterable[str | None]) -> bytes:
    """Raw bytes scrubbed as text (undecodable bytes are kept as they are)."""
    keys = usable(secrets)
    if not keys or not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    clean = scrub_text(text, keys)
    return data if clean == text else clean.encode("utf-8", "surrogateescape")


_EVENT_SPLIT = re.compile(r"(\r\n\r\n|\n\n|\r\r)")
_JOINED = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def _scrub_sse(text: str, keys: list[str]) -> str:
    """An SSE body with keys scrubbed in the text that consecutive deltas of one block join
    into (a key split across two text deltas, tool input rebuilt from its pieces). Each
    event's own lines are left to the raw pass of :func:`scrub_body`."""
    pieces = _EVENT_SPLIT.split(text)
    events = _sse_events(pieces)
    for parts in _joined_deltas(events).values():
        _scrub_joined(parts, keys)
    for i, head, data, changed in events:
        if changed:
            pieces[i] = "\n".join([*head, "data: " + json.dumps(data, ensure_ascii=False)])
    return "".join(pieces)


def _sse_events(pieces: list[str]) -> list[list[Any]]:
    """``[piece index, head lines, data object, changed]`` per event whose data is JSON."""
    events: list[list[Any]] = []
    for i in range(0, len(pieces), 2):
        if "_delta" not in pieces[i]:
            continue  # only deltas join
        lines = pieces[i].splitlines()
        data_lines = [ln[5:].lstrip(" ") for ln in lines if ln.startswith("data:")]
        head = [ln for ln in lines if not ln.startswith("data:")]
        try:
            obj = loads("\n".join(data_lines)) if data_lines else None
        except ValueError:
            obj = None
        if obj is not None:
            events.append([i, head, obj, False])
    return events


def _joined_deltas(events: list[list[Any]]) -> dict[Any, list[tuple[list[Any], str]]]:
    """The delta events of each (block index, text field), in order: what a client joins."""
    by_block: dict[Any, list[tuple[list[Any], str]]] = {}
    for ev in events:
        data = ev[2]
        delta = data.get("delta") if isinstance(data, dict) else None
        if isinstance(delta, dict) and delta.get("type") in _JOINED:
            field = _JOINED[delta["type"]]
            if isinstance(delta.get(field), str):
                by_block.setdefault((data.get("index"), field), []).append((ev, field))
    return by_block


def _scrub_joined(parts: list[tuple[list[Any], str]], keys: list[str]) -> None:
    """Find keys in the joined text of one block's deltas and cut them out piece by piece
    (the placeholder goes in the piece where a key starts)."""
    strings = [ev[2]["delta"][f] for ev, f in parts]
    joined = "".join(strings)
    spans = key_spans(joined, keys)
    if not spans:
        return
    pos = 0
    for (ev, f), s in zip(parts, strings, strict=True):
        lo, hi = pos, pos + len(s)
        out, cur = [], lo
        for a, b in spans:
            if b <= lo or a >= hi:
                continue
            out.append(joined[cur : max(a, lo)])
            if a >= lo:
                out.append(PLACEHOLDER)
            cur = min(b, hi)
        out.append(joined[cur:hi])
        new = "".join(out)
        if new != s:
            ev[2]["delta"][f] = new
            ev[3] = True
        pos = hi


def scrub_body(data: bytes, secrets: Iterable[str | None], content_type: str = "") -> bytes:
    """A stored answer's body without the keys. One pass over every byte of it, as raw text
    (JSON escapes undone on the way, see :func:`key_spans`), whatever the body is: an SSE
    stream's ``id:``, ``event:`` and comment lines, a JSON document with duplicate members,
    too deep or malformed. A stream is first scrubbed across its deltas (a key split over two
    text deltas, or tool input whose ``input_json_delta`` pieces join into it). Unchanged
    bytes when nothing is found."""
    keys = usable(secrets)
    if not keys or not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    clean = text
    if "event-stream" in content_type or text.lstrip().startswith(("event:", "data:", ":", "id:")):
        clean = _scrub_sse(text, keys)
    clean = scrub_text(clean, keys)
    return data if clean == text else clean.encode("utf-8", "surrogateescape")
