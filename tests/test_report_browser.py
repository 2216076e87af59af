"""The support matrix page in a real browser: Debian's headless Chromium, driven by flags.

No websocket library (hence no DevTools client) is available, so the page reports its own
state into the DOM (``data-ready``, ``data-js-errors`` on ``<html>``, ``data-open-cell`` and
``data-visible`` on the evidence panel) and ``--dump-dom`` reads it back; Chromium's
``--enable-logging=stderr`` output adds every console message the page produced.

Layout at a given screen size is measured through a harness page written next to the
report: it frames index.html at exactly that size (headless windows cannot be narrower than
500 px, and their viewport is shorter than the window) and, allowed by
``--allow-file-access-from-files``, writes the framed page's measurements into its own DOM.
Print is checked on the PDF Chromium prints (``pdftotext``/``pdfinfo`` from poppler-utils).

Chromium missing is a failure, not a skip: a silently skipped browser test proves nothing.
Select or deselect these tests with ``-m browser`` / ``-m "not browser"``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from reportdocs import TARGETS, make_doc, record

from conformance.report import cell_id, redact, write_report
from conftest import SHIPPED_TARGETS

pytestmark = pytest.mark.browser
SHIPPED = SHIPPED_TARGETS

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
WINDOW = (1600, 1000)
# Not in reports/: that is the user's report folder (--report-dir's default). CI uploads this.
SCREENSHOTS = (
    Path(os.environ.get("CONFORMANCE_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    / "screenshots"
)
PAYLOAD = (
    "<script>document.documentElement.setAttribute('data-pwned','script')</script>"
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"
)
MISMATCH = ("llamacpp", "fields.top_k")  # forced to fail by the fixture generator


def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run scripts/install_chromium.sh "
            "(or set CHROMIUM_BIN); deselect with -m 'not browser'",
            pytrace=False,
        )
    return CHROMIUM


def run_chromium(
    url: str, *extra: str, window: tuple[int, int] = WINDOW
) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile; fails the test on a crash."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            *extra,
            url,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Chromium did not finish within 120 s: {' '.join(cmd)}")
    if proc.returncode != 0:
        pytest.fail(f"Chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def console_messages(stderr: str) -> list[str]:
    """Console output of the page (log lines tagged CONSOLE), e.g. uncaught errors, CSP."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class Dom(HTMLParser):
    """Just enough of the dumped DOM: <html> attrs, matrix header, cells, the panel."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict[str, str | None] = {}
        self.head_targets: list[str] = []
        self.cells: dict[str, dict[str, str | None]] = {}
        self.case_rows: list[str] = []
        self.panel: dict[str, str | None] | None = None
        self.panel_text: list[str] = []
        self._thead = False
        self._in_panel = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        elif tag == "thead":
            self._thead = True
        elif tag == "th" and self._thead and "data-target" in a:
            self.head_targets.append(a["data-target"] or "")
        elif tag == "td" and "cell" in (a.get("class") or "").split():
            self.cells[a.get("id") or ""] = a
        elif tag == "tr" and "case" in (a.get("class") or "").split():
            self.case_rows.append(a.get("data-case") or "")
        elif tag == "aside" and a.get("id") == "panel":
            self.panel = a
            self._in_panel = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._thead = False
        elif tag == "aside":
            self._in_panel = False

    def handle_data(self, data: str) -> None:
        if self._in_panel:
            self.panel_text.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A report of 11 targets by ~60 rows, one mismatch carrying a script payload."""
    doc = make_doc(list(TARGETS))
    rec = record(doc, *MISMATCH)
    assert rec["outcome"] == "fail"
    rec["message"] = f"declared honored, observed ignored; the model wrote {PAYLOAD}"
    out = tmp_path_factory.mktemp("site")
    paths = write_report(doc, out)
    return {"doc": doc, "index": paths["html"]}


def test_page_loads_without_errors_and_shows_the_matrix(site: dict[str, Any]) -> None:
    started = time.monotonic()
    proc = run_chromium(site["index"].as_uri(), "--dump-dom")
    dom = Dom(proc.stdout)
    assert dom.html_attrs.get("data-ready") == "1", "the page's script did not finish"
    assert "data-js-errors" not in dom.html_attrs, dom.html_attrs.get("data-js-errors")
    assert console_messages(proc.stderr) == []
    doc = site["doc"]
    assert dom.head_targets == list(TARGETS)
    ids = list(dict.fromkeys(r["id"] for r in doc["results"]))
    assert sorted(dom.case_rows) == sorted(ids) and len(ids) >= 50
    expected = {cell_id(r["target"], r["id"]): r for r in doc["results"]}
    assert set(dom.cells) == set(expected)
    for cid, attrs in dom.cells.items():
        rec = expected[cid]
        assert (attrs["data-target"], attrs["data-case"], attrs["data-outcome"]) == (
            rec["target"],
            rec["id"],
            rec["outcome"],
        )
    assert {a["data-outcome"] for a in dom.cells.values()} == {
        "pass",
        "fail",
        "inconclusive",
        "error",
    }
    assert dom.panel is not None and "hidden" in dom.panel  # nothing opened without a hash
    assert time.monotonic() - started < 60


def test_mismatch_cell_opens_its_evidence(site: dict[str, Any]) -> None:
    cid = cell_id(*MISMATCH)
    proc = run_chromium(f"{site['index'].as_uri()}#open={quote(cid, safe='')}", "--dump-dom")
    dom = Dom(proc.stdout)
    assert "data-js-errors" not in dom.html_attrs, dom.html_attrs.get("data-js-errors")
    assert console_messages(proc.stderr) == []
    assert "data-pwned" not in dom.html_attrs, "untrusted evidence ran as code"
    panel = dom.panel
    assert panel is not None
    assert "hidden" not in panel
    assert panel.get("data-open-cell") == cid
    assert panel.get("data-visible") == "1"
    assert "sel" in (dom.cells[cid].get("class") or "").split()
    text = re.sub(r"\s+", " ", "".join(dom.panel_text))
    rec = record(site["doc"], *MISMATCH)
    for needle in (
        "top_k",
        "fields.top_k",
        "fail",
        "declared honored, observed ignored",
        "<script>document.documentElement",
        "Fully Supported",
        rec["declared"]["source"]["url"],
        "read 2025-11-20",
        "stop_reason",
        rec["evidence"]["samples"],
        "Probe requests",
        '"max_tokens": 16',
        f"{rec['input_tokens']} in / {rec['output_tokens']} out tokens",
    ):
        assert needle in text, f"evidence panel lacks {needle!r}"
    assert "sk-live-SECRET123" not in proc.stdout
    # The panel's JSON is written compact and shown as json.dumps(indent=2) writes it (of
    # the record as the report keeps it: credential headers redacted).
    shown = "".join(dom.panel_text)
    for item in redact(rec["evidence"]["requests"]):
        assert json.dumps(item, indent=2, ensure_ascii=False, default=str) in shown, item


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshots(site: dict[str, Any]) -> None:
    """matrix.png (the matrix) and evidence.png (a mismatch opened), kept as artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "matrix.png": site["index"].as_uri(),
        "evidence.png": f"{site['index'].as_uri()}#open={quote(cell_id(*MISMATCH), safe='')}",
    }
    for name, url in shots.items():
        target = SCREENSHOTS / name
        target.unlink(missing_ok=True)
        proc = run_chromium(url, f"--screenshot={target}")
        assert console_messages(proc.stderr) == []
        assert target.exists(), proc.stderr[-2000:]
        assert png_size(target) == WINDOW
        assert target.stat().st_size > 50_000  # a blank page compresses to a few kB


# --------------------------------------------------------------------------- every screen

SIZES = {"phone": (420, 850), "laptop": (1366, 768), "wide": (1920, 1080)}
HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>html,body{margin:0;overflow:hidden}iframe{border:0;display:block}</style></head><body>
<iframe id="f" src="index.html" width="%(w)d" height="%(h)d"></iframe>
<script>
var f=document.getElementById('f');
function box(el){if(!el)return null;var b=el.getBoundingClientRect();
return [b.left,b.top,b.right,b.bottom];}
f.addEventListener('load',function(){var d=f.contentDocument,w=f.contentWindow,out={};
try{var row=d.querySelector('#matrix tr.case');
out={vw:w.innerWidth,vh:w.innerHeight,ready:d.documentElement.getAttribute('data-ready'),
errors:d.documentElement.getAttribute('data-js-errors'),row:box(row),
first:row&&row.getAttribute('data-case'),
cells:Array.prototype.map.call(row.querySelectorAll('td.cell'),function(c){
return c.offsetWidth>0?[c.getAttribute('data-target'),box(c)]:null;}).filter(Boolean),
heads:Array.prototype.filter.call(d.querySelectorAll('#matrix thead th[data-target]'),
function(th){return th.offsetWidth>0;}).map(function(th){
return th.getAttribute('data-target');}),
open_details:Array.prototype.map.call(d.querySelectorAll('details[open]'),function(x){
return x.id||x.className;}),
scroll_height:d.documentElement.scrollHeight,scroll_width:d.documentElement.scrollWidth};
var cs=row.querySelectorAll('td.cell');w.scrollTo(d.documentElement.scrollWidth,0);
out.scrolled={label:box(row.querySelector('th.rowh')),last:box(cs[cs.length-1])};
w.scrollTo(0,0);}
catch(e){out={error:String(e)};}
document.documentElement.setAttribute('data-m',JSON.stringify(out));});
</script></body></html>
"""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report of the shipped cassettes, as the README's main job writes it (replay of
    the five local targets, offline)."""
    out = tmp_path_factory.mktemp("shipped")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", ",".join(SHIPPED), "-p", "no:xdist",
         "-p", "no:cacheprovider", "-q", f"--report-dir={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # 0, or 3 while the shipped cassettes hold error rows (never known: issue 26); never 1
    assert proc.returncode in (0, 3), proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    return {"dir": out, "index": out / "index.html", "doc": doc}


def measure(site: Path, size: tuple[int, int], shot: Path | None = None) -> dict[str, Any]:
    """Frame ``site/index.html`` at ``size`` and return the framed page's measurements."""
    harness = site / f"harness-{size[0]}x{size[1]}.html"
    harness.write_text(HARNESS % {"w": size[0], "h": size[1]}, encoding="utf-8")
    flags = ("--allow-file-access-from-files",)
    proc = run_chromium(harness.as_uri(), *flags, "--dump-dom", "--virtual-time-budget=5000")
    found = re.search(r'<html data-m="([^"]*)"', proc.stdout)
    assert found, f"the harness measured nothing:\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}"
    data = json.loads(html.unescape(found.group(1)))
    assert "error" not in data, data
    if shot is not None:
        shot.unlink(missing_ok=True)
        run_chromium(harness.as_uri(), *flags, f"--screenshot={shot}", window=size)
        assert shot.exists() and png_size(shot) == size
    return data


@pytest.mark.parametrize("screen", list(SIZES))
def test_the_matrix_is_visible_first_on_every_screen(shipped: dict[str, Any], screen: str) -> None:
    """Phone, laptop, wide screen: the first matrix row and its observed cells are inside
    the first viewport, before any scrolling; declared-only columns and the declaration
    changes are one click away, not in the way. Screenshots are kept as artifacts."""
    width, height = SIZES[screen]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    m = measure(shipped["dir"], (width, height), SCREENSHOTS / f"matrix-{screen}.png")
    assert (m["vw"], m["vh"]) == (width, height)
    assert m["ready"] == "1" and m["errors"] is None, m
    first = min(r["id"] for r in shipped["doc"]["results"] if r["table"] == "HTTP Header")
    assert m["first"] == first
    _, top, _, bottom = m["row"]
    assert top >= 0 and bottom <= height, f"{screen}: first row at y={top}..{bottom} of {height}"
    assert m["heads"] == SHIPPED  # observed first; declared-only toggled off
    assert [t for t, _ in m["cells"]] == SHIPPED
    # Wide enough screens show every observed cell of the first row; a phone shows the row's
    # label and its first cells, and the rest one sideways swipe away, the label staying put.
    shown = SHIPPED if width >= 1366 else SHIPPED[:1]
    for target, (c_left, c_top, c_right, c_bottom) in m["cells"]:
        if target in shown:
            assert c_left >= 0 and c_right <= width, f"{screen}: {target} x={c_left}..{c_right}"
        assert c_top >= 0 and c_bottom <= height, f"{screen}: {target} cell y={c_top}..{c_bottom}"
    label, last = m["scrolled"]["label"], m["scrolled"]["last"]
    assert label[0] == 0 and label[2] <= width / 2, f"{screen}: the row label scrolled away"
    assert last[2] <= width, f"{screen}: the last column is out of reach ({last})"
    assert m["open_details"] == []  # nothing unfolded above or below the matrix
    assert m["scroll_height"] > height  # the page scrolls as a document
    print(f"{screen} {width}x{height}: first row y={top:.0f}..{bottom:.0f}")


def test_declared_columns_one_click_away(shipped: dict[str, Any]) -> None:
    """`#<cell id>` of a declared-only cell shows those columns and opens its panel."""
    cid = cell_id("minimax", "fields.top_k")
    proc = run_chromium(f"{shipped['index'].as_uri()}#{quote(cid, safe=':')}", "--dump-dom")
    dom = Dom(proc.stdout)
    assert "data-js-errors" not in dom.html_attrs, dom.html_attrs.get("data-js-errors")
    assert dom.panel is not None and dom.panel.get("data-open-cell") == cid
    assert re.search(r'<table class="matrix show-declared"', proc.stdout)


DEEP_LINK = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<iframe id="f" src="index.html%(hash)s" width="1366" height="768"></iframe>
<script>
var f=document.getElementById('f');
f.addEventListener('load',function(){setTimeout(function(){var w=f.contentWindow,
d=f.contentDocument,p=d.getElementById('panel');
document.documentElement.setAttribute('data-m',JSON.stringify({x:w.scrollX,y:w.scrollY,
hash:w.location.hash,open:p.getAttribute('data-open-cell')}));},300);});
</script></body></html>
"""


def test_a_bare_cell_link_shows_the_page_as_the_open_form_does(shipped: dict[str, Any]) -> None:
    """Issue 26: matrix.md links ``#cell:...``; being the cell's id too, the browser
    scrolled to it by itself, shifting the page, where ``#open=`` left it in place. Both
    now open the panel on an unshifted page, for a cell far down the page."""
    last = max(shipped["doc"]["results"], key=lambda r: (r["table"], r["id"], r["target"]))
    cid = cell_id(last["target"], last["id"])
    seen = {}
    for form in (f"#{cid}", f"#open={quote(cid, safe='')}"):
        harness = shipped["dir"] / "deep-link.html"
        harness.write_text(DEEP_LINK % {"hash": form}, encoding="utf-8")
        proc = run_chromium(
            harness.as_uri(), "--allow-file-access-from-files", "--dump-dom",
            "--virtual-time-budget=5000",
        )  # fmt: skip
        found = re.search(r'<html data-m="([^"]*)"', proc.stdout)
        assert found, proc.stdout[:2000]
        seen[form] = json.loads(html.unescape(found.group(1)))
    bare, opened = seen.values()
    assert bare["open"] == opened["open"] == cid, seen
    assert (bare["x"], bare["y"]) == (opened["x"], opened["y"]) == (0, 0), seen
    assert bare["hash"].startswith("#open="), seen


def pdf_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(
            f"{name} not found: run scripts/install_chromium.sh (poppler-utils)", pytrace=False
        )
    return path


def test_print_holds_the_whole_matrix(shipped: dict[str, Any]) -> None:
    """Printing gives every row of the matrix, over as many pages as it needs, and every
    observed column on each page: each column's heading whole (not "claude-code-prox") on
    the first page, and each page as wide as the paper (nothing cut at its right edge)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pdf = SCREENSHOTS / "matrix-print.pdf"
    pdf.unlink(missing_ok=True)
    run_chromium(shipped["index"].as_uri(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.exists() and pdf.stat().st_size > 10_000
    text = subprocess.run(
        [pdf_tool("pdftotext"), "-layout", str(pdf), "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    info = subprocess.run(
        [pdf_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    ids = sorted({r["id"] for r in shipped["doc"]["results"]})
    words = set(text.split())
    missing = [i for i in ids if i not in words]
    assert missing == [], f"{len(missing)} of {len(ids)} rows missing from the print"
    assert pages >= 3, f"{len(ids)} rows on {pages} pages"
    assert "Anthropic Messages API compatibility matrix" in text
    # Page 2: no header or scoreboard above the matrix (both name every target), only the
    # matrix's heading row, repeated on each page. Every observed column's heading is there
    # whole, and inside the paper's width.
    bbox = subprocess.run(
        [pdf_tool("pdftotext"), "-f", "2", "-l", "2", "-bbox", str(pdf), "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))  # type: ignore[union-attr]
    words = {
        html.unescape(m.group(2)): float(m.group(1))
        for m in re.finditer(
            r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', bbox
        )
    }
    headings = sorted({r["target"] for r in shipped["doc"]["results"]})
    assert len(headings) == 5
    cut = [t for t in headings if t not in words]
    assert cut == [], f"column headings cut or missing on a printed page: {cut}"
    outside = {t: words[t] for t in headings if words[t] > width}
    assert outside == {}, f"headings past the paper's width {width}: {outside}"


def test_matrix_md_fits_a_pull_request_comment(shipped: dict[str, Any]) -> None:
    """GitHub refuses comments over 65,536 characters; links to a published page add ~20
    characters per cell. The observed columns only, each cell a link; with five columns the
    reasons of known deviations stay on the page (NEW ones would be kept: next test)."""
    md = (shipped["dir"] / "matrix.md").read_text(encoding="utf-8")
    assert len(md) < 60_000, len(md)
    results = shipped["doc"]["results"]
    not_passing = [r for r in results if r["outcome"] != "pass"]
    if "passing cells are not linked" in md:  # 555 rows: only cells that did not pass link
        assert md.count("](index.html#cell:") == len(not_passing)
        assert "| ✅ honored |" in md  # a passing cell, unlinked
    else:
        assert md.count("](index.html#cell:") == len(results)
    assert "server llama.cpp (sent no version)" in md
    # LiteLLM names itself in x-litellm-version, but the local fake key sk-local-litellm
    # shares 8 characters ("-litellm") with that header's name, so the key policy scrubs the
    # name in the cassettes (x<redacted>-version): its provenance is the installed version
    assert "litellm\\[proxy\\] 1.108.7" in md
    assert "cassettes recorded 2026-11-26" in md
    assert (
        "only those of NEW cells and stale expectations are kept" in md and "with 5 targets" in md
    )
    assert "against the committed expectations: " in md and ", 0 NEW, 0 stale, " in md
    assert "shared/" not in md and "shared/" not in shipped["index"].read_text(encoding="utf-8")


def test_matrix_md_keeps_the_reason_of_a_new_deviation(shipped: dict[str, Any], tmp_path: Path):
    """Too many reasons for a comment: the NEW cells' reasons are the ones kept."""
    doc = json.loads(json.dumps(shipped["doc"]))
    rec = next(r for r in doc["results"] if r.get("expectation") == "known")
    rec["expectation"], rec["message"] = "new", "a reason a reviewer must read"
    md = write_report(doc, tmp_path)["markdown"].read_text(encoding="utf-8")
    assert len(md) < 60_000, len(md)
    assert "<details><summary>Reasons and notes (1)</summary>" in md
    assert "a reason a reviewer must read" in md and "**NEW**" in md


def test_matrix_md_of_two_targets_keeps_every_reason(tmp_path: Path) -> None:
    """Two observed columns fit with every reason and note, folded in ``<details>``."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", "llamacpp,litellm", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-q", f"--report-dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stdout[-3000:]  # 3: error rows (see `shipped`)
    md = (tmp_path / "matrix.md").read_text(encoding="utf-8")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert len(md) < 60_000, len(md)
    assert "<details><summary>Reasons and notes (" in md
    assert "_Reasons and notes:" not in md
    assert md.count("](index.html#cell:") == len(doc["results"])
