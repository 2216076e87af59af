"""Verdicts, outcomes and the results file.

The verdict words (observed, declared, outcome) live in :mod:`conformance.vocabulary` and are
re-exported here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import fastschema
from conformance.vocabulary import Declared, Observed, Outcome, decide_outcome

__all__ = [
    "Declared",
    "Observed",
    "Outcome",
    "Result",
    "RunInfo",
    "build_document",
    "decide_outcome",
    "load_results",
    "now_iso",
    "validate_results",
    "write_results",
]


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
    # ``json.dumps(evidence)``, when whoever made the record has it already (the runner's
    # escape check writes it): :meth:`to_json` then splices it in rather than encode the
    # evidence, most of a record, once more. Not part of the record.
    evidence_json: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict, sharing its values: it is serialized at once (the plugin
        stores it as JSON), and ``asdict``'s deep copy of the evidence cost more per row than
        replaying the row's answers."""
        record = dict(vars(self))
        del record["evidence_json"]
        return record

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``, exactly: the members before and after the
        evidence are encoded, and the evidence's text, when :attr:`evidence_json` holds it,
        goes between them as written (so the evidence must not change after it was)."""
        record = self.to_dict()
        if self.evidence_json is None:
            return json.dumps(record)
        keys = list(record)
        at = keys.index("evidence")
        head = json.dumps({k: record[k] for k in keys[:at]})
        tail = json.dumps({k: record[k] for k in keys[at + 1 :]})
        return f'{head[:-1]}, "evidence": {self.evidence_json}, {tail[1:]}'


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
    with contextlib.suppress(fastschema.Unsupported, RecursionError):
        if fastschema.compile_schema(schema)(doc):
            return  # valid: jsonschema would only confirm it (a tenth of writing the report)
    jsonschema.Draft202012Validator(schema).validate(doc)


def build_document(run: RunInfo, results: list[Result] | list[dict[str, Any]]) -> dict[str, Any]:
    records = [r.to_dict() if isinstance(r, Result) else r for r in results]
    records.sort(key=lambda r: (r["target"], r["id"]))
    run_dict = asdict(run)
    run_dict["requests"] = sum(r.get("requests", 0) for r in records)
    run_dict["input_tokens"] = sum(r.get("input_tokens", 0) for r in records)
    run_dict["output_tokens"] = sum(r.get("output_tokens", 0) for r in records)
    return {"schema_version": 1, "run": run_dict, "results": records}


def write_atomic(path: Path, text: str | list[str]) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a
    reader (or a second run writing the same report directory) never sees half a file.

    ``text`` may be a list of the pieces the file is, written one after the other: a
    report of megabytes then never exists as one string (nor as its bytes), each a fresh
    allocation the size of the file, whose pages the system faults in one by one (some
    15,000 a replay of the shipped cassettes), and at four bytes a character once a
    single emoji is in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                fh.writelines(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a report is meant to be published
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def finite(value: Any) -> Any:
    """``value`` with each non-finite float (an endpoint's ``1e999999`` parses as infinity)
    written as the string JSON has no number for: ``"Infinity"``, ``"-Infinity"``, ``"NaN"``.
    Python would write them bare, and results.json would not be JSON for other readers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_results(path: Path, doc: dict[str, Any], text: str | list[str] | None = None) -> None:
    """Validate, then write atomically, so a reader never sees half a file; strict JSON
    (no bare ``Infinity`` or ``NaN``, see :func:`finite`). ``text``: ``doc`` as
    :func:`results_parts` wrote it, when the caller has it."""
    if text is None:
        doc, text = results_parts(doc)
    validate_results(doc)
    write_atomic(path, text)


def results_parts(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """results.json's text for ``doc``, as its pieces (:func:`dumps_results_parts`), and
    the document it is the text of: ``doc``, or its copy with every non-finite number
    written as a string (:func:`finite`)."""
    try:
        return doc, dumps_results_parts(doc)
    except ValueError:  # a non-finite number somewhere: the slow, exact rewrite
        doc = finite(doc)
        return doc, dumps_results_parts(doc)


def dumps_results_parts(doc: dict[str, Any]) -> list[str]:
    """results.json's text, as the pieces :func:`write_atomic` writes in turn: one row to
    a line, each row compact, so diffs stay row by row; written by the C encoder (an
    ``indent`` would make json use its Python encoder: a third of a replay's report
    time). The pieces are the opening (``doc`` but its results), each row with the
    separator after it, and the end: each is whole JSON text or punctuation, so nothing a
    scan of the text could find spans two of them."""
    head = {k: v for k, v in doc.items() if k != "results"}
    opening = json.dumps(head, ensure_ascii=False, allow_nan=False)[:-1]
    comma = ", " if head else ""
    parts = [f'{opening}{comma}"results": [\n']
    rows = doc["results"]
    parts.extend(f"{json.dumps(r, ensure_ascii=False, allow_nan=False)},\n" for r in rows[:-1])
    if rows:
        parts.append(json.dumps(rows[-1], ensure_ascii=False, allow_nan=False))
    parts.append("\n]}\n")
    return parts


def load_results(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text())
    validate_results(doc)
    return doc
