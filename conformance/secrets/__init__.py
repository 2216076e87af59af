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
  ``\u002d`` are undone on the way, one or two levels deep), before any cutting, and across
  SSE deltas joined into one text (text, thinking and tool input). Any run of
  :data:`MIN_FRAGMENT` or more characters of a key counts as the key (:func:`scrub_text`),
  compared case-insensitively, so a key cut at 120 characters by a summary does not leave
  its first 12 behind and a header name folded to lower case does not keep 25 of its
  windows. The key's base64, base64url and hex forms count as the key too (gateways echo
  Basic tokens); they are computed once per run (:func:`key_forms`, ``forms.py``).
* A stored body is scanned as raw text, every byte of it (``bodies.py``): an SSE stream's
  ``id:``, ``event:`` and comment lines as much as its data, and bodies that are not one
  well-formed JSON document (duplicate members, too deep, malformed).
* A key shorter than :data:`MIN_SECRET_LEN` characters ("x", "1", "test": local servers
  accept them) is never substring-replaced in prose or bodies: it would mangle the answer
  ("code e<redacted>ecution"). Such a key is redacted only where it is an exact value: the
  credential headers above.

The report's redaction of uploaded results (``conformance.report.redact``) uses the same
header list and placeholder.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conformance.secrets.bodies import scrub_body, scrub_bytes
from conformance.secrets.forms import (
    MIN_FRAGMENT,
    MIN_SECRET_LEN,
    PLACEHOLDER,
    KeyForms,
    key_forms,
    key_spans,
    scrub,
    scrub_json,
    scrub_text,
    usable,
)

__all__ = [
    "CREDENTIAL_HEADERS",
    "MIN_FRAGMENT",
    "MIN_SECRET_LEN",
    "PLACEHOLDER",
    "REPORT_SECRET_KEYS",
    "WRONG_KEY",
    "KeyForms",
    "is_credential",
    "kept_headers",
    "key_forms",
    "key_spans",
    "redact_headers",
    "redact_logs",
    "scrub",
    "scrub_body",
    "scrub_bytes",
    "scrub_header_value",
    "scrub_json",
    "scrub_text",
    "scrub_url",
    "url_secrets",
    "usable",
    "without_credentials",
]

CREDENTIAL_HEADERS = frozenset(
    {"x-api-key", "authorization", "cookie", "set-cookie", "proxy-authorization"}
)
# Where a wrong-but-well-formed key is needed (auth rows), this one is used: it is public,
# and kept as it is in cassettes so that the auth rows replay.
WRONG_KEY = "sk-conformance-wrong-key-0000"
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


def kept_headers(items: Iterable[tuple[str, str]], secrets: Iterable[str | None]) -> dict[str, str]:
    """An answer's headers as evidence keeps them: credential headers left out, every name
    and value scrubbed as received, names folded to lower case (the scan ignores case).
    Nearly every header an endpoint sends repeats from one answer to the next (its name, a
    content type, a server): each short one is scrubbed once a run and then remembered."""
    pairs = [(k, v) for k, v in items if k.lower() not in CREDENTIAL_HEADERS]
    keys = usable(secrets)
    if not keys:
        return {k.lower(): v for k, v in pairs}
    return {_kept(k, keys).lower(): _kept(v, keys) for k, v in pairs}


def _kept(text: str, keys: tuple[str, ...]) -> str:
    return _kept_short(text, keys) if len(text) <= _SHORT else scrub_text(text, keys)


_SHORT = 256  # what is remembered: in memory only, never written anywhere


@functools.lru_cache(maxsize=4096)
def _kept_short(text: str, keys: tuple[str, ...]) -> str:
    return scrub_text(text, keys)


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
