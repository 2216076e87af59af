"""Cassettes: record real endpoints once, replay them offline byte-for-byte.

One cassette per (target, case) at ``cassettes/<target>/<case-id>.yaml``, named from the case
id (stable across pytest versions). Requests match on method, path, query, the JSON body and
the few headers the cases vary (auth, anthropic-version, anthropic-beta) — never on host,
port or user-agent noise, so a recording made on one port replays on any. Secrets are
scrubbed before anything is written; a re-recorded cassette replaces the old one atomically.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance import yamlfile
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
    return cassette_dir / target / f"{case_id}.yaml"


def shown_path(path: Path) -> str:
    """A cassette's path as a message shows it: relative to the working directory when it lies
    under it (``cassettes/x/y.yaml``), so results and expectations hold no machine's paths."""
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


def _json_body(request: Any) -> Any:
    raw = request.body or b""
    return _parse_body(raw.encode() if isinstance(raw, str) else raw)


@functools.lru_cache(maxsize=64)
def _parse_body(raw: bytes) -> Any:
    """The JSON of a request body (only compared, never changed): vcrpy matches each request
    against every recorded one, so the same few bodies would be parsed over and over."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


# vcrpy matchers say "no match" by raising AssertionError. Raised explicitly, not with
# `assert`: pytest rewrites this package's asserts and would build a diff of both bodies for
# every recorded request that does not match (and `python -O` would drop the check).
def _match_body(r1: Any, r2: Any) -> None:
    if _json_body(r1) != _json_body(r2):
        raise AssertionError("request bodies differ")


def _match_headers(r1: Any, r2: Any) -> None:
    for name in MATCHED_HEADERS:
        v1, v2 = r1.headers.get(name), r2.headers.get(name)
        v1 = scrub_header_value(name, v1) if v1 and name in CREDENTIAL_HEADERS else v1
        v2 = scrub_header_value(name, v2) if v2 and name in CREDENTIAL_HEADERS else v2
        if v1 != v2:
            raise AssertionError(f"header {name} differs: {v1!r} != {v2!r}")


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
        match_on=["method", "path", "query", "conformance_body", "conformance_headers"],
        # Replay records nothing, and the matchers compare credential headers scrubbed: the
        # filters (each a deep copy of every request vcrpy looks at) only serve recording.
        before_record_request=_scrub_request if record_mode != "none" else None,
        before_record_response=_response_scrubber(secrets) if record_mode != "none" else None,
        decode_compressed_response=True,
    )
    v.register_matcher("conformance_body", _match_body)
    v.register_matcher("conformance_headers", _match_headers)
    return v


@contextlib.contextmanager
def cassette(mode: str, path: Path, secrets: list[str]) -> Iterator[None]:
    """Live: nothing. Record: write ``path`` fresh. Replay: serve ``path`` or fail loudly."""
    if mode == "live":
        yield
        return
    if mode == "replay":
        if not path.exists():
            raise CassetteMissing(f"no cassette at {shown_path(path)}")
        _check_bounded(path)
        manager = _vcr(secrets, "none").use_cassette(str(path))
        try:
            manager.__enter__()
        except Exception as exc:  # vcrpy loads (and parses) the file here
            raise CassetteBroken(
                f"cassette {shown_path(path)} is not readable: {_brief(exc)}"
            ) from None
        try:
            yield
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            manager.__exit__(None, None, None)
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


_ANCHOR_OR_TAG = re.compile(r"[&*][\w-]|!!python|tag:yaml.org,2002:python")


def _check_bounded(path: Path) -> None:
    """A cassette is input like any other: over :data:`~conformance.yamlfile.MAX_FILE_BYTES`,
    an alias bomb, nested too deep or carrying a ``!!python`` tag, it is refused (the row is
    an error naming the file) before vcrpy expands or builds anything of it."""
    try:
        size = path.stat().st_size
        if size > yamlfile.MAX_FILE_BYTES:
            raise yamlfile.InputError(f"over {yamlfile.MAX_FILE_BYTES // 2**20} MB ({size} bytes)")
        text = path.read_text(encoding="utf-8", errors="replace")
        if _ANCHOR_OR_TAG.search(text):  # else nothing to expand (deep nesting: vcrpy's error)
            yamlfile.check_text(text)
    except (yamlfile.InputError, OSError) as exc:
        line = f"line {exc}" if str(exc)[:1].isdigit() else str(exc)
        raise CassetteBroken(f"cassette {shown_path(path)} is not readable: {line}") from None
    except Exception:  # a YAML syntax error: vcrpy's own load reports it
        return


def _brief(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return f"{type(exc).__name__}{where}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def broken_in_replay(exc: BaseException, path: Path) -> CassetteBroken | None:
    """A :class:`CassetteBroken` naming ``path`` when ``exc`` was raised inside vcrpy while
    it served a recorded answer (a cassette edited by hand, truncated, or of another
    format), else None."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if any("/vcr/" in f.filename.replace("\\", "/") for f in frames):
        return CassetteBroken(f"cassette {shown_path(path)} is broken: {_brief(exc)}")
    return None


def recorded_code(path: Path, pattern: re.Pattern[str]) -> str | None:
    """The first match of ``pattern`` in the request bodies recorded in cassette ``path``
    (None if there is none, or no readable cassette): how replay gets back a code that was
    random when the row was recorded (``{{FRESH}}``, see :mod:`conformance.probe`). Only
    requests are read, so an answer that quotes a code cannot supply one."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    interactions = doc.get("interactions") if isinstance(doc, dict) else None
    for interaction in interactions if isinstance(interactions, list) else []:
        request = interaction.get("request") if isinstance(interaction, dict) else None
        body = request.get("body") if isinstance(request, dict) else None
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        found = pattern.search(body) if isinstance(body, str) else None
        if found:
            return found.group(0)
    return None


def is_mismatch(exc: BaseException) -> bool:
    """True for vcrpy's "no recorded request matches" error (a stale cassette)."""
    return type(exc).__name__ == "CannotOverwriteExistingCassetteException"


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
    present = {p.stem for p in (cassette_dir / target).glob("*.yaml") if not p.name.startswith("_")}
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
    import yaml

    seen: dict[str, set[str]] = {}
    for path in sorted(target_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        for interaction in doc.get("interactions", []):
            headers = (interaction.get("response") or {}).get("headers") or {}
            for name, values in headers.items():
                if name.lower() in VERSION_HEADERS:
                    seen.setdefault(name.lower(), set()).update(map(str, values))
    return {name: sorted(values) for name, values in sorted(seen.items())}
