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
    """Whatever an oracle concluded, a verdict never rests on a transport failure.

    Applied by the runner to every row, both arms of every differential included:

    - any request of the row (bisection's own trials aside: they stop at the first failure
      and leave the refusal they started from standing) that got no usable answer (none, a
      cut or unparsable one, a redirect, 408, 429/503/504/529 still failing after retries)
      makes the row ``error``;
    - a 5xx is the endpoint failing unless something else works: when no request of the
      row to the path that failed got a 2xx, a plain control request (one short prompt,
      ``max_tokens`` 1) is sent, and unless it passes the row is ``error``.
    """
    if not isinstance(obs, Observation):
        return Observation(Observed.ERROR, "internal error: the oracle returned no observation")
    if obs.observed is Observed.ERROR:
        return obs
    own = [(label, ex) for label, ex in p.exchanges if not label.startswith("bisect:")]
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
    failed = [ex for _, ex in own if ex.status is not None and ex.status >= 500]
    paths = {ex.path for ex in failed}  # a 2xx from count_tokens says nothing of /v1/messages
    if not failed or any(ex.ok and ex.path in paths for _, ex in own):
        return obs
    control = p.send("control: a plain request", p.body({"prompt": "Say OK.", "max_tokens": 1}))
    evidence = dict(obs.evidence, control_status=control.status)
    if control.ok:  # the endpoint works: the 5xx was its answer to this row's request
        return Observation(obs.observed, obs.message, evidence)
    return Observation(
        Observed.ERROR,
        f"every request failed with {failed[0].status}, and so did a plain control "
        f"({control.status}: {control.detail()[:120]}): the endpoint is failing, no verdict "
        f"{said}",
        evidence,
    )


def tool_uses(ex: Exchange) -> list[dict[str, Any]]:
    msg = ex.message() if ex.ok else None
    return [
        b
        for b in (msg or {}).get("content") or []
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
