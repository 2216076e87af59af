"""Run a command and report the peak memory of its whole process tree.

Why: a parallel build's cost is the sum of its compilers, not its largest one
(`/usr/bin/time` and `getrusage` give only the largest single process). The llama-server
build is bounded to one job per core; this prints what that costs, so the README's figure
is measured, not guessed. Linux only (reads /proc); elsewhere it just runs the command.

    python scripts/peak_rss.py CMD [ARGS...]   # exit status is CMD's; one line on stderr
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

INTERVAL_S = 0.25


def _children() -> dict[int, list[int]]:
    """Map each pid to its children's pids, from /proc/*/stat."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int]:
    """Total RSS (KiB) and process count of `root` and all its descendants."""
    tree, todo, total, count = _children(), [root], 0, 0
    while todo:
        pid = todo.pop()
        total += _rss_kib(pid)
        count += 1
        todo.extend(tree.get(pid, ()))
    return total, count


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    start = time.monotonic()
    proc = subprocess.Popen(argv)
    peak, peak_procs = 0, 0
    while proc.poll() is None:
        if os.path.isdir("/proc"):
            rss, procs = tree_rss(proc.pid)
            peak, peak_procs = max(peak, rss), max(peak_procs, procs)
        time.sleep(INTERVAL_S)
    elapsed = time.monotonic() - start
    print(
        f"peak_rss: {peak / 1024:.0f} MB summed over the process tree, at most {peak_procs}"
        f" processes at once, {elapsed:.0f} s, exit {proc.returncode}",
        file=sys.stderr,
    )
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
