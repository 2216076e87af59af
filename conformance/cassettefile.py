"""The cassette file: how one row's recorded exchanges lie on disk, as vcrpy extensions.

vcrpy records every cassette; this module is what it is given through its documented
extension points (https://vcrpy.readthedocs.io/en/latest/advanced.html): a *serializer*
(``serialize``/``deserialize``), a *persister* (:class:`Persister`) and a *matcher*
(:func:`match_probe`). Replay reads the same file itself (:func:`read`, and
:class:`conformance.recording.Replay`, which plays it as vcrpy's ``Cassette`` does), matching
on the same key (:func:`request_key`, :func:`body_key`). Why not vcrpy's YAML: the YAML
cassettes cost 5.9x the collection floor to replay, most of it PyYAML constructing 16 MB of
nodes in Python and vcrpy's request filters deep-copying each request at every lookup.

The format (``cassettes/<target>/<case-id>.json``), JSON written one field to a line:

* ``format``: :data:`FORMAT`; a file without it is refused with the fix (re-record or
  ``python -m conformance cassettes convert``).
* ``bodies``: each distinct request body once, as text. A row repeats its request for
  trials and controls, and bisection sends near-copies of a large request; the interactions
  refer to a body by its index. (Claude Code's first request alone is 45-140 KB.)
* ``interactions``: vcrpy's own request/response pairs, unchanged but for the body index and
  for a response body being ``{"lines": [...]}`` (text with line breaks, an event stream:
  one line per JSON line, so a re-recording diffs line by line), ``{"string": "..."}``
  (other text) or ``{"base64": "..."}`` (bytes that are not UTF-8, kept exactly).

Nothing is dropped: every header, status, reason phrase and byte of every answer is kept, so
every verdict and its evidence come out of a cassette exactly as before (the migration test
replays both forms and compares row by row).
"""

from __future__ import annotations

import base64
import functools
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from conformance import yamlfile

FORMAT = "anthropic-conformance/cassette/2"
SUFFIX = ".json"


class CassetteFormatError(ValueError):
    """A file that is not a cassette of :data:`FORMAT` (its text says why and the fix)."""


# --- serializer: vcrpy calls serialize(dict) -> str and deserialize(str) -> dict ----------


def serialize(cassette_dict: dict[str, Any]) -> str:
    """vcrpy's cassette dict (``{"version", "interactions": [{request, response}]}``, bodies
    already text where they decode) as this module's JSON."""
    bodies: list[str | dict[str, str]] = []
    index: dict[Any, int] = {}
    interactions = []
    for item in cassette_dict["interactions"]:
        request = dict(item["request"])
        body = request.get("body")
        if body is not None:
            stored = _stored_text(body)
            key = json.dumps(stored, sort_keys=True) if isinstance(stored, dict) else stored
            if key not in index:
                index[key] = len(bodies)
                bodies.append(stored)
            request["body"] = index[key]
        response = dict(item["response"])
        response["body"] = _stored_response_body(response.get("body"))
        interactions.append({"request": request, "response": response})
    doc = {
        "format": FORMAT,
        "version": cassette_dict.get("version", 1),
        "bodies": bodies,
        "interactions": interactions,
    }
    if cassette_dict.get("metadata"):
        doc["metadata"] = cassette_dict["metadata"]
    return _dump(doc)


def deserialize(text: str) -> dict[str, Any]:
    """This module's JSON back to vcrpy's cassette dict (bodies as vcrpy stores them)."""
    doc = load_document(text)
    bodies = [_loaded_text(b) for b in doc["bodies"]]
    interactions = []
    for item in doc["interactions"]:
        request = dict(item["request"])
        if request.get("body") is not None:
            request["body"] = bodies[request["body"]]
        response = dict(item["response"])
        response["body"] = {"string": _loaded_response_body(response.get("body"))}
        interactions.append({"request": request, "response": response})
    out: dict[str, Any] = {"version": doc.get("version", 1), "interactions": interactions}
    if doc.get("metadata"):
        out["metadata"] = doc["metadata"]
    return out


def load_document(text: str) -> dict[str, Any]:
    """The parsed file, checked for what :func:`deserialize` relies on (a clear error, not a
    KeyError deep in vcrpy, for a file edited by hand or of another format)."""
    try:
        doc = json.loads(text)
    except RecursionError:  # [[[[... : json's recursion guard, not a cassette
        raise CassetteFormatError("nested too deep to be a cassette") from None
    except ValueError as exc:
        raise CassetteFormatError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CassetteFormatError(
            f"not a cassette of format {FORMAT!r} (re-record it, or convert old YAML "
            "cassettes with: python -m conformance cassettes convert DIR)"
        )
    bodies, interactions = doc.get("bodies"), doc.get("interactions")
    if not isinstance(bodies, list) or not isinstance(interactions, list):
        raise CassetteFormatError("'bodies' and 'interactions' must be lists")
    for n, item in enumerate(interactions):
        ref = item.get("request", {}).get("body") if isinstance(item, dict) else "bad"
        if not isinstance(item, dict) or not isinstance(item.get("response"), dict):
            raise CassetteFormatError(f"interaction {n} is not a request/response pair")
        if ref is not None and not (type(ref) is int and 0 <= ref < len(bodies)):
            raise CassetteFormatError(f"interaction {n}: request body {ref!r} is not an index")
    return doc


def _dump(doc: dict[str, Any]) -> str:
    """One field to a line, but each body, header value and stream line on one line of its
    own: small diffs when a row is re-recorded, no indentation inside the big strings."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def _stored_text(body: Any) -> str | dict[str, str]:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(body).decode("ascii")}
    return body if isinstance(body, str) else str(body)


def _loaded_text(stored: Any) -> Any:
    if isinstance(stored, dict) and isinstance(stored.get("base64"), str):
        return base64.b64decode(stored["base64"])
    if not isinstance(stored, str):
        raise CassetteFormatError(f"a body is {type(stored).__name__}, not text or base64")
    return stored


def _stored_response_body(body: Any) -> dict[str, Any]:
    data = body.get("string") if isinstance(body, dict) else body
    stored = _stored_text(data if data is not None else "")
    if isinstance(stored, dict):
        return stored
    if "\n" in stored:
        return {"lines": stored.splitlines(keepends=True)}
    return {"string": stored}


def _loaded_response_body(body: Any) -> Any:
    if not isinstance(body, dict):
        raise CassetteFormatError("a response body is not an object")
    if isinstance(body.get("lines"), list):
        if not all(isinstance(line, str) for line in body["lines"]):
            raise CassetteFormatError("a response body's lines are not all text")
        return "".join(body["lines"])
    if "base64" in body:
        return _loaded_text(body)
    return _loaded_text(body.get("string", ""))


# --- persister: vcrpy calls load_cassette(path, serializer) and save_cassette(...) --------


class Persister:
    """Reads and writes cassette files as UTF-8 whatever the locale, and refuses a file over
    ``max_bytes`` before reading it (a cassette is untrusted input like any other)."""

    max_bytes = yamlfile.MAX_FILE_BYTES  # the one cap on input files

    @classmethod
    def load_cassette(cls, cassette_path: str | Path, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize as vcr_deserialize

        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        return vcr_deserialize(read_text(path), serializer)

    @staticmethod
    def save_cassette(cassette_path: str | Path, cassette_dict: Any, serializer: Any) -> None:
        from vcr.serialize import serialize as vcr_serialize

        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(vcr_serialize(cassette_dict, serializer).encode("utf-8"))


def read_text(path: Path) -> str:
    """A cassette file's text, refused over :attr:`Persister.max_bytes` before it is read
    and when it is not UTF-8 (a cassette is untrusted input like any other). One open and
    one ``fstat``: replay reads a cassette a row."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > Persister.max_bytes:
            raise CassetteFormatError(f"over {Persister.max_bytes // 2**20} MB ({size} bytes)")
        data = fh.read(size + 1)  # a buffer of the file's size, not of the cap
        if len(data) > size:  # it grew since fstat: the rest, still bounded by the cap
            data += fh.read(Persister.max_bytes + 1 - len(data))
    if len(data) > Persister.max_bytes:
        raise CassetteFormatError(f"over {Persister.max_bytes // 2**20} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CassetteFormatError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None


def read(path: Path) -> dict[str, Any]:
    """The cassette at ``path`` as stored (:func:`load_document`): what replay serves from,
    with no vcrpy objects built (see :class:`conformance.recording.Replay`)."""
    return load_document(read_text(path))


def body_bytes(stored: Any) -> bytes:
    """A stored request body as the bytes it was sent as (what vcrpy's ``Request`` holds)."""
    return _utf8(_loaded_text(stored))


def response_bytes(stored: Any) -> bytes:
    """A stored response body as the bytes received (decoded: recorded with vcrpy's
    ``decode_compressed_response``)."""
    return _utf8(_loaded_response_body(stored))


def _utf8(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


# --- matcher: one comparison of what identifies a probe's request -------------------------


def match_probe(r1: Any, r2: Any, headers: tuple[str, ...], scrub: Any) -> None:
    """vcrpy matcher: method, path, query, the JSON body and the ``headers`` the cases vary
    (credential values compared through ``scrub``), never host, port or user-agent noise.

    Each request's key is computed once and kept on it (replay hands the same objects to
    every comparison), so a lookup compares tuples instead of re-parsing URIs and bodies.
    vcrpy reads "no match" from AssertionError, raised explicitly: pytest rewrites this
    package's asserts and would diff both bodies for every recorded request that differs.
    """
    k1, k2 = _key(r1, headers, scrub), _key(r2, headers, scrub)
    if k1 != k2:
        part = next(n for n, a, b in zip(_KEY_PARTS, k1, k2, strict=True) if a != b)
        raise AssertionError(f"request {part} differs")


_KEY_PARTS = ("method", "path", "query", "body", "headers")


def _key(request: Any, headers: tuple[str, ...], scrub: Any) -> tuple[Any, ...]:
    key = getattr(request, "_conformance_key", None)
    if key is None or key[0] is not request.body:
        method, path, query, found = request_key(
            request.method, request.uri, request.headers.get, headers, scrub
        )
        key = (request.body, (method, path, query, body_key(request.body or b""), found))
        request._conformance_key = key
    return key[1]


def request_key(
    method: str, uri: str, header: Any, headers: tuple[str, ...], scrub: Any
) -> tuple[Any, ...]:
    """What identifies a request but its body: method, path, query (parsed as vcrpy's
    ``Request`` parses its ``uri``) and the ``headers`` values (``header(name)``, as vcrpy's
    case-insensitive headers give them), credentials compared through ``scrub`` so a live key
    matches its recorded ``<redacted>`` form. One definition for the vcrpy matcher and for
    replay's index (:class:`conformance.recording.Replay`)."""
    parsed = _parsed_uri(uri)
    return (method, parsed[0], parsed[1], tuple(scrub(n, header(n)) for n in headers))


@functools.lru_cache(maxsize=1024)
def _parsed_uri(uri: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parsed = urlparse(uri)
    return parsed.path, tuple(sorted(parse_qsl(parsed.query)))


@functools.lru_cache(maxsize=256)
def body_key(raw: bytes | str) -> Any:
    """A body as compared: its JSON, canonical (key order and spacing do not identify a
    probe), or the raw bytes when it is not JSON."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        return json.dumps(json.loads(data), sort_keys=True) if data else None
    except (ValueError, RecursionError):
        return data
