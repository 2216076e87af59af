"""The support matrix: results files in, a Markdown table and one static HTML page out.

Kept apart from the pytest glue (as schemathesis keeps its report writers apart from its
runner) so that a merge of several CI jobs' ``results.json`` files, a nightly drift check and
a local preview all go through the same pure functions, with no test session running.

- :mod:`.loading`: reading, validating and merging results files; drift between two runs.
- :mod:`.model`: the view model, built once from results, declarations and provenance.
- :mod:`.markdown`, :mod:`.html` (+ :mod:`.panels`, ``templates/``): the two writers.
- :mod:`conformance.declarations`: what the profiles declare (the declared-only columns).

Everything shown comes partly from remote endpoints (messages, evidence, samples), so the HTML
writer escapes every string it emits and the page carries a Content-Security-Policy that only
admits its own inline script and style (by hash): a missed escape still cannot run code or
load anything from the network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conformance.declarations import declared_matrix
from conformance.display import escape_tree
from conformance.report import html as html_writer
from conformance.report import markdown as markdown_writer
from conformance.report.loading import ReportInputError, drift, load_results_file, merge
from conformance.report.model import (
    ICONS,
    KNOWN_TABLES,
    OUTCOMES,
    SYMBOLS,
    Matrix,
    Row,
    View,
    build_matrix,
    build_view,
    cell_id,
    cost_text,
    count_outcomes,
    needs_redaction,
    redact,
)
from conformance.report.provenance import cassette_provenance
from conformance.results import results_parts, write_atomic, write_results

__all__ = [
    "ICONS",
    "KNOWN_TABLES",
    "OUTCOMES",
    "PAGE_URL_ENV",
    "SYMBOLS",
    "Matrix",
    "ReportInputError",
    "Row",
    "View",
    "build_matrix",
    "build_view",
    "cassette_provenance",
    "cell_id",
    "cost_text",
    "count_outcomes",
    "declared_matrix",
    "drift",
    "load_results_file",
    "merge",
    "redact",
    "render_html",
    "render_markdown",
    "write_report",
]

# Where matrix.md's evidence links point: index.html beside it unless this names the
# published page (e.g. a Pages URL), so a PR comment's links open the real evidence.
PAGE_URL_ENV = "ANTHROPIC_CONFORMANCE_PAGE_URL"


def _page_url(page_url: str | None) -> str:
    return page_url or os.environ.get(PAGE_URL_ENV) or "index.html"


def render_markdown(
    doc: dict[str, Any],
    drift: list[dict[str, Any]] | None = None,
    declared: dict[str, Any] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
    page_url: str | None = None,
) -> str:
    """The matrix as GitHub-flavoured Markdown (job summary, PR comment, matrix.md).

    One table per vendor table, one column per observed target, each cell linked to its
    evidence (``<page_url>#<cell id>``); a fail cell also names what was declared, because
    "ignored" alone does not say whether that was promised. Under each table, the reasons
    and notes of the rows that did not simply pass, in ``<details>``. With ``declared``
    (:func:`declared_matrix`), the columns of targets not run and the changes between dated
    profiles of one vendor follow, folded. ``provenance`` (:func:`cassette_provenance`)
    adds the server versions and recording dates of replayed targets.
    """
    view = build_view(escape_tree(redact(doc)), drift, declared, provenance)
    return markdown_writer.render(view, _page_url(page_url))


def render_html(
    doc: dict[str, Any],
    drift: list[dict[str, Any]] | None = None,
    declared: dict[str, Any] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
) -> str:
    """One self-contained static page: the matrix, its totals, and each cell's evidence.

    No external assets and a hash-pinned CSP, so the page works from a Pages site, a CI
    artifact or a local file alike, and untrusted evidence can neither run nor fetch.
    Cells carry ``id`` (see :func:`cell_id`), ``data-target``, ``data-case`` and
    ``data-outcome``; ``index.html#<cell id>`` or ``#open=<cell id>`` opens that cell's
    evidence on load. With ``declared`` (:func:`declared_matrix`), every known target has a
    column (hidden behind a toggle when some target was run) and a cell with no record but a
    declaration is a muted ``o-declared`` cell (``data-outcome "not-run"``, ``data-declared``
    the status) whose panel shows the declaration and its source; the changes between dated
    profiles of one vendor are listed, folded, below the matrix.
    """
    return html_writer.render(build_view(escape_tree(redact(doc)), drift, declared, provenance))


# What conformance.runner escapes of each record as it judges the row.
ESCAPED_BY_THE_RUNNER = ("evidence", "message")


def _escaped(doc: dict[str, Any], judged_here: bool) -> dict[str, Any]:
    if not judged_here or not isinstance(doc.get("results"), list):
        return escape_tree(doc)
    out = escape_tree({k: v for k, v in doc.items() if k != "results"})
    out["results"] = [_escaped_record(r) for r in doc["results"]]
    return out


def _escaped_record(record: Any) -> Any:
    if not isinstance(record, dict):
        return escape_tree(record)
    rest = {k: v for k, v in record.items() if k not in ESCAPED_BY_THE_RUNNER}
    escaped = escape_tree(rest)
    if escaped is rest:  # nothing to escape but what the runner escaped
        return record
    if any(k not in escaped for k in rest):  # a key with a control character: all of it
        return escape_tree(record)
    return {k: record[k] if k in ESCAPED_BY_THE_RUNNER else escaped[k] for k in record}


def dumps_by_line(value: Any) -> str:
    """JSON with each item of ``value`` on a line of its own: each item of a list, and each
    member of an object and the items of a member that is an object or a list; written by
    json's C encoder, a line at a time (an ``indent`` would make json use its Python
    encoder: a tenth of the report's time for declared.json alone). Diffs stay item by item."""

    def inner(item: Any) -> str:
        if isinstance(item, dict) and item:
            lines = (f"{_dumps(k)}: {_dumps(v)}" for k, v in item.items())
            return "{\n" + ",\n".join(lines) + "\n}"
        if isinstance(item, list) and item:
            return "[\n" + ",\n".join(map(_dumps, item)) + "\n]"
        return _dumps(item)

    if isinstance(value, dict) and value:
        body = ",\n".join(f"{_dumps(k)}: {inner(v)}" for k, v in value.items())
        return "{\n" + body + "\n}\n"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(map(_dumps, value)) + "\n]\n"
    return _dumps(value) + "\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_report(
    doc: dict[str, Any],
    out_dir: Path,
    previous: dict[str, Any] | None = None,
    declared: dict[str, Any] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
    page_url: str | None = None,
    judged_here: bool = False,
) -> dict[str, Path]:
    """Write ``index.html``, ``matrix.md`` and ``results.json`` (plus ``drift.json`` when
    ``previous`` is given, and ``declared.json`` when ``declared`` is) into ``out_dir``;
    return their paths by kind.

    ``declared`` (from :func:`declared_matrix`) adds every known target's declared column
    to the page and the Markdown; it never goes into results.json, which holds observations
    only; nor does ``provenance``. ``page_url`` (default: ``$ANTHROPIC_CONFORMANCE_PAGE_URL``,
    else ``index.html``) is where matrix.md's evidence links point.

    When ``GITHUB_STEP_SUMMARY`` is set (inside a GitHub Actions step) the Markdown matrix
    is appended to it, so the run's summary page shows the matrix without opening artifacts.

    ``judged_here``: the records were made by this process's runner, which escaped each
    row's evidence and message as it judged it (:func:`conformance.runner.run_case`): those,
    nine tenths of the document, are not escaped again; everything else is. A document read
    from a file is escaped whole.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = _escaped(doc, judged_here)  # an endpoint's text is data: no control codes
    doc, text = results_parts(doc)
    if any(map(needs_redaction, text)):  # a scan of the text rather than a walk of the tree
        doc, text = results_parts(redact(doc))
    changes = drift(escape_tree(previous), doc) if previous is not None else None
    paths = {
        "results": out_dir / "results.json",
        "html": out_dir / "index.html",
        "markdown": out_dir / "matrix.md",
    }
    write_results(paths["results"], doc, text)  # validates first: no page from a bad document
    view = build_view(doc, changes, declared, provenance)
    markdown = markdown_writer.render(view, _page_url(page_url))
    write_atomic(paths["html"], html_writer.render_parts(view))
    write_atomic(paths["markdown"], markdown)
    if declared is not None:
        paths["declared"] = out_dir / "declared.json"
        write_atomic(paths["declared"], dumps_by_line(declared))
    if changes is not None:
        paths["drift"] = out_dir / "drift.json"
        write_atomic(paths["drift"], dumps_by_line(changes))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
        paths["summary"] = Path(summary)
    return paths
