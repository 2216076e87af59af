"""The verdict vocabulary: what was observed, what was declared, the outcome of the two.

A row's *observed* behaviour is what the endpoint did; its *outcome* compares that with what
the target's profile *declared*. Keeping the two apart is the point of the suite: a pass
means "observed matches declared", never merely "HTTP 200". An :class:`Observation` is what
an oracle returns: the observed value, a one-line message and the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Observed(str, Enum):
    """What the endpoint was seen to do with the row's field or block."""

    HONORED = "honored"  # an effect oracle saw the field take effect
    IGNORED = "ignored"  # accepted, and the oracle proved it had no effect (control arm held)
    REJECTED = "rejected"  # answered 4xx
    ACCEPTED = "accepted"  # 2xx, but the effect cannot be observed from outside (evidence says why)
    VIOLATED = "violated"  # protocol rows: the answer breaks the wire contract (violations listed)
    INCONCLUSIVE = "inconclusive"  # the probe's own control failed (e.g. model too weak)
    ERROR = "error"  # transport failure, 5xx, malformed answer


class Declared(str, Enum):
    """What a vendor's table claims for a row, normalised."""

    HONORED = "honored"  # "Fully Supported", "Supported"
    IGNORED = "ignored"  # "Ignored"
    REJECTED = "rejected"  # documented to answer 4xx
    UNSUPPORTED = (
        "unsupported"  # "Not Supported": rejected or ignored, the table does not say which
    )
    UNDOCUMENTED = "undocumented"  # the vendor says nothing


class Outcome(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


def decide_outcome(declared: Declared | None, observed: Observed) -> tuple[Outcome, str]:
    """Compare an observation with a declaration.

    Returns the outcome and a short reason. ``accepted`` never passes: nothing was observed
    that could confirm honored or ignored. It fails only against a declared rejection.
    """
    if observed is Observed.ERROR:
        return Outcome.ERROR, "no verdict: the row could not be observed"
    if observed is Observed.INCONCLUSIVE:
        return Outcome.INCONCLUSIVE, "the probe could not decide"
    if declared is None or declared is Declared.UNDOCUMENTED:
        return Outcome.INCONCLUSIVE, "nothing declared to compare with"
    if observed is Observed.ACCEPTED:
        if declared is Declared.REJECTED:
            return Outcome.FAIL, "declared rejected, but the endpoint accepted it"
        return Outcome.INCONCLUSIVE, (
            f"accepted; consistent with declared {declared.value}, but no effect is observable"
        )
    if declared is Declared.UNSUPPORTED:
        if observed in (Observed.REJECTED, Observed.IGNORED):
            return Outcome.PASS, f"declared not supported; observed {observed.value}"
        return (
            Outcome.FAIL,
            f"declared not supported (rejected or ignored); observed {observed.value}",
        )
    if observed.value == declared.value:
        return Outcome.PASS, f"observed {observed.value}, as declared"
    return Outcome.FAIL, f"declared {declared.value}, observed {observed.value}"


@dataclass
class Observation:
    """An oracle's verdict on one row: what it observed, why, and the evidence."""

    observed: Observed
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
