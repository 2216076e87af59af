"""Control characters from an endpoint are escaped wherever results and reports keep text
(conformance/display.py): the fast check finds every one the exact walk escapes."""

from __future__ import annotations

import json
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


def _random_tree(rng: random.Random, depth: int = 0) -> Any:
    atoms: list[Any] = [
        "plain", "caf\u00e9 \u2014", "\U0001f44f", '"q" \\ \t\n', "\x1b[2K", "\u202e", None,
        True, 0, -3, 2.5, float("nan"), float("inf"), 10**20,
    ]  # fmt: skip
    if depth > 3 or rng.random() < 0.35:
        return rng.choice(atoms)
    if rng.random() < 0.5:
        return [_random_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "b\u00e9", "\x07bell", "requests", "1"]
    return {rng.choice(keys): _random_tree(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_a_record_text_that_reuses_the_escape_checks_json_is_the_records_json() -> None:
    """The runner keeps the JSON its escape check wrote of a row's evidence, and the record's
    text splices it in (``Result.to_json``): on 3,000 random evidence trees (control codes,
    non-ASCII and astral text, NaN and infinities, keys and values alike) that text is
    exactly ``json.dumps`` of the record, and the kept JSON is there only for a tree that
    came back as itself."""
    from conformance.display import escaped_json
    from conformance.results import Result

    rng = random.Random(23)
    kept = 0
    for _ in range(3000):
        tree = {"requests": [_random_tree(rng)], "x": _random_tree(rng)}
        evidence, text = escaped_json(tree)
        assert evidence == escape_tree(tree) or evidence != evidence  # NaN != NaN
        assert (text is not None) == (evidence is tree)
        kept += text is not None
        result = Result(
            id="fields.x", target="t\u00e9", table="fields", row="x", variant=None,
            declared={"status": "honored"}, observed="honored", outcome="pass",
            evidence=evidence, message="m \u2014 \\x1b", evidence_json=text,
        )  # fmt: skip
        assert result.to_json() == json.dumps(result.to_dict())
        assert "evidence_json" not in result.to_dict()
    assert 500 < kept < 2900  # both ways were taken


def test_escaping_a_line_searches_then_translates_as_the_table_says() -> None:
    """``escape_controls`` skips ``translate`` for a text with nothing to escape: for every
    control character, tab and newline, alone or in non-ASCII and astral text, either way,
    its result is the table's translation."""
    from conformance.display import _ONE_LINE, _TABLE, escape_controls

    rng = random.Random(9)
    others = ["a", "caf\u00e9", "\u2014", "\U0001f44f", " ", "\\", "x1b"]
    for code in [*_CONTROLS, 0x09, 0x0A, 0x41]:
        for _ in range(20):
            pieces = rng.choices(others, k=rng.randrange(5))
            pieces.insert(rng.randrange(len(pieces) + 1), chr(code))
            text = "".join(pieces)
            assert escape_controls(text) == text.translate(_TABLE), (hex(code), text)
            assert escape_controls(text, one_line=True) == text.translate(_ONE_LINE), hex(code)
