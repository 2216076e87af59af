"""Credentials: which headers carry them, what they become, and the functions that scrub.

Everyone that stores or shows something an endpoint or a client sent imports this module:
the HTTP client (evidence), the cassettes (recording), the runner (results and logs) and the
capture tool (raw captures, shapes). There is one list and one placeholder, so a header
redacted in one place is redacted everywhere and reads the same.

The policy, one for every artifact (cassettes, results, reports, JUnit, logs, terminal):

* What the suite sends: credential headers (:data:`CREDENTIAL_HEADERS`) are stored as the
  placeholder whatever the key's length, and so is the ``user:password@`` of a base URL
  (:func:`scrub_url`).
* What the endpoint answers is parsed as received: no byte of an answer is changed before an
  oracle reads it. What is *kept* of it is scrubbed: after decoding (JSON escapes such as
  ``\u002d`` are undone by parsing first, :func:`scrub_body`), before any cutting, and across
  SSE deltas joined into one text. Any run of :data:`MIN_FRAGMENT` or more characters of a
  key counts as the key (:func:`scrub_text`), so a key cut at 120 characters by a summary
  does not leave its first 12 behind.
* A key shorter than :data:`MIN_SECRET_LEN` characters ("x", "1", "test": local servers
  accept them) is never substring-replaced in prose or bodies: it would mangle the answer
  ("code e<redacted>ecution"). Such a key is redacted only where it is an exact value: the
  credential headers above.

The report's redaction of uploaded results (``conformance.report.redact``) uses the same
header list and placeholder.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conformance.safejson import loads

# Headers that carry credentials (request or response): never logged, never stored.
CREDENTIAL_HEADERS = frozenset(
    {"x-api-key", "authorization", "cookie", "set-cookie", "proxy-authorization"}
)
# What a credential (or a key quoted back by an endpoint) becomes, everywhere.
PLACEHOLDER = "<redacted>"
# Where a wrong-but-well-formed key is needed (auth rows), this one is used: it is public,
# and kept as it is in cassettes so that the auth rows replay.
WRONG_KEY = "sk-conformance-wrong-key-0000"
# Keys shorter than this are redacted only as exact header values, never substring-replaced.
MIN_SECRET_LEN = 8
# Any run of this many characters of a key, anywhere, is scrubbed as the key.
MIN_FRAGMENT = 8
# Header names kept of a report's records that carry credentials (beside the list above).
REPORT_SECRET_KEYS = CREDENTIAL_HEADERS | {"api-key", "api_key"}


def is_credential(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS


def scrub_header_value(name: str, value: str) -> str:
    """A credential header's value as stored: the placeholder, keeping the ``Bearer`` word of
    an authorization header and the public :data:`WRONG_KEY`."""
    if name.lower() == "authorization":
        scheme, sep, token = value.partition(" ")
        if not sep:
            return value if value == WRONG_KEY else PLACEHOLDER
        return value if token == WRONG_KEY else f"{scheme} {PLACEHOLDER}"
    return value if value == WRONG_KEY else PLACEHOLDER


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header names lower-cased; credential values replaced (see :func:`scrub_header_value`)."""
    return {
        name.lower(): scrub_header_value(name, value) if is_credential(name) else value
        for name, value in headers.items()
    }


def without_credentials(headers: dict[str, str]) -> dict[str, str]:
    """The headers that are not credentials (names as given)."""
    return {k: v for k, v in headers.items() if not is_credential(k)}


def usable(secrets: Iterable[str | None]) -> list[str]:
    """The secrets long enough to be searched for in text (see the module's policy)."""
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)


def _fragments(secret: str) -> list[str]:
    n = min(MIN_FRAGMENT, len(secret))
    return [secret[i : i + n] for i in range(len(secret) - n + 1)]


def _scrub_one(text: str, secret: str) -> str:
    if secret in text:
        text = text.replace(secret, PLACEHOLDER)
    for gram in _fragments(secret):
        start = text.find(gram)
        while start >= 0:
            # grow the match to the longest run of the key around it
            best = (start, start + len(gram))
            for off in range(len(secret) - len(gram) + 1):
                if secret[off : off + len(gram)] != gram:
                    continue
                lo, hi = start, start + len(gram)
                k_lo, k_hi = off, off + len(gram)
                while lo > 0 and k_lo > 0 and text[lo - 1] == secret[k_lo - 1]:
                    lo, k_lo = lo - 1, k_lo - 1
                while hi < len(text) and k_hi < len(secret) and text[hi] == secret[k_hi]:
                    hi, k_hi = hi + 1, k_hi + 1
                if hi - lo > best[1] - best[0]:
                    best = (lo, hi)
            text = text[: best[0]] + PLACEHOLDER + text[best[1] :]
            start = text.find(gram, best[0] + len(PLACEHOLDER))
    return text


def scrub_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (of :data:`MIN_SECRET_LEN` or more) and every run of
    :data:`MIN_FRAGMENT` of its characters replaced by the placeholder."""
    for secret in usable(secrets):
        text = _scrub_one(text, secret)
    return text


def scrub_bytes(data: bytes, secrets: Iterable[str | None]) -> bytes:
    """Raw bytes scrubbed as text (undecodable bytes are kept as they are)."""
    keys = usable(secrets)
    if not keys or not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    clean = scrub_text(text, keys)
    return data if clean == text else clean.encode("utf-8", "surrogateescape")


def scrub_url(url: str) -> str:
    """``url`` without the password (and user) of its ``user:password@`` part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{PLACEHOLDER}@{host}"))


def url_secrets(url: str) -> list[str]:
    """The user and password of a URL's userinfo: secrets like the key."""
    try:
        parts = urlsplit(url)
        return [v for v in (parts.username, parts.password) if v]
    except ValueError:
        return []


_EVENT_SPLIT = re.compile(r"(\r\n\r\n|\n\n|\r\r)")
_JOINED = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def _scrub_sse(text: str, keys: list[str]) -> str:
    """An SSE body with keys scrubbed in each event's decoded data and in the text that
    consecutive deltas of one block join into (a key split across two deltas)."""
    pieces = _EVENT_SPLIT.split(text)
    events = _sse_events(pieces, keys)
    for parts in _joined_deltas(events).values():
        _scrub_joined(parts, keys)
    for ev in events:
        clean = scrub(ev[2], keys)
        if clean != ev[2]:
            ev[2], ev[3] = clean, True
    for i, head, data, changed in events:
        if changed:
            pieces[i] = "\n".join([*head, "data: " + json.dumps(data, ensure_ascii=False)])
    return "".join(pieces)


def _sse_events(pieces: list[str], keys: list[str]) -> list[list[Any]]:
    """``[piece index, head lines, data object, changed]`` per event whose data is JSON; a
    piece whose data is not JSON is scrubbed as text in place."""
    events: list[list[Any]] = []
    for i in range(0, len(pieces), 2):
        lines = pieces[i].splitlines()
        data_lines = [ln[5:].lstrip(" ") for ln in lines if ln.startswith("data:")]
        head = [ln for ln in lines if not ln.startswith("data:")]
        obj = None
        if data_lines:
            try:
                obj = loads("\n".join(data_lines))
            except ValueError:
                obj = None
        if obj is None:
            pieces[i] = scrub_text(pieces[i], keys)
            continue
        events.append([i, head, obj, False])
    return events


def _joined_deltas(events: list[list[Any]]) -> dict[Any, list[tuple[list[Any], str]]]:
    """The delta events of each (block index, text field), in order: what a client joins."""
    by_block: dict[Any, list[tuple[list[Any], str]]] = {}
    for ev in events:
        data = ev[2]
        delta = data.get("delta") if isinstance(data, dict) else None
        if isinstance(delta, dict) and delta.get("type") in _JOINED:
            field = _JOINED[delta["type"]]
            if isinstance(delta.get(field), str):
                by_block.setdefault((data.get("index"), field), []).append((ev, field))
    return by_block


def _scrub_joined(parts: list[tuple[list[Any], str]], keys: list[str]) -> None:
    """Find keys in the joined text of one block's deltas and cut them out piece by piece
    (the placeholder goes in the piece where a key starts)."""
    strings = [ev[2]["delta"][f] for ev, f in parts]
    joined = "".join(strings)
    if scrub_text(joined, keys) == joined:
        return
    spans = _changed_spans(joined, keys)
    pos = 0
    for (ev, f), s in zip(parts, strings, strict=True):
        lo, hi = pos, pos + len(s)
        out, cur = [], lo
        for a, b in spans:
            if b <= lo or a >= hi:
                continue
            out.append(joined[cur : max(a, lo)])
            if a >= lo:
                out.append(PLACEHOLDER)
            cur = min(b, hi)
        out.append(joined[cur:hi])
        new = "".join(out)
        if new != s:
            ev[2]["delta"][f] = new
            ev[3] = True
        pos = hi


def _changed_spans(text: str, keys: list[str]) -> list[tuple[int, int]]:
    """Where in ``text`` :func:`scrub_text` would replace something (sorted spans)."""
    spans: list[tuple[int, int]] = []
    for secret in keys:
        for gram in _fragments(secret):
            start = text.find(gram)
            while start >= 0:
                lo, hi = start, start + len(gram)
                k = secret.find(gram)
                k_lo, k_hi = k, k + len(gram)
                while lo > 0 and k_lo > 0 and text[lo - 1] == secret[k_lo - 1]:
                    lo, k_lo = lo - 1, k_lo - 1
                while hi < len(text) and k_hi < len(secret) and text[hi] == secret[k_hi]:
                    hi, k_hi = hi + 1, k_hi + 1
                spans.append((lo, hi))
                start = text.find(gram, hi)
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def scrub_body(data: bytes, secrets: Iterable[str | None], content_type: str = "") -> bytes:
    """A stored answer's body without the keys: JSON after decoding its escapes, SSE per
    event and across deltas, anything else as text. Unchanged bytes when nothing is found."""
    keys = usable(secrets)
    if not keys or not data:
        return data
    text = data.decode("utf-8", "surrogateescape")
    if "event-stream" in content_type or text.lstrip().startswith(("event:", "data:")):
        clean = _scrub_sse(text, keys)
    else:
        clean = scrub_text(text, keys)
        try:
            obj = loads(text)
        except ValueError:
            obj = None
        if obj is not None:
            scrubbed = scrub(obj, keys)
            if scrubbed != obj:
                clean = json.dumps(scrubbed, ensure_ascii=False)
    return data if clean == text else clean.encode("utf-8", "surrogateescape")


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` with each secret replaced by the placeholder, in every string it holds
    (keys of mappings included)."""
    keys = usable(secrets)
    if not keys:
        return value
    return _scrub_tree(value, keys)


def _scrub_tree(value: Any, keys: list[str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, keys)
    if isinstance(value, dict):
        return {
            (scrub_text(k, keys) if isinstance(k, str) else k): _scrub_tree(v, keys)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub_tree(v, keys) for v in value]
    return value


def redact_logs(secrets: list[str]) -> Callable[[], None]:
    """Scrub ``secrets`` from every log record this process creates from now on; returns
    the function that undoes it.

    httpcore's debug trace and vcrpy's recording log print whole responses, and an endpoint
    may quote the key back in them; with ``--log-level=DEBUG`` pytest would show them. A
    record factory sees each record before any handler (pytest's capture, live logs, a log
    file), so none of them can print the key.
    """
    secrets = usable(secrets)
    previous = logging.getLogRecordFactory()
    if not secrets:
        return lambda: None

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        clean = scrub_text(message, secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub_text(text, secrets)
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(previous)
