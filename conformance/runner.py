"""Run one case against one target and turn what happened into a Result.

Kept apart from the pytest glue so it can be driven and tested without pytest. Nothing here
raises for endpoint trouble: a failing endpoint gives an ``error`` verdict for that row and
the run goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance import recording, transport
from conformance import settings as settings_module
from conformance.cases import Case, Profile, declared_for
from conformance.client import Client
from conformance.display import escape_controls, escaped_json
from conformance.oracles import ORACLES
from conformance.oracles.base import no_verdict_from_failures
from conformance.probe import FRESH, Probe, fresh_code, unrecorded_code
from conformance.results import Declared, Observed, Result, decide_outcome
from conformance.secrets import scrub, scrub_json
from conformance.settings import Settings
from conformance.targets import Target
from conformance.vocabulary import Observation


def load_settings(path: Path) -> Settings:
    """settings.yaml, validated (see :mod:`conformance.settings`)."""
    return settings_module.load(path)


def make_client(target: Target, settings: Settings, api_key: str | None, **kwargs: Any) -> Client:
    limits = settings.limits
    return Client(
        target.base_url,
        auth_style=target.auth,
        api_key=api_key,
        default_headers=target.headers,
        limits=limits,
        **kwargs,
    )


def _fresh_source(mode: str, cassette: Path, case_id: str) -> Callable[[], str]:
    """Where the row's ``{{FRESH}}`` code comes from: drawn at random when the endpoint is
    called (live, record: the cassette then holds it in its requests), read back from the
    cassette in replay. A cassette without one (recorded before the row used it) gets a
    code derived from the case id (:func:`~conformance.probe.unrecorded_code`), which
    matches no recorded request: the row is reported stale, with the command that
    re-records it."""
    if mode != "replay":
        return fresh_code
    return lambda: recording.recorded_code(cassette, FRESH) or unrecorded_code(case_id)


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
    cassette = recording.cassette_path(cassette_dir or Path("cassettes"), target.name, case.id)
    probe = Probe(
        case_id=case.id,
        model=target.model,
        extra_body=target.extra_body,
        client=client,
        settings=settings,
        fresh_source=_fresh_source(mode, cassette, case.id),
    )
    before = (client.requests, client.input_tokens, client.output_tokens)
    started = time.monotonic()
    client.row_deadline = transport.row.at = started + settings.budget.row_seconds
    client.budget_note = None
    try:
        with recording.cassette(mode, cassette, secrets or []):
            obs = no_verdict_from_failures(probe, ORACLES[case.oracle](probe, case))
    except recording.CassetteMissing as exc:
        obs = Observation(
            Observed.ERROR,
            f"{exc}; record it with: {recording.record_command(target.name, case.id)}",
        )
    except recording.CassetteBroken as exc:
        obs = Observation(
            Observed.ERROR,
            f"{exc}; re-record it with: {recording.record_command(target.name, case.id)}",
        )
    except Exception as exc:
        if recording.is_mismatch(exc):
            obs = Observation(
                Observed.ERROR,
                f"cassette {recording.shown_path(cassette)} has no recorded answer for this "
                f"request (stale: the probe changed since it was recorded); re-record with: "
                f"{recording.record_command(target.name, case.id)}",
            )
        else:
            obs = Observation(
                Observed.ERROR,
                f"internal error in oracle {case.oracle!r}: {type(exc).__name__}: {exc}",
                {"traceback": traceback.format_exc(limit=6)[-2000:]},
            )
    cut = client.budget_note
    if cut is None and transport.row_time_up():  # the wire was in time, the judging was not
        cut = (
            f"the row time budget ran out after {time.monotonic() - started:.1f}s, while its "
            "answers were parsed and judged"
        )
    client.row_deadline = client.budget_note = None
    if cut:  # whatever the oracle made of a cut row, it is not a verdict
        obs = Observation(
            Observed.ERROR,
            f"{cut} (budget: row {settings.budget.row_seconds:g}s, run "
            f"{settings.budget.run_seconds:g}s in cases/settings.yaml); oracle said: "
            f"{obs.observed.value}: {obs.message}",
            obs.evidence,
        )
    status = Declared(declared["status"]) if declared else None
    outcome, reason = decide_outcome(status, obs.observed)
    evidence = dict(obs.evidence)
    evidence["requests"] = probe.evidence_requests()  # wire checks: still in the row's budget
    transport.row.at = None
    if case.why:
        evidence.setdefault("why", case.why)
    if case.workaround:
        evidence["workaround"] = case.workaround
    # an endpoint may quote the key back, or send terminal control codes
    evidence, evidence_json = escaped_json(*scrub_json(evidence, secrets or []))
    return Result(
        id=case.id,
        target=target.name,
        table=case.table,
        row=case.row,
        variant=case.variant,
        declared=declared,
        observed=obs.observed.value,
        outcome=outcome.value,
        evidence=evidence,
        message=escape_controls(scrub(f"{obs.message} — {reason}", secrets or [])),
        duration_ms=int((time.monotonic() - started) * 1000),
        requests=client.requests - before[0],
        input_tokens=client.input_tokens - before[1],
        output_tokens=client.output_tokens - before[2],
        evidence_json=evidence_json,
    )
