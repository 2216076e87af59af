"""The capture tool: what real clients send, recorded and kept as request *shapes*.

Vendors' tables list fields one at a time, but people reach an endpoint through Claude Code
or an official SDK, which send everything at once: a query string, a list of
``anthropic-beta`` values, a JSON string in ``metadata.user_id``, ``cache_control`` on system
blocks, dozens of tools and a prompt of thousands of tokens. Endpoints break on exactly that,
usually on the day a client ships.

* ``capture.proxy``: :class:`CaptureProxy`, a loopback HTTP endpoint that records each
  request a client sends (credentials removed) to a JSONL file and forwards it to an
  upstream, streams passed through as they come; it can answer one request with a canned
  ``tool_use`` so the client's next request carries a ``tool_result``.
* ``capture.drivers``: :func:`run_capture` drives real clients (Claude Code from npm, the
  ``anthropic`` Python SDK) through the proxy (``python -m conformance capture
  claude-code|sdk``) and writes their shapes.

What a run needs lives outside this package: ``conformance.shapes`` (shape files, filler,
turning a shape back into a request) and ``conformance.bisection`` (naming the field a
refused shape fails on). This package is a tool, never imported by a run
(``tests/test_layout.py`` checks it).
"""

from __future__ import annotations

from conformance.capture.drivers import (
    CAPTURES_DIR,
    CaptureError,
    retarget_cases,
    run_capture,
)
from conformance.capture.proxy import CannedToolUse, CaptureProxy, read_log
from conformance.shapes import SHAPES_DIR

__all__ = [
    "CAPTURES_DIR",
    "SHAPES_DIR",
    "CannedToolUse",
    "CaptureError",
    "CaptureProxy",
    "read_log",
    "retarget_cases",
    "run_capture",
]
