"""The regression gate: which rows that passed in an earlier run no longer pass.

One function for both front ends: the pytest plugin (``--previous`` with
``--fail-on-regression``) and ``python -m conformance report``. Computed from
``report.drift``, so a "regression" means the same thing in the page, the terminal and the
exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Drift:
    """The rows whose behaviour changed against ``--previous`` (none without one)."""

    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [c for c in self.changes if c["regression"]]

    @property
    def improvements(self) -> int:
        return sum(1 for c in self.changes if c["improvement"])


def compare(previous: dict[str, Any] | None, current: dict[str, Any]) -> Drift:
    """The drift of ``current`` against ``previous`` (an empty one when there is none)."""
    if previous is None:
        return Drift()
    from conformance import report

    return Drift(report.drift(previous, current))
