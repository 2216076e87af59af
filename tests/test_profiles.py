"""Provider profiles and targets: every one loads, every declaration is sourced and maps to a
status, the report shows every provider's declared column before anything is run, and the
two dated DeepSeek profiles show what changed between them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import cases, oracles, targets
from conformance.__main__ import main
from conformance.report import declared_matrix, render_html, render_markdown, write_report
from conformance.results import (
    Declared,
    Observed,
    Result,
    RunInfo,
    build_document,
    decide_outcome,
    validate_results,
)
from conformance.yamlfile import InputError, load

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "cases"
PROVIDERS = {
    "anthropic", "deepseek", "deepseek-2026", "moonshot", "zai", "minimax", "openrouter",
    "ollama", "vllm", "llamacpp", "litellm", "lmstudio",
}  # fmt: skip
# target -> the variable its key comes from (the live-mode error names it)
KEY_VARS = {
    "moonshot": "MOONSHOT_API_KEY",
    "zai": "ZAI_API_KEY",
    "minimax": "MINIMAX_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "ollama": "OLLAMA_API_KEY",
    "vllm": "VLLM_API_KEY",
    "lmstudio": "LM_API_TOKEN",
    "deepseek-2026": "DEEPSEEK_API_KEY",
}
LOOPBACK = {"ollama": 11434, "vllm": 8000, "lmstudio": 1234}
DATE = re.compile(r"\b20\d\d-\d\d(-\d\d)?\b")


def load_repo() -> tuple[list[cases.Case], dict[str, cases.Profile]]:
    return cases.load_all(CASES, set(oracles.ORACLES))


# --------------------------------------------------------------------------- loading


def test_every_profile_and_target_loads_and_validates() -> None:
    _, profiles = load_repo()
    assert len(profiles) >= 11
    assert set(profiles) >= PROVIDERS
    names = targets.available(CASES / "targets")
    assert set(names) >= PROVIDERS
    for name in names:
        target = targets.load_target(CASES / "targets" / f"{name}.yaml")
        assert target.profile in profiles, f"target {name}: unknown profile {target.profile}"
        assert target.auth in ("x-api-key", "bearer", "none")
        assert target.api_key_env, f"target {name} names no key variable"
        assert target.headers.get("anthropic-version") == "2023-06-01"
    for name, port in LOOPBACK.items():
        target = targets.load_target(CASES / "targets" / f"{name}.yaml")
        assert target.base_url == f"http://127.0.0.1:{port}", name
    assert profiles["deepseek-2026"].supersedes == "deepseek"
    # The two DeepSeek targets hit one endpoint, each against its own dated profile.
    old, new = targets.resolve(["deepseek", "deepseek-2026"], CASES / "targets")
    assert old.base_url == new.base_url and (old.profile, new.profile) == (
        "deepseek",
        "deepseek-2026",
    )


def test_every_profile_has_a_source_url_and_a_read_date() -> None:
    _, profiles = load_repo()
    for prof in profiles.values():
        assert prof.source["url"].startswith("https://"), prof.name
        assert DATE.search(prof.source["read"]), f"{prof.name}: no date in {prof.source['read']!r}"


def test_every_declaration_names_a_known_profile_and_maps_to_a_status() -> None:
    loaded, profiles = load_repo()
    seen: set[str] = set()
    for case in loaded:
        for prof_name, decl in case.declared.items():
            assert prof_name in profiles, f"{case.where}: unknown profile {prof_name}"
            seen.add(prof_name)
            words = decl if isinstance(decl, str) else decl.get("says")
            status = None if isinstance(decl, str) else decl.get("status")
            if status is None:
                mapped = profiles[prof_name].status_of(words)
                assert mapped is not None, f"{case.where}: {prof_name} says {words!r}"
                status = mapped.value
            assert status in {d.value for d in Declared}
    # Every provider with something to declare declares it in the case files.
    assert seen >= PROVIDERS - {"moonshot"}
    for prof in profiles.values():
        for status in prof.vocabulary.values():
            assert status in {d.value for d in Declared}


def test_every_declared_value_resolves_to_a_source_with_url_and_date() -> None:
    loaded, profiles = load_repo()
    for case in loaded:
        for prof_name in profiles:
            decl = cases.declared_for(case, prof_name, profiles)
            assert decl["status"] in {d.value for d in Declared}
            source = decl.get("source")
            assert source and source.get("url") and source.get("read"), (case.id, prof_name)
            assert DATE.search(source["read"]), (case.id, prof_name, source)
            if decl["status"] != "undocumented":
                assert decl["says"], (case.id, prof_name)


def test_vendor_words_are_the_vendors() -> None:
    loaded, profiles = load_repo()
    by_id = {c.id: c for c in loaded}

    def says(case_id: str, prof: str) -> tuple[str, str | None]:
        d = cases.declared_for(by_id[case_id], prof, profiles)
        return d["status"], d["says"]

    assert says("fields.top_k", "minimax") == ("ignored", "Ignored")
    assert says("fields.stop_sequences", "minimax") == ("ignored", "Ignored")
    assert says("fields.temperature.range", "minimax")[0] == "rejected"
    assert says("fields.metadata", "ollama") == ("unsupported", "Not supported")
    assert says("tool_choice.any", "ollama")[0] == "unsupported"
    assert says("headers.x-api-key", "ollama")[0] == "ignored"
    assert says("fields.metadata", "deepseek") == ("ignored", "Ignored")
    assert says("fields.metadata", "deepseek-2026") == (
        "honored",
        "user_id is supported, others are ignored",
    )
    # No table, nothing implied: undocumented, with what users reported kept as a note.
    temp = cases.declared_for(by_id["fields.temperature"], "moonshot", profiles)
    assert temp["status"] == "undocumented" and "0.6" in temp["note"]
    # "Anthropic-compatible" with no table: the Anthropic row, marked implied.
    implied = cases.declared_for(by_id["fields.top_k"], "vllm", profiles)
    assert implied["implied"] and implied["status"] == "honored"
    # A reported contradiction stays a note beside the declaration as published.
    any_ = cases.declared_for(by_id["tool_choice.any"], "deepseek-2026", profiles)
    assert any_["status"] == "honored" and "Thinking mode" in any_["note"]


def test_every_seed_row_is_declared_by_the_later_deepseek_page() -> None:
    loaded, _ = load_repo()
    for case in loaded:
        if "deepseek" in case.declared and case.declared["deepseek"] != "undocumented":
            assert "deepseek-2026" in case.declared, case.id


def test_extras_rows_use_existing_oracles_and_cheap_probes() -> None:
    loaded, _ = load_repo()
    extras = [c for c in loaded if c.file and c.file.name == "extras.yaml"]
    assert len(extras) >= 11
    ids = {c.id for c in extras}
    for beta in (
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "context-management-2025-06-27",
        "effort-2025-11-24",
    ):
        assert f"extras.anthropic-beta.{beta}" in ids
    assert {"extras.anthropic-version.2023-06-01", "extras.anthropic-version.2026-10-21"} <= ids
    for case in extras:
        assert case.id.startswith("extras.")
        assert case.oracle in oracles.ORACLES
        if case.id == "extras.max_tokens.above_limit":  # the value under test; a stop bounds it
            assert case.probe["stop_sequences"] and case.probe["temperature"] == 0
        else:
            assert case.probe.get("max_tokens", 16) <= 64
        assert "anthropic" in case.declared
        if case.oracle == "validation":
            assert case.params["mode"] == "accept" and len(case.params["valid"]) == 1
    query = next(c for c in extras if c.id == "extras.beta_query")
    assert query.params["valid"][0]["path"] == "/v1/messages?beta=true"


def write_cases(tmp_path: Path) -> Path:
    out = tmp_path / "cases"
    shutil.copytree(CASES, out)
    return out


def test_profile_notes_and_supersedes_are_checked(tmp_path: Path) -> None:
    cases_dir = write_cases(tmp_path)
    path = cases_dir / "profiles" / "moonshot.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["notes"]["fields.no_such_row"] = "x"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(InputError, match=r"fields\.no_such_row"):
        cases.load_all(cases_dir, set(oracles.ORACLES))
    doc["notes"].pop("fields.no_such_row")
    doc["supersedes"] = "kimi-1999"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(InputError, match="supersedes unknown profile 'kimi-1999'"):
        cases.load_all(cases_dir, set(oracles.ORACLES))


# --------------------------------------------------------------------------- live mode


@pytest.mark.parametrize("target", sorted(KEY_VARS))
def test_live_without_a_key_names_the_variable(target: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS.values()}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", target, "--mode", "live",
         "-p", "no:cacheprovider", f"--report-dir={tmp_path}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert KEY_VARS[target] in lines[0] and target in lines[0]


# --------------------------------------------------------------------------- the report


def run_doc(target: str = "llamacpp") -> dict[str, Any]:
    """A small real-looking run: two rows of one target, nothing else."""
    loaded, profiles = load_repo()
    by_id = {c.id: c for c in loaded}
    records = []
    for case_id, observed in (
        ("fields.top_k", Observed.IGNORED),
        ("fields.stream", Observed.HONORED),
    ):
        declared = cases.declared_for(by_id[case_id], target, profiles)
        outcome, reason = decide_outcome(Declared(declared["status"]), observed)
        case = by_id[case_id]
        records.append(
            Result(
                id=case.id, target=target, table=case.table, row=case.row,
                variant=case.variant, declared=declared, observed=observed.value,
                outcome=outcome.value, evidence={"requests": []}, message=reason,
            )
        )  # fmt: skip
    run = RunInfo(
        suite_version="0.1.0",
        mode="replay",
        targets=[{"name": target, "base_url_host": "127.0.0.1:8088", "model": "smollm2",
                  "profile": target}],
        started="2026-11-26T19:00:00Z",
        finished="2026-11-26T19:01:00Z",
        complete=True,
    )  # fmt: skip
    return build_document(run, records)


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.heads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-case" in a:
            self.cells[(a["data-target"], a["data-case"])] = a
        if tag == "th" and "data-target" in a and a.get("scope") == "col":
            self.heads.append(a["data-target"])


def test_declared_matrix_has_every_target_row_and_the_deepseek_changes() -> None:
    declared = declared_matrix(CASES)
    columns = [c["name"] for c in declared["columns"]]
    assert set(columns) >= PROVIDERS
    loaded, _ = load_repo()
    assert [r["id"] for r in declared["rows"]] == [c.id for c in loaded]
    for row in declared["rows"]:
        assert set(row["declared"]) == set(columns)
    (change,) = [c for c in declared["changes"] if c["to"] == "deepseek-2026"]
    assert change["from"] == "deepseek"
    rows = {r["id"]: r for r in change["rows"]}
    assert rows["fields.metadata"]["before"] == {"status": "ignored", "says": "Ignored"}
    assert rows["fields.metadata"]["after"]["status"] == "honored"
    assert "deepseek-v4-pro" in rows["extras.model.claude-opus-4-1"]["after"]["says"]
    assert "deepseek-chat" in rows["extras.model.claude-opus-4-1"]["before"]["says"]
    assert "fields.top_k" not in rows  # unchanged rows are not listed
    json.dumps(declared)  # plain data: it is written as declared.json


def test_declared_only_columns_render_in_html() -> None:
    doc = run_doc()
    declared = declared_matrix(CASES)
    page = render_html(doc, declared=declared)
    parser = Cells()
    parser.feed(page)
    assert parser.heads[0] == "llamacpp" and set(parser.heads) >= PROVIDERS
    # Observed cells keep their outcome; every other cell is declared only, and looks it.
    observed = parser.cells[("llamacpp", "fields.top_k")]
    assert observed["data-outcome"] in ("pass", "fail") and "o-declared" not in observed["class"]
    cell = parser.cells[("minimax", "fields.top_k")]
    assert cell["class"] == "cell o-declared"
    assert (cell["data-outcome"], cell["data-declared"]) == ("not-run", "ignored")
    assert parser.cells[("llamacpp", "fields.max_tokens")]["data-outcome"] == "not-run"
    assert parser.cells[("moonshot", "fields.top_k")]["data-declared"] == "undocumented"
    n_rows = len(declared["rows"])
    assert len(parser.cells) == n_rows * len(parser.heads)
    # The panel of a declared-only cell shows the vendor's words and the source.
    assert "platform.minimax.io/docs/api-reference/text-anthropic-api" in page
    assert "not run · declared: X" in page  # legend
    assert "Declarations changed: deepseek → deepseek-2026" in page
    # Without declared, the page is what it was: observed records only.
    plain = Cells()
    plain.feed(render_html(doc))
    assert plain.heads == ["llamacpp"] and all(
        a["data-outcome"] != "not-run" for a in plain.cells.values()
    )


def test_declared_only_columns_render_in_markdown() -> None:
    doc = run_doc()
    md = render_markdown(doc, declared=declared_matrix(CASES))
    # The observed column alone in the matrix; the declared-only ones folded after it.
    main, folded = md.split("<details><summary>Declared only, not run: ", 1)
    header = next(ln for ln in main.splitlines() if ln.startswith("| Row |"))
    assert header == "| Row | **llamacpp** |"
    top_k = next(ln for ln in main.splitlines() if ln.startswith("| top_k |"))
    assert not top_k.split(" | ")[1].startswith("_")  # observed
    assert "_not run · declared honored\\*_" in main  # llamacpp rows this run skipped
    assert "| **minimax** | MiniMax-M3 | api.minimax.io | declared only (not run) | 0 |" in folded
    assert "| honored | ignored |" in folded and "**zai**" in folded
    assert "| Row |" not in folded.split("Declarations changed")[0]  # counts, not cells
    assert "### Declarations changed: deepseek → deepseek-2026" in md
    assert "| Simple Fields | metadata | ignored: “Ignored” | honored: " in md
    assert "### Beyond DeepSeek's table" in md


def test_write_report_keeps_declarations_out_of_results_json(tmp_path: Path) -> None:
    doc = run_doc()
    paths = write_report(doc, tmp_path, declared=declared_matrix(CASES))
    written = json.loads(paths["results"].read_text())
    validate_results(written)
    assert len(written["results"]) == 2 and [t["name"] for t in written["run"]["targets"]] == [
        "llamacpp"
    ]
    assert json.loads(paths["declared"].read_text())["changes"]
    assert "o-declared" in paths["html"].read_text()
    assert "declared only (not run)" in paths["markdown"].read_text()


def test_cli_report_with_declared(tmp_path: Path, capsys: Any) -> None:
    results = tmp_path / "in" / "results.json"
    write_report(run_doc(), results.parent)
    out = tmp_path / "out"
    assert main(["report", str(results), "-o", str(out), "--declared", str(CASES)]) == 0
    assert "declared:" in capsys.readouterr().out
    assert "Declarations changed" in (out / "matrix.md").read_text()
    assert main(["report", str(results), "-o", str(out), "--declared", str(tmp_path / "no")]) == 4
    assert "--declared" in capsys.readouterr().err
    broken = write_cases(tmp_path)
    (broken / "profiles" / "zai.yaml").write_text("name: zai\n")
    assert main(["report", str(results), "-o", str(out), "--declared", str(broken)]) == 4
    err = capsys.readouterr().err
    assert "zai.yaml" in err and len(err.strip().splitlines()) == 1


def test_every_profile_file_is_named_in_prose_not_copied() -> None:
    """Declarations quote the vendors' short status words, not whole passages."""
    for path in (CASES / "profiles").glob("*.yaml"):
        doc = load(path)
        for note in (doc.get("notes") or {}).values():
            assert len(note) < 500, (path.name, note[:60])


SHIPPED = sorted(p.parent.name for p in (REPO / "cassettes").glob("*/_provenance.yaml"))


def test_every_disagreement_of_the_shipped_targets_is_explained(tmp_path: Path) -> None:
    """Replaying the shipped cassettes, each row of every shipped target that contradicts its
    declaration must carry a note in that profile saying what the finding is."""
    out = tmp_path / "reports"
    subprocess.run(
        [sys.executable, "-m", "pytest", "--target", ",".join(SHIPPED), "-q",
         f"--report-dir={out}", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    doc = json.loads((out / "results.json").read_text())
    assert doc["run"]["complete"] and doc["run"]["mode"] == "replay"
    assert {"llamacpp", "litellm"} <= set(SHIPPED)
    unexplained = {}
    for target in SHIPPED:
        profile = yaml.safe_load((REPO / "cases/targets" / f"{target}.yaml").read_text())["profile"]
        notes = yaml.safe_load((REPO / "cases/profiles" / f"{profile}.yaml").read_text())["notes"]
        mine = [r for r in doc["results"] if r["target"] == target]
        fails = [r["id"] for r in mine if r["outcome"] == "fail"]
        assert fails, f"{target}: no failing row at all — were the cassettes replayed?"
        unexplained[target] = [cid for cid in fails if cid not in (notes or {})]
    assert unexplained == {t: [] for t in SHIPPED}
