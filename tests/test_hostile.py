"""Hostile endpoints (issue 15): no key fragment in any artifact, a wrong answer is an error
and not a verdict, bounded memory and time in every mode.

The servers: tests/hostileserver.py (HTTP-level misbehaviour on top of the fake Anthropic
server) and tests/faultserver.py (raw-socket faults).
"""

from __future__ import annotations

import json
import re
import resource
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeserver import FakeAnthropic
from faultserver import FaultServer
from hostileserver import CONTROL, ECHOES, LEAKS, TRANSPORT, HostileAnthropic, encoded_forms

from conformance import runner
from conformance.secrets import MIN_FRAGMENT, scrub_body, scrub_text
from conftest import FAKE_KEY, TARGET, Harness, all_case_ids, write_cases_dir

# A key with no word in it that the suite's own text could contain.
HOSTILE_KEY = "sk-hostile-7f3a9c2e1b5d8046q"
LEAK_CASES = ("protocol.message", "protocol.stream", "protocol.errors", "fields.max_tokens")


def fragments(key: str) -> list[str]:
    return [key[i : i + MIN_FRAGMENT] for i in range(len(key) - MIN_FRAGMENT + 1)]


def assert_no_fragment(text: str, key: str, where: str) -> None:
    found = [f for f in fragments(key) if f in text]
    assert not found, f"{where} holds fragments of the key: {found[:3]}"


# A realistic key: mixed case, as Anthropic's keys are (case folding must not let it through).
MIXED_KEY = "sk-ant-api03-Zq8RkT2vWm9XpL4nB7cYdH3fJ6sG1aE5uK0oI"


def _unescape(text: str) -> str:
    """One level of JSON string escapes undone (``\\\\`` pairs kept apart from ``\\u``)."""
    return re.sub(
        r'\\(u[0-9a-fA-F]{4}|["\\/])',
        lambda m: chr(int(m[1][1:], 16)) if m[1][0] == "u" else m[1],
        text,
    )


def assert_no_key_anywhere(text: str, key: str, where: str) -> None:
    """No 8-character window of the key, compared case-insensitively, as is or behind one
    or two levels of JSON escapes; none of its base64, base64url or hex forms either."""
    once = _unescape(text)
    folded = "\n".join((text, once, _unescape(once))).lower()
    found = [f for f in fragments(key.lower()) if f in folded]
    for name, form in encoded_forms(key).items():
        found += [f"{name}:{f}" for f in fragments(form[8:-8].lower()) if f in folded]
    assert not found, f"{where} holds the key: {found[:3]}"


def result_text(result: Any) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)


def observe(server: Any, case_ids: tuple[str, ...], key: str = FAKE_KEY, **settings: Any) -> Any:
    h = Harness(server, settings or None)
    h._client = runner.make_client(h.target, h.settings, key)
    try:
        return {cid: h.run(cid, secrets=[key]) for cid in case_ids}
    finally:
        h.close()


# --- the policy itself ----------------------------------------------------------------------


def test_scrub_text_removes_cut_and_split_fragments_but_never_short_keys() -> None:
    key = HOSTILE_KEY
    assert scrub_text(f"a {key[:12]}", [key]) == "a <redacted>"  # cut after 12 characters
    assert scrub_text(f"{key[9:]} b", [key]) == "<redacted> b"
    assert scrub_text(f"{key[:7]}", [key]) == key[:7]  # below the fragment length: kept
    # a short key is never substring-replaced: answers are not mangled
    assert scrub_text("code execution", ["x"]) == "code execution"
    assert scrub_text("test 1 2", ["test", "1"]) == "test 1 2"


def test_scrub_body_decodes_json_escapes_and_joins_sse_deltas() -> None:
    key = HOSTILE_KEY
    escaped = json.dumps(key).replace("-", "\\u002d").encode()
    assert key.encode() not in escaped
    clean = scrub_body(b'{"text": ' + escaped + b"}", [key], "application/json")
    assert json.loads(clean) == {"text": "<redacted>"}
    half = len(key) // 2
    stream = "".join(
        "event: content_block_delta\ndata: "
        + json.dumps({"type": "content_block_delta", "index": 0, "delta": d})
        + "\n\n"
        for d in (
            {"type": "text_delta", "text": key[:half]},
            {"type": "text_delta", "text": key[half:]},
        )
    ).encode()
    out = scrub_body(stream, [key], "text/event-stream").decode()
    texts = [
        json.loads(line[6:])["delta"]["text"]
        for line in out.splitlines()
        if line.startswith("data:")
    ]
    assert "".join(texts) == "<redacted>", texts


def _pieces(key: str) -> list[str]:
    """Strings a kept tree may hold: prose, and a key in every form scrub_text finds, cut,
    folded, behind one or two levels of JSON escapes (\\u002d, \\/), next to other text."""
    import base64

    forms = list(encoded_forms(key).values())
    std = base64.b64encode(("??" + key).encode()).decode()  # holds "/" and "+"
    escaped = json.dumps(key).strip('"').replace("-", "\\u002d")
    pieces = [
        "plain words only", "", "caf\u00e9 \U0001f600", 'a "quoted" \\ thing', "\x1b[2J",
        key, key[:12], key[3:11], key[:7], key.upper(), std, std.replace("/", "\\/"),
        escaped, json.dumps(escaped).strip('"'), f"x{key[2:14]}y", "\\u0041\\/",
        key.replace("k", "\u212a"), "x" + key[:8].replace("k", "\u212a", 1) + "y",
        f"\u2014{key[:10]}\u00e9", f"{key[:5]}\u00e9{key[5:]}",
        f"\U0001f600{key[1:13]}", "\\u2014" + key[:9],
        *forms, *(f[:9] for f in forms),
    ]  # fmt: skip
    return pieces


def _tree(rng: Any, pieces: list[str], depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.35:
        return rng.choice([*pieces, 12345678, None, True, 1.5])
    if rng.random() < 0.5:
        return [_tree(rng, pieces, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(pieces): _tree(rng, pieces, depth + 1) for _ in range(rng.randrange(4))}


@pytest.mark.parametrize("key", [HOSTILE_KEY, "sk-local-ccproxy", 'sk-"odd\\key-1234'])
def test_one_scan_of_a_whole_tree_or_of_all_headers_scrubs_what_each_string_would(key: str):
    """scrub() first scans the whole tree (as its ASCII JSON) and looks at each string only
    when that scan finds something; kept_headers() remembers the short values it scrubbed:
    over 2,000 trees and header sets made of a key's forms, cut, folded and escaped, the
    result is what scrubbing every string gives, and a clean tree comes back as the same
    object, unwalked (unless a key holds a quote or a backslash, which JSON escapes: then
    every string is looked at)."""
    import random

    from conformance.secrets import kept_headers, scrub, usable
    from conformance.secrets.forms import _scrub_tree

    keys = usable([key, "sk-second-key-5678"])
    pieces = _pieces(key)
    rng = random.Random(7)
    clean_seen = dirty_seen = 0
    for _ in range(2000):
        tree = _tree(rng, pieces)
        walked = _scrub_tree(tree, keys)
        assert scrub(tree, keys) == walked, tree
        if walked == tree:
            clean_seen += 1
        else:
            dirty_seen += 1
        pairs = [(rng.choice(pieces) or "h", rng.choice(pieces)) for _ in range(rng.randrange(5))]
        want = {scrub_text(k, keys).lower(): scrub_text(v, keys) for k, v in pairs}
        assert kept_headers(pairs, keys) == want, pairs
    assert clean_seen > 100 and dirty_seen > 100, (clean_seen, dirty_seen)
    clean = {"role": "user", "content": [{"type": "text", "text": "plain words only"}]}
    plain = '"' not in key  # a key with a quote or backslash: every string is looked at
    assert (scrub(clean, keys) is clean) == plain and scrub(clean, keys) == clean


def test_the_escapes_that_may_hide_a_key_are_those_of_characters_that_fold_into_ascii() -> None:
    """The one scan of a tree reads its ASCII JSON, where every character beyond ASCII is a
    ``\\uXXXX`` escape: it looks closer at an escape only when the character may be a key's
    (one that lower() makes ASCII, one for one). Over every code point, those are exactly
    the ones whose escape it treats so; and ``\\/`` too."""
    from conformance.secrets.forms import _HIDING_ESCAPE

    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        low = char.lower()
        may_be_a_key_s = len(low) == 1 and ord(low) < 128
        escaped = json.dumps(char)  # "\\u212a" beyond ASCII, the character itself below
        if code >= 128:
            assert bool(_HIDING_ESCAPE.search(escaped)) == may_be_a_key_s, hex(code)
        assert _HIDING_ESCAPE.search(f"\\u{code:04x}") or not may_be_a_key_s or code > 0xFFFF
    assert _HIDING_ESCAPE.search("a\\/b") and not _HIDING_ESCAPE.search("caf\\u00e9 \\ud83d")


# --- leaks: in process, every kept string ---------------------------------------------------


@pytest.mark.parametrize("behaviour", sorted(LEAKS))
def test_a_leaking_endpoint_leaves_no_key_fragment_and_the_same_verdicts(behaviour: str) -> None:
    """Every row of the suite: what is kept of an answer that quotes the key (split over
    deltas, in long text, the reason phrase, a header name, JSON-escaped) holds no fragment
    of it, and the verdicts are those of the same server that does not quote it."""
    ids = all_case_ids()
    with FakeAnthropic() as plain:
        expected = {cid: r.observed for cid, r in observe(plain, ids).items()}
    with HostileAnthropic(behaviour) as server:
        got = observe(server, ids)
    # The server quotes the key in an extra text block of a JSON answer but inside a stream's
    # deltas, so its two answers really differ in shape: that row may say so.
    differ = {
        c: (expected[c], r.observed)
        for c, r in got.items()
        if r.observed != expected[c] and c != "protocol.stream_equivalence"
    }
    assert not differ, differ
    for cid, result in got.items():
        assert_no_fragment(result_text(result), FAKE_KEY, f"{behaviour}: {cid}")


ECHO_CASES = (
    "protocol.message",
    "protocol.stream",
    "protocol.errors",
    "fields.max_tokens",
    "claude_code.tool_input.stream",
)


@pytest.mark.parametrize("behaviour", sorted(ECHOES | {"header_name"}))
def test_a_key_in_any_stream_line_broken_body_tool_input_or_encoding_is_never_kept(
    behaviour: str, tmp_path: Path
) -> None:
    """Issue 25, 1-3 and 12: recording against an endpoint that echoes a mixed-case key in
    SSE ``id:``/``event:``/comment lines, duplicate-member, 70-deep and malformed JSON, tool
    input rebuilt from ``input_json_delta`` pieces, a header name, or base64/base64url/hex/
    upper-case forms: no cassette and no result holds any 8-character window of it."""
    key = MIXED_KEY
    with HostileAnthropic(behaviour, key=key) as server:
        h = Harness(server)
        h._client = runner.make_client(h.target, h.settings, key)
        try:
            got = {
                cid: h.run(cid, secrets=[key], mode="record", cassette_dir=tmp_path)
                for cid in ECHO_CASES
            }
        finally:
            h.close()
        answers = b"".join(server.sent)
    assert key.encode() in answers or escaped_in(answers, key), "the server echoed nothing"
    cassettes = list(tmp_path.rglob("*.json"))
    assert len(cassettes) == len(ECHO_CASES)
    for path in cassettes:
        assert_no_key_anywhere(path.read_text(), key, str(path))
    for cid, result in got.items():
        assert_no_key_anywhere(result_text(result), key, f"{behaviour}: {cid}")


def escaped_in(data: bytes, key: str) -> bool:
    """At least the key's first 12 characters (a stream may split the rest across pieces)."""
    return key[:12].lower() in _unescape(_unescape(data.decode("utf-8", "replace"))).lower()


# --- transport failures are errors, never verdicts ------------------------------------------

FAILING_CASES = (
    "protocol.message",
    "protocol.auth_errors",
    "fields.max_tokens",
    "fields.stop_sequences",
    "clients.claude_code.first_turn",
)


@pytest.mark.parametrize(
    "behaviour",
    ["rate_limited", "redirect", "moved", "timeout_408", "deep_json", "gzip_bomb"],
)
def test_a_transport_failure_is_an_error_on_every_row(behaviour: str) -> None:
    with HostileAnthropic(behaviour) as server:
        started = time.monotonic()
        got = observe(server, FAILING_CASES)
        elapsed = time.monotonic() - started
        sent = len(server.requests)
    for cid, r in got.items():
        assert r.observed == "error", (cid, r.observed, r.message)
        assert "internal error" not in r.message and "Traceback" not in result_text(r)
    # never bisected: one shape request (plus its retries), not a bisection's dozens
    shape = got["clients.claude_code.first_turn"]
    assert "bisection" not in shape.evidence, shape.evidence
    assert sent < 40 and elapsed < 30, (sent, elapsed)


@pytest.mark.parametrize("mode", ["live", "record"])
@pytest.mark.parametrize("behaviour", sorted(TRANSPORT))
def test_no_row_of_the_whole_suite_gives_a_verdict_from_a_transport_failure(
    behaviour: str, mode: str, tmp_path: Path
) -> None:
    """Every row of the shipped cases, not a sample, live and recording: under a behaviour
    where no Messages request gets a usable answer, every row that sent one is an error with
    its cause (never a verdict, never an internal error), nothing is bisected past one
    trial, the run stays small and quick, and no cassette holds a fragment of the key."""
    ids = all_case_ids()
    extra = {"mode": "record", "cassette_dir": tmp_path} if mode == "record" else {}
    with HostileAnthropic(behaviour) as server:
        h = Harness(server)
        started = time.monotonic()
        try:
            got = {cid: h.run(cid, **extra) for cid in ids}
        finally:
            h.close()
        elapsed = time.monotonic() - started
        sent = len(server.requests)
    for path in tmp_path.rglob("*.json"):
        assert_no_fragment(path.read_text(), FAKE_KEY, str(path))
    if mode == "record" and behaviour != "gzip_bomb":  # a body cut at the cap is not kept
        assert len(list(tmp_path.rglob("*.json"))) >= len(ids) // 2
    wrong = {}
    for cid, r in got.items():
        paths = {q.get("path") for q in r.evidence.get("requests") or []}
        text = result_text(r)
        if "internal error" in r.message or "Traceback" in text:
            wrong[cid] = f"internal error: {r.message[:200]}"
        elif "/v1/messages" in paths and r.observed != "error":
            wrong[cid] = f"{r.observed}: {r.message[:200]}"
        bisection = r.evidence.get("bisection") or {}
        if len(bisection.get("tried") or []) > 1:
            wrong[cid] = f"bisected {len(bisection['tried'])} times: {bisection.get('note')}"
    assert not wrong, f"{behaviour}: {len(wrong)} row(s): {wrong}"
    print(f"{behaviour} ({mode}): {len(ids)} rows, {sent} requests, {elapsed:.1f} s")
    assert sent < 12 * len(ids), sent


def test_sse_for_a_plain_request_is_an_error_and_html_200_too() -> None:
    with HostileAnthropic("sse_for_json") as server:
        got = observe(server, ("protocol.message", "protocol.stream"))
    assert got["protocol.message"].observed == "error"
    assert "SSE" in got["protocol.message"].message
    assert got["protocol.stream"].observed == "honored"  # asked for a stream: fine
    with HostileAnthropic("html_200") as server:
        got = observe(server, ("protocol.message", "fields.max_tokens"))
    assert {r.observed for r in got.values()} == {"error"}


STREAM_CASES = ("protocol.stream", *(c for c in all_case_ids() if c.startswith("clients.")))


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [("sse_deep", "nested deeper than 64"), ("sse_bad_utf8", "invalid UTF-8")],
)
def test_an_unreadable_stream_event_is_an_error_like_the_same_body_outside_a_stream(
    behaviour: str, why: str
) -> None:
    """Issue 25, 7: a stream event whose data is valid JSON nested 70 deep, or not UTF-8,
    made ``protocol.stream`` and 8 ``clients.*`` rows violated/fail, saying "data is not
    JSON" even for valid JSON. Every row that got such a stream is ``error``, saying why."""
    with HostileAnthropic(behaviour) as server:
        got = observe(server, STREAM_CASES)
        streamed = [q for q in server.requests if (q.body or {}).get("stream")]
    assert streamed, "no row asked for a stream"
    hit = {
        cid: r
        for cid, r in got.items()
        if any((q.get("request") or {}).get("stream") for q in r.evidence.get("requests") or [])
    }
    assert "protocol.stream" in hit and len(hit) >= 5, sorted(hit)
    for cid, r in hit.items():
        assert r.observed == "error", (cid, r.observed, r.message)
        assert why in r.message and "data is not JSON" not in r.message, (cid, r.message)


@pytest.mark.parametrize(
    ("behaviour", "seconds", "why"),
    [("many_deltas", 0.5, "budget"), ("many_pings", 60, "more than 20,000 events")],
)
def test_a_stream_too_big_to_judge_in_the_row_budget_is_cut_at_it(
    behaviour: str, seconds: float, why: str
) -> None:
    """Issue 25, 11: 40k one-byte deltas took 15.4 s under ``row_seconds: 10`` and the row
    passed (the budget covered only the wire); 350k pings took 590 MB. The budget now covers
    parsing and judging, and a stream of more events than any answer has is unusable.

    Neither case may hang on the machine's speed: the deltas get a budget (0.5 s) that their
    wire and judging together outrun on any machine, where a quiet one judged them within 2 s
    (that the budget covers judging is tests/test_protocol.py's); the pings get a budget no
    machine needs, so the event cap, not the clock, ends them, where a slower CI machine ran
    out of 2 s first."""
    with HostileAnthropic(behaviour) as server:
        started = time.monotonic()
        got = observe(server, ("protocol.stream",), budget={"row_seconds": seconds})
        elapsed = time.monotonic() - started
    r = got["protocol.stream"]
    assert r.observed == "error", (r.observed, r.message)
    assert why in r.message, r.message
    assert "budget" not in r.message or why == "budget", r.message
    assert elapsed < min(seconds, 30) + 4, elapsed


def test_a_4xx_that_is_not_the_apis_refusal_never_makes_a_row_rejected() -> None:
    """Issue 26: ``rejected`` rests on the endpoint's own Anthropic- or OpenAI-shaped
    refusal. A text 400 from a proxy in front, or an HTML 404 for a wrong base path, is an
    error on the rows that the fake server's real 400s make ``rejected``."""
    refused = ("fields.temperature.range", "fields.max_tokens", "fields.model")
    with FakeAnthropic() as plain:
        real = observe(plain, ("fields.temperature.range",))
    assert real["fields.temperature.range"].observed != "error"
    for behaviour in ("text_400", "html_404"):
        with HostileAnthropic(behaviour) as server:
            got = observe(server, refused)
        for cid, r in got.items():
            assert r.observed == "error", (behaviour, cid, r.observed, r.message)
            assert r.outcome == "error"


def test_a_dead_port_is_an_error_for_the_auth_row_not_a_violation() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Dead:
        base_url = f"http://127.0.0.1:{port}"

    got = observe(Dead(), ("protocol.auth_errors", "protocol.errors"))
    for cid, r in got.items():
        assert r.observed == "error", (cid, r.message)
        assert "None" not in r.message


def test_cut_and_malformed_streams_are_errors_not_bisected_refusals() -> None:
    cases = ("clients.claude_code.streaming", "clients.sdk_python.defaults", "protocol.stream")
    for behaviour in ("cut_chunked", "cut_close"):
        with FaultServer(behaviour) as server:
            started = time.monotonic()
            got = observe(server, cases)
            assert time.monotonic() - started < 20
            assert server.requests <= 3 * len(cases) * 3  # no bisection
        for cid, r in got.items():
            assert r.observed == "error", (behaviour, cid, r.message)


def test_short_keys_give_the_same_verdicts_as_a_long_one() -> None:
    deviations = {"echo_key_in_errors", "echo_key_in_headers", "drop_system", "ignore_top_k"}
    cases = (
        "protocol.message",
        "protocol.stream",
        "protocol.errors",
        "protocol.auth_errors",
        "fields.system",
        "fields.top_k",
        "fields.max_tokens",
        "fields.stop_sequences",
    )
    verdicts = {}
    for key in (FAKE_KEY, "x", "1", "test"):
        with FakeAnthropic(key=key, deviations=deviations) as server:
            got = observe(server, cases, key=key)
        verdicts[key] = {cid: (r.observed, r.outcome) for cid, r in got.items()}
        for r in got.values():
            assert "<redacted>ecution" not in r.message
    assert verdicts["x"] == verdicts[FAKE_KEY]
    assert verdicts["1"] == verdicts[FAKE_KEY]
    assert verdicts["test"] == verdicts[FAKE_KEY]


def _non_fault_deviations() -> list[str]:
    from fakeserver import DEVIATIONS, FAULTS

    return sorted(DEVIATIONS - FAULTS - {"slow"})  # slow: waits out timeouts, test_faults


@pytest.mark.parametrize("deviation", _non_fault_deviations())
def test_a_one_character_key_gives_the_same_verdicts_on_every_deviation(deviation: str) -> None:
    """Every deviation of the fake server, every row of the suite: the key "x" (which a
    substring replacement would find in "code execution") gives each row the verdict and
    outcome the long key gives."""
    ids = all_case_ids()
    verdicts = {}
    for key in (FAKE_KEY, "x"):
        with FakeAnthropic(key=key, deviations={deviation}) as server:
            got = observe(server, ids, key=key)
        verdicts[key] = {cid: (r.observed, r.outcome) for cid, r in got.items()}
    differ = {
        c: (v, verdicts["x"][c]) for c, v in verdicts[FAKE_KEY].items() if verdicts["x"][c] != v
    }
    assert not differ, f"{deviation}: {differ}"


# --- whole runs: every artifact, record then replay -----------------------------------------


def artifacts(report_dir: Path, extra: list[Path]) -> dict[str, str]:
    out = {}
    for path in [*report_dir.rglob("*"), *extra]:
        if path.is_file():
            out[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return out


def test_record_then_replay_a_key_quoting_endpoint_keeps_no_fragment_anywhere(
    suite: Any, tmp_path: Path
) -> None:
    """The whole suite, every row: record against a server quoting the key everywhere (and
    the key in the base URL's userinfo), then replay with no key set."""
    key = HOSTILE_KEY
    with HostileAnthropic("key_everywhere", key=key) as server:
        host = server.base_url.removeprefix("http://")
        base_url = f"http://user:{key}@{host}"  # userinfo too
        cases_dir = suite.cases_dir(base_url)
        junit = tmp_path / "junit.xml"
        cassettes = tmp_path / "cassettes"
        rec = suite.run(
            cases_dir, f"--junitxml={junit}", "--log-level=DEBUG",
            mode="record", key=key, cassette_dir=cassettes,
        )  # fmt: skip
    assert rec.doc is not None and rec.doc["run"]["complete"], rec
    assert len(rec.results) == len(rec.doc["results"]) > 90, len(rec.results)
    found = artifacts(rec.report_dir, [junit, *cassettes.rglob("*.json")])
    found["stdout"], found["stderr"] = rec.stdout, rec.stderr
    assert any("cassettes" in name for name in found)
    for name, text in found.items():
        assert_no_fragment(text, key, name)
    # a plain replay, no key set: nothing to scrub with, and still no key comes back
    rep = suite.run(cases_dir, mode="replay", key=None, cassette_dir=cassettes)
    # A replay reads the cassette, where the quoted key is <redacted>: rows whose oracle reads
    # that text may decide otherwise. Here the stop sequence "5" occurs inside the quoted key
    # (live: "still in the output"); in the cassette it is gone. Every other row agrees.
    reads_the_key = {"fields.stop_sequences", "protocol.stop_reason"}
    differ = {
        c: (rec.observed[c], o)
        for c, o in rep.observed.items()
        if o != rec.observed.get(c) and c not in reads_the_key
    }
    assert set(rep.observed) == set(rec.observed) and not differ, differ
    for name, text in artifacts(rep.report_dir, []).items():
        assert_no_fragment(text, key, name)
    assert_no_fragment(rep.stdout + rep.stderr, key, "replay output")


def test_an_endpoints_control_characters_reach_no_terminal_line_and_no_report_file(
    suite: Any, tmp_path: Path
) -> None:
    """Issue 25, 5: ESC sequences (cursor up, erase line, a forged "all rows passed"), NUL,
    backspace, CR and a bidi override in every error message and text: none reaches stdout
    (``-vv``: messages and evidence), matrix.md, index.html, results.json or JUnit; the
    evidence keeps them escaped."""
    with HostileAnthropic("control_codes") as server:
        cdir = suite.cases_dir(server.base_url)
        junit = tmp_path / "junit.xml"
        run = suite.run(cdir, "-k", "protocol or fields.max_tokens", "-vv", f"--junitxml={junit}")
    assert run.doc is not None and len(run.results) >= 8, run
    found = artifacts(run.report_dir, [junit])
    found["stdout"], found["stderr"] = run.stdout, run.stderr
    controls = sorted({c for c in CONTROL if not c.isprintable()})
    for name, text in found.items():
        bad = sorted({repr(c) for c in controls if c in text})
        assert not bad, f"{name} holds {bad}"
    kept = json.dumps(run.doc["results"])
    assert "\\\\x1b[1A" in kept and "\\\\u202e" in kept, "the evidence keeps the escaped form"


# "Billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
ALIAS_BOMB = "".join(
    f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def measured(suite: Any, cdir: Path, *args: str) -> tuple[Any, float, float]:
    """The run, its wall time and its peak memory (MB), measured by a wrapper process so
    that no other child of this test process counts; cut after 60 s."""
    cmd, report_dir = suite.command(cdir, *args)
    wrapper = (
        "import resource, subprocess, sys, time; t = time.monotonic(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60); "
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr); "
        "print(f'@@ {p.returncode} {time.monotonic() - t:.2f} "
        "{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}')"
    )
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], cwd=suite.tmp, env=suite.env(),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert "@@ " in proc.stdout, proc.stderr[-2000:]
    out, _, tail = proc.stdout.rpartition("@@ ")
    code, seconds, mb = tail.split()
    run = suite.finish(int(code), out, proc.stderr, report_dir)
    return run, float(seconds), float(mb)


@pytest.mark.parametrize(
    "where", ["case file", "target extra_body", "--previous deep", "--previous 1 GB"]
)
def test_an_alias_bomb_or_a_huge_previous_stops_with_one_line_naming_the_file(
    suite: Any, tmp_path: Path, where: str
) -> None:
    """Issue 25, 6 and 8: an alias bomb in a case file (INTERNALERROR MemoryError at 3 GB
    after 51 s before) or in a target file's ``extra_body`` (32 s), a 100k-deep ``--previous``
    (RecursionError) and a 1 GB one (4 GB): each stops the run before any request, exit 4,
    one line naming the file, in under 5 s of its own work and 200 MB."""
    args: list[str] = []
    with FakeAnthropic() as server:
        cdir = suite.cases_dir(server.base_url)
        if where == "case file":
            named = cdir / "zz_bomb.yaml"
            named.write_text(
                "table: Bomb\nabout: one row whose probe is an alias bomb\nrows:\n"
                "  - id: fields.zz_bomb\n    row: bomb\n    declared: {anthropic: honored}\n"
                "    oracle: acceptance\n    probe:\n      metadata:\n"
                + textwrap.indent(ALIAS_BOMB, " " * 6)
            )
        elif where == "target extra_body":
            named = cdir / "targets" / f"{TARGET}.yaml"
            named.write_text(named.read_text() + "extra_body:\n" + ALIAS_BOMB)
        else:
            named = tmp_path / "previous.json"
            if where == "--previous deep":
                named.write_text("[" * 100_000 + "]" * 100_000)
            else:
                with named.open("wb") as fh:
                    fh.truncate(1 << 30)  # sparse: 1 GB read back, nothing on disk
            args = [f"--previous={named}"]
        run, seconds, mb = measured(suite, cdir, *args)
        assert not server.requests
    text = run.stdout + run.stderr
    print(f"{where}: exit {run.returncode}, {seconds:.1f} s, {mb:.0f} MB")
    assert run.returncode == 4, text[-2000:]
    assert "INTERNALERROR" not in text and "Traceback" not in text, text[-2000:]
    errors = [ln for ln in text.splitlines() if named.name in ln]
    assert len(errors) == 1 and "ERROR" in errors[0], text[-2000:]
    assert mb < 200, mb
    assert seconds < 5 + startup_seconds(suite), seconds


def startup_seconds(suite: Any) -> float:
    """What a run that loads the cases and stops at once costs on this machine (the 5 s
    are for the bounded input itself; a busy CI machine starts pytest slowly)."""
    import subprocess
    import sys

    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "--version"], capture_output=True, timeout=60)
    return 2 * (time.monotonic() - started) + 3


def test_a_cassette_that_is_an_alias_bomb_is_an_error_naming_it(tmp_path: Path) -> None:
    """Issue 25, 8: a replayed cassette is bounded like any input file. JSON cassettes have
    no aliases to expand; a YAML bomb in their place is "not JSON", and the converter of old
    YAML cassettes refuses one before it expands anything."""
    from conformance.__main__ import main

    bomb = "interactions:\n- request: {}\n  extra:\n" + textwrap.indent(ALIAS_BOMB, "  ")
    with FakeAnthropic() as server:
        h = Harness(server)
        try:
            path = tmp_path / TARGET / "protocol.message.json"
            path.parent.mkdir(parents=True)
            path.write_text(bomb)
            started = time.monotonic()
            r = h.run("protocol.message", mode="replay", cassette_dir=tmp_path)
        finally:
            h.close()
    assert time.monotonic() - started < 5
    assert r.observed == "error" and "protocol.message.json" in r.message, r.message
    assert "not JSON" in r.message, r.message
    old = tmp_path / "old" / "protocol.message.yaml"
    old.parent.mkdir()
    old.write_text(bomb)
    started = time.monotonic()
    assert main(["cassettes", "convert", str(old.parent)]) == 4
    assert time.monotonic() - started < 5 and old.exists()


def test_results_stay_strict_json_when_an_endpoint_sends_1e999999(suite: Any) -> None:
    """Issue 25, 10: ``1e999999`` parses as infinity and was written as a bare ``Infinity``,
    which ``JSON.parse`` refuses. Every file of the report parses with a strict parser."""

    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    with HostileAnthropic("huge_numbers") as server:
        cdir = suite.cases_dir(server.base_url)
        run = suite.run(cdir, "-k", "protocol.message or fields.max_tokens or usage")
        assert any(b"1e999999" in sent for sent in server.sent)
    assert run.doc is not None and run.results, run
    kept = (run.report_dir / "results.json").read_text()
    assert "Infinity" in kept, "the huge number should be kept, as a string"
    for path in run.report_dir.glob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)


def test_the_readme_workflow_gives_the_report_time_after_the_run_budget() -> None:
    """Issue 25, 13: ``timeout-minutes: 60`` equalled the default ``run_seconds`` (3600):
    against a hanging endpoint GitHub killed the job before the report was written or
    uploaded. The sample leaves at least 10 minutes beyond the budget."""
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    sample = readme.split("name: anthropic-conformance\n", 1)[1].split("```", 1)[0]
    minutes = int(re.search(r"timeout-minutes: (\d+)", sample)[1])
    settings = yaml.safe_load((repo / "cases" / "settings.yaml").read_text())
    assert minutes * 60 >= settings["budget"]["run_seconds"] + 600, minutes


def _child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@pytest.mark.parametrize("mode", ["live", "record"])
def test_bombs_and_endless_streams_stay_under_500_mb_and_on_time(
    suite: Any, tmp_path: Path, mode: str
) -> None:
    """A 1 MB gzip bomb (1 GB inflated) and an endless stream, in live and record mode."""
    settings = {"limits": {"max_body_bytes": 4 * 1024 * 1024, "retries": 0}}
    for server in (HostileAnthropic("gzip_bomb"), FaultServer("flood")):
        with server:
            where = tmp_path / type(server).__name__ / mode
            cdir = write_cases_dir(where, server.base_url, settings=settings)
            started = time.monotonic()
            run = suite.run(
                cdir, "-k", "protocol.message or protocol.stream", mode=mode,
                cassette_dir=tmp_path / f"cassettes-{mode}",
            )  # fmt: skip
            elapsed = time.monotonic() - started
        assert run.doc is not None, run
        for cid, r in run.results.items():
            assert r["observed"] == "error", (cid, r["message"])
            assert "max_body_bytes" in r["message"], r["message"]
        assert elapsed < 60, elapsed
    rss = _child_rss_mb()
    assert rss < 500, f"a child run peaked at {rss:.0f} MB"


@pytest.mark.parametrize(
    ("mode", "workers"),
    [("live", ("-p", "no:xdist")), ("record", ("-p", "no:xdist")), ("live", ("-n", "2"))],
    ids=["live", "record", "live-xdist"],
)
def test_row_and_run_budgets_cut_a_silent_server_and_the_run_completes(
    suite: Any, tmp_path: Path, mode: str, workers: tuple[str, str]
) -> None:
    """Under xdist too: the run's budget counts from the controller's start, for every
    worker."""
    settings = {
        "limits": {"read_timeout": 60, "total_timeout": 120, "retries": 0},
        "budget": {"row_seconds": 0.5, "run_seconds": 3},
    }
    with FaultServer("hang") as server:
        cdir = suite.cases_dir(server.base_url, settings=settings)
        started = time.monotonic()
        run = suite.run(cdir, "-k", "protocol", *workers, mode=mode, timeout=90)
        elapsed = time.monotonic() - started
    assert run.doc is not None and run.doc["run"]["complete"], run
    assert len(run.results) >= 8
    for cid, r in run.results.items():
        assert r["observed"] == "error", (cid, r["message"])
        assert "budget" in r["message"], r["message"]
    assert elapsed < 30, elapsed


# --- input checks and the report ------------------------------------------------------------


def test_an_unknown_profile_stops_the_run_before_any_request(suite: Any) -> None:
    with FakeAnthropic() as server:
        cdir = suite.cases_dir(server.base_url, target={"profile": "no-such-profile"})
        run = suite.run(cdir)
        assert not server.requests
    assert run.returncode == 4, run
    text = run.stdout + run.stderr
    assert f"{TARGET}.yaml:" in text and "no-such-profile" in text and "fix:" in text, text


def test_a_key_given_as_api_key_env_is_refused_without_being_shown(suite: Any) -> None:
    """Issue 25, 4: the key where its variable's name belongs is refused (exit 4) and the
    message never prints it (it used to say "set the environment variable sk-ant-...")."""
    with FakeAnthropic() as server:
        cdir = suite.cases_dir(server.base_url)
        run = suite.run(cdir, f"--api-key-env={MIXED_KEY}", key=None)
        assert not server.requests
    assert run.returncode == 4, run
    text = run.stdout + run.stderr
    assert "NAME of an environment variable" in text and "fix:" in text, text
    assert_no_key_anywhere(text, MIXED_KEY, "the terminal")


BAD_BASE_URLS = ("file:///etc/passwd", "ftp://127.0.0.1/", "127.0.0.1:8088", "http://[::1")


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_a_base_url_that_is_not_http_with_a_host_stops_the_run_before_any_request(
    suite: Any, url: str
) -> None:
    """Issue 25, 9: on the command line (it used to give 96 ``error`` rows and exit 1, read
    as findings; ``http://[::1`` an INTERNALERROR), exit 4 with the fix."""
    with FakeAnthropic() as server:
        cdir = suite.cases_dir(server.base_url)
        run = suite.run(cdir, f"--base-url={url}")
        assert not server.requests
    text = run.stdout + run.stderr
    assert run.returncode == 4, run
    assert "--base-url" in text and "fix:" in text and "INTERNALERROR" not in text, text
    assert run.doc is None or not run.doc["results"]


def test_a_target_file_base_url_that_cannot_be_parsed_names_file_and_line(suite: Any) -> None:
    cdir = suite.cases_dir("http://user:sk-secret-password@[::1")
    run = suite.run(cdir)
    text = run.stdout + run.stderr
    assert run.returncode == 4, run
    assert f"{TARGET}.yaml:" in text and "base_url" in text and "fix:" in text, text
    assert "INTERNALERROR" not in text and "sk-secret-password" not in text, text


def test_a_corrupt_cassette_is_an_error_naming_the_file(suite: Any, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with FakeAnthropic() as server:
        cdir = suite.cases_dir(server.base_url)
        rec = suite.run(cdir, "-k", "protocol.message or protocol.stream", mode="record")
    assert rec.observed["protocol.message"] == rec.observed["protocol.stream"] == "honored", rec
    broken = cassettes / TARGET / "protocol.message.json"
    broken.write_text('{"interactions": [ {"request": ')
    other = cassettes / TARGET / "protocol.stream.json"
    doc = json.loads(other.read_text())
    doc["interactions"][0]["response"] = {"status": "nonsense", "headers": {}, "body": {}}
    other.write_text(json.dumps(doc))
    run = suite.run(cdir, "-k", "protocol.message or protocol.stream", mode="replay", key=None)
    for cid, path in (("protocol.message", broken), ("protocol.stream", other)):
        r = run.results[cid]
        assert r["observed"] == "error", r
        named = f"cassettes/fake/{path.name}"  # relative to where the run was started
        assert named in r["message"] and "internal error" not in r["message"], r["message"]


def test_report_files_are_replaced_atomically(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    from conformance import results

    replaced = []
    real = os.replace
    monkeypatch.setattr(
        results.os, "replace", lambda a, b: (replaced.append((Path(a), Path(b))), real(a, b))
    )
    results.write_atomic(tmp_path / "index.html", "<html></html>")
    ((tmp, final),) = replaced
    assert tmp.parent == final.parent == tmp_path and final.read_text() == "<html></html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]
    # ... and every file of a report goes through it: each one renamed into place, whole
    from reportdocs import make_doc

    from conformance.report import write_report

    replaced.clear()
    out = tmp_path / "report"
    write_report(make_doc(["alpha"]), out, previous=make_doc(["alpha"]), declared={})
    renamed = sorted(final.name for _, final in replaced)
    assert renamed == sorted(p.name for p in out.iterdir()), renamed
    assert {"results.json", "index.html", "matrix.md", "drift.json"} <= set(renamed)


@pytest.mark.parametrize("server_kind", ["cut_close", "bad_json"])
def test_a_whole_run_against_a_stream_cutting_or_bad_json_server_is_quick_and_all_error(
    suite: Any, server_kind: str
) -> None:
    """Once ended after 2 rows in 600 s: client shapes bisected the failure as a refusal."""
    server = (
        FaultServer(server_kind)
        if server_kind == "cut_close"
        else FakeAnthropic(deviations={"bad_json"})
    )
    with server:
        cdir = suite.cases_dir(server.base_url)
        started = time.monotonic()
        run = suite.run(cdir, "-p", "no:xdist", timeout=240)
        elapsed = time.monotonic() - started
    assert run.doc is not None and run.doc["run"]["complete"], run
    assert len(run.results) > 70
    for cid, r in run.results.items():
        if cid.startswith("clients."):
            assert r["observed"] == "error", (cid, r["message"])
            assert r["requests"] <= 3, (cid, r["requests"])  # the shape and its retries only
        if server_kind == "cut_close":  # nothing usable ever comes back: no verdict at all
            assert r["observed"] == "error", (cid, r["message"])
        assert "internal error" not in r["message"], (cid, r["message"])
    assert elapsed < 120, elapsed
