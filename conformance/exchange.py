"""One request and what came back (:class:`Exchange`), and the helpers that read an answer:
content in brief, the model's text, prompt tokens, the wait a 429 asks for.

What is kept of an answer for evidence is scrubbed of the client's secrets before it is cut
(:meth:`Exchange.clean`); the answer itself stays as received.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass, field
from typing import Any

from conformance import sse
from conformance.secrets import scrub_text


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
    request_bytes: int = 0  # the request body as sent (JSON, ASCII: its length in characters)
    # The client's secrets: what is kept of this answer (summaries, messages) is scrubbed
    # before it is cut. The answer itself (raw, json, events) stays as received.
    secrets: list[str] = field(default_factory=list, repr=False)

    def clean(self, text: str) -> str:
        return scrub_text(text, self.secrets) if self.secrets else text

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def client_error(self) -> bool:
        """A refusal of the request: a complete 4xx (not 408/429). Whether it is the API's
        own refusal or a page from something else at that URL (an HTML 404 for a wrong base
        path, a proxy's text 400) the oracles cannot tell from one answer; the runner
        decides it for the whole row (:attr:`api_shaped`, and a plain control request:
        ``oracles.base.no_verdict_from_failures``)."""
        return (
            self.status is not None
            and 400 <= self.status < 500
            and self.status not in (408, 429)  # about time and rate, not the request
            and self.error is None
        )

    @property
    def api_shaped(self) -> bool:
        """The body is an API error envelope (:func:`api_error_envelope`)."""
        return api_error_envelope(self.json)

    @property
    def not_served(self) -> bool:
        """A 404 or 405 without an API error envelope: nothing at this path may answer the
        API (a wrong base URL or path), unless the same base answers a plain request."""
        return self.status in (404, 405) and self.error is None and not self.api_shaped

    @property
    def doubtful(self) -> bool:
        """An answer that is only the endpoint's own when the API is there: a 4xx without
        an API error envelope, or a 5xx that is not a "busy" one (those are
        :attr:`unanswered`)."""
        if self.error is not None or self.status is None or self.unanswered:
            return False
        return self.status >= 500 or (self.client_error and not self.api_shaped)

    @property
    def unanswered(self) -> bool:
        """The endpoint did not answer this request itself: no answer, a cut or unparsable
        one, a redirect, 408, 429, or a "busy" 5xx (503, 504, 529). Whatever a check wants
        of an answer, this is an error, not a finding."""
        if self.error is not None or self.status is None:
            return True
        return 300 <= self.status < 400 or self.status in (408, 429, 503, 504, 529)

    @property
    def transport_failure(self) -> bool:
        """Nothing usable came back: no answer, a cut or unparsable one, a redirect, a 408,
        429, 529 or other 5xx."""
        return not self.ok and not self.client_error

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
            return self.clean(err["message"])[:300]
        if isinstance(err, str):
            return self.clean(err)[:300]
        return None

    def detail(self) -> str:
        """Why this answer is not usable, in one line: the client's error, the error
        envelope's message, or what the body is when it is not JSON (an HTML error page)."""
        if self.error or self.error_message():
            return self.error or self.error_message() or ""
        if not self.raw:
            return "empty body"
        kind = self.headers.get("content-type", "no content-type").split(";")[0]
        if self.status is not None and 300 <= self.status < 400:
            where = self.headers.get("location", "nowhere")
            return f"a redirect (to {where}), not followed: the endpoint's URL is wrong"
        text = self.clean(self.raw[:4096].decode("utf-8", "replace"))
        snippet = " ".join(text.split())[:120]
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
            out["content"] = content_summary(msg, self.secrets)
        elif self.status is not None and not self.ok:
            out["error_type"] = self.error_type()
            out["error_message"] = (
                self.error_message() or self.clean(self.raw[:4096].decode("utf-8", "replace"))[:200]
            )
        return out


def api_error_envelope(body: Any) -> bool:
    """Is this JSON body an API's refusal, as opposed to a page or a framework's default?

    Anthropic's ``{"type": "error", "error": {"type", "message"}}`` and OpenAI's
    ``{"error": {"message", "type", ...}}`` (llama.cpp, LiteLLM, vLLM, Ollama): an ``error``
    object with a string ``message`` or ``type``. Also a validation list naming the refused
    part of the request, ``{"detail": [{"loc": ["body", ...], "msg": ...}]}`` (FastAPI's
    422, which claude-code-proxy answers): it is that endpoint's own refusal of a field.
    Not: HTML or text, ``{"detail": "Not Found"}``, ``{"error": "Not Found", "statusCode":
    404}`` (route-not-found defaults that say the path is wrong, not the request).
    """
    if not isinstance(body, dict):
        return False
    err = body.get("error")
    if isinstance(err, dict):
        return isinstance(err.get("message"), str) or isinstance(err.get("type"), str)
    detail = body.get("detail")
    return (
        isinstance(detail, list)
        and bool(detail)
        and all(isinstance(d, dict) and isinstance(d.get("loc"), list) for d in detail)
    )


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


def content_summary(msg: dict[str, Any], secrets: list[str] | None = None) -> list[str]:
    """Short strings describing each content block, e.g. ``text: 'Hello'``; ``secrets`` are
    scrubbed from each text before it is cut."""
    out = []

    def clean(value: Any) -> str:
        return scrub_text(str(value), secrets) if secrets else str(value)

    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            out.append(clean(repr(block))[:80])
            continue
        kind = block.get("type")
        if kind == "text":
            out.append(f"text: {clean(block.get('text'))[:120]!r}")
        elif kind == "tool_use":
            args = clean(json.dumps(block.get("input"), ensure_ascii=False))[:100]
            out.append(f"tool_use {clean(block.get('name'))[:80]}({args})")
        elif kind == "thinking":
            out.append(f"thinking: {clean(block.get('thinking'))[:60]!r}")
        else:
            out.append(clean(kind)[:80])
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


# The usage fields that count prompt tokens beside input_tokens (which leaves them out).
CACHE_FIELDS = ("cache_creation_input_tokens", "cache_read_input_tokens")


def prompt_tokens(usage: dict[str, Any] | None) -> int | None:
    """Prompt size as Anthropic defines it: ``input_tokens`` excludes cached tokens."""
    if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
        return None
    total = usage["input_tokens"]
    for key in CACHE_FIELDS:
        if isinstance(usage.get(key), int):
            total += usage[key]
    return total
