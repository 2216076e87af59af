"""Request shapes: what a real client sends, kept without its text, and sent again.

A shape file (``cases/shapes/<client>-<version>-<turn>.json``) keeps a captured request's
method, path, query, auth scheme, non-secret headers with the ``anthropic-beta`` list, and
every body key, type and size; every text the client wrote is replaced by neutral filler of
the same length (:func:`neutral_filler`) and ids are zeroed. :func:`extract_shape` makes one
from a captured request (the capture tool, ``conformance.capture``, calls it);
:func:`shape_to_request` and :func:`send_shape` turn one back into a request for a target
(the ``client_shape`` oracle). A run needs this module, never the capture tool.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.filler import neutral_filler
from conformance.secrets import CREDENTIAL_HEADERS

# Request headers whose values are credentials: recorded as a name (and auth scheme) only.
# Hop-by-hop and transport headers: neither forwarded as they are nor part of a shape.
TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
        "te",
        "upgrade",
        "proxy-connection",
    }
)
# Headers whose value describes the machine the client ran on, not the client.
PER_MACHINE_HEADERS = frozenset(
    {
        "x-stainless-os",
        "x-stainless-arch",
        "x-stainless-runtime",
        "x-stainless-runtime-version",
    }
)
SHAPES_DIR = Path(__file__).resolve().parent.parent / "cases" / "shapes"
SHAPE_FORMAT = 1

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LONG_HEX = re.compile(r"\b[0-9a-fA-F]{16,}\b")
# A value like an enum member, a tool name or a media type: a fact of the shape, kept.
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,64}$")
# Keys whose string values are protocol vocabulary, kept even when they look like text.
KEEP_KEYS = frozenset(
    {
        "type",
        "role",
        "model",
        "name",
        "media_type",
        "$schema",
        "format",
        "ttl",
        "scope",
        "tool_use_id",
        "id",
        "effort",
        "display",
    }
)
BILLING = re.compile(r"^x-anthropic-billing-header:")


def neutral_id(text: str) -> str:
    """UUIDs and long hex runs (session, device and request ids) become zeros of one format."""
    text = UUID.sub("00000000-0000-4000-8000-000000000000", text)
    return LONG_HEX.sub(lambda m: "0" * len(m.group(0)), text)


def _neutral_billing(text: str) -> str:
    # x-anthropic-billing-header: cc_version=2.1.197.1c0; cc_entrypoint=sdk-cli; cch=1a2b3;
    # The version is a fact; the suffix after it and the cch nonce change per request.
    text = re.sub(r"(cc_version=\d+\.\d+\.\d+)\.[0-9A-Za-z]+", r"\1.000", text)
    return re.sub(r"(cch=)[0-9A-Za-z]+", lambda m: m.group(1) + "0" * (len(m.group(0)) - 4), text)


def _skeleton_string(text: str, path: tuple[Any, ...]) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if BILLING.match(text):
        return _neutral_billing(text)
    if text.startswith("{") and text.endswith("}"):
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, dict):  # e.g. metadata.user_id: a JSON string of ids
            compact = '": ' not in text
            return json.dumps(
                skeleton(inner, (*path, "<json>")),
                separators=(",", ":") if compact else None,
            )
    if key in KEEP_KEYS or IDENTIFIER.match(text):
        return neutral_id(text)
    return neutral_filler(len(text), "/".join(map(str, path)))


def skeleton(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """The body with its structure, keys, types, sizes and vocabulary, but none of its prose.

    Kept: every key, every non-string value, identifier-like strings (enum members, tool
    names, media types, ``type``/``role`` values) with ids zeroed, and the billing header
    with its nonce zeroed. Replaced by same-length filler: every other string (system prompt,
    tool and parameter descriptions, user text, tool results, paths).
    """
    if isinstance(value, dict):
        return {k: skeleton(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(v, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, str):
        return _skeleton_string(value, path)
    return value


def walk_strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, depth first."""
    if isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)
    elif isinstance(value, str):
        yield value


def auth_style(headers: dict[str, str]) -> str:
    if headers.get("authorization", "").lower().startswith("bearer"):
        return "bearer"
    if "x-api-key" in headers:
        return "x-api-key"
    return "none"


def shape_headers(headers: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Headers a shape keeps (values with ids zeroed) and the names it leaves out."""
    kept, omitted = {}, []
    for name, value in headers.items():
        low = name.lower()
        if low in CREDENTIAL_HEADERS or low in TRANSPORT_HEADERS or low in PER_MACHINE_HEADERS:
            omitted.append(low)
        else:
            kept[low] = neutral_id(value)
    return kept, sorted(omitted)


def betas_of(headers: dict[str, Any]) -> list[str]:
    value = headers.get("anthropic-beta") or ""
    return [b.strip() for b in value.split(",") if b.strip()]


def summarize(body: Any, headers: dict[str, str], raw_bytes: int | None = None) -> dict[str, Any]:
    """What a reader of the shape file wants at a glance: betas, keys, tools, sizes."""
    body = body if isinstance(body, dict) else {}
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    system = body.get("system")
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    block_types: list[str] = []
    for m in messages:
        content = m.get("content")
        for b in content if isinstance(content, list) else []:
            if isinstance(b, dict) and b.get("type") not in block_types:
                block_types.append(b.get("type"))
    tool_keys = sorted({k for t in tools for k in t})
    out: dict[str, Any] = {
        "betas": betas_of(headers),
        "body_keys": list(body),
        "roles": [m.get("role") for m in messages],
        "content_block_types": block_types,
        "system_blocks": len(system) if isinstance(system, list) else (1 if system else 0),
        "system_chars": sum(len(s) for s in walk_strings(system)),
        "tools": len(tools),
        "tool_names": [t.get("name") for t in tools],
        "tool_keys": tool_keys,
        "text_chars": sum(len(s) for s in walk_strings(body)),
    }
    if raw_bytes is not None:
        out["body_bytes"] = raw_bytes
    return out


def client_version(headers: dict[str, str]) -> tuple[str, str]:
    """(client name, version) from the user-agent a client sends."""
    agent = headers.get("user-agent", "")
    m = re.search(r"claude-cli/([0-9][\w.\-]*)", agent)
    if m:
        return "claude-code", m.group(1)
    m = re.search(r"Anthropic/Python ([0-9][\w.\-]*)", agent)
    if m:
        return "sdk-python", m.group(1)
    return "unknown", headers.get("x-stainless-package-version", "unknown")


def extract_shape(
    record: dict[str, Any],
    *,
    turn: str,
    client: str | None = None,
    version: str | None = None,
    captured: str | None = None,
    how: str = "",
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A committed shape from one captured request: structure and sizes, no client prose.

    ``settings``: the client's environment settings that were on (none: its defaults); they
    are kept in the shape so a row's workaround can be checked against what really changed.
    """
    headers = record["headers"]
    detected = client_version(headers)
    client = client or detected[0]
    version = version or detected[1]
    kept, omitted = shape_headers(headers)
    body = skeleton(record.get("body"))
    return {
        "format": SHAPE_FORMAT,
        "client": client,
        "version": version,
        "turn": turn,
        **({"settings": dict(settings)} if settings else {}),
        "captured": captured or str(record.get("time", ""))[:10],
        "how": how,
        "note": (
            "Structure, keys, headers, betas, query and sizes as the client sent them; every "
            "text the client wrote is replaced by neutral filler of the same length, ids are "
            "zeroed, and credentials, transport and per-machine headers are left out."
        ),
        "request": {
            "method": record["method"],
            "path": record["path"],
            "query": [list(q) for q in record.get("query") or []],
            "auth": auth_style(headers),
            "headers": kept,
            "omitted_headers": omitted,
            "body": body,
        },
        "summary": summarize(body, kept, record.get("body_bytes")),
    }


def settings_slug(settings: dict[str, str]) -> str:
    """``{"CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1"}`` -> ``"disable-experimental-betas-1"``:
    the part of a shape's file name that says which client settings were on."""
    parts = []
    for name, value in sorted(settings.items()):
        word = re.sub(r"^CLAUDE_CODE_", "", name).lower().replace("_", "-")
        parts.append(f"{word}-{re.sub(r'[^A-Za-z0-9.]+', '-', value).strip('-').lower()}")
    return "+".join(parts)


def shape_filename(shape: dict[str, Any]) -> str:
    """``<client>-<version>-<turn>.json``, or ``...-<turn>.with-<settings>.json`` for a shape
    captured with client settings on (the ``settings`` key), kept beside the default one."""
    base = f"{shape['client']}-{shape['version']}-{shape['turn']}"
    settings = shape.get("settings") or {}
    return f"{base}.with-{settings_slug(settings)}.json" if settings else f"{base}.json"


def write_shape(shape: dict[str, Any], shapes_dir: Path = SHAPES_DIR) -> Path:
    path = Path(shapes_dir) / shape_filename(shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shape, indent=1, ensure_ascii=False) + "\n")
    return path


def load_shape(path: Path) -> dict[str, Any]:
    shape = json.loads(Path(path).read_text())
    if shape.get("format") != SHAPE_FORMAT or "request" not in shape:
        raise ValueError(f"{path}: not a request shape (format {SHAPE_FORMAT})")
    return shape


def shared_shape(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The shape at ``path`` and its body members' JSON texts, read once a process while
    the file is unchanged (it is replayed on every target). Shared: never change it."""
    stat = Path(path).stat()
    return _shared(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _shared(path: str, mtime_ns: int, size: int) -> tuple[dict[str, Any], dict[str, str]]:
    shape = load_shape(Path(path))
    body = shape["request"].get("body")
    return shape, ({k: json.dumps(v) for k, v in body.items()} if isinstance(body, dict) else {})


@dataclass
class ShapeRequest:
    """A request ready for :meth:`conformance.client.Client.send` (``known``: the body
    members still the shape's own, with their JSON text, for :meth:`content`)."""

    method: str
    path: str  # without the query
    query: list[tuple[str, str]]
    auth: str
    headers: dict[str, str | None]
    body: Any
    changes: list[str] = field(default_factory=list)  # how it differs from the shape
    known: dict[str, tuple[Any, str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def url_path(self) -> str:
        return self.path + ("?" + urllib.parse.urlencode(self.query) if self.query else "")

    def copy(self) -> ShapeRequest:
        """A copy to change, its body one level deep: a variant (:mod:`.bisection`) drops or
        replaces top-level members, never changes one in place (tests/test_clients.py)."""
        body = dict(self.body) if isinstance(self.body, dict) else copy.deepcopy(self.body)
        query, headers, changes = list(self.query), dict(self.headers), list(self.changes)
        return dataclasses.replace(self, query=query, headers=headers, body=body, changes=changes)

    def content(self) -> bytes | None:
        """``json.dumps(body)`` as bytes, a member still the shape's own written from its text
        made once per shape instead of encoded again (tests/test_clients.py holds to it)."""
        body = self.body
        if not (isinstance(body, dict) and self.known and all(type(k) is str for k in body)):
            return None if body is None else json.dumps(body).encode()
        parts = []
        for key, value in body.items():
            known = self.known.get(key)
            text = known[1] if known is not None and known[0] is value else json.dumps(value)
            parts.append(f"{json.dumps(key)}: {text}")
        return ("{" + ", ".join(parts) + "}").encode()


def shape_to_request(
    shape: dict[str, Any],
    model: str,
    *,
    max_tokens: int = 16,
    extra_body: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
) -> ShapeRequest:
    """The shape as a request for a target: its model, ``max_tokens`` capped, the rest as is.

    The filler text, headers, betas, query, auth style and ``stream`` stay as the client sent
    them. ``max_tokens`` is capped so a replay costs a few tokens; a thinking budget, which
    Anthropic requires to be below ``max_tokens``, is lowered to its minimum first. The
    shape is not changed: the request shares its members but those it changes (``texts``,
    from :func:`shared_shape`, are their JSON for :meth:`ShapeRequest.content`).
    """
    req = shape["request"]
    source = req["body"]
    body = dict(source) if isinstance(source, dict) else copy.deepcopy(source)
    changes = []
    if isinstance(body, dict):
        if "model" in body:
            body["model"] = model
            changes.append(f"model → {model}")
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
            thinking = body["thinking"] = dict(thinking)
            thinking["budget_tokens"] = 1024
            max_tokens = max(max_tokens, 1024 + max_tokens)
            changes.append("thinking.budget_tokens → 1024")
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > max_tokens:
            changes.append(f"max_tokens {body['max_tokens']} → {max_tokens}")
            body["max_tokens"] = max_tokens
        for key, value in (extra_body or {}).items():
            body.setdefault(key, copy.deepcopy(value))
    shared = body.items() if isinstance(body, dict) and isinstance(source, dict) else ()
    known = {k: (v, (texts or {})[k]) for k, v in shared if k in (texts or {}) and source[k] is v}
    query = [(k, v) for k, v in req.get("query") or []]
    headers, auth = dict(req.get("headers") or {}), req.get("auth", "x-api-key")
    return ShapeRequest(req["method"], req["path"], query, auth, headers, body, changes, known)


def shape_path(name: str, case_file: Path | None) -> Path:
    """``params.shape`` is relative to the case file's directory (``cases/``)."""
    base = Path(case_file).parent if case_file else SHAPES_DIR.parent
    return base / name


def compact(req: ShapeRequest, label: str, sent_bytes: int) -> dict[str, Any]:
    """What the evidence keeps of a shape request: enough to read, not 50 kB of filler.
    ``sent_bytes``: the body's size as the client sent it (saves encoding 140 kB again)."""
    body = req.body if isinstance(req.body, dict) else {}
    return {
        "variant": label,
        "path": req.url_path,
        "auth": req.auth,
        "body_keys": list(body),
        "model": body.get("model"),
        "max_tokens": body.get("max_tokens"),
        "stream": body.get("stream", False),
        "messages": len(body.get("messages") or []),
        "tools": len(body.get("tools") or []),
        "body_bytes": sent_bytes,
    }


def send_shape(probe: Any, label: str, req: ShapeRequest) -> Any:
    """Send through the probe's client; the probe's record keeps a compact request."""
    ex = probe.client.send(
        req.body,
        content=req.content(),
        path=req.url_path,
        method=req.method,
        headers=req.headers,
        auth=req.auth,
    )
    shown = copy.copy(ex)
    shown.request_body = compact(req, label, ex.request_bytes)
    probe.exchanges.append((label, shown))
    return ex
