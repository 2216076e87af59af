"""Does the pinned official ``anthropic`` SDK load what an endpoint sent?

Imported lazily (about 2 s for anthropic 2.14): with the garbage collector paused, then
frozen. The answers are strings (the SDK's complaint) or None (it loads); a missing SDK raises
:class:`SDKUnavailable` so "could not check" is never mistaken for either.

In replay the answers are memoized on disk (:func:`use_memo`): the SDK's verdict is a pure
function of the installed SDK and the exact bytes, and replaying the shipped cassettes asks
the same ~100 questions every run, so a warm replay never pays the import. The key is the
SDK's version and install, and a SHA-256 of the bytes; only replay uses it, because only
replayed bytes come from scrubbed cassettes (a live answer may quote a key, and the SDK's
complaint may quote the answer).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

MEMO_ENV = "ANTHROPIC_CONFORMANCE_CACHE"  # a folder, or "off"
MEMO_MAX_ENTRIES = 20_000  # past this the memo starts afresh: bounded on disk and in memory
_MISSING = object()
_memo: dict[str, Any] = {"path": None, "verdicts": None}


def default_memo_dir() -> Path | None:
    """``$ANTHROPIC_CONFORMANCE_CACHE`` ("off": no memo), else ``$XDG_CACHE_HOME`` or
    ``~/.cache``, under ``anthropic-conformance/sdk``."""
    chosen = os.environ.get(MEMO_ENV, "")
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen) / "sdk"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anthropic-conformance" / "sdk"


def use_memo(folder: Path | None) -> None:
    """Memoize the SDK's verdicts under ``folder`` (None: stop). Replay only (module doc)."""
    _memo["path"] = _memo["verdicts"] = None
    identity = _installed_sdk()
    if folder is None or identity is None:
        return
    _memo["path"] = folder / f"verdicts-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.json"
    try:
        doc = json.loads(_memo["path"].read_text(encoding="utf-8"))
        found = doc.get("verdicts") if doc.get("sdk") == identity else None
    except (OSError, ValueError, AttributeError):
        found = None
    ok = isinstance(found, dict) and all(
        isinstance(v, str | None) for v in found.values()
    )  # anything else (edited, another format) is ignored and rebuilt
    _memo["verdicts"] = dict(found) if ok else {}
    _memo["sdk"] = identity


def _installed_sdk() -> str | None:
    """``anthropic <version> <where>`` without importing it, or None when it cannot load
    (not installed, or made unimportable, as the tests do with ``sys.modules``)."""
    if sys.modules.get("anthropic", _MISSING) is None:
        return None
    from importlib import metadata

    try:
        dist = metadata.distribution("anthropic")
    except metadata.PackageNotFoundError:
        return None
    where = dist.locate_file("anthropic")
    try:
        stamp = os.stat(where).st_mtime_ns
    except OSError:
        stamp = 0
    return f"anthropic {dist.version} {where} {stamp}"


def _memoized(kind: str, data: bytes, check: Any) -> str | None:
    verdicts = _memo["verdicts"]
    if verdicts is None or sys.modules.get("anthropic", _MISSING) is None:
        return check()  # no memo, or an SDK made unimportable since (a test's sys.modules)
    key = f"{kind}:{hashlib.sha256(data).hexdigest()}"
    if key in verdicts:
        return verdicts[key]
    verdict = check()
    if len(verdicts) >= MEMO_MAX_ENTRIES:
        verdicts.clear()
    verdicts[key] = verdict
    _save_memo()
    return verdict


def _save_memo() -> None:
    """Written whole, atomically, after each new verdict (a few per run once warm); two
    processes writing at once lose at most each other's newest entries."""
    path: Path = _memo["path"]
    doc = {"sdk": _memo["sdk"], "verdicts": _memo["verdicts"]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".verdicts-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except OSError:
        _memo["verdicts"] = None  # an unwritable cache: carry on without it


class SDKUnavailable(RuntimeError):
    """Raised by the ``sdk_load_*`` checks when the optional ``anthropic`` SDK is missing,
    so "could not check" is never mistaken for "the SDK rejected it" (a string) or "it
    loads" (None)."""


def sdk_load_message(body: Any) -> str | None:
    """None if the pinned SDK's ``Message`` model validates ``body``, else its error text
    (memoized in replay: :func:`use_memo`)."""
    try:
        data = json.dumps(body, sort_keys=True, allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError):
        return _load_message(body)
    return _memoized("message", data, lambda: _load_message(body))


def _load_message(body: Any) -> str | None:
    """None if the pinned SDK's ``Message`` model validates ``body``, else its error text.

    Uses ``Message.model_validate`` (strict) rather than the client's default lenient
    ``construct``, which turns almost anything into a Message with missing fields.
    """
    Message = _sdk().types.Message
    try:
        Message.model_validate(body)
    except Exception as exc:
        return _sdk_error(exc)
    return None


def sdk_load_stream(raw: bytes) -> str | None:
    """None if the pinned SDK streams ``raw`` to a valid final Message, else its error text
    (memoized in replay: :func:`use_memo`)."""
    return _memoized("stream", raw, lambda: _load_stream(raw))


def _load_stream(raw: bytes) -> str | None:
    """None if the pinned SDK streams ``raw`` to a valid final Message, else its error text.

    The bytes go through the real client, ``client.messages.stream(...).get_final_message()``,
    over an in-memory transport (no network): the SDK's own SSE decoder, event filtering and
    accumulation run exactly as for users. The final message is then validated as in
    ``sdk_load_message``, because the accumulation itself never validates (a double-encoded
    tool input silently becomes a string).
    """
    anthropic = _sdk()
    import httpx2  # the SDK's HTTP stack, installed with it

    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    transport = httpx2.MockTransport(reply)
    client = anthropic.Anthropic(
        api_key="sdk-check",
        base_url="http://sdk-check.invalid",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    try:
        with client.messages.stream(
            model="sdk-check", max_tokens=1, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            final = stream.get_final_message()
        return _load_message(final.model_dump(mode="json", warnings=False))
    except Exception as exc:
        return _sdk_error(exc)
    finally:
        client.close()


def _sdk() -> Any:
    loaded = sys.modules.get("anthropic")
    if loaded is not None:
        return loaded
    # The SDK defines thousands of pydantic classes (about 1 s to import). The garbage
    # collector would walk them again and again while they are made and at every later full
    # collection (pytest runs two at exit), yet they live as long as the process: import
    # with the collector paused, then freeze what exists so collections skip it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        import anthropic
    except ImportError as exc:
        raise SDKUnavailable("anthropic SDK not installed (pip install '.[sdk]')") from exc
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return anthropic


def _sdk_error(exc: Exception) -> str:
    """The SDK's error text; for pydantic errors only the union branch that the block's
    ``type`` selects, not one error per content-block class."""
    from pydantic import ValidationError as PydanticError

    if not isinstance(exc, PydanticError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    items = exc.errors(include_url=False)
    # A union branch (loc segment = class name) whose `type` literal failed is the wrong branch.
    wrong = {
        tuple(e["loc"][:-1])
        for e in items
        if e["type"] == "literal_error"
        and e["loc"][-1] == "type"
        and len(e["loc"]) > 1
        and str(e["loc"][-2])[:1].isupper()
    }
    kept = [e for e in items if not any(tuple(e["loc"][: len(w)]) == w for w in wrong)] or items
    lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in kept[:5]]
    more = f" (+{len(kept) - 5} more)" if len(kept) > 5 else ""
    return f"ValidationError: {'; '.join(lines)}{more}"
