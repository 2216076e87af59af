"""Where a key hides in text, and what it becomes: the forms of a run's keys (computed once
per run) and the one scan that finds any run of 8 or more of their characters, in any case,
as is or behind JSON escapes. :mod:`conformance.secrets` states the policy."""

from __future__ import annotations

import base64
import bisect
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# What a credential (or a key quoted back by an endpoint) becomes, everywhere.
PLACEHOLDER = "<redacted>"
# Keys shorter than this are redacted only as exact header values, never substring-replaced.
MIN_SECRET_LEN = 8
# Any run of this many characters of a key, anywhere, is scrubbed as the key.
MIN_FRAGMENT = 8


def usable(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The secrets long enough to be searched for in text (see the module's policy),
    longest first. Every header and string of every answer asks, with the same few keys:
    the answer is remembered for each list of them."""
    if not secrets:  # a replay without keys
        return ()
    return _usable(tuple(secrets))


@functools.lru_cache(maxsize=64)
def _usable(secrets: tuple[str | None, ...]) -> tuple[str, ...]:
    found = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
    return tuple(sorted(found, key=len, reverse=True))


@dataclass(frozen=True)
class KeyForms:
    """Every form of a run's keys that an artifact must not hold, computed once per run
    (:func:`key_forms`): each key as sent, its base64 and base64url forms (at the three
    alignments a key takes inside a longer encoded text, such as a Basic token of
    ``user:key``) and its hex form, all case-folded. Any run of :data:`MIN_FRAGMENT` or more
    characters of one of them, compared case-insensitively, counts as the key."""

    forms: tuple[str, ...]
    # every 4 characters of every form -> (form index, offset): where a run can start
    grams: dict[str, tuple[tuple[int, int], ...]]
    # runs of the forms' characters long enough to hold a fragment: only those are scanned
    tokens: re.Pattern[str]
    # no form holds a quote, a backslash or a control character: then a text in which no
    # run is found as is, and that holds no \u or \/ escape, holds none behind escapes either
    # (see :func:`nothing_to_scrub`)
    plain: bool


def _encoded_forms(key: str) -> list[str]:
    raw = key.encode("utf-8")
    forms = [key, raw.hex()]
    for skip in range(3):
        whole = (len(raw) - skip) // 3 * 4  # only the groups made of the key's bytes alone
        forms.append(base64.b64encode(raw[skip:]).decode()[:whole])
        forms.append(base64.urlsafe_b64encode(raw[skip:]).decode()[:whole])
    return forms


@functools.lru_cache(maxsize=16)
def key_forms(keys: tuple[str, ...]) -> KeyForms:
    """The forms of ``keys`` (already :func:`usable`): cached, so once per run."""
    forms = sorted({_fold(f) for k in keys for f in _encoded_forms(k) if len(f) >= MIN_FRAGMENT})
    grams: dict[str, list[tuple[int, int]]] = {}
    for i, form in enumerate(forms):
        for off in range(len(form) - _GRAM + 1):
            grams.setdefault(form[off : off + _GRAM], []).append((i, off))
    chars = "".join(sorted({c for f in forms for c in f}))
    tokens = re.compile(f"[{re.escape(chars)}]{{{MIN_FRAGMENT},}}")
    plain = not any(c in '"\\' or c < " " or c == "\x7f" for c in chars)
    return KeyForms(tuple(forms), {g: tuple(v) for g, v in grams.items()}, tokens, plain)


_GRAM = 4  # any run of MIN_FRAGMENT (8) holds a whole 4-gram at a position divisible by 4


def _fold(text: str) -> str:
    """Lower-cased, one character for one (so positions stay those of ``text``)."""
    folded = text.lower()
    # one for one already when no character became two, and no capital sigma was folded by
    # its place in a word (the one rule of str.lower that looks at neighbours)
    if len(folded) == len(text) and "\u03a3" not in text:
        return folded
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def _runs(folded: str, kf: KeyForms) -> list[tuple[int, int]]:
    """Spans of ``folded`` that are runs of :data:`MIN_FRAGMENT` or more characters of a form.

    Only tokens of the forms' characters are looked at, every :data:`_GRAM` characters: a run
    of 8 holds a whole 4-gram that starts at such a position."""
    spans: list[tuple[int, int]] = []
    for token in kf.tokens.finditer(folded):
        start, end = token.span()
        for p in range(start, end - _GRAM + 1, _GRAM):
            hits = kf.grams.get(folded[p : p + _GRAM])
            if hits and not (spans and p < spans[-1][1]):
                span = _widest(folded, p, hits, kf.forms, (start, end))
                if span:
                    spans.append(span)
    return spans


def _widest(
    folded: str,
    p: int,
    hits: tuple[tuple[int, int], ...],
    forms: tuple[str, ...],
    token: tuple[int, int],
) -> tuple[int, int] | None:
    """The union of the runs of 8 or more through the 4-gram at ``p`` (they overlap)."""
    best = None
    for i, off in hits:
        form = forms[i]
        lo, hi, k_lo, k_hi = p, p + _GRAM, off, off + _GRAM
        while lo > token[0] and k_lo > 0 and folded[lo - 1] == form[k_lo - 1]:
            lo, k_lo = lo - 1, k_lo - 1
        while hi < token[1] and k_hi < len(form) and folded[hi] == form[k_hi]:
            hi, k_hi = hi + 1, k_hi + 1
        if hi - lo >= MIN_FRAGMENT:
            best = (min(best[0], lo), max(best[1], hi)) if best else (lo, hi)
    return best


_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Unescaped:
    """``text`` with its JSON escapes undone (``\\u0073k-`` is ``sk-``), mapping each
    decoded span back to the raw span it came from: a body that is not one well-formed JSON
    document (duplicate members, too deep, malformed) is scanned this way, as raw text."""

    def __init__(self, text: str) -> None:
        out, self.marks, pos, size = [], [], 0, 0
        for m in _ESCAPE.finditer(text):
            out.append(text[pos : m.start()])
            size += m.start() - pos
            self.marks.append((size, m.start(), m.end()))
            out.append(chr(int(m[1], 16)) if m[1] else _SIMPLE[m[2]])
            size, pos = size + 1, m.end()
        out.append(text[pos:])
        self.text = "".join(out)
        self._at = [mark[0] for mark in self.marks]

    def _raw(self, i: int) -> tuple[int, int]:
        k = bisect.bisect_right(self._at, i) - 1
        if k >= 0 and self._at[k] == i:
            return self.marks[k][1], self.marks[k][2]
        dec, raw = (self._at[k] + 1, self.marks[k][2]) if k >= 0 else (0, 0)
        return raw + i - dec, raw + i - dec + 1

    def raw_span(self, lo: int, hi: int) -> tuple[int, int]:
        return self._raw(lo)[0], self._raw(hi - 1)[1]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def key_spans(text: str, keys: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Where ``text`` holds a run of a key or of one of its forms (:class:`KeyForms`), as
    is or behind one or two levels of JSON escapes (a string inside a JSON string, such as
    streamed tool input): sorted, merged spans of ``text``."""
    kf = key_forms(tuple(keys))
    spans = _runs(_fold(text), kf)
    if "\\" in text:
        once = _Unescaped(text)
        spans += [once.raw_span(*s) for s in _runs(_fold(once.text), kf)]
        if "\\" in once.text:
            twice = _Unescaped(once.text)
            spans += [once.raw_span(*twice.raw_span(*s)) for s in _runs(_fold(twice.text), kf)]
    return _merge(spans)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out, cur = [], 0
    for a, b in spans:
        out += [text[cur:a], PLACEHOLDER]
        cur = b
    out.append(text[cur:])
    return "".join(out)


# The escapes that can make a key's characters: ``\/``, ``\u00XX`` of an ASCII character,
# and ``\u212a``, the Kelvin sign, which str.lower() makes "k": the one character beyond
# ASCII that folds into one of ASCII (tests/test_hostile.py checks every code point). Any
# other ``\uXXXX``, such as ``json.dumps`` writes for every character beyond ASCII, stands
# for a character no form holds, which ends a run of a form's characters there as it would
# unescaped.
_HIDING_ESCAPE = re.compile(r"\\(?:/|u(?:00[0-7][0-9a-f]|212a))", re.IGNORECASE)


def nothing_to_scrub(text: str, keys: tuple[str, ...]) -> bool:
    r"""True when no part of ``text`` can hold a run of a key (``keys`` from :func:`usable`),
    as is or behind escapes, so that :func:`scrub_text` of any piece of it would change
    nothing: one scan of a whole JSON document (every string of a tree, see
    :func:`scrub_json`) instead of one call a string. False means "look closer", not
    "found": a run across two pieces counts, and so does a ``\/`` escape or a ``\u`` one
    that may stand for a form's character (:data:`_HIDING_ESCAPE`).

    Why it is exact: undoing an escape other than ``\uXXXX`` and ``\/`` gives a quote, a
    backslash or a control character, none of which a plain form holds (:class:`KeyForms`),
    so it cannot join two runs of a form's characters into one; nor can a ``\uXXXX`` of a
    character that is not one of a form's, even folded: its backslash ends the run before
    it, and what follows it may only start a longer token, never hide a run. Each piece of
    ``text`` (a string as JSON writes it, with or without ``ensure_ascii``; a header) stands
    in it so, between characters that are not a plain form's either.

    A run of a form lies inside a token (a run of the forms' characters) and holds one of
    the forms' 4-grams at a multiple of 4 from the token's start (see :func:`_runs`): a
    token without such a gram holds no run. Tokens repeat from row to row (words of the
    prompts, field names), so the ones found clean are remembered for the run."""
    kf = key_forms(keys)
    if not kf.plain or _HIDING_ESCAPE.search(text):
        return False
    clean = _CLEAN_TOKENS.setdefault(kf.forms, set())
    new = set(kf.tokens.findall(_fold(text))) - clean
    grams = kf.grams
    for token in new:
        if any(token[i : i + _GRAM] in grams for i in range(0, len(token) - _GRAM + 1, _GRAM)):
            return False
    if len(clean) > _CLEAN_TOKENS_MAX:
        clean.clear()
    clean.update(t for t in new if len(t) <= _CLEAN_TOKEN_LEN)
    return True


# The tokens found clean of every form, per run's forms: in memory only, and bounded (an
# endpoint's endless word is not kept).
_CLEAN_TOKENS: dict[tuple[str, ...], set[str]] = {}
_CLEAN_TOKENS_MAX = 100_000
_CLEAN_TOKEN_LEN = 64


def scrub_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every run of :data:`MIN_FRAGMENT` or more characters of a secret (of
    :data:`MIN_SECRET_LEN` or more), of its base64/base64url/hex forms, in any case and
    behind JSON escapes, replaced by the placeholder."""
    keys = usable(secrets)
    if not keys or len(text) < MIN_FRAGMENT:
        return text
    spans = key_spans(text, keys)
    return _replace(text, spans) if spans else text


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` with each secret replaced by the placeholder, in every string it holds
    (keys of mappings included)."""
    return scrub_json(value, secrets)[0]


def scrub_json(value: Any, secrets: Iterable[str | None]) -> tuple[Any, str | None]:
    """:func:`scrub` of ``value``, and, when that is ``value`` itself found clean by one
    scan of its JSON, that ``json.dumps(value)`` text (ASCII, as json writes it by default):
    a caller that encodes the value next (the runner's escape check and record) reuses it.
    None when there are no keys (nothing was encoded) or the tree was walked."""
    keys = usable(secrets)
    if not keys:
        return value, None
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return _scrub_tree(value, keys), None  # not JSON: every string is looked at in turn
    if nothing_to_scrub(text, keys):
        return value, text  # as it is: nothing in it to scrub (nearly always)
    return _scrub_tree(value, keys), None


def _scrub_tree(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, keys)
    if isinstance(value, dict):
        return {
            (scrub_text(k, keys) if isinstance(k, str) else k): _scrub_tree(v, keys)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub_tree(v, keys) for v in value]
    return value
