"""One loopback HTTP server helper for the suite's own test servers.

``Loopback(handler_class)`` serves an ``http.server`` handler on 127.0.0.1 at an ephemeral
port from a daemon thread: ``start()``/``stop()`` (or ``with``), ``port``, ``base_url``. The
fake Anthropic server (fakeserver.py) and the capture tests' stub upstream use it; the fault
server (faultserver.py) works below HTTP, on raw sockets, and only shares :func:`url`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a "slow" answer must not hold up stop()


class Loopback:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.handler = handler
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> Loopback:
        self._httpd = _Server(("127.0.0.1", 0), self.handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()  # a short poll interval: stop() waits for the loop to notice
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return url(self.port)
