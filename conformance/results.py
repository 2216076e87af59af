"""Verdicts, outcomes and the results file.

A row's *observed* behaviour is what the endpoint did; its *outcome* compares that with what
the target's profile *declared*. Keeping the two apart is the point of the suite: a pass
means "observed matches declared", never merely "HTTP 200".
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
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
class Result:
    """One record of results.json: one (target, case) pair."""

    id: str
    target: str
    table: str
    row: str
    variant: str | None
    declared: dict[str, Any] | None  # {"status", "says", "source": {"url", "read"}, ...}
    observed: str
    outcome: str
    evidence: dict[str, Any]
    message: str
    duration_ms: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunInfo:
    """Provenance of a run; written as ``run`` in results.json."""

    suite_version: str
    mode: str
    targets: list[dict[str, Any]]  # [{"name", "base_url_host", "model", "profile"}]
    started: str
    finished: str | None = None
    complete: bool = False
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


SCHEMA_PATH = Path(__file__).parent / "schemas" / "results.schema.json"


def validate_results(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` is not a valid results file."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def build_document(run: RunInfo, results: list[Result] | list[dict[str, Any]]) -> dict[str, Any]:
    records = [r.to_dict() if isinstance(r, Result) else r for r in results]
    records.sort(key=lambda r: (r["target"], r["id"]))
    run_dict = asdict(run)
    run_dict["requests"] = sum(r.get("requests", 0) for r in records)
    run_dict["input_tokens"] = sum(r.get("input_tokens", 0) for r in records)
    run_dict["output_tokens"] = sum(r.get("output_tokens", 0) for r in records)
    return {"schema_version": 1, "run": run_dict, "results": records}


def write_results(path: Path, doc: dict[str, Any]) -> None:
    """Validate, then write atomically, so a reader never sees half a file."""
    validate_results(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=False)
        fh.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a results file is meant to be published
    os.replace(tmp, path)


def load_results(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text())
    validate_results(doc)
    return doc
