"""The wire verdict on one answer: does what came back keep the Messages API's contract?

One place for the checks every answer gets: :func:`violations` (the schemas, SSE grammar and
error envelope of :mod:`conformance.protocol`, chosen by what the answer is),
:func:`answer_violations` (the same for a 2xx to a request body that may ask for a stream),
:func:`sdk_verdict` (does the pinned official SDK load it?) and :func:`judge` (violations as
an ``honored``/``violated`` observation). The evidence of every request (probe.py), the
protocol rows and the client-shape rows all use these.
"""

from __future__ import annotations

from typing import Any

from conformance.client import Exchange
from conformance.vocabulary import Observation, Observed


def violations(ex: Exchange) -> list[str]:
    """Protocol problems of one answer (checked on every response the suite receives)."""
    from conformance import protocol

    if ex.status is None:
        return []
    if ex.is_stream:
        limit = (
            (ex.request_body or {}).get("max_tokens") if isinstance(ex.request_body, dict) else None
        )
        return protocol.check_stream(ex.raw, max_tokens=limit, events=ex.events)[0]
    if not ex.ok:
        return protocol.check_error(ex.status, ex.json, ex.raw)
    path = (ex.path or "").split("?")[0]
    if path == "/v1/messages" and isinstance(ex.json, dict):
        return protocol.check_message(ex.json, max_tokens=(ex.request_body or {}).get("max_tokens"))
    if path == "/v1/messages/count_tokens":
        return protocol.check_count_tokens(ex.json)
    if path == "/v1/models":
        return protocol.check_models_list(ex.json)
    return []


def answer_violations(ex: Any, body: Any) -> list[str]:
    """The protocol checks on a 2xx answer to ``body``: the SSE grammar and schemas when it
    is (or was asked to be) a stream, else the Message's."""
    from conformance import protocol

    body = body if isinstance(body, dict) else {}
    limit = body.get("max_tokens")
    if body.get("stream") and not ex.is_stream:
        ctype = ex.headers.get("content-type") or "no content-type"
        return [f"stream: true answered with {ctype}, not an SSE stream"]
    if ex.is_stream:
        return protocol.check_stream(ex.raw, max_tokens=limit, events=ex.events)[0]
    return protocol.check_message(ex.json, max_tokens=limit)


def sdk_verdict(ex: Exchange) -> str | None:
    """The official client's complaint about this response, or None if it loads it."""
    from conformance import protocol
    from conformance.transport import row_time_up

    if row_time_up():  # the official client's pass over a huge stream is the slowest part
        return "skipped: the row time budget ran out"
    try:
        return (
            protocol.sdk_load_stream(ex.raw) if ex.is_stream else protocol.sdk_load_message(ex.json)
        )
    except protocol.SDKUnavailable:
        return "skipped: the anthropic SDK is not installed (pip install -e '.[sdk]')"


def with_sdk(ex: Exchange, found: list[str], evidence: dict[str, Any]) -> list[str]:
    """``found`` plus the official SDK's complaint, if any; its verdict goes to evidence."""
    sdk = sdk_verdict(ex)
    evidence["official_client"] = sdk or "loads it"
    if sdk and not sdk.startswith("skipped"):
        found = [*found, f"the official anthropic SDK fails on it: {sdk}"]
    return found


def judge(label: str, found: list[str], evidence: dict[str, Any]) -> Observation:
    """``violated`` with the first violation named, or ``honored`` ("conforms")."""
    evidence["violations"] = found[:12]
    if found:
        return Observation(
            Observed.VIOLATED, f"{label}: {len(found)} violation(s): {found[0]}", evidence
        )
    return Observation(Observed.HONORED, f"{label}: conforms", evidence)
