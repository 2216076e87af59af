"""Client readiness: what real clients send, kept as request *shapes* and replayed.

Vendors' tables list fields one at a time, but people reach an endpoint through Claude Code
or an official SDK, which send everything at once: a query string, a list of
``anthropic-beta`` values, a JSON string in ``metadata.user_id``, ``cache_control`` on system
blocks, dozens of tools and a prompt of thousands of tokens. Endpoints break on exactly that,
usually on the day a client ships. This module has the three parts that check it:

* :class:`CaptureProxy`: a loopback HTTP endpoint that records each request a client sends
  (credentials removed) to a JSONL file and answers by forwarding to an upstream, streams
  passed through as they come. It can answer one request with a canned ``tool_use`` so the
  client's next request carries a ``tool_result`` (a weak upstream model never calls a tool).
* Shapes: :func:`extract_shape` turns a captured request into a committed shape file (keys,
  types, headers, betas, query and sizes are kept; every text the client wrote is replaced by
  neutral filler of the same length), and :func:`shape_to_request` turns it back into a
  sendable request for a target.
* :func:`bisect`: when an endpoint rejects a shape, drop or neutralise one header, beta value,
  query or top-level body key at a time until the request passes, and name the culprit.

:func:`run_capture` drives real clients (Claude Code from npm, the ``anthropic`` Python SDK)
through the proxy: ``python -m conformance capture claude-code|sdk``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conformance.probe import WORDS
from conformance.secrets import CREDENTIAL_HEADERS, redact_headers

# Request headers whose values are credentials: recorded as a name (and auth scheme) only.
# Hop-by-hop and transport headers: neither forwarded as they are nor part of a shape.
TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
        "te",
        "upgrade",
        "proxy-connection",
    }
)
# Headers whose value describes the machine the client ran on, not the client.
PER_MACHINE_HEADERS = frozenset(
    {
        "x-stainless-os",
        "x-stainless-arch",
        "x-stainless-runtime",
        "x-stainless-runtime-version",
    }
)
RESPONSE_SKIP = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length"})
TOOLS_DIR = Path(
    os.environ.get("CONFORMANCE_TOOLS") or Path.home() / ".cache/anthropic-conformance"
)
SHAPES_DIR = Path(__file__).resolve().parent.parent / "cases" / "shapes"
SHAPE_FORMAT = 1

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LONG_HEX = re.compile(r"\b[0-9a-fA-F]{16,}\b")
# A value like an enum member, a tool name or a media type: a fact of the shape, kept.
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,64}$")
# Keys whose string values are protocol vocabulary, kept even when they look like text.
KEEP_KEYS = frozenset(
    {
        "type",
        "role",
        "model",
        "name",
        "media_type",
        "$schema",
        "format",
        "ttl",
        "scope",
        "tool_use_id",
        "id",
        "effort",
        "display",
    }
)
STOPPED_AT_CAP = re.compile(rb'"stop_reason"\s*:\s*"max_tokens"')
BILLING = re.compile(r"^x-anthropic-billing-header:")
FILLER_WORDS = tuple(dict.fromkeys(WORDS))


# --- the capture proxy ----------------------------------------------------------------------


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


# --- shapes ---------------------------------------------------------------------------------


def neutral_filler(length: int, seed: str = "") -> str:
    """Plain words (from :data:`conformance.probe.WORDS`), exactly ``length`` characters.

    Stands in for a client's own text: same size, none of its words. The last gap is padded
    with periods so the length is exact and every word is whole.
    """
    if length <= 0:
        return ""
    digest = hashlib.sha256(seed.encode()).digest()
    out: list[str] = []
    used = 0
    i = 0
    while True:
        word = FILLER_WORDS[(digest[i % len(digest)] + i * 7) % len(FILLER_WORDS)]
        need = len(word) + (1 if out else 0)
        if used + need > length:
            break
        out.append(word)
        used += need
        i += 1
    text = " ".join(out)
    return text + "." * (length - len(text))


def is_filler(text: str) -> bool:
    """True if ``text`` is made only of filler words, spaces and periods."""
    return all(piece in FILLER_WORDS for piece in re.split(r"[ .]+", text) if piece)


def neutral_id(text: str) -> str:
    """UUIDs and long hex runs (session, device and request ids) become zeros of one format."""
    text = UUID.sub("00000000-0000-4000-8000-000000000000", text)
    return LONG_HEX.sub(lambda m: "0" * len(m.group(0)), text)


def _neutral_billing(text: str) -> str:
    # x-anthropic-billing-header: cc_version=2.1.197.1c0; cc_entrypoint=sdk-cli; cch=1a2b3;
    # The version is a fact; the suffix after it and the cch nonce change per request.
    text = re.sub(r"(cc_version=\d+\.\d+\.\d+)\.[0-9A-Za-z]+", r"\1.000", text)
    return re.sub(r"(cch=)[0-9A-Za-z]+", lambda m: m.group(1) + "0" * (len(m.group(0)) - 4), text)


def _skeleton_string(text: str, path: tuple[Any, ...]) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if BILLING.match(text):
        return _neutral_billing(text)
    if text.startswith("{") and text.endswith("}"):
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, dict):  # e.g. metadata.user_id: a JSON string of ids
            compact = '": ' not in text
            return json.dumps(
                skeleton(inner, (*path, "<json>")),
                separators=(",", ":") if compact else None,
            )
    if key in KEEP_KEYS or IDENTIFIER.match(text):
        return neutral_id(text)
    return neutral_filler(len(text), "/".join(map(str, path)))


def skeleton(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """The body with its structure, keys, types, sizes and vocabulary, but none of its prose.

    Kept: every key, every non-string value, identifier-like strings (enum members, tool
    names, media types, ``type``/``role`` values) with ids zeroed, and the billing header
    with its nonce zeroed. Replaced by same-length filler: every other string (system prompt,
    tool and parameter descriptions, user text, tool results, paths).
    """
    if isinstance(value, dict):
        return {k: skeleton(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(v, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, str):
        return _skeleton_string(value, path)
    return value


def walk_strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, depth first."""
    if isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)
    elif isinstance(value, str):
        yield value


def auth_style(headers: dict[str, str]) -> str:
    if headers.get("authorization", "").lower().startswith("bearer"):
        return "bearer"
    if "x-api-key" in headers:
        return "x-api-key"
    return "none"


def shape_headers(headers: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Headers a shape keeps (values with ids zeroed) and the names it leaves out."""
    kept, omitted = {}, []
    for name, value in headers.items():
        low = name.lower()
        if low in CREDENTIAL_HEADERS or low in TRANSPORT_HEADERS or low in PER_MACHINE_HEADERS:
            omitted.append(low)
        else:
            kept[low] = neutral_id(value)
    return kept, sorted(omitted)


def betas_of(headers: dict[str, Any]) -> list[str]:
    value = headers.get("anthropic-beta") or ""
    return [b.strip() for b in value.split(",") if b.strip()]


def summarize(body: Any, headers: dict[str, str], raw_bytes: int | None = None) -> dict[str, Any]:
    """What a reader of the shape file wants at a glance: betas, keys, tools, sizes."""
    body = body if isinstance(body, dict) else {}
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    system = body.get("system")
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    block_types: list[str] = []
    for m in messages:
        content = m.get("content")
        for b in content if isinstance(content, list) else []:
            if isinstance(b, dict) and b.get("type") not in block_types:
                block_types.append(b.get("type"))
    tool_keys = sorted({k for t in tools for k in t})
    out: dict[str, Any] = {
        "betas": betas_of(headers),
        "body_keys": list(body),
        "roles": [m.get("role") for m in messages],
        "content_block_types": block_types,
        "system_blocks": len(system) if isinstance(system, list) else (1 if system else 0),
        "system_chars": sum(len(s) for s in walk_strings(system)),
        "tools": len(tools),
        "tool_names": [t.get("name") for t in tools],
        "tool_keys": tool_keys,
        "text_chars": sum(len(s) for s in walk_strings(body)),
    }
    if raw_bytes is not None:
        out["body_bytes"] = raw_bytes
    return out


def client_version(headers: dict[str, str]) -> tuple[str, str]:
    """(client name, version) from the user-agent a client sends."""
    agent = headers.get("user-agent", "")
    m = re.search(r"claude-cli/([0-9][\w.\-]*)", agent)
    if m:
        return "claude-code", m.group(1)
    m = re.search(r"Anthropic/Python ([0-9][\w.\-]*)", agent)
    if m:
        return "sdk-python", m.group(1)
    return "unknown", headers.get("x-stainless-package-version", "unknown")


def extract_shape(
    record: dict[str, Any],
    *,
    turn: str,
    client: str | None = None,
    version: str | None = None,
    captured: str | None = None,
    how: str = "",
) -> dict[str, Any]:
    """A committed shape from one captured request: structure and sizes, no client prose."""
    headers = record["headers"]
    detected = client_version(headers)
    client = client or detected[0]
    version = version or detected[1]
    kept, omitted = shape_headers(headers)
    body = skeleton(record.get("body"))
    return {
        "format": SHAPE_FORMAT,
        "client": client,
        "version": version,
        "turn": turn,
        "captured": captured or str(record.get("time", ""))[:10],
        "how": how,
        "note": (
            "Structure, keys, headers, betas, query and sizes as the client sent them; every "
            "text the client wrote is replaced by neutral filler of the same length, ids are "
            "zeroed, and credentials, transport and per-machine headers are left out."
        ),
        "request": {
            "method": record["method"],
            "path": record["path"],
            "query": [list(q) for q in record.get("query") or []],
            "auth": auth_style(headers),
            "headers": kept,
            "omitted_headers": omitted,
            "body": body,
        },
        "summary": summarize(body, kept, record.get("body_bytes")),
    }


def shape_filename(shape: dict[str, Any]) -> str:
    return f"{shape['client']}-{shape['version']}-{shape['turn']}.json"


def write_shape(shape: dict[str, Any], shapes_dir: Path = SHAPES_DIR) -> Path:
    path = Path(shapes_dir) / shape_filename(shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shape, indent=1, ensure_ascii=False) + "\n")
    return path


def load_shape(path: Path) -> dict[str, Any]:
    shape = json.loads(Path(path).read_text())
    if shape.get("format") != SHAPE_FORMAT or "request" not in shape:
        raise ValueError(f"{path}: not a request shape (format {SHAPE_FORMAT})")
    return shape


@dataclass
class ShapeRequest:
    """A request ready for :meth:`conformance.client.Client.send`."""

    method: str
    path: str  # without the query
    query: list[tuple[str, str]]
    auth: str
    headers: dict[str, str | None]
    body: Any
    changes: list[str] = field(default_factory=list)  # how it differs from the shape

    @property
    def url_path(self) -> str:
        return self.path + ("?" + urllib.parse.urlencode(self.query) if self.query else "")

    def copy(self) -> ShapeRequest:
        return copy.deepcopy(self)


def shape_to_request(
    shape: dict[str, Any],
    model: str,
    *,
    max_tokens: int = 16,
    extra_body: dict[str, Any] | None = None,
) -> ShapeRequest:
    """The shape as a request for a target: its model, ``max_tokens`` capped, the rest as is.

    The filler text, headers, betas, query, auth style and ``stream`` stay as the client sent
    them. ``max_tokens`` is capped so a replay costs a few tokens; a thinking budget, which
    Anthropic requires to be below ``max_tokens``, is lowered to its minimum first.
    """
    req = shape["request"]
    body = copy.deepcopy(req["body"])
    changes = []
    if isinstance(body, dict):
        if "model" in body:
            body["model"] = model
            changes.append(f"model → {model}")
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
            thinking["budget_tokens"] = 1024
            max_tokens = max(max_tokens, 1024 + max_tokens)
            changes.append("thinking.budget_tokens → 1024")
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > max_tokens:
            changes.append(f"max_tokens {body['max_tokens']} → {max_tokens}")
            body["max_tokens"] = max_tokens
        for key, value in (extra_body or {}).items():
            body.setdefault(key, copy.deepcopy(value))
    return ShapeRequest(
        method=req["method"],
        path=req["path"],
        query=[(k, v) for k, v in req.get("query") or []],
        auth=req.get("auth", "x-api-key"),
        headers=dict(req.get("headers") or {}),
        body=body,
        changes=changes,
    )


# --- driving real clients through the proxy --------------------------------------------------

FAKE_KEY = "sk-ant-capture-0000000000000000"  # what the clients send; never reaches upstream
CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
NODE_DIR = TOOLS_DIR / "node"
CAPTURES_DIR = TOOLS_DIR / "captures"  # raw captures: the clients' own prompts, never committed
SDK_MODEL = "claude-opus-4-8"


class CaptureError(RuntimeError):
    """A capture could not be made; the message says what to do."""


def _messages_posts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["method"] == "POST" and r["path"] == "/v1/messages" and isinstance(r["body"], dict)
    ]


def _has_block(record: dict[str, Any], kind: str) -> bool:
    for m in record["body"].get("messages") or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == kind for b in content
        ):
            return True
    return False


def main_request(records: list[dict[str, Any]], *, with_block: str | None = None) -> dict[str, Any]:
    """The client's main-loop request: it carries tools (side requests such as titles do not)."""
    posts = _messages_posts(records)
    if with_block:
        posts = [r for r in posts if _has_block(r, with_block)]
    main = [r for r in posts if r["body"].get("tools")] or posts
    if not main:
        seen = ", ".join(f"{r['method']} {r['path']}" for r in records) or "nothing"
        want = f" with a {with_block} block" if with_block else ""
        raise CaptureError(f"no POST /v1/messages{want} was captured (saw: {seen})")
    return main[0]


def install_claude_code(version: str = "latest", node_dir: Path = NODE_DIR) -> Path:
    """``npm install @anthropic-ai/claude-code@<version>`` in a tool dir outside the repo.

    Run on every capture, so a new release is picked up by the same command (npm does
    nothing when that version is already there). Returns the ``claude`` binary.
    """
    if not shutil.which("npm"):
        raise CaptureError("npm not found: install Node.js and npm (apt-get install nodejs npm)")
    node_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{CLAUDE_PACKAGE}@{version}"
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--save-exact", spec],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise CaptureError(f"npm install {spec} failed: {(done.stderr or done.stdout)[-400:]}")
    return claude_binary(node_dir)


def claude_binary(node_dir: Path = NODE_DIR) -> Path:
    binary = node_dir / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        raise CaptureError(f"{binary} not found; run: npm install {CLAUDE_PACKAGE} in {node_dir}")
    return binary


def _run_claude(
    binary: Path,
    args: list[str],
    *,
    proxy: CaptureProxy,
    home: Path,
    cwd: Path,
    timeout: float,
) -> str:
    """One ``claude -p`` run against the proxy in a throwaway HOME; returns its output tail."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    proc = subprocess.Popen(
        [str(binary), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)  # only the group this call started
        out, _ = proc.communicate()
        out = f"(stopped after {timeout:.0f}s) {out}"
    return (out or "")[-600:]


def capture_claude_code(
    proxy_args: dict[str, Any],
    raw_dir: Path,
    *,
    binary: Path,
    timeout: float = 300.0,
) -> dict[str, dict[str, Any]]:
    """Three turns of Claude Code in print mode: first, tool round trip, streamed follow-up.

    Claude Code streams every turn, so the follow-up turn (``--continue``: history with an
    assistant answer) is the streaming shape. For the tool round trip the proxy answers the
    first main-loop request with a canned ``Read`` call, so the next request carries the
    ``tool_result`` whatever the upstream model can do.
    """
    work = Path(tempfile.mkdtemp(prefix="capture-cc-"))
    home, cwd = work / "home", work / "project"
    home.mkdir()
    cwd.mkdir()
    (cwd / "notes.txt").write_text("The capture worked.\n")
    turns: dict[str, dict[str, Any]] = {}
    try:
        with CaptureProxy(log=raw_dir / "first.jsonl", **proxy_args) as proxy:
            tail = _run_claude(
                binary,
                ["-p", "Say hello.", "--output-format", "json"],
                proxy=proxy,
                home=home,
                cwd=cwd,
                timeout=timeout,
            )
            turns["first"] = main_request(_require(proxy, tail))
        with CaptureProxy(log=raw_dir / "stream.jsonl", **proxy_args) as proxy:
            tail = _run_claude(
                binary,
                [
                    "-p",
                    "--continue",
                    "Now say goodbye.",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                ],
                proxy=proxy,
                home=home,
                cwd=cwd,
                timeout=timeout,
            )
            turns["stream"] = main_request(_require(proxy, tail))
        canned = CannedToolUse("Read", {"file_path": str(cwd / "notes.txt")})
        with CaptureProxy(
            log=raw_dir / "tool-round-trip.jsonl", canned=[canned], **proxy_args
        ) as proxy:
            tail = _run_claude(
                binary,
                [
                    "-p",
                    "Read notes.txt and tell me what it says.",
                    "--output-format",
                    "json",
                    "--allowedTools",
                    "Read",
                    "--max-turns",
                    "3",
                ],
                proxy=proxy,
                home=home,
                cwd=cwd,
                timeout=timeout,
            )
            turns["tool-round-trip"] = main_request(_require(proxy, tail), with_block="tool_result")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return turns


def _require(proxy: CaptureProxy, tail: str) -> list[dict[str, Any]]:
    if not _messages_posts(proxy.records):
        raise CaptureError(f"the client sent no POST /v1/messages; its output ends: {tail}")
    return proxy.records


def capture_sdk(proxy_args: dict[str, Any], raw_dir: Path) -> dict[str, dict[str, Any]]:
    """The installed ``anthropic`` Python SDK with its defaults: a turn, a tool round trip, a
    stream. Its defaults are the point (auth scheme, ``anthropic-version``), so nothing is set
    but the base URL and a fake key; retries are off so a failure shows once.
    """
    try:
        import anthropic
    except ImportError as exc:
        raise CaptureError("the anthropic SDK is not installed (pip install -e '.[sdk]')") from exc
    user = [{"role": "user", "content": "Say hello."}]
    tool = {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    }
    turns: dict[str, dict[str, Any]] = {}
    with CaptureProxy(log=raw_dir / "defaults.jsonl", **proxy_args) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=user)
        turns["defaults"] = main_request(proxy.records)
    with CaptureProxy(log=raw_dir / "stream.jsonl", **proxy_args) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        with c.messages.stream(model=SDK_MODEL, max_tokens=1024, messages=user) as s:
            s.get_final_message()
        turns["stream"] = main_request(proxy.records)
    canned = CannedToolUse("get_weather", {"city": "Paris"})
    with CaptureProxy(
        log=raw_dir / "tool-round-trip.jsonl", canned=[canned], **proxy_args
    ) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        ask = [{"role": "user", "content": "What is the weather in Paris?"}]
        first = c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=ask, tools=[tool])
        call = next(b for b in first.content if b.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C."}
        history = [
            *ask,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            },
            {"role": "user", "content": [result]},
        ]
        c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=history, tools=[tool])
        turns["tool-round-trip"] = main_request(proxy.records, with_block="tool_result")
    return turns


def run_capture(
    client: str,
    *,
    upstream: str,
    upstream_key: str | None,
    upstream_model: str | None,
    shapes_dir: Path = SHAPES_DIR,
    raw_root: Path = CAPTURES_DIR,
    timeout: float = 300.0,
    node_dir: Path = NODE_DIR,
    client_version: str | None = "latest",
    cases_file: Path | None = None,
) -> list[Path]:
    """Capture ``client`` (``claude-code`` or ``sdk``) through the proxy; write its shapes.

    Raw captures go to ``raw_root`` (outside the repo: they hold the clients' own prompts);
    shape files, named ``<client>-<version>-<turn>.json``, go to ``shapes_dir``. Claude Code
    is first installed at ``client_version`` (None: use the one installed); the SDK is the
    one this interpreter imports. Then the rows of ``cases_file`` that use an older shape of
    the same client and turn are pointed at the new one (see :func:`retarget_cases`).
    """
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = Path(raw_root) / f"{client}-{stamp}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    proxy_args = {
        "upstream": upstream,
        "upstream_key": upstream_key,
        "upstream_model": upstream_model,
    }
    if client == "claude-code":
        binary = (
            install_claude_code(client_version, node_dir)
            if client_version
            else claude_binary(node_dir)
        )
        turns = capture_claude_code(proxy_args, raw_dir, binary=binary, timeout=timeout)
        how = "claude -p (print mode) through python -m conformance capture claude-code"
    elif client == "sdk":
        turns = capture_sdk(proxy_args, raw_dir)
        how = "anthropic Python SDK defaults through python -m conformance capture sdk"
    else:
        raise CaptureError(f"unknown client {client!r}; known: claude-code, sdk")
    paths, shapes = [], []
    for turn, record in turns.items():
        shape = extract_shape(record, turn=turn, how=how)
        shapes.append(shape)
        paths.append(write_shape(shape, shapes_dir))
    if cases_file is not None and Path(cases_file).exists():
        retarget_cases(Path(cases_file), shapes)
    return paths


CLIENT_TITLES = {"claude-code": "Claude Code", "sdk-python": "SDK (Python)"}


def retarget_cases(cases_file: Path, shapes: list[dict[str, Any]]) -> list[str]:
    """Point rows at the new shapes: in each row that uses ``shapes/<client>-<old>-<turn>.json``
    that path and the version in the row's title (``Claude Code <old>``) become the new
    version's. A text edit, row by row, so the file keeps its comments and layout; returns
    the replacements made.
    """
    rows = re.split(r"(?m)^(?=\s*- )", cases_file.read_text())
    done = []
    for shape in shapes:
        client, version, turn = shape["client"], shape["version"], shape["turn"]
        pattern = re.compile(
            rf"shapes/{re.escape(client)}-([0-9][\w.+-]*?)-{re.escape(turn)}\.json"
        )
        title = CLIENT_TITLES.get(client, client)
        for i, row in enumerate(rows):
            m = pattern.search(row)
            if not m or m.group(1) == version:
                continue
            old = m.group(1)
            row = row.replace(m.group(0), f"shapes/{client}-{version}-{turn}.json")
            rows[i] = row.replace(f"{title} {old} ", f"{title} {version} ")
            done.append(f"{client} {turn}: {old} → {version}")
    cases_file.write_text("".join(rows))
    return done


# --- bisection ------------------------------------------------------------------------------

# Body keys a Messages request cannot do without; never dropped by the bisection.
REQUIRED_KEYS = ("model", "messages", "max_tokens")
BASE_VERSION = "2023-06-01"


@dataclass
class Variant:
    """One field of a shape, dropped or neutralised: ``field`` names the suspect."""

    field: str
    apply: Callable[[ShapeRequest], ShapeRequest]


def _drop_header(name: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        out.headers[name] = None  # None also removes a target's default of that name
        return out

    return apply


def _set_header(name: str, value: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        out.headers[name] = value
        return out

    return apply


def _drop_beta(beta: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        rest = [b for b in betas_of(out.headers) if b != beta]
        out.headers["anthropic-beta"] = ",".join(rest) if rest else None
        return out

    return apply


def _drop_key(key: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        if isinstance(out.body, dict):
            out.body.pop(key, None)
        return out

    return apply


def _drop_query(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    out.query = []
    return out


def _x_api_key(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    out.auth = "x-api-key"
    return out


def _map_messages(fn: Callable[[list[Any]], list[Any]]) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        if isinstance(out.body, dict) and isinstance(out.body.get("messages"), list):
            out.body["messages"] = fn(out.body["messages"])
        return out

    return apply


def _no_system_role(messages: list[Any]) -> list[Any]:
    return [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _plain_messages(messages: list[Any]) -> list[Any]:
    return [{"role": "user", "content": "Reply with the word OK."}]


def _plain_tools(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    if isinstance(out.body, dict) and isinstance(out.body.get("tools"), list):
        keep = ("name", "description", "input_schema")
        out.body["tools"] = [
            {k: v for k, v in t.items() if k in keep} if isinstance(t, dict) else t
            for t in out.body["tools"]
        ]
    return out


def variants(req: ShapeRequest) -> list[Variant]:
    """Every suspect in a shape, one at a time: beta values, headers, query, auth, body keys.

    Finer suspects come before the coarser ones that contain them (one beta value before the
    whole ``anthropic-beta`` header), so the culprit named is the smallest that explains it.
    """
    out: list[Variant] = []
    betas = betas_of(req.headers)
    for beta in betas:
        out.append(Variant(f"anthropic-beta: {beta}", _drop_beta(beta)))
    if betas:
        out.append(Variant("header anthropic-beta", _drop_header("anthropic-beta")))
    for name, value in req.headers.items():
        if value is None or name in ("anthropic-beta", "content-type"):
            continue
        if name == "anthropic-version":
            if value != BASE_VERSION:
                out.append(Variant(f"anthropic-version: {value}", _set_header(name, BASE_VERSION)))
            continue
        out.append(Variant(f"header {name}", _drop_header(name)))
    if req.query:
        out.append(Variant("query ?" + urllib.parse.urlencode(req.query), _drop_query))
    if req.auth == "bearer":
        out.append(Variant("auth Bearer (x-api-key instead)", _x_api_key))
    body = req.body if isinstance(req.body, dict) else {}
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
        out.append(Variant("messages[role=system]", _map_messages(_no_system_role)))
    if "cache_control" in json.dumps(messages):
        out.append(
            Variant("messages[].content[].cache_control", _map_messages(_strip_cache_control))
        )
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    extra = sorted(
        {k for t in tools if isinstance(t, dict) for k in t}
        - {"name", "description", "input_schema"}
    )
    if extra:
        out.append(Variant(f"tools[].{{{','.join(extra)}}}", _plain_tools))
    for key in body:
        if key not in REQUIRED_KEYS:
            out.append(Variant(f"body.{key}", _drop_key(key)))
    if messages:
        out.append(
            Variant("body.messages (one plain user turn instead)", _map_messages(_plain_messages))
        )
    return out


def _hinted_first(candidates: list[Variant], hint: str) -> list[Variant]:
    """Suspects the error message names go first: it often says which field it refused."""
    hint = hint.lower()

    def named(v: Variant) -> bool:
        word = v.field.split(":", 1)[-1].split(".")[-1].split(" ")[-1].strip("?{}[]")
        return len(word) > 3 and word.lower() in hint

    return [v for v in candidates if named(v)] + [v for v in candidates if not named(v)]


@dataclass
class Bisection:
    culprits: list[str]
    tried: list[dict[str, Any]]
    note: str = ""

    def as_evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"culprits": self.culprits, "tried": self.tried}
        if self.note:
            out["note"] = self.note
        return out


def _status(ex: Any) -> Any:
    return ex.status if ex.status is not None else ex.error


def bisect(
    send: Callable[[str, ShapeRequest], Any],
    req: ShapeRequest,
    *,
    hint: str = "",
    budget: int = 48,
) -> Bisection:
    """Which field makes the endpoint refuse ``req``? ``send(label, request)`` → Exchange.

    First one suspect at a time: the first whose removal makes the request pass is the
    culprit (suspects the error message names are tried first). If none alone does, every
    suspect is removed at once; if that passes, halves are put back (delta debugging) until
    the smallest set whose removal still passes is left: the fields that each break it. At
    most ``budget`` requests are sent.
    """
    candidates = _hinted_first(variants(req), hint)
    tried: list[dict[str, Any]] = []

    class Spent(Exception):
        pass

    def passes(fields: list[Variant]) -> bool:
        if len(tried) >= budget:
            raise Spent
        trial = req
        for v in fields:
            trial = v.apply(trial)
        label = " + ".join(v.field for v in fields)
        ex = send(f"bisect: without {label}", trial)
        tried.append({"without": label, "status": _status(ex)})
        return bool(ex.ok)

    def smallest(cands: list[Variant], removed: list[Variant]) -> list[Variant]:
        # Removing removed + cands passes; find a small subset of cands that still does.
        if len(cands) <= 1:
            return cands
        half = len(cands) // 2
        a, b = cands[:half], cands[half:]
        if passes(removed + b):
            return smallest(b, removed)
        if passes(removed + a):
            return smallest(a, removed)
        found_a = smallest(a, removed + b)
        return found_a + smallest(b, removed + found_a)

    try:
        for v in candidates:
            if passes([v]):
                return Bisection([v.field], tried)
        if not passes(candidates):
            return Bisection(
                [], tried, "still refused with every optional header, beta and body key removed"
            )
        found = smallest(candidates, [])
    except Spent:
        return Bisection([], tried, f"budget of {budget} requests spent; no culprit found")
    return Bisection([v.field for v in found], tried, "no single field; these together")


# --- sending a shape from an oracle ---------------------------------------------------------


def shape_path(name: str, case_file: Path | None) -> Path:
    """``params.shape`` is relative to the case file's directory (``cases/``)."""
    base = Path(case_file).parent if case_file else SHAPES_DIR.parent
    return base / name


def compact(req: ShapeRequest, label: str) -> dict[str, Any]:
    """What the evidence keeps of a shape request: enough to read, not 50 kB of filler."""
    body = req.body if isinstance(req.body, dict) else {}
    return {
        "variant": label,
        "path": req.url_path,
        "auth": req.auth,
        "body_keys": list(body),
        "model": body.get("model"),
        "max_tokens": body.get("max_tokens"),
        "stream": body.get("stream", False),
        "messages": len(body.get("messages") or []),
        "tools": len(body.get("tools") or []),
        "body_bytes": len(json.dumps(req.body)),
    }


def send_shape(probe: Any, label: str, req: ShapeRequest) -> Any:
    """Send through the probe's client; the probe's record keeps a compact request."""
    ex = probe.client.send(
        req.body,
        path=req.url_path,
        method=req.method,
        headers=req.headers,
        auth=req.auth,
    )
    shown = copy.copy(ex)
    shown.request_body = compact(req, label)
    probe.exchanges.append((label, shown))
    return ex


def answer_violations(ex: Any, req: ShapeRequest) -> list[str]:
    """The protocol checks on a 2xx answer: the SSE grammar and schemas, or the Message's."""
    from conformance import protocol

    body = req.body if isinstance(req.body, dict) else {}
    limit = body.get("max_tokens")
    if body.get("stream") and not ex.is_stream:
        ctype = ex.headers.get("content-type") or "no content-type"
        return [f"stream: true answered with {ctype}, not an SSE stream"]
    if ex.is_stream:
        return protocol.check_stream(ex.raw, max_tokens=limit)[0]
    return protocol.check_message(ex.json, max_tokens=limit)
