"""The page's files in ``templates/`` (HTML skeleton, CSS, JS): read once, pinned in the
page's Content-Security-Policy by their SHA-256, and the skeleton filled with the page's
fragments as a list of pieces, so a page of megabytes is written piece by piece and never
held as one string (:func:`conformance.results.write_atomic`)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources
from string import Template


@cache
def asset(name: str) -> str:
    """A file of ``templates/`` as text (read once per process)."""
    return resources.files("conformance.report").joinpath("templates", name).read_text("utf-8")


def csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def fill(template: str, values: dict[str, str | list[str]]) -> list[str]:
    """``Template(template).substitute(values)`` as the list of its pieces: the template's
    text between placeholders, and each value (a list value's pieces in turn). ``$$`` is
    a ``$``; a missing name raises ``KeyError``, a bad placeholder ``ValueError``, as
    ``substitute`` does."""
    out: list[str] = []
    at = 0
    for m in Template.pattern.finditer(template):
        out.append(template[at : m.start()])
        name = m.group("named") or m.group("braced")
        if name is not None:
            value = values[name]
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
        elif m.group("escaped") is not None:
            out.append(Template.delimiter)
        else:
            raise ValueError(f"invalid placeholder in the page's template at {m.start()}")
        at = m.end()
    out.append(template[at:])
    return out
