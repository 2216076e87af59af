"""The ``prefix_cache`` check of the ``claude_code`` oracle (see ``oracles.usage``): does a
system block that differs between sessions, first in ``system`` (Claude Code's billing
block), cost the endpoint its prompt cache of what follows?"""

from __future__ import annotations

from typing import Any

from conformance.client import Exchange, prompt_tokens
from conformance.oracles.base import failure
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed


def _cache_read(ex: Exchange) -> tuple[int | None, int | None]:
    """(cache_read_input_tokens, the prompt's tokens) of an answer; None where not reported."""
    usage = (ex.message() or {}).get("usage") or {}
    read = usage.get("cache_read_input_tokens")
    return (read if isinstance(read, int) else None), prompt_tokens(usage)


def prefix_cache(p: Probe, case: Any) -> Observation:
    """Claude Code 2.1.332 writes ``x-anthropic-billing-header: cc_version=<version>.<suffix>;
    ...`` as its first system block; the suffix follows the session's first prompt, so two
    sessions differ in their very first tokens. An endpoint that caches exact prefixes
    (llama-server's slots, vLLM's prefix cache) then reuses none of the long system prompt
    that follows. The probe's first block is that billing block; the control leaves it out.

    Sent in order: the control twice with different user turns (does the endpoint keep a
    prompt cache at all? the second must read the shared system prompt back), then the probe
    with a third user turn: it shares the control's system prompt, behind the billing block.
    An endpoint whose cache skips the block reads that system prompt back; one that caches
    exact prefixes reads back only the few tokens before the block's suffix.
    """
    probe = p.body(case.probe, trial=3)
    system = probe.get("system")
    if not (isinstance(system, list) and len(system) > 1):
        raise ValueError("prefix_cache: the probe's system must be [billing block, ...]")

    def control(trial: int) -> dict[str, Any]:
        body = p.body(case.probe, trial=trial)
        return dict(body, system=body["system"][1:], max_tokens=1)

    first = p.send("control (no billing block)", control(1))
    bad = failure(first, "the control")
    if bad:
        return bad
    again = p.send("control again, another user turn", control(2))
    bad = failure(again, "the second control")
    if bad:
        return bad
    ex = p.send("probe (billing block first)", dict(probe, max_tokens=1))
    bad = failure(ex)
    if bad:
        return bad
    (base_read, base_total), (read, total) = _cache_read(again), _cache_read(ex)
    evidence: dict[str, Any] = {
        "control_again": {"cache_read_input_tokens": base_read, "prompt_tokens": base_total},
        "probe": {"cache_read_input_tokens": read, "prompt_tokens": total},
    }
    if base_read is None or read is None or not base_total or not total:
        return Observation(
            Observed.INCONCLUSIVE,
            "usage reports no cache_read_input_tokens: whether the block costs the cache "
            "cannot be seen",
            evidence,
        )
    if base_read * 2 < base_total:
        return Observation(
            Observed.INCONCLUSIVE,
            f"the endpoint shows no prompt cache for a repeated system prompt (read "
            f"{base_read} of {base_total} tokens), so there is nothing the block could cost",
            evidence,
        )
    if read + 3 >= total:
        return Observation(
            Observed.INCONCLUSIVE,
            f"the probe's whole prompt was already cached ({read} of {total} tokens): the "
            "endpoint served this row before; run it against a freshly started server",
            evidence,
        )
    if read * 2 >= base_read:
        return Observation(
            Observed.HONORED,
            f"the system prompt behind the billing block was read from cache ({read} of "
            f"{total} tokens; without the block {base_read} of {base_total})",
            evidence,
        )
    return Observation(
        Observed.VIOLATED,
        f"the billing block costs the prompt cache: {read} of {total} tokens read from cache "
        f"with it first, {base_read} of {base_total} without it; every new Claude Code session "
        "re-reads its whole system prompt",
        evidence,
    )
