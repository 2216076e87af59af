"""Bisection of a refused request shape: which header, beta value, query or body key is it?

When an endpoint rejects a shape, :func:`bisect` drops or neutralises one header, beta value,
query or top-level body key at a time (then combinations) until the request passes, and
names the culprit, e.g. "passes without anthropic-beta: context-management-2025-06-27".
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.shapes import ShapeRequest, betas_of

REQUIRED_KEYS = ("model", "messages", "max_tokens")
BASE_VERSION = "2023-06-01"


@dataclass
class Variant:
    """One field of a shape, dropped or neutralised: ``field`` names the suspect."""

    field: str
    apply: Callable[[ShapeRequest], ShapeRequest]


def _drop_header(name: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        out.headers[name] = None  # None also removes a target's default of that name
        return out

    return apply


def _set_header(name: str, value: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        out.headers[name] = value
        return out

    return apply


def _drop_beta(beta: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        rest = [b for b in betas_of(out.headers) if b != beta]
        out.headers["anthropic-beta"] = ",".join(rest) if rest else None
        return out

    return apply


def _drop_key(key: str) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        if isinstance(out.body, dict):
            out.body.pop(key, None)
        return out

    return apply


def _drop_query(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    out.query = []
    return out


def _x_api_key(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    out.auth = "x-api-key"
    return out


def _map_messages(fn: Callable[[list[Any]], list[Any]]) -> Callable[[ShapeRequest], ShapeRequest]:
    def apply(req: ShapeRequest) -> ShapeRequest:
        out = req.copy()
        if isinstance(out.body, dict) and isinstance(out.body.get("messages"), list):
            out.body["messages"] = fn(out.body["messages"])
        return out

    return apply


def _no_system_role(messages: list[Any]) -> list[Any]:
    return [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _plain_messages(messages: list[Any]) -> list[Any]:
    return [{"role": "user", "content": "Reply with the word OK."}]


def _plain_tools(req: ShapeRequest) -> ShapeRequest:
    out = req.copy()
    if isinstance(out.body, dict) and isinstance(out.body.get("tools"), list):
        keep = ("name", "description", "input_schema")
        out.body["tools"] = [
            {k: v for k, v in t.items() if k in keep} if isinstance(t, dict) else t
            for t in out.body["tools"]
        ]
    return out


def variants(req: ShapeRequest) -> list[Variant]:
    """Every suspect in a shape, one at a time: beta values, headers, query, auth, body keys.

    Finer suspects come before the coarser ones that contain them (one beta value before the
    whole ``anthropic-beta`` header), so the culprit named is the smallest that explains it.
    """
    out: list[Variant] = []
    betas = betas_of(req.headers)
    for beta in betas:
        out.append(Variant(f"anthropic-beta: {beta}", _drop_beta(beta)))
    if betas:
        out.append(Variant("header anthropic-beta", _drop_header("anthropic-beta")))
    for name, value in req.headers.items():
        if value is None or name in ("anthropic-beta", "content-type"):
            continue
        if name == "anthropic-version":
            if value != BASE_VERSION:
                out.append(Variant(f"anthropic-version: {value}", _set_header(name, BASE_VERSION)))
            continue
        out.append(Variant(f"header {name}", _drop_header(name)))
    if req.query:
        out.append(Variant("query ?" + urllib.parse.urlencode(req.query), _drop_query))
    if req.auth == "bearer":
        out.append(Variant("auth Bearer (x-api-key instead)", _x_api_key))
    body = req.body if isinstance(req.body, dict) else {}
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
        out.append(Variant("messages[role=system]", _map_messages(_no_system_role)))
    if "cache_control" in json.dumps(messages):
        out.append(
            Variant("messages[].content[].cache_control", _map_messages(_strip_cache_control))
        )
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    extra = sorted(
        {k for t in tools if isinstance(t, dict) for k in t}
        - {"name", "description", "input_schema"}
    )
    if extra:
        out.append(Variant(f"tools[].{{{','.join(extra)}}}", _plain_tools))
    for key in body:
        if key not in REQUIRED_KEYS:
            out.append(Variant(f"body.{key}", _drop_key(key)))
    if messages:
        out.append(
            Variant("body.messages (one plain user turn instead)", _map_messages(_plain_messages))
        )
    return out


def _hinted_first(candidates: list[Variant], hint: str) -> list[Variant]:
    """Suspects the error message names go first: it often says which field it refused."""
    hint = hint.lower()

    def named(v: Variant) -> bool:
        word = v.field.split(":", 1)[-1].split(".")[-1].split(" ")[-1].strip("?{}[]")
        return len(word) > 3 and word.lower() in hint

    return [v for v in candidates if named(v)] + [v for v in candidates if not named(v)]


@dataclass
class Bisection:
    culprits: list[str]
    tried: list[dict[str, Any]]
    note: str = ""

    def as_evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"culprits": self.culprits, "tried": self.tried}
        if self.note:
            out["note"] = self.note
        return out


# 5xx that say "busy" or "upstream timed out", not "this request": never bisected.
CAPACITY_STATUSES = frozenset({503, 504, 529})


def worth_bisecting(ex: Any) -> bool:
    """A complete refusal of the request: a 4xx (not 408/429), or a 500/502 that may go away
    without one field. A transport failure (no answer, cut, unparsable, 3xx, 408, 429, 503,
    504, 529) is not: bisecting it would spend the budget repeating the failure; nor is a 404
    or 405 page that is not the API's (a wrong base path answers every shape alike)."""
    if ex.not_served:
        return False
    if ex.client_error:
        return True
    status = ex.status
    return (
        ex.error is None
        and status is not None
        and status >= 500
        and status not in CAPACITY_STATUSES
    )


def _status(ex: Any) -> Any:
    return ex.status if ex.status is not None else ex.error


def bisect(
    send: Callable[[str, ShapeRequest], Any],
    req: ShapeRequest,
    *,
    hint: str = "",
    budget: int = 48,
    everything_first: bool = False,
) -> Bisection:
    """Which field makes the endpoint refuse ``req``? ``send(label, request)`` → Exchange.

    First one suspect at a time: the first whose removal makes the request pass is the
    culprit (suspects the error message names are tried first). If none alone does, every
    suspect is removed at once; if that passes, halves are put back (delta debugging) until
    the smallest set whose removal still passes is left: the fields that each break it. At
    most ``budget`` requests are sent.

    ``everything_first`` (for a 5xx, which may be the endpoint failing whatever it is sent):
    the request with every suspect removed is tried first, and when even that fails the
    bisection stops there, one request spent instead of the budget.
    """
    candidates = _hinted_first(variants(req), hint)
    tried: list[dict[str, Any]] = []

    class Spent(Exception):
        pass

    class Failed(Exception):
        pass

    def passes(fields: list[Variant]) -> bool:
        if len(tried) >= budget:
            raise Spent
        trial = req
        for v in fields:
            trial = v.apply(trial)
        label = " + ".join(v.field for v in fields)
        ex = send(f"bisect: without {label}", trial)
        tried.append({"without": label, "status": _status(ex)})
        if not ex.ok and not worth_bisecting(ex):
            raise Failed(ex.error or f"answered {ex.status}")
        return bool(ex.ok)

    def smallest(cands: list[Variant], removed: list[Variant]) -> list[Variant]:
        # Removing removed + cands passes; find a small subset of cands that still does.
        if len(cands) <= 1:
            return cands
        half = len(cands) // 2
        a, b = cands[:half], cands[half:]
        if passes(removed + b):
            return smallest(b, removed)
        if passes(removed + a):
            return smallest(a, removed)
        found_a = smallest(a, removed + b)
        return found_a + smallest(b, removed + found_a)

    try:
        if everything_first and not passes(candidates):
            return Bisection(
                [], tried, "still failing with every optional header, beta and body key removed"
            )
        for v in candidates:
            if passes([v]):
                return Bisection([v.field], tried)
        if not everything_first and not passes(candidates):
            return Bisection(
                [], tried, "still refused with every optional header, beta and body key removed"
            )
        found = smallest(candidates, [])
    except Spent:
        return Bisection([], tried, f"budget of {budget} requests spent; no culprit found")
    except Failed as exc:
        return Bisection([], tried, f"stopped: a transport failure, not a refusal ({exc})")
    return Bisection([v.field for v in found], tried, "no single field; these together")
