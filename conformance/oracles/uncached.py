"""The ``uncached`` and ``uncached_stream`` checks of the ``claude_code`` oracle (see
``oracles.usage``): is a prompt no cache can hold reported as uncached, and does the same
request sent again add up to the same prompt?

Why they exist: an endpoint with an automatic prompt cache (llama-server always has one)
answers a prompt it has seen with ``input_tokens`` about 0 and the rest as
``cache_read_input_tokens``. A usage row whose prompt is the same every run then cannot tell
that correct cached answer from a counter broken to 0 with the cache fields left standing
(issue 24: a proxy zeroing ``input_tokens`` in front of llama-server passed them). These
rows open their prompt with ``{{FRESH}}``, a code drawn for each run of the row
(:func:`conformance.probe.fresh_code`; replay reads the recorded one back), so no cache can
hold the words behind it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from conformance import sse, wire
from conformance.client import Exchange, prompt_tokens
from conformance.exchange import CACHE_FIELDS
from conformance.oracles.base import failure, within
from conformance.probe import FRESH, Probe
from conformance.vocabulary import Observation, Observed


def _texts(body: dict[str, Any]) -> list[str]:
    """The prompt's texts in the order an endpoint renders (and caches) them: system, then
    each message's text."""
    out: list[str] = []
    for part in [body.get("system"), *[m.get("content") for m in body.get("messages") or []]]:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, list):
            out.extend(b["text"] for b in part if isinstance(b, dict) and "text" in b)
    return out


def _words_behind_fresh(body: dict[str, Any]) -> tuple[str, int]:
    """The row's fresh code and the number of words behind it in the prompt: text no cache
    can hold, since no endpoint has seen the code before."""
    text = "\n".join(t for t in _texts(body) if isinstance(t, str))
    found = FRESH.search(text)
    if not found:
        raise ValueError(
            "uncached: the probe's prompt must hold {{FRESH}} (cases/claude_code.yaml)"
        )
    return found.group(0), len(re.findall(r"[A-Za-z]+", text[found.end() :]))


def _split(usage: Any) -> tuple[Any, int, int]:
    """(input_tokens as reported, cache_creation, cache_read; a cache field left out is 0)."""
    usage = usage if isinstance(usage, dict) else {}

    def count(key: str) -> int:
        v = usage.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    return usage.get("input_tokens"), count(CACHE_FIELDS[0]), count(CACHE_FIELDS[1])


def _uncached_found(p: Probe, first: Any, again: Any, words: int) -> list[str]:
    """What is wrong with the usage of a fresh prompt (``first``) and of the same request
    sent again (``again``)."""
    found = []
    inp, created, read = _split(first)
    floor = math.ceil(words * p.settings.usage.min_tokens_per_word)
    if not isinstance(inp, int) or isinstance(inp, bool):
        found.append(f"usage.input_tokens is {inp!r}, not a number")
    elif inp <= 0:
        found.append(
            f"input_tokens {inp} for a prompt no cache can hold (it opens with a code drawn "
            f"for this run; cache_creation_input_tokens {created}, cache_read_input_tokens "
            f"{read}): a counter that says 0, whatever the cache fields happen to add"
        )
    elif inp + created < floor:
        found.append(
            f"{inp + created} uncached prompt tokens (input_tokens {inp} + "
            f"cache_creation_input_tokens {created}) for the {words} words behind a code no "
            f"cache holds: at least {floor}; cache_read_input_tokens {read}"
        )
    before, after = prompt_tokens(first), prompt_tokens(again)
    if isinstance(before, int) and isinstance(after, int) and before > 0:
        if not within(before, after, p.settings.usage.tolerance):
            found.append(
                f"the same request sent again adds up to {after} prompt tokens, the first time "
                f"{before}: a cache moves tokens between the fields, it does not remove them"
            )
    elif isinstance(before, int) and not isinstance(after, int):
        found.append("the same request sent again reports no input_tokens")
    return found


def _uncached_message(label: str, first: Any, again: Any, words: int) -> str:
    inp, created, read = _split(first)
    _, _, read_again = _split(again)
    return (
        f"{label}: a fresh prompt of {prompt_tokens(first)} tokens reported uncached "
        f"(input_tokens {inp} + cache_creation {created}, cache_read {read}; {words} words "
        f"behind the code); sent again {prompt_tokens(again)}, {read_again} of them read "
        "from cache"
    )


def uncached(p: Probe, case: Any) -> Observation:
    """The fresh prompt, then the same request again (the endpoint's cache may now hold it),
    unstreamed."""
    body = p.body(case.probe)
    code, words = _words_behind_fresh(body)
    first = p.send("fresh prompt", body)
    bad = failure(first)
    if bad:
        return bad
    again = p.send("the same request again", body)
    bad = failure(again, "the repeat")
    if bad:
        return bad
    usage, usage_again = ((ex.message() or {}).get("usage") for ex in (first, again))
    return _uncached_judged(p, "uncached usage", code, words, usage, usage_again, {})


def _uncached_judged(
    p: Probe,
    label: str,
    code: str,
    words: int,
    first: Any,
    again: Any,
    evidence: dict[str, Any],
    found: tuple[str, ...] = (),
) -> Observation:
    evidence = {
        "fresh_code": code,
        "words_behind_code": words,
        "min_uncached_tokens": math.ceil(words * p.settings.usage.min_tokens_per_word),
        "usage": first,
        "usage_again": again,
        **evidence,
    }
    problems = [*found, *_uncached_found(p, first, again, words)]
    if problems:
        return wire.judge(label, problems, evidence)
    evidence["violations"] = []
    return Observation(Observed.HONORED, _uncached_message(label, first, again, words), evidence)


def _stream_usage_of(ex: Exchange) -> tuple[Any, Any, Any]:
    """(message_start's usage, the last message_delta's, the usage a client ends up with)."""
    events = ex.events if ex.events is not None else sse.parse(ex.raw)  # parsed on receipt
    start = next((e.data for e in events if e.type == "message_start" and e.data), None)
    delta = None
    for e in events:
        if e.type == "message_delta" and isinstance((e.data or {}).get("usage"), dict):
            delta = e.data["usage"]
    return (
        ((start or {}).get("message") or {}).get("usage"),
        delta,
        sse.accumulate(events).get("usage"),
    )


def uncached_stream(p: Probe, case: Any) -> Observation:
    """Both requests streamed, as Claude Code sends every turn; judged on the usage the
    client ends up with (message_start's, each counter message_delta carries replacing it,
    as the official SDK accumulates: paseo#4294 shows Claude Code reading message_delta's),
    with message_start's and message_delta's own in the evidence."""
    body = dict(p.body(case.probe), stream=True)
    code, words = _words_behind_fresh(body)
    sent, found = [], []
    for label in ("the fresh prompt's stream", "the repeated stream"):
        ex = p.send(label, body)
        bad = failure(ex, label)
        if bad:
            return bad
        if not ex.is_stream:
            return Observation(Observed.VIOLATED, "stream: true answered without SSE")
        sent.append(_stream_usage_of(ex))
        if sent[-1][0] is None:  # the client has no usage before message_delta, if any
            found.append(f"{label} has no message_start with usage")
    (start, delta, first), (_, _, again) = sent
    evidence = {"message_start_usage": start, "message_delta_usage": delta}
    return _uncached_judged(
        p, "uncached streamed usage", code, words, first, again, evidence, tuple(found)
    )
