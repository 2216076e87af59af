"""A raw-socket HTTP/1.1 server on 127.0.0.1 that fails at the byte level, for tests/test_faults.py.

``tests/fakeserver.py`` answers like Anthropic (and deviates politely); this one reads a
request and then misbehaves the way networks and broken gateways do, below what an HTTP
server library would let it do:

* ``hang``: reads the request, never answers (a read timeout);
* ``trickle_headers``: starts the status line and headers, then one byte every ``interval``
  forever (only a total deadline stops it: every single read succeeds in time);
* ``trickle_body``: an SSE stream of ``: ping`` comments every ``interval``, never ending;
* ``flood``: an SSE stream of pings as fast as the socket takes them, never ending;
* ``huge``: a 200 JSON answer of ``size`` bytes (``content-length`` and all);
* ``cut_chunked``: a chunked SSE stream that stops mid-event and closes the connection;
* ``cut_close``: an SSE stream framed by connection close, closed mid-event;
* ``drop_kept_alive``: answers the first request on a connection in full, keep-alive, then
  reads the next one and closes the connection unanswered (llama-server does this after some
  streams);
* ``unanswered``: reads each request and closes the connection without a byte of answer;
* ``blackhole``: a listener whose accept queue is full, so connecting times out.

``with FaultServer("hang") as server: server.base_url``; ``server.requests`` counts the
requests it read.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

from loopback import url

BEHAVIOURS = frozenset(
    {
        "hang",
        "trickle_headers",
        "trickle_body",
        "flood",
        "huge",
        "cut_chunked",
        "cut_close",
        "blackhole",
        "drop_kept_alive",
        "unanswered",
    }
)
SSE_HEADERS = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_fault",
        "type": "message",
        "role": "assistant",
        "model": "fake-model-1",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
}


# A whole non-streamed answer (``drop_kept_alive``).
MESSAGE = {
    **MESSAGE_START["message"],
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
}


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


# The stream both ``cut_*`` behaviours send before they stop: one whole event, then half one.
WHOLE = event(MESSAGE_START)
HALF = b'event: content_block_start\ndata: {"type": "content_block_start", "ind'


class FaultServer:
    def __init__(self, behaviour: str, *, interval: float = 0.05, size: int = 0) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {sorted(BEHAVIOURS)}")
        self.behaviour = behaviour
        self.interval = interval
        self.size = size
        self.requests = 0
        self.stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    # lifecycle

    def start(self) -> FaultServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self._listener = listener
        if self.behaviour == "blackhole":
            listener.listen(0)
            self._fill_backlog()
            return self
        listener.listen(16)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            socks = [*self._conns, *self._fillers]
        if self._listener is not None:
            socks.append(self._listener)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.getsockname()[1]

    @property
    def base_url(self) -> str:
        return url(self.port)

    # blackhole: connections the server never accepts fill its queue; the next SYN is dropped

    def _fill_backlog(self) -> None:
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            self._fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
        time.sleep(0.05)

    # everything else

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._read_request(conn)
            with self._lock:
                self.requests += 1
            getattr(self, f"_{self.behaviour}")(conn)
        except OSError:
            pass  # the client went away: that is what the test wanted
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed before the request ended")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed before the body ended")
            body += chunk

    def _wait(self) -> bool:
        """Sleep one interval; False once the server is stopping."""
        return not self.stopped.wait(self.interval)

    def _hang(self, conn: socket.socket) -> None:
        self.stopped.wait()

    def _trickle_headers(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-slow: ")
        while self._wait():
            conn.sendall(b"a")

    def _trickle_body(self, conn: socket.socket) -> None:
        conn.sendall(SSE_HEADERS + b"connection: close\r\n\r\n" + WHOLE)
        while self._wait():
            conn.sendall(b": ping\n\n")

    def _flood(self, conn: socket.socket) -> None:
        conn.sendall(SSE_HEADERS + b"connection: close\r\n\r\n" + WHOLE)
        block = b": ping\n\n" * 8192
        while not self.stopped.is_set():
            conn.sendall(block)

    def _huge(self, conn: socket.socket) -> None:
        head = b'{"type": "message", "pad": "'
        tail = b'"}'
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {self.size}\r\n\r\n".encode()
            + head
        )
        left = self.size - len(head) - len(tail)
        block = b"x" * 65536
        while left > 0 and not self.stopped.is_set():
            conn.sendall(block[: min(left, len(block))])
            left -= len(block)
        conn.sendall(tail)

    def _cut_chunked(self, conn: socket.socket) -> None:
        conn.sendall(SSE_HEADERS + b"transfer-encoding: chunked\r\n\r\n")
        for chunk in (WHOLE, HALF):
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.shutdown(socket.SHUT_RDWR)  # no last chunk: cut mid-event

    def _cut_close(self, conn: socket.socket) -> None:
        conn.sendall(SSE_HEADERS + b"connection: close\r\n\r\n" + WHOLE + HALF)
        conn.shutdown(socket.SHUT_RDWR)

    def _drop_kept_alive(self, conn: socket.socket) -> None:
        body = json.dumps(MESSAGE).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nkeep-alive: timeout=5, max=100\r\n\r\n".encode()
            + body
        )
        self._read_request(conn)  # the client sent this one on the pooled connection: lost
        with self._lock:
            self.requests += 1

    def _unanswered(self, conn: socket.socket) -> None:
        pass  # _serve closes the connection
