"""The capture proxy: a loopback endpoint that records what a client sends and forwards it.

Each request a client sends is written (credentials removed) to a JSONL file and forwarded to
an upstream, streams passed through as they come. It can answer one request with a canned
``tool_use`` so the client's next request carries a ``tool_result`` (a weak upstream model
never calls a tool).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import http.client
import json
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conformance.secrets import CREDENTIAL_HEADERS, redact_headers
from conformance.shapes import TRANSPORT_HEADERS

RESPONSE_SKIP = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length"})
TOOLS_DIR = Path(
    os.environ.get("CONFORMANCE_TOOLS") or Path.home() / ".cache/anthropic-conformance"
)
STOPPED_AT_CAP = re.compile(rb'"stop_reason"\s*:\s*"max_tokens"')


@dataclass
class CannedToolUse:
    """Answer the first request that offers tool ``name`` with a call of it, once.

    A small upstream model never calls a tool, so without this no client would ever send a
    ``tool_result``. ``when`` narrows which request is answered (e.g. the main loop's, not a
    side request that also carries tools).
    """

    name: str
    input: dict[str, Any]
    when: Callable[[dict[str, Any]], bool] | None = None
    used: bool = False

    def wants(self, body: Any) -> bool:
        if self.used or not isinstance(body, dict):
            return False
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        return self.name in names and (self.when is None or self.when(body))

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, str], list[bytes]]:
        """A real Anthropic-shaped answer: a Message, or its SSE stream if one was asked for."""
        self.used = True
        tool_id = "toolu_" + hashlib.sha256(self.name.encode()).hexdigest()[:24]
        block = {"type": "tool_use", "id": tool_id, "name": self.name, "input": self.input}
        message = {
            "id": "msg_capture" + tool_id[6:20],
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "capture"),
            "content": [block],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 10},
        }
        if not body.get("stream"):
            return 200, {"content-type": "application/json"}, [json.dumps(message).encode()]
        start = dict(message, content=[], stop_reason=None)
        events = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": dict(block, input={}),
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(self.input)},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": 10},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        chunks = [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events]
        return 200, {"content-type": "text/event-stream", "cache-control": "no-cache"}, chunks


class CaptureProxy:
    """Records every request to ``log`` (JSONL) and forwards it to ``upstream``.

    Credentials never reach the log: the client's key is dropped and the upstream's own key
    (``upstream_key``) is sent in the same style the client used (x-api-key or Bearer).
    ``upstream_model`` rewrites ``model`` on the way out (the recorded body keeps the client's)
    so a client that insists on a Claude model name can still be served by a local model.
    ``upstream_max_tokens`` caps ``max_tokens`` on the way out: clients ask for 32k-64k, and a
    small local model would generate for many minutes on a server others are using.
    """

    def __init__(
        self,
        upstream: str,
        log: Path,
        *,
        upstream_key: str | None = None,
        upstream_model: str | None = None,
        upstream_max_tokens: int | None = 64,
        canned: list[CannedToolUse] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 300.0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_prefix = parts.path.rstrip("/")
        self.upstream_key = upstream_key
        self.upstream_model = upstream_model
        self.upstream_max_tokens = upstream_max_tokens
        self.canned = list(canned or [])
        self.log = Path(log)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._seq = 0
        self.records: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # the JSONL is the log
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CaptureProxy:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> CaptureProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request --

    def _read_body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(h.rfile.read(size))
                h.rfile.readline()
            return b"".join(parts)
        length = int(h.headers.get("content-length") or 0)
        return h.rfile.read(length) if length else b""

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        raw = self._read_body(h)
        split = urllib.parse.urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._seq += 1
            seq = self._seq
        record: dict[str, Any] = {
            "seq": seq,
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "method": h.command,
            "path": split.path,
            "query": urllib.parse.parse_qsl(split.query, keep_blank_values=True),
            "headers": redact_headers(headers),
            "body": body,
            "body_bytes": len(raw),
        }
        if body is None and raw:
            record["body_text"] = raw[:2000].decode("utf-8", "replace")
        # Written on arrival, so a request whose answer never finishes is still on record.
        self._write(record)
        response: dict[str, Any] = {}
        try:
            canned = next((c for c in self.canned if c.wants(body)), None)
            if canned is not None:
                status, out_headers, chunks = canned.reply(body)
                response["canned"] = canned.name
                self._answer(h, status, out_headers, iter(chunks), None, response)
            else:
                self._forward(h, split, headers, body, raw, response)
        except (OSError, http.client.HTTPException) as exc:
            response["error"] = f"{type(exc).__name__}: {exc}"[:300]
            if "status" not in response:  # nothing sent yet: tell the client
                msg = json.dumps(
                    {"type": "error", "error": {"type": "api_error", "message": "capture proxy"}}
                ).encode()
                with contextlib.suppress(OSError):
                    self._answer(
                        h,
                        502,
                        {"content-type": "application/json"},
                        iter([msg]),
                        len(msg),
                        response,
                    )
        response["ms"] = int((time.monotonic() - started) * 1000)
        record["response"] = response
        self._write({"seq": seq, "response": response})

    def _write(self, line: dict[str, Any]) -> None:
        with self._lock:
            if "method" in line:
                self.records.append(line)
            with self.log.open("a") as fh:
                fh.write(json.dumps(line) + "\n")

    def _forward(
        self,
        h: BaseHTTPRequestHandler,
        split: urllib.parse.SplitResult,
        headers: dict[str, str],
        body: Any,
        raw: bytes,
        response: dict[str, Any],
    ) -> None:
        out = {k: v for k, v in headers.items() if k not in TRANSPORT_HEADERS | CREDENTIAL_HEADERS}
        if self.upstream_key:
            if headers.get("authorization", "").lower().startswith("bearer"):
                out["authorization"] = f"Bearer {self.upstream_key}"
            else:
                out["x-api-key"] = self.upstream_key
        if isinstance(body, dict):
            changed = dict(body)
            if self.upstream_model and "model" in body:
                changed["model"] = self.upstream_model
            cap = self.upstream_max_tokens
            if cap and isinstance(body.get("max_tokens"), int) and body["max_tokens"] > cap:
                changed["max_tokens"] = cap
            if changed != body:
                raw = json.dumps(changed).encode()
            capped = changed.get("max_tokens") != body.get("max_tokens")
        else:
            capped = False
        out["content-length"] = str(len(raw))
        path = self.upstream_prefix + split.path + (f"?{split.query}" if split.query else "")
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.timeout
        )
        try:
            conn.request(
                h.command, path, body=raw if raw or h.command != "GET" else None, headers=out
            )
            resp = conn.getresponse()
            up_headers = {k.lower(): v for k, v in resp.getheaders()}
            length = up_headers.get("content-length")

            def chunks() -> Iterator[bytes]:
                while True:
                    piece = resp.read1(65536)
                    if not piece:
                        return
                    # The cap was ours, not the client's: say end_turn, or the client would
                    # ask the model to continue, several times (padded: same length).
                    yield STOPPED_AT_CAP.sub(_end_turn, piece) if capped else piece

            self._answer(
                h, resp.status, up_headers, chunks(), int(length) if length else None, response
            )
        finally:
            conn.close()

    def _answer(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        chunks: Iterator[bytes],
        length: int | None,
        response: dict[str, Any],
    ) -> None:
        """Send status and headers at once, then each piece as it comes (streams stay live)."""
        response["status"] = status
        response["content_type"] = headers.get("content-type", "")
        h.send_response(status)
        for name, value in headers.items():
            if name.lower() not in RESPONSE_SKIP:
                h.send_header(name, value)
        chunked = length is None
        h.send_header(
            "transfer-encoding" if chunked else "content-length",
            "chunked" if chunked else str(length),
        )
        h.end_headers()
        size = 0
        for piece in chunks:
            size += len(piece)
            if h.command == "HEAD":
                continue
            if chunked:
                h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                h.wfile.write(piece)
            h.wfile.flush()
        if chunked and h.command != "HEAD":
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        response["bytes"] = size


def _end_turn(m: re.Match[bytes]) -> bytes:
    return b'"stop_reason":"end_turn"'.ljust(len(m.group(0)))


def read_log(path: Path) -> list[dict[str, Any]]:
    """The requests of a capture log, each with its ``response`` (None if it never ended)."""
    records: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "method" in item:
            records[item["seq"]] = dict(item, response=None)
        elif item.get("seq") in records:
            records[item["seq"]]["response"] = item.get("response")
    return [records[k] for k in sorted(records)]
