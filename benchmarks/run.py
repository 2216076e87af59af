"""How fast and how cheap is a run? One command prints the figures side by side.

    python benchmarks/run.py                 # replay vs its floor, cost per run (~30-40 s)
    python benchmarks/run.py --live          # also live against the local llama-server
    python benchmarks/run.py --live-tools    # also the tool rows live, every local target
    python benchmarks/run.py --reps 5 --json bench.json

* replay: wall time of the whole suite served from the shipped cassettes, end to end
  (interpreter, pytest, collection, probes, report), in one process and with ``-n 2``; and
  the floor it is compared with: bare pytest start-up (``pytest --version``) and start-up
  plus loading every case file (``--collect-only``). Median of ``--reps`` runs, after one
  warm-up run that is not counted.
* live (``--live``): the same suite against the llama-server on 127.0.0.1:8088, once
  sequential (``-p no:xdist``) and once parallel (``-n 2``, the target's concurrency), plus
  the longest single case chain (max per-case ``duration_ms`` of the sequential run) and the
  sum of all case durations (the sequential work). Waits first until no other
  ``pytest --target`` process runs, since timing a loaded machine measures the load.
* cost: requests, input and output tokens per target for one full run, from results.json
  (the live runs' where there are any, else the replay run's, i.e. the recorded run's).
* tool rows (``tool_choice.*``, ``tools.*``, ``claude_code.tool_input.*``), per column: rows,
  requests and tokens from the replay (what the recording spent), and with ``--live-tools``
  one live run of just those rows against every local target that is up (``-n 2``): its
  wall time and each column's summed row time.

Figures only: there are no timing assertions and the exit code is always 0 (it runs in CI).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Every target with shipped cassettes (a folder with _provenance.yaml), replayed in one run.
REPLAY_TARGETS = ",".join(
    sorted(p.parent.name for p in (REPO / "cassettes").glob("*/_provenance.yaml"))
)
LIVE_TARGET = "llamacpp"
LIVE_URL = "http://127.0.0.1:8088"
LIVE_KEY_ENV = "LLAMACPP_API_KEY"
LIVE_KEY_DEFAULT = "sk-local-llamacpp"  # the local server's documented, fake key
# Where scripts/servers.py serves each local target (the target files say the same).
LOCAL_URLS = {
    "llamacpp": "http://127.0.0.1:8088",
    "llamacpp-tools": "http://127.0.0.1:8089",
    "litellm": "http://127.0.0.1:4000",
    "litellm-1-110": "http://127.0.0.1:4001",
    "claude-code-router": "http://127.0.0.1:3456",
    "claude-code-proxy": "http://127.0.0.1:8082",
}
# The local targets scripts/servers.py starts, with their documented fake keys.
LOCAL_KEYS = {
    "llamacpp": ("LLAMACPP_API_KEY", "sk-local-llamacpp"),
    "llamacpp-tools": ("LLAMACPP_API_KEY", "sk-local-llamacpp"),
    "litellm": ("LITELLM_MASTER_KEY", "sk-local-litellm"),
    "litellm-1-110": ("LITELLM_110_MASTER_KEY", "sk-local-lt110"),
    "claude-code-router": ("CCR_API_KEY", "sk-local-ccr"),
    "claude-code-proxy": ("CLAUDE_CODE_PROXY_API_KEY", "sk-local-ccproxy"),
}
# The registries' newest versions beside the pinned columns: measured only where their server
# answers (scripts/install_servers.sh carries on when the registry lacks a dependency).
NEWEST = {"litellm-1-110"}
# Issue targets, shown beside the figures (information, never an assertion).
REPLAY_MAX_S = 3.0
REPLAY_MAX_FLOOR_RATIO = 1.5
LIVE_MAX_CHAIN_RATIO = 1.5
OUTPUT_TOKEN_BUDGET = 25_000


# Where measured runs keep their bytecode (set by main to a folder in the scratch directory).
PYCACHE: dict[str, str] = {}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured run: no inherited pytest settings, so runs compare;
    and Python's bytecode cache on, as a default Python has it, kept in the scratch folder
    (``PYTHONPYCACHEPREFIX``): the warm-up run compiles, the measured runs load. A machine
    that sets ``PYTHONDONTWRITEBYTECODE`` (this one does) would otherwise recompile every
    module, and pytest re-rewrite its assertions, in every run measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYCACHE)
    env.update(extra or {})
    return env


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def timed(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, int, str]:
    """Wall seconds, exit code and the output's last lines of one run."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, -1, f"timed out after {timeout:.0f}s"
    wall = time.perf_counter() - started
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return wall, proc.returncode, tail


def load_doc(report_dir: Path) -> dict[str, Any] | None:
    path = report_dir / "results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def table(
    headers: list[str], rows: list[list[Any]], left: tuple[int, ...] = (0,), indent: str = "  "
) -> str:
    """A plain-text table: the ``left`` columns left-aligned, the (numeric) others right."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i in left else row[i].rjust(widths[i])
            for i in range(len(row))
        ]
        return (indent + "  ".join(parts)).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def fmt_s(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f}"


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


# --- machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = None
    with contextlib.suppress(OSError):
        load = round(os.getloadavg()[0], 2)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_1min": load,
        "inherited_dont_write_bytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    }


def other_runs() -> list[str]:
    """Command lines of other ``pytest --target`` processes (a live run skews timings)."""
    try:
        out = subprocess.run(
            ["pgrep", "-af", "pytest --target"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    me = {str(os.getpid())}
    return [ln for ln in out.splitlines() if ln.split(" ", 1)[0] not in me]


def wait_quiet(max_wait: float) -> list[str]:
    """Wait up to ``max_wait`` s until no other conformance run is going; return stragglers."""
    deadline = time.monotonic() + max_wait
    busy = other_runs()
    if busy:
        print(f"waiting (up to {max_wait:.0f} s) for {len(busy)} other `pytest --target` run(s)")
    while busy and time.monotonic() < deadline:
        time.sleep(5)
        busy = other_runs()
    return busy


# --- replay -------------------------------------------------------------------------------


def bench_replay(reps: int, scratch: Path) -> dict[str, Any]:
    """The shipped cassettes replayed, each measure ``reps`` times in turn (so load drifts
    alike over all of them). ``replay_1`` runs warm, with the official SDK's verdicts in a
    memo the warm-up run filled (what a second run on a machine sees); ``replay_cold`` runs
    without the memo, paying the SDK's import (what a fresh CI machine sees)."""
    memo = scratch / "sdk-memo"
    env = child_env({"ANTHROPIC_CONFORMANCE_CACHE": str(memo)})
    plans = {
        "startup": pytest_cmd("--version"),
        "floor": pytest_cmd("--target", REPLAY_TARGETS, "--collect-only", "-q"),
        "replay_1": None,  # built per repetition (own report dir)
        "replay_cold": None,
        "replay_n2": None,
    }
    times: dict[str, list[float]] = {k: [] for k in plans}
    codes: dict[str, set[int]] = {k: set() for k in plans}
    last_dir = scratch / "replay-1-last"
    for rep in range(reps + 1):  # repetition 0 warms caches (pyc, page cache); not counted
        for kind in plans:
            run_env = env
            if kind.startswith("replay"):
                out = scratch / f"{kind}-{rep}"
                xdist = ["-n", "2"] if kind == "replay_n2" else ["-p", "no:xdist"]
                cmd = pytest_cmd(
                    "--target", REPLAY_TARGETS, "--mode", "replay", "-q",
                    f"--report-dir={out}", *xdist,
                )  # fmt: skip
                if kind == "replay_1":
                    last_dir = out
                if kind == "replay_cold":
                    run_env = child_env({"ANTHROPIC_CONFORMANCE_CACHE": "off"})
            else:
                cmd = plans[kind] or []
            wall, code, tail = timed(cmd, run_env, timeout=300)
            if code not in (0, 1):
                print(f"  note: {kind} exited {code}: {tail}")
            if rep:
                times[kind].append(wall)
                codes[kind].add(code)
    return {
        "median_s": {k: statistics.median(v) if v else None for k, v in times.items()},
        "best_s": {k: min(v) if v else None for k, v in times.items()},
        "runs_s": times,
        "exit_codes": {k: sorted(v) for k, v in codes.items()},
        "doc": load_doc(last_dir),
    }


SCALES = (1, 5, 20)
# The per-row cost at 5 targets is a difference of two times of about a second each, over
# 555 rows: on this kind of machine a best of 3 leaves about a fifth of it to the machine's
# drift (three runs of one commit gave -26%, +13% and -17% from 5 to 20 targets), which is
# the whole band the bound allows. So the scaling runs take at least this many repetitions
# (five still left one run in three outside the band: -26%, +36%).
SCALING_REPS = 7


def scaled_copy(scratch: Path, count: int) -> tuple[Path, Path, list[str]]:
    """A cases and a cassettes folder holding ``count`` targets: the shipped ones, then
    copies of them under other names (``<name>-copy<k>``: the same target file, profile,
    expectations and cassettes, renamed), so replay work grows with the targets alone."""
    shipped = REPLAY_TARGETS.split(",")
    root = scratch / f"scale-{count}"
    cases, cassettes = root / "cases", root / "cassettes"
    shutil.copytree(REPO / "cases", cases)
    cassettes.mkdir(parents=True)
    names = []
    for k in range(count):
        base = shipped[k % len(shipped)]
        name = base if k < len(shipped) else f"{base}-copy{k // len(shipped)}"
        names.append(name)
        (cassettes / name).symlink_to(REPO / "cassettes" / base, target_is_directory=True)
        if name == base:
            continue
        for folder, key in (("targets", "name"), ("expectations", "target")):
            lines = (REPO / "cases" / folder / f"{base}.yaml").read_text().splitlines()
            lines = [f"{key}: {name}" if line == f"{key}: {base}" else line for line in lines]
            (cases / folder / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return cases, cassettes, names


def bench_scaling(reps: int, scratch: Path) -> list[dict[str, Any]]:
    """Replay (warm, one process) and its floor at 1, 5 and 20 targets, ``reps`` times.

    Every measure is taken once per repetition, in turn, as in :func:`bench_replay`: this
    machine's speed drifts over a minute by more than the 20% the per-row bound allows, and
    measuring one scale after the other would compare the drift. For the same reason the
    per-row cost is the median over the repetitions of each replay's time above the floor
    measured just before it (seconds apart, on the same machine state), not the
    best replay less the best floor, which may come from two different minutes; and the
    growth from 5 to 20 targets is the median of each repetition's own ratio (its 5- and
    20-target runs are seconds apart), not the ratio of two medians."""
    env = child_env({"ANTHROPIC_CONFORMANCE_CACHE": str(scratch / "sdk-memo")})
    plans = {}
    for count in SCALES:
        cases, cassettes, names = scaled_copy(scratch, count)
        where = ["--target", ",".join(names), f"--cases-dir={cases}", f"--cassette-dir={cassettes}"]
        plans[count] = where
    best: dict[int, dict[str, float]] = {count: {} for count in SCALES}
    above: dict[int, list[float]] = {count: [] for count in SCALES}
    rows = dict.fromkeys(SCALES, 0)
    for rep in range(reps + 1):  # repetition 0 warms caches; not counted
        for count, where in plans.items():
            report_dir = scratch / f"scale-{count}-report-{rep}"
            walls = {}
            for kind, extra in (
                ("floor", ["--collect-only", "-q"]),
                ("replay", ["--mode", "replay", "-q", "-p", "no:xdist",
                            f"--report-dir={report_dir}"]),
            ):  # fmt: skip
                wall, code, tail = timed(pytest_cmd(*where, *extra), env, 900)
                if code not in (0, 1):
                    print(f"  note: {count} targets, {kind} exited {code}: {tail}")
                walls[kind] = wall
                if rep:
                    best[count][kind] = min(best[count].get(kind, wall), wall)
            if rep:
                above[count].append(walls["replay"] - walls["floor"])
            doc = load_doc(report_dir)
            rows[count] = len(doc["results"]) if doc else rows[count]
    out = []
    for count in SCALES:
        n = rows[count]
        per_row = statistics.median(above[count]) / n * 1000 if n and above[count] else None
        out.append({
            "targets": count, "rows": n, "best_s": best[count], "per_row_ms": per_row,
            "above_floor_s": above[count], "reps": reps,
            "growth_vs_5": growth(above, rows, count),
        })  # fmt: skip
    return out


def growth(above: dict[int, list[float]], rows: dict[int, int], count: int) -> list[float]:
    """Each repetition's per-row cost above the floor at ``count`` targets over its own
    per-row cost at 5, less one (``+0.10``: a tenth more a row): paired within a repetition,
    so a slow minute slows both sides of a ratio alike."""
    if not rows.get(count) or not rows.get(5):
        return []
    return [
        (a / rows[count]) / (b / rows[5]) - 1
        for a, b in zip(above[count], above[5], strict=True)
        if b > 0
    ]


# --- live ---------------------------------------------------------------------------------


def server_up(url: str) -> str | None:
    """None if llama-server answers /health with 200, else why not."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
            return None if resp.status == 200 else f"/health answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"/health answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"not reachable ({getattr(exc, 'reason', exc)})"


def answers(url: str) -> bool:
    """Whether anything HTTP listens at ``url`` (any status: the translators' health paths and
    auth differ, and the run itself reports a server that answers badly)."""
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def chain(doc: dict[str, Any] | None) -> dict[str, Any]:
    records = (doc or {}).get("results") or []
    if not records:
        return {"longest_s": None, "longest_case": None, "sum_s": None}
    longest = max(records, key=lambda r: r.get("duration_ms", 0))
    return {
        "longest_s": longest.get("duration_ms", 0) / 1000,
        "longest_case": longest["id"],
        "sum_s": sum(r.get("duration_ms", 0) for r in records) / 1000,
    }


def live_run(name: str, scratch: Path, timeout: float, env: dict[str, str], *args: str) -> dict:
    """One live run of the suite (``args`` name targets, URL, xdist), its wall time and doc."""
    report = scratch / f"live-{name}"
    cmd = pytest_cmd("--mode", "live", "-q", f"--report-dir={report}", *args)
    print(f"live {name} run ({' '.join(cmd[3:])}) ...", flush=True)
    wall, code, tail = timed(cmd, env, timeout=timeout)
    doc = load_doc(report)
    if code not in (0, 1) or doc is None:
        print(f"  note: exited {code}: {tail}")
    return {"wall_s": wall, "exit_code": code, "doc": doc, **chain(doc)}


def bench_live(scratch: Path, timeout: float, url: str) -> dict[str, Any]:
    env = child_env({LIVE_KEY_ENV: os.environ.get(LIVE_KEY_ENV) or LIVE_KEY_DEFAULT})
    target = ("--target", LIVE_TARGET, f"--base-url={url}")
    out: dict[str, Any] = {
        "sequential": live_run("sequential", scratch, timeout, env, *target, "-p", "no:xdist"),
        "parallel": live_run("parallel", scratch, timeout, env, *target, "-n", "2"),
    }
    # One parallel run of every local target (llama-server and the translators in front).
    every = child_env({var: os.environ.get(var) or key for var, key in LOCAL_KEYS.values()})
    names = ",".join(n for n in LOCAL_KEYS if n not in NEWEST or answers(LOCAL_URLS[n]))
    out["all_local"] = live_run("all-local", scratch, timeout, every, "--target", names, "-n", "2")
    return out


# --- cost ---------------------------------------------------------------------------------


def ceiling(record: dict[str, Any]) -> int:
    """Sum of ``max_tokens`` over the requests a record's evidence lists: the most output
    those requests may cost on any endpoint, however verbose its model."""
    total = 0
    for item in (record.get("evidence") or {}).get("requests") or []:
        body = item.get("request") if isinstance(item, dict) else None
        if isinstance(body, dict) and isinstance(body.get("max_tokens"), int):
            total += body["max_tokens"]
    return total


def cost(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per target: rows, requests, input and output tokens (from the per-record fields), and
    the output ceiling (sum of max_tokens sent)."""
    per: dict[str, dict[str, Any]] = {}
    for r in (doc or {}).get("results") or []:
        t = per.setdefault(
            r["target"],
            {"target": r["target"], "rows": 0, "requests": 0, "in": 0, "out": 0, "ceiling": 0},
        )
        t["rows"] += 1
        t["requests"] += r.get("requests", 0)
        t["in"] += r.get("input_tokens", 0)
        t["out"] += r.get("output_tokens", 0)
        t["ceiling"] += ceiling(r)
    return [per[k] for k in sorted(per)]


def top_output(doc: dict[str, Any] | None, target: str, n: int = 5) -> list[dict[str, Any]]:
    records = [r for r in (doc or {}).get("results") or [] if r["target"] == target]
    records.sort(key=lambda r: -r.get("output_tokens", 0))
    return records[:n]


TOOL_ROWS = ("tool_choice.", "tools.", "claude_code.tool_input.")
TOOL_SELECT = "tool_choice or tools. or tool_input"  # -k: the same rows


def tool_cost(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per target, the tool rows only: rows, requests, tokens, summed row seconds, and how
    many of them reached a verdict (not inconclusive, not error)."""
    per: dict[str, dict[str, Any]] = {}
    for r in (doc or {}).get("results") or []:
        if not r["id"].startswith(TOOL_ROWS):
            continue
        t = per.setdefault(
            r["target"],
            {"target": r["target"], "rows": 0, "decided": 0, "requests": 0, "in": 0, "out": 0,
             "row_s": 0.0},
        )  # fmt: skip
        t["rows"] += 1
        t["decided"] += r.get("observed") not in ("inconclusive", "error", "accepted")
        t["requests"] += r.get("requests", 0)
        t["in"] += r.get("input_tokens", 0)
        t["out"] += r.get("output_tokens", 0)
        t["row_s"] += r.get("duration_ms", 0) / 1000
    return [per[k] for k in sorted(per)]


def bench_live_tools(scratch: Path, timeout: float) -> dict[str, Any]:
    """The tool rows live against each local target that answers (``-n 2``)."""
    up = [name for name in LOCAL_KEYS if answers(LOCAL_URLS[name])]
    if not up:
        return {"skipped": "no local server is up (python scripts/servers.py start NAME)"}
    every = child_env({var: os.environ.get(var) or key for var, key in LOCAL_KEYS.values()})
    run = live_run(
        "tools", scratch, timeout, every, "--target", ",".join(up), "-n", "2", "-k", TOOL_SELECT
    )
    return {"targets": up, **run}


def print_tool_cost(info: dict[str, Any]) -> None:
    rows = []
    for c in tool_cost(info["replay"]["doc"]):
        rows.append([c["target"], c["rows"], f"{c['decided']}/{c['rows']}", c["requests"],
                     c["in"], c["out"]])  # fmt: skip
    print()
    print("Tool rows per column, as recorded (replay of the shipped cassettes)")
    print(table(["target", "rows", "decided", "requests", "input tok", "output tok"], rows))
    live = info.get("live_tools")
    if live is None:
        print("  live time: not measured (pass --live-tools)")
        return
    if "skipped" in live:
        print(f"  live: skipped — {live['skipped']}")
        return
    rows = []
    for c in tool_cost(live["doc"]):
        rows.append([c["target"], c["rows"], f"{c['decided']}/{c['rows']}", c["requests"],
                     c["in"], c["out"], fmt_s(c["row_s"])])  # fmt: skip
    print(
        f"Tool rows live, {len(live['targets'])} targets in one run (-n 2): "
        f"{fmt_s(live['wall_s'])} s wall, exit {live['exit_code']}"
    )
    print(
        table(["target", "rows", "decided", "requests", "input tok", "output tok", "row s"], rows)
    )
    print("  row s = the column's rows' durations added up (two rows run at once)")


# --- printing -----------------------------------------------------------------------------


def print_replay(args: argparse.Namespace, info: dict[str, Any]) -> None:
    rp = info["replay"]
    med, best = rp["median_s"], rp["best_s"]
    best_floor = best.get("floor")
    print()
    print(f"Replay of the shipped cassettes ({REPLAY_TARGETS}; {args.reps} runs each, in turn)")
    rows = []
    for key, label in (
        ("startup", "pytest start-up (pytest --version)"),
        ("floor", "floor: start-up + cases (--collect-only)"),
        ("replay_1", "replay, one process (-p no:xdist), SDK memo warm"),
        ("replay_cold", "replay, one process, no SDK memo (a fresh machine)"),
        ("replay_n2", "replay, two workers (-n 2)"),
    ):
        runs = ", ".join(f"{t:.2f}" for t in rp["runs_s"][key])
        ratio = f"{best[key] / best_floor:.2f}x" if best_floor and key != "startup" else ""
        rows.append([label, fmt_s(best[key]), fmt_s(med[key]), ratio, runs])
    print(table(["measure", "best s", "median s", "best vs floor", "runs (s)"], rows, left=(0, 4)))
    n_rows = len((rp.get("doc") or {}).get("results") or [])
    if n_rows and best_floor and best.get("replay_1"):
        per_row = (best["replay_1"] - best_floor) / n_rows * 1000
        print(f"  {n_rows} rows: {per_row:.1f} ms per row above the floor (one process, best)")
        ratio = best["replay_1"] / best_floor
        print(f"  issue 23 target: replay <= 2x the floor: {ratio:.2f}x {met(ratio <= 2)}")


def print_scaling(scaling: list[dict[str, Any]] | None) -> None:
    if scaling:
        print()
        reps = scaling[0].get("reps", "?")
        print(f"Replay as targets grow (copies of the shipped ones, renamed; {reps} runs each)")
        rows = [
            [str(s["targets"]), str(s["rows"]), fmt_s(s["best_s"].get("floor")),
             fmt_s(s["best_s"].get("replay")),
             f"{s['per_row_ms']:.2f}" if s["per_row_ms"] is not None else "-"]
            for s in scaling
        ]  # fmt: skip
        print(table(["targets", "rows", "floor s", "replay s", "ms/row above floor"], rows))
        print("  floor, replay: best; ms/row: median over the runs of each replay less the floor")
        print("  run just before it, over the rows")
        paired = next((s.get("growth_vs_5") for s in scaling if s["targets"] == 20), None)
        if paired:
            each = ", ".join(f"{g:+.0%}" for g in paired)
            drift = statistics.median(paired)
            print(f"  per-row cost at 20 targets vs 5, each run (5 and 20 seconds apart): {each}")
            print(f"  issue 23 target: per-row cost at 20 within 20% of 5 (median of those): "
                  f"{drift:+.0%} {met(abs(drift) <= 0.2)}")  # fmt: skip


def report(args: argparse.Namespace, info: dict[str, Any]) -> None:
    m = info["machine"]
    print()
    print(
        f"anthropic-conformance benchmark · {m['date']} · {m['cores']} cores ({m['cpu']}) · "
        f"Python {m['python']} · load {m['load_1min']}"
    )
    unset = m["inherited_dont_write_bytecode"]
    print(
        "measured runs cache their bytecode, as a default Python does"
        + (" (PYTHONDONTWRITEBYTECODE unset for them)" if unset else "")
    )
    print_replay(args, info)
    rp = info["replay"]
    med = rp["median_s"]
    floor = med.get("floor")
    print_scaling(info.get("scaling"))

    live = info.get("live")
    print()
    if live is None:
        print("Live: not measured (pass --live to run against the local llama-server)")
    elif "skipped" in live:
        print(f"Live: skipped — {live['skipped']}")
    else:
        seq, par = live["sequential"], live["parallel"]
        print(f"Live against llama-server ({args.live_url}, target {LIVE_TARGET}, concurrency 2)")
        longest = seq["longest_s"]
        rows = [
            ["sequential (-p no:xdist)", fmt_s(seq["wall_s"]), ""],
            [
                "parallel (-n 2)",
                fmt_s(par["wall_s"]),
                f"{seq['wall_s'] / par['wall_s']:.2f}x faster" if par["wall_s"] else "",
            ],
            [
                "longest single case chain",
                fmt_s(longest),
                f"{seq['longest_case']}" if seq["longest_case"] else "",
            ],
            ["sum of case durations (sequential work)", fmt_s(seq["sum_s"]), ""],
        ]
        if longest is not None:
            ideal = max(longest, seq["sum_s"] / 2)
            rows.append(
                [
                    "ideal at concurrency 2: max(longest, sum / 2)",
                    fmt_s(ideal),
                    f"parallel run = {par['wall_s'] / ideal:.2f}x this" if ideal else "",
                ]
            )
            rows.append(
                [
                    "sum of case durations in the parallel run",
                    fmt_s(par["sum_s"]),
                    "cases slow down when two share the server",
                ]
            )
        print(table(["measure", "wall s", "note"], rows, left=(0, 2)))
        every = live.get("all_local") or {}
        if every.get("doc"):
            per = cost(every["doc"])
            print(
                f"Live, all local targets in one run (-n 2): {fmt_s(every['wall_s'])} s, "
                f"{sum(c['rows'] for c in per)} rows, "
                f"{sum(c['requests'] for c in per)} requests, exit {every['exit_code']}"
            )

    source = "the live sequential run" if live and "sequential" in live else "the replay run"
    doc = None
    if live and "sequential" in live:
        doc = live["sequential"]["doc"]
    doc = doc or rp["doc"]
    print()
    print(f"Cost of one full run, per target (results.json of {source})")
    rows = []
    for c in cost(doc):
        rows.append([c["target"], c["rows"], c["requests"], c["in"], c["out"], c["ceiling"]])
    if doc:
        run = doc["run"]
        rows.append(
            ["total (run)", len(doc["results"]), run.get("requests"), run.get("input_tokens"),
             run.get("output_tokens"), sum(c["ceiling"] for c in cost(doc))]
        )  # fmt: skip
    print(table(["target", "rows", "requests", "input tok", "output tok", "output ceiling"], rows))
    print("  output ceiling = sum of max_tokens of the requests sent: the most they may cost")
    errors = [r for r in (doc or {}).get("results") or [] if r.get("outcome") == "error"]
    if errors:
        names = ", ".join(f"{r['id']}[{r['target']}]" for r in errors[:4])
        more = f" and {len(errors) - 4} more" if len(errors) > 4 else ""
        print(
            f"  {len(errors)} row(s) ended in error, so sent fewer requests than a full run "
            f"(in replay: errors recorded as such, or cassettes not recorded yet): {names}{more}"
        )
    heavy = top_output(doc, LIVE_TARGET)
    if heavy:
        shown = ", ".join(f"{r['id']} {r.get('output_tokens', 0)}" for r in heavy)
        print(f"  most output tokens ({LIVE_TARGET}): {shown}")

    print_tool_cost(info)

    print()
    print("Targets (issue #8; information, not assertions)")
    rows = []
    r1 = med.get("replay_1")
    ok_replay = None
    if r1 is not None:
        ok_replay = r1 <= REPLAY_MAX_S or bool(floor and r1 <= REPLAY_MAX_FLOOR_RATIO * floor)
    rows.append(
        [
            f"replay <= {REPLAY_MAX_S:.0f} s or <= {REPLAY_MAX_FLOOR_RATIO}x floor",
            f"{fmt_s(r1)} s ({r1 / floor:.2f}x floor)" if r1 and floor else fmt_s(r1),
            met(ok_replay),
        ]
    )
    if live and "parallel" in live:
        par, seq = live["parallel"], live["sequential"]
        longest = seq["longest_s"]
        ratio = par["wall_s"] / longest if longest else None
        rows.append(
            [
                f"live parallel <= {LIVE_MAX_CHAIN_RATIO}x longest chain",
                f"{fmt_s(par['wall_s'])} s = {ratio:.2f}x {fmt_s(longest)} s" if ratio else "—",
                met(ratio <= LIVE_MAX_CHAIN_RATIO if ratio else None),
            ]
        )
    else:
        rows.append([f"live parallel <= {LIVE_MAX_CHAIN_RATIO}x longest chain", "—", "n/a"])
    proxy = next((c for c in cost(doc) if c["target"] == LIVE_TARGET), None)
    rows.append(
        [
            f"output tokens <= {OUTPUT_TOKEN_BUDGET:,} (llama-server as proxy)",
            f"{proxy['out']:,} (ceiling {proxy['ceiling']:,})" if proxy else "—",
            met(proxy["out"] <= OUTPUT_TOKEN_BUDGET if proxy else None),
        ]
    )
    print(table(["target", "figure", ""], rows, left=(0, 2)))


RECORD_KEYS = ("target", "id", "outcome", "duration_ms", "requests", "input_tokens")


def write_json(path: Path, info: dict[str, Any]) -> None:
    """The figures, plus per-record duration and cost of each run, without the evidence."""
    live = info.get("live") or {}
    docs = {
        "replay": info["replay"]["doc"],
        "live_sequential": (live.get("sequential") or {}).get("doc"),
        "live_parallel": (live.get("parallel") or {}).get("doc"),
    }
    out = json.loads(json.dumps(info, default=str))
    out["replay"].pop("doc", None)
    for kind in ("sequential", "parallel", "all_local"):
        (out.get("live") or {}).get(kind, {}).pop("doc", None)
    (out.get("live_tools") or {}).pop("doc", None)
    out["tool_cost"] = tool_cost(info["replay"]["doc"])
    out["cost"] = cost(docs["live_sequential"] or docs["replay"])
    out["records"] = {
        name: [
            {**{k: r.get(k) for k in RECORD_KEYS}, "output_tokens": r.get("output_tokens"),
             "ceiling": ceiling(r)}
            for r in doc["results"]
        ]
        for name, doc in docs.items()
        if doc
    }  # fmt: skip
    path.write_text(json.dumps(out, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="replay repetitions (median)")
    parser.add_argument("--live", action="store_true", help="also measure live runs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=900,
        metavar="S",
        help="with --live: wait up to S s for other `pytest --target` runs to end (900)",
    )
    parser.add_argument(
        "--live-timeout", type=float, default=3600, metavar="S", help="per live run (3600)"
    )
    parser.add_argument(
        "--live-url", default=LIVE_URL, metavar="URL", help=f"llama-server ({LIVE_URL})"
    )
    parser.add_argument(
        "--live-tools", action="store_true", help="also the tool rows live on every local target"
    )
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip replay at 1, 5 and 20 targets"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    args.reps = max(args.reps, 1)

    info: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
        scratch = Path(tmp)
        PYCACHE["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        busy = other_runs()
        if busy:
            print(f"note: {len(busy)} other `pytest --target` run(s) going; timings are skewed")
        print(f"replay: {args.reps} repetitions + 1 warm-up ...", flush=True)
        info["replay"] = bench_replay(args.reps, scratch)
        if not args.no_scaling:
            print(f"scaling: {', '.join(map(str, SCALES))} targets ...", flush=True)
            info["scaling"] = bench_scaling(max(args.reps, SCALING_REPS), scratch)
        if args.live:
            down = server_up(args.live_url)
            if down:
                info["live"] = {"skipped": f"llama-server at {args.live_url} is down: {down}"}
            else:
                busy = wait_quiet(args.wait_quiet)
                if busy:
                    print(f"note: still {len(busy)} other run(s) going; live timings are skewed")
                info["live"] = bench_live(scratch, args.live_timeout, args.live_url)
                info["machine"]["load_1min_after_live"] = machine()["load_1min"]
        if args.live_tools:
            busy = wait_quiet(args.wait_quiet)
            if busy:
                print(f"note: still {len(busy)} other run(s) going; live timings are skewed")
            info["live_tools"] = bench_live_tools(scratch, args.live_timeout)
        report(args, info)
        if args.json:
            write_json(Path(args.json), info)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # figures only: a broken measurement never fails CI
        print(f"benchmark error: {type(exc).__name__}: {exc}")
        sys.exit(0)
