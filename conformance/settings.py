"""The suite's settings (``cases/settings.yaml``), typed, with each default written once.

Every N, threshold and slack an oracle uses lives in the file; the dataclasses below give
the same values as defaults, so a cases directory without a settings file (or with only a
few keys) behaves like the shipped one (``tests/test_settings.py`` checks the two agree).
:func:`load` reads and validates the file once at start-up: an unknown key or a value of the
wrong kind is an :class:`InputError` naming file and line. Code reads attributes
(``settings.sampling.max_tokens``), never dotted strings with a default of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.yamlfile import InputError
from conformance.yamlfile import load as load_yaml


@dataclass
class Limits:
    """Per request; checked at start-up (a bad value is a usage error)."""

    connect_timeout: float = 10.0  # seconds to connect
    read_timeout: float = 120.0  # seconds without a byte
    total_timeout: float = 300.0  # seconds for the whole answer, however it trickles
    max_body_bytes: int = 8 * 1024 * 1024  # a longer answer is cut: an error row
    retries: int = 3  # for 408, 429, 529 and 5xx
    backoff: float = 1.0  # seconds, doubled per retry unless retry-after says otherwise
    max_backoff: float = 30.0  # longest wait before a retry; a longer retry-after is not waited


@dataclass(frozen=True)
class Echo:
    control_min_hits: int = 2  # the control arm must echo this many of N, else inconclusive


@dataclass(frozen=True)
class Sampling:
    samples: int = 6  # samples per arm
    narrow_max_distinct: int = 2  # honored needs the narrow arm at most this diverse ...
    wide_min_distinct: int = 4  # ... and the wide arm at least this diverse
    max_tokens: int = 8


@dataclass(frozen=True)
class TokenDiff:
    min_delta: int = 20  # the block must add at least this many prompt tokens
    ignore_slack: int = 4  # a change of at most this many tokens: "never reached the model"
    filler_words: int = 160  # size of {{FILLER}}


@dataclass(frozen=True)
class Cache:
    filler_words: int = 1400  # size of {{FILLER_LONG}}


@dataclass(frozen=True)
class MaxTokensOracle:
    limit: int = 5
    slack: int = 0  # output_tokens may exceed max_tokens by this much


@dataclass(frozen=True)
class Usage:
    tolerance: float = 0.1  # reported prompt tokens may differ from count_tokens by this share
    output_slack: int = 2  # output_tokens may differ from the counted text deltas by this much
    long_prompt_words: int = 20000  # filler words (~1 token each) past a 16k-token context
    # a text of W words is at least this many tokens per word in any tokenizer: the floor the
    # uncached rows hold a fresh prompt's uncached tokens to
    min_tokens_per_word: float = 0.5


@dataclass(frozen=True)
class Clients:
    bisect_budget: int = 30  # requests a refused client shape may spend on finding the culprit


@dataclass(frozen=True)
class Budget:
    """Wall time for one row (all its requests, retries and waits) and for a whole run. A
    row cut by either is an ``error`` naming the budget; the run still completes (rows past
    the run's budget send nothing and are ``error`` at once)."""

    row_seconds: float = 600.0
    run_seconds: float = 3600.0


@dataclass(frozen=True)
class Settings:
    max_tokens: int = 4  # of a probe that does not set its own
    prompt: str = "Reply with the word OK."  # user turn of a probe without messages
    trials: int = 3  # N for information-flow (echo) and tool-behaviour oracles
    echo: Echo = field(default_factory=Echo)
    sampling: Sampling = field(default_factory=Sampling)
    token_diff: TokenDiff = field(default_factory=TokenDiff)
    cache: Cache = field(default_factory=Cache)
    max_tokens_oracle: MaxTokensOracle = field(default_factory=MaxTokensOracle)
    limits: Limits = field(default_factory=Limits)
    usage: Usage = field(default_factory=Usage)
    clients: Clients = field(default_factory=Clients)
    budget: Budget = field(default_factory=Budget)


# Each limit: the smallest value allowed.
MINIMUM = {
    "connect_timeout": 0.001,
    "read_timeout": 0.001,
    "total_timeout": 0.001,
    "max_body_bytes": 1,
    "retries": 0,
    "backoff": 0,
    "max_backoff": 0,
    "row_seconds": 0.001,
    "run_seconds": 0.001,
}


def load(path: Path) -> Settings:
    """``settings.yaml`` validated (defaults where it says nothing; none at all if absent)."""
    if not path.exists():
        return Settings()
    doc = load_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(f"{path}:1: settings must be a mapping of names to values")
    return _build(Settings, doc, path, "", 1)


def from_dict(doc: dict[str, Any] | None) -> Settings:
    """Settings from a plain mapping (tests, programs); validated like the file."""
    return _build(Settings, doc or {}, "settings", "", 0)


def _build(cls: Any, doc: Any, path: Path | str, prefix: str, line: int) -> Any:
    section = prefix.rstrip(".")
    if not isinstance(doc, dict):
        example = "limits: {retries: 3}" if section == "limits" else f"{section}: {{...}}"
        raise InputError(f"{path}:{line}: {section} must be a mapping, e.g. {example}")
    lines = getattr(doc, "key_lines", {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in doc.items():
        where = f"{path}:{lines.get(key, line)}: {prefix}{key}"
        if key not in fields:
            what = "limit" if section == "limits" else "setting"
            raise InputError(f"{where}: unknown {what}; known: {', '.join(fields)}")
        default = fields[key].default
        if default is dataclasses.MISSING:  # a section
            sub = fields[key].default_factory  # type: ignore[misc]
            values[key] = _build(sub, value, path, f"{prefix}{key}.", lines.get(key, line))
        else:
            values[key] = _check(value, default, where, MINIMUM.get(key, 0) if section else 0)
    return cls(**values)


def _check(value: Any, default: Any, where: str, low: float) -> Any:
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{where}: {value!r} is not a string")
        return value
    whole = isinstance(default, int)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < low:
        what = "a whole number" if whole else "a number of seconds"
        raise InputError(f"{where}: {value!r} is not {what} >= {low:g}")
    return value
