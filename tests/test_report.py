"""Tests of the support matrix: merge, drift, Markdown, HTML, write_report and the CLI.

No real results exist yet, so :func:`make_doc` generates realistic ones: the vendor tables'
rows (~60), several targets, declared values from a seeded mix, observations mostly
agreeing with them, and outcomes computed by the suite's own ``decide_outcome`` so every
record is one the plugin could have written. It lives in ``tests/reportdocs.py``, which
``tests/test_report_browser.py`` imports too.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reportdocs import (
    ROWS,
    TARGETS,
    make_doc,
    record,
    write_json,
)

from conformance.__main__ import main
from conformance.report import (
    cell_id,
    drift,
    merge,
    render_html,
    render_markdown,
    write_report,
)
from conformance.results import (
    validate_results,
)

REPO = Path(__file__).resolve().parents[1]


def test_generator_is_realistic() -> None:
    doc = make_doc(list(TARGETS))
    ids = {r["id"] for r in doc["results"]}
    assert 50 <= len(ids) <= 70
    assert {r["outcome"] for r in doc["results"]} == {"pass", "fail", "inconclusive", "error"}
    assert {r["observed"] for r in doc["results"]} >= {
        "honored",
        "ignored",
        "rejected",
        "accepted",
        "error",
    }
    assert len(doc["results"]) < len(ids) * len(TARGETS)  # some cells not run


# --------------------------------------------------------------------------- merge


def test_merge_two_single_target_docs() -> None:
    a = make_doc(
        ["deepseek"], mode="live", started="2025-11-26T02:05:00Z", finished="2025-11-26T02:30:00Z"
    )
    b = make_doc(
        ["llamacpp"],
        mode="replay",
        started="2025-11-26T01:59:00Z",
        finished="2025-11-26T03:10:00+00:00",
        complete=False,
    )
    merged = merge([a, b])
    validate_results(merged)
    run = merged["run"]
    assert run["mode"] == "merged"
    assert [t["name"] for t in run["targets"]] == ["deepseek", "llamacpp"]
    assert {t["name"]: t["mode"] for t in run["targets"]} == {
        "deepseek": "live",
        "llamacpp": "replay",
    }
    assert run["started"] == "2025-11-26T01:59:00Z"
    assert run["finished"] == "2025-11-26T03:10:00+00:00"
    assert run["complete"] is False
    assert len(merged["results"]) == len(a["results"]) + len(b["results"])
    assert run["requests"] == a["run"]["requests"] + b["run"]["requests"]
    assert run["input_tokens"] == a["run"]["input_tokens"] + b["run"]["input_tokens"]
    assert [s["targets"] for s in run["extra"]["merged_from"]] == [["deepseek"], ["llamacpp"]]
    # Inputs are not modified.
    assert "mode" not in a["run"]["targets"][0]


def test_merge_later_file_wins_and_single_doc_keeps_mode() -> None:
    a = make_doc(["deepseek"], mode="live")
    b = copy.deepcopy(a)
    rec = record(b, "deepseek", "content.tool_result.is_error")
    rec.update(observed="ignored", outcome="fail", message="declared honored, observed ignored")
    merged = merge([a, b])
    assert len(merged["results"]) == len(a["results"])
    assert record(merged, "deepseek", "content.tool_result.is_error")["outcome"] == "fail"
    assert record(merge([b, a]), "deepseek", "content.tool_result.is_error")["outcome"] == "pass"
    single = merge([a])
    assert single["run"]["mode"] == "live"
    assert single["results"] == a["results"]
    with pytest.raises(ValueError):
        merge([])


# --------------------------------------------------------------------------- drift


def test_drift_one_regression_one_improvement() -> None:
    before = make_doc(["deepseek", "llamacpp"])
    after = copy.deepcopy(before)
    assert record(before, "deepseek", "content.tool_result.is_error")["outcome"] == "pass"
    assert record(before, "llamacpp", "fields.top_k")["outcome"] == "fail"
    record(after, "deepseek", "content.tool_result.is_error").update(
        observed="ignored", outcome="fail"
    )
    record(after, "llamacpp", "fields.top_k").update(observed="honored", outcome="pass")
    # A message-only change is not drift.
    record(after, "deepseek", "fields.model")["message"] = "reworded"
    changes = drift(before, after)
    assert [(c["target"], c["id"]) for c in changes] == [
        ("deepseek", "content.tool_result.is_error"),  # regressions first
        ("llamacpp", "fields.top_k"),
    ]
    reg, imp = changes
    assert reg["regression"] and not reg["improvement"]
    assert reg["before"]["outcome"] == "pass" and reg["after"]["observed"] == "ignored"
    assert imp["improvement"] and not imp["regression"]
    assert drift(before, before) == []


def test_drift_pass_to_error_regresses_and_added_removed_do_not() -> None:
    before = make_doc(["deepseek"], missing=0)
    after = copy.deepcopy(before)
    record(after, "deepseek", "content.tool_result.is_error").update(
        observed="error", outcome="error"
    )
    after["results"] = [r for r in after["results"] if r["id"] != "fields.top_k"]
    after["results"].append({**record(before, "deepseek", "fields.top_p"), "id": "fields.new"})
    changes = {c["id"]: c for c in drift(before, after)}
    assert changes["content.tool_result.is_error"]["regression"] is True
    assert changes["fields.top_k"]["change"] == "removed"
    assert changes["fields.top_k"]["after"] is None and not changes["fields.top_k"]["regression"]
    assert changes["fields.new"]["change"] == "added"
    assert changes["fields.new"]["before"] is None and not changes["fields.new"]["regression"]


# --------------------------------------------------------------------------- Markdown


MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def split_md_row(line: str) -> list[str]:
    """Cells of a GFM table line, honouring ``\\|`` escapes; a link shows as its text."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [MD_LINK.sub(r"\1", c.strip()) for c in cells[1:-1]]


def md_tables(markdown: str) -> dict[str, list[list[str]]]:
    """{### heading: [header cells, row cells...]} for each table in the rendered matrix."""
    out: dict[str, list[list[str]]] = {}
    heading = None
    for line in markdown.splitlines():
        if line.startswith("### "):
            heading = line[4:]
            out[heading] = []
        elif heading and line.startswith("|") and not line.startswith("|:--"):
            out[heading].append(split_md_row(line))
    return out


def md_unescape(text: str) -> str:
    return (
        re.sub(r"\\(.)", r"\1", text)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def test_markdown_has_every_row_and_target() -> None:
    targets = list(TARGETS)
    doc = make_doc(targets)
    tables = md_tables(render_markdown(doc))
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table, label, case_id, variant in ROWS:
        shown = f"{label} ({variant})" if variant else label
        by_table.setdefault(table, []).append((shown, case_id))
    assert list(tables) == list(by_table)  # vendor order, not by case id
    for table, rows in by_table.items():
        header, *body = tables[table]
        assert header == ["Row"] + [f"**{t}**" for t in targets]
        assert body[-1][0] == "**Total**"
        lines = {md_unescape(cells[0]): cells for cells in body[:-1]}
        assert set(lines) == {shown for shown, _ in rows}
        for shown, case_id in rows:
            cells = lines[shown]
            assert len(cells) == len(targets) + 1
            for target, cell in zip(targets, cells[1:], strict=True):
                rec = next(
                    (r for r in doc["results"] if r["target"] == target and r["id"] == case_id),
                    None,
                )
                if rec is None:
                    assert cell == "—"
                    continue
                icon = {"pass": "✅", "fail": "❌", "inconclusive": "❔", "error": "⚠️"}
                assert cell.startswith(icon[rec["outcome"]] + " " + rec["observed"])
                if rec["outcome"] == "fail" and rec["declared"]:
                    assert cell.endswith(f"(declared {rec['declared']['status']})")


def test_markdown_cells_totals_and_provenance() -> None:
    doc = make_doc(["deepseek", "llamacpp", "litellm"])
    md = render_markdown(doc)
    tables = md_tables(md)
    simple = {row[0]: row for row in tables["Simple Fields"]}
    assert simple["top_k"][2] == "❌ ignored (declared honored)"
    assert simple["metadata"][1] == "❔ accepted"
    # Rows keep case-id order even when the first target did not run one of them.
    assert [row[0] for row in tables["Protocol"][1:-1]] == [
        "count_tokens endpoint",
        "error shape",
        "SSE event grammar",
        "usage in message_delta",
    ]
    skipped = copy.deepcopy(doc)
    skipped["results"] = [
        r
        for r in skipped["results"]
        if (r["target"], r["id"]) != ("deepseek", "protocol.count_tokens")
    ]
    assert [row[0] for row in md_tables(render_markdown(skipped))["Protocol"][1:-1]] == [
        row[0] for row in tables["Protocol"][1:-1]
    ]
    protocol = {row[0]: row for row in tables["Protocol"]}
    assert protocol["SSE event grammar"][3] == "⚠️ error"
    message = {row[0]: row for row in tables["Message Fields"]}
    assert message['array, type="tool_result" / is_error'][1] == "✅ honored"
    # Totals: per table per target, and one line per target with its model.
    counts = {o: 0 for o in ("pass", "fail", "inconclusive", "error")}
    for r in doc["results"]:
        if r["target"] == "llamacpp" and r["table"] == "Simple Fields":
            counts[r["outcome"]] += 1
    icons = {"pass": "✅", "fail": "❌", "inconclusive": "❔", "error": "⚠️"}
    want = " ".join(f"{n} {icons[o]}" for o, n in counts.items() if n)
    assert simple["**Total**"][2] == want
    assert "| **llamacpp** | smollm2 | 127.0.0.1:8088 | cassette (replay) |" in md
    assert "mode replay" in md and "suite 0.1.0" in md and "2025-11-26 02:00 UTC" in md
    assert "sk-live-SECRET123" not in md


def test_markdown_drift_section_and_escaping() -> None:
    before = make_doc(["deepseek"])
    after = copy.deepcopy(before)
    record(after, "deepseek", "content.tool_result.is_error").update(
        observed="ignored", outcome="fail"
    )
    after["results"][0]["row"] = "a | b <img src=x>"
    md = render_markdown(after, drift(before, after))
    assert "### Drift since the previous run" in md
    assert "**1 regressions**" in md
    assert "| 🔻 regression | deepseek | Message Fields |" in md
    assert "a \\| b &lt;img src=x&gt;" in md and "<img" not in md
    assert "No row changed" in render_markdown(before, [])


# --------------------------------------------------------------------------- HTML


def test_html_escapes_untrusted_text() -> None:
    doc = make_doc(["deepseek", "llamacpp"])
    evil = "<script>alert('pwned')</script>"
    rec = record(doc, "llamacpp", "fields.top_k")
    rec["message"] = f"model said {evil}"
    rec["evidence"]["samples"] = evil
    rec["evidence"]["requests"][0]["error_message"] = '"><img src=x onerror=alert(1)>'
    rec["declared"]["source"]["url"] = "javascript:alert(1)"
    rec["row"] = "top_k </td></tr><script>x()</script>"
    doc["run"]["targets"][0]["model"] = "</title><script>alert(2)</script>"
    page = render_html(doc)
    assert "alert('pwned')</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert page.count("<script>") == 2  # the page's own two scripts, nothing else
    assert page.count("</script>") == 2
    assert 'href="javascript:' not in page
    assert "&lt;/title&gt;&lt;script&gt;alert(2)" in page


def test_html_cells_ids_csp_and_no_external_assets() -> None:
    targets = ["anthropic", "deepseek", "llamacpp", "litellm"]
    doc = make_doc(targets)
    page = render_html(doc)
    for r in doc["results"]:
        cid = cell_id(r["target"], r["id"])
        assert (
            f'<td id="{cid}" class="cell o-{r["outcome"]}" data-target="{r["target"]}" '
            f'data-case="{r["id"]}" data-outcome="{r["outcome"]}"'
        ) in page
    assert cell_id("llamacpp", "fields.top_k") == "cell:llamacpp:fields.top_k"
    assert cell_id("a b:c", "x.y") == "cell:a~20b~3Ac:x.y"
    # Only inline assets: nothing fetched from anywhere.
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\ssrc=", page)
    assert "sk-live-SECRET123" not in page and "&lt;redacted&gt;" in page
    # The CSP pins both scripts and the style by hash: a stray inline script cannot run.
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert found
    csp = html.unescape(found.group(1))
    for block in re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", page, re.S):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    # Per-table and per-target totals.
    assert page.count('<tr class="group">') == len({t for t, *_ in ROWS})
    assert "<tfoot>" in page


def test_html_provenance_and_drift() -> None:
    live = make_doc(["deepseek"], mode="live")
    replay = make_doc(["llamacpp"], mode="replay", seed=3)
    merged = merge([live, replay])
    after = copy.deepcopy(merged)
    record(after, "deepseek", "content.tool_result.is_error").update(
        observed="ignored", outcome="fail"
    )
    page = render_html(after, drift(merged, after))
    assert 'id="drift" open' in page and "▼ regression" in page
    assert f'href="#open={cell_id("deepseek", "content.tool_result.is_error")}"' in page
    assert "cassette (replay)" in page and "<td>live</td>" in page
    assert "api.deepseek.com" in page and "deepseek-chat" in page
    assert "mode merged" in page and "suite 0.1.0" in page


def test_evidence_panel_shows_no_empty_section_and_says_each_fact_once() -> None:
    doc = make_doc(["llamacpp"])
    rec = record(doc, "llamacpp", "fields.top_k")
    # Only facts and requests: no raw "Evidence" block left to show, so none is shown.
    rec["evidence"] = {"stop_reason": "end_turn", "requests": rec["evidence"]["requests"]}
    rec["declared"].update(says="honored (implied: no row-level table)", implied=True)
    page = render_html(doc)
    start = page.index(f'id="{cell_id("llamacpp", "fields.top_k")}"')
    panel = page[start : page.index("</template>", start)]
    assert "<h3>Evidence</h3>" not in panel and "{}" not in panel
    assert "<h3>Probe requests (" in panel
    # The vendor's words start with the status and say "implied": neither is said twice.
    assert "<dd>“honored (implied: no row-level table)”" in panel
    assert "honored — “honored" not in panel and "implied: inferred" not in panel
    # The stop_reason is a fact at the top, not repeated in a raw block (each request shows
    # its own in its heading and its JSON).
    assert panel.count("end_turn") == 1 + 2 * sum(
        str(r).count("end_turn") for r in rec["evidence"]["requests"]
    )
    other = record(doc, "llamacpp", "fields.metadata")
    other["evidence"]["why"] = "no observable effect"
    assert "<h3>Evidence</h3>" in render_html(doc)


def test_page_assets_are_files_pinned_by_hash() -> None:
    """The page's style and scripts come from the package's templates, each hash-pinned."""
    from importlib import resources

    page = render_html(make_doc(["llamacpp"]))
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert found
    csp = html.unescape(found.group(1))
    templates = resources.files("conformance.report").joinpath("templates")
    pieces = (("page.css",), ("indent.js", "page.js"), ("errors.js",))  # one element each
    for names, tag in zip(pieces, ("style", "script", "script"), strict=True):
        name = "+".join(names)
        text = "".join(templates.joinpath(n).read_text("utf-8") for n in names)
        assert f"<{tag}>{text}</{tag}>" in page, name
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, name
    # The page is a document that scrolls; print has its own rules; nothing fixes a height.
    css = templates.joinpath("page.css").read_text("utf-8")
    assert "@media print" in css and "height:100%" not in css


def test_markdown_links_reasons_and_provenance() -> None:
    doc = make_doc(["llamacpp", "litellm"])
    rec = record(doc, "llamacpp", "fields.top_k")
    rec["declared"]["note"] = "Finding: top_k is dropped | silently"
    provenance = {
        "llamacpp": {"server": {"server": ["llama.cpp"]}, "recorded": "2026-11-26T20:33:56Z",
                     "cases": {"fields.top_k": "2026-11-26T20:07:29Z"}},
        "litellm": {"server": {"x-litellm-version": ["1.108.7"]},
                    "recorded": "2026-11-26T20:33:56Z"},
    }  # fmt: skip
    md = render_markdown(doc, provenance=provenance)
    cid = cell_id("llamacpp", "fields.top_k")
    assert f"[❌ ignored](index.html#{cid}) (declared honored)" in md
    # Reasons and notes of the rows that did not simply pass, folded under their table.
    simple = md[md.index("### Simple Fields") : md.index("### Tool Fields: tools")]
    assert "<details><summary>Reasons and notes (" in simple and "</details>" in simple
    line = next(ln for ln in simple.splitlines() if ln.startswith("- **top_k** · llamacpp:"))
    assert rec["message"] in md_unescape(line)
    assert "_note:_ Finding: top\\_k is dropped \\| silently" not in line  # _ stays
    assert "_note:_ Finding: top_k is dropped \\| silently" in line
    assert "server llama.cpp (sent no version)" in md
    assert "server LiteLLM 1.108.7" in md
    assert "cassettes recorded 2026-11-26 20:07 UTC to 2026-11-26 20:33 UTC" in md
    # A published page: links point there.
    url = "https://example.github.io/conformance/"
    assert f"]({url}#{cid})" in render_markdown(doc, page_url=url)


def test_write_report_page_url_from_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFORMANCE_PAGE_URL", "https://pages.example/run/1/")
    paths = write_report(make_doc(["llamacpp"]), tmp_path)
    assert "](https://pages.example/run/1/#cell:llamacpp:" in paths["markdown"].read_text()
    assert "index.html#cell" not in paths["markdown"].read_text()


# --------------------------------------------------------------------------- write_report


def test_write_report_files_and_step_summary(tmp_path: Path, monkeypatch: Any) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    doc = make_doc(["deepseek", "llamacpp"])
    paths = write_report(doc, tmp_path / "out", previous=doc)
    assert {k: p.name for k, p in paths.items()} == {
        "results": "results.json",
        "html": "index.html",
        "markdown": "matrix.md",
        "drift": "drift.json",
        "summary": "summary.md",
    }
    written = json.loads(paths["results"].read_text())
    validate_results(written)
    assert "sk-live-SECRET123" not in paths["results"].read_text()
    assert json.loads(paths["drift"].read_text()) == []
    text = summary.read_text()
    assert text.startswith("# earlier step\n")  # appended, not replaced
    assert paths["markdown"].read_text() in text
    write_report(doc, tmp_path / "out2")
    assert summary.read_text().count("## Anthropic Messages API compatibility matrix") == 2


def test_write_report_without_step_summary(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    paths = write_report(make_doc(["deepseek"]), tmp_path)
    assert set(paths) == {"results", "html", "markdown"}


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Two single-target results files and a previous run with one row passing."""
    base = make_doc(["deepseek", "llamacpp"])
    ds = merge([base])
    ds["results"] = [r for r in ds["results"] if r["target"] == "deepseek"]
    ds["run"]["targets"] = [t for t in ds["run"]["targets"] if t["name"] == "deepseek"]
    ll = merge([base])
    ll["results"] = [r for r in ll["results"] if r["target"] == "llamacpp"]
    ll["run"]["targets"] = [t for t in ll["run"]["targets"] if t["name"] == "llamacpp"]
    worse = copy.deepcopy(ds)
    record(worse, "deepseek", "content.tool_result.is_error").update(
        observed="ignored", outcome="fail"
    )
    better = copy.deepcopy(base)
    record(better, "llamacpp", "fields.top_k").update(observed="honored", outcome="pass")
    return {
        "deepseek": write_json(tmp_path / "deepseek.json", ds),
        "llamacpp": write_json(tmp_path / "llamacpp.json", ll),
        "deepseek_worse": write_json(tmp_path / "deepseek-worse.json", worse),
        "base": write_json(tmp_path / "base.json", base),
        "better": write_json(tmp_path / "better.json", better),
    }


def test_cli_report_ok(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "site"
    code = main(["report", str(files["deepseek"]), str(files["llamacpp"]), "-o", str(out)])
    assert code == 0
    merged = json.loads((out / "results.json").read_text())
    assert merged["run"]["mode"] == "merged"
    assert {r["target"] for r in merged["results"]} == {"deepseek", "llamacpp"}
    assert (out / "index.html").stat().st_size > 10_000 and (out / "matrix.md").exists()
    assert "index.html" in capsys.readouterr().out


def test_cli_fail_on_regression(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    out = str(tmp_path / "site")
    args = [
        "report",
        str(files["deepseek_worse"]),
        str(files["llamacpp"]),
        "-o",
        out,
        "--previous",
        str(files["base"]),
    ]
    assert main(args) == 0  # drift reported, but no gate asked for
    assert main([*args, "--fail-on-regression"]) == 1
    err = capsys.readouterr().err
    assert "regression: deepseek content.tool_result.is_error: honored (pass) -> ignored" in err
    # An improvement alone does not fail the gate.
    assert (
        main(
            [
                "report",
                str(files["better"]),
                "-o",
                out,
                "--previous",
                str(files["base"]),
                "--fail-on-regression",
            ]
        )
        == 0
    )
    # Nor does the absence of a previous run.
    assert main(["report", str(files["base"]), "-o", out, "--fail-on-regression"]) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (
            "{not json",
            "not valid JSON (Expecting property name enclosed in double quotes at "
            "line 1, column 2)",
        ),
        (
            '{"schema_version": 1, "run": {}, "results": []}',
            "not a valid results file: 'suite_version' is a required property (at $.run)",
        ),
        (
            "bad-outcome",
            "not a valid results file: 'great' is not one of ['pass', 'fail', "
            "'inconclusive', 'error'] (at $.results[3].outcome)",
        ),
        ("", "not valid JSON"),
    ],
)
def test_cli_bad_input(
    content: str | None, expected: str, files: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    bad = tmp_path / "bad.json"
    if content == "bad-outcome":
        doc = json.loads(files["base"].read_text())
        doc["results"][3]["outcome"] = "great"
        content = json.dumps(doc)
    if content is not None:
        bad.write_text(content)
    code = main(["report", str(files["deepseek"]), str(bad), "-o", str(tmp_path / "o")])
    assert code == 4  # a usage error (conformance/exitcodes.py)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"conformance report: error: {bad}: {expected}")
    assert not (tmp_path / "o" / "index.html").exists()


def test_cli_bad_previous_and_usage(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    missing = tmp_path / "nope.json"
    assert (
        main(["report", str(files["base"]), "-o", str(tmp_path), "--previous", str(missing)]) == 4
    )
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert main([]) == 4
    assert main(["report"]) == 4
    assert main(["--help"]) == 0


def test_cli_subprocess(files: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    out = tmp_path / "site"
    cmd = [
        sys.executable,
        "-m",
        "conformance",
        "report",
        str(files["deepseek_worse"]),
        str(files["llamacpp"]),
        "-o",
        str(out),
        "--previous",
        str(files["base"]),
        "--fail-on-regression",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert (out / "index.html").exists() and (out / "drift.json").exists()
    bad = write_json(tmp_path / "bad.json", {"schema_version": 2})
    proc = subprocess.run(
        [*cmd[:4], str(bad)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 4
    assert proc.stderr.startswith(f"conformance report: error: {bad}: not a valid results file")
    assert "Traceback" not in proc.stderr


def test_provenance_names_the_installed_software_where_no_header_did() -> None:
    from conformance.report.provenance import server_text

    assert server_text({"server": {"server": ["llama.cpp"]}}) == "llama.cpp (sent no version)"
    assert server_text({"server": {}}) is None
    text = server_text({"server": {}, "software": {"claude-code-router": "2.0.0"}})
    assert text == "installed: claude-code-router 2.0.0"


def test_page_and_matrix_md_open_with_the_same_scoreboard(tmp_path: Path) -> None:
    """Issue 26: one line a target at the top of the page and of matrix.md, in the
    terminal's words, with the counts of the records' outcomes and expectation marks."""
    from reportdocs import make_doc

    from conformance.report import scoreboard

    doc = make_doc(("llamacpp", "litellm"))
    doc["results"][0]["outcome"], doc["results"][0]["observed"] = "error", "error"
    first = next(r for r in doc["results"] if r["outcome"] == "fail")
    first["expectation"] = "known"
    paths = write_report(doc, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    md = (tmp_path / "matrix.md").read_text(encoding="utf-8")
    assert page.index('id="scoreboard"') < page.index('id="matrix"')
    lines = md.splitlines()
    assert (
        lines[2] == "| Target | pass | known | NEW | stale | inconclusive | error | Claude Code |"
    )
    for score in scoreboard.scores(doc["results"]):
        counts = [score.counts[c] for c in scoreboard.COLUMNS]
        assert sum(counts) == sum(1 for r in doc["results"] if r["target"] == score.target)
        row = next(line for line in lines if line.startswith(f"| **{score.target}** | "))
        assert [c.strip("* ") for c in row.split("|")[2:-2]] == [str(n) for n in counts], row
        cells = re.search(rf'<tr data-target="{score.target}">(.*?)</tr>', page)
        assert cells is not None
        assert re.findall(r"<td[^>]*>(\d+)</td>", cells.group(1)) == [str(n) for n in counts]
    errors = sum(1 for r in doc["results"] if r["outcome"] == "error")
    assert sum(s.counts["error"] for s in scoreboard.scores(doc["results"])) == errors >= 1


def test_a_listing_into_a_pipe_that_closes_ends_quietly() -> None:
    """Issue 26: ``python -m conformance list cases | head`` ended in a BrokenPipeError."""
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m conformance list cases | head -n 2"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2, proc
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def _random_tree(rng: Any, depth: int = 0) -> Any:
    """A JSON-ish tree with what json.dumps treats specially: every scalar type, non-finite
    floats, keys that are not strings, tuples, empty containers, objects json cannot encode
    (given to ``default=str``), control and non-ASCII characters."""
    scalars = [
        None, True, False, 0, -7, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"),
        float("-inf"), "", "a\"b\\c", "\x00\x1b[2J\u202e\u2028", "caf\u00e9 \U0001f600",
        Path("/x"), b"raw", {1, 2},
    ]  # fmt: skip
    if depth > 4 or rng.random() < 0.3:
        return rng.choice(scalars)
    if rng.random() < 0.5:
        items = [_random_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
        return tuple(items) if rng.random() < 0.2 else items
    keys = ["k", "", "\n", 3, 2.5, True, False, None, float("nan")]
    return {rng.choice(keys): _random_tree(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_the_panels_json_shows_as_json_dumps_indent_2_character_for_character() -> None:
    """A panel's evidence is written compact and indented by the page's script when it
    opens (templates/indent.js): what it shows is what ``json.dumps(..., indent=2,
    ensure_ascii=False, default=str)`` writes, for every evidence value of a real results
    file and for 3,000 random trees, run through the script itself (Node.js). A block cut
    at the clip limit still shows, indented, up to the cut."""
    import random
    import shutil

    import conformance
    from conformance.report.panels import CLIP, json_pre

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js runs the page's indenter here; not installed")
    sample = json.loads((Path(__file__).parent / "data" / "results-sample.json").read_text())
    values = [r.get("evidence") for r in sample["results"]]
    values += [v for r in sample["results"] for v in (r.get("evidence") or {}).values()]
    rng = random.Random(23)
    values += [_random_tree(rng) for _ in range(3000)]
    assert len(values) > 3000
    shown = [html.unescape(re.sub(r"^<pre[^>]*>|</pre>$", "", json_pre(v))) for v in values]
    long = {"text": "x" * (CLIP + 50), "n": [1, 2]}
    shown.append(html.unescape(re.sub(r"^<pre[^>]*>|</pre>$", "", json_pre(long))))
    script = (Path(conformance.__file__).parent / "report" / "templates" / "indent.js").read_text()
    run = f"{script}\nconst input=require('fs').readFileSync(0,'utf8');"
    run += "process.stdout.write(JSON.stringify(JSON.parse(input).map(indentJSON)));"
    proc = subprocess.run(
        [node, "-e", run], input=json.dumps(shown), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    indented = json.loads(proc.stdout)
    expected = [json.dumps(v, indent=2, ensure_ascii=False, default=str) for v in values]
    differ = [
        (v, got)
        for v, got, want in zip(values, indented[: len(values)], expected, strict=True)
        if got != want
    ]
    assert differ == [], differ[:3]
    cut = len(json.dumps(long, ensure_ascii=False)) - CLIP
    assert f'data-cut="{cut}"' in json_pre(long)
    assert indented[-1].startswith('{\n  "text": "xxx') and len(indented[-1]) > CLIP
    with pytest.raises(TypeError):
        json_pre({(1, 2): "a tuple key"})


def test_one_scan_of_the_results_text_finds_every_credential_redact_would_blank() -> None:
    """write_report walks a document to redact it only when a scan of its JSON text finds a
    credential-named member (needs_redaction): over 3,000 random trees of credential names
    in any case (the Kelvin sign too), redacted and unredacted values, escaped quotes and
    values that are not strings, the scan finds every tree redact() changes; and a run's
    records with their redacted headers are not walked."""
    import random

    from conformance.report import needs_redaction, redact

    names = [
        "x-api-key",
        "X-Api-Key",
        "AUTHORIZATION",
        "cookie",
        "api_key",
        "Api-Key",
        "x-api-\u212aey",
        "set-cookie",
        "proxy-authorization",
        "x-apikey",
        "content",
    ]
    values = ["sk-live-1", "<redacted>", "Bearer <REDACTED>", 'a "quoted" redacted', 'x"y',
              "", 3, None, ["sk-live-2"], {"authorization": "Bearer sk-3"}]  # fmt: skip
    rng = random.Random(5)

    def tree(depth: int = 0) -> Any:
        if depth > 3 or rng.random() < 0.3:
            return rng.choice(values)
        if rng.random() < 0.4:
            return [tree(depth + 1) for _ in range(rng.randrange(3))]
        return {rng.choice(names): tree(depth + 1) for _ in range(rng.randrange(4))}

    changed = 0
    for _ in range(3000):
        t = tree()
        if redact(t) != t:
            changed += 1
            assert needs_redaction(json.dumps(t, ensure_ascii=False)), t
    assert changed > 300, changed
    sample = json.loads((Path(__file__).parent / "data" / "results-sample.json").read_text())
    clean = redact(sample)
    assert not needs_redaction(json.dumps(clean, ensure_ascii=False))


def test_declared_and_drift_files_hold_their_data_an_item_to_a_line() -> None:
    """declared.json and drift.json are written by json's C encoder a line per item: they
    read back as the same data, and a change to one item changes one line."""
    from conformance.report import dumps_by_line

    declared = {"profiles": {"a": {"x": 1}, "b": {"y": "\u00e9"}}, "rows": [[1], [2]], "n": 3}
    drift_rows = [{"id": "a", "from": "pass", "to": "fail"}, {"id": "b", "to": None}]
    for value in (declared, drift_rows, {}, [], {"empty": {}, "none": []}):
        text = dumps_by_line(value)
        assert json.loads(text) == value and text.endswith("\n"), text
    lines = dumps_by_line(declared).splitlines()
    assert '"a": {"x": 1},' in lines and '"b": {"y": "\u00e9"}' in lines, lines
    assert dumps_by_line(drift_rows).splitlines()[1] == '{"id": "a", "from": "pass", "to": "fail"},'


def test_a_run_s_own_records_are_escaped_once_and_the_rest_of_them_still(tmp_path: Path) -> None:
    """``write_report(..., judged_here=True)`` (the plugin's call) leaves each record's
    evidence and message as the runner escaped them and escapes everything else: a control
    character in a declaration, a target's name or a key of the run still comes out escaped;
    a clean document gives the same files either way."""
    doc = make_doc(["deepseek", "llamacpp"])
    clean = {flag: tmp_path / f"clean-{flag}" for flag in (False, True)}
    for flag, out in clean.items():
        write_report(copy.deepcopy(doc), out, judged_here=flag)
    for name in ("results.json", "matrix.md"):
        assert (clean[True] / name).read_text() == (clean[False] / name).read_text(), name
    rec = record(doc, "llamacpp", "fields.top_k")
    rec["declared"]["says"] = "Supported\x1b[2K\u202e"
    rec["row"] = "top_k\x07"
    doc["run"]["targets"][0]["model"] = "m\x1b[1A"
    write_report(copy.deepcopy(doc), tmp_path / "dirty", judged_here=True)
    for name in ("results.json", "matrix.md", "index.html"):
        text = (tmp_path / "dirty" / name).read_text()
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text, name
    kept = json.loads((tmp_path / "dirty" / "results.json").read_text())
    got = record(kept, "llamacpp", "fields.top_k")
    assert got["declared"]["says"] == "Supported\\x1b[2K\\u202e" and got["row"] == "top_k\\x07"
    assert list(got) == list(rec), "the record's fields keep their order"


def test_the_page_escaper_treats_every_kind_of_value_as_html_escape_of_its_text() -> None:
    """e() takes a fast way for strings with nothing to escape and for numbers; every value
    comes out as html.escape(str(value)) (None as nothing)."""
    from conformance.report.panels import e

    class Odd(str):
        def __str__(self) -> str:
            return "<odd & 'x'>"

    values = ["plain", "", "a<b", 'q"', "it's", "&amp;", 0, -3, 2**70, True, False, 1.5,
              float("nan"), Odd("shown as itself"), ["<li>"], {"k": "&"}]  # fmt: skip
    for value in values:
        assert e(value) == html.escape(str(value), quote=True), value
    assert e(None) == ""


def test_the_page_and_results_written_in_pieces_are_the_joined_text(tmp_path: Path) -> None:
    """write_report writes index.html and results.json as their pieces, never one string:
    the files are exactly ``render`` and the joined ``dumps_results_parts`` of the same
    view and document (an astral character and a credential in a record among them); a
    scan of the pieces finds a credential where a scan of the joined text does; and the
    page's template is filled as ``string.Template.substitute`` fills it, ``$$``,
    ``${name}`` and errors too."""
    from string import Template

    from conformance.report import html as html_writer
    from conformance.report import needs_redaction
    from conformance.report.assets import asset, fill
    from conformance.report.model import build_view
    from conformance.results import dumps_results_parts

    doc = make_doc(["deepseek", "llamacpp"])
    record(doc, "llamacpp", "fields.top_k")["message"] = "clap \U0001f44f \u2014 done"
    paths = write_report(copy.deepcopy(doc), tmp_path / "out")
    written = json.loads(paths["results"].read_text())
    assert paths["results"].read_text() == "".join(dumps_results_parts(written))
    view = build_view(written, None, None, None)
    assert paths["html"].read_text() == html_writer.render(view)
    assert "\U0001f44f" in paths["html"].read_text()

    leaked = copy.deepcopy(doc)
    rec = record(leaked, "deepseek", "fields.top_k")
    rec["evidence"] = {"requests": [{"headers": {"x-api-key": "sk-live-123"}}]}
    for d in (doc, leaked):
        parts = dumps_results_parts(d)
        assert any(map(needs_redaction, parts)) == needs_redaction("".join(parts))
    assert any(map(needs_redaction, dumps_results_parts(leaked)))
    assert "sk-live-123" not in (write_report(leaked, tmp_path / "leak")["results"]).read_text()

    values = {"a": "1", "b": ["x", "y"], "c": "$3"}
    for template in ("$a and ${b}: $$c, $c.", "no placeholder", "$a$b", "", "$$"):
        want = Template(template).substitute({k: "".join(v) for k, v in values.items()})
        assert "".join(fill(template, values)) == want, template
    with pytest.raises(KeyError):
        fill("$missing", values)
    with pytest.raises(ValueError):
        fill("a $ b", values)
    page = asset("page.html")
    names = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(page)}
    values = {name: f"<{name}>" for name in names if name}
    assert "".join(fill(page, values)) == Template(page).substitute(values)
