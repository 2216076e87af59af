"""The matrix as GitHub-flavoured Markdown: matrix.md, a job summary, a pull-request comment.

Sized for a pull request: the observed columns only in the tables, each cell linked to its
evidence on the page, the reasons and notes of every row that did not simply pass folded in
``<details>`` under its table, and the declared-only targets summarised, folded, at the end.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.expectations import shorten
from conformance.report import scoreboard
from conformance.report.loading import state
from conformance.report.model import (
    EXPECT_TITLES,
    FRESH_MARKS,
    ICONS,
    OUTCOMES,
    Row,
    TargetView,
    View,
    cell_id,
    count_outcomes,
    declared_text,
    expect_mark,
    records_of,
)

# Underscores stay: GFM ignores them inside words (cache_control), and the raw matrix.md
# stays readable.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")
LEGEND = (
    "Legend: ✅ pass (observed as declared) · ❌ fail (declared value in parentheses) · "
    "❔ inconclusive (nothing to compare, or the probe could not decide) · "
    "⚠️ error (the endpoint failed) · — not run · "
    + " · ".join(
        f"{'_known_' if m == 'known' else f'**{m}**'} = {t}" for m, t in EXPECT_TITLES.items()
    )
)


def md(text: Any) -> str:
    """Escape text for a GFM table cell: pipes, emphasis, links, raw HTML, line breaks."""
    s = str(text)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(s.split())


def md_state(st: dict[str, Any] | None) -> str:
    if st is None:
        return "—"
    text = f"{ICONS.get(st['outcome'], '')} {md(st['observed'])}"
    if st["outcome"] == "fail" and st.get("declared"):
        text += f" (declared {md(st['declared'])})"
    return text


def _cell(row: Row, target: TargetView, page: str, link_passes: bool = True) -> str:
    record = row.cells.get(target.name)
    declared = row.declared.get(target.name)
    if record is None and declared:
        # Italic and worded apart from an observation: nothing was run for this cell. In a
        # column that is declared only, its heading already says "not run".
        if target.declared_only:
            return f"_{md(declared_text(declared))}_"
        return f"_not run · declared {md(declared_text(declared))}_"
    if record is None:
        return "—"
    st = state(record)
    assert st is not None
    href = f"{page}#{cell_id(target.name, row.id)}"
    text = f"{ICONS.get(st['outcome'], '')} {md(st['observed'])}"
    if st["outcome"] == "pass" and not link_passes:
        return text
    link = f"[{text}]({href})"
    if st["outcome"] == "fail" and st.get("declared"):
        link += f" (declared {md(st['declared'])})"
    mark = expect_mark(record)
    if mark:
        link += f" · _{mark}_" if mark == "known" else f" · **{mark}**"
    return link


def source_text(source: dict[str, Any] | None) -> str:
    source = source or {}
    return f"{source.get('url', '?')} (read {source.get('read', '?')})"


def _counts(counts: dict[str, int]) -> str:
    parts = [f"{counts[o]} {ICONS[o]}" for o in OUTCOMES if counts.get(o)]
    return " ".join(parts) if parts else "—"


def _target_head(columns: list[str], last: str, last_align: str) -> list[str]:
    """The header of a table of targets: who they are, then one column per count."""
    return [
        "| Target | Model | Host | Source | Rows | " + " | ".join(columns) + f" | {last} |",
        "|:--|:--|:--|:--|--:|" + "--:|" * len(columns) + f"{last_align}|",
    ]


def _target_row(t: TargetView, counts: list[Any], last: Any) -> str:
    return (
        f"| **{md(t.name)}** | {md(t.model)} | {md(t.host)} | {md(t.source)} | "
        f"{len(t.records)} | " + " | ".join(str(c) for c in counts) + f" | {last} |"
    )


def _targets_table(targets: list[TargetView]) -> list[str]:
    out = _target_head([f"{ICONS[o]} {o}" for o in OUTCOMES], "Cost", ":--")
    out += [_target_row(t, [t.counts[o] for o in OUTCOMES], md(t.cost)) for t in targets]
    ready = [t for t in targets if t.readiness]
    if ready:
        out += ["", "**Claude Code readiness**", ""]
        out += [f"- **{md(t.name)}**: {md(t.readiness)}" for t in ready]
    return [*out, ""]


def _scoreboard(view: View) -> list[str]:
    """Who is worst, first: one row a target in the terminal's and the page's words."""
    board = scoreboard.scores(r for t in view.observed for r in t.records)
    if not board:
        return []
    out = [
        "| Target | " + " | ".join(scoreboard.COLUMNS) + " | Claude Code |",
        "|:--|" + "--:|" * len(scoreboard.COLUMNS) + ":--|",
    ]
    for s in board:
        cells = [
            f"**{n}**" if n and c in ("NEW", "stale", "error") else str(n)
            for c, n in ((c, s.counts[c]) for c in scoreboard.COLUMNS)
        ]
        out.append(f"| **{md(s.target)}** | " + " | ".join(cells) + f" | {md(s.readiness)} |")
    return [*out, ""]


def _provenance(view: View) -> list[str]:
    out = []
    for t in view.observed:
        bits = [f"{md(t.model)} at {md(t.host)}", f"profile {md(t.profile or '—')}", md(t.source)]
        if t.server:
            bits.append(f"server {md(t.server)}")
        if t.recorded:
            bits.append(f"cassettes recorded {md(t.recorded)}")
        out.append(f"- **{md(t.name)}**: " + " · ".join(bits))
    return [*out, ""] if out else []


REASON_CHARS = 160  # of a cell's message in matrix.md's reasons (the page has it all)
NOTE_CHARS = 200  # of a profile's note there


def _reasons(rows: list[Row], targets: list[TargetView], only_new: bool = False) -> list[str]:
    """A list of every cell that did not simply pass, or carries a note, and why.

    Targets whose reason for a row reads the same (the same outcome, message, note and
    workaround: translators in front of one upstream often do) share one line, and a reason
    is cut at ``REASON_CHARS`` (the cell links to all of it), so five columns stay under a
    pull-request comment's size limit. Cells that are only inconclusive, with no note, are
    counted here and explained on the page."""
    items = []
    quiet = 0
    for row in rows:
        lines: dict[str, list[str]] = {}  # the reason -> the targets that have it
        for t in targets:
            rec = row.cells.get(t.name)
            note = ((rec or {}).get("declared") or {}).get("note")
            if rec is None or (rec["outcome"] == "pass" and not note):
                continue
            fresh = expect_mark(rec) in FRESH_MARKS
            if only_new and not fresh:
                continue
            if rec["outcome"] not in ("fail", "error") and not note and not fresh:
                quiet += 1
                continue
            said = shorten(rec.get("message") or rec["outcome"], REASON_CHARS)
            text = f"{ICONS.get(rec['outcome'], '')} " + md(said)
            if note:
                text += f" — _note:_ {md(shorten(note, NOTE_CHARS))}"
            fix = (rec.get("evidence") or {}).get("workaround")
            if isinstance(fix, dict) and rec["outcome"] == "fail":
                # the setting and its doc; what it changes is in the cell's panel
                text += f" — _workaround:_ {md(fix['setting'])} ([doc]({fix['doc']}))"
            lines.setdefault(text, []).append(md(t.name))  # the cells link to the evidence
        for text, names in lines.items():
            items.append(f"- **{md(row.title)}** · {', '.join(names)}: {text}")
    if quiet:
        items.append(
            f"- {quiet} more cell(s) inconclusive with no note: their reasons are on the page"
        )
    if not items:
        return []
    return [
        f"<details><summary>Reasons and notes ({len(items)})</summary>",
        "",
        *items,
        "",
        "</details>",
        "",
    ]


def _matrix_tables(view: View, targets: list[TargetView], page: str, reasons: str) -> list[str]:
    out: list[str] = []
    header = "| Row | " + " | ".join(f"**{md(t.name)}**" for t in targets) + " |"
    rule = "|:--|" + ":--|" * len(targets)
    for table, rows in view.matrix.tables:
        out += [f"### {md(table)}", "", header, rule]
        for row in rows:
            cells = [_cell(row, t, page, link_passes="compact" not in reasons) for t in targets]
            out.append(f"| {md(row.title)} | " + " | ".join(cells) + " |")
        if not all(t.declared_only for t in targets):
            totals = [_counts(count_outcomes(records_of(t.name, rows))) for t in targets]
            out.append("| **Total** | " + " | ".join(totals) + " |")
        out.append("")
        if reasons != "compact":
            out += _reasons(rows, targets, only_new=reasons != "all")
    return out


STATUS_ORDER = ("honored", "ignored", "rejected", "unsupported", "undocumented")


def _declared_summary(view: View, targets: list[TargetView], page: str) -> list[str]:
    """The declared-only targets in one folded table: how many rows each declares how.

    Their cells are not repeated here (ten more columns would drown the observed ones and
    push a pull-request comment past its size limit); the page shows them on request and
    declared.json holds them all."""
    counts: dict[str, dict[str, int]] = {t.name: {} for t in targets}
    implied = dict.fromkeys(counts, 0)
    for row in view.rows:
        for t in targets:
            declared = row.declared.get(t.name)
            if declared:
                status = str(declared.get("status"))
                counts[t.name][status] = counts[t.name].get(status, 0) + 1
                implied[t.name] += bool(declared.get("implied"))
    seen = {s for c in counts.values() for s in c}
    statuses = [s for s in STATUS_ORDER if s in seen] + sorted(seen - set(STATUS_ORDER))
    names = ", ".join(md(t.name) for t in targets)
    out = [
        f"<details><summary>Declared only, not run: {len(targets)} more targets "
        f"({names})</summary>",
        "",
        f"How many of the {len(view.rows)} rows each vendor's table declares how; every cell "
        f"is on [the page]({page}) (show the declared-only columns) and in declared.json.",
        "",
        *_target_head([md(s) for s in statuses], "of them implied", "--:"),
    ]
    out += [
        _target_row(t, [counts[t.name].get(s, 0) for s in statuses], implied[t.name])
        for t in targets
    ]
    return [*out, "", "</details>", ""]


def _declared_changes(view: View) -> list[str]:
    out: list[str] = []
    for change in view.declared_changes:
        rows = change["rows"]
        out += [
            f"<details><summary>Declarations changed: {md(change['from'])} → "
            f"{md(change['to'])} ({len(rows)} rows)</summary>",
            "",
            f"### Declarations changed: {md(change['from'])} → {md(change['to'])}",
            "",
            f"- **{md(change['from'])}**: {md(source_text(change['from_source']))}",
            f"- **{md(change['to'])}**: {md(source_text(change['to_source']))}",
            "",
        ]
        if rows:
            out.append(f"| Table | Row | {md(change['from'])} | {md(change['to'])} |")
            out.append("|:--|:--|:--|:--|")
        else:
            out.append("No row's declaration changed.")
        for c in rows:
            label = f"{c['row']} ({c['variant']})" if c.get("variant") else c["row"]
            cells = [
                f"{md(s['status'])}" + (f": “{md(s['says'])}”" if s.get("says") else "")
                for s in (c["before"], c["after"])
            ]
            out.append(f"| {md(c['table'])} | {md(label)} | {cells[0]} | {cells[1]} |")
        out += ["", "</details>", ""]
    return out


def _drift(changes: list[dict[str, Any]]) -> list[str]:
    out = ["### Drift since the previous run", ""]
    if not changes:
        return [*out, "No row changed its observed behaviour or outcome.", ""]
    regressions = sum(1 for c in changes if c["regression"])
    improvements = sum(1 for c in changes if c["improvement"])
    out.append(
        f"{len(changes)} changed rows: **{regressions} regressions**, {improvements} improvements."
    )
    out += ["", "| Change | Target | Table | Row | Before | After |", "|:--|:--|:--|:--|:--|:--|"]
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
            f"| {kind} | {md(c['target'])} | {md(c['table'])} | {md(label)} | "
            f"{md_state(c['before'])} | {md_state(c['after'])} |"
        )
    return [*out, ""]


# GitHub refuses a comment over 65,536 characters; links to a published page lengthen every
# cell, so matrix.md keeps a margin below it.
COMMENT_CHARS = 60_000


def render(view: View, page: str = "index.html") -> str:
    """The Markdown for ``view``; ``page`` is the URL of index.html the cells link to.

    When every reason would carry the file past ``COMMENT_CHARS`` (many observed targets or
    rows), only the reasons of NEW cells and stale expectations stay (what a reviewer must
    read); past it still, passing cells are written without their link (every cell that did
    not pass still links); and past it even then, no reasons. A line says which. The file
    still fits a pull-request comment, and the page holds everything. (What does not depend
    on the level, all but the matrix's tables, is written once.)"""
    head, tail = _head(view), _tail(view, page)
    for reasons in ("all", "new", "new-compact"):
        text = _joined(head, _level(view, page, reasons), tail)
        if len(text) <= COMMENT_CHARS:
            return text
    return _joined(head, _level(view, page, "compact"), tail)


def _joined(head: list[str], body: list[str], tail: list[str]) -> str:
    return "\n".join([*head, *body, *tail]).rstrip() + "\n"


def _head(view: View) -> list[str]:
    shown = view.observed or view.declared_only  # declarations alone still have a matrix
    out: list[str] = ["## Anthropic Messages API compatibility matrix", ""]
    out += _scoreboard(view)
    out += ["**Run:** " + " · ".join(md(p) for p in view.run_facts), ""]
    out += _provenance(view)
    legend = LEGEND
    if view.declared_only or any(r.declared for r in view.rows):
        legend += " · _not run · declared X_ = declared only, no observation yet (X\\* = implied)"
    out += [legend, ""]
    # Per-target totals first: with many targets, this is the table people read.
    out += _targets_table(shown)
    if view.drift is not None:
        out += _drift(view.drift)
    return out


def _level(view: View, page: str, reasons: str) -> list[str]:
    shown = view.observed or view.declared_only
    out: list[str] = []
    if reasons != "all":
        kept = {
            "new": "only those of NEW cells and stale expectations are kept",
            "new-compact": "only those of NEW cells and stale expectations are kept, and "
            "passing cells are not linked",
            "compact": "they are left out, and passing cells are not linked",
        }[reasons]
        out += [
            f"_Reasons and notes: {kept}; with {len(shown)} targets all of them would carry "
            f"this file past {COMMENT_CHARS:,} characters (a pull-request comment holds "
            f"65,536). Each cell{' that did not pass' if 'compact' in reasons else ''} links "
            "to its reason, notes and evidence on the page._",
            "",
        ]
    return out + _matrix_tables(view, shown, page, reasons=reasons)


def _tail(view: View, page: str) -> list[str]:
    out: list[str] = []
    if view.observed and view.declared_only:
        out += _declared_summary(view, view.declared_only, page)
    return out + _declared_changes(view)
