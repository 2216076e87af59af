"""Targets: the endpoints under test, described in YAML (``cases/targets/<name>.yaml``).

A target is connection settings plus the profile it declares. A new provider is one YAML
file, no Python: base URL, auth style, the variable that holds the key, the model, body
fields every probe needs, concurrency limits and which declared profile to check against.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.secrets import PLACEHOLDER
from conformance.yamlfile import InputError, did_you_mean, load, plain, validate

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "target.schema.json").read_text())


@dataclass
class Target:
    name: str
    title: str
    base_url: str
    auth: str  # "x-api-key" | "bearer" | "none"
    api_key_env: str | None
    model: str
    profile: str
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    concurrency: int | None = None  # requests in flight at once (None: no limit)
    requests_per_minute: int | None = None
    notes: str = ""
    software: dict[str, str] = field(default_factory=dict)  # name -> version, as installed
    path: Path | None = None

    @property
    def host(self) -> str:
        """``host[:port]`` of the base URL, never its ``user:password@`` part."""
        return urlsplit(self.base_url).netloc.rpartition("@")[2]

    def api_key(self, required: bool, replayable: bool = True) -> str | None:
        """The key from the environment; keys are never read from files. ``replayable``:
        cassettes exist for this target, so replay is a way to run without a key."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value and required:
            other = (
                "or replay its shipped cassettes with --mode replay"
                if replayable
                else "and note that no cassettes are shipped for it, so it cannot be replayed"
            )
            raise InputError(
                f"target {self.name!r} needs an API key: set the environment variable "
                f"{self.api_key_env} (or pass --api-key-env VAR), {other}"
            )
        return value or None


def load_target(path: Path) -> Target:
    doc = load(path)
    validate(doc, SCHEMA, path, "target")
    doc = plain(doc)
    if doc["name"] != path.stem:
        raise InputError(f"{path}:1: target name {doc['name']!r} must match the file name")
    return Target(
        name=doc["name"],
        title=doc.get("title", doc["name"]),
        base_url=doc["base_url"],
        auth=doc.get("auth", "x-api-key"),
        api_key_env=doc.get("api_key_env"),
        model=doc["model"],
        profile=doc.get("profile", doc["name"]),
        extra_body=doc.get("extra_body", {}),
        headers={k.lower(): v for k, v in doc.get("headers", {}).items()},
        concurrency=doc.get("concurrency"),
        requests_per_minute=doc.get("requests_per_minute"),
        notes=doc.get("notes", ""),
        software={str(k): str(v) for k, v in (doc.get("software") or {}).items()},
        path=path,
    )


def check_profiles(targets: list[Target], profiles: Collection[str]) -> None:
    """Every target declares a known profile (else every row of it would be undocumented)."""
    for t in targets:
        if t.profile in profiles:
            continue
        line, doc = 1, None
        if t.path is not None and t.path.exists():
            doc = load(t.path)
            line = getattr(doc, "key_lines", {}).get("profile", 1)
        if isinstance(doc, dict) and "profile" not in doc:  # it defaulted to the name
            raise InputError(
                f"{t.path}:1: target {t.name!r} has no profile: (it defaults to the target's "
                f"name, and there is no profile {t.name!r}); fix: add `profile: anthropic` "
                "to check your endpoint against the Anthropic API itself, or name one of "
                f"{', '.join(sorted(profiles))} (a vendor's table), or add "
                f"cases/profiles/{t.name}.yaml"
            )
        raise InputError(
            f"{t.path or t.name}:{line}: target {t.name!r} declares unknown profile "
            f"{t.profile!r}{did_you_mean(t.profile, profiles)}; fix: name one of "
            f"{', '.join(sorted(profiles))}, or add "
            f"cases/profiles/{t.profile}.yaml"
        )


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
URL_FIX = "fix: give an http:// or https:// URL with a host, e.g. https://api.example.com/anthropic"


def check_api_key_env(value: str) -> None:
    """``--api-key-env`` names a variable. Anything else (a key pasted where its variable's
    name belongs) is refused without being shown: the message would print the key."""
    if not _VARIABLE.fullmatch(value):
        raise InputError(
            "--api-key-env takes the NAME of an environment variable, and this value is not "
            "one (it may be the key itself, so it is not shown); fix: put the key in a "
            "variable and pass its name, e.g. --api-key-env=ACME_API_KEY"
        )


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a target's base URL (http or https, a parseable host), or None."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # both parse the netloc; a bad one raises
    except ValueError as exc:
        return f"cannot be parsed ({exc})"
    if not parts.scheme:
        return "has no scheme"
    if parts.scheme not in ("http", "https"):
        return f"has scheme {parts.scheme!r}, not http or https"
    return None if host else "has no host"


def _shown_url(url: str) -> str:
    """``url`` as an error message may show it: never its ``user:password@`` part."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = f"{PLACEHOLDER}@{rest.rpartition('@')[2]}"
    return f"{scheme}{sep}{rest}"


def check_base_urls(targets: list[Target], option: str | None) -> None:
    """Every target's base URL (``--base-url`` or the file's ``base_url``) is usable, before
    any request: else every row would be an ``error`` and the run would read as findings."""
    for t in targets:
        why = base_url_problem(t.base_url)
        if why is None:
            continue
        shown = _shown_url(t.base_url)
        if option:
            raise InputError(f"--base-url {shown!r} {why}; {URL_FIX}")
        line = 1
        if t.path is not None and t.path.exists():
            line = getattr(load(t.path), "key_lines", {}).get("base_url", 1)
        where = f"{t.path or t.name}:{line}"
        raise InputError(f"{where}: target {t.name!r}: base_url {shown!r} {why}; {URL_FIX}")


def available(targets_dir: Path) -> list[str]:
    return sorted(p.stem for p in targets_dir.glob("*.yaml"))


def resolve(names: list[str], targets_dir: Path) -> list[Target]:
    """Targets by name; an unknown name is an error that lists the known ones."""
    known = available(targets_dir)
    out = []
    for name in names:
        if name not in known:
            raise InputError(
                f"unknown target {name!r}{did_you_mean(name, known)}: known targets are "
                f"{', '.join(known) or '(none)'} "
                f"(files in {targets_dir})"
            )
        out.append(load_target(targets_dir / f"{name}.yaml"))
    return out
