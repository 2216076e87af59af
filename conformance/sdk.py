"""Does the pinned official ``anthropic`` SDK load what an endpoint sent?

Imported lazily (about 1 s): with the garbage collector paused, then frozen. The answers are
strings (the SDK's complaint) or None (it loads); a missing SDK raises :class:`SDKUnavailable`
so "could not check" is never mistaken for either.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


class SDKUnavailable(RuntimeError):
    """Raised by the ``sdk_load_*`` checks when the optional ``anthropic`` SDK is missing,
    so "could not check" is never mistaken for "the SDK rejected it" (a string) or "it
    loads" (None)."""


def sdk_load_message(body: Any) -> str | None:
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
        return sdk_load_message(final.model_dump(mode="json", warnings=False))
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
