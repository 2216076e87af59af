"""The matrix as one self-contained static page (index.html).

The page's skeleton, style and scripts are files in ``templates/`` (read, hashed and filled
by :mod:`~.assets`); this module fills the skeleton with escaped fragments (every string
goes through :func:`~.panels.e`) and pins the inline style and scripts in a
Content-Security-Policy by their SHA-256, computed from those files at render time: a
missed escape still cannot run code or load anything.

Layout: the document scrolls as a document (no fixed heights), the matrix comes right after
a short header, observed columns first; the declared-only columns, the legend, the run's
details and the declaration changes are one click away.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from conformance.report import scoreboard
from conformance.report.assets import asset, csp_hash, fill
from conformance.report.loading import fmt_time
from conformance.report.model import (
    EXPECT_TITLES,
    OUTCOMES,
    SYMBOLS,
    Row,
    TargetView,
    View,
    cell_id,
    count_outcomes,
    declared_text,
    expect_mark,
    records_of,
)
from conformance.report.panels import clip, declared_only_html, e, evidence_html, source_link

DECLARED_COL = ' data-col="declared-only"'


def chips(counts: dict[str, int]) -> str:
    parts = [
        f'<span class="k k-{o}" title="{counts[o]} {o}">{SYMBOLS[o]}{counts[o]}</span>'
        for o in OUTCOMES
        if counts.get(o)
    ]
    return "".join(parts) if parts else '<span class="k">—</span>'


def _col(t: TargetView) -> str:
    return DECLARED_COL if t.declared_only else ""


def _declared_cell(target: TargetView, row: Row, declared: dict[str, Any], attrs: str) -> str:
    title = f"{target.name} · {row.id}: not run — declared {declared.get('status')}"
    if declared.get("says"):
        title += f": “{declared['says']}”"
    return (
        f'<td id="{e(cell_id(target.name, row.id))}" class="cell o-declared" {attrs} '
        f'data-outcome="not-run" data-declared="{e(declared.get("status"))}"{_col(target)}>'
        f'<button type="button" aria-controls="panel" title="{e(clip(title, 300))}">'
        f'<span class="obs">not run</span>'
        f'<span class="decl">declared: {e(declared_text(declared))}</span></button>'
        f'<template class="ev">{declared_only_html(target.name, row, declared)}</template></td>'
    )


def _mark(record: dict[str, Any]) -> str:
    """A known deviation, a NEW one or a stale expectation, marked on its cell."""
    mark = expect_mark(record)
    if not mark:
        return ""
    return (
        f' <span class="xp xp-{e(mark.lower())}" title="{e(EXPECT_TITLES[mark])}">{e(mark)}</span>'
    )


def cell(target: TargetView, row: Row) -> str:
    record = row.cells.get(target.name)
    attrs = f'data-target="{e(target.name)}" data-case="{e(row.id)}"'
    if record is None and row.declared.get(target.name):
        return _declared_cell(target, row, row.declared[target.name], attrs)
    if record is None:
        return (
            f'<td class="o-none" {attrs} data-outcome="none"{_col(target)} title="not run">—</td>'
        )
    outcome = record["outcome"]
    observed = e(record["observed"]) + _mark(record)
    title = f"{target.name} · {row.id}: {outcome} — {record.get('message', '')}"
    return (
        f'<td id="{e(cell_id(target.name, row.id))}" class="cell o-{e(outcome)}" {attrs} '
        f'data-outcome="{e(outcome)}" data-observed="{e(record["observed"])}">'
        f'<button type="button" aria-controls="panel" title="{e(clip(title, 300))}">'
        f'<span class="obs">{SYMBOLS.get(outcome, "")} {observed}</span>'
        f'<span class="decl">decl. {e(declared_text(record.get("declared")))}</span></button>'
        f'<template class="ev">{evidence_html(record)}</template></td>'
    )


def scoreboard_html(view: View) -> str:
    """The per-target scoreboard at the top of the page: one row a target, the terminal's
    and matrix.md's words (``report.scoreboard``); each name links to its column."""
    board = scoreboard.scores(r for t in view.observed for r in t.records)
    if not board:
        return ""
    head = "".join(f'<th scope="col" class="sc-{e(c)}">{e(c)}</th>' for c in scoreboard.COLUMNS)
    rows = "".join(
        f'<tr data-target="{e(s.target)}"><th scope="row">{e(s.target)}</th>'
        + "".join(
            f'<td class="sc-{e(c)}{" sc-zero" if not s.counts[c] else ""}">{s.counts[c]}</td>'
            for c in scoreboard.COLUMNS
        )
        + f'<td class="sc-ready">{e(s.readiness)}</td></tr>'
        for s in board
    )
    return (
        '<div class="wide"><table class="score" id="scoreboard"><thead><tr>'
        f'<th scope="col">target</th>{head}<th scope="col">Claude Code</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _totals_cells(view: View, rows: list[Row]) -> str:
    return "".join(
        f'<td class="tot" data-target="{e(t.name)}"{_col(t)}>'
        f"{chips(count_outcomes(records_of(t.name, rows)))}</td>"
        for t in view.targets
    )


def matrix_parts(view: View) -> list[str]:
    """The matrix's ``<thead>``, one ``<tbody>`` a table and the totals, as pieces the page
    never joins (:func:`render_parts`): the cells and their panels are most of a 4 MB page,
    and adding row strings together copied all of it several times over."""
    head = "".join(
        f'<th scope="col" data-target="{e(t.name)}"{_col(t)} '
        f'title="{e(t.name)} · {e(t.model)} · {e(t.host)} · {e(t.source)}">{e(t.name)}'
        f"<small>{e(t.model)}</small><small>{e(t.source)}</small></th>"
        for t in view.targets
    )
    out = [
        '<thead><tr><th class="rowh" scope="col">Row <small>click a cell for its evidence'
        f"</small></th>{head}</tr></thead>"
    ]
    for table, rows in view.matrix.tables:
        out.append(
            f'<tbody data-table="{e(table)}"><tr class="group"><th class="rowh" '
            f'scope="rowgroup">{e(table)} <small>({len(rows)} rows)</small></th>'
            f"{_totals_cells(view, rows)}</tr>"
        )
        for row in rows:
            attention = any(r["outcome"] in ("fail", "error") for r in row.cells.values())
            variant = f' <span class="var">{e(row.variant)}</span>' if row.variant else ""
            out.append(
                f'<tr class="case" data-case="{e(row.id)}"'
                + (' data-attention="1"' if attention else "")
                + f'><th class="rowh" scope="row">{e(row.label)}{variant}'
                f'<span class="cid">{e(row.id)}</span></th>'
            )
            out.extend(cell(t, row) for t in view.targets)
            out.append("</tr>")
        out.append("</tbody>")
    out.append(
        '<tfoot><tr><th class="rowh" scope="row">All tables</th>'
        f"{_totals_cells(view, view.rows)}</tr></tfoot>"
    )
    return out


def targets_html(view: View) -> str:
    rows = "".join(
        f"<tr{_col(t)}><th>{e(t.name)}</th><td>{e(t.model)}</td><td>{e(t.host)}</td>"
        f"<td>{e(t.profile or '—')}</td><td>{e(t.source)}</td><td>{e(t.server or '—')}</td>"
        f"<td>{e(t.recorded or '—')}</td><td>{len(t.records)}</td><td>{chips(t.counts)}</td>"
        f"<td>{e(t.cost)}</td></tr>"
        for t in view.targets
    )
    merged = "".join(
        f"<tr><td>{e(', '.join(map(str, s.get('targets', []))))}</td><td>{e(s.get('mode'))}"
        f"</td><td>{e(fmt_time(s.get('started')))}</td><td>{e(fmt_time(s.get('finished')))}"
        f"</td><td>{e(s.get('suite_version'))}</td>"
        f"<td>{'yes' if s.get('complete') else 'no'}</td></tr>"
        for s in view.merged_from
    )
    merged_html = (
        '<table class="small"><thead><tr><th>Merged from (targets)</th><th>Mode</th>'
        "<th>Started</th><th>Finished</th><th>Suite</th><th>Complete</th></tr></thead>"
        f"<tbody>{merged}</tbody></table>"
        if merged
        else ""
    )
    n = len(view.observed)
    more = f", {len(view.declared_only)} declared only" if view.declared_only else ""
    return (
        f'<details class="info" id="targets"><summary>Targets ({n} run{more})</summary>'
        '<div class="wide"><table class="small"><thead><tr><th>Target</th><th>Model</th>'
        "<th>Host</th><th>Profile</th><th>Source</th><th>Server</th><th>Recorded</th>"
        "<th>Rows</th><th>Totals</th><th>Cost</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{merged_html}</details>" + readiness_html(view)
    )


def readiness_html(view: View) -> str:
    """Per target: does Claude Code work against it as is, with settings, or not (the same
    line as matrix.md's), folded under a summary that counts each answer."""
    ready = [t for t in view.targets if t.readiness]
    if not ready:
        return ""
    kinds = Counter(str(t.readiness).split(":")[0].split(";")[0] for t in ready)
    summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    items = "".join(f"<li><b>{e(t.name)}</b>: {e(t.readiness)}</li>" for t in ready)
    return (
        f'<details class="info" id="readiness"><summary>Claude Code readiness ({e(summary)})'
        f"</summary><ul>{items}</ul></details>"
    )


def _state_html(s: dict[str, Any] | None) -> str:
    if s is None:
        return "—"
    o = s["outcome"]
    return f'<span class="k k-{e(o)}">{SYMBOLS.get(o, "")} {e(s["observed"])}</span>'


def drift_html(changes: list[dict[str, Any]]) -> str:
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
            kind = e(c["change"])
        label = e(f"{c['row']} ({c['variant']})" if c.get("variant") else c["row"])
        if c["after"] is not None:
            label = f'<a href="#open={e(cell_id(c["target"], c["id"]))}">{label}</a>'
        rows.append(
            f"<tr><td>{kind}</td><td>{e(c['target'])}</td><td>{e(c['table'])}</td>"
            f"<td>{label}</td><td>{_state_html(c['before'])}</td>"
            f"<td>{_state_html(c['after'])}</td></tr>"
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
        f'<details class="info" id="drift"{opened}><summary>{e(summary)}</summary>'
        f'<div class="wide">{table}</div></details>'
    )


def _declared_state(s: dict[str, Any]) -> str:
    says = f" — “{e(s['says'])}”" if s.get("says") else ""
    return f"<b>{e(s['status'])}</b>{says}"


def declared_changes_html(changes: list[dict[str, Any]]) -> str:
    blocks = []
    for change in changes:
        summary = (
            f"Declarations changed: {change['from']} → {change['to']} ({len(change['rows'])} rows)"
        )
        sources = (
            '<dl class="facts">'
            + "".join(
                f"<dt>{e(change[k])}</dt><dd>{source_link(change[k + '_source']) or '?'}</dd>"
                for k in ("from", "to")
            )
            + "</dl>"
        )
        rows = "".join(
            f'<tr data-case="{e(c["id"])}"><td>{e(c["table"])}</td><td>{e(c["row"])}'
            + (f' <span class="var">{e(c["variant"])}</span>' if c.get("variant") else "")
            + f"</td><td>{_declared_state(c['before'])}</td>"
            f"<td>{_declared_state(c['after'])}</td></tr>"
            for c in change["rows"]
        )
        table = (
            f'<div class="wide"><table class="small changes"><thead><tr><th>Table</th>'
            f"<th>Row</th><th>{e(change['from'])}</th><th>{e(change['to'])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
            if rows
            else "<p>No row's declaration changed.</p>"
        )
        blocks.append(
            f'<details class="info declared-changes" data-from="{e(change["from"])}" '
            f'data-to="{e(change["to"])}"><summary>{e(summary)}</summary>'
            f"{sources}{table}</details>"
        )
    return "".join(blocks)


def legend_html(view: View) -> str:
    legend = "".join(f'<span class="k k-{o}">{SYMBOLS[o]} {o}</span>' for o in OUTCOMES)
    legend += "<span>— not run</span><span>decl. X* = declared value implied, not row-level</span>"
    legend += "".join(
        f'<span><span class="xp xp-{m.lower()}">{m}</span> {e(t)}</span>'
        for m, t in EXPECT_TITLES.items()
    )
    if view.declared_only or view.declared_changes:
        legend += (
            '<span class="k k-declared">not run · declared: X = declared only, no observation'
            " yet</span>"
        )
    return legend


def _controls(view: View) -> str:
    out = '<label><input type="checkbox" id="only-problems"> only rows with a fail or error</label>'
    if view.observed and view.declared_only:
        out += (
            '<label><input type="checkbox" id="show-declared"> '
            f"show {len(view.declared_only)} declared-only columns (not run)</label>"
        )
    return out + '<a href="#about">run details</a>'


def _alerts(view: View) -> str:
    regressions = sum(1 for c in view.drift or [] if c["regression"])
    if not regressions:
        return ""
    return (
        f'<p class="alert"><a href="#drift">▼ {regressions} regressions since the previous '
        "run</a></p>"
    )


def render(view: View) -> str:
    """The page for ``view``. Cells carry ``id`` (see :func:`cell_id`), ``data-target``,
    ``data-case`` and ``data-outcome``; ``index.html#<cell id>`` (or ``#open=<cell id>``)
    opens that cell's evidence on load."""
    return "".join(render_parts(view))


def render_parts(view: View) -> list[str]:
    """:func:`render`'s page as its pieces, for a writer that writes them in turn
    (:func:`conformance.results.write_atomic`): the page never exists as one string."""
    run = view.doc["run"]
    style, errors_js = asset("page.css"), asset("errors.js")
    page_js = asset("indent.js") + asset("page.js")  # one script: the panels indent with it
    csp = (
        "default-src 'none'; "
        f"script-src {csp_hash(errors_js)} {csp_hash(page_js)}; "
        f"style-src {csp_hash(style)}; img-src data:; base-uri 'none'; form-action 'none'"
    )
    n_obs = len(view.observed)
    more = (
        f" (+{len(view.declared_only)} declared only)"
        if view.observed and view.declared_only
        else ""
    )
    summary = (
        f"{len(view.rows)} rows &times; {n_obs or len(view.targets)} targets run{more}: "
        f"{chips(view.totals)} · {e(run['mode'])} · {e(fmt_time(run.get('started')))}"
    )
    values: dict[str, str | list[str]] = dict(
        csp=e(csp),
        title=e(f"Anthropic API compatibility matrix — {fmt_time(run.get('started'))}"),
        style=style,
        errors_js=errors_js,
        page_js=page_js,
        mode=e(run["mode"]),
        summary=summary,
        scoreboard=scoreboard_html(view),
        alerts=_alerts(view),
        controls=_controls(view),
        matrix_class="" if view.observed else " show-declared",
        matrix=matrix_parts(view),
        provenance=" · ".join(e(p) for p in view.run_facts),
        legend=legend_html(view),
        targets=targets_html(view),
        drift=drift_html(view.drift) if view.drift is not None else "",
        declared_changes=declared_changes_html(view.declared_changes),
    )
    return fill(asset("page.html"), values)
