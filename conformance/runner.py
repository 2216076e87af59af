"""Run one case against one target and turn what happened into a Result.

Kept apart from the pytest glue so it can be driven and tested without pytest. Nothing here
raises for endpoint trouble: a failing endpoint gives an ``error`` verdict for that row and
the run goes on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance import recording
from conformance.cases import Case, Profile, declared_for
from conformance.client import Client, Limits
from conformance.oracles import ORACLES, Observation
from conformance.probe import Probe, Settings
from conformance.results import Declared, Observed, Result, decide_outcome
from conformance.targets import Target
from conformance.yamlfile import InputError, load, plain

# Each limit of settings.yaml: (smallest value allowed, whether it must be a whole number).
LIMIT_RULES = {
    "connect_timeout": (0.001, False),
    "read_timeout": (0.001, False),
    "total_timeout": (0.001, False),
    "max_body_bytes": (1, True),
    "retries": (0, True),
    "backoff": (0, False),
    "max_backoff": (0, False),
}


def load_settings(path: Path) -> Settings:
    """settings.yaml; a bad ``limits`` block is an InputError naming the file and line."""
    if not path.exists():
        return Settings({})
    doc = load(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(f"{path}:1: settings must be a mapping of names to values")
    check_limits(doc.get("limits"), path, getattr(doc, "key_lines", {}).get("limits", 1))
    return Settings(plain(doc))


def check_limits(lim: Any, path: Path | str = "settings", line: int = 0) -> Limits:
    """The Limits a settings ``limits`` block describes; InputError for a bad one."""
    if lim is None:
        return Limits()
    if not isinstance(lim, dict):
        raise InputError(f"{path}:{line}: limits must be a mapping, e.g. limits: {{retries: 3}}")
    for key, value in lim.items():
        where = f"{path}:{getattr(lim, 'key_lines', {}).get(key, line)}: limits.{key}"
        if key not in LIMIT_RULES:
            raise InputError(f"{where}: unknown limit; known: {', '.join(LIMIT_RULES)}")
        low, whole = LIMIT_RULES[key]
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or value < low:
            what = "a whole number" if whole else "a number of seconds"
            raise InputError(f"{where}: {value!r} is not {what} >= {low:g}")
    return Limits(**lim)


def make_client(target: Target, settings: Settings, api_key: str | None, **kwargs: Any) -> Client:
    limits = check_limits(settings.get("limits"))
    return Client(
        target.base_url,
        auth_style=target.auth,
        api_key=api_key,
        default_headers=target.headers,
        limits=limits,
        **kwargs,
    )


def run_case(
    case: Case,
    target: Target,
    client: Client,
    settings: Settings,
    profiles: dict[str, Profile],
    *,
    mode: str = "live",
    cassette_dir: Path | None = None,
    secrets: list[str] | None = None,
) -> Result:
    declared = declared_for(case, target.profile, profiles)
    probe = Probe(
        case_id=case.id,
        model=target.model,
        extra_body=target.extra_body,
        client=client,
        settings=settings,
    )
    before = (client.requests, client.input_tokens, client.output_tokens)
    started = time.monotonic()
    cassette = recording.cassette_path(cassette_dir or Path("cassettes"), target.name, case.id)
    try:
        with recording.cassette(mode, cassette, secrets or []):
            obs = ORACLES[case.oracle](probe, case)
    except recording.CassetteMissing as exc:
        obs = Observation(
            Observed.ERROR,
            f"{exc}; record it with: {recording.record_command(target.name, case.id)}",
        )
    except Exception as exc:
        if recording.is_mismatch(exc):
            obs = Observation(
                Observed.ERROR,
                f"cassette {cassette} has no recorded answer for this request (stale: the probe "
                f"changed since it was recorded); re-record with: "
                f"{recording.record_command(target.name, case.id)}",
            )
        else:
            obs = Observation(
                Observed.ERROR,
                f"internal error in oracle {case.oracle!r}: {type(exc).__name__}: {exc}",
                {"traceback": traceback.format_exc(limit=6)[-2000:]},
            )
    status = Declared(declared["status"]) if declared else None
    outcome, reason = decide_outcome(status, obs.observed)
    evidence = dict(obs.evidence)
    evidence["requests"] = probe.evidence_requests()
    if case.why:
        evidence.setdefault("why", case.why)
    return Result(
        id=case.id,
        target=target.name,
        table=case.table,
        row=case.row,
        variant=case.variant,
        declared=declared,
        observed=obs.observed.value,
        outcome=outcome.value,
        evidence=scrub(evidence, secrets or []),  # an endpoint may quote the key back
        message=scrub(f"{obs.message} — {reason}", secrets or []),
        duration_ms=int((time.monotonic() - started) * 1000),
        requests=client.requests - before[0],
        input_tokens=client.input_tokens - before[1],
        output_tokens=client.output_tokens - before[2],
    )


def scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with each secret replaced by the cassettes' placeholder, in every string."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, recording.REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def redact_logs(secrets: list[str]) -> Callable[[], None]:
    """Scrub ``secrets`` from every log record this process creates from now on; returns
    the function that undoes it.

    httpcore's debug trace and vcrpy's recording log print whole responses, and an endpoint
    may quote the key back in them; with ``--log-level=DEBUG`` pytest would show them. A
    record factory sees each record before any handler (pytest's capture, live logs, a log
    file), so none of them can print the key.
    """
    secrets = [s for s in secrets if s]
    previous = logging.getLogRecordFactory()
    if not secrets:
        return lambda: None

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        clean = scrub(message, secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text, secrets)
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(previous)


def describe(result: Result) -> str:
    """The text pytest shows for a row: declared vs observed and the evidence in brief."""
    decl = result.declared or {}
    says = decl.get("says") or decl.get("status") or "nothing"
    lines = [
        f"{result.id} [{result.target}]: {result.outcome.upper()}",
        f"  declared: {says} ({decl.get('status', 'undocumented')})",
        f"  observed: {result.observed}",
        f"  because:  {result.message}",
    ]
    for item in result.evidence.get("requests", [])[:8]:
        brief = {k: v for k, v in item.items() if k not in ("request", "headers", "path")}
        lines.append(f"  - {brief}")
    return "\n".join(lines)
