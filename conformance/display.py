"""Text from an endpoint is data, never terminal or page control: the one function that
escapes control characters before such text reaches a screen or a report.

An endpoint's error message may carry ESC sequences (cursor-up and erase-line codes can hide
a ``NEW:`` line behind a forged "all rows passed"), NUL, CR, backspace or bidi overrides
that reorder what a reader sees. Every output boundary (the terminal lines, ``matrix.md``,
``index.html``, results kept as evidence, JUnit through the row's message) shows them as
visible escapes instead: ``\\x1b``, ``\\x00``, ``\\u202e``. The evidence keeps that escaped
form; the verdicts were reached on the answer as received.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 (but tab and newline), DEL, C1, and the Unicode controls that reorder or break lines.
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, 0x2028, 0x2029]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in _CONTROLS if code not in (0x09, 0x0A)}
_ONE_LINE = {**_TABLE, 0x09: "\\t", 0x0A: "\\n"}


def _any_of(table: dict[int, str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(table)) + "]")


# Whether a text holds anything its table escapes: one search in C, where ``translate``
# looks every character up in the table from Python's side (a row's message, each of its
# terminal lines: a few percent of a replay).
_IN_TABLE = _any_of(_TABLE)
_IN_ONE_LINE = _any_of(_ONE_LINE)


def escape_controls(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character as a visible escape; tab and newline are kept
    unless ``one_line`` (a terminal line per row must stay one line)."""
    if one_line:
        return text.translate(_ONE_LINE) if _IN_ONE_LINE.search(text) else text
    return text.translate(_TABLE) if _IN_TABLE.search(text) else text


# What a control character can look like in json.dumps(...) output (ensure_ascii): \uXXXX,
# or \b \f \r (tab and newline, \t \n, are kept). A literal backslash before such
# letters matches too: that only costs the slow, exact walk.
_CONTROL_IN_JSON = re.compile(
    r"\\(?:[bfr]|u(?:" + "|".join(f"{c:04x}" for c in _CONTROLS if c not in (0x09, 0x0A)) + "))",
    re.IGNORECASE,
)


def escape_tree(value: Any) -> Any:
    """``value`` with :func:`escape_controls` applied to every string it holds (keys of
    mappings included): what results and reports keep of an endpoint's answers. A tree
    with a control character comes back as an escaped copy; one without (nearly all) comes
    back as it is, found clean by one C-encoded ``json.dumps`` and a regex search instead
    of a walk in Python over every string (a tenth of replay's time). ASCII output keeps
    both fast: every escape then starts with a backslash, which the regex finds at once,
    and the text stays one byte a character."""
    return escaped_json(value)[0]


def escaped_json(value: Any, text: str | None = None) -> tuple[Any, str | None]:
    """:func:`escape_tree` of ``value``, and, when that is ``value`` itself (nothing needed
    escaping), the ``json.dumps(value)`` text the check read: a caller that serializes
    the value next (the runner's record) reuses it rather than encode it again. ``text``:
    that text when the caller has it already (the scrub's check wrote it)."""
    try:
        text = json.dumps(value, allow_nan=True) if text is None else text
    except (TypeError, ValueError, RecursionError):
        return _escape_walk(value), None
    if _CONTROL_IN_JSON.search(text):
        return _escape_walk(value), None
    return value, text


def _escape_walk(value: Any) -> Any:
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, dict):
        return {
            (escape_controls(k) if isinstance(k, str) else k): _escape_walk(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_escape_walk(v) for v in value]
    return value
