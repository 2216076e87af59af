"""Filler text: plain, neutral words where only the size of a text matters.

:func:`filler` is a probe's ``{{FILLER}}`` (a number of words, deterministic per case id);
:func:`neutral_filler` stands in for a client's own text in a request shape (exactly as many
characters). Both are pure functions of their seed, so recorded runs replay byte for byte.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re

# Plain, neutral words for filler text: the size matters, not the meaning.
WORDS = [
    "river",
    "stone",
    "garden",
    "window",
    "paper",
    "orange",
    "market",
    "winter",
    "bridge",
    "candle",
    "forest",
    "silver",
    "harbor",
    "pencil",
    "meadow",
    "ladder",
    "cotton",
    "valley",
    "mirror",
    "copper",
    "basket",
    "island",
    "lantern",
    "marble",
    "engine",
    "feather",
    "castle",
    "pillow",
    "rocket",
    "saddle",
    "ticket",
    "violin",
    "wagon",
    "anchor",
    "blanket",
    "button",
    "cabin",
    "canyon",
    "carpet",
    "circle",
    "clover",
    "desert",
    "engine",
    "fabric",
    "falcon",
    "fountain",
    "glacier",
    "hammer",
    "helmet",
    "jacket",
    "kettle",
    "ribbon",
]


FILLER_WORDS = tuple(dict.fromkeys(WORDS))  # without the repeats


@functools.lru_cache(maxsize=256)
def filler(case_id: str, words: int) -> str:
    """``words`` words from :data:`WORDS`, then a period: word ``i`` is picked by byte
    ``i % 32`` of the seed's SHA-256 and by ``7 * i``, so the choice repeats every
    ``lcm(32, len(WORDS))`` words. One period is picked and repeated (a replay asks for
    thousands of words for each row that fills a prompt cache)."""
    digest = hashlib.sha256(case_id.encode()).digest()
    period = math.lcm(len(digest), len(WORDS))
    one = [WORDS[(digest[i % len(digest)] + i * 7) % len(WORDS)] for i in range(min(words, period))]
    whole, rest = divmod(words, period)
    return " ".join(one * whole + one[:rest]) + "."


@functools.lru_cache(maxsize=256)
def neutral_filler(length: int, seed: str = "") -> str:
    """Plain words (from :data:`WORDS`), exactly ``length`` characters.

    Stands in for a client's own text: same size, none of its words. The last gap is padded
    with periods so the length is exact and every word is whole.
    """
    if length <= 0:
        return ""
    digest = hashlib.sha256(seed.encode()).digest()
    out: list[str] = []
    used = 0
    i = 0
    while True:
        word = FILLER_WORDS[(digest[i % len(digest)] + i * 7) % len(FILLER_WORDS)]
        need = len(word) + (1 if out else 0)
        if used + need > length:
            break
        out.append(word)
        used += need
        i += 1
    text = " ".join(out)
    return text + "." * (length - len(text))


def is_filler(text: str) -> bool:
    """True if ``text`` is made only of filler words, spaces and periods."""
    return all(piece in FILLER_WORDS for piece in re.split(r"[ .]+", text) if piece)
