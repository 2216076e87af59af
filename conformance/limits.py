"""Per-target request limits shared by every process of one run (pytest-xdist workers).

A target file may declare ``concurrency`` (requests in flight at once) and
``requests_per_minute``. xdist workers are separate processes, so the limits live in a
directory made for the run (the controller creates it and hands its path to the workers):

* concurrency: ``slot-<i>.lock`` files, one per allowed request in flight; a request holds an
  exclusive ``fcntl.flock`` on one of them while it is on the wire. The kernel drops the lock
  when its holder exits, so a killed worker never keeps a slot.
* requests per minute: ``next-request`` holds the earliest time (``time.time()``) the next
  request may start; each request reserves its start under an exclusive lock and pushes it on
  by ``60 / rpm`` seconds. Starts are spaced evenly (a token bucket of one token), the way
  providers refill their rate limits, so no 60-second window ever holds more than ``rpm``.

A target without either limit gets no limiter at all: nothing is locked or waited for.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: limits are not shared between processes
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.01  # how often a request waiting for a concurrency slot looks again


class Limiter:
    """``with limiter.request(): send()``: waits for a slot and for the rate, then holds the
    slot until the block ends. Safe across processes and threads (each use opens its own
    file descriptions)."""

    def __init__(
        self, directory: Path, concurrency: int | None, requests_per_minute: int | None
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.concurrency = concurrency
        self.interval = 60.0 / requests_per_minute if requests_per_minute else None

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        fd = self._slot() if self.concurrency and fcntl else None
        try:
            if self.interval and fcntl:
                delay = self._reserve_start()
                if delay > 0:
                    time.sleep(delay)
            yield
        finally:
            if fd is not None:
                os.close(fd)  # releases the flock

    def _slot(self) -> int:
        assert self.concurrency and fcntl
        names = [self.directory / f"slot-{i}.lock" for i in range(self.concurrency)]
        offset = random.randrange(len(names))  # spread the processes over the slots
        names = names[offset:] + names[:offset]
        while True:
            for name in names:
                fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            time.sleep(POLL_SECONDS)

    def _reserve_start(self) -> float:
        """Reserve the next free start time; the seconds to wait until it."""
        assert self.interval and fcntl
        fd = os.open(self.directory / "next-request", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                next_start = float(os.pread(fd, 64, 0) or 0)
            except ValueError:
                next_start = 0.0
            now = time.time()
            start = max(now, next_start)
            os.ftruncate(fd, 0)
            os.pwrite(fd, repr(start + self.interval).encode(), 0)
        finally:
            os.close(fd)
        return start - now


def for_target(
    run_dir: Path | None, name: str, concurrency: int | None, requests_per_minute: int | None
) -> Limiter | None:
    """The limiter of one target in one run, or None when it declares no limits."""
    if run_dir is None or not (concurrency or requests_per_minute):
        return None
    return Limiter(Path(run_dir) / name, concurrency, requests_per_minute)
