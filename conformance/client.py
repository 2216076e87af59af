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
import functools
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import safejson, sse
from conformance.exchange import (  # noqa: F401 (re-exported: the client's vocabulary)
    Exchange,
    content_summary,
    prompt_tokens,
    response_text,
    retry_after,
)
from conformance.secrets import (
    CREDENTIAL_HEADERS,
    PLACEHOLDER,
    kept_headers,
    scrub_text,
    url_secrets,
)
from conformance.settings import Limits
from conformance.transport import bound_by_deadline, deadline, replay_server

# What httpx says when a connection closed before any byte of the answer (h11's words).
STALE = "Server disconnected without sending a response"
# The same loss when the server closed the kept-alive connection with a reset instead (uvicorn
# after a 500 from an exception handler that itself failed: claude-code-proxy).
RESET = "Connection reset by peer"


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, ``SSL_CERT_FILE`` honoured), made once a
    process: loading the roots costs 45 ms, and every target's client would load them again."""
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    """``url`` as httpx parses and normalises it (a run sends to a handful of URLs)."""
    return httpx.URL(url)


def sent_header(headers: dict[str, str]) -> Any:
    """``name -> value`` of ``headers`` as httpx sends them: ``httpx.Headers(headers).get``
    (names folded, values of one name in two cases joined), or the dict's own ``get`` when
    every name is lower-case ASCII and every value ASCII text, which gives the same. The
    client sets no headers of its own (httpx's defaults are Accept, Accept-Encoding,
    Connection and User-Agent, none of which a cassette matches on)."""
    plain = all(
        type(v) is str and v.isascii() and k.islower() and k.isascii() for k, v in headers.items()
    )
    return headers.get if plain else httpx.Headers(headers).get


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
        # What is kept of answers is scrubbed of these (see conformance.secrets).
        self.secrets = [s for s in [api_key, *url_secrets(self.base_url)] if s]
        self._transport = transport
        self._httpx: httpx.Client | None = None
        # Time budgets (time.monotonic()): the runner sets the row's, the session the run's.
        # A request that would start past one is not sent; one on the wire is cut at it.
        self.row_deadline: float | None = None
        self.run_deadline: float | None = None
        self.budget_note: str | None = None  # set when a budget cut or stopped a request
        self.requests = 0
        # Replay serves recorded answers instantly; waiting out a recorded retry-after again
        # would only slow it down. The plugin swaps this for a no-op in replay mode.
        self.sleep = time.sleep
        self.input_tokens = 0
        self.output_tokens = 0

    @property
    def _http(self) -> httpx.Client:
        """httpx's client, made on first use: a replayed run sends nothing, so it never
        loads the TLS roots (45 ms) nor builds the connection pools and proxy mounts."""
        if self._httpx is None:
            timeout = httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout)
            self._httpx = httpx.Client(
                timeout=timeout, transport=self._transport, follow_redirects=False, verify=_tls()
            )
            bound_by_deadline(self._httpx, self.limits.max_body_bytes)
        return self._httpx

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()

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
        content: bytes | None = None,
    ) -> Exchange:
        """Send one request; retry 429/529/5xx within limits; never raise for HTTP trouble.

        ``headers`` values of None remove a default header (e.g. no anthropic-version).
        ``auth`` picks "x-api-key", "bearer" or "none"; ``key`` overrides the key (WRONG_KEY).
        ``content``: the body's bytes when the caller has them, ``json.dumps(body)`` exactly
        (:meth:`conformance.shapes.ShapeRequest.content`); else the body is encoded here.
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
        ex = Exchange(method, path, shown, body, secrets=self.secrets)
        if content is None and body is not None:
            content = json.dumps(body).encode()
        ex.request_bytes = len(content or b"")
        started = time.monotonic()
        attempt = 0  # attempts that count against ``retries`` (a stale connection does not)
        stale_retried = False
        while True:
            attempt += 1
            over = self._over_budget()
            if over:
                ex.status, ex.error = None, over
                break
            with self.limiter.request() if self.limiter else contextlib.nullcontext():
                self._once(ex, method, path, merged, content)
            if ex.ok and ex.is_stream and not (isinstance(body, dict) and body.get("stream")):
                ex.error = "a request without stream: true was answered with an SSE stream"
            if not stale_retried and self._stale_connection(ex):
                stale_retried = True
                ex.retries.append(
                    f"{STALE} (a kept-alive connection it had closed): retried at once"
                )
                ex.error, attempt = None, attempt - 1
                continue
            delay = self._retry_delay(ex, attempt)
            if delay is None:
                break
            ex.retries.append(f"{ex.status or ex.error}: retried after {delay:.1f}s")
            self.sleep(delay)
            ex.error = None
        ex.elapsed_ms = int((time.monotonic() - started) * 1000)
        self._account(ex)
        return ex

    def _budget_left(self) -> tuple[float, str] | None:
        """Seconds left of the tighter of the row's and the run's budget, and which."""
        now = time.monotonic()
        left = [
            (at - now, name)
            for at, name in ((self.row_deadline, "row"), (self.run_deadline, "run"))
            if at is not None
        ]
        return min(left) if left else None

    def _over_budget(self) -> str | None:
        left = self._budget_left()
        if left is None or left[0] > 0:
            return None
        self.budget_note = f"the {left[1]} time budget is used up; request not sent"
        return self.budget_note

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
        budget = self._budget_left()
        if budget is not None and budget[0] < total:
            total = max(budget[0], 0.001)
            cut_by_time = f"the {budget[1]} time budget ran out after {total:g}s; request cut"
        started = time.monotonic()
        deadline.at = started + total
        try:
            with self._answer(method, url, headers, content) as resp:
                ex.status = resp.status_code
                ex.headers = kept_headers(resp.headers.items(), self.secrets)
                self._read_body(ex, resp, started + total, cut_by_time)
        except httpx.TimeoutException as exc:
            ex.error = cut_by_time if time.monotonic() - started >= total else self._timeout(exc)
        except httpx.HTTPError as exc:
            if "max_body_bytes" in str(exc):  # the transport's cap (record mode reads there)
                ex.error = str(exc)
            else:
                text = f"transport: {type(exc).__name__}: {exc} ({self.host})"
                ex.error = scrub_text(text, self.secrets)[:300]
        finally:
            deadline.at = None
        if ex.error == cut_by_time and cut_by_time.startswith("the "):
            self.budget_note = cut_by_time
        if ex.error or ex.status is None:
            return
        self._parse(ex)

    @contextlib.contextmanager
    def _answer(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> Iterator[httpx.Response]:
        """The answer to one request: from the network through httpx, or, while this thread
        replays a cassette, the recorded one (:class:`conformance.recording.Replay`), looked
        up by what httpx would send (its normalised URL, upper-cased method, the headers as
        ``httpx.Headers`` folds them, the URL's userinfo as Basic auth) and read from a
        :class:`~conformance.transport.Recorded` without building httpx's request and
        response objects or its sending machinery (auth flow, redirects, cookie jar, hooks:
        none of which a replayed answer can use)."""
        serve = replay_server()
        if serve is None:
            with self._http.stream(method, url, headers=headers, content=content) as resp:
                yield resp
            return
        parsed = _url(url)
        if parsed.userinfo:  # what httpx's send would add: the userinfo as Basic auth
            request = self._http.build_request(method, url, headers=headers, content=content)
            request = next(
                httpx.BasicAuth(request.url.username, request.url.password).sync_auth_flow(request)
            )
            header = request.headers.get
        else:
            header = sent_header(headers)
        resp = serve.answer(method.upper(), str(parsed), header, content or b"")
        try:
            yield resp
        finally:
            resp.close()

    def _parse(self, ex: Exchange) -> None:
        """Parse what was received (SSE events or JSON); a broken answer becomes an error."""
        if ex.is_stream:
            ex.events = sse.parse(ex.raw)
            bad = next((i for i, e in enumerate(ex.events) if e.unusable), None)
            if ex.ok and bad is not None:  # as outside a stream: an unusable answer
                ex.error = (
                    f"stream event {bad} unusable: {ex.events[bad].unusable}"  # as in protocol
                )
            elif ex.ok and ex.events and not ex.events[-1].terminated:
                tail = ex.events[-1].raw[-80:]
                ex.error = (
                    f"stream cut mid-event: the connection closed before the event ended "
                    f"({len(ex.events)} events; last bytes {tail!r})"
                )
        else:
            try:
                ex.json = safejson.loads(ex.raw) if ex.raw else None
            except ValueError as exc:
                ex.json = None
                snippet = ex.clean(ex.raw[:4096].decode("utf-8", "replace"))[:80]
                deep = "nested deeper" in str(exc) or "too deep" in str(exc)
                if ex.ok:
                    why = f" ({exc})" if deep else ""
                    ex.error = f"2xx answer is not JSON: {snippet!r}{why}"
                elif ex.client_error and (deep or "json" in ex.headers.get("content-type", "")):
                    # a 4xx that says JSON and is not: a broken answer, not a refusal
                    ex.error = f"{ex.status} answer is not JSON ({exc}): {snippet!r}"

    def _read_body(self, ex: Exchange, resp: Any, until: float, cut_by_time: str) -> None:
        """Read the body into ``ex.raw``, cut at ``max_body_bytes`` or at ``until``."""
        chunks = []
        size = 0
        # decoded bytes: a gzip answer is read as JSON, and the cap counts what is kept
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                ex.error = (
                    f"response body over max_body_bytes ({self.limits.max_body_bytes} bytes); cut"
                )
                break
            if time.monotonic() > until:
                ex.error = cut_by_time
                break
        ex.raw = b"".join(chunks)  # as received: scrubbing is for what is kept

    def _timeout(self, exc: Exception) -> str:
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return (
                f"timeout: {type(exc).__name__}: no connection to {self.host} within "
                f"connect_timeout {self.limits.connect_timeout:g}s"
            )
        return (
            f"timeout: {type(exc).__name__}: {self.host} sent nothing for "
            f"read_timeout {self.limits.read_timeout:g}s"
        )

    @staticmethod
    def _stale_connection(ex: Exchange) -> bool:
        """True for an attempt that died because a kept-alive connection was closed
        before any byte of an answer came back.

        Servers may close an idle or finished keep-alive connection at any moment, and the
        request written on it in that instant is lost unanswered (llama-server does this after
        a stream, about one time in three; claude-code-proxy resets it after a 500). Browsers,
        urllib3 and Go retry exactly this case on a new connection, and so do the official
        SDKs; without it a row would end in ``error`` for a reason that lies in the connection
        pool, not in the endpoint's answer. Only once: an endpoint that closes every
        connection unanswered still gives an ``error`` row.
        """
        return ex.status is None and (STALE in (ex.error or "") or RESET in (ex.error or ""))

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
