"""Control characters from an endpoint are escaped wherever results and reports keep text
(conformance/display.py): the fast check finds every one the exact walk escapes."""

from __future__ import annotations

import random
from typing import Any

from conformance.display import _CONTROLS, _escape_walk, escape_tree


def test_every_control_character_anywhere_in_a_tree_is_found_and_escaped() -> None:
    """Each control character (but tab and newline), in a value or a key, alone or among
    other text, at any depth, makes ``escape_tree`` give the exact walk's escaped copy."""
    for code in (c for c in _CONTROLS if c not in (0x09, 0x0A)):
        char = chr(code)
        for tree in (
            char,
            {"k": f"caf\u00e9 {char} \u2014"},
            {f"key{char}": 1},
            [{"a": [None, 1.5, f"\\\\{char}"]}],
        ):
            escaped = escape_tree(tree)
            assert escaped == _escape_walk(tree) and escaped != tree, (hex(code), tree)


def test_a_clean_tree_comes_back_as_it_is() -> None:
    """A tree without a control character (tabs, newlines, quotes, backslashes, non-ASCII
    and astral characters) is returned itself, not copied; one whose text only looks like
    an escape (a backslash, then ``u0000`` or ``b``) comes back unchanged too."""
    rng = random.Random(5)
    pieces = ["\t", "\n", '"', "\\", "caf\u00e9", "\U0001f600", "\u2014", "u0000", "b", "x"]
    for _ in range(500):
        tree: Any = {
            "".join(rng.choices(pieces, k=3)): ["".join(rng.choices(pieces, k=rng.randrange(8)))]
        }
        got = escape_tree(tree)
        assert got == tree, tree
        assert got is tree or "\\u0000" in str(tree) or "\\b" in str(tree), tree
