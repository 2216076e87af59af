"""The view model: results (and declarations) grouped once into what both writers show.

:func:`build_view` turns a results document, the drift against an earlier run, the declared
matrix and the cassettes' provenance into one :class:`View`; the Markdown and HTML writers
only format it. Nothing here knows pytest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.report.loading import fmt_time
from conformance.report.provenance import recorded_text, server_text
from conformance.report.readiness import claude_code_readiness
from conformance.secrets import PLACEHOLDER, REPORT_SECRET_KEYS

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
DECLARED_ONLY = "declared only (not run)"
SECRET_KEYS = REPORT_SECRET_KEYS  # the one list (conformance.secrets), and two more names


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

    @property
    def title(self) -> str:
        return f"{self.label} ({self.variant})" if self.variant else self.label


@dataclass
class Matrix:
    targets: list[str]
    target_info: dict[str, dict[str, Any]]
    tables: list[tuple[str, list[Row]]]


@dataclass
class TargetView:
    """One column: what ran (or is only declared) there, and what it cost."""

    name: str
    model: str
    host: str
    profile: str | None
    source: str  # "cassette (replay)", "live", ... or DECLARED_ONLY
    declared_only: bool
    records: list[dict[str, Any]]
    counts: dict[str, int]
    cost: str
    server: str | None = None  # e.g. "LiteLLM 1.108.7", from the cassettes' provenance
    recorded: str | None = None  # when its cassettes were recorded
    readiness: str | None = None  # "Claude Code readiness", from the client-shape rows


@dataclass
class View:
    doc: dict[str, Any]  # redacted
    matrix: Matrix
    targets: list[TargetView]  # observed columns first, then declared-only ones
    run_facts: list[str]
    totals: dict[str, int]
    drift: list[dict[str, Any]] | None
    declared_changes: list[dict[str, Any]]
    merged_from: list[dict[str, Any]]

    @property
    def observed(self) -> list[TargetView]:
        return [t for t in self.targets if not t.declared_only]

    @property
    def declared_only(self) -> list[TargetView]:
        return [t for t in self.targets if t.declared_only]

    @property
    def rows(self) -> list[Row]:
        return [row for _, rows in self.matrix.tables for row in rows]


def build_matrix(doc: dict[str, Any], declared: dict[str, Any] | None = None) -> Matrix:
    """Group records into tables, rows and target columns, in a stable order.

    Targets follow ``run.targets`` (then any target seen only in records); tables follow
    :data:`KNOWN_TABLES` then first appearance; rows within a table follow case id. Rows
    cannot follow "first appearance": results.json is sorted by (target, id), so a row the
    first target skipped would drop to the end of its table; id order is what first
    appearance gives when every target ran every row, and it stays put when one did not.

    With ``declared`` (from :func:`conformance.declarations.declared_matrix`), every declared
    column not in the run follows the run's targets (``target_info[...]["declared_only"]``),
    every declared row shows, and cells without a record carry the declaration in
    ``Row.declared``.
    """
    info: dict[str, dict[str, Any]] = {}
    for target in doc["run"].get("targets", []):
        info.setdefault(target["name"], target)
    targets = list(info)
    tables: dict[str, dict[str, Row]] = {}

    def row_of(item: dict[str, Any]) -> Row:
        rows = tables.setdefault(item["table"], {})
        if item["id"] not in rows:
            rows[item["id"]] = Row(item["id"], item["table"], item["row"], item.get("variant"))
        return rows[item["id"]]

    for record in doc.get("results", []):
        if record["target"] not in info:
            info[record["target"]] = {"name": record["target"]}
            targets.append(record["target"])
        row_of(record).cells[record["target"]] = record
    for column in (declared or {}).get("columns", []):
        if column["name"] not in info:
            info[column["name"]] = {
                "name": column["name"],
                "model": column.get("model") or "—",
                "base_url_host": column.get("base_url_host") or "—",
                "profile": column.get("profile"),
                "declared_only": True,
            }
            targets.append(column["name"])
    for item in (declared or {}).get("rows", []):
        row_of(item).declared = dict(item.get("declared") or {})
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


def records_of(target: str, rows: Iterable[Row]) -> list[dict[str, Any]]:
    return [row.cells[target] for row in rows if target in row.cells]


# A member named like a credential whose value is a string that is not already redacted, as
# json.dumps writes it: in the JSON of a tree that redact() would change, this is found
# (the names are letters, "-" and "_", which JSON never escapes; IGNORECASE also folds the
# one non-ASCII letter that lower() makes ASCII, the Kelvin sign). It may find more, such as
# a value with an escaped quote before its "redacted": then the tree is walked.
_CREDENTIAL_MEMBER = re.compile(
    '"(?:' + "|".join(map(re.escape, sorted(SECRET_KEYS))) + ')": "(?![^"]*redacted)', re.I
)


def needs_redaction(json_text: str) -> bool:
    """Whether :func:`redact` could change the tree ``json_text`` was written from (by
    ``json.dumps``, default separators): one scan of the text instead of a walk of the tree."""
    return _CREDENTIAL_MEMBER.search(json_text) is not None


def redact(value: Any) -> Any:
    """A copy with credential-looking header values blanked.

    The suite's probes record request headers; a key that slipped into evidence must not be
    published on a Pages site.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS and isinstance(item, str):
                out[key] = item if "redacted" in item.lower() else PLACEHOLDER
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def cell_id(target: str, case_id: str) -> str:
    """The HTML id of a matrix cell: ``cell:<target>:<case id>``, stable across runs.

    Characters outside ``[A-Za-z0-9_.-]`` become ``~XX`` so the two ``:`` separators stay
    unambiguous; browser tests, ``index.html#<id>`` and ``index.html#open=<id>`` links rely
    on this.
    """

    def enc(s: str) -> str:
        return _ID_UNSAFE.sub(lambda m: "".join(f"~{b:02X}" for b in m.group().encode()), s)

    return f"cell:{enc(target)}:{enc(case_id)}"


# A record's ``expectation`` (written by the run, see conformance.expectations.annotate) as
# the word its cell shows: a known deviation reads apart from a new one at a glance.
EXPECT_MARKS = {
    "known": "known",
    "new": "NEW",
    "new-inconclusive": "NEW",
    "stale": "stale",
}  # an error row has no mark: never known, never a deviation, its outcome says "error"


# What each mark means, for the page's tooltips and both writers' legends.
EXPECT_TITLES = {
    "known": "a known deviation, listed in the target's expectations file",
    "NEW": "a deviation the target's expectations file does not list",
    "stale": "listed in the expectations file, no longer observed as listed",
}
FRESH_MARKS = ("NEW", "stale")  # what a reviewer must read


def expect_mark(record: dict[str, Any]) -> str | None:
    return EXPECT_MARKS.get(str(record.get("expectation")))


def expectation_fact(records: Iterable[dict[str, Any]]) -> str | None:
    """ "against the committed expectations: 303 known, 1 NEW, 0 stale, 2 error", when the
    run classified rows; the scoreboard's columns (an expected inconclusive is not counted
    as known there)."""
    from conformance.report.scoreboard import column

    records = list(records)
    if not any(r.get("expectation") for r in records):
        return None
    found = [column(r) for r in records]
    counts = ", ".join(f"{found.count(c)} {c}" for c in ("known", "NEW", "stale", "error"))
    return f"against the committed expectations: {counts}"


def run_facts(doc: dict[str, Any]) -> list[str]:
    run = doc["run"]
    facts = [
        f"mode {run['mode']}",
        f"started {fmt_time(run.get('started'))}",
        f"finished {fmt_time(run.get('finished'))}",
        f"suite {run['suite_version']}",
        "complete" if run.get("complete") else "INCOMPLETE",
        f"{run.get('requests', 0)} requests",
        f"{run.get('input_tokens', 0)} in / {run.get('output_tokens', 0)} out tokens",
    ]
    expected = expectation_fact(doc.get("results") or [])
    return [*facts, expected] if expected else facts


def declared_text(declared: dict[str, Any] | None) -> str:
    if not declared:
        return "nothing declared"
    text = str(declared.get("status"))
    if declared.get("implied"):
        text += "*"
    return text


# --------------------------------------------------------------------------- the view


def source_of(info: dict[str, Any], mode: str) -> str:
    if info.get("declared_only"):
        return DECLARED_ONLY
    mode = info.get("mode") or mode
    return SOURCE_LABEL.get(mode, mode)


def build_view(
    doc: dict[str, Any],
    drift: list[dict[str, Any]] | None = None,
    declared: dict[str, Any] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
) -> View:
    """Everything the writers show, computed once. ``doc`` should already be redacted."""
    matrix = build_matrix(doc, declared)
    rows = [row for _, rs in matrix.tables for row in rs]
    targets = []
    for name in matrix.targets:
        info = matrix.target_info[name]
        recs = records_of(name, rows)
        prov = (provenance or {}).get(name) or {}
        targets.append(
            TargetView(
                name=name,
                model=str(info.get("model", "?")),
                host=str(info.get("base_url_host", "?")),
                profile=info.get("profile"),
                source=source_of(info, doc["run"]["mode"]),
                declared_only=bool(info.get("declared_only")),
                records=recs,
                counts=count_outcomes(recs),
                cost=cost_text(recs),
                server=server_text(prov) if prov else None,
                recorded=recorded_text(prov) if prov else None,
                readiness=claude_code_readiness(recs),
            )
        )
    targets.sort(key=lambda t: t.declared_only)  # stable: observed columns first
    merged = (doc["run"].get("extra") or {}).get("merged_from") or []
    return View(
        doc=doc,
        matrix=matrix,
        targets=targets,
        run_facts=run_facts(doc),
        totals=count_outcomes(r for row in rows for r in row.cells.values()),
        drift=drift,
        declared_changes=list((declared or {}).get("changes") or []),
        merged_from=[s for s in merged if isinstance(s, dict)],
    )
