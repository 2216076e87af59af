"""The HTTP client every probe goes through.

One place decides how requests are authenticated, bounded (time and bytes), retried and
accounted (requests, tokens). Probes use plain ``httpx`` rather than the official SDK so the
suite sees the exact bytes on the wire (SSE framing included) and vcrpy can record them.

Every request is bounded: ``connect_timeout`` and ``read_timeout`` per network operation, and
``total_timeout`` for the whole request, enforced below httpx (every socket read and write
waits at most until the request's deadline), so an endpoint that trickles a byte at a time,
in the headers or the body, is cut on time. ``max_body_bytes`` bounds what is kept.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import sse
from conformance.secrets import CREDENTIAL_HEADERS, PLACEHOLDER
from conformance.settings import Limits
from conformance.transport import bound_by_deadline, deadline


@dataclass
class Exchange:
    """One request and what came back. ``error`` is set when nothing usable came back."""

    method: str
    path: str
    request_headers: dict[str, str]
    request_body: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    json: Any = None
    events: list[sse.Event] | None = None
    error: str | None = None
    retries: list[str] = field(default_factory=list)
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def client_error(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    @property
    def is_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def message(self) -> dict[str, Any] | None:
        """The response as a Message dict: the JSON body, or the accumulated stream."""
        if self.events is not None:
            return sse.accumulate(self.events)
        return self.json if isinstance(self.json, dict) else None

    def error_type(self) -> str | None:
        body = self.json if isinstance(self.json, dict) else {}
        err = body.get("error")
        if isinstance(err, dict):
            return err.get("type") if isinstance(err.get("type"), str) else None
        return None

    def error_message(self) -> str | None:
        body = self.json if isinstance(self.json, dict) else {}
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:300]
        if isinstance(err, str):
            return err[:300]
        return None

    def detail(self) -> str:
        """Why this answer is not usable, in one line: the client's error, the error
        envelope's message, or what the body is when it is not JSON (an HTML error page)."""
        if self.error or self.error_message():
            return self.error or self.error_message() or ""
        if not self.raw:
            return "empty body"
        kind = self.headers.get("content-type", "no content-type").split(";")[0]
        snippet = " ".join(self.raw[:120].decode("utf-8", "replace").split())
        return f"{kind} body, not an error envelope: {snippet!r}"

    def summary(self) -> dict[str, Any]:
        """A compact, secret-free account of this exchange for evidence."""
        out: dict[str, Any] = {"status": self.status}
        if self.error:
            out["error"] = self.error
        if self.retries:
            out["retries"] = list(self.retries)
        msg = self.message() if self.ok else None
        if msg and (self.events is not None or msg.get("type") == "message"):
            out["stop_reason"] = msg.get("stop_reason")
            if msg.get("stop_sequence") is not None:
                out["stop_sequence"] = msg.get("stop_sequence")
            usage = msg.get("usage")
            if isinstance(usage, dict):
                out["usage"] = {k: v for k, v in usage.items() if isinstance(v, int)}
            out["content"] = content_summary(msg)
        elif self.status is not None and not self.ok:
            out["error_type"] = self.error_type()
            out["error_message"] = self.error_message() or self.raw[:200].decode("utf-8", "replace")
        return out


def retry_after(headers: dict[str, str]) -> float | None:
    """The wait an answer asks for: ``retry-after-ms``, else ``retry-after`` in seconds or as
    an HTTP date; None when absent or unreadable."""
    try:
        if headers.get("retry-after-ms") is not None:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def content_summary(msg: dict[str, Any]) -> list[str]:
    """Short strings describing each content block, e.g. ``text: 'Hello'``."""
    out = []
    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            out.append(repr(block)[:80])
            continue
        kind = block.get("type")
        if kind == "text":
            out.append(f"text: {str(block.get('text'))[:120]!r}")
        elif kind == "tool_use":
            out.append(f"tool_use {block.get('name')}({json.dumps(block.get('input'))[:100]})")
        elif kind == "thinking":
            out.append(f"thinking: {str(block.get('thinking'))[:60]!r}")
        else:
            out.append(str(kind))
    return out


def response_text(msg: dict[str, Any] | None) -> str:
    """All text the model produced, tool inputs included (a code may be echoed in either)."""
    if not msg:
        return ""
    parts = []
    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            parts.append(json.dumps(block.get("input")))
    return "\n".join(parts)


def prompt_tokens(usage: dict[str, Any] | None) -> int | None:
    """Prompt size as Anthropic defines it: ``input_tokens`` excludes cached tokens."""
    if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
        return None
    total = usage["input_tokens"]
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if isinstance(usage.get(key), int):
            total += usage[key]
    return total


class Client:
    """Sends probes to one target. Thread-safe enough for one pytest worker."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_style: str,
        api_key: str | None,
        default_headers: dict[str, str] | None = None,
        limits: Limits | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: Any = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_style = auth_style
        self.api_key = api_key
        self.default_headers = dict(default_headers or {})
        self.limits = limits or Limits()
        self.limiter = limiter  # conformance.limits.Limiter: the target's shared limits
        self.host = urlsplit(self.base_url).netloc.rpartition("@")[2]  # for messages
        timeout = httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout)
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        bound_by_deadline(self._http)
        self.requests = 0
        # Replay serves recorded answers instantly; waiting out a recorded retry-after again
        # would only slow it down. The plugin swaps this for a no-op in replay mode.
        self.sleep = time.sleep
        self.input_tokens = 0
        self.output_tokens = 0

    def close(self) -> None:
        self._http.close()

    def auth_headers(self, style: str | None = None, key: str | None = None) -> dict[str, str]:
        style = style or self.auth_style
        key = self.api_key if key is None else key
        if not key or style == "none":
            return {}
        if style == "bearer":
            return {"authorization": f"Bearer {key}"}
        return {"x-api-key": key}

    def send(
        self,
        body: Any,
        *,
        path: str = "/v1/messages",
        method: str = "POST",
        headers: dict[str, str | None] | None = None,
        auth: str | None = None,
        key: str | None = None,
    ) -> Exchange:
        """Send one request; retry 429/529/5xx within limits; never raise for HTTP trouble.

        ``headers`` values of None remove a default header (e.g. no anthropic-version).
        ``auth`` picks "x-api-key", "bearer" or "none"; ``key`` overrides the key (WRONG_KEY).
        """
        merged: dict[str, str] = {"content-type": "application/json"}
        merged.update(self.default_headers)
        merged.update(self.auth_headers(auth, key))
        for name, value in (headers or {}).items():
            if value is None:
                merged.pop(name.lower(), None)
            else:
                merged[name.lower()] = value
        shown = {k: PLACEHOLDER if k in CREDENTIAL_HEADERS else v for k, v in merged.items()}
        ex = Exchange(method, path, shown, body)
        content = json.dumps(body).encode() if body is not None else None
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            with self.limiter.request() if self.limiter else contextlib.nullcontext():
                self._once(ex, method, path, merged, content)
            delay = self._retry_delay(ex, attempt)
            if delay is None:
                break
            ex.retries.append(f"{ex.status or ex.error}: retried after {delay:.1f}s")
            self.sleep(delay)
            ex.error = None
        ex.elapsed_ms = int((time.monotonic() - started) * 1000)
        self._account(ex)
        return ex

    def _once(
        self,
        ex: Exchange,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
    ) -> None:
        """One HTTP request, bounded by ``total_timeout`` from its start and by bytes."""
        self.requests += 1
        ex.status, ex.headers, ex.raw, ex.json, ex.events = None, {}, b"", None, None
        url = self.base_url + path
        total = self.limits.total_timeout
        cut_by_time = f"total timeout: response not finished after {total:g}s; cut"
        started = time.monotonic()
        deadline.at = started + total
        try:
            with self._http.stream(method, url, headers=headers, content=content) as resp:
                ex.status = resp.status_code
                ex.headers = {
                    k.lower(): self._scrub_text(v)
                    for k, v in resp.headers.items()
                    if k.lower() not in CREDENTIAL_HEADERS
                }
                chunks = []
                size = 0
                # decoded bytes: a gzip answer is read as JSON, and the cap counts what is kept
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.limits.max_body_bytes:
                        ex.error = (
                            f"response body over max_body_bytes ({self.limits.max_body_bytes} "
                            f"bytes); cut"
                        )
                        break
                    if time.monotonic() - started > total:
                        ex.error = cut_by_time
                        break
                ex.raw = self._scrub_bytes(b"".join(chunks))
        except httpx.TimeoutException as exc:
            if time.monotonic() - started >= total:
                ex.error = cut_by_time
            elif isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                ex.error = (
                    f"timeout: {type(exc).__name__}: no connection to {self.host} within "
                    f"connect_timeout {self.limits.connect_timeout:g}s"
                )
            else:
                ex.error = (
                    f"timeout: {type(exc).__name__}: {self.host} sent nothing for "
                    f"read_timeout {self.limits.read_timeout:g}s"
                )
        except httpx.HTTPError as exc:
            ex.error = self._scrub_text(f"transport: {type(exc).__name__}: {exc} ({self.host})")
            ex.error = ex.error[:300]
        finally:
            deadline.at = None
        if ex.error or ex.status is None:
            return
        if ex.is_stream:
            ex.events = sse.parse(ex.raw)
            if ex.ok and ex.events and not ex.events[-1].terminated:
                tail = ex.events[-1].raw[-80:]
                ex.error = (
                    f"stream cut mid-event: the connection closed before the event ended "
                    f"({len(ex.events)} events; last bytes {tail!r})"
                )
        else:
            try:
                ex.json = json.loads(ex.raw) if ex.raw else None
            except ValueError:
                ex.json = None
                if ex.ok:
                    snippet = ex.raw[:80].decode("utf-8", "replace")
                    ex.error = f"2xx answer is not JSON: {snippet!r}"

    def _scrub_text(self, text: str) -> str:
        """``text`` without this client's key: endpoints quote credentials back."""
        if self.api_key and self.api_key in text:
            text = text.replace(self.api_key, PLACEHOLDER)
        return text

    def _scrub_bytes(self, data: bytes) -> bytes:
        key = self.api_key.encode() if self.api_key else b""
        return data.replace(key, PLACEHOLDER.encode()) if key and key in data else data

    def _retry_delay(self, ex: Exchange, attempt: int) -> float | None:
        """Seconds to wait before retrying ``ex``, or None: not retryable, retries used up,
        or the endpoint asks for a longer wait than ``max_backoff`` (noted in the evidence)."""
        retryable = ex.status in (408, 429, 529) or (ex.status is not None and ex.status >= 500)
        if not retryable or ex.error:  # a cut answer (time, bytes) is not retried
            return None
        if attempt > self.limits.retries:
            if self.limits.retries:
                ex.retries.append(f"{ex.status}: gave up after {self.limits.retries} retries")
            return None
        hint = retry_after(ex.headers)
        if hint is not None and hint > self.limits.max_backoff:
            ex.retries.append(
                f"{ex.status}: not retried: the endpoint asks to wait {hint:g}s, more than "
                f"max_backoff {self.limits.max_backoff:g}s"
            )
            return None
        delay = self.limits.backoff * 2 ** (attempt - 1) if hint is None else hint
        return min(max(delay, 0.0), self.limits.max_backoff)

    def _account(self, ex: Exchange) -> None:
        msg = ex.message() if ex.ok else None
        usage = msg.get("usage") if msg else None
        if isinstance(usage, dict):
            self.input_tokens += prompt_tokens(usage) or 0
            if isinstance(usage.get("output_tokens"), int):
                self.output_tokens += usage["output_tokens"]
