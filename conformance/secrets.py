"""Credentials: which headers carry them, what they become, and the functions that scrub.

Everyone that stores or shows something an endpoint or a client sent imports this module:
the HTTP client (evidence), the cassettes (recording), the runner (results and logs) and the
capture tool (raw captures, shapes). There is one list and one placeholder, so a header
redacted in one place is redacted everywhere and reads the same.

The report has its own redaction of uploaded results (``conformance.report.redact``) for
files this run did not write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# Headers that carry credentials (request or response): never logged, never stored.
CREDENTIAL_HEADERS = frozenset(
    {"x-api-key", "authorization", "cookie", "set-cookie", "proxy-authorization"}
)
# What a credential (or a key quoted back by an endpoint) becomes, everywhere.
PLACEHOLDER = "<redacted>"
# Where a wrong-but-well-formed key is needed (auth rows), this one is used: it is public,
# and kept as it is in cassettes so that the auth rows replay.
WRONG_KEY = "sk-conformance-wrong-key-0000"


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


def scrub_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, PLACEHOLDER)
    return text


def scrub_bytes(data: bytes, secrets: list[str]) -> bytes:
    for secret in secrets:
        if secret:
            data = data.replace(secret.encode(), PLACEHOLDER.encode())
    return data


def scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with each secret replaced by the placeholder, in every string it holds."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def redact_logs(secrets: list[str]) -> Callable[[], None]:
    """Scrub ``secrets`` from every log record this process creates from now on; returns
    the function that undoes it.

    httpcore's debug trace and vcrpy's recording log print whole responses, and an endpoint
    may quote the key back in them; with ``--log-level=DEBUG`` pytest would show them. A
    record factory sees each record before any handler (pytest's capture, live logs, a log
    file), so none of them can print the key.
    """
    secrets = [s for s in secrets if s]
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
