"""Structural rows: max_tokens, stop sequences, streaming and thinking change the answer's shape."""

from __future__ import annotations

from typing import Any

from conformance.client import response_text
from conformance.oracles.base import POSITIVE, failure, oracle
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed


@oracle(
    "max_tokens",
    params={"limit": POSITIVE},
)
def max_tokens(p: Probe, case: Any) -> Observation:
    """A long answer capped at a few tokens must stop with ``max_tokens`` within the cap."""
    limit = case.params.get("limit", p.settings.max_tokens_oracle.limit)
    slack = p.settings.max_tokens_oracle.slack
    ex = p.send("probe", p.body(case.probe, {"max_tokens": limit}))
    bad = failure(ex)
    if bad:
        return bad
    msg = ex.message() or {}
    usage = msg.get("usage") or {}
    out = usage.get("output_tokens")
    reason = msg.get("stop_reason")
    evidence = {"max_tokens": limit, "output_tokens": out, "stop_reason": reason}
    if not isinstance(out, int):
        return Observation(
            Observed.INCONCLUSIVE, "no usage.output_tokens to compare with", evidence
        )
    if out > limit + slack:
        return Observation(Observed.IGNORED, f"output_tokens {out} > max_tokens {limit}", evidence)
    if reason == "max_tokens":
        return Observation(
            Observed.HONORED, f"stop_reason max_tokens, output_tokens {out} ≤ {limit}", evidence
        )
    if reason == "end_turn" and out < limit:
        return Observation(
            Observed.INCONCLUSIVE, f"the model stopped on its own after {out} tokens", evidence
        )
    return Observation(
        Observed.IGNORED if reason == "end_turn" else Observed.INCONCLUSIVE,
        f"output capped at {out} but stop_reason is {reason!r}, not 'max_tokens'",
        evidence,
    )


@oracle(
    "stop_sequences",
    params={"sequence": {"type": "string", "minLength": 1}},
    required=("sequence",),
)
def stop_sequences(p: Probe, case: Any) -> Observation:
    """The baseline must produce the sequence; with it set, output stops before it."""
    seq = case.params["sequence"]
    base = p.send("baseline", p.body(case.probe))
    bad = failure(base, "the baseline")
    if bad:
        return bad
    base_text = response_text(base.message())
    evidence: dict[str, Any] = {"sequence": seq, "baseline_text": base_text[:200]}
    if seq not in base_text:
        return Observation(
            Observed.INCONCLUSIVE,
            f"the baseline (no stop_sequences) never produced {seq!r}, so a stop cannot be seen",
            evidence,
        )
    ex = p.send("probe", p.body(case.probe, {"stop_sequences": [seq]}))
    bad = failure(ex)
    if bad:
        return bad
    msg = ex.message() or {}
    text = response_text(msg)
    evidence.update(
        text=text[:200], stop_reason=msg.get("stop_reason"), stop_sequence=msg.get("stop_sequence")
    )
    if seq in text:
        return Observation(Observed.IGNORED, f"{seq!r} still in the output", evidence)
    if msg.get("stop_reason") == "stop_sequence" and msg.get("stop_sequence") == seq:
        return Observation(
            Observed.HONORED, f"stopped before {seq!r}; stop_reason stop_sequence, echoed", evidence
        )
    return Observation(
        Observed.HONORED,
        f"output cut before {seq!r}, but stop_reason={msg.get('stop_reason')!r} "
        f"stop_sequence={msg.get('stop_sequence')!r} (protocol deviation)",
        evidence,
    )


@oracle("stream")
def stream(p: Probe, case: Any) -> Observation:
    """``stream: true`` must answer SSE that parses into a message."""
    ex = p.send("probe", p.body(case.probe, {"stream": True}))
    bad = failure(ex)
    if bad:
        return bad
    ctype = ex.headers.get("content-type", "")
    evidence: dict[str, Any] = {"content_type": ctype}
    if not ex.is_stream:
        return Observation(
            Observed.IGNORED,
            f"stream requested, got {ctype or 'no content-type'} instead of SSE",
            evidence,
        )
    from conformance import sse

    names = [e.name for e in ex.events or []]
    evidence["events"] = names[:40]
    violations = sse.check_grammar(ex.events or [])
    evidence["grammar_violations"] = violations[:10]
    if not any(n == "content_block_delta" for n in names) and "message_start" not in names:
        return Observation(Observed.IGNORED, "SSE content-type but no Messages events", evidence)
    note = f"; {len(violations)} grammar violation(s), see the protocol rows" if violations else ""
    return Observation(Observed.HONORED, f"SSE stream of {len(names)} events{note}", evidence)


@oracle("thinking")
def thinking(p: Probe, case: Any) -> Observation:
    """Extended thinking on: the answer must start with a ``thinking`` block."""
    ex = p.send("probe", p.body(case.probe))
    bad = failure(ex)
    if bad:
        return bad
    blocks = (ex.message() or {}).get("content") or []
    kinds = [b.get("type") for b in blocks if isinstance(b, dict)]
    evidence = {"blocks": kinds}
    if "thinking" in kinds or "redacted_thinking" in kinds:
        first = next(b for b in blocks if b.get("type") in ("thinking", "redacted_thinking"))
        evidence["signature"] = isinstance(first.get("signature"), str)
        return Observation(Observed.HONORED, f"thinking block returned (blocks: {kinds})", evidence)
    return Observation(
        Observed.IGNORED,
        f"no thinking block (blocks: {kinds}); the endpoint accepted thinking but did not think",
        evidence,
    )
