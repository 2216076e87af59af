"""A per-request deadline below httpx: ``total_timeout`` holds even against an endpoint that
trickles bytes, because every socket read and write is cut to what is left of it.

The client sets ``deadline.at`` (``time.monotonic()``) for the request this thread has on the
wire; :func:`bound_by_deadline` installs the bounded network backend in an httpx client.
``row.at`` is the row's budget, for the work after the bytes arrive (:func:`row_time_up`).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

# The deadline of the request this thread has on the wire (time.monotonic()), or None.
deadline = threading.local()
# The deadline of the row this thread runs (``row.at``, time.monotonic(), set by the runner),
# or None: parsing and judging a huge answer stop there too, not only its bytes on the wire.
row = threading.local()


# What this thread serves instead of the network while it replays a cassette (``serve``, set
# by conformance.recording for the length of one row), or nothing: requests go out.
replay = threading.local()


def replay_server() -> Any:
    """What serves this thread's requests while it replays a cassette, or None: an object
    whose ``answer(method, uri, header, body)`` gives the recorded answer
    (:class:`conformance.recording.Replay`). The client asks before it sends anything
    (``Client._answer``), so in replay no request of it goes through httpx's transports,
    its proxy mounts included, nor reaches the network."""
    return getattr(replay, "serve", None)


class Recorded:
    """A recorded answer as the client reads one (what it reads of an ``httpx.Response``:
    ``status_code``, ``headers.items()``, ``iter_bytes()``), without building one: httpx's
    response object, its header normalisation and byte stream were a tenth of a replayed
    request's cost. ``headers`` are folded as httpx folds them."""

    __slots__ = ("_body", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self._body = body

    def iter_bytes(self) -> Iterator[bytes]:
        if self._body:
            yield self._body

    def close(self) -> None:
        pass


def row_time_up() -> bool:
    """True once the row this thread runs is past its time budget."""
    at = getattr(row, "at", None)
    return at is not None and time.monotonic() > at


def _bounded(timeout: float | None) -> float | None:
    """``timeout`` for one socket operation, cut to what is left until the deadline."""
    at = getattr(deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("total timeout reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Wraps httpcore's socket backend so every operation honours the request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, _bounded(timeout), local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_unix_socket(path, _bounded(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _decompressor(encoding: str) -> Any:
    encoding = encoding.lower().strip()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


class _CappedStream:
    """A response body that stops (``httpcore.ReadError``) past ``cap`` bytes, counted both as
    received and, for gzip/deflate, decompressed: a 1 MB gzip bomb is cut, not inflated.

    It sits below httpx (and below vcrpy, which reads whole bodies when recording), so the
    cap holds in every mode."""

    def __init__(self, inner: Iterable[bytes], cap: int, encoding: str) -> None:
        self._inner = inner
        self._cap = cap
        self._decoder = _decompressor(encoding)

    def _too_big(self, what: str) -> httpcore.ReadError:
        return httpcore.ReadError(
            f"response body over max_body_bytes ({self._cap} bytes{what}); cut"
        )

    def __iter__(self) -> Iterator[bytes]:
        size = inflated = 0
        for chunk in self._inner:
            size += len(chunk)
            if size > self._cap:
                raise self._too_big("")
            if self._decoder is not None:
                data = chunk
                try:
                    while data:
                        out = self._decoder.decompress(data, 65536)
                        inflated += len(out)
                        if inflated > self._cap:
                            raise self._too_big(", decompressed")
                        data = self._decoder.unconsumed_tail
                except zlib.error:
                    self._decoder = None  # httpx reports the broken encoding itself
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _capped(pool: Any, cap: int) -> None:
    inner = pool.handle_request

    def handle_request(request: httpcore.Request) -> httpcore.Response:
        response = inner(request)
        encoding = b",".join(v for k, v in response.headers if k.lower() == b"content-encoding")
        response.stream = _CappedStream(response.stream, cap, encoding.decode("latin-1"))
        return response

    pool.handle_request = handle_request


def bound_by_deadline(client: httpx.Client, max_body_bytes: int | None = None) -> bool:
    """Put the deadline backend under each connection pool of ``client`` (its transport and
    any proxy mounts from the environment), and the ``max_body_bytes`` cap on every body
    (:class:`_CappedStream`). httpx has no public hook for this; with another
    httpx the pools are left alone and the per-chunk check in ``Client._once`` still cuts
    a trickling body."""
    done = False
    for transport in [client._transport, *client._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            done = True
            if max_body_bytes is not None:
                _capped(pool, max_body_bytes)
    return done
