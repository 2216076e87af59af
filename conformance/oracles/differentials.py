"""Differential rows: prompt tokens, echoed codes, sampling spread and cache counters,
each with a control arm, so a weak model cannot fool them.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.client import response_text
from conformance.oracles.base import POSITIVE, failure, oracle
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed

_ARMS = ("the control (without the block)", "the probe (with the block)")


@oracle(
    "token_diff",
    params={
        "min_delta": POSITIVE,
        "ignore_slack": {"type": "integer", "minimum": 0},
        "shrink": {"type": "boolean"},
        "baseline": {"type": "object"},
    },
)
def token_diff(p: Probe, case: Any) -> Observation:
    """Did the block reach the model? Compare prompt tokens with and without it.

    Model-independent: if the prompt does not grow by about the block's size, the block
    never reached the model (ignored), however good or bad the model is. With ``shrink``
    the field's effect is to keep something out of the prompt (``defer_loading``): the
    probe's prompt must be smaller than the control's by ``min_delta``, and no change is
    ``ignored`` only when the control outgrows ``baseline`` (the prompt without the block at
    all) by as much: a block that never reaches the prompt, deferred or not, shows nothing.
    """
    min_delta = case.params.get("min_delta", p.settings.token_diff.min_delta)
    slack = case.params.get("ignore_slack", p.settings.token_diff.ignore_slack)
    shrink = bool(case.params.get("shrink"))
    arms = ("the control (not deferred)", "the probe (deferred)") if shrink else _ARMS
    without, ex_without = p.count("without", p.body(case.probe, case.control))
    if without is None:
        return failure(ex_without, arms[0]) or Observation(
            Observed.ERROR, "no prompt token count for the control", {}
        )
    with_, ex_with = p.count("with", p.body(case.probe))
    if with_ is None:
        bad = failure(ex_with, arms[1])
        if bad and ex_with.status and ex_with.status >= 500 and not ex_with.error and ex_without.ok:
            # The same request without the block works: the block is what the endpoint refuses.
            bad = Observation(Observed.REJECTED, f"{bad.message} (5xx, though the control passed)")
        return bad or Observation(Observed.ERROR, "no prompt token count for the probe", {})
    delta = without - with_ if shrink else with_ - without
    evidence = {
        "tokens_with": with_,
        "tokens_without": without,
        "delta": delta,
        "min_delta": min_delta,
    }
    moved = "shrank" if shrink else "grew"
    if delta >= min_delta:
        return Observation(
            Observed.HONORED, f"prompt {moved} by {delta} tokens ({without} → {with_})", evidence
        )
    if abs(delta) <= slack:
        what = (
            "what the field keeps out of the prompt was put in all the same"
            if shrink
            else "the block never reached the model"
        )
        verb = "shrink" if shrink else "grow"
        if shrink:
            unseen = _never_in_prompt(p, case, without, min_delta, evidence)
            if unseen:
                return unseen
        return Observation(
            Observed.IGNORED, f"prompt did not {verb} ({without} → {with_}): {what}", evidence
        )
    return Observation(
        Observed.INCONCLUSIVE, f"prompt {moved} by only {delta} tokens (< {min_delta})", evidence
    )


def _never_in_prompt(
    p: Probe, case: Any, without: int, min_delta: int, evidence: dict[str, Any]
) -> Observation | None:
    """With ``shrink``: inconclusive (or the baseline's failure) unless the control's block
    shows in the prompt at all, against ``params.baseline``."""
    layer = case.params.get("baseline")
    if layer is None:
        return None
    base, ex = p.count("baseline", p.body(case.probe, layer))
    if base is None:
        return failure(ex, "the baseline (without the block)") or Observation(
            Observed.ERROR, "no prompt token count for the baseline", evidence
        )
    evidence["tokens_baseline"] = base
    if without - base >= min_delta:
        return None
    return Observation(
        Observed.INCONCLUSIVE,
        f"the block does not show in the prompt even when it is not deferred ({base} without "
        f"it, {without} with it): nothing for the field to keep out",
        evidence,
    )


@oracle(
    "echo",
    params={"trials": POSITIVE},
)
def echo(p: Probe, case: Any) -> Observation:
    """Information flow with a control arm: a code only the field carries must come back.

    HONORED if the code comes back in at least one of N trials; IGNORED only if it never
    does while the control (the code in plain user text) comes back often enough.
    """
    n = case.params.get("trials", p.settings.trials)
    need = p.settings.echo.control_min_hits
    hits = control_hits = 0
    for trial in range(n):
        body = p.body(case.probe, trial=trial)
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        hits += p.nonce(f"K/{trial}").lower() in response_text(ex.message()).lower()
    for trial in range(n):
        ex = p.send(f"control {trial + 1}", p.body(case.probe, case.control, trial=trial))
        if ex.transport_failure:  # a control that got no answer proves nothing either way
            return failure(ex, f"the control (trial {trial + 1})") or Observation(
                Observed.ERROR, f"the control (trial {trial + 1}): no answer"
            )
        if ex.ok:
            control_hits += p.nonce(f"K/{trial}").lower() in response_text(ex.message()).lower()
    summary = f"code echoed {hits}/{n}, control {control_hits}/{n}"
    evidence = {"echoed": hits, "control": control_hits, "trials": n}
    if hits:
        return Observation(Observed.HONORED, summary, evidence)
    if control_hits >= need:
        return Observation(Observed.IGNORED, summary, evidence)
    return Observation(
        Observed.INCONCLUSIVE, f"{summary}: the model does not repeat codes reliably", evidence
    )


def _distinct(texts: list[str]) -> int:
    return len({re.sub(r"\W+", " ", t).strip().lower() for t in texts})


@oracle(
    "sampling",
    params={"samples": POSITIVE, "narrow": {"type": "object"}, "wide": {"type": "object"}},
    required=("narrow", "wide"),
)
def sampling(p: Probe, case: Any) -> Observation:
    """Sampling differential: the narrow arm must collapse diversity the wide arm shows."""
    n = case.params.get("samples", p.settings.sampling.samples)
    mt = p.settings.sampling.max_tokens
    arms: dict[str, list[str]] = {}
    for arm in ("narrow", "wide"):
        arms[arm] = []
        for i in range(n):
            ex = p.send(f"{arm} {i + 1}", p.body(case.probe, {"max_tokens": mt}, case.params[arm]))
            bad = failure(ex, f"the {arm} arm")
            if bad:
                return bad
            arms[arm].append(response_text(ex.message()))
    d_narrow, d_wide = _distinct(arms["narrow"]), _distinct(arms["wide"])
    evidence = {
        "distinct_narrow": d_narrow,
        "distinct_wide": d_wide,
        "samples": n,
        "narrow": case.params["narrow"],
        "wide": case.params["wide"],
        "narrow_samples": [t[:40] for t in arms["narrow"]],
        "wide_samples": [t[:40] for t in arms["wide"]],
    }
    summary = f"distinct outputs: narrow {d_narrow}/{n}, wide {d_wide}/{n}"
    if d_wide < p.settings.sampling.wide_min_distinct:
        return Observation(
            Observed.INCONCLUSIVE,
            f"{summary}: the wide arm is not diverse, nothing to collapse",
            evidence,
        )
    if d_narrow <= p.settings.sampling.narrow_max_distinct:
        return Observation(Observed.HONORED, summary, evidence)
    if d_narrow >= d_wide - 1:
        return Observation(Observed.IGNORED, summary, evidence)
    return Observation(Observed.INCONCLUSIVE, summary, evidence)


@oracle("cache_diff")
def cache_diff(p: Probe, case: Any) -> Observation:
    """cache_control: does the marker change cache accounting compared with no marker?"""
    fields = ("cache_creation_input_tokens", "cache_read_input_tokens")
    arms = {}
    for label, layer in (
        ("marked 1", case.probe),
        ("marked 2", case.probe),
        ("unmarked 1", case.control),
        ("unmarked 2", case.control),
    ):
        layers = (case.probe, layer) if layer is case.control else (layer,)
        ex = p.send(label, p.body(*layers, {"max_tokens": 1}))
        bad = failure(ex, label)
        if bad:
            return bad
        usage = (ex.message() or {}).get("usage") or {}
        arms[label] = {k: usage.get(k) for k in ("input_tokens", *fields)}
    evidence = {"usage": arms}
    marked = [arms["marked 1"].get(fields[0]) or 0, arms["marked 2"].get(fields[1]) or 0]
    unmarked_read = arms["unmarked 2"].get(fields[1]) or 0
    if (marked[0] > 0 or marked[1] > 0) and unmarked_read == 0:
        return Observation(
            Observed.HONORED,
            f"marker made a cache entry (creation {marked[0]}, read {marked[1]}); "
            "no marker, no cache",
            evidence,
        )
    if marked[1] > 0 and unmarked_read > 0:
        return Observation(
            Observed.IGNORED,
            f"cache reads with and without the marker ({marked[1]} vs {unmarked_read}): "
            "automatic caching, the marker changes nothing",
            evidence,
        )
    if not any(v for arm in arms.values() for k, v in arm.items() if k in fields):
        return Observation(
            Observed.IGNORED, "no cache tokens reported with or without the marker", evidence
        )
    return Observation(
        Observed.INCONCLUSIVE, "cache accounting differs in a way that proves nothing", evidence
    )
