"""What Claude Code reads off an answer beyond its text: usage, streamed tool input, the
end of a stream, and the answers to fields it sends that a compatible endpoint may not know.

One oracle, ``claude_code``, with ``params.check`` naming the observation:

- ``usage``: the prompt's tokens (``input_tokens`` plus the cache fields) are above 0 and
  agree with ``count_tokens`` within ``settings.usage.tolerance``; ``cache_fields: true``
  also asks that the cache fields be reported at all.
- ``stream_usage``: ``message_start.usage.input_tokens`` (plus cache fields) equals the
  non-streamed answer's prompt tokens within the tolerance; ``message_delta.usage.output_tokens``
  agrees with the number of text deltas (within ``output_slack``); the stream obeys
  ``max_tokens``. Claude Code's context meter and auto-compaction read these numbers.
- ``uncached`` / ``uncached_stream`` (``oracles.uncached``): a prompt no cache can hold
  (it opens with ``{{FRESH}}``, a code drawn for each run) is reported uncached, and the same
  request sent again adds up to the same prompt, unstreamed and streamed.
- ``tool_stream``: ``input_json_delta`` pieces join to JSON equal to the non-streamed
  ``input``; every tool_use block has its own, consecutive index, from 0 (``min_tools: 2``:
  inconclusive unless the model made two calls).
- ``graceful``: a field Claude Code sends is refused cleanly (4xx with the error envelope),
  ignored or honored, never a 5xx or an empty answer. ``honored_when`` names what shows it
  took effect (a thinking block).
- ``prompt_too_long``: a prompt past the context gets a 400 ``invalid_request_error``
  whose message says the prompt is too long, not a 5xx or a silent truncation.
- ``stream_end``: nothing after ``message_stop`` (no ``data: [DONE]``), and no 5xx body in
  the row's answers that leaks internals (a stack trace, a file path).
- ``prefix_cache``: a system block that differs between sessions, first in ``system``
  (Claude Code's ``x-anthropic-billing-header`` block), does not cost the endpoint its prompt
  cache of the system prompt that follows it. Decided by ``cache_read_input_tokens``, only
  where the endpoint shows a prompt cache at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance import sse, wire
from conformance.client import Exchange, prompt_tokens
from conformance.exchange import CACHE_FIELDS
from conformance.filler import filler
from conformance.oracles.base import failure, oracle, tool_uses, within

# claude_code() dispatches on the name _<check>; these checks live in modules of their own
from conformance.oracles.prefix_cache import prefix_cache as _prefix_cache  # noqa: F401
from conformance.oracles.uncached import uncached as _uncached  # noqa: F401
from conformance.oracles.uncached import uncached_stream as _uncached_stream  # noqa: F401
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed

CHECKS = (
    "usage",
    "stream_usage",
    "uncached",
    "uncached_stream",
    "tool_stream",
    "graceful",
    "prompt_too_long",
    "stream_end",
    "prefix_cache",
)
TOO_LONG = re.compile(r"too long|too many tokens|context (length|window|size)|exceed", re.I)
# What a 5xx body must not show: a Python/JS/Go stack trace or a path on the server.
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|\bat [\w.$<>]+ \(/[^)]+\)|goroutine \d+ \[|"
    r"File \"/[^\"]+\.py\"|(?<![\w/])/(?:usr|home|opt|app|srv|var|root)/[\w./-]+"
)


@oracle(
    "claude_code",
    params={
        "check": {"enum": list(CHECKS)},
        "cache_fields": {"type": "boolean"},
        "honored_when": {"enum": ["thinking_block"]},
        "headers": {"type": "object"},
        "min_tools": {"type": "integer", "minimum": 1},
    },
    required=("check",),
)
def claude_code(p: Probe, case: Any) -> Observation:
    """What Claude Code reads off an answer (usage, streams, errors): ``params.check`` picks it.

    ``usage``, ``stream_usage``, ``tool_stream``, ``graceful``, ``prompt_too_long``,
    ``stream_end`` and ``prefix_cache``; the module's docstring says what each observes."""
    return globals()["_" + case.params["check"]](p, case)


def _counted(p: Probe, body: dict[str, Any]) -> tuple[int | None, Exchange]:
    counted = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
    ex = p.send("count_tokens", counted, path="/v1/messages/count_tokens")
    n = ex.json.get("input_tokens") if ex.ok and isinstance(ex.json, dict) else None
    return (n if isinstance(n, int) and not isinstance(n, bool) else None), ex


def _usage(p: Probe, case: Any) -> Observation:
    body = p.body(case.probe)
    ex = p.send("message", body)
    bad = failure(ex)
    if bad:
        return bad
    usage = (ex.message() or {}).get("usage") or {}
    used = prompt_tokens(usage)
    counted, cex = _counted(p, body)
    tol = p.settings.usage.tolerance
    evidence: dict[str, Any] = {
        "usage": usage,
        "prompt_tokens": used,
        "count_tokens": counted if cex.ok else f"{cex.status or cex.error}",
        "tolerance": tol,
    }
    found = []
    if not isinstance(used, int) or used <= 0:
        found.append(f"the prompt's tokens are {used!r} (input_tokens plus cache fields), not > 0")
    if case.params.get("cache_fields"):
        missing = [k for k in CACHE_FIELDS if not isinstance(usage.get(k), int)]
        if missing:
            found.append(f"usage leaves out {', '.join(missing)}")
    if counted is not None and isinstance(used, int) and not within(used, counted, tol):
        found.append(f"usage says {used} prompt tokens, count_tokens {counted}")
    if found:
        return wire.judge("usage", found, evidence)
    if counted is None:
        return Observation(
            Observed.INCONCLUSIVE,
            f"usage reports {used} prompt tokens; count_tokens answered "
            f"{evidence['count_tokens']}, so there is nothing to compare them with",
            evidence,
        )
    return wire.judge("usage", found, evidence)


def _plain_and_stream(p: Probe, case: Any) -> tuple[dict[str, Any], Any, Any] | Observation:
    """The probe sent as is and streamed: its body and both answers, or either's failure."""
    body = p.body(case.probe)
    plain = p.send("non-stream", body)
    bad = failure(plain)
    if bad:
        return bad
    ex = p.send("stream", dict(body, stream=True))
    return failure(ex, "the stream") or (body, plain, ex)


def _stream_usage(p: Probe, case: Any) -> Observation:
    sent = _plain_and_stream(p, case)
    if isinstance(sent, Observation):
        return sent
    body, plain, ex = sent
    if not ex.is_stream:
        return Observation(Observed.VIOLATED, "stream: true answered without SSE")
    events = sse.parse(ex.raw)
    start = next((e.data for e in events if e.type == "message_start" and e.data), None)
    start_usage = ((start or {}).get("message") or {}).get("usage") or {}
    deltas = [
        e.data["delta"].get("text")
        for e in events
        if e.type == "content_block_delta"
        and isinstance((e.data or {}).get("delta"), dict)
        and e.data["delta"].get("type") == "text_delta"
    ]
    text_deltas = sum(1 for d in deltas if isinstance(d, str) and d)
    end_usage: dict[str, Any] = {}
    for e in events:
        if e.type == "message_delta" and isinstance((e.data or {}).get("usage"), dict):
            end_usage = e.data["usage"]
    output = end_usage.get("output_tokens")
    reference = prompt_tokens((plain.message() or {}).get("usage"))
    started = prompt_tokens(start_usage)
    tol, slack = p.settings.usage.tolerance, p.settings.usage.output_slack
    limit = body["max_tokens"]
    evidence = {
        "message_start_usage": start_usage,
        "message_delta_usage": end_usage,
        "non_stream_prompt_tokens": reference,
        "text_deltas": text_deltas,
        "max_tokens": limit,
    }
    found = []
    if not isinstance(started, int) or started <= 0:
        found.append(
            f"message_start.usage.input_tokens (plus cache fields) is {started!r}, not > 0"
        )
    elif isinstance(reference, int) and not within(started, reference, tol):
        found.append(
            f"message_start says {started} prompt tokens, the same request unstreamed {reference}"
        )
    if not isinstance(output, int) or isinstance(output, bool):
        found.append("message_delta.usage.output_tokens is missing")
    elif abs(output - text_deltas) > slack and text_deltas <= limit:
        found.append(
            f"message_delta.usage.output_tokens {output}, but {text_deltas} text deltas came"
        )
    if text_deltas > limit:
        found.append(f"{text_deltas} text deltas for max_tokens {limit}: the stream ignores it")
    if isinstance(output, int) and output > limit:
        found.append(f"message_delta.usage.output_tokens {output} exceeds max_tokens {limit}")
    return wire.judge("streamed usage", found, evidence)


def _tool_blocks(events: list[sse.Event]) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (e.data.get("index"), e.data.get("content_block") or {})
        for e in events
        if e.type == "content_block_start" and e.data
    ]


def _tool_stream(p: Probe, case: Any) -> Observation:
    sent = _plain_and_stream(p, case)
    if isinstance(sent, Observation):
        return sent
    _body, plain, ex = sent
    events = sse.parse(ex.raw)
    starts = _tool_blocks(events)
    indices = [i for i, _ in starts]
    tools = [(i, b) for i, b in starts if b.get("type") == "tool_use"]
    expected = tool_uses(plain)
    evidence: dict[str, Any] = {
        "block_indices": indices,
        "streamed_tool_blocks": len(tools),
        "non_stream_tool_uses": len(expected),
    }
    if not tools and not expected:
        return Observation(
            Observed.INCONCLUSIVE,
            "no tool_use in either answer: the model never called the tool, so the streamed "
            "tool input cannot be judged",
            evidence,
        )
    want = case.params.get("min_tools", 1)
    if want > 1 and max(len(tools), len(expected)) < want:
        return Observation(
            Observed.INCONCLUSIVE,
            f"the model made {len(tools)} streamed / {len(expected)} unstreamed tool call(s), "
            f"fewer than the {want} this row needs to judge parallel blocks",
            evidence,
        )
    found = []
    if indices != list(range(len(indices))):
        found.append(f"block indices {indices}, expected 0..{len(indices) - 1} in order")
    if len({i for i, _ in tools}) != len(tools):
        found.append(f"tool_use blocks share an index: {[i for i, _ in tools]}")
    message = sse.accumulate(events)
    streamed = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
    evidence["streamed_inputs"] = [b.get("input") for b in streamed]
    evidence["non_stream_inputs"] = [b.get("input") for b in expected]
    for b in streamed:
        if not isinstance(b.get("input"), dict):
            found.append(
                f"streamed input of {b.get('name')!r} is not a JSON object: {b.get('input')!r:.60}"
            )
    if len(streamed) != len(expected):
        found.append(f"{len(streamed)} tool_use block(s) streamed, {len(expected)} unstreamed")
    elif not found:
        for s, n in zip(streamed, expected, strict=True):
            if (s.get("name"), s.get("input")) != (n.get("name"), n.get("input")):
                found.append(
                    f"streamed {s.get('name')}({json.dumps(s.get('input'))[:60]}) differs from "
                    f"unstreamed {n.get('name')}({json.dumps(n.get('input'))[:60]})"
                )
    return wire.judge("streamed tool input", found, evidence)


def _graceful(p: Probe, case: Any) -> Observation:
    headers = case.params.get("headers")
    ex = p.send("probe", p.body(case.probe), **({"headers": headers} if headers else {}))
    evidence: dict[str, Any] = {"status": ex.status}
    if ex.status is None:
        return Observation(Observed.ERROR, f"no answer: {ex.error}", evidence)
    if ex.client_error:
        found = wire.violations(ex)
        if found:
            return wire.judge("refusal", found, evidence)
        return failure(ex) or Observation(Observed.REJECTED, "", evidence)
    if not ex.ok:
        return failure(ex) or Observation(Observed.ERROR, "", evidence)
    msg = ex.message() or {}
    content = msg.get("content") or []
    evidence["content"] = [b.get("type") for b in content if isinstance(b, dict)]
    evidence["stop_reason"] = msg.get("stop_reason")
    if not content:
        return Observation(
            Observed.VIOLATED,
            "2xx with an empty answer: Claude Code shows nothing and waits (no block at all)",
            evidence,
        )
    if case.params.get("honored_when") == "thinking_block":
        if "thinking" in evidence["content"]:
            return Observation(Observed.HONORED, "2xx with a thinking block", evidence)
        return Observation(
            Observed.IGNORED,
            "2xx with an answer and no thinking block: accepted, not used",
            evidence,
        )
    return Observation(
        Observed.ACCEPTED,
        "2xx with a non-empty answer; no effect is observable from outside",
        evidence,
    )


def _prompt_too_long(p: Probe, case: Any) -> Observation:
    words = p.settings.usage.long_prompt_words
    text = filler(p.case_id + "/context", words) + "\n\nReply with OK."
    ex = p.send(f"prompt of {words} filler words", p.body(case.probe, {"prompt": text}))
    evidence: dict[str, Any] = {"status": ex.status, "filler_words": words}
    if ex.status is None or ex.error:  # no answer, or one that could not be read: no verdict
        return Observation(Observed.ERROR, f"no usable answer: {ex.error}", evidence)
    if ex.ok:
        used = prompt_tokens((ex.message() or {}).get("usage"))
        evidence["prompt_tokens"] = used
        return Observation(
            Observed.IGNORED,
            f"2xx for a prompt of {words} filler words ({used} prompt tokens reported): the "
            "context was large enough or the prompt was cut silently; no prompt-too-long error "
            "to react to",
            evidence,
        )
    evidence["error"] = f"{ex.error_type()}: {(ex.error_message() or ex.detail())[:200]}"
    found = wire.violations(ex)
    if ex.status >= 500:
        found.insert(0, f"HTTP {ex.status} for a prompt past the context, not 400")
        leak = LEAKS.search(ex.raw.decode("utf-8", "replace"))
        if leak:
            found.insert(0, f"the {ex.status} body leaks internals: {leak.group(0)[:80]!r}")
    elif ex.error_type() != "invalid_request_error":
        found.append(f"error.type {ex.error_type()!r}, not 'invalid_request_error'")
    if not found and not TOO_LONG.search(ex.error_message() or ""):
        found.append(
            f"the message does not say the prompt is too long: {ex.error_message()!r:.120}"
        )
    if found:
        return wire.judge("prompt too long", found, evidence)
    return Observation(
        Observed.HONORED,
        f"{ex.status} invalid_request_error: {(ex.error_message() or '')[:120]}",
        evidence,
    )


def _stream_end(p: Probe, case: Any) -> Observation:
    ex = p.send("stream", p.body(case.probe, {"stream": True}))
    evidence: dict[str, Any] = {"status": ex.status}
    if ex.status is not None and ex.status >= 500:
        leak = LEAKS.search(ex.raw.decode("utf-8", "replace"))
        if leak:
            return Observation(
                Observed.VIOLATED,
                f"HTTP {ex.status} body leaks internals: {leak.group(0)[:80]!r}",
                evidence,
            )
    bad = failure(ex, "the stream")
    if bad:
        return bad
    if not ex.is_stream:
        return Observation(Observed.VIOLATED, "stream: true answered without SSE", evidence)
    events = sse.parse(ex.raw)
    stops = [i for i, e in enumerate(events) if e.type == "message_stop"]
    evidence["events"] = len(events)
    found = []
    if not stops:
        found.append("no message_stop: the client cannot tell the answer ended")
    else:
        after = events[stops[0] + 1 :]
        for e in after:
            what = "data: [DONE]" if e.text == "[DONE]" else repr(e.type or e.raw[:40])
            found.append(f"after message_stop: {what}")
    return wire.judge("end of stream", found, evidence)
