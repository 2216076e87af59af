"""Cassettes: record real endpoints once, replay them offline byte-for-byte.

One cassette per (target, case) at ``cassettes/<target>/<case-id>.json`` (the file format and
the matcher: :mod:`conformance.cassettefile`), named from the case id (stable across pytest
versions). Requests match on method, path, query, the JSON body and the few headers the cases
vary (auth, anthropic-version, anthropic-beta) — never on host, port or user-agent noise, so
a recording made on one port replays on any. Secrets are scrubbed before anything is
written; a re-recorded cassette replaces the old one atomically.

Recording goes through vcrpy (its httpx patching, serializer, persister and matcher hooks).
Replay does not: :class:`Replay` reads a row's cassette and plays it as vcrpy's ``Cassette``
would (each answer once, to the first matching request in recorded order), answering the
client before httpx sends anything (:data:`conformance.transport.replay`); vcrpy's import,
cassette objects and matchers were most of a replay's cost.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance import cassettefile, transport, yamlfile
from conformance.secrets import (
    CREDENTIAL_HEADERS,
    scrub_body,
    scrub_header_value,
    scrub_text,
    scrub_url,
)

# Request headers whose value decides what a case tests; compared (after scrubbing) in replay.
MATCHED_HEADERS = ("x-api-key", "authorization", "anthropic-version", "anthropic-beta")
# Response headers that identify an account or a request: dropped before writing.
DROPPED_RESPONSE_HEADERS = {
    "set-cookie",
    "request-id",
    "x-request-id",
    "anthropic-organization-id",
    "openai-organization",
    "cf-ray",
    "x-litellm-call-id",
    "x-litellm-key-spend",
    "llm_provider-x-request-id",
}


class CassetteMissing(Exception):
    """Replay found no cassette (or no matching request in it)."""


class CassetteBroken(Exception):
    """A cassette that is not a readable vcrpy cassette (the message names the file)."""


def cassette_path(cassette_dir: Path, target: str, case_id: str) -> Path:
    return cassette_dir / target / f"{case_id}{cassettefile.SUFFIX}"


def shown_path(path: Path) -> str:
    """A cassette's path as a message shows it: relative to the working directory when it lies
    under it (``cassettes/x/y.json``), so results and expectations hold no machine's paths."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def record_command(target: str, case_id: str) -> str:
    return f"pytest --target {target} --mode record -k '{case_id}[{target}]'"


def _scrub_request(request: Any) -> Any:
    if "@" in request.uri:  # --base-url http://user:key@host/
        request.uri = scrub_url(request.uri)
    for name in list(request.headers):
        if name.lower() in CREDENTIAL_HEADERS:
            request.headers[name] = scrub_header_value(name, request.headers[name])
    return request


def _response_scrubber(secrets: list[str]) -> Any:
    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        status = response.get("status")
        if isinstance(status, dict) and isinstance(status.get("message"), str):
            status["message"] = scrub_text(status["message"], secrets)  # the reason phrase
        headers = response.get("headers", {})
        content_type = ""
        for name in list(headers):
            values = headers.pop(name)
            if name.lower() in DROPPED_RESPONSE_HEADERS or name.lower() in CREDENTIAL_HEADERS:
                continue
            # a gateway may quote the key back in a header of its own, value or name
            clean = scrub_text(name, secrets)
            scrubbed = [
                scrub_text(str(v), secrets)
                for v in (values if isinstance(values, list) else [values])
            ]
            headers[clean] = scrubbed if isinstance(values, list) else scrubbed[0]
            if clean.lower() == "content-type":
                content_type = str(scrubbed[0])
        body = response.get("body", {})
        data = body.get("string")
        if isinstance(data, bytes):
            body["string"] = scrub_body(data, secrets, content_type)
        elif isinstance(data, str):
            body["string"] = scrub_body(
                data.encode("utf-8", "surrogateescape"), secrets, content_type
            ).decode("utf-8", "surrogateescape")
        return response

    return scrub


def _scrubbed(name: str, value: str | None) -> str | None:
    return scrub_header_value(name, value) if value and name in CREDENTIAL_HEADERS else value


def _match_probe(r1: Any, r2: Any) -> None:
    cassettefile.match_probe(r1, r2, MATCHED_HEADERS, _scrubbed)


# The suite's client is httpx; vcrpy would otherwise build and apply patchers for eight other
# HTTP libraries on every cassette (a third of replay's per-row cost).
SKIP_PATCHERS = (
    "httplib", "requests", "boto3", "urllib3", "httplib2", "tornado", "aiohttp", "httpx2",
)  # fmt: skip


def _vcr(secrets: list[str], record_mode: str) -> Any:
    import vcr

    v = vcr.VCR(
        record_mode=record_mode,
        skip_patchers=SKIP_PATCHERS,
        serializer="conformance",
        match_on=["conformance_probe"],
        before_record_request=_scrub_request,
        before_record_response=_response_scrubber(secrets),
        decode_compressed_response=True,
    )
    v.register_serializer("conformance", cassettefile)
    v.register_persister(cassettefile.Persister)
    v.register_matcher("conformance_probe", _match_probe)
    return v


class Stale(Exception):
    """Replay: the cassette holds no unplayed answer for a request the row sent (the probe
    changed since it was recorded, or the row asks more often than it did then)."""


class Replay:
    """One row's cassette as replay serves it: each recorded answer played once, to the
    first request that matches it (:func:`conformance.cassettefile.request_key` and the
    body), in the order recorded; a request with none left raises :class:`Stale`.

    These are the semantics of vcrpy's ``Cassette.play_response`` with this suite's matcher
    and ``allow_playback_repeats`` off, kept without vcrpy's machinery, which was most of
    replay's cost (measured over the 555 shipped cassettes: importing vcrpy 0.14 s, loading
    them through ``Cassette.load`` 0.13-0.19 s against 0.04 s to read and parse the files,
    and playing their 1,436 requests through vcrpy ``Request`` objects and matchers 0.13 s).
    vcrpy still records every cassette, through the same serializer and matcher.
    """

    def __init__(self, doc: dict[str, Any], path: Path) -> None:
        self.path = path
        self.bodies = [cassettefile.body_bytes(b) for b in doc["bodies"]]
        self._responses = [item["response"] for item in doc["interactions"]]
        self._answers = [cassettefile.response_bytes(r.get("body")) for r in self._responses]
        # request key -> [(interaction index, body index)], in recorded order, unplayed ones
        self._unplayed: dict[tuple[Any, ...], list[tuple[int, int | None]]] = {}
        for n, item in enumerate(doc["interactions"]):
            request = item["request"]
            headers = {
                str(k).lower(): v[0] if isinstance(v, list | tuple) else v
                for k, v in (request.get("headers") or {}).items()
            }  # as vcrpy's HeadersDict holds them: case-insensitive, a list's first value
            key = cassettefile.request_key(
                request["method"], request["uri"], headers.get, MATCHED_HEADERS, _scrubbed
            )
            self._unplayed.setdefault(key, []).append((n, request.get("body")))

    @classmethod
    def load(cls, path: Path) -> Replay:
        """The cassette at ``path``: :class:`CassetteMissing` when there is none, and
        :class:`CassetteBroken` (naming it) when it is not one: over the size cap, not
        UTF-8, not this suite's format."""
        try:
            return cls(cassettefile.read(path), path)
        except FileNotFoundError:
            raise CassetteMissing(_missing(path)) from None
        except Exception as exc:
            raise CassetteBroken(
                f"cassette {shown_path(path)} is not readable: {_brief(exc)}"
            ) from None

    def answer(self, method: str, uri: str, header: Any, body: bytes) -> Any:
        """The recorded answer to this request (``header(name)``: its header values as
        httpx sends them), marked played; :class:`Stale` when none is left."""
        key = cassettefile.request_key(method, uri, header, MATCHED_HEADERS, _scrubbed)
        waiting = self._unplayed.get(key, [])
        for place, (n, ref) in enumerate(waiting):
            recorded = b"" if ref is None else self.bodies[ref]
            if recorded == body or cassettefile.body_key(recorded) == cassettefile.body_key(body):
                del waiting[place]
                return _answer(self._responses[n], self._answers[n], self.path)
        raise Stale(f"{method} {uri}")


def _answer(recorded: dict[str, Any], body: bytes, path: Path) -> Any:
    """A recorded response as the client reads it: the status, the headers as httpx folds
    them (names lower-cased, repeated ones joined by ", "), the body (stored decoded: vcrpy
    records with ``decode_compressed_response``). Anything unusual (a content-encoding, a
    header that is not ASCII text, a status that is not an integer) is built by httpx
    itself, as it would be from the network; what httpx refuses is a broken cassette."""
    try:
        status, headers = recorded["status"], recorded["headers"]
        code, message = status["code"], status.get("message")
        pairs = [(k, v) for k, values in headers.items() for v in values]
        plain = type(code) is int and (not message or (type(message) is str and message.isascii()))
        folded: dict[str, str] = {}
        for k, v in pairs:
            if not (type(k) is str and type(v) is str and k.isascii() and v.isascii()):
                plain = False
                break
            k = k.lower()
            folded[k] = f"{folded[k]}, {v}" if k in folded else v
        if plain and "content-encoding" not in folded:
            return transport.Recorded(code, folded, body)
        import httpx

        return httpx.Response(
            code,
            headers=pairs,
            stream=httpx.ByteStream(body),
            extensions={"reason_phrase": message.encode("ascii")} if message else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CassetteBroken(f"cassette {shown_path(path)} is broken: {_brief(exc)}") from None


@contextlib.contextmanager
def cassette(mode: str, path: Path, secrets: list[str]) -> Iterator[None]:
    """Live: nothing. Record: write ``path`` fresh. Replay: serve ``path`` or fail loudly."""
    if mode == "live":
        yield
        return
    if mode == "replay":
        previous = getattr(transport.replay, "serve", None)
        transport.replay.serve = Replay.load(path)
        try:
            yield
        finally:
            transport.replay.serve = previous
        return
    if mode == "record":
        # Record into a scratch file beside the real one, then rename: re-recording replaces
        # the old cassette atomically and an interrupted case leaves no half cassette.
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".recording-") as scratch_dir:
            scratch = Path(scratch_dir) / path.name
            with _vcr(secrets, "all").use_cassette(str(scratch)):
                yield
            if scratch.exists():
                os.replace(scratch, path)
        return
    raise ValueError(f"unknown mode {mode!r}")


def _missing(path: Path) -> str:
    old = path.with_suffix(".yaml")
    if old.exists():  # recorded before the JSON format (anthropic-conformance 0.1, YAML)
        return (
            f"no cassette at {shown_path(path)}, only one in the old YAML format at "
            f"{shown_path(old)}; convert it with: python -m conformance cassettes convert "
            f"{shown_path(path.parent)}"
        )
    return f"no cassette at {shown_path(path)}"


def _brief(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return f"{type(exc).__name__}{where}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def recorded_code(path: Path, pattern: re.Pattern[str]) -> str | None:
    """The first match of ``pattern`` in the request bodies recorded in cassette ``path``
    (None if there is none, or no readable cassette): how replay gets back a code that was
    random when the row was recorded (``{{FRESH}}``, see :mod:`conformance.probe`). Only
    requests are read, so an answer that quotes a code cannot supply one."""
    try:
        doc = cassettefile.read(path)  # bounded and checked as replay reads it
    except (OSError, cassettefile.CassetteFormatError):
        return None  # the replay itself reports the cassette as missing or broken
    for body in doc["bodies"]:
        text = body if isinstance(body, str) else ""  # a base64 body holds no text code
        found = pattern.search(text)
        if found:
            return found.group(0)
    return None


def is_mismatch(exc: BaseException) -> bool:
    """True for "no recorded request matches": :class:`Stale` in replay, vcrpy's own error
    when a cassette is used through vcrpy."""
    vcrpy_stale = type(exc).__name__ == "CannotOverwriteExistingCassetteException"
    return isinstance(exc, Stale) or vcrpy_stale


def write_provenance(cassette_dir: Path, target: str, info: dict[str, Any]) -> Path:
    """``cassettes/<target>/_provenance.yaml``: what was recorded, where, when, with what."""
    import yaml

    path = cassette_dir / target / "_provenance.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(info)
    info.setdefault("server", served_by(cassette_dir / target))
    # Re-recording a few rows must not forget when the others were recorded: ``cases`` maps
    # every cassette still present to the date it was last recorded.
    old = yaml.safe_load(path.read_text()) if path.exists() else {}
    dates = old.get("cases") if isinstance(old, dict) else None
    dates = dict(dates) if isinstance(dates, dict) else {}
    dates.update(dict.fromkeys(info.pop("cases", []), info.get("recorded")))
    present = {p.stem for p in cassette_files(cassette_dir / target)}
    info["cases"] = {cid: dates[cid] for cid in sorted(dates) if cid in present}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".provenance-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(info, fh, sort_keys=False)
    os.replace(tmp, path)
    return path


# Response headers through which servers and gateways say what and which version they are.
VERSION_HEADERS = ("server", "x-litellm-version", "x-vllm-version", "openai-version", "via")


def served_by(target_dir: Path) -> dict[str, list[str]]:
    """The version headers seen across a target's cassettes, e.g. {"server": ["llama.cpp"]}."""
    seen: dict[str, set[str]] = {}
    for path in cassette_files(target_dir):
        doc = cassettefile.load_document(path.read_text(encoding="utf-8"))
        for interaction in doc["interactions"]:
            headers = (interaction.get("response") or {}).get("headers") or {}
            for name, values in headers.items():
                if name.lower() in VERSION_HEADERS:
                    seen.setdefault(name.lower(), set()).update(map(str, values))
    return {name: sorted(values) for name, values in sorted(seen.items())}


_ANCHOR_OR_TAG = re.compile(r"[&*][\w-]|!!python|tag:yaml.org,2002:python")


def has_recordings(target_dir: Path) -> bool:
    """True when a target's folder holds a cassette or the provenance of a recording (a
    recording interrupted before its first row still leaves one: replay then names the
    missing cassette of each row rather than refusing the target)."""
    return (target_dir / "_provenance.yaml").is_file() or bool(cassette_files(target_dir))


def cassette_files(target_dir: Path) -> list[Path]:
    """A target's cassettes, sorted (``_provenance.yaml`` and scratch files are not)."""
    return sorted(
        p for p in target_dir.glob(f"*{cassettefile.SUFFIX}") if not p.name.startswith(("_", "."))
    )


def convert_yaml(path: Path) -> Path:
    """Rewrite one vcrpy YAML cassette (this suite's format before 0.2) as :mod:`cassettefile`
    JSON beside it, and remove the YAML: the same interactions, read and written by vcrpy's
    own serializers, so nothing a verdict reads changes (tests/test_cassettefile.py replays
    both forms and compares every row)."""
    from vcr.serialize import deserialize, serialize
    from vcr.serializers import yamlserializer

    if path.stat().st_size > yamlfile.MAX_FILE_BYTES:
        raise yamlfile.InputError(f"{shown_path(path)}: over {yamlfile.MAX_FILE_BYTES} bytes")
    text = path.read_text(encoding="utf-8")
    if _ANCHOR_OR_TAG.search(text):  # an alias bomb or a !!python tag is refused, not built
        yamlfile.check_text(text)
    requests, responses, *metadata = deserialize(text, yamlserializer)
    doc = {"requests": requests, "responses": responses}
    if metadata and metadata[0]:
        doc["metadata"] = metadata[0]
    target = path.with_suffix(cassettefile.SUFFIX)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(serialize(doc, cassettefile).encode("utf-8"))
    os.replace(tmp, target)
    path.unlink()
    return target
