"""The evidence panel of one cell, as escaped HTML (kept in a ``<template>`` until opened).

Every string here may come from a remote endpoint (messages, samples, headers), so each one
goes through :func:`e`; links are only made from http(s) URLs.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

from conformance.report.model import SYMBOLS, Row

CLIP = 20_000  # characters per evidence block: one runaway response must not bloat the page
# Evidence keys shown as facts at the top of the panel (and so not again in the raw block).
FACT_KEYS = ("status", "http_status", "stop_reason", "usage", "samples", "sample", "reason")


_needs_escape = re.compile("[&<>\"']").search


def e(value: Any) -> str:
    """``value`` escaped for HTML text and attributes (a search first: most of the page's
    40,000 strings have nothing to escape, and html.escape's five passes cost twice as
    much; and a number has nothing to escape)."""
    kind = type(value)
    if kind is str:
        return html.escape(value, quote=True) if _needs_escape(value) else value
    if kind is int or value is None:
        return "" if value is None else str(value)
    text = str(value)
    return html.escape(text, quote=True) if _needs_escape(text) else text


def text(value: str) -> str:
    """``value`` escaped for an element's text (a ``<pre>``), never an attribute: only
    ``&``, ``<`` and ``>`` mean anything there. The evidence JSON is most of the page, and
    every quote in it was six characters as ``&quot;``."""
    return html.escape(value, quote=False)


def clip(text: str, limit: int = CLIP) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def json_pre(value: Any) -> str:
    """``value`` as a ``<pre class="json">`` block: compact JSON, as ``json.dumps`` writes it
    by default (its C encoder: an ``indent`` would make json use its Python one), which the
    page's script indents as ``json.dumps(value, indent=2)`` would when the panel opens
    (``templates/indent.js``; a panel only ever shows through that script). A block past
    :data:`CLIP` characters is cut there, and says by how much (``data-cut``)."""
    compact = json.dumps(value, ensure_ascii=False, default=str)
    if len(compact) <= CLIP:
        return f'<pre class="json">{text(compact)}</pre>'
    cut = len(compact) - CLIP
    return f'<pre class="json" data-cut="{cut}">{text(compact[:CLIP])}</pre>'


def safe_href(url: Any) -> str | None:
    """Only http(s) links: a ``javascript:`` URL in a profile must not become clickable."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def source_link(source: dict[str, Any] | None) -> str:
    """A declared value's source: its URL (linked only when it is http(s)) and the date it
    was read; empty when there is no source."""
    source = source or {}
    if not (source.get("url") or source.get("read")):
        return ""
    href = safe_href(source.get("url"))
    url = e(source.get("url", ""))
    link = (
        f'<a href="{e(href)}" rel="noopener noreferrer" target="_blank">{url}</a>' if href else url
    )
    read = f", read {e(source['read'])}" if source.get("read") else ""
    return link + read


def source_html(source: dict[str, Any] | None) -> list[str]:
    """The source as a definition-list entry; nothing when there is no source."""
    text = source_link(source)
    return [f"<dt>Source</dt><dd>{text}</dd>"] if text else []


def declared_html(declared: dict[str, Any]) -> list[str]:
    """A declaration as definition-list entries, each fact said once: the status (left out
    when the vendor's words begin with it), the words, whose profile, whether it is implied
    (left out when the words already say so), and the source."""
    status = str(declared.get("status"))
    says = str(declared.get("says") or "")
    if says and says.lower().startswith(status.lower()):
        text = f"“{e(says)}”"
    elif says:
        text = f"{e(status)} — “{e(says)}”"
    else:
        text = e(status)
    bits = []
    if declared.get("profile"):
        bits.append(f"profile {e(declared['profile'])}")
    if declared.get("implied") and "implied" not in says.lower():
        bits.append("implied: inferred, not stated for this row")
    extra = f" <small>({'; '.join(bits)})</small>" if bits else ""
    return [f"<dt>Declared</dt><dd>{text}{extra}</dd>", *source_html(declared.get("source"))]


def _heading(label: str, target: str, case_id: str, table: str) -> list[str]:
    return [
        f"<h2>{e(label)} <small>on</small> {e(target)}</h2>",
        f'<p class="sub"><code>{e(case_id)}</code> · {e(table)}</p>',
    ]


def declared_only_html(target: str, row: Row, declared: dict[str, Any]) -> str:
    """The panel for a cell with a declaration and no observation."""
    parts = [
        *_heading(row.title, target, row.id, row.table),
        '<p class="verdict o-declared"><b>not run</b> — nothing observed yet; this is what '
        "the vendor declares</p>",
        '<dl class="facts">',
        *declared_html(declared),
    ]
    if declared.get("note"):
        parts.append(f"<dt>Note</dt><dd>{e(declared['note'])}</dd>")
    parts.append("</dl>")
    return "".join(parts)


def _facts(record: dict[str, Any]) -> list[str]:
    declared = record.get("declared") or {}
    evidence = record.get("evidence") or {}
    parts = [f"<dt>Observed</dt><dd>{e(record['observed'])}</dd>"]
    parts += declared_html(declared) if declared else ["<dt>Declared</dt><dd>nothing</dd>"]
    for key in FACT_KEYS:
        if key in evidence:
            value = evidence[key]
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(f"<dt>{e(key)}</dt><dd>{e(clip(shown, 2000))}</dd>")
    parts.append(
        f"<dt>Cost</dt><dd>{e(record.get('requests', 0))} requests · "
        f"{e(record.get('input_tokens', 0))} in / {e(record.get('output_tokens', 0))} out "
        f"tokens · {e(record.get('duration_ms', 0))} ms</dd>"
    )
    if declared.get("note"):
        parts.append(f"<dt>Note</dt><dd>{e(declared['note'])}</dd>")
    fix = evidence.get("workaround")
    if isinstance(fix, dict):
        href = safe_href(fix.get("doc"))
        doc = f' <a href="{e(href)}">{e(href)}</a>' if href else ""
        parts.append(
            f"<dt>Workaround</dt><dd><code>{e(fix.get('setting'))}</code>: "
            f"{e(fix.get('changes'))}{doc}</dd>"
        )
    return parts


def _requests_html(requests: Any) -> list[str]:
    if isinstance(requests, list) and requests:
        parts = [f"<h3>Probe requests ({len(requests)})</h3>"]
        for i, item in enumerate(requests, 1):
            summary = ""
            if isinstance(item, dict):
                bits = [
                    f"{k} {item[k]}"
                    for k in ("label", "path", "status", "stop_reason", "error_type")
                    if item.get(k) is not None
                ]
                summary = " · ".join(bits)
            parts.append(
                f'<div class="req"><div class="reqh">#{i} {e(summary)}</div>{json_pre(item)}</div>'
            )
        return parts
    if requests:
        return [f"<h3>Probe requests</h3>{json_pre(requests)}"]
    return []


def evidence_html(record: dict[str, Any]) -> str:
    """The evidence panel's content for one cell (escaped; shown when the cell is opened).

    Facts first, then each probe request, then whatever else the oracle recorded; a section
    with nothing in it is left out rather than shown empty.
    """
    evidence = record.get("evidence") or {}
    outcome = record["outcome"]
    label = f"{record['row']} ({record['variant']})" if record.get("variant") else record["row"]
    parts = [
        *_heading(label, record["target"], record["id"], record["table"]),
        f'<p class="verdict o-{e(outcome)}"><b>{SYMBOLS.get(outcome, "")} {e(outcome)}</b>'
        f" — {e(record.get('message', ''))}</p>",
        '<dl class="facts">',
        *_facts(record),
        "</dl>",
        *_requests_html(evidence.get("requests")),
    ]
    rest = {k: v for k, v in evidence.items() if k != "requests" and k not in FACT_KEYS}
    if rest:
        parts.append(f"<h3>Evidence</h3>{json_pre(rest)}")
    return "".join(parts)
