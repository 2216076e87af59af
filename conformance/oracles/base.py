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


def tool_uses(ex: Exchange) -> list[dict[str, Any]]:
    msg = ex.message() if ex.ok else None
    return [
        b
        for b in (msg or {}).get("content") or []
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
