"""Protocol rows: the wire contract on real answers, one registered check per ``params.check``.

message / stream: the JSON Schemas from the pinned SDK plus the wire overlay, the SSE
grammar, and whether the official client loads the answer. errors: an invalid request gets a
4xx with Anthropic's error envelope. auth_errors: a wrong key gets 401 authentication_error.
bearer: ``Authorization: Bearer`` works. count_tokens / models: the endpoints exist and
answer the documented shape (count close to usage.input_tokens). stream_equivalence: the
streamed message has the same shape as the non-streamed one. stop_reason: a stop on a stop
sequence says so and echoes it.

A check is added with ``@check(name, params=..., required=...)``: its params are checked
when the case files load, like an oracle's.
"""

from __future__ import annotations

from typing import Any

from conformance import wire
from conformance.oracles.base import ARMS, ORACLES, Registry, failure, oracle
from conformance.oracles.structural import stop_sequences
from conformance.probe import Probe
from conformance.secrets import WRONG_KEY
from conformance.vocabulary import Observation, Observed

CHECKS = Registry()
check = CHECKS.register


def _check_params() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The protocol oracle's params: ``check`` names a registered check, whose own params
    (and only those) may follow."""
    properties: dict[str, Any] = {"check": {"enum": sorted(CHECKS)}}
    rules = []
    for name, sub in CHECKS.items():
        properties.update(sub.properties)
        allowed = {"check", *sub.properties}
        rules.append(
            {
                "if": {"properties": {"check": {"const": name}}},
                "then": {
                    "required": list(sub.required),
                    "propertyNames": {"enum": sorted(allowed)},
                },
            }
        )
    return properties, rules


@oracle("protocol", required=("check",))
def protocol_check(p: Probe, case: Any) -> Observation:
    """The wire contract (schemas, SSE grammar, errors, auth): ``params.check`` picks it.

    A verdict never contradicts its evidence: every answer the row received is checked
    against the wire contract (the ``protocol`` lines of its evidence), and any violation
    found there makes the row ``violated``, whatever the check itself concluded (a 401
    without ``"type": "error"`` breaks the contract even when its status is right).
    Transport errors stay ``error``.
    """
    return agree_with_evidence(p, CHECKS[case.params["check"]](p, case))


def agree_with_evidence(p: Probe, obs: Observation) -> Observation:
    """``obs``, made ``violated`` when an exchange of ``p`` breaks the wire contract."""
    if obs.observed is Observed.ERROR:
        return obs
    seen = [f"{label}: {v}" for label, ex in p.exchanges for v in wire.violations(ex)]
    evidence = dict(obs.evidence)
    listed = list(evidence.get("violations") or [])
    extra = [v for v in seen if not any(v.endswith(x) or x.endswith(v) for x in listed)]
    if not extra:
        return obs
    evidence["violations"] = (listed + extra)[:12]
    if obs.observed is Observed.VIOLATED:
        return Observation(obs.observed, obs.message, evidence)
    evidence["check_said"] = obs.message
    return Observation(
        Observed.VIOLATED,
        f"{len(extra)} wire violation(s) in the answers: {extra[0]} (the check alone said: "
        f"{obs.message})",
        evidence,
    )


@check("message")
def message(p: Probe, case: Any) -> Observation:
    return _message_or_stream(p, case, "message")


@check("stream")
def stream(p: Probe, case: Any) -> Observation:
    return _message_or_stream(p, case, "stream")


def _message_or_stream(p: Probe, case: Any, name: str) -> Observation:
    body = p.body(case.probe, {"stream": True} if name == "stream" else None)
    ex = p.send(name, body)
    bad = failure(ex)
    if bad:
        return bad
    if name == "stream" and not ex.is_stream:
        return Observation(
            Observed.VIOLATED,
            "stream: true answered without SSE",
            {"content_type": ex.headers.get("content-type")},
        )
    evidence: dict[str, Any] = {}
    found = wire.with_sdk(ex, wire.violations(ex), evidence)
    return wire.judge(name, found, evidence)


@check(
    "stop_reason", params={"sequence": {"type": "string", "minLength": 1}}, required=("sequence",)
)
def stop_reason(p: Probe, case: Any) -> Observation:
    """Where output stopped on a stop sequence, the reason must say so and echo it."""
    obs = stop_sequences(p, case)
    if obs.observed is Observed.ERROR:  # a transport failure stays one, not "inconclusive"
        return obs
    if obs.observed is not Observed.HONORED:
        return Observation(
            Observed.INCONCLUSIVE, f"no stop on the sequence to judge: {obs.message}", obs.evidence
        )
    seq = case.params["sequence"]
    ev = obs.evidence
    found = []
    if ev.get("stop_reason") != "stop_sequence":
        found.append(f"stop_reason {ev.get('stop_reason')!r}, not 'stop_sequence'")
    if ev.get("stop_sequence") != seq:
        found.append(f"stop_sequence {ev.get('stop_sequence')!r}, not {seq!r}")
    return wire.judge("stop_reason on a stop sequence", found, ev)


def _shape(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "keys": sorted(m),
        "blocks": [blk.get("type") for blk in m.get("content") or [] if isinstance(blk, dict)],
        "usage": sorted(m.get("usage") or {}),
    }


@check("stream_equivalence")
def stream_equivalence(p: Probe, case: Any) -> Observation:
    plain_ex = p.send("non-stream", p.body(case.probe))
    stream_ex = p.send("stream", p.body(case.probe, {"stream": True}))
    for ex in (plain_ex, stream_ex):
        bad = failure(ex)
        if bad:
            return bad
    a, b = plain_ex.message() or {}, stream_ex.message() or {}
    evidence = {"non_stream": _shape(a), "stream": _shape(b)}
    found = [
        f"{k} differ: {evidence['non_stream'][k]} vs {evidence['stream'][k]}"
        for k in ("keys", "blocks", "usage")
        if evidence["non_stream"][k] != evidence["stream"][k]
    ]
    return wire.judge("stream vs non-stream", found, evidence)


@check("errors", params={"invalid": ARMS}, required=("invalid",))
def errors(p: Probe, case: Any) -> Observation:
    found: list[str] = []
    evidence: dict[str, Any] = {}
    for arm in case.params["invalid"]:
        ex = p.send(arm["label"], p.body(case.probe, arm.get("probe")))
        evidence[arm["label"]] = f"{ex.status} {ex.error_type()}"
        if ex.unanswered:
            return Observation(
                Observed.ERROR, f"{arm['label']}: {ex.error or ex.detail()}", evidence
            )
        if ex.ok:
            found.append(f"{arm['label']}: answered {ex.status}, not 4xx")
        elif ex.status >= 500:
            found.append(f"{arm['label']}: answered {ex.status} for a client error, not 4xx")
        found += [f"{arm['label']}: {v}" for v in (wire.violations(ex) if not ex.ok else [])]
    return wire.judge("error answers", found, evidence)


@check("auth_errors")
def auth_errors(p: Probe, case: Any) -> Observation:
    found: list[str] = []
    evidence: dict[str, Any] = {}
    for label, kwargs in (("wrong key", {"key": WRONG_KEY}), ("no key", {"auth": "none"})):
        ex = p.send(label, p.body(case.probe), **kwargs)
        evidence[label] = f"{ex.status} {ex.error_type()}"
        if ex.unanswered:  # a dead port or a rate limit says nothing about authentication
            return Observation(Observed.ERROR, f"{label}: {ex.error or ex.detail()}", evidence)
        if ex.status != 401:
            found.append(f"{label}: answered {ex.status}, not 401")
        elif ex.error_type() != "authentication_error":
            found.append(f"{label}: error.type {ex.error_type()!r}, not 'authentication_error'")
    return wire.judge("authentication errors", found, evidence)


@check("bearer")
def bearer(p: Probe, case: Any) -> Observation:
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


@check("count_tokens", params={"tolerance": {"type": "number", "minimum": 0}})
def count_tokens(p: Probe, case: Any) -> Observation:
    from conformance import protocol

    body = p.body(case.probe)
    counted = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
    ex = p.send("count_tokens", counted, path="/v1/messages/count_tokens")
    bad = failure(ex, "count_tokens")
    if bad:
        return bad
    found = protocol.check_count_tokens(ex.json)
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
        found.append(f"count_tokens says {counted_n}, the same request used {used} input tokens")
    return wire.judge("count_tokens", found, evidence)


@check("models")
def models(p: Probe, case: Any) -> Observation:
    from conformance import protocol

    ex = p.send("models", None, method="GET", path="/v1/models")
    bad = failure(ex, "GET /v1/models")
    if bad:
        return bad
    return wire.judge("models list", protocol.check_models_list(ex.json), {})


# The protocol oracle's params schema follows from the checks registered above.
_properties, _rules = _check_params()
ORACLES["protocol"].properties.update(_properties)
ORACLES["protocol"].rules.extend(_rules)
