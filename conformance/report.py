"""The support matrix: results files in, a Markdown table and one static HTML page out.

Kept apart from the pytest glue (as schemathesis keeps its report writers apart from its
runner) so that a merge of several CI jobs' ``results.json`` files, a nightly drift check and
a local preview all go through the same pure functions, with no test session running.

Everything shown comes partly from remote endpoints (messages, evidence, samples), so the HTML
writer escapes every string it emits and the page carries a Content-Security-Policy that only
admits its own inline script and style (by hash): a missed escape still cannot run code or
load anything from the network.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.results import RunInfo, build_document, validate_results, write_results

OUTCOMES = ("pass", "fail", "inconclusive", "error")
ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "❔", "error": "⚠️"}
# Plain symbols for the HTML page: colour carries the outcome, the symbol repeats it for
# readers who cannot tell the colours apart.
SYMBOLS = {"pass": "✓", "fail": "✗", "inconclusive": "?", "error": "!"}
# The vendors' compatibility tables come in this order (DeepSeek's guide, and the suite's own
# extra tables last). results.json is sorted by (target, id), so "first appearance" alone
# would order tables alphabetically by case id; known tables keep the vendor's order and any
# other table follows in order of first appearance.
KNOWN_TABLES = (
    "HTTP Header",
    "Simple Fields",
    "Tool Fields: tools",
    "Tool Fields: tool_choice",
    "Message Fields",
    "Protocol",
    "Beyond DeepSeek's table",
    "Client readiness",
)
SOURCE_LABEL = {
    "live": "live",
    "record": "live (recording)",
    "replay": "cassette (replay)",
    "merged": "merged",
}
SECRET_KEYS = {"x-api-key", "authorization", "proxy-authorization", "api-key", "api_key"}
CLIP = 20_000  # characters per evidence block: one runaway response must not bloat the page


class ReportInputError(ValueError):
    """A results file that cannot be used; the text names the file and what is wrong."""


# --------------------------------------------------------------------------- loading


def load_results_file(path: Path) -> dict[str, Any]:
    """Read and validate one results file, turning every failure into one readable line.

    The CLI shows this text as is: CI logs should say which file is bad and why, not show
    a traceback from inside json or jsonschema.
    """
    import jsonschema

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportInputError(f"{path}: is a directory, not a results file") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
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


# --------------------------------------------------------------------------- merge / drift


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _extreme(values: list[str], latest: bool) -> str | None:
    """Earliest or latest timestamp, compared as times when all parse (offsets differ)."""
    if not values:
        return None
    parsed = [_parse_time(v) for v in values]
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


def _state(record: dict[str, Any] | None) -> dict[str, Any] | None:
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
                "before": _state(old),
                "after": _state(new),
                "regression": was == "pass" and now in ("fail", "error"),
                "improvement": was is not None and was != "pass" and now == "pass",
            }
        )
    out.sort(key=lambda d: (not d["regression"], d["target"], d["id"]))
    return out


# --------------------------------------------------------------------------- declared only


def _brief(declared: dict[str, Any]) -> dict[str, Any]:
    return {"status": declared.get("status"), "says": declared.get("says")}


def declared_matrix(
    cases_dir: Path,
    targets: Iterable[str] | None = None,
    loaded: tuple[list[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What every known target's profile declares for every case, with no observation.

    Built from the case files, profiles and targets under ``cases_dir`` (validated as a run
    validates them). ``columns`` has one entry per target in ``cases_dir/targets`` (or the
    ``targets`` given) and one per profile no target uses; ``rows[i]["declared"]`` maps each
    column to :func:`conformance.cases.declared_for`'s answer (status, the vendor's words,
    source URL and date read, implied, note). ``changes`` lists, for every profile that
    ``supersedes`` an earlier dated one, the rows whose declaration changed between them.

    The page and the Markdown show these as muted "not run" cells wherever a run has no
    record; results.json never contains them (they are declarations, not observations).
    Raises :class:`conformance.yamlfile.InputError` for a broken case, profile or target file.
    ``loaded`` is ``(cases, profiles)`` as :func:`conformance.cases.load_all` returned them
    for ``cases_dir`` (a pytest run passes what it loaded, so the files are read once).
    """
    from conformance import cases as case_files
    from conformance import targets as target_files

    cases_dir = Path(cases_dir)
    if loaded is None:
        from conformance import oracles

        loaded = case_files.load_all(cases_dir, set(oracles.ORACLES))
    loaded, profiles = loaded
    targets_dir = cases_dir / "targets"
    if targets is None:
        names = target_files.available(targets_dir) if targets_dir.is_dir() else []
    else:
        names = list(targets)
    columns: list[dict[str, Any]] = []
    for target in target_files.resolve(names, targets_dir) if names else []:
        columns.append(
            {
                "name": target.name,
                "title": target.title,
                "profile": target.profile,
                "model": target.model,
                "base_url_host": target.host,
            }
        )
    used = {c["profile"] for c in columns}
    for name, prof in profiles.items():
        if name not in used:
            columns.append(
                {
                    "name": name,
                    "title": prof.title,
                    "profile": name,
                    "model": None,
                    "base_url_host": None,
                }
            )
    rows = [
        {
            "id": case.id,
            "table": case.table,
            "row": case.row,
            "variant": case.variant,
            "declared": {
                c["name"]: case_files.declared_for(case, c["profile"], profiles) for c in columns
            },
        }
        for case in loaded
    ]
    changes = []
    for prof in profiles.values():
        if not prof.supersedes:
            continue
        old = profiles[prof.supersedes]
        changed = []
        for case in loaded:
            before = case_files.declared_for(case, old.name, profiles)
            after = case_files.declared_for(case, prof.name, profiles)
            if _brief(before) != _brief(after):
                changed.append(
                    {
                        "id": case.id,
                        "table": case.table,
                        "row": case.row,
                        "variant": case.variant,
                        "before": _brief(before),
                        "after": _brief(after),
                    }
                )
        changes.append(
            {
                "from": old.name,
                "to": prof.name,
                "from_source": old.source,
                "to_source": prof.source,
                "rows": changed,
            }
        )
    return {
        "profiles": {
            name: {
                "title": prof.title,
                "source": prof.source,
                "implies": prof.implies,
                "supersedes": prof.supersedes,
            }
            for name, prof in profiles.items()
        },
        "columns": columns,
        "rows": rows,
        "changes": changes,
    }


# --------------------------------------------------------------------------- the matrix


@dataclass
class Row:
    """One line of the matrix: a case id, its label, and the record of each target."""

    id: str
    table: str
    label: str
    variant: str | None
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    # target -> what its profile declares, for cells with no record (declared only)
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Matrix:
    targets: list[str]
    target_info: dict[str, dict[str, Any]]
    tables: list[tuple[str, list[Row]]]


def build_matrix(doc: dict[str, Any], declared: dict[str, Any] | None = None) -> Matrix:
    """Group records into tables, rows and target columns, in a stable order.

    Targets follow ``run.targets`` (then any target seen only in records); tables follow
    :data:`KNOWN_TABLES` then first appearance; rows within a table follow case id. Rows
    cannot follow "first appearance": results.json is sorted by (target, id), so a row the
    first target skipped would drop to the end of its table; id order is what first
    appearance gives when every target ran every row, and it stays put when one did not.

    With ``declared`` (from :func:`declared_matrix`), every declared column not in the run
    follows the run's targets (``target_info[...]["declared_only"]``), every declared row
    shows, and cells without a record carry the declaration in ``Row.declared``.
    """
    run = doc["run"]
    info: dict[str, dict[str, Any]] = {}
    for target in run.get("targets", []):
        info.setdefault(target["name"], target)
    targets = list(info)
    tables: dict[str, dict[str, Row]] = {}
    for record in doc.get("results", []):
        if record["target"] not in info:
            info[record["target"]] = {"name": record["target"]}
            targets.append(record["target"])
        rows = tables.setdefault(record["table"], {})
        row = rows.get(record["id"])
        if row is None:
            row = rows[record["id"]] = Row(
                record["id"], record["table"], record["row"], record.get("variant")
            )
        row.cells[record["target"]] = record
    if declared:
        for column in declared.get("columns", []):
            if column["name"] not in info:
                info[column["name"]] = {
                    "name": column["name"],
                    "model": column.get("model") or "—",
                    "base_url_host": column.get("base_url_host") or "—",
                    "profile": column.get("profile"),
                    "declared_only": True,
                }
                targets.append(column["name"])
        for item in declared.get("rows", []):
            rows = tables.setdefault(item["table"], {})
            row = rows.get(item["id"])
            if row is None:
                row = rows[item["id"]] = Row(
                    item["id"], item["table"], item["row"], item.get("variant")
                )
            row.declared = dict(item.get("declared") or {})
    order = [t for t in KNOWN_TABLES if t in tables] + [t for t in tables if t not in KNOWN_TABLES]
    return Matrix(
        targets, info, [(t, sorted(tables[t].values(), key=lambda r: r.id)) for t in order]
    )


def count_outcomes(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for record in records:
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    return counts


def cost_text(records: Iterable[dict[str, Any]]) -> str:
    """What the records cost: requests, prompt and output tokens (``—`` for none run)."""
    recs = list(records)
    if not recs:
        return "—"
    req = sum(r.get("requests", 0) for r in recs)
    tin = sum(r.get("input_tokens", 0) for r in recs)
    tout = sum(r.get("output_tokens", 0) for r in recs)
    return f"{req} requests · {tin} in / {tout} out tokens"


def _target_records(matrix: Matrix, target: str, rows: Iterable[Row]) -> list[dict[str, Any]]:
    return [row.cells[target] for row in rows if target in row.cells]


def _all_rows(matrix: Matrix) -> list[Row]:
    return [row for _, rows in matrix.tables for row in rows]


def _source_of(matrix: Matrix, doc: dict[str, Any], target: str) -> str:
    if matrix.target_info.get(target, {}).get("declared_only"):
        return "declared only (not run)"
    mode = matrix.target_info.get(target, {}).get("mode") or doc["run"]["mode"]
    return SOURCE_LABEL.get(mode, mode)


def redact(value: Any) -> Any:
    """A copy with credential-looking header values blanked.

    The suite's probes record request headers; a key that slipped into evidence must not be
    published on a Pages site.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS and isinstance(item, str):
                out[key] = item if "redacted" in item.lower() else "[redacted]"
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# --------------------------------------------------------------------------- Markdown


# Underscores stay: GFM ignores them inside words (cache_control), and the raw matrix.md
# stays readable.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")


def _md(text: Any) -> str:
    """Escape text for a GFM table cell: pipes, emphasis, links, raw HTML, line breaks."""
    s = str(text)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(s.split())


def _md_state(state: dict[str, Any] | None) -> str:
    if state is None:
        return "—"
    text = f"{ICONS.get(state['outcome'], '')} {_md(state['observed'])}"
    if state["outcome"] == "fail" and state.get("declared"):
        text += f" (declared {_md(state['declared'])})"
    return text


def _md_cell(record: dict[str, Any] | None, declared: dict[str, Any] | None = None) -> str:
    if record is None and declared:
        # Italic and worded apart from an observation: nothing was run for this cell.
        return f"_not run · declared {_md(_declared_text(declared))}_"
    return _md_state(_state(record))


def _source_text(source: dict[str, Any] | None) -> str:
    source = source or {}
    return f"{source.get('url', '?')} (read {source.get('read', '?')})"


def _md_declared_changes(declared: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for change in declared.get("changes", []):
        out.append(
            f"### Declarations changed: {_md(change['from'])} → {_md(change['to'])} "
            f"({len(change['rows'])} rows)"
        )
        out.append("")
        out.append(f"- **{_md(change['from'])}**: {_md(_source_text(change['from_source']))}")
        out.append(f"- **{_md(change['to'])}**: {_md(_source_text(change['to_source']))}")
        out.append("")
        if not change["rows"]:
            out += ["No row's declaration changed.", ""]
            continue
        out.append(f"| Table | Row | {_md(change['from'])} | {_md(change['to'])} |")
        out.append("|:--|:--|:--|:--|")
        for c in change["rows"]:
            label = f"{c['row']} ({c['variant']})" if c.get("variant") else c["row"]
            cells = [
                f"{_md(s['status'])}" + (f": “{_md(s['says'])}”" if s.get("says") else "")
                for s in (c["before"], c["after"])
            ]
            out.append(f"| {_md(c['table'])} | {_md(label)} | {cells[0]} | {cells[1]} |")
        out.append("")
    return out


def _md_counts(counts: dict[str, int]) -> str:
    parts = [f"{counts[o]} {ICONS[o]}" for o in OUTCOMES if counts.get(o)]
    return " ".join(parts) if parts else "—"


def _row_label(row: Row) -> str:
    return f"{row.label} ({row.variant})" if row.variant else row.label


def _fmt_time(value: str | None) -> str:
    if not value:
        return "unfinished"
    parsed = _parse_time(value)
    if parsed is None:
        return value
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _provenance(doc: dict[str, Any]) -> list[str]:
    run = doc["run"]
    return [
        f"mode {run['mode']}",
        f"started {_fmt_time(run.get('started'))}",
        f"finished {_fmt_time(run.get('finished'))}",
        f"suite {run['suite_version']}",
        "complete" if run.get("complete") else "INCOMPLETE",
        f"{run.get('requests', 0)} requests",
        f"{run.get('input_tokens', 0)} in / {run.get('output_tokens', 0)} out tokens",
    ]


def render_markdown(
    doc: dict[str, Any],
    drift: list[dict[str, Any]] | None = None,
    declared: dict[str, Any] | None = None,
) -> str:
    """The matrix as GitHub-flavoured Markdown (job summary, PR comment, matrix.md).

    One table per vendor table, one column per target; a fail cell also names what was
    declared, because "ignored" alone does not say whether that was promised. With
    ``declared`` (:func:`declared_matrix`) every known target gets a column, cells with no
    record show the declaration in italics ("not run · declared ignored"), and the changes
    between dated profiles of one vendor are listed.
    """
    doc = redact(doc)
    matrix = build_matrix(doc, declared)
    out: list[str] = ["## Anthropic Messages API compatibility matrix", ""]
    out.append("**Run:** " + " · ".join(_md(p) for p in _provenance(doc)))
    out.append("")
    out.append(
        "Legend: ✅ pass (observed as declared) · ❌ fail (declared value in parentheses) · "
        "❔ inconclusive (nothing to compare, or the probe could not decide) · "
        "⚠️ error (the endpoint failed) · — not run"
        + (
            " · _not run · declared X_ = declared only, no observation yet (X\\* = implied)"
            if declared
            else ""
        )
    )
    out.append("")
    # Per-target totals first: with ten targets, this is the table people read.
    out.append(
        "| Target | Model | Host | Source | Rows | "
        + " | ".join(f"{ICONS[o]} {o}" for o in OUTCOMES)
        + " | Cost |"
    )
    out.append("|:--|:--|:--|:--|--:|" + "--:|" * len(OUTCOMES) + ":--|")
    rows = _all_rows(matrix)
    for target in matrix.targets:
        t = matrix.target_info[target]
        recs = _target_records(matrix, target, rows)
        counts = count_outcomes(recs)
        out.append(
            f"| **{_md(target)}** | {_md(t.get('model', '?'))} | {_md(t.get('base_url_host', '?'))}"
            f" | {_md(_source_of(matrix, doc, target))} | {len(recs)} | "
            + " | ".join(str(counts[o]) for o in OUTCOMES)
            + f" | {_md(cost_text(recs))} |"
        )
    out.append("")
    if drift is not None:
        out.extend(_md_drift(drift))
    if declared:
        out.extend(_md_declared_changes(declared))
    header = "| Row | " + " | ".join(f"**{_md(t)}**" for t in matrix.targets) + " |"
    rule = "|:--|" + ":--|" * len(matrix.targets)
    for table, table_rows in matrix.tables:
        out.append(f"### {_md(table)}")
        out.append("")
        out.append(header)
        out.append(rule)
        for row in table_rows:
            cells = [_md_cell(row.cells.get(t), row.declared.get(t)) for t in matrix.targets]
            out.append(f"| {_md(_row_label(row))} | " + " | ".join(cells) + " |")
        totals = [
            _md_counts(count_outcomes(_target_records(matrix, t, table_rows)))
            for t in matrix.targets
        ]
        out.append("| **Total** | " + " | ".join(totals) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md_drift(changes: list[dict[str, Any]]) -> list[str]:
    out = ["### Drift since the previous run", ""]
    if not changes:
        return [*out, "No row changed its observed behaviour or outcome.", ""]
    regressions = sum(1 for c in changes if c["regression"])
    improvements = sum(1 for c in changes if c["improvement"])
    out.append(
        f"{len(changes)} changed rows: **{regressions} regressions**, {improvements} improvements."
    )
    out.append("")
    out.append("| Change | Target | Table | Row | Before | After |")
    out.append("|:--|:--|:--|:--|:--|:--|")
    for c in changes:
        kind = (
            "🔻 regression"
            if c["regression"]
            else "🔺 improvement"
            if c["improvement"]
            else c["change"]
        )
        label = f"{c['row']} ({c['variant']})" if c.get("variant") else c["row"]
        out.append(
            f"| {kind} | {_md(c['target'])} | {_md(c['table'])} | {_md(label)} | "
            f"{_md_state(c['before'])} | {_md_state(c['after'])} |"
        )
    out.append("")
    return out


# --------------------------------------------------------------------------- HTML

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def cell_id(target: str, case_id: str) -> str:
    """The HTML id of a matrix cell: ``cell:<target>:<case id>``, stable across runs.

    Characters outside ``[A-Za-z0-9_.-]`` become ``~XX`` so the two ``:`` separators stay
    unambiguous; browser tests and ``index.html#open=<id>`` links rely on this.
    """

    def enc(s: str) -> str:
        return _ID_UNSAFE.sub(lambda m: "".join(f"~{b:02X}" for b in m.group().encode()), s)

    return f"cell:{enc(target)}:{enc(case_id)}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clip(text: str, limit: int = CLIP) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def _json(value: Any) -> str:
    return _clip(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str))


def _safe_href(url: Any) -> str | None:
    """Only http(s) links: a ``javascript:`` URL in a profile must not become clickable."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def _chips(counts: dict[str, int]) -> str:
    parts = [
        f'<span class="k k-{o}" title="{counts[o]} {o}">{SYMBOLS[o]}{counts[o]}</span>'
        for o in OUTCOMES
        if counts.get(o)
    ]
    return "".join(parts) if parts else '<span class="k">—</span>'


def _declared_text(declared: dict[str, Any] | None) -> str:
    if not declared:
        return "nothing declared"
    text = str(declared.get("status"))
    if declared.get("implied"):
        text += "*"
    return text


FACT_KEYS = ("status", "http_status", "stop_reason", "usage", "samples", "sample", "reason")


def _declared_html(declared: dict[str, Any]) -> list[str]:
    """A declaration as definition-list entries: status, the vendor's words, whose profile,
    whether it is implied, and its source."""
    says = f" — “{_e(declared['says'])}”" if declared.get("says") else ""
    bits = []
    if declared.get("profile"):
        bits.append(f"profile {_e(declared['profile'])}")
    if declared.get("implied"):
        bits.append("implied: inferred, not stated for this row")
    extra = f" <small>({'; '.join(bits)})</small>" if bits else ""
    return [
        f"<dt>Declared</dt><dd>{_e(declared.get('status'))}{says}{extra}</dd>",
        *_source_html(declared.get("source")),
    ]


def _source_html(source: dict[str, Any] | None) -> list[str]:
    """The declared value's source as a definition-list entry: its URL (linked only when it
    is http(s)) and the date it was read; nothing when there is no source."""
    source = source or {}
    if not (source.get("url") or source.get("read")):
        return []
    href = _safe_href(source.get("url"))
    url = _e(source.get("url", ""))
    link = (
        f'<a href="{_e(href)}" rel="noopener noreferrer" target="_blank">{url}</a>' if href else url
    )
    read = f", read {_e(source['read'])}" if source.get("read") else ""
    return [f"<dt>Source</dt><dd>{link}{read}</dd>"]


def _evidence_html(record: dict[str, Any]) -> str:
    """The evidence panel's content for one cell (escaped; shown when the cell is opened)."""
    declared = record.get("declared") or {}
    evidence = record.get("evidence") or {}
    outcome = record["outcome"]
    label = f"{record['row']} ({record['variant']})" if record.get("variant") else record["row"]
    parts = [
        f"<h2>{_e(label)} <small>on</small> {_e(record['target'])}</h2>",
        f'<p class="sub"><code>{_e(record["id"])}</code> · {_e(record["table"])}</p>',
        f'<p class="verdict o-{_e(outcome)}"><b>{SYMBOLS.get(outcome, "")} {_e(outcome)}</b>'
        f" — {_e(record.get('message', ''))}</p>",
        '<dl class="facts">',
        f"<dt>Observed</dt><dd>{_e(record['observed'])}</dd>",
    ]
    if declared:
        parts.extend(_declared_html(declared))
    else:
        parts.append("<dt>Declared</dt><dd>nothing declared</dd>")
    for key in FACT_KEYS:
        if key in evidence:
            value = evidence[key]
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(f"<dt>{_e(key)}</dt><dd>{_e(_clip(shown, 2000))}</dd>")
    parts.append(
        f"<dt>Cost</dt><dd>{_e(record.get('requests', 0))} requests · "
        f"{_e(record.get('input_tokens', 0))} in / {_e(record.get('output_tokens', 0))} out "
        f"tokens · {_e(record.get('duration_ms', 0))} ms</dd>"
    )
    if declared.get("note"):
        parts.append(f"<dt>Note</dt><dd>{_e(declared['note'])}</dd>")
    parts.append("</dl>")
    requests = evidence.get("requests")
    rest = {k: v for k, v in evidence.items() if k != "requests"}
    if isinstance(requests, list) and requests:
        parts.append(f"<h3>Probe requests ({len(requests)})</h3>")
        for i, item in enumerate(requests, 1):
            summary = ""
            if isinstance(item, dict):
                bits = [
                    f"{k} {item[k]}"
                    for k in ("label", "path", "status", "stop_reason", "error_type")
                    if item.get(k) is not None
                ]
                summary = " · ".join(str(b) for b in bits)
            parts.append(
                f'<div class="req"><div class="reqh">#{i} {_e(summary)}</div>'
                f'<pre class="json">{_e(_json(item))}</pre></div>'
            )
    elif requests is not None:
        parts.append(f'<h3>Probe requests</h3><pre class="json">{_e(_json(requests))}</pre>')
    parts.append(f'<h3>Evidence</h3><pre class="json">{_e(_json(rest))}</pre>')
    return "".join(parts)


CSS = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--inc:#57606a;
--inc-bg:#eaeef2;--err:#9a6700;--err-bg:#fff8c5;--line:#d0d7de;--head:#f6f8fa;--grp:#e7ecf1}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{display:flex;flex-direction:column;font:13px/1.4 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:#1f2328;background:#fff}
header{padding:8px 14px;border-bottom:1px solid var(--line);flex:none}
h1{font-size:17px;margin:0 0 2px}
.prov{color:#57606a;margin:0 0 4px}
.legend span{margin-right:10px;white-space:nowrap}
.bar{display:flex;gap:14px;align-items:center;flex-wrap:wrap;margin-top:4px}
details.info{margin-top:4px}details.info summary{cursor:pointer;font-weight:600}
table.small{border-collapse:collapse;margin:4px 0}
table.small th,table.small td{border:1px solid var(--line);padding:2px 6px;text-align:left}
main{flex:1;min-height:0;overflow:auto}
table.matrix{border-collapse:separate;border-spacing:0}
.matrix th,.matrix td{border-right:1px solid var(--line);border-bottom:1px solid var(--line);
padding:0;vertical-align:top}
.matrix thead th{position:sticky;top:0;z-index:3;background:var(--head);padding:4px 6px;
text-align:left;min-width:118px;max-width:170px;font-weight:600}
.matrix thead th small{display:block;font-weight:400;color:#57606a;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.matrix th.rowh{position:sticky;left:0;z-index:2;background:#fff;text-align:left;
padding:3px 6px;min-width:230px;max-width:300px;font-weight:400}
.matrix thead th.rowh{z-index:4;background:var(--head)}
.rowh .cid{display:block;color:#6e7781;font:11px ui-monospace,SFMono-Regular,Menlo,monospace;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.rowh .var{background:#ddf4ff;border-radius:8px;padding:0 5px;font-size:11px}
tr.group th,tr.group td{background:var(--grp);padding:4px 6px}
tr.group th.rowh{background:var(--grp);font-weight:700}
tfoot th,tfoot td{background:var(--head);padding:4px 6px}
tfoot th.rowh{background:var(--head);font-weight:700}
td.cell button{all:unset;display:block;width:100%;padding:3px 6px;cursor:pointer}
td.cell button:focus-visible{outline:2px solid #0969da;outline-offset:-2px}
td.cell .obs{display:block;font-weight:600;white-space:nowrap}
td.cell .decl{display:block;font-size:11px;color:#57606a;white-space:nowrap}
td.o-pass{background:var(--pass-bg)}td.o-pass .obs{color:var(--pass)}
td.o-fail{background:var(--fail-bg)}td.o-fail .obs{color:var(--fail)}
td.o-inconclusive{background:var(--inc-bg)}td.o-inconclusive .obs{color:var(--inc)}
td.o-error{background:var(--err-bg)}td.o-error .obs{color:var(--err)}
td.o-none{color:#8c959f;text-align:center;padding:3px}
td.o-declared{background:repeating-linear-gradient(135deg,#fff 0 6px,#f6f8fa 6px 12px)}
td.o-declared .obs{color:#8c959f;font-weight:400;font-style:italic}
td.o-declared .decl{color:#6e7781;font-style:italic}
.k-declared{color:#6e7781;font-weight:400;font-style:italic}
.verdict.o-declared{background:#f6f8fa;border:1px dashed var(--line)}
td.cell.sel{box-shadow:inset 0 0 0 2px #0969da}
.k{display:inline-block;margin-right:4px;font-weight:600;white-space:nowrap}
.k-pass{color:var(--pass)}.k-fail{color:var(--fail)}.k-inconclusive{color:var(--inc)}
.k-error{color:var(--err)}
body.only-problems tr.case:not([data-attention]){display:none}
aside#panel{position:fixed;top:0;right:0;bottom:0;width:min(600px,100vw);overflow:auto;
background:#fff;border-left:1px solid var(--line);box-shadow:-6px 0 18px rgba(0,0,0,.15);
padding:10px 14px 24px;z-index:10}
aside#panel[hidden]{display:none}
#panel-close{float:right;font-size:18px;cursor:pointer;border:1px solid var(--line);
background:#fff;border-radius:4px;padding:0 8px}
#panel h2{font-size:16px;margin:4px 0}#panel h3{font-size:13px;margin:12px 0 4px}
#panel .sub{margin:0 0 6px;color:#57606a}
.verdict{padding:6px 8px;border-radius:4px;margin:6px 0}
.verdict.o-pass{background:var(--pass-bg)}.verdict.o-fail{background:var(--fail-bg)}
.verdict.o-inconclusive{background:var(--inc-bg)}.verdict.o-error{background:var(--err-bg)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:6px 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
pre.json{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:6px;
overflow:auto;max-height:320px;font:11px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace;
white-space:pre-wrap;overflow-wrap:anywhere;margin:0 0 6px}
.reqh{font-size:12px;color:#57606a;margin:6px 0 2px}
.drift .reg{color:var(--fail);font-weight:700}.drift .imp{color:var(--pass);font-weight:700}
"""

# Records errors where a test (or a curious reader) can see them without DevTools:
# headless Chromium's --dump-dom then shows them as an attribute of <html>.
ERROR_JS = """(function(){var d=document.documentElement,errs=[];
function rec(m){errs.push(String(m));d.setAttribute('data-js-errors',JSON.stringify(errs));}
window.addEventListener('error',function(e){rec((e.message||'error')+' @'+(e.lineno||0));});
window.addEventListener('unhandledrejection',function(e){rec('unhandled rejection: '+e.reason);});
document.addEventListener('securitypolicyviolation',function(e){
rec('CSP blocked '+e.violatedDirective+' '+(e.blockedURI||''));});
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};})();"""

MAIN_JS = """(function(){'use strict';
var panel=document.getElementById('panel'),body=document.getElementById('panel-body'),cur=null;
function setHash(h){try{history.replaceState(null,'',h||location.pathname+location.search);}
catch(_){}}
function open(id){var cell=document.getElementById(id);
if(!cell||!cell.classList.contains('cell'))return false;
var tpl=cell.querySelector('template.ev');if(!tpl)return false;
body.replaceChildren(tpl.content.cloneNode(true));
if(cur)cur.classList.remove('sel');cur=cell;cell.classList.add('sel');
panel.hidden=false;panel.setAttribute('data-open-cell',id);
panel.setAttribute('data-visible',panel.offsetWidth>0&&panel.offsetHeight>0?'1':'0');
panel.scrollTop=0;return true;}
function close(){panel.hidden=true;panel.removeAttribute('data-open-cell');
panel.removeAttribute('data-visible');if(cur){cur.classList.remove('sel');
var b=cur.querySelector('button');cur=null;if(b)b.focus();}setHash('');}
function fromHash(){var m=/^#open=(.+)$/.exec(location.hash);if(!m)return;var id=m[1];
try{id=decodeURIComponent(id);}catch(_){}open(id);}
document.getElementById('matrix').addEventListener('click',function(e){
var btn=e.target.closest('td.cell button');if(!btn)return;var cell=btn.closest('td.cell');
if(open(cell.id))setHash('#open='+encodeURIComponent(cell.id));});
document.getElementById('panel-close').addEventListener('click',close);
document.addEventListener('keydown',function(e){if(e.key==='Escape'&&!panel.hidden)close();});
window.addEventListener('hashchange',fromHash);
var only=document.getElementById('only-problems');
function filt(){document.body.classList.toggle('only-problems',only.checked);}
only.addEventListener('change',filt);filt();
fromHash();document.documentElement.setAttribute('data-ready','1');})();"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _declared_only_html(target: str, row: Row, declared: dict[str, Any]) -> str:
    """The panel for a cell with a declaration and no observation."""
    label = f"{row.label} ({row.variant})" if row.variant else row.label
    parts = [
        f"<h2>{_e(label)} <small>on</small> {_e(target)}</h2>",
        f'<p class="sub"><code>{_e(row.id)}</code> · {_e(row.table)}</p>',
        '<p class="verdict o-declared"><b>not run</b> — nothing observed yet; this is what '
        "the vendor declares</p>",
        '<dl class="facts">',
        *_declared_html(declared),
    ]
    if declared.get("note"):
        parts.append(f"<dt>Note</dt><dd>{_e(declared['note'])}</dd>")
    parts.append("</dl>")
    return "".join(parts)


def _html_cell(target: str, row: Row) -> str:
    record = row.cells.get(target)
    attrs = f'data-target="{_e(target)}" data-case="{_e(row.id)}"'
    if record is None and row.declared.get(target):
        declared = row.declared[target]
        title = f"{target} · {row.id}: not run — declared {declared.get('status')}"
        if declared.get("says"):
            title += f": “{declared['says']}”"
        return (
            f'<td id="{_e(cell_id(target, row.id))}" class="cell o-declared" {attrs} '
            f'data-outcome="not-run" data-declared="{_e(declared.get("status"))}">'
            f'<button type="button" aria-controls="panel" title="{_e(_clip(title, 300))}">'
            f'<span class="obs">not run</span>'
            f'<span class="decl">declared: {_e(_declared_text(declared))}</span>'
            f"</button>"
            f'<template class="ev">{_declared_only_html(target, row, declared)}</template></td>'
        )
    if record is None:
        return f'<td class="o-none" {attrs} data-outcome="none" title="not run">—</td>'
    outcome = record["outcome"]
    declared = record.get("declared")
    title = f"{target} · {row.id}: {outcome} — {record.get('message', '')}"
    says = f"declared: “{declared['says']}”" if declared and declared.get("says") else ""
    return (
        f'<td id="{_e(cell_id(target, row.id))}" class="cell o-{_e(outcome)}" {attrs} '
        f'data-outcome="{_e(outcome)}" data-observed="{_e(record["observed"])}">'
        f'<button type="button" aria-controls="panel" title="{_e(_clip(title, 300))}">'
        f'<span class="obs">{SYMBOLS.get(outcome, "")} {_e(record["observed"])}</span>'
        f'<span class="decl" title="{_e(says)}">decl. {_e(_declared_text(declared))}</span>'
        f"</button>"
        f'<template class="ev">{_evidence_html(record)}</template></td>'
    )


def _html_drift(matrix: Matrix, changes: list[dict[str, Any]]) -> str:
    regressions = sum(1 for c in changes if c["regression"])
    improvements = sum(1 for c in changes if c["improvement"])
    summary = (
        f"Drift since the previous run: {len(changes)} changed rows, "
        f"{regressions} regressions, {improvements} improvements"
    )
    rows = []
    for c in changes:
        if c["regression"]:
            kind = '<span class="reg">▼ regression</span>'
        elif c["improvement"]:
            kind = '<span class="imp">▲ improvement</span>'
        else:
            kind = _e(c["change"])
        label = f"{c['row']} ({c['variant']})" if c.get("variant") else c["row"]
        if c["after"] is not None:
            label_html = f'<a href="#open={_e(cell_id(c["target"], c["id"]))}">{_e(label)}</a>'
        else:
            label_html = _e(label)

        def st(s: dict[str, Any] | None) -> str:
            if s is None:
                return "—"
            o = s["outcome"]
            return f'<span class="k k-{_e(o)}">{SYMBOLS.get(o, "")} {_e(s["observed"])}</span>'

        rows.append(
            f"<tr><td>{kind}</td><td>{_e(c['target'])}</td><td>{_e(c['table'])}</td>"
            f"<td>{label_html}</td><td>{st(c['before'])}</td><td>{st(c['after'])}</td></tr>"
        )
    table = (
        '<table class="small drift"><thead><tr><th>Change</th><th>Target</th><th>Table</th>'
        "<th>Row</th><th>Before</th><th>After</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No row changed its observed behaviour or outcome.</p>"
    )
    opened = " open" if regressions else ""
    return (
        f'<details class="info" id="drift"{opened}><summary>{_e(summary)}</summary>'
        f"{table}</details>"
    )


def _html_declared_changes(declared: dict[str, Any]) -> str:
    blocks = []
    for change in declared.get("changes", []):
        summary = (
            f"Declarations changed: {change['from']} → {change['to']} ({len(change['rows'])} rows)"
        )
        sources = (
            f"<p>{_e(change['from'])}: {_e(_source_text(change['from_source']))}<br>"
            f"{_e(change['to'])}: {_e(_source_text(change['to_source']))}</p>"
        )

        def st(s: dict[str, Any]) -> str:
            says = f" — “{_e(s['says'])}”" if s.get("says") else ""
            return f"<b>{_e(s['status'])}</b>{says}"

        rows = "".join(
            f'<tr data-case="{_e(c["id"])}"><td>{_e(c["table"])}</td><td>{_e(c["row"])}'
            + (f' <span class="var">{_e(c["variant"])}</span>' if c.get("variant") else "")
            + f"</td><td>{st(c['before'])}</td><td>{st(c['after'])}</td></tr>"
            for c in change["rows"]
        )
        table = (
            f'<table class="small changes"><thead><tr><th>Table</th><th>Row</th>'
            f"<th>{_e(change['from'])}</th><th>{_e(change['to'])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            if rows
            else "<p>No row's declaration changed.</p>"
        )
        blocks.append(
            f'<details class="info declared-changes" data-from="{_e(change["from"])}" '
            f'data-to="{_e(change["to"])}" open><summary>{_e(summary)}</summary>'
            f"{sources}{table}</details>"
        )
    return "".join(blocks)


def render_html(
    doc: dict[str, Any],
    drift: list[dict[str, Any]] | None = None,
    declared: dict[str, Any] | None = None,
) -> str:
    """One self-contained static page: the matrix, its totals, and each cell's evidence.

    No external assets and a hash-pinned CSP, so the page works from a Pages site, a CI
    artifact or a local file alike, and untrusted evidence can neither run nor fetch.
    Cells carry ``id`` (see :func:`cell_id`), ``data-target``, ``data-case`` and
    ``data-outcome``; ``index.html#open=<cell id>`` opens that cell's evidence on load.
    With ``declared`` (:func:`declared_matrix`), every known target has a column and a cell
    with no record but a declaration is a muted ``o-declared`` cell (``data-outcome
    "not-run"``, ``data-declared`` the status) whose panel shows the declaration and its
    source; the changes between dated profiles of one vendor are listed above the matrix.
    """
    doc = redact(doc)
    run = doc["run"]
    matrix = build_matrix(doc, declared)
    all_rows = _all_rows(matrix)
    n_targets = len(matrix.targets)

    target_rows = []
    head_cells = []
    total_cells = []
    for target in matrix.targets:
        t = matrix.target_info[target]
        recs = _target_records(matrix, target, all_rows)
        source = _source_of(matrix, doc, target)
        target_rows.append(
            f"<tr><th>{_e(target)}</th><td>{_e(t.get('model', '?'))}</td>"
            f"<td>{_e(t.get('base_url_host', '?'))}</td><td>{_e(t.get('profile') or '—')}</td>"
            f"<td>{_e(source)}</td><td>{len(recs)}</td><td>{_chips(count_outcomes(recs))}</td>"
            f"<td>{_e(cost_text(recs))}</td></tr>"
        )
        head_cells.append(
            f'<th scope="col" data-target="{_e(target)}" '
            f'title="{_e(target)} · {_e(t.get("model", "?"))} · {_e(t.get("base_url_host", "?"))}'
            f' · {_e(source)}">{_e(target)}<small>{_e(t.get("model", "?"))}</small>'
            f"<small>{_e(source)}</small></th>"
        )
        total_cells.append(
            f'<td class="tot" data-target="{_e(target)}">{_chips(count_outcomes(recs))}</td>'
        )

    bodies = []
    for table, rows in matrix.tables:
        group = [
            f'<tr class="group"><th class="rowh" scope="rowgroup">{_e(table)} '
            f"<small>({len(rows)} rows)</small></th>"
        ]
        for target in matrix.targets:
            counts = count_outcomes(_target_records(matrix, target, rows))
            group.append(f'<td class="tot" data-target="{_e(target)}">{_chips(counts)}</td>')
        group.append("</tr>")
        lines = ["".join(group)]
        for row in rows:
            attention = any(r["outcome"] in ("fail", "error") for r in row.cells.values())
            variant = f' <span class="var">{_e(row.variant)}</span>' if row.variant else ""
            lines.append(
                f'<tr class="case" data-case="{_e(row.id)}"'
                + (' data-attention="1"' if attention else "")
                + f'><th class="rowh" scope="row">{_e(row.label)}{variant}'
                f'<span class="cid">{_e(row.id)}</span></th>'
                + "".join(_html_cell(t, row) for t in matrix.targets)
                + "</tr>"
            )
        bodies.append(f'<tbody data-table="{_e(table)}">' + "".join(lines) + "</tbody>")

    overall = count_outcomes(r for row in all_rows for r in row.cells.values())
    provenance = " · ".join(_e(p) for p in _provenance(doc))
    sources = (run.get("extra") or {}).get("merged_from") or []
    source_rows = "".join(
        f"<tr><td>{_e(', '.join(map(str, s.get('targets', []))))}</td><td>{_e(s.get('mode'))}"
        f"</td><td>{_e(_fmt_time(s.get('started')))}</td><td>{_e(_fmt_time(s.get('finished')))}"
        f"</td><td>{_e(s.get('suite_version'))}</td>"
        f"<td>{'yes' if s.get('complete') else 'no'}</td></tr>"
        for s in sources
        if isinstance(s, dict)
    )
    merged_html = (
        '<table class="small"><thead><tr><th>Merged from (targets)</th><th>Mode</th>'
        "<th>Started</th><th>Finished</th><th>Suite</th><th>Complete</th></tr></thead>"
        f"<tbody>{source_rows}</tbody></table>"
        if source_rows
        else ""
    )
    legend = (
        "".join(f'<span class="k k-{o}">{SYMBOLS[o]} {o}</span>' for o in OUTCOMES)
        + "<span>— not run</span><span>decl. X* = declared value implied, not row-level</span>"
        + (
            '<span class="k k-declared">not run · declared: X = declared only, no observation'
            " yet</span>"
            if declared
            else ""
        )
    )

    style = CSS
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(ERROR_JS)} {_csp_hash(MAIN_JS)}; "
        f"style-src {_csp_hash(style)}; img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = f"Anthropic API compatibility matrix — {_fmt_time(run.get('started'))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{style}</style>",
        f"<script>{ERROR_JS}</script>",
        "</head>",
        f'<body data-mode="{_e(run["mode"])}">',
        "<header>",
        "<h1>Anthropic Messages API compatibility matrix</h1>",
        f'<p class="prov" id="provenance">{provenance}</p>',
        f'<div class="bar"><span class="legend">{legend}</span>'
        f"<span>{len(all_rows)} rows &times; {n_targets} targets: {_chips(overall)}</span>"
        '<label><input type="checkbox" id="only-problems"> only rows with a fail or error'
        "</label></div>",
        f'<details class="info" id="targets"><summary>Targets ({n_targets})</summary>'
        '<table class="small"><thead><tr><th>Target</th><th>Model</th><th>Host</th>'
        "<th>Profile</th><th>Source</th><th>Rows</th><th>Totals</th><th>Cost</th></tr></thead>"
        "<tbody>" + "".join(target_rows) + f"</tbody></table>{merged_html}</details>",
        _html_drift(matrix, drift) if drift is not None else "",
        _html_declared_changes(declared) if declared else "",
        "</header>",
        "<main>",
        '<table class="matrix" id="matrix">',
        '<thead><tr><th class="rowh" scope="col">Row <small>click a cell for its evidence'
        "</small></th>" + "".join(head_cells) + "</tr></thead>",
        *bodies,
        '<tfoot><tr><th class="rowh" scope="row">All tables</th>'
        + "".join(total_cells)
        + "</tr></tfoot>",
        "</table>",
        "</main>",
        '<aside id="panel" role="dialog" aria-label="Evidence" hidden>'
        '<button type="button" id="panel-close" aria-label="Close">&times;</button>'
        '<div id="panel-body"></div></aside>',
        f"<script>{MAIN_JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- writing


def write_report(
    doc: dict[str, Any],
    out_dir: Path,
    previous: dict[str, Any] | None = None,
    declared: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``index.html``, ``matrix.md`` and ``results.json`` (plus ``drift.json`` when
    ``previous`` is given, and ``declared.json`` when ``declared`` is) into ``out_dir``;
    return their paths by kind.

    ``declared`` (from :func:`declared_matrix`) adds every known target's declared column
    to the page and the Markdown; it never goes into results.json, which holds observations
    only.

    When ``GITHUB_STEP_SUMMARY`` is set (inside a GitHub Actions step) the Markdown matrix
    is appended to it, so the run's summary page shows the matrix without opening artifacts.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = redact(doc)
    changes = drift(previous, doc) if previous is not None else None
    paths = {
        "results": out_dir / "results.json",
        "html": out_dir / "index.html",
        "markdown": out_dir / "matrix.md",
    }
    write_results(paths["results"], doc)  # validates first: no page from an invalid document
    markdown = render_markdown(doc, changes, declared)
    paths["html"].write_text(render_html(doc, changes, declared), encoding="utf-8")
    paths["markdown"].write_text(markdown, encoding="utf-8")
    if declared is not None:
        paths["declared"] = out_dir / "declared.json"
        paths["declared"].write_text(
            json.dumps(declared, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if changes is not None:
        paths["drift"] = out_dir / "drift.json"
        paths["drift"].write_text(json.dumps(changes, indent=1) + "\n", encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
        paths["summary"] = Path(summary)
    return paths
