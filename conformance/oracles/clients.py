"""Client readiness: does the endpoint take what a real client (Claude Code, an SDK) sends?"""

from __future__ import annotations

from typing import Any

from conformance import bisection, shapes, wire
from conformance.oracles.base import POSITIVE, failure, oracle
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed


@oracle(
    "client_shape",
    params={
        "shape": {"type": "string", "minLength": 1},
        "max_tokens": POSITIVE,
        "bisect_budget": POSITIVE,
    },
    required=("shape",),
)
def client_shape(p: Probe, case: Any) -> Observation:
    """Does the endpoint take what a real client sends? ``params.shape`` names a shape file.

    The request is the captured one (headers, betas, query, auth scheme, every body key and
    size) with filler text, the target's model and a small ``max_tokens``. honored: 2xx and
    the answer passes the protocol checks (SSE grammar and schemas, or the Message's, and the
    official SDK loads it). violated: 2xx but it does not. rejected: 4xx, or a 500/502 that
    goes away without one field. error: any transport failure (never bisected). When
    refused, the shape is bisected (one header, beta value, query or top-level key dropped at
    a time) and the evidence names the culprit.
    """
    shape_file = shapes.shape_path(case.params["shape"], case.file)
    shape, texts = shapes.shared_shape(shape_file)
    limit = case.params.get("max_tokens", p.settings.max_tokens)
    req = shapes.shape_to_request(
        shape, p.model, max_tokens=limit, extra_body=p.extra_body, texts=texts
    )
    who = f"{shape['client']} {shape['version']} {shape['turn']}"
    settings = shape.get("settings") or {}
    if settings:
        who += " with " + " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    evidence: dict[str, Any] = {
        "shape": case.params["shape"],
        "client": who,
        **({"settings": dict(settings)} if settings else {}),
        "captured": shape.get("captured"),
        "betas": shapes.betas_of(req.headers),
        "body_keys": list(req.body) if isinstance(req.body, dict) else [],
        "body_bytes": (shape.get("summary") or {}).get("body_bytes"),
        "auth": req.auth,
        "path": req.url_path,
        "changes": req.changes,
    }
    ex = shapes.send_shape(p, "shape", req)
    if ex.ok:
        found = wire.with_sdk(ex, wire.answer_violations(ex, req.body), evidence)
        return wire.judge(f"{who} accepted", found, evidence)
    refused = failure(ex, who) or Observation(Observed.ERROR, f"{who}: {ex.status}")
    if not bisection.worth_bisecting(ex):
        # nothing usable came back (no answer, a cut or broken one, a redirect, 408/429/503/
        # 504/529): a transport failure, not a refusal; bisecting it would only repeat it
        return Observation(Observed.ERROR, refused.message, evidence)
    hint = f"{ex.error_message() or ''} {ex.raw[:400].decode('utf-8', 'replace')}"
    found = bisection.bisect(
        lambda label, r: shapes.send_shape(p, label, r),
        req,
        hint=hint,
        everything_first=not ex.client_error,  # a 5xx: first, does anything pass at all?
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
    # a 5xx that no field explains: the endpoint failing, not a refusal
    return Observation(Observed.ERROR, refused.message + culprit, evidence)
