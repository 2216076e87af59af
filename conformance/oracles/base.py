"""The oracle registry and what every family shares.

An oracle is registered with :func:`oracle`, naming the JSON Schema of its ``params``
(``properties`` and ``required``; unknown keys are refused). The case loader checks each
case's params against it, so a typo is a usage error naming file and line, not an
"internal error in oracle" at run time. A family with sub-checks (``protocol``) keeps its own
registry of the same kind (:class:`Registry`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Exchange
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed

OracleFn = Callable[[Probe, Any], Observation]

# An arm of a validation-like oracle: one request with its own label and changes.
ARM = {
    "type": "object",
    "required": ["label"],
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string"},
        "probe": {"type": "object"},
        "headers": {"type": "object"},
        "auth": {"enum": ["x-api-key", "bearer", "none"]},
        "key": {"enum": ["wrong"]},
        "path": {"type": "string"},
    },
}
ARMS = {"type": "array", "items": ARM}
POSITIVE = {"type": "integer", "minimum": 1}


@dataclass
class Oracle:
    """One registered oracle (or sub-check): its function and the schema of its params."""

    name: str
    fn: OracleFn
    properties: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    module: str = ""
    rules: list[dict[str, Any]] = field(default_factory=list)  # more JSON Schema (allOf)

    def __call__(self, p: Probe, case: Any) -> Observation:
        return self.fn(p, case)

    @functools.cached_property
    def params_validator(self) -> Any:
        """A jsonschema validator of :attr:`params_schema`, made once (case files load often)."""
        import jsonschema

        return jsonschema.Draft202012Validator(self.params_schema)

    @property
    def params_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": self.properties,
            "required": list(self.required),
            **({"allOf": self.rules} if self.rules else {}),
        }


class Registry(dict):  # type: ignore[type-arg]
    """name -> :class:`Oracle`; ``@registry.register(name, params=..., required=...)``."""

    def register(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        required: tuple[str, ...] = (),
    ) -> Callable[[OracleFn], OracleFn]:
        def add(fn: OracleFn) -> OracleFn:
            if name in self:
                raise ValueError(f"{name!r} registered twice")
            self[name] = Oracle(name, fn, dict(params or {}), tuple(required), fn.__module__)
            return fn

        return add


ORACLES = Registry()


def oracle(
    name: str, params: dict[str, Any] | None = None, required: tuple[str, ...] = ()
) -> Callable[[OracleFn], OracleFn]:
    """Register an oracle under ``name`` (the ``oracle:`` of a case) with its params schema."""
    return ORACLES.register(name, params, required)


def within(a: int, b: int, share: float) -> bool:
    """Two token counts agree: they differ by at most ``share`` of the larger (or by 1)."""
    return abs(a - b) <= max(1, share * max(a, b))


def failure(ex: Exchange, what: str = "the probe") -> Observation | None:
    """The common answer when a probe did not get a 2xx: rejected (4xx) or error."""
    if ex.ok:
        return None
    if ex.error:
        said = f" answered {ex.status}" if ex.status is not None else ""
        return Observation(Observed.ERROR, f"{what}{said}: {ex.error}")
    if ex.client_error:
        detail = ex.error_type() or "no Anthropic error type"
        return Observation(
            Observed.REJECTED,
            f"{what} answered {ex.status} {detail}: {ex.error_message() or ''}".strip(),
        )
    retried = sum("retried after" in note for note in ex.retries)
    tries = f" (after {retried} retries)" if retried else ""
    return Observation(Observed.ERROR, f"{what} answered {ex.status}{tries}: {ex.detail()}")


def no_verdict_from_failures(p: Probe, obs: Observation | None) -> Observation:
    """Whatever an oracle concluded, a verdict never rests on a transport failure, nor on an
    answer that may not be the API's.

    Applied by the runner to every row, both arms of every differential included:

    - any request of the row (bisection's own trials aside: they stop at the first failure
      and leave the refusal they started from standing) that got no usable answer (none, a
      cut or unparsable one, a redirect, 408, 429/503/504/529 still failing after retries)
      makes the row ``error``;
    - a *doubtful* answer (a 5xx, or a 4xx without an API error envelope: an HTML 404, a
      proxy's text 401, a framework's "route not found") is the endpoint's own only when
      the API is there: when no request of the row to the path that failed got a 2xx, a
      plain control request (one short prompt, ``max_tokens`` 1) is sent, and unless it
      passes the row is ``error``. So a wrong base URL or a dead upstream is never a
      verdict, while a working endpoint's 500 on one request, or its text 401 for a wrong
      key, is its answer;
    - an oracle that gave up with ``error`` because every request of the row failed with
      such a 5xx gets ``rejected`` when that control passes: the endpoint works, and this
      is what it does with this request (README: a 5xx the same endpoint does not give to a
      plain request).
    """
    if not isinstance(obs, Observation):
        return Observation(Observed.ERROR, "internal error: the oracle returned no observation")
    own = [(label, ex) for label, ex in p.exchanges if not label.startswith("bisect:")]
    if obs.observed is Observed.ERROR:
        return _answer_of_a_working_endpoint(p, obs, own)
    said = f"(the oracle would have said {obs.observed.value}: {obs.message[:160]})"
    for label, ex in own:
        if ex.unanswered:
            status = f"answered {ex.status}" if ex.status is not None else "no answer"
            return Observation(
                Observed.ERROR,
                f"{label}: {status}, {ex.error or ex.detail()}: a transport failure, no "
                f"verdict {said}",
                obs.evidence,
            )
    failed = [ex for _, ex in own if ex.doubtful]
    paths = {ex.path for ex in failed}  # a 2xx from count_tokens says nothing of /v1/messages
    if not failed or any(ex.ok and ex.path in paths for _, ex in own):
        return obs
    control = _control(p)
    evidence = dict(obs.evidence, control_status=control.status)
    if control.ok:  # the API is there: the doubtful answer was its answer to this request
        return Observation(obs.observed, obs.message, evidence)
    return Observation(
        Observed.ERROR,
        f"every request failed with {failed[0].status} ({failed[0].detail()[:80]}), and so "
        f"did a plain control ({control.status}: {control.detail()[:120]}): the API is not "
        f"answering there, no verdict {said}",
        evidence,
    )


def _control(p: Probe) -> Exchange:
    return p.send("control: a plain request", p.body({"prompt": "Say OK.", "max_tokens": 1}))


def _answer_of_a_working_endpoint(
    p: Probe, obs: Observation, own: list[tuple[str, Exchange]]
) -> Observation:
    """An ``error`` that rests only on 5xx answers to every request of the row becomes
    ``rejected`` when a plain control passes; any other ``error`` stands."""
    if not own or any(ex.ok or not (ex.doubtful and (ex.status or 0) >= 500) for _, ex in own):
        return obs
    control = _control(p)
    evidence = dict(obs.evidence, control_status=control.status)
    if not control.ok:
        return Observation(obs.observed, obs.message, evidence)
    return Observation(
        Observed.REJECTED,
        f"{obs.message}; a plain request gets {control.status}, so the {own[0][1].status} is "
        "this endpoint's answer to this request (a 5xx, not a 4xx refusal)",
        evidence,
    )


def tool_uses(ex: Exchange) -> list[dict[str, Any]]:
    msg = ex.message() if ex.ok else None
    return [
        b
        for b in (msg or {}).get("content") or []
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
