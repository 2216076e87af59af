"""Where a replayed column's answers came from: the server, its version, when it was recorded.

Read from ``cassettes/<target>/_provenance.yaml``, which recording writes beside the
cassettes; the writers show it under each column's head.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance import yamlfile
from conformance.report.loading import fmt_time, parse_time

# Headers that carry a server's version, and the product each one names.
SERVER_NAMES = {"x-litellm-version": "LiteLLM", "x-vllm-version": "vLLM"}


def cassette_provenance(cassette_dir: Path, targets: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``cassettes/<target>/_provenance.yaml`` of each target that has one, as read.

    A replayed column was measured when its cassettes were recorded, against the server that
    answered then; this is where the report learns which server and version that was.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in targets:
        path = Path(cassette_dir) / name / "_provenance.yaml"
        if not path.is_file():
            continue
        try:  # bounded like every input file (size, aliases), and parsed by libyaml
            data = yamlfile.plain(yamlfile.load(path))
        except (OSError, yamlfile.InputError, UnicodeDecodeError):
            continue
        if isinstance(data, dict):
            out[name] = data
    return out


def server_text(info: dict[str, Any]) -> str | None:
    """E.g. "LiteLLM 1.108.7", or "llama.cpp (sent no version)" for a bare server header;
    then the software the target file says it installed (its versions, where no header did)."""
    headers = info.get("server")
    headers = headers if isinstance(headers, dict) else {}
    parts = []
    for header, values in headers.items():
        values = values if isinstance(values, list) else [values]
        shown = ", ".join(str(v) for v in values)
        name = SERVER_NAMES.get(str(header).lower())
        if name:
            parts.append(f"{name} {shown}")
        elif any(ch.isdigit() for ch in shown):
            parts.append(shown)
        else:
            parts.append(f"{shown} (sent no version)")
    software = info.get("software")
    if isinstance(software, dict) and software:
        parts.append("installed: " + ", ".join(f"{k} {v}" for k, v in software.items()))
    return "; ".join(parts) or None


def recorded_text(info: dict[str, Any]) -> str | None:
    """When the cassettes were recorded: one time, or the earliest and latest case."""
    dates = [str(v) for v in (info.get("cases") or {}).values() if v]
    if info.get("recorded"):
        dates.append(str(info["recorded"]))
    if not dates:
        return None
    parsed = sorted(dates, key=lambda v: (parse_time(v) is None, parse_time(v) or v, v))
    first, last = fmt_time(parsed[0]), fmt_time(parsed[-1])
    return first if first == last else f"{first} to {last}"
