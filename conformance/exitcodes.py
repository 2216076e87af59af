"""The exit codes of a run, one table for pytest, the CLI and the GitHub Action.

A CI gate must tell "the endpoint deviates from its table" (someone decides: fix it, or list
the deviation) from "the run could not judge it" (someone fixes the setup). Conflating them
let a closed port go green once its errors were listed as known (issue 26).

====  =========  ==========================================================================
code  outcome    meaning
====  =========  ==========================================================================
0     pass       every row passed or is a known deviation (cases/expectations/)
1     findings   a NEW deviation or a stale expectation (``--fail-on-regression``: a
                 regression against ``--previous``)
2     error      interrupted (Ctrl-C, SIGTERM): results.json says ``complete: false``
3     unjudged   rows could not be judged (error rows: endpoint unreachable, transport
                 failures, broken or stale cassettes) and nothing else was found, or a
                 target's diagnosis fired (no request got a 2xx, or most rows are error);
                 also pytest's own internal error
4     usage      bad options or input files, found before any request
5     error      nothing selected (pytest's "no tests ran")
====  =========  ==========================================================================
"""

from __future__ import annotations

OK = 0
FINDINGS = 1
INTERRUPTED = 2
UNJUDGED = 3
USAGE = 4
NOTHING_RUN = 5

# What the Action's ``outcome`` output says for each code (anything else: error).
OUTCOMES = {OK: "pass", FINDINGS: "findings", UNJUDGED: "unjudged", USAGE: "usage"}


def outcome(code: int) -> str:
    return OUTCOMES.get(code, "error")
