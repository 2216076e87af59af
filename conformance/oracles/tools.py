"""Tool rows: forced, named, parallel and disabled tool use, and tool input validity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.oracles.base import POSITIVE, failure, oracle, tool_uses
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed


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


@oracle(
    "tool_use",
    params={
        "expect": {"enum": ["named", "any", "auto", "none", "single"]},  # EXPECTATIONS
        "trials": POSITIVE,
        "tool": {"type": "string"},
        "check_input": {"type": "boolean"},
    },
    required=("expect",),
)
def tool_use(p: Probe, case: Any) -> Observation:
    """Tool behaviour over N trials, with forced choice wherever the row allows.

    ``params.expect``: ``named`` (every trial calls ``params.tool`` with schema-valid input),
    ``any`` (every trial calls some tool), ``none`` (no trial calls a tool, while the control
    arm shows a tool call is reachable), ``auto`` (a tool call is possible at all),
    ``single`` (at most one call per answer, while the control shows parallel calls).
    """
    t = Trials(n=case.params.get("trials", p.settings.trials))
    for trial in range(t.n):
        body = p.body(case.probe, trial=trial)
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        t.add(trial, body, tool_uses(ex), p.resolve(case.params.get("tool"), trial))
    if case.control is not None:
        for trial in range(t.n):
            ex = p.send(f"control {trial + 1}", p.body(case.probe, case.control, trial=trial))
            if ex.transport_failure:  # a control with no answer proves nothing either way
                return failure(ex, f"the control (trial {trial + 1})") or Observation(
                    Observed.ERROR, f"the control (trial {trial + 1}): no answer"
                )
            t.control.append(len(tool_uses(ex)) if ex.ok else -1)
        t.evidence["control_tool_uses"] = t.control
    return EXPECTATIONS[case.params["expect"]](p, case, t)


@dataclass
class Trials:
    """What N trials of a tool row saw (``right``: calls of params.tool, whose {{K}} resolves
    per trial like the body's)."""

    n: int
    counts: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    names: list[Any] = field(default_factory=list)
    right: int = 0
    control: list[int] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.evidence.update(
            tool_uses_per_trial=self.counts, names=self.names, input_problems=self.problems
        )

    def add(self, trial: int, body: dict[str, Any], uses: list[dict[str, Any]], want: Any) -> None:
        self.counts.append(len(uses))
        tools = {t.get("name"): t for t in body.get("tools", []) if isinstance(t, dict)}
        for block in uses:
            self.names.append(block.get("name"))
            self.right += block.get("name") == want
            problem = _validate_input(tools.get(block.get("name")), block)
            if problem:
                self.problems.append(f"trial {trial + 1}: {problem}")

    @property
    def called(self) -> int:
        return sum(1 for c in self.counts if c)

    @property
    def summary(self) -> str:
        return f"tool called in {self.called}/{self.n}"


Judge = Callable[[Probe, Any, Trials], Observation]
EXPECTATIONS: dict[str, Judge] = {}


def expectation(name: str) -> Callable[[Judge], Judge]:
    def add(fn: Judge) -> Judge:
        EXPECTATIONS[name] = fn
        return fn

    return add


@expectation("named")
def _named(p: Probe, case: Any, t: Trials) -> Observation:
    want = p.resolve(case.params["tool"])
    summary, evidence, n = f"{want} called in {t.right}/{t.n}", t.evidence, t.n
    if t.right == n and t.problems and case.params.get("check_input"):
        return Observation(
            Observed.IGNORED,
            f"{summary}, but input ignores input_schema: {t.problems[0]}",
            evidence,
        )
    if t.right == n and all(c == 1 for c in t.counts) and not t.problems:
        return Observation(Observed.HONORED, f"{summary}, input schema-valid", evidence)
    if t.right == n:
        return Observation(Observed.HONORED, f"{summary}; but {t.problems or t.counts}", evidence)
    if t.right == 0:
        return Observation(
            Observed.IGNORED, f"{summary} (names: {t.names or 'no tool call'})", evidence
        )
    return Observation(Observed.INCONCLUSIVE, summary, evidence)


@expectation("any")
def _any(p: Probe, case: Any, t: Trials) -> Observation:
    if t.called == t.n:
        return Observation(Observed.HONORED, t.summary, t.evidence)
    return Observation(
        Observed.IGNORED if t.called == 0 else Observed.INCONCLUSIVE, t.summary, t.evidence
    )


@expectation("auto")
def _auto(p: Probe, case: Any, t: Trials) -> Observation:
    if t.called:
        return Observation(Observed.HONORED, t.summary, t.evidence)
    return Observation(
        Observed.INCONCLUSIVE, f"{t.summary}: the model chose not to call a tool", t.evidence
    )


@expectation("none")
def _none(p: Probe, case: Any, t: Trials) -> Observation:
    if not any(c > 0 for c in t.control):
        return Observation(
            Observed.INCONCLUSIVE,
            f"{t.summary}; the control never called a tool either",
            t.evidence,
        )
    if t.called == 0:
        return Observation(
            Observed.HONORED,
            f"no tool call in {t.n}/{t.n}; control called in "
            f"{sum(1 for c in t.control if c > 0)}/{t.n}",
            t.evidence,
        )
    return Observation(Observed.IGNORED, t.summary, t.evidence)


@expectation("single")
def _single(p: Probe, case: Any, t: Trials) -> Observation:
    if not any(c > 1 for c in t.control):
        return Observation(
            Observed.INCONCLUSIVE,
            f"the control never made parallel calls {t.control}; nothing to disable",
            t.evidence,
        )
    if all(c <= 1 for c in t.counts):
        return Observation(
            Observed.HONORED,
            f"at most one call per answer {t.counts}; control {t.control}",
            t.evidence,
        )
    return Observation(Observed.IGNORED, f"parallel calls despite the flag {t.counts}", t.evidence)
