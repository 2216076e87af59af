"""A hostile endpoint on 127.0.0.1, for tests/test_hostile.py: the fake Anthropic server
(fakeserver.py) with one behaviour an endpoint built to misbehave would have.

An endpoint under test is untrusted input. These are the ways one got past the suite (issue
15); each must end as ``error`` (or the right verdict) with no fragment of the key in any
artifact. The key is the one the request carries (``x-api-key`` or ``Bearer``).

Leaking the key:

* ``split_key``: the key split across two SSE text deltas (a JSON answer quotes it whole);
* ``long_text``: a 300-character text with the key at character 108 (a 120-character cut
  would keep its first 12);
* ``reason_phrase``: the key in the HTTP reason phrase of every answer;
* ``header_name``: a response header whose *name* carries the key;
* ``escaped_key``: the key JSON-escaped (``\\u002d`` for ``-``) in a JSON answer's text;
* ``key_everywhere``: all of the above at once.

Echoing the key where a scrubber that only parses well-formed JSON misses it (issue 25), the
key escaped as ``\\uXXXX`` for every character wherever it sits inside a JSON string:

* ``sse_lines``: in every stream event's ``id:`` line and a ``:`` comment line, and as the
  ``event:`` name of an extra ``ping``;
* ``duplicate_member``: a JSON answer's first member given twice, the escaped key first (a
  parser keeps the second: the answer reads as the plain one);
* ``deep_key``: a 200 JSON answer nested 70 deep around the escaped key;
* ``malformed_key``: a 200 JSON answer cut off after the escaped key;
* ``tool_input_key``: streamed tool input whose ``input_json_delta`` pieces join into
  ``{"q": "<escaped key>"}``, split in the middle of the key;
* ``encoded_key``: the key base64'd in a Basic token (``user:key``), base64url'd, hex'd
  and upper-cased in a text block.

Stream events that cannot be read, as a body could not be outside a stream: ``sse_deep``
adds a ``ping`` whose data is valid JSON nested 70 deep; ``sse_bad_utf8`` puts a byte that
is not UTF-8 in the first text delta.

Streams whose bytes arrive in time but are too much to judge: ``many_deltas`` sends a
stream's text as 19,000 one-character deltas (1.7 MB, under the event cap); ``many_pings``
puts 30,000 pings after ``message_start``.

Numbers JSON cannot write back: ``huge_numbers`` gives every JSON answer's token counts as
``1e999999`` (infinity once parsed).

Text that is not data: ``control_codes`` prefixes every error message and text (JSON and
streamed) with ESC sequences that move the cursor and forge a summary, NUL, backspace, CR
and a bidi override (:data:`CONTROL`).

Transport failures that must not become verdicts:

* ``rate_limited``: every /v1/messages answer is 429 with ``retry-after: 0``;
* ``redirect``: 307 to /elsewhere; ``moved``: 301; ``timeout_408``: 408;
* ``deep_json``: a 200 JSON answer nested 100,000 deep (and a 400 one for errors);
* ``sse_for_json``: a request without ``stream`` answered with an SSE stream;
* ``gzip_bomb``: a 200 gzip answer of ~1 MB that inflates to 1 GB;
* ``html_200``: a 200 ``text/html`` page for every /v1/messages request;
* ``html_404``: a 404 ``text/html`` page for every request, on every path (a wrong base
  URL: the site answers, the API is not there);
* ``text_400``: a ``text/plain`` 400 for every /v1/messages request (a proxy's page, not
  the API's refusal).

The raw-socket faults (a server that never answers, an endless stream, streams cut
mid-event) are tests/faultserver.py's.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from fakeserver import FakeAnthropic, Reply, _Handler
from loopback import Loopback

LEAKS = frozenset({"split_key", "long_text", "reason_phrase", "header_name", "escaped_key"})
ECHOES = frozenset(
    {"sse_lines", "duplicate_member", "deep_key", "malformed_key", "tool_input_key", "encoded_key"}
)
# Terminal and page control in an endpoint's text: cursor up, erase line, a forged summary,
# NUL, backspace, CR and a right-to-left override.
CONTROL = "\x1b[1A\x1b[2K\x1b[32mall rows passed\x1b[0m\x00\x08\r\u202e"
BEHAVIOURS = (
    LEAKS
    | ECHOES
    | frozenset(
        {
            "key_everywhere",
            "rate_limited",
            "redirect",
            "moved",
            "timeout_408",
            "deep_json",
            "sse_for_json",
            "gzip_bomb",
            "html_200",
            "overloaded_529",
            "server_error_500",
            "bad_gateway_html",
            "control_codes",
            "sse_deep",
            "sse_bad_utf8",
            "huge_numbers",
            "many_deltas",
            "many_pings",
            "html_404",
            "text_400",
        }
    )
)
# Behaviours under which no request to /v1/messages gets a usable answer: every row that
# sends one must end in error, whatever its oracle would have concluded.
TRANSPORT = frozenset(
    {
        "rate_limited",
        "redirect",
        "moved",
        "timeout_408",
        "deep_json",
        "html_200",
        "gzip_bomb",
        "overloaded_529",
        "server_error_500",
        "bad_gateway_html",
        "html_404",
    }
)


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MB), made once per process."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * (1 << 20)
    return b"".join(comp.compress(block) for _ in range(1024)) + comp.flush()


def escaped(key: str) -> str:
    """Every character of ``key`` as a JSON ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(c):04x}" for c in key)


def encoded_forms(key: str) -> dict[str, str]:
    """The key as gateways echo it: a Basic token, base64url, hex, upper case."""
    import base64

    return {
        "basic": base64.b64encode(f"user:{key}".encode()).decode(),
        "base64url": base64.urlsafe_b64encode(f"ab{key}".encode()).decode(),
        "hex": key.encode().hex(),
        "upper": key.upper(),
    }


def _key_of(headers: dict[str, str]) -> str:
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.partition(" ")[2] or "no-key-sent"


def _events(reply: Reply) -> list[dict[str, Any]]:
    out = []
    for chunk in reply.chunks:
        for line in chunk.decode().splitlines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def _chunks(events: list[dict[str, Any]]) -> list[bytes]:
    return [f"event: {d['type']}\ndata: {json.dumps(d)}\n\n".encode() for d in events]


class HostileAnthropic(FakeAnthropic):
    """``with HostileAnthropic("split_key") as server: server.base_url``."""

    def __init__(self, behaviour: str, **kwargs: Any) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {sorted(BEHAVIOURS)}")
        super().__init__(**kwargs)
        self.behaviour = behaviour
        self.leaks = LEAKS if behaviour == "key_everywhere" else {behaviour} & LEAKS
        self.sent: list[bytes] = []  # every answer's header names and body, as sent

    def start(self) -> HostileAnthropic:
        app = self

        class Handler(_HostileHandler):
            server_app = app

        self._loop = Loopback(Handler).start()
        return self

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        headers = {k.lower(): v for k, v in headers.items()}
        key = _key_of(headers)
        route = path.split("?", 1)[0]
        if self.behaviour == "html_404":
            page = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
            return Reply(404, {"content-type": "text/html"}, [page])
        reply = super().handle(method, path, headers, raw)
        if route == "/v1/messages":
            reply = self._transport(reply, raw) or reply
        if "header_name" in self.leaks:
            reply.headers[f"x-seen-{key}"] = "1"
        if "reason_phrase" in self.leaks:
            reply.reason = f"OK for {key}"  # type: ignore[attr-defined]
        if reply.status == 200 and self.leaks & {"split_key", "long_text", "escaped_key"}:
            self._leak_in_text(reply, key)
        if self.behaviour in ECHOES:
            _echo(self.behaviour, reply, key)
        if self.behaviour == "control_codes":
            _control_codes(reply)
        if self.behaviour == "huge_numbers" and len(reply.chunks) == 1:
            reply.chunks = [
                re.sub(rb'("(?:input|output)_tokens": )\d+', rb"\g<1>1e999999", reply.chunks[0])
            ]
        if self.behaviour in ("many_deltas", "many_pings"):
            _flood_stream(self.behaviour, reply)
        if self.behaviour in ("sse_deep", "sse_bad_utf8"):
            _unusable_event(self.behaviour, reply)
        self.sent.append(" ".join(reply.headers).encode() + b" " + reply.body)
        return reply

    def _transport(self, reply: Reply, raw: bytes) -> Reply | None:
        b = self.behaviour
        if b == "rate_limited":
            body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
            return Reply(429, {"content-type": "application/json", "retry-after": "0"}, [
                json.dumps(body).encode()
            ])  # fmt: skip
        if b in ("redirect", "moved", "timeout_408"):
            status = {"redirect": 307, "moved": 301, "timeout_408": 408}[b]
            return Reply(status, {"location": "/elsewhere", "content-type": "text/plain"}, [b"go"])
        if b in ("overloaded_529", "server_error_500"):
            status, kind = (
                (529, "overloaded_error") if b == "overloaded_529" else (500, "api_error")
            )
            body = {"type": "error", "error": {"type": kind, "message": "internal trouble"}}
            return Reply(status, {"content-type": "application/json"}, [json.dumps(body).encode()])
        if b == "bad_gateway_html":
            html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Reply(502, {"content-type": "text/html"}, [html])
        if b == "deep_json":
            status = 200 if reply.status == 200 else 400
            return Reply(status, {"content-type": "application/json"}, [b"[" * 100_000])
        if b == "text_400":
            return Reply(400, {"content-type": "text/plain"}, [b"Bad Request"])
        if b == "html_200":
            return Reply(200, {"content-type": "text/html"}, [b"<html><body>hi</body></html>"])
        if b == "gzip_bomb":
            headers = {"content-type": "application/json", "content-encoding": "gzip"}
            return Reply(200, headers, [gzip_bomb()])
        if (
            b == "sse_for_json"
            and reply.status == 200
            and not reply.headers.get("content-type", "").startswith("text/event-stream")
        ):
            body = json.loads(raw)
            message = self.generate(body)
            return self.stream_reply(message, body)
        return None

    def _leak_in_text(self, reply: Reply, key: str) -> None:
        ctype = reply.headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            events = _events(reply)
            for i, d in enumerate(events):
                delta = d.get("delta") or {}
                if d["type"] == "content_block_delta" and delta.get("type") == "text_delta":
                    half = len(key) // 2
                    first = dict(d, delta={"type": "text_delta", "text": f"key {key[:half]}"})
                    second = dict(d, delta={"type": "text_delta", "text": f"{key[half:]} ok"})
                    events[i : i + 1] = [first, second]
                    break
            reply.chunks = _chunks(events)
            return
        if not ctype.startswith("application/json") or len(reply.chunks) != 1:
            return
        try:
            doc = json.loads(reply.chunks[0])
        except ValueError:
            return
        if not isinstance(doc, dict) or doc.get("type") != "message":
            return
        text = f"your key is {key}"
        if "long_text" in self.leaks:
            text = ("x" * 108 + key + " " + "y" * 300)[:300]
        marker = "\0KEY\0"
        blocks = doc.get("content") or []
        blocks.insert(0, {"type": "text", "text": text.replace(key, marker)})
        doc["content"] = blocks
        out = json.dumps(doc)
        if "escaped_key" in self.leaks:
            escaped = json.dumps(key).strip('"').replace("-", "\\u002d").replace("k", "\\u006b")
            out = out.replace(json.dumps(marker).strip('"'), escaped)
        else:
            out = out.replace(json.dumps(marker).strip('"'), json.dumps(key).strip('"'))
        reply.chunks = [out.encode()]


def _echo(behaviour: str, reply: Reply, key: str) -> None:
    """Quote ``key`` the way ``behaviour`` does (see the module's docstring)."""
    stream = reply.headers.get("content-type", "").startswith("text/event-stream")
    if stream and behaviour == "sse_lines":
        ping = f'event: {key}\ndata: {{"type": "ping"}}\n\n'.encode()
        lines = [f"id: {key}\n: seen {key}\n".encode() + c for c in reply.chunks]
        reply.chunks = [*lines[:1], ping, *lines[1:]]
    elif stream and behaviour == "tool_input_key":
        _tool_input_echo(reply, key)
    elif not stream and reply.headers.get("content-type", "").startswith("application/json"):
        _json_echo(behaviour, reply, key)


def _tool_input_echo(reply: Reply, key: str) -> None:
    events = _events(reply)
    pieces = [
        i for i, d in enumerate(events) if (d.get("delta") or {}).get("type") == "input_json_delta"
    ]
    if not pieces:
        return
    text = '{"q": "' + escaped(key) + '"}'
    half = len(text) // 2
    first, last = pieces[0], pieces[-1]
    events[first]["delta"]["partial_json"] = text[:half]
    events[last]["delta"]["partial_json"] = text[half:] if last != first else text
    for i in pieces[1:-1]:
        events[i]["delta"]["partial_json"] = ""
    reply.chunks = _chunks(events)


def _json_echo(behaviour: str, reply: Reply, key: str) -> None:
    body = reply.body.decode()
    quoted = '"' + escaped(key) + '"'
    if behaviour == "duplicate_member" and body.startswith('{"'):
        first = body[1:].partition(":")[0]
        reply.chunks = [("{" + first + ": " + quoted + ", " + body[1:]).encode()]
    elif reply.status != 200:
        return
    elif behaviour == "deep_key":
        reply.chunks = [("[" * 70 + quoted + "]" * 70).encode()]
    elif behaviour == "malformed_key":
        reply.chunks = [('{"type": "message", "content": [{"text": ' + quoted).encode()]
    elif behaviour == "encoded_key":
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("type") == "message":
            words = " ".join(f"{k} {v}" for k, v in encoded_forms(key).items())
            doc["content"] = [{"type": "text", "text": words}, *(doc.get("content") or [])]
            reply.chunks = [json.dumps(doc).encode()]


def _with_control(value: Any) -> Any:
    """Every error message and text of an answer prefixed with :data:`CONTROL`."""
    if isinstance(value, dict):
        out = {k: _with_control(v) for k, v in value.items()}
        for field in ("message", "text"):
            if isinstance(out.get(field), str):
                out[field] = CONTROL + out[field]
        return out
    if isinstance(value, list):
        return [_with_control(v) for v in value]
    return value


def _unusable_event(behaviour: str, reply: Reply) -> None:
    if not reply.headers.get("content-type", "").startswith("text/event-stream"):
        return
    if behaviour == "sse_deep":
        deep = '{"type": "ping", "x": ' + "[" * 70 + "]" * 70 + "}"
        reply.chunks.insert(1, f"event: ping\ndata: {deep}\n\n".encode())
        return
    for i, chunk in enumerate(reply.chunks):
        if b'"text_delta"' in chunk:
            reply.chunks[i] = chunk.replace(b'"text": "', b'"text": "\xff', 1)
            return


def _flood_stream(behaviour: str, reply: Reply) -> None:
    if not reply.headers.get("content-type", "").startswith("text/event-stream"):
        return
    events = _events(reply)
    at = next((i for i, d in enumerate(events) if d["type"] == "content_block_delta"), None)
    if behaviour == "many_pings":
        events[1:1] = [{"type": "ping"}] * 30_000
    elif at is not None and events[at]["delta"].get("type") == "text_delta":
        one = {"type": "content_block_delta", "index": events[at]["index"]}
        events[at : at + 1] = [{**one, "delta": {"type": "text_delta", "text": "a"}}] * 19_000
    reply.chunks = _chunks(events)


def _control_codes(reply: Reply) -> None:
    ctype = reply.headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        reply.chunks = _chunks([_with_control(d) for d in _events(reply)])
    elif ctype.startswith("application/json") and len(reply.chunks) == 1:
        reply.chunks = [json.dumps(_with_control(json.loads(reply.chunks[0]))).encode()]


class _HostileHandler(_Handler):
    def send_response(self, code: int, message: str | None = None) -> None:
        reason = getattr(self, "_reason", None)
        super().send_response(code, reason or message)

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server_app.handle(method, self.path, dict(self.headers.items()), raw)
        self._reason = getattr(reply, "reason", None)
        self._send(reply)
