"""Results files in: reading and validating them, merging several runs, drift between two.

Pure functions over results documents (no pytest, no rendering), so a merge of several CI
jobs' ``results.json`` files, a nightly drift check and a local preview share them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import safejson
from conformance.results import RunInfo, build_document, validate_results

# A results file read back (``--previous``, ``python -m conformance report``) is input: a
# 1 GB one took 4 GB before it failed, a 150 MB one 22 s. A whole run of the five shipped
# targets writes 1.7 MB.
MAX_RESULTS_BYTES = 32 * 1024 * 1024


class ReportInputError(ValueError):
    """A results file that cannot be used; the text names the file and what is wrong."""


def load_results_file(path: Path) -> dict[str, Any]:
    """Read and validate one results file, turning every failure into one readable line.

    The CLI shows this text as is: CI logs should say which file is bad and why, not show
    a traceback from inside json or jsonschema.
    """
    import jsonschema

    path = Path(path)
    try:
        with path.open("rb") as fh:  # at most the cap, whatever stat says (/dev/zero)
            raw = fh.read(MAX_RESULTS_BYTES + 1)
        if len(raw) > MAX_RESULTS_BYTES:
            raise ReportInputError(
                f"{path}: over {MAX_RESULTS_BYTES // 2**20} MB, bigger than any results file "
                "(a whole run of five targets is under 2 MB); not read"
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportInputError(f"{path}: is a directory, not a results file") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = safejson.loads(text)  # depth-limited: a 100k-deep file is refused, not a crash
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise ReportInputError(f"{path}: not a results file: {exc}") from None
    try:
        validate_results(doc)
    except jsonschema.ValidationError as exc:
        where = _json_path(exc.absolute_path)
        what = exc.message if len(exc.message) <= 200 else exc.message[:200] + "..."
        raise ReportInputError(f"{path}: not a valid results file: {what} (at {where})") from None
    return doc


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _extreme(values: list[str], latest: bool) -> str | None:
    """Earliest or latest timestamp, compared as times when all parse (offsets differ)."""
    if not values:
        return None
    parsed = [parse_time(v) for v in values]
    if all(p is not None for p in parsed):
        pairs = list(zip(parsed, values, strict=True))
        pick = max(pairs, key=lambda p: p[0]) if latest else min(pairs, key=lambda p: p[0])
        return pick[1]
    return max(values) if latest else min(values)


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge results files (one per CI job) into one schema-valid document.

    Later files win for the same (target, id), so a re-run of one provider replaces its old
    rows. Each target entry keeps the ``mode`` of the file it came from, because "merged"
    alone would hide whether a column was measured live or replayed from cassettes.
    """
    if not docs:
        raise ValueError("merge() needs at least one results document")
    records: dict[tuple[str, str], dict[str, Any]] = {}
    targets: dict[str, dict[str, Any]] = {}
    extra: dict[str, Any] = {}
    sources: list[dict[str, Any]] = []
    versions: list[str] = []
    for doc in docs:
        run = doc["run"]
        for target in run.get("targets", []):
            entry = copy.deepcopy(target)
            entry.setdefault("mode", run["mode"])
            targets[entry["name"]] = entry
        for record in doc.get("results", []):
            records[(record["target"], record["id"])] = copy.deepcopy(record)
        run_extra = copy.deepcopy(run.get("extra") or {})
        inner = run_extra.pop("merged_from", None)
        extra.update(run_extra)
        if isinstance(inner, list):
            sources.extend(inner)
        else:
            sources.append(
                {
                    "mode": run["mode"],
                    "suite_version": run["suite_version"],
                    "started": run["started"],
                    "finished": run.get("finished"),
                    "complete": run["complete"],
                    "targets": [t["name"] for t in run.get("targets", [])],
                }
            )
        if run["suite_version"] not in versions:
            versions.append(run["suite_version"])
    if len(docs) > 1:
        extra["merged_from"] = sources
    runs = [d["run"] for d in docs]
    info = RunInfo(
        suite_version=", ".join(versions),
        mode="merged" if len(docs) > 1 else runs[0]["mode"],
        targets=list(targets.values()),
        started=_extreme([r["started"] for r in runs], latest=False) or "",
        finished=_extreme([r["finished"] for r in runs if r.get("finished")], latest=True),
        complete=all(r["complete"] for r in runs),
        extra=extra,
    )
    out = build_document(info, list(records.values()))
    validate_results(out)
    return out


def state(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    declared = record.get("declared") or {}
    return {
        "observed": record["observed"],
        "outcome": record["outcome"],
        "declared": declared.get("status"),
        "message": record.get("message", ""),
    }


def drift(previous: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows (target, id) whose observed behaviour or outcome changed between two runs.

    A regression is a row that passed before and now fails or errors: the one change a
    release gate should stop on. Rows that appear or disappear are listed (``change`` is
    "added" or "removed") but are not regressions: a new case or a dropped target is a
    change of the suite, not of the endpoint.
    """
    before = {(r["target"], r["id"]): r for r in previous.get("results", [])}
    after = {(r["target"], r["id"]): r for r in current.get("results", [])}
    keys = list(after) + [k for k in before if k not in after]
    out: list[dict[str, Any]] = []
    for key in keys:
        old, new = before.get(key), after.get(key)
        if (
            old is not None
            and new is not None
            and (old["observed"], old["outcome"]) == (new["observed"], new["outcome"])
        ):
            continue
        ref = new if new is not None else old
        assert ref is not None
        was = old["outcome"] if old is not None else None
        now = new["outcome"] if new is not None else None
        out.append(
            {
                "target": key[0],
                "id": key[1],
                "table": ref["table"],
                "row": ref["row"],
                "variant": ref.get("variant"),
                "change": "added" if old is None else "removed" if new is None else "changed",
                "before": state(old),
                "after": state(new),
                "regression": was == "pass" and now in ("fail", "error"),
                "improvement": was is not None and was != "pass" and now == "pass",
            }
        )
    out.sort(key=lambda d: (not d["regression"], d["target"], d["id"]))
    return out


def fmt_time(value: str | None) -> str:
    if not value:
        return "unfinished"
    parsed = parse_time(value)
    if parsed is None:
        return value
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
