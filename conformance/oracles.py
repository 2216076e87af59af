"""Oracles: from what the endpoint did to an observed behaviour, with the evidence.

Each oracle is a family of probes selected per case in YAML (``oracle: token_diff``). They
are built so that a weak model cannot fool them: structural checks, prompt-token
differentials, forced tool choice and control arms. When the probe's own control fails the
answer is ``inconclusive``, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange, response_text
from conformance.probe import Probe, wire_violations
from conformance.results import Observed
from conformance.secrets import WRONG_KEY


@dataclass
class Observation:
    observed: Observed
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


OracleFn = Callable[[Probe, Any], Observation]
ORACLES: dict[str, OracleFn] = {}


def oracle(name: str) -> Callable[[OracleFn], OracleFn]:
    def register(fn: OracleFn) -> OracleFn:
        ORACLES[name] = fn
        return fn

    return register


def failure(ex: Exchange, what: str = "the probe") -> Observation | None:
    """The common answer when a probe did not get a 2xx: rejected (4xx) or error."""
    if ex.ok:
        return None
    if ex.error and ex.status is None:
        return Observation(Observed.ERROR, f"{what}: {ex.error}")
    if ex.client_error:
        detail = ex.error_type() or "no Anthropic error type"
        return Observation(
            Observed.REJECTED,
            f"{what} answered {ex.status} {detail}: {ex.error_message() or ''}".strip(),
        )
    retried = sum("retried after" in note for note in ex.retries)
    tries = f" (after {retried} retries)" if retried else ""
    return Observation(Observed.ERROR, f"{what} answered {ex.status}{tries}: {ex.detail()}")


def tool_uses(ex: Exchange) -> list[dict[str, Any]]:
    msg = ex.message() if ex.ok else None
    return [
        b
        for b in (msg or {}).get("content") or []
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]


# --- acceptance and validation ------------------------------------------------------------


@oracle("acceptance")
def acceptance(p: Probe, case: Any) -> Observation:
    """Rows no outside observer can see an effect of: 2xx gives ``accepted``, and why.

    Optional ``params.invalid`` arms (values Anthropic rejects) are sent too; whether they
    were rejected goes into the evidence (does the endpoint even parse the field?).
    """
    ex = p.send("probe", p.body(case.probe))
    bad = failure(ex)
    invalid = []
    for arm in case.params.get("invalid", []):
        iex = p.send(arm["label"], p.body(case.probe, arm.get("probe")))
        invalid.append(f"{arm['label']}: {iex.status or iex.error}")
    evidence = {"invalid_values": invalid} if invalid else {}
    if bad:
        bad.evidence.update(evidence)
        return bad
    why = case.why or case.params.get("why") or "no effect is observable from outside"
    note = f"; invalid values: {', '.join(invalid)}" if invalid else ""
    return Observation(Observed.ACCEPTED, f"2xx; {why}{note}", evidence)


@oracle("validation")
def validation(p: Probe, case: Any) -> Observation:
    """Validation differential: valid arms must pass; do invalid arms get a 4xx?

    honored: every valid arm 2xx and every invalid arm 4xx (the endpoint checks the value,
    as Anthropic does). ignored: invalid arms pass unchecked. With ``params.mode: accept``
    only the valid arms decide (a declared range is honored when its values are accepted).
    """

    def send(arm: dict[str, Any]) -> Exchange:
        kwargs: dict[str, Any] = {}
        if "headers" in arm:
            kwargs["headers"] = arm["headers"]
        if "auth" in arm:
            kwargs["auth"] = arm["auth"]
        if arm.get("key") == "wrong":
            kwargs["key"] = WRONG_KEY
        path = arm.get("path", "/v1/messages")
        return p.send(arm["label"], p.body(case.probe, arm.get("probe")), path=path, **kwargs)

    valid = [(arm["label"], send(arm)) for arm in case.params.get("valid", [])]
    invalid = [(arm["label"], send(arm)) for arm in case.params.get("invalid", [])]
    shown = {label: ex.status or ex.error for label, ex in valid + invalid}
    evidence = {"statuses": shown}
    for label, ex in valid + invalid:
        if ex.status is None or (ex.status >= 500):
            return Observation(Observed.ERROR, f"{label}: {ex.error or ex.status}", evidence)
    failed_valid = [label for label, ex in valid if not ex.ok]
    if failed_valid:
        first = dict(valid)[failed_valid[0]]
        return Observation(
            Observed.REJECTED,
            f"valid value rejected ({', '.join(failed_valid)}): {first.status} "
            f"{first.error_type() or ''} {first.error_message() or ''}".strip(),
            evidence,
        )
    rejected = [label for label, ex in invalid if ex.client_error]
    accepted = [label for label, ex in invalid if ex.ok]
    if case.params.get("mode") == "accept":
        # A 2xx alone shows acceptance, not an effect: honored only when the declared bounds
        # are what the endpoint enforces (every out-of-range value rejected).
        if invalid and len(rejected) == len(invalid):
            return Observation(
                Observed.HONORED,
                f"valid values accepted, out-of-range rejected ({', '.join(rejected)})",
                evidence,
            )
        note = f"; out-of-range accepted too: {', '.join(accepted)}" if accepted else ""
        return Observation(Observed.ACCEPTED, f"valid values accepted{note}", evidence)
    if invalid and len(rejected) == len(invalid):
        return Observation(
            Observed.HONORED,
            f"invalid values rejected ({', '.join(rejected)}); valid accepted",
            evidence,
        )
    if invalid and len(accepted) == len(invalid):
        return Observation(
            Observed.IGNORED, f"invalid values accepted unchecked ({', '.join(accepted)})", evidence
        )
    return Observation(
        Observed.INCONCLUSIVE,
        f"partly enforced: rejected {rejected}, accepted {accepted}",
        evidence,
    )


@oracle("model")
def model(p: Probe, case: Any) -> Observation:
    """The probe's model name must be served; other names (``params.others``) are recorded.

    The probe's model is the target's own unless the case sets one (e.g. a ``claude-*`` name
    to see whether it is mapped); the message names it either way.
    """
    body = p.body(case.probe)
    asked = body.get("model")
    ex = p.send(f"model {asked}", body)
    bad = failure(ex, f"model {asked!r}")
    if bad:
        return bad
    served = (ex.message() or {}).get("model")
    evidence: dict[str, Any] = {"asked": asked, "served": served}
    others = {}
    for name in case.params.get("others", []):
        oex = p.send(name, p.body(case.probe, {"model": name}))
        others[name] = (
            (oex.message() or {}).get("model") if oex.ok else f"{oex.status} {oex.error_type()}"
        )
    if others:
        evidence["others"] = others
    if not isinstance(served, str) or not served:
        return Observation(Observed.INCONCLUSIVE, "2xx but the response names no model", evidence)
    mapped = "".join(f"; {k} → {v}" for k, v in others.items())
    return Observation(Observed.HONORED, f"{asked!r} served as {served!r}{mapped}", evidence)


# --- structural ---------------------------------------------------------------------------


@oracle("max_tokens")
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


@oracle("stop_sequences")
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


# --- differentials ------------------------------------------------------------------------


@oracle("token_diff")
def token_diff(p: Probe, case: Any) -> Observation:
    """Did the block reach the model? Compare prompt tokens with and without it.

    Model-independent: if the prompt does not grow by about the block's size, the block
    never reached the model (ignored), however good or bad the model is.
    """
    min_delta = case.params.get("min_delta", p.settings.token_diff.min_delta)
    slack = case.params.get("ignore_slack", p.settings.token_diff.ignore_slack)
    without, ex_without = p.count("without", p.body(case.probe, case.control))
    if without is None:
        return failure(ex_without, "the control (without the block)") or Observation(
            Observed.ERROR, "no prompt token count for the control", {}
        )
    with_, ex_with = p.count("with", p.body(case.probe))
    if with_ is None:
        bad = failure(ex_with, "the probe (with the block)")
        if bad and ex_with.status and ex_with.status >= 500 and ex_without.ok:
            # The same request without the block works: the block is what the endpoint refuses.
            bad = Observation(Observed.REJECTED, f"{bad.message} (5xx, though the control passed)")
        return bad or Observation(Observed.ERROR, "no prompt token count for the probe", {})
    delta = with_ - without
    evidence = {
        "tokens_with": with_,
        "tokens_without": without,
        "delta": delta,
        "min_delta": min_delta,
    }
    if delta >= min_delta:
        return Observation(
            Observed.HONORED, f"prompt grew by {delta} tokens ({without} → {with_})", evidence
        )
    if abs(delta) <= slack:
        return Observation(
            Observed.IGNORED,
            f"prompt did not grow ({without} → {with_}): the block never reached the model",
            evidence,
        )
    return Observation(
        Observed.INCONCLUSIVE, f"prompt grew by only {delta} tokens (< {min_delta})", evidence
    )


@oracle("echo")
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


@oracle("sampling")
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


# --- tools --------------------------------------------------------------------------------


def _validate_input(tool: dict[str, Any] | None, block: dict[str, Any]) -> str | None:
    import jsonschema

    if not isinstance(block.get("input"), dict):
        return f"input is {type(block.get('input')).__name__}, not an object"
    if tool is None:
        return None
    try:
        jsonschema.Draft202012Validator(tool.get("input_schema", {})).validate(block["input"])
    except jsonschema.ValidationError as exc:
        return f"input does not match input_schema: {exc.message}"
    return None


@oracle("tool_use")
def tool_use(p: Probe, case: Any) -> Observation:
    """Tool behaviour over N trials, with forced choice wherever the row allows.

    ``params.expect``: ``named`` (every trial calls ``params.tool`` with schema-valid input),
    ``any`` (every trial calls some tool), ``none`` (no trial calls a tool, while the control
    arm shows a tool call is reachable), ``auto`` (a tool call is possible at all),
    ``single`` (at most one call per answer, while the control shows parallel calls).
    """
    expect = case.params["expect"]
    n = case.params.get("trials", p.settings.trials)
    counts, problems, names = [], [], []
    right = 0  # calls of params.tool, whose {{K}} resolves per trial like the body's
    for trial in range(n):
        body = p.body(case.probe, trial=trial)
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        uses = tool_uses(ex)
        counts.append(len(uses))
        tools = {t.get("name"): t for t in body.get("tools", []) if isinstance(t, dict)}
        for block in uses:
            names.append(block.get("name"))
            right += block.get("name") == p.resolve(case.params.get("tool"), trial)
            problem = _validate_input(tools.get(block.get("name")), block)
            if problem:
                problems.append(f"trial {trial + 1}: {problem}")
    evidence: dict[str, Any] = {
        "tool_uses_per_trial": counts,
        "names": names,
        "input_problems": problems,
    }
    control_counts: list[int] = []
    if case.control is not None:
        for trial in range(n):
            ex = p.send(f"control {trial + 1}", p.body(case.probe, case.control, trial=trial))
            control_counts.append(len(tool_uses(ex)) if ex.ok else -1)
        evidence["control_tool_uses"] = control_counts
    called = sum(1 for c in counts if c)
    summary = f"tool called in {called}/{n}"
    if expect == "named":
        want = p.resolve(case.params["tool"])
        summary = f"{want} called in {right}/{n}"
        if right == n and problems and case.params.get("check_input"):
            return Observation(
                Observed.IGNORED,
                f"{summary}, but input ignores input_schema: {problems[0]}",
                evidence,
            )
        if right == n and all(c == 1 for c in counts) and not problems:
            return Observation(Observed.HONORED, f"{summary}, input schema-valid", evidence)
        if right == n:
            return Observation(Observed.HONORED, f"{summary}; but {problems or counts}", evidence)
        if right == 0:
            return Observation(
                Observed.IGNORED, f"{summary} (names: {names or 'no tool call'})", evidence
            )
        return Observation(Observed.INCONCLUSIVE, summary, evidence)
    if expect == "any":
        if called == n:
            return Observation(Observed.HONORED, summary, evidence)
        return Observation(
            Observed.IGNORED if called == 0 else Observed.INCONCLUSIVE, summary, evidence
        )
    if expect == "auto":
        if called:
            return Observation(Observed.HONORED, summary, evidence)
        return Observation(
            Observed.INCONCLUSIVE, f"{summary}: the model chose not to call a tool", evidence
        )
    if expect == "none":
        if not any(c > 0 for c in control_counts):
            return Observation(
                Observed.INCONCLUSIVE,
                f"{summary}; the control never called a tool either",
                evidence,
            )
        if called == 0:
            return Observation(
                Observed.HONORED,
                f"no tool call in {n}/{n}; control called in "
                f"{sum(1 for c in control_counts if c > 0)}/{n}",
                evidence,
            )
        return Observation(Observed.IGNORED, summary, evidence)
    if expect == "single":
        if not any(c > 1 for c in control_counts):
            return Observation(
                Observed.INCONCLUSIVE,
                f"the control never made parallel calls {control_counts}; nothing to disable",
                evidence,
            )
        if all(c <= 1 for c in counts):
            return Observation(
                Observed.HONORED,
                f"at most one call per answer {counts}; control {control_counts}",
                evidence,
            )
        return Observation(Observed.IGNORED, f"parallel calls despite the flag {counts}", evidence)
    raise ValueError(f"unknown tool_use expectation {expect!r}")


# --- protocol -----------------------------------------------------------------------------


def _sdk_verdict(ex: Exchange) -> str | None:
    """The official client's complaint about this response, or None if it loads it."""
    from conformance import protocol

    try:
        return (
            protocol.sdk_load_stream(ex.raw) if ex.is_stream else protocol.sdk_load_message(ex.json)
        )
    except protocol.SDKUnavailable:
        return "skipped: the anthropic SDK is not installed (pip install -e '.[sdk]')"


def _conformance(label: str, violations: list[str], evidence: dict[str, Any]) -> Observation:
    evidence["violations"] = violations[:12]
    if violations:
        return Observation(
            Observed.VIOLATED, f"{label}: {len(violations)} violation(s): {violations[0]}", evidence
        )
    return Observation(Observed.HONORED, f"{label}: conforms", evidence)


@oracle("protocol")
def protocol_check(p: Probe, case: Any) -> Observation:
    """Wire-contract rows: ``params.check`` picks what is checked, on real responses.

    message / stream: the JSON Schemas from the pinned SDK plus the wire overlay, the SSE
    grammar, and whether the official client loads the answer. errors: an invalid request gets
    a 4xx with Anthropic's error envelope. auth_errors: a wrong key gets 401
    authentication_error. bearer: ``Authorization: Bearer`` works. count_tokens / models: the
    endpoints exist and answer the documented shape (count close to usage.input_tokens).
    stream_equivalence: the streamed message has the same shape as the non-streamed one.
    """
    check = case.params["check"]
    if check in ("message", "stream"):
        body = p.body(case.probe, {"stream": True} if check == "stream" else None)
        ex = p.send(check, body)
        bad = failure(ex)
        if bad:
            return bad
        if check == "stream" and not ex.is_stream:
            return Observation(
                Observed.VIOLATED,
                "stream: true answered without SSE",
                {"content_type": ex.headers.get("content-type")},
            )
        violations = wire_violations(ex)
        sdk = _sdk_verdict(ex)
        evidence: dict[str, Any] = {"official_client": sdk or "loads it"}
        if sdk and not sdk.startswith("skipped"):
            violations.append(f"the official anthropic SDK fails on it: {sdk}")
        return _conformance(check, violations, evidence)
    if check == "stop_reason":
        # Where output stopped on a stop sequence, the reason must say so and echo it.
        obs = stop_sequences(p, case)
        if obs.observed is not Observed.HONORED:
            return Observation(
                Observed.INCONCLUSIVE,
                f"no stop on the sequence to judge: {obs.message}",
                obs.evidence,
            )
        seq = case.params["sequence"]
        ev = obs.evidence
        violations = []
        if ev.get("stop_reason") != "stop_sequence":
            violations.append(f"stop_reason {ev.get('stop_reason')!r}, not 'stop_sequence'")
        if ev.get("stop_sequence") != seq:
            violations.append(f"stop_sequence {ev.get('stop_sequence')!r}, not {seq!r}")
        return _conformance("stop_reason on a stop sequence", violations, ev)
    if check == "stream_equivalence":
        plain_ex = p.send("non-stream", p.body(case.probe))
        stream_ex = p.send("stream", p.body(case.probe, {"stream": True}))
        for ex in (plain_ex, stream_ex):
            bad = failure(ex)
            if bad:
                return bad
        a, b = plain_ex.message() or {}, stream_ex.message() or {}

        def shape(m: dict[str, Any]) -> dict[str, Any]:
            return {
                "keys": sorted(m),
                "blocks": [
                    blk.get("type") for blk in m.get("content") or [] if isinstance(blk, dict)
                ],
                "usage": sorted(m.get("usage") or {}),
            }

        evidence = {"non_stream": shape(a), "stream": shape(b)}
        violations = [
            f"{k} differ: {evidence['non_stream'][k]} vs {evidence['stream'][k]}"
            for k in ("keys", "blocks", "usage")
            if evidence["non_stream"][k] != evidence["stream"][k]
        ]
        return _conformance("stream vs non-stream", violations, evidence)
    if check == "errors":
        violations, evidence = [], {}
        for arm in case.params["invalid"]:
            ex = p.send(arm["label"], p.body(case.probe, arm.get("probe")))
            evidence[arm["label"]] = f"{ex.status} {ex.error_type()}"
            if ex.status is None:
                return Observation(Observed.ERROR, f"{arm['label']}: {ex.error}", evidence)
            if ex.ok:
                violations.append(f"{arm['label']}: answered {ex.status}, not 4xx")
            elif ex.status >= 500:
                violations.append(
                    f"{arm['label']}: answered {ex.status} for a client error, not 4xx"
                )
            violations += [
                f"{arm['label']}: {v}" for v in (wire_violations(ex) if not ex.ok else [])
            ]
        return _conformance("error answers", violations, evidence)
    if check == "auth_errors":
        violations, evidence = [], {}
        for label, kwargs in (("wrong key", {"key": WRONG_KEY}), ("no key", {"auth": "none"})):
            ex = p.send(label, p.body(case.probe), **kwargs)
            evidence[label] = f"{ex.status} {ex.error_type()}"
            if ex.status != 401:
                violations.append(f"{label}: answered {ex.status}, not 401")
            elif ex.error_type() != "authentication_error":
                violations.append(
                    f"{label}: error.type {ex.error_type()!r}, not 'authentication_error'"
                )
        return _conformance("authentication errors", violations, evidence)
    if check == "bearer":
        # The key must be what lets the request through: a wrong key in the same header must
        # be refused, else a 2xx proves nothing about the header.
        ex = p.send("bearer", p.body(case.probe), auth="bearer")
        bad = failure(ex, "Authorization: Bearer")
        if bad:
            return bad
        wrong = p.send("bearer, wrong key", p.body(case.probe), auth="bearer", key=WRONG_KEY)
        evidence = {"bearer": ex.status, "bearer_wrong_key": wrong.status}
        if wrong.client_error:
            return Observation(
                Observed.HONORED,
                f"Bearer key accepted, a wrong Bearer key refused ({wrong.status})",
                evidence,
            )
        if not wrong.ok:
            return failure(wrong, "a wrong Bearer key") or Observation(Observed.ERROR, "", evidence)
        return Observation(
            Observed.ACCEPTED,
            f"Bearer accepted, but so is a wrong Bearer key ({wrong.status}): the header's "
            "effect is not observable",
            evidence,
        )
    if check == "count_tokens":
        body = p.body(case.probe)
        counted = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
        ex = p.send("count_tokens", counted, path="/v1/messages/count_tokens")
        bad = failure(ex, "count_tokens")
        if bad:
            return bad
        from conformance import protocol

        violations = protocol.check_count_tokens(ex.json)
        used, _ = p.count("usage", body)
        counted_n = (ex.json or {}).get("input_tokens") if isinstance(ex.json, dict) else None
        evidence = {"count_tokens": counted_n, "usage_input_tokens": used}
        tolerance = case.params.get("tolerance", 0.1)
        if (
            isinstance(counted_n, int)
            and isinstance(used, int)
            and used
            and abs(counted_n - used) > tolerance * used
        ):
            violations.append(
                f"count_tokens says {counted_n}, the same request used {used} input tokens"
            )
        return _conformance("count_tokens", violations, evidence)
    if check == "models":
        ex = p.send("models", None, method="GET", path="/v1/models")
        bad = failure(ex, "GET /v1/models")
        if bad:
            return bad
        from conformance import protocol

        return _conformance("models list", protocol.check_models_list(ex.json), {})
    raise ValueError(f"unknown protocol check {check!r}")


# --- client readiness ---------------------------------------------------------------------


@oracle("client_shape")
def client_shape(p: Probe, case: Any) -> Observation:
    """Does the endpoint take what a real client sends? ``params.shape`` names a shape file.

    The request is the captured one (headers, betas, query, auth scheme, every body key and
    size) with filler text, the target's model and a small ``max_tokens``. honored: 2xx and
    the answer passes the protocol checks (SSE grammar and schemas, or the Message's, and the
    official SDK loads it). violated: 2xx but it does not. rejected: 4xx, or a 5xx that goes
    away without one field. When refused, the shape is bisected (one header, beta value,
    query or top-level key dropped at a time) and the evidence names the culprit.
    """
    from conformance import capture

    shape_file = capture.shape_path(case.params["shape"], case.file)
    shape = capture.load_shape(shape_file)
    limit = case.params.get("max_tokens", p.settings.max_tokens)
    req = capture.shape_to_request(shape, p.model, max_tokens=limit, extra_body=p.extra_body)
    who = f"{shape['client']} {shape['version']} {shape['turn']}"
    evidence: dict[str, Any] = {
        "shape": case.params["shape"],
        "client": who,
        "captured": shape.get("captured"),
        "betas": capture.betas_of(req.headers),
        "body_keys": list(req.body) if isinstance(req.body, dict) else [],
        "body_bytes": (shape.get("summary") or {}).get("body_bytes"),
        "auth": req.auth,
        "path": req.url_path,
        "changes": req.changes,
    }
    ex = capture.send_shape(p, "shape", req)
    if ex.ok:
        violations = capture.answer_violations(ex, req)
        sdk = _sdk_verdict(ex)
        evidence["official_client"] = sdk or "loads it"
        if sdk and not sdk.startswith("skipped"):
            violations.append(f"the official anthropic SDK fails on it: {sdk}")
        return _conformance(f"{who} accepted", violations, evidence)
    if ex.status is None:
        return Observation(Observed.ERROR, f"{who}: {ex.error}", evidence)
    refused = failure(ex, who) or Observation(Observed.ERROR, f"{who}: {ex.status}")
    hint = f"{ex.error_message() or ''} {ex.raw[:400].decode('utf-8', 'replace')}"
    found = capture.bisect(
        lambda label, r: capture.send_shape(p, label, r),
        req,
        hint=hint,
        budget=case.params.get("bisect_budget", p.settings.clients.bisect_budget),
    )
    evidence["bisection"] = found.as_evidence()
    culprit = (
        f"; passes without {' + '.join(found.culprits)}"
        if found.culprits
        else f"; bisection: {found.note}"
    )
    if ex.client_error:
        return Observation(Observed.REJECTED, refused.message + culprit, evidence)
    if found.culprits:  # a 5xx the same request without one field does not get
        return Observation(
            Observed.REJECTED, f"{refused.message} (5xx, gone without the field){culprit}", evidence
        )
    return Observation(Observed.ERROR, refused.message + culprit, evidence)
