"""Why a run could not judge a target, in one line naming the cause and the fix.

A target whose every request failed the same way (connection refused, an HTML 404 for a
wrong base path, 401 for a wrong key) gives dozens of rows that each say so in their own
words; the person reading them needs one sentence: "nothing listens at 127.0.0.1:9; fix:
start the server or correct base_url". :func:`diagnose` reads one target's result records
(their evidence's requests) and gives that sentence, or None when the run judged the target.

It fires when no request of the target got a 2xx (nothing seen can be a verdict: even a
``rejected`` row rests on a refusal of everything), or when most rows are ``error`` (a
dead endpoint, a broken cassette directory). A diagnosed target makes the run exit with
:data:`conformance.exitcodes.UNJUDGED`, whatever its rows say, and ``expectations write``
refuses to record it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FIX_URL = "correct base_url in the target file (or --base-url)"


@dataclass(frozen=True)
class Diagnosis:
    target: str
    cause: str  # what happened, with the numbers
    fix: str  # what to change: base URL, key, path, server

    def line(self) -> str:
        return f"diagnosis: {self.target}: {self.cause}; fix: {self.fix}"


def _kind(request: Mapping[str, Any]) -> str:
    """One request's failure, as one word: ok, refused, dns, timeout, no-answer, redirect,
    auth, not-served, server-error, refused-4xx."""
    status, error = request.get("status"), str(request.get("error") or "")
    low = error.lower()
    if status is None:
        if "refused" in low:
            return "refused"
        if any(w in low for w in ("name or service", "nodename", "getaddrinfo", "name resolution")):
            return "dns"
        return "timeout" if "timed out" in low or "timeout" in low else "no-answer"
    if error:
        return "no-answer"  # an answer, but cut or unparsable
    if 200 <= status < 300:
        return "ok"
    if 300 <= status < 400:
        return "redirect"
    if status in (401, 403):
        return "auth"
    if status in (404, 405) and not request.get("error_type"):
        return "not-served"
    return "server-error" if status >= 500 else "refused-4xx"


# Requests the suite sends with a wrong key or none on purpose (the auth rows): their 401 is
# the answer they want, and says nothing about whether the endpoint can be reached.
DELIBERATE = ("wrong key", "no key")


def _requests(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        q
        for r in records
        for q in (r.get("evidence") or {}).get("requests") or []
        if isinstance(q, Mapping) and not any(w in str(q.get("label")) for w in DELIBERATE)
    ]


def _sentence(kind: str, sample: Mapping[str, Any], every: str, host: str) -> tuple[str, str]:
    """(cause, fix) for the requests (``every``: "all 12 requests") that failed as ``kind``
    (``sample`` is one of them)."""
    status, said = sample.get("status"), str(sample.get("error") or sample.get("error_message"))
    said = " ".join(said.split())[:100]
    where = f" at {host}" if host else ""
    return {
        "refused": (f"{every}: connection refused{where}: nothing listens there",
                    f"start the server, or {FIX_URL}"),
        "dns": (f"{every}: host not found{where} ({said})", FIX_URL),
        "timeout": (f"{every}: no answer in time{where} ({said})",
                    f"check that the server is up and {FIX_URL}; timeouts are the limits of "
                    "cases/settings.yaml"),
        "no-answer": (f"{every}: no usable answer{where} ({said})",
                      f"check the server, or {FIX_URL}"),
        "redirect": (f"{every} were redirected ({status}){where}, and redirects are not "
                     "followed", f"{FIX_URL} (https rather than http? a missing path?)"),
        "auth": (f"{every} were refused with {status}{where} ({said})",
                 "check the key: the variable the target's api_key_env (or --api-key-env) "
                 "names, and the target's auth style (x-api-key or bearer)"),
        "not-served": (f"{every} got {status} with no API error envelope{where} (the API "
                       f"is not at this path: {said})",
                       f"{FIX_URL}: it is the part before /v1/messages, e.g. "
                       "https://host/anthropic"),
        "server-error": (f"{every} failed with {status}{where} ({said})",
                         "the endpoint, or what it forwards to, is failing: see its log"),
        "refused-4xx": (f"{every} were refused with {status}{where} ({said})",
                        "check the model name (--model) and the target's headers"),
    }[kind]  # fmt: skip


def diagnose(target: str, records: list[Mapping[str, Any]], host: str = "") -> Diagnosis | None:
    """The one-line diagnosis of ``target``'s run, or None when it was judged."""
    if not records:
        return None
    errors = [r for r in records if r.get("outcome") == "error"]
    requests = _requests(records)
    kinds = Counter(_kind(q) for q in requests)
    if requests and not kinds.get("ok"):
        kind, n = kinds.most_common(1)[0]
        sample = next(q for q in requests if _kind(q) == kind)
        if n == len(requests):
            every = f"all {n} requests" if n > 1 else "the only request"
        else:
            every = f"no request got a 2xx; {n} of {len(requests)}"
        cause, fix = _sentence(kind, sample, every, host)
        return Diagnosis(target, cause, fix)
    if len(errors) * 2 <= len(records):
        return None
    cassettes = [r for r in errors if "cassette" in str(r.get("message", ""))]
    if len(cassettes) * 2 > len(errors):
        return Diagnosis(
            target,
            f"{len(errors)} of {len(records)} rows could not be judged, {len(cassettes)} of "
            "them for a missing, broken or stale cassette",
            f"re-record them: pytest --target {target} --mode record",
        )
    head = Counter(str(r.get("message", "")).split(" — ")[0][:120] for r in errors)
    return Diagnosis(
        target,
        f"{len(errors)} of {len(records)} rows could not be judged; the most common cause: "
        f"{head.most_common(1)[0][0]}",
        "see those rows' messages (-v) and fix the endpoint or the target file first",
    )


def diagnose_run(doc: Mapping[str, Any]) -> list[Diagnosis]:
    """Every target of a results document that could not be judged."""
    run_targets = (doc.get("run") or {}).get("targets") or []
    hosts = {t.get("name"): t.get("base_url_host") or "" for t in run_targets}
    records = list(doc.get("results") or [])
    out = []
    for name in sorted({r["target"] for r in records}):
        found = diagnose(name, [r for r in records if r["target"] == name], hosts.get(name, ""))
        if found is not None:
            out.append(found)
    return out
