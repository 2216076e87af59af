"""Driving real clients (Claude Code from npm, the ``anthropic`` Python SDK) through the
capture proxy, and writing their request shapes: ``python -m conformance capture``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from conformance.capture.proxy import TOOLS_DIR, CannedToolUse, CaptureProxy
from conformance.shapes import SHAPES_DIR, extract_shape, shape_filename, write_shape

FAKE_KEY = "sk-ant-capture-0000000000000000"  # what the clients send; never reaches upstream
CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
NODE_DIR = TOOLS_DIR / "node"
CAPTURES_DIR = TOOLS_DIR / "captures"  # raw captures: the clients' own prompts, never committed
SDK_MODEL = "claude-opus-4-8"


class CaptureError(RuntimeError):
    """A capture could not be made; the message says what to do."""


def _messages_posts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["method"] == "POST" and r["path"] == "/v1/messages" and isinstance(r["body"], dict)
    ]


def _has_block(record: dict[str, Any], kind: str) -> bool:
    for m in record["body"].get("messages") or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == kind for b in content
        ):
            return True
    return False


def main_request(records: list[dict[str, Any]], *, with_block: str | None = None) -> dict[str, Any]:
    """The client's main-loop request: it carries tools (side requests such as titles do not)."""
    posts = _messages_posts(records)
    if with_block:
        posts = [r for r in posts if _has_block(r, with_block)]
    main = [r for r in posts if r["body"].get("tools")] or posts
    if not main:
        seen = ", ".join(f"{r['method']} {r['path']}" for r in records) or "nothing"
        want = f" with a {with_block} block" if with_block else ""
        raise CaptureError(f"no POST /v1/messages{want} was captured (saw: {seen})")
    return main[0]


def install_claude_code(version: str = "latest", node_dir: Path = NODE_DIR) -> Path:
    """``npm install @anthropic-ai/claude-code@<version>`` in a tool dir outside the repo.

    Run on every capture, so a new release is picked up by the same command (npm does
    nothing when that version is already there). Returns the ``claude`` binary.
    """
    if not shutil.which("npm"):
        raise CaptureError("npm not found: install Node.js and npm (apt-get install nodejs npm)")
    node_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{CLAUDE_PACKAGE}@{version}"
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--save-exact", spec],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise CaptureError(f"npm install {spec} failed: {(done.stderr or done.stdout)[-400:]}")
    return claude_binary(node_dir)


def claude_binary(node_dir: Path = NODE_DIR) -> Path:
    binary = node_dir / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        raise CaptureError(f"{binary} not found; run: npm install {CLAUDE_PACKAGE} in {node_dir}")
    return binary


def _run_claude(
    binary: Path,
    args: list[str],
    *,
    proxy: CaptureProxy,
    home: Path,
    cwd: Path,
    timeout: float,
    settings: dict[str, str] | None = None,
) -> str:
    """One ``claude -p`` run against the proxy in a throwaway HOME; returns its output tail.

    ``settings`` are Claude Code's own environment settings, set on top of the capture's.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        **(settings or {}),
    }
    proc = subprocess.Popen(
        [str(binary), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)  # only the group this call started
        out, _ = proc.communicate()
        out = f"(stopped after {timeout:.0f}s) {out}"
    return (out or "")[-600:]


def capture_claude_code(
    proxy_args: dict[str, Any],
    raw_dir: Path,
    *,
    binary: Path,
    timeout: float = 300.0,
    settings: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Three turns of Claude Code in print mode: first, tool round trip, streamed follow-up.

    ``settings`` (Claude Code environment settings) are on for every turn.

    Claude Code streams every turn, so the follow-up turn (``--continue``: history with an
    assistant answer) is the streaming shape. For the tool round trip the proxy answers the
    first main-loop request with a canned ``Read`` call, so the next request carries the
    ``tool_result`` whatever the upstream model can do.
    """
    work = Path(tempfile.mkdtemp(prefix="capture-cc-"))
    home, cwd = work / "home", work / "project"
    home.mkdir()
    cwd.mkdir()
    (cwd / "notes.txt").write_text("The capture worked.\n")
    turns: dict[str, dict[str, Any]] = {}
    run: dict[str, Any] = {"home": home, "cwd": cwd, "timeout": timeout, "settings": settings}
    try:
        with CaptureProxy(log=raw_dir / "first.jsonl", **proxy_args) as proxy:
            tail = _run_claude(
                binary,
                ["-p", "Say hello.", "--output-format", "json"],
                proxy=proxy,
                **run,
            )
            turns["first"] = main_request(_require(proxy, tail))
        with CaptureProxy(log=raw_dir / "stream.jsonl", **proxy_args) as proxy:
            tail = _run_claude(
                binary,
                [
                    "-p",
                    "--continue",
                    "Now say goodbye.",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                ],
                proxy=proxy,
                **run,
            )
            turns["stream"] = main_request(_require(proxy, tail))
        canned = CannedToolUse("Read", {"file_path": str(cwd / "notes.txt")})
        with CaptureProxy(
            log=raw_dir / "tool-round-trip.jsonl", canned=[canned], **proxy_args
        ) as proxy:
            tail = _run_claude(
                binary,
                [
                    "-p",
                    "Read notes.txt and tell me what it says.",
                    "--output-format",
                    "json",
                    "--allowedTools",
                    "Read",
                    "--max-turns",
                    "3",
                ],
                proxy=proxy,
                **run,
            )
            turns["tool-round-trip"] = main_request(_require(proxy, tail), with_block="tool_result")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return turns


def _require(proxy: CaptureProxy, tail: str) -> list[dict[str, Any]]:
    if not _messages_posts(proxy.records):
        raise CaptureError(f"the client sent no POST /v1/messages; its output ends: {tail}")
    return proxy.records


def capture_sdk(proxy_args: dict[str, Any], raw_dir: Path) -> dict[str, dict[str, Any]]:
    """The installed ``anthropic`` Python SDK with its defaults: a turn, a tool round trip, a
    stream. Its defaults are the point (auth scheme, ``anthropic-version``), so nothing is set
    but the base URL and a fake key; retries are off so a failure shows once.
    """
    try:
        import anthropic
    except ImportError as exc:
        raise CaptureError("the anthropic SDK is not installed (pip install -e '.[sdk]')") from exc
    user = [{"role": "user", "content": "Say hello."}]
    tool = {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    }
    turns: dict[str, dict[str, Any]] = {}
    with CaptureProxy(log=raw_dir / "defaults.jsonl", **proxy_args) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=user)
        turns["defaults"] = main_request(proxy.records)
    with CaptureProxy(log=raw_dir / "stream.jsonl", **proxy_args) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        with c.messages.stream(model=SDK_MODEL, max_tokens=1024, messages=user) as s:
            s.get_final_message()
        turns["stream"] = main_request(proxy.records)
    canned = CannedToolUse("get_weather", {"city": "Paris"})
    with CaptureProxy(
        log=raw_dir / "tool-round-trip.jsonl", canned=[canned], **proxy_args
    ) as proxy:
        c = anthropic.Anthropic(base_url=proxy.url, api_key=FAKE_KEY, max_retries=0)
        ask = [{"role": "user", "content": "What is the weather in Paris?"}]
        first = c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=ask, tools=[tool])
        call = next(b for b in first.content if b.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C."}
        history = [
            *ask,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            },
            {"role": "user", "content": [result]},
        ]
        c.messages.create(model=SDK_MODEL, max_tokens=1024, messages=history, tools=[tool])
        turns["tool-round-trip"] = main_request(proxy.records, with_block="tool_result")
    return turns


def run_capture(
    client: str,
    *,
    upstream: str,
    upstream_key: str | None,
    upstream_model: str | None,
    shapes_dir: Path = SHAPES_DIR,
    raw_root: Path = CAPTURES_DIR,
    timeout: float = 300.0,
    node_dir: Path = NODE_DIR,
    client_version: str | None = "latest",
    cases_file: Path | None = None,
    settings: dict[str, str] | None = None,
    turns_wanted: list[str] | None = None,
) -> list[Path]:
    """Capture ``client`` (``claude-code`` or ``sdk``) through the proxy; write its shapes.

    ``settings``: Claude Code environment settings to turn on (``VAR: value``). Such shapes
    are named ``...-<turn>.with-<settings>.json`` and kept beside the default ones, so the
    workaround a row names is checked against what the client really sends with it on.
    ``turns_wanted``: write only these turns' shapes (all are still run: one continues another).

    Raw captures go to ``raw_root`` (outside the repo: they hold the clients' own prompts);
    shape files, named ``<client>-<version>-<turn>.json``, go to ``shapes_dir``. Claude Code
    is first installed at ``client_version`` (None: use the one installed); the SDK is the
    one this interpreter imports. Then the rows of ``cases_file`` that use an older shape of
    the same client and turn are pointed at the new one (see :func:`retarget_cases`).
    """
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = Path(raw_root) / f"{client}-{stamp}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    proxy_args = {
        "upstream": upstream,
        "upstream_key": upstream_key,
        "upstream_model": upstream_model,
    }
    if client == "claude-code":
        binary = (
            install_claude_code(client_version, node_dir)
            if client_version
            else claude_binary(node_dir)
        )
        turns = capture_claude_code(
            proxy_args, raw_dir, binary=binary, timeout=timeout, settings=settings
        )
        how = "claude -p (print mode) through python -m conformance capture claude-code"
        if settings:
            how += " with " + " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    elif settings:
        raise CaptureError("--setting is for claude-code (the SDK has no environment settings)")
    elif client == "sdk":
        turns = capture_sdk(proxy_args, raw_dir)
        how = "anthropic Python SDK defaults through python -m conformance capture sdk"
    else:
        raise CaptureError(f"unknown client {client!r}; known: claude-code, sdk")
    unknown = sorted(set(turns_wanted or []) - set(turns))
    if unknown:
        raise CaptureError(f"unknown turn(s) {', '.join(unknown)}; known: {', '.join(turns)}")
    paths, shapes = [], []
    for turn, record in turns.items():
        if turns_wanted and turn not in turns_wanted:
            continue
        shape = extract_shape(record, turn=turn, how=how, settings=settings)
        shapes.append(shape)
        paths.append(write_shape(shape, shapes_dir))
    if cases_file is not None and Path(cases_file).exists():
        retarget_cases(Path(cases_file), shapes)
    return paths


CLIENT_TITLES = {"claude-code": "Claude Code", "sdk-python": "SDK (Python)"}


def retarget_cases(cases_file: Path, shapes: list[dict[str, Any]]) -> list[str]:
    """Point rows at the new shapes: in each row that uses ``shapes/<client>-<old>-<turn>.json``
    that path and the version in the row's title (``Claude Code <old>``) become the new
    version's. A text edit, row by row, so the file keeps its comments and layout; returns
    the replacements made.
    """
    rows = re.split(r"(?m)^(?=\s*- )", cases_file.read_text())
    done = []
    for shape in shapes:
        client, version, turn = shape["client"], shape["version"], shape["turn"]
        tail = shape_filename(shape)[len(f"{client}-{version}-") :]  # first.json, first.with-…
        pattern = re.compile(rf"shapes/{re.escape(client)}-([0-9][\w.+-]*?)-{re.escape(tail)}")
        title = CLIENT_TITLES.get(client, client)
        for i, row in enumerate(rows):
            m = pattern.search(row)
            if not m or m.group(1) == version:
                continue
            old = m.group(1)
            row = row.replace(m.group(0), f"shapes/{shape_filename(shape)}")
            rows[i] = row.replace(f"{title} {old} ", f"{title} {version} ")
            done.append(f"{client} {turn}: {old} → {version}")
    cases_file.write_text("".join(rows))
    return done
