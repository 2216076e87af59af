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
from typing import Any

from fakeserver import FakeAnthropic, Reply, _Handler
from loopback import Loopback

LEAKS = frozenset({"split_key", "long_text", "reason_phrase", "header_name", "escaped_key"})
BEHAVIOURS = LEAKS | frozenset(
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
        "html_404",
        "text_400",
    }
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
