"""Building probe requests: the body every probe starts from, nonces and fillers.

Everything a probe sends is a pure function of the case id, the target and the settings, so a
recorded run replays byte-for-byte: nonces are derived from the case id, never random. The one
exception is ``{{FRESH}}``, a code no endpoint can have seen before (a prompt no cache can
hold), and ``{{FRESH_FILLER}}``, filler words seeded by it: drawn at random for each live or
recorded run of a row, and read back from the cassette's recorded requests in replay, so
replay still sends the recorded bytes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance import wire
from conformance.client import Client, Exchange, prompt_tokens
from conformance.filler import filler
from conformance.settings import Settings

PLACEHOLDER = re.compile(r"\{\{([A-Z_]+[0-9]*)\}\}")
# What resolve() may share with its input: values nothing can change in place.
_ATOMS = (str, int, float, bytes, type(None))
# What {{FRESH}} becomes: "ZF" and ten base32 characters (50 random bits).
FRESH = re.compile(r"\bZF[A-Z2-7]{10}\b")


def nonce(case_id: str, label: str) -> str:
    """An unguessable but deterministic code such as ``ZQ4KD7PX``."""
    digest = hashlib.sha256(f"{case_id}/{label}".encode()).digest()
    return "ZQ" + base64.b32encode(digest).decode()[:6]


def fresh_code() -> str:
    """A code such as ``ZFQ4KD7PXA2M``, random: a prompt that opens with it is one no prompt
    cache holds, however often the row has run against the endpoint before (a code derived
    from the case id would be cached from the second run on)."""
    return "ZF" + base64.b32encode(os.urandom(10)).decode()[:10]


def unrecorded_code(case_id: str) -> str:
    """What replay sends for ``{{FRESH}}`` when the cassette holds no code: shaped like one,
    derived from the case id, so the request matches nothing recorded (the row is stale)."""
    digest = hashlib.sha256(f"{case_id}/FRESH".encode()).digest()
    return "ZF" + base64.b32encode(digest).decode()[:10]


def png(rgb: tuple[int, int, int], size: int = 16) -> str:
    """A solid-colour PNG, base64: real image bytes without an image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def _truncate(value: Any, limit: int = 160) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"...(+{len(value) - limit} chars)"
    if isinstance(value, dict):
        return {k: _truncate(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_truncate(v, limit) for v in value]
    return value


@dataclass
class Probe:
    """What an oracle uses to talk to the target: builds bodies, sends, keeps the record."""

    case_id: str
    model: str
    extra_body: dict[str, Any]
    client: Client
    settings: Settings
    exchanges: list[tuple[str, Exchange]] = field(default_factory=list)
    # Where {{FRESH}} comes from: a new random code (live, record), or the code the row's
    # cassette recorded (replay; see runner.run_case). Asked once per row, and only by rows
    # that use it.
    fresh_source: Callable[[], str] = fresh_code
    _fresh: str | None = field(default=None, repr=False)

    def nonce(self, label: str = "K") -> str:
        return nonce(self.case_id, label)

    def fresh(self) -> str:
        """The row's ``{{FRESH}}`` code: one per row run, the same in every request of it."""
        if self._fresh is None:
            self._fresh = self.fresh_source()
        return self._fresh

    def resolve(self, value: Any, trial: int = 0) -> Any:
        """Replace ``{{K}}``-style placeholders (per trial) in every string of ``value``."""
        if isinstance(value, str):
            if "{{" not in value:  # nearly every string: no placeholder to look for
                return value
            return PLACEHOLDER.sub(lambda m: self._placeholder(m.group(1), trial), value)
        if isinstance(value, dict):
            return {k: self.resolve(v, trial) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, trial) for v in value]
        return value if isinstance(value, _ATOMS) else copy.deepcopy(value)

    def _placeholder(self, name: str, trial: int) -> str:
        if name == "FILLER":
            return filler(self.case_id, self.settings.token_diff.filler_words)
        if name == "FILLER_LONG":
            return filler(self.case_id + "/long", self.settings.cache.filler_words)
        if name.startswith("PNG_"):
            colours = {
                "PNG_RED": (220, 20, 20),
                "PNG_GREEN": (20, 200, 20),
                "PNG_BLUE": (20, 20, 220),
            }
            return png(colours.get(name, (128, 128, 128)))
        if name == "MODEL":
            return self.model
        if name == "FRESH":
            return self.fresh()
        if name == "FRESH_FILLER":  # as long as FILLER_LONG, and as new as the code
            return filler(self.fresh(), self.settings.cache.filler_words)
        return self.nonce(f"{name}/{trial}")

    def body(self, *layers: dict[str, Any] | None, trial: int = 0) -> dict[str, Any]:
        """The base body, the target's extra fields, then each layer; None deletes a key.

        The layers are not copied first: :meth:`resolve` builds every mapping and list of the
        body anew (only strings, numbers and the like, which nothing changes, are shared),
        so a caller that edits the body never edits a case, a target or a shape."""
        out: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.settings.max_tokens,
        }
        out.update(self.extra_body)
        for layer in layers:
            for key, value in (layer or {}).items():
                if key == "prompt":
                    out["messages"] = [{"role": "user", "content": value}]
                elif value is None:
                    out.pop(key, None)
                else:
                    out[key] = value
        out.setdefault("messages", [{"role": "user", "content": self.settings.prompt}])
        return self.resolve(out, trial)

    def send(self, label: str, body: Any, **kwargs: Any) -> Exchange:
        ex = self.client.send(body, **kwargs)
        self.exchanges.append((label, ex))
        return ex

    def count(self, label: str, body: dict[str, Any]) -> tuple[int | None, Exchange]:
        """Prompt tokens the model actually saw for ``body``: usage of a 1-token answer.

        Not count_tokens: an endpoint's counter can disagree with what it feeds the model
        (checked as a protocol row of its own), and the verdict must rest on the latter.
        """
        body = dict(body, max_tokens=1)
        body.pop("stream", None)
        ex = self.send(label, body)
        msg = ex.message() if ex.ok else None
        return prompt_tokens(msg.get("usage") if msg else None), ex

    def evidence_requests(self) -> list[dict[str, Any]]:
        """Each exchange as evidence: label, request (long strings cut) and what came back."""
        out = []
        for label, ex in self.exchanges:
            item = {"label": label, "path": ex.path, **ex.summary()}
            violations = wire.violations(ex)
            if violations:
                item["protocol"] = violations[:6]
            item["request"] = _truncate(ex.request_body)
            extra = {
                k: v
                for k, v in ex.request_headers.items()
                if k.startswith("anthropic-") or k in ("x-api-key", "authorization")
            }
            if extra:
                item["headers"] = extra
            out.append(item)
        return out
