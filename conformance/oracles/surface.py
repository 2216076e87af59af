"""The Messages API surface newer than the vendors' tables: structured output, input the
endpoint cannot know (an unknown beta, an unknown body field) and the rare stop reasons.

- ``structured_output``: ``output_config.format`` (a JSON schema) must shape the answer's
  text. N trials with the format and N without (the control): honored when every answer
  with it parses and validates while the control never does, so a weak model that happens
  to write valid JSON cannot pass for an enforced format.
- ``unknown_input``: a value no API defines (a made-up ``anthropic-beta``, a made-up body
  field) has no effect to take; an endpoint either refuses it (``rejected``) or passes over
  it (``ignored``), and the row says which.
- ``stop_reason``: ``refusal``, ``pause_turn`` and ``model_context_window_exceeded``, where a
  probe can provoke them. A prompt past the target's context shows what the endpoint does
  instead (a 400 "prompt is too long", the stop reason, or an answer to a cut prompt);
  refusal and pause_turn cannot be provoked on a small local model, so their rows are
  inconclusive unless the endpoint actually answers with them (then the answer must keep
  the wire contract, ``stop_details`` included).
"""

from __future__ import annotations

import json
from typing import Any

from conformance import wire
from conformance.client import Exchange, prompt_tokens
from conformance.filler import filler
from conformance.oracles.base import POSITIVE, failure, oracle
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed

RARE_REASONS = ("refusal", "pause_turn", "model_context_window_exceeded")


def schema_problem(text: str, schema: dict[str, Any]) -> str | None:
    """Why ``text`` is not a JSON instance of ``schema`` (None when it is one)."""
    import jsonschema

    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except ValueError:
        return f"not JSON: {stripped[:60]!r}"
    try:
        jsonschema.Draft202012Validator(schema).validate(value)
    except jsonschema.ValidationError as exc:
        return f"JSON, but {exc.message[:80]}"
    return None


def answer_json_text(msg: dict[str, Any] | None) -> str:
    """The text a structured answer carries: its last text block (Anthropic answers one text
    block holding the JSON; a block an endpoint puts before it is no part of the instance)."""
    texts = [
        b.get("text") or ""
        for b in (msg or {}).get("content") or []
        if isinstance(b, dict) and b.get("type") == "text"
    ]
    return texts[-1] if texts else ""


def _format_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = (body.get("output_config") or {}).get("format") or {}
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    return schema if isinstance(schema, dict) else None


@oracle("structured_output", params={"trials": POSITIVE})
def structured_output(p: Probe, case: Any) -> Observation:
    """``output_config.format``: every answer with it validates, no control answer does."""
    n = case.params.get("trials", p.settings.trials)
    probe: list[str | None] = []
    control: list[str | None] = []
    texts: list[str] = []
    for trial in range(n):
        body = p.body(case.probe, trial=trial)
        schema = _format_schema(body)
        if schema is None:
            return Observation(Observed.ERROR, "the row's probe sets no output_config.format")
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        text = answer_json_text(ex.message())
        texts.append(text[:120])
        probe.append(schema_problem(text, schema))
        cex = p.send(f"control {trial + 1}", p.body(case.probe, case.control, trial=trial))
        if not cex.ok:  # a control that is refused or unanswered proves nothing either way
            return failure(cex, f"the control (trial {trial + 1})") or Observation(
                Observed.ERROR, f"the control (trial {trial + 1}): no answer"
            )
        control.append(schema_problem(answer_json_text(cex.message()), schema))
    valid = sum(x is None for x in probe)
    control_valid = sum(x is None for x in control)
    summary = f"schema-valid answers {valid}/{n}, control (no format) {control_valid}/{n}"
    evidence = {"texts": texts, "problems": probe, "control_problems": control}
    if control_valid:
        return Observation(
            Observed.INCONCLUSIVE,
            f"{summary}: the model writes valid instances unaided, so validity shows nothing",
            evidence,
        )
    if valid == n:
        return Observation(Observed.HONORED, summary, evidence)
    if valid == 0:
        first = next(x for x in probe if x)
        return Observation(
            Observed.IGNORED, f"{summary}: the format was not enforced ({first})", evidence
        )
    return Observation(Observed.INCONCLUSIVE, f"{summary}: enforced in some answers only", evidence)


@oracle("unknown_input", params={"headers": {"type": "object"}})
def unknown_input(p: Probe, case: Any) -> Observation:
    """A value no API defines: a 4xx is ``rejected`` (when the same request without the value,
    the row's ``control`` or the probe without ``headers``, passes); a 2xx ``ignored``."""
    headers = case.params.get("headers")
    ex = p.send("probe", p.body(case.probe), **({"headers": headers} if headers else {}))
    bad = failure(ex)
    if bad is None:
        return Observation(
            Observed.IGNORED,
            "2xx: the unknown value was passed over (it names nothing the endpoint could enable)",
            {"stop_reason": (ex.message() or {}).get("stop_reason")},
        )
    if bad.observed is not Observed.REJECTED:
        return bad
    control = p.send("control: without the unknown value", p.body(case.probe, case.control))
    bad.evidence["control_status"] = control.status
    if control.ok:
        return bad
    if not control.client_error:  # no answer, or a 5xx: the control proves nothing
        return failure(control, "the control (without the unknown value)") or bad
    return Observation(
        Observed.INCONCLUSIVE,
        f"{bad.message}; but the request is refused without the unknown value too "
        f"({control.status})",
        bad.evidence,
    )


@oracle(
    "stop_reason",
    params={"reason": {"enum": list(RARE_REASONS)}, "past_context": {"type": "boolean"}},
    required=("reason",),
)
def stop_reason(p: Probe, case: Any) -> Observation:
    """A rare stop reason: provoked with a prompt past the context (``past_context``), else
    only seen when the endpoint answers with it unprovoked."""
    reason = case.params["reason"]
    if case.params.get("past_context"):
        return _past_context(p, case, reason)
    ex = p.send("probe", p.body(case.probe))
    bad = failure(ex)
    if bad:
        return bad
    msg = ex.message() or {}
    got = msg.get("stop_reason")
    evidence = {"stop_reason": got, "stop_details": msg.get("stop_details")}
    if got == reason:
        found = wire.with_sdk(ex, wire.violations(ex), evidence)
        return wire.judge(f"stop_reason {reason}", found, evidence)
    why = case.why or f"{reason} cannot be provoked by a probe here"
    return Observation(Observed.INCONCLUSIVE, f"stop_reason {got!r}; {why}", evidence)


def _past_context(p: Probe, case: Any, reason: str) -> Observation:
    """A prompt of ``settings.usage.long_prompt_words`` filler words (past a 16k context)."""
    words = p.settings.usage.long_prompt_words
    text = filler(p.case_id + "/context", words) + "\n\nReply with OK."
    ex = p.send(f"prompt of {words} filler words", p.body(case.probe, {"prompt": text}))
    evidence: dict[str, Any] = {"status": ex.status, "filler_words": words}
    if ex.ok:
        msg = ex.message() or {}
        got = msg.get("stop_reason")
        evidence.update(stop_reason=got, prompt_tokens=prompt_tokens(msg.get("usage")))
        if got == reason:
            found = wire.with_sdk(ex, wire.violations(ex), evidence)
            return wire.judge(f"stop_reason {reason}", found, evidence)
        return Observation(
            Observed.IGNORED,
            f"2xx with stop_reason {got!r} for a prompt of {words} filler words "
            f"({evidence['prompt_tokens']} prompt tokens reported): the prompt was cut or the "
            f"context is larger; neither {reason} nor a prompt-too-long error",
            evidence,
        )
    return _refused(ex, evidence) or failure(ex) or Observation(Observed.ERROR, "", evidence)


def _refused(ex: Exchange, evidence: dict[str, Any]) -> Observation | None:
    """A 4xx for the long prompt: rejected, saying whether it is the error Claude Code acts
    on (400 invalid_request_error, "prompt is too long")."""
    if not ex.client_error:
        return None
    from conformance.oracles.usage import TOO_LONG

    said = (ex.error_message() or ex.detail())[:160]
    evidence["error"] = f"{ex.error_type()}: {said}"
    acts = (
        ex.status == 400
        and ex.error_type() == "invalid_request_error"
        and bool(TOO_LONG.search(ex.error_message() or ""))
    )
    what = "the prompt-too-long error Claude Code acts on" if acts else "not the 400 "
    if not acts:
        what += "invalid_request_error 'prompt is too long' Claude Code acts on"
    return Observation(
        Observed.REJECTED, f"{ex.status} {ex.error_type()}: {said} ({what})", evidence
    )
