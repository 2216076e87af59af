"""Acceptance, validation and model rows: what the endpoint takes and enforces."""

from __future__ import annotations

from typing import Any

from conformance.client import Exchange
from conformance.oracles.base import ARMS, failure, oracle
from conformance.probe import Probe
from conformance.secrets import WRONG_KEY
from conformance.vocabulary import Observation, Observed


@oracle(
    "acceptance",
    params={"invalid": ARMS, "why": {"type": "string"}},
)
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


@oracle(
    "validation",
    params={"valid": ARMS, "invalid": ARMS, "mode": {"enum": ["accept"]}},
)
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
        if ex.transport_failure:  # no answer, a cut or broken one, 3xx, 408, 429, 5xx
            why = ex.error or (
                ex.status if (ex.status or 0) >= 500 else f"answered {ex.status}: {ex.detail()}"
            )
            return Observation(Observed.ERROR, f"{label}: {why}", evidence)
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


@oracle(
    "model",
    params={"others": {"type": "array", "items": {"type": "string"}}},
)
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
