"""Tool rows: forced, named, parallel and disabled tool use, and tool input validity."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.oracles.base import POSITIVE, failure, oracle, tool_uses
from conformance.probe import Probe
from conformance.vocabulary import Observation, Observed

# Tool-call syntaxes that chat templates use (Gemma4, Hermes/Qwen, Cohere, Mistral, Llama 3,
# Qwen3-Coder): when one of them comes back inside a text block, the model made a call that the
# endpoint passed off as text instead of refusing or parsing it.
_MARKUP = re.compile(
    r"<\|tool_call>|<tool_call>|<\|START_ACTION\|>|\[TOOL_CALLS\]|<\|python_tag\|>|<function="
)


def call_markup(text: str, names: list[str]) -> str | None:
    """The first tool-call markup in ``text``: a known call syntax, or an offered tool's name
    written as a call (``get_weather{``, ``get_weather(``, ``"name": "get_weather"``, and
    claude-code-proxy's flattened ``Tool: get_weather`` / ``Arguments: {...}``)."""
    found = _MARKUP.search(text)
    for name in names:
        n = re.escape(name)
        pattern = rf"\b{n}\s*[({{]|\"name\"\s*:\s*\"{n}\"|\bTool:\s*{n}\b"
        hit = re.search(pattern, text)
        if hit and (found is None or hit.start() < found.start()):
            found = hit
    if found is None:
        return None
    return text[found.start() : found.end() + 40]


def _text_of(ex: Any) -> str:
    msg = ex.message() if ex.ok else None
    blocks = (msg or {}).get("content") or []
    return "".join(
        b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )


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


def _input_problems(trial: int, body: dict[str, Any], uses: list[dict[str, Any]]) -> list[str]:
    """``trial N: <problem>`` for each call whose input fails its tool's schema in ``body``."""
    tools = {t.get("name"): t for t in body.get("tools", []) if isinstance(t, dict)}
    found = (_validate_input(tools.get(b.get("name")), b) for b in uses)
    return [f"trial {trial + 1}: {problem}" for problem in found if problem]


@oracle(
    "tool_use",
    params={
        "expect": {"enum": ["named", "any", "auto", "none", "single", "strict"]},  # EXPECTATIONS
        "trials": POSITIVE,
        "tool": {"type": "string"},
        "check_input": {"type": "boolean"},
    },
    required=("expect",),
)
def tool_use(p: Probe, case: Any) -> Observation:
    """Tool behaviour over N trials, with forced choice wherever the row allows.

    ``params.expect`` picks the judge (one per value below); what each decides is described
    once, in conformance/schemas/oracles.schema.json (rendered in docs/oracles.md). The
    control arm, when the case has one, runs the same N trials with the case's ``control``
    layered on the probe: a reachable call for ``none``, prose for ``auto``, parallel calls
    for ``single``.
    """
    t = Trials(n=case.params.get("trials", p.settings.trials))
    for trial in range(t.n):
        body = p.body(case.probe, trial=trial)
        ex = p.send(f"probe {trial + 1}", body)
        bad = failure(ex)
        if bad:
            return bad
        t.add(trial, body, tool_uses(ex), p.resolve(case.params.get("tool"), trial))
        t.mark(trial, body, _text_of(ex), t.markup)
    if case.control is not None:
        for trial in range(t.n):
            body = p.body(case.probe, case.control, trial=trial)
            ex = p.send(f"control {trial + 1}", body)
            if ex.transport_failure:  # a control with no answer proves nothing either way
                return failure(ex, f"the control (trial {trial + 1})") or Observation(
                    Observed.ERROR, f"the control (trial {trial + 1}): no answer"
                )
            t.control.append(len(tool_uses(ex)) if ex.ok else -1)
            t.check_control(trial, body, tool_uses(ex))
            t.control_names.append([b.get("name") for b in tool_uses(ex)])
            if t.mark(trial, body, _text_of(ex), t.control_markup):
                t.control_as_text.add(trial)
        t.evidence["control_tool_uses"] = t.control
        t.evidence["control_names"] = t.control_names
        t.evidence["control_call_markup_in_text"] = t.control_markup
        if case.params["expect"] == "strict":
            t.evidence["control_input_problems"] = t.control_problems
    return EXPECTATIONS[case.params["expect"]](p, case, t)


@dataclass
class Trials:
    """What N trials of a tool row saw (``right``: trials that called params.tool and no other
    tool; its {{K}} resolves per trial like the body's)."""

    n: int
    counts: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    names: list[Any] = field(default_factory=list)
    right: int = 0
    control: list[int] = field(default_factory=list)
    control_names: list[list[Any]] = field(default_factory=list)
    markup: list[str] = field(default_factory=list)  # "trial N: <snippet>" of calls as text
    control_markup: list[str] = field(default_factory=list)  # the same, in the control arm
    control_as_text: set[int] = field(default_factory=set)  # control trials with such a call
    control_problems: list[str] = field(default_factory=list)  # schema problems, control arm
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.evidence.update(
            tool_uses_per_trial=self.counts,
            names=self.names,
            input_problems=self.problems,
            call_markup_in_text=self.markup,
        )

    @staticmethod
    def mark(trial: int, body: dict[str, Any], text: str, into: list[str]) -> bool:
        """Record in ``into`` a call written as text (a template's call syntax the endpoint
        did not parse, or a translator's flattening of a call); whether there was one."""
        names = [t.get("name") for t in body.get("tools", []) if isinstance(t, dict)]
        snippet = call_markup(text, [n for n in names if isinstance(n, str) and n])
        if snippet is not None:
            into.append(f"trial {trial + 1}: {snippet!r}")
        return snippet is not None

    def control_called(self) -> int:
        """Control trials that called a tool, as a tool_use block or as text: either shows the
        model calls when calls are allowed."""
        return sum(1 for i, c in enumerate(self.control) if c > 0 or i in self.control_as_text)

    def add(self, trial: int, body: dict[str, Any], uses: list[dict[str, Any]], want: Any) -> None:
        self.counts.append(len(uses))
        # a trial is right when it called the wanted tool and nothing else: a second call
        # of another tool in the same answer is not a named choice honored
        self.right += bool(uses) and all(block.get("name") == want for block in uses)
        self.names.extend(block.get("name") for block in uses)
        self.problems.extend(_input_problems(trial, body, uses))

    def check_control(self, trial: int, body: dict[str, Any], uses: list[dict[str, Any]]) -> None:
        """Record the schema problems of the control arm's calls (``strict``'s control)."""
        self.control_problems.extend(_input_problems(trial, body, uses))

    @property
    def called(self) -> int:
        return sum(1 for c in self.counts if c)

    @property
    def summary(self) -> str:
        return f"tool called in {self.called}/{self.n}{self.as_text}"

    @property
    def as_text(self) -> str:
        """A note on calls that came back as text instead of tool_use blocks, if any did."""
        if not self.markup:
            return ""
        count = f"{len(self.markup)}/{self.n}"
        return f"; a call came back as text, not tool_use, in {count} ({self.markup[0]})"


Judge = Callable[[Probe, Any, Trials], Observation]
EXPECTATIONS: dict[str, Judge] = {}


def expectation(name: str) -> Callable[[Judge], Judge]:
    def add(fn: Judge) -> Judge:
        EXPECTATIONS[name] = fn
        return fn

    return add


@expectation("named")
def _named(p: Probe, case: Any, t: Trials) -> Observation:
    """The named tool in every trial. Another tool called instead is the tell of a choice whose
    name was dropped (turned into ``any``): the probe offers a second tool the prompt invites."""
    want = p.resolve(case.params["tool"])
    summary, evidence, n = f"{want} called in {t.right}/{t.n}", t.evidence, t.n
    others = sorted({str(x) for x in t.names if x != want})
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
    if t.right == 0 and others and t.called == n:
        return Observation(
            Observed.IGNORED,
            f"{summary}; another tool ({', '.join(others)}) called in {t.called}/{n}: "
            "the name was not enforced, only that some tool be called",
            evidence,
        )
    if t.right == 0:
        return Observation(
            Observed.IGNORED,
            f"{summary} (names: {t.names or 'no tool call'}){t.as_text}",
            evidence,
        )
    return Observation(Observed.INCONCLUSIVE, f"{summary} (names: {t.names})", evidence)


@expectation("any")
def _any(p: Probe, case: Any, t: Trials) -> Observation:
    valid = "input schema-valid" if not t.problems else f"but {t.problems[0]}"
    if t.called == t.n:
        return Observation(Observed.HONORED, f"{t.summary}, {valid}", t.evidence)
    return Observation(
        Observed.IGNORED if t.called == 0 else Observed.INCONCLUSIVE, t.summary, t.evidence
    )


@expectation("auto")
def _auto(p: Probe, case: Any, t: Trials) -> Observation:
    """auto lets the model choose: a call for a prompt that needs the tool (the probe) and
    prose for one that does not (the control, same tools). A call for both is auto acting as
    any; no call for either says nothing about auto (the model may just be weak)."""
    n = t.n
    prose = [c for i, c in enumerate(t.control) if c == 0 and i not in t.control_as_text]
    if not t.control:  # a case without its prose arm can only show a call is possible
        if t.called:
            return Observation(Observed.HONORED, t.summary, t.evidence)
        return Observation(
            Observed.INCONCLUSIVE, f"{t.summary}: the model chose not to call a tool", t.evidence
        )
    arms = f"called for the prompt that needs it in {t.called}/{n}, for prose in " + (
        f"{t.control_called()}/{len(t.control)}"
    )
    if -1 in t.control:
        return Observation(Observed.INCONCLUSIVE, f"{arms}; the prose arm was refused", t.evidence)
    if t.called == n and len(prose) == len(t.control):
        return Observation(Observed.HONORED, f"{arms}: the model chose", t.evidence)
    if t.called == n and not prose:
        return Observation(
            Observed.IGNORED, f"{arms}: a call was forced even where none was needed", t.evidence
        )
    if t.called == 0 and len(t.markup) == n:
        return Observation(
            Observed.IGNORED,
            f"{arms}{t.as_text}: the client gets no call to run",
            t.evidence,
        )
    return Observation(
        Observed.INCONCLUSIVE, f"{arms}: the model's choices do not decide auto", t.evidence
    )


@expectation("none")
def _none(p: Probe, case: Any, t: Trials) -> Observation:
    """No call in any trial, neither a tool_use block nor a call written out as text (a
    template's call syntax the endpoint stopped parsing but still let the model write)."""
    if not t.control_called():
        return Observation(
            Observed.INCONCLUSIVE,
            f"{t.summary}; the control never called a tool either",
            t.evidence,
        )
    controlled = f"control called in {t.control_called()}/{len(t.control)}"
    if t.control_markup:
        controlled += " (as text where the endpoint flattens calls)"
    if t.called:
        return Observation(Observed.IGNORED, f"{t.summary}; {controlled}", t.evidence)
    if t.markup:
        return Observation(
            Observed.IGNORED,
            f"no tool_use block, but the call came back as text in {len(t.markup)}/{t.n}"
            f" ({t.markup[0]}); {controlled}",
            t.evidence,
        )
    return Observation(
        Observed.HONORED, f"no tool call in {t.n}/{t.n}, none as text; {controlled}", t.evidence
    )


@expectation("strict")
def _strict(p: Probe, case: Any, t: Trials) -> Observation:
    """``strict: true``: every forced call's input validates, while the control (the same
    tool without ``strict``) shows the model writes invalid input when nothing enforces the
    schema. Valid input in both arms shows nothing: the model complied on its own."""
    calls = f"{t.called}/{t.n} forced calls, {len(t.problems)} with invalid input"
    made = sum(max(c, 0) for c in t.control)
    control = f"control (no strict): {len(t.control_problems)} invalid of {made} calls"
    summary, evidence = f"{calls}; {control}", t.evidence
    if t.called < t.n:
        return Observation(
            Observed.INCONCLUSIVE, f"{summary}: the forced call was not made{t.as_text}", evidence
        )
    if t.problems:
        return Observation(
            Observed.IGNORED, f"{summary}: strict did not hold ({t.problems[0]})", evidence
        )
    if not t.control_problems:
        return Observation(
            Observed.INCONCLUSIVE,
            f"{summary}: valid input either way, so strict's enforcement cannot be seen",
            evidence,
        )
    return Observation(Observed.HONORED, summary, evidence)


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
