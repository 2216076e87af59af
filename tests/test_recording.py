"""Cassettes: record once against an endpoint, replay offline with the same verdicts; the key
is never written anywhere; a missing or stale cassette says how to re-record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import cassettefile, recording, sse

FAKE_KEY = "sk-fake-test-key-123"


def files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def interactions(path: Path) -> list[dict[str, Any]]:
    """A cassette's interactions as vcrpy holds them (request body by value, text bodies)."""
    return cassettefile.deserialize(path.read_text())["interactions"]


def test_record_then_replay_with_the_server_stopped(
    suite: Any, start_fake_server: Any, tmp_path: Path
) -> None:
    server = start_fake_server()
    cases_dir = suite.cases_dir(server.base_url)
    cassettes = tmp_path / "cassettes"
    recorded = suite.run(cases_dir, mode="record", cassette_dir=cassettes)
    assert recorded.returncode == 0, recorded
    assert recorded.doc["run"]["complete"] and recorded.doc["run"]["mode"] == "record"
    stored = {p.stem for p in (cassettes / "fake").glob("*.json")}
    assert stored == set(recorded.results)
    provenance = yaml.safe_load((cassettes / "fake" / "_provenance.yaml").read_text())
    assert sorted(provenance["cases"]) == sorted(recorded.results)
    assert set(provenance["cases"].values()) == {provenance["recorded"]}

    # the key went over the wire, and nowhere onto disk
    assert {r.headers.get("x-api-key") for r in server.requests} >= {FAKE_KEY}
    assert files_containing(cassettes, FAKE_KEY) == []
    assert files_containing(recorded.report_dir, FAKE_KEY) == []
    assert files_containing(cases_dir, FAKE_KEY) == []

    server.stop()
    replayed = suite.run(cases_dir, mode="replay", cassette_dir=cassettes, key=None)
    assert replayed.returncode == 0, replayed
    assert replayed.doc["run"]["complete"] and replayed.doc["run"]["mode"] == "replay"
    assert replayed.observed == recorded.observed
    assert {k: r["outcome"] for k, r in replayed.results.items()} == {
        k: r["outcome"] for k, r in recorded.results.items()
    }
    assert replayed.doc["run"]["requests"] == recorded.doc["run"]["requests"]
    assert replayed.doc["run"]["input_tokens"] == recorded.doc["run"]["input_tokens"]


@pytest.mark.deviations("echo_key_in_errors")
def test_a_key_echoed_by_the_endpoint_is_scrubbed_everywhere(
    suite: Any, fake_server: Any, tmp_path: Path
) -> None:
    """Some endpoints quote the request's credentials in error messages."""
    cases_dir = suite.cases_dir(fake_server.base_url)
    cassettes = tmp_path / "cassettes"
    run = suite.run(
        cases_dir, "-k", "anthropic-version or protocol.errors", mode="record",
        cassette_dir=cassettes,
    )  # fmt: skip
    assert run.returncode == 0, run
    assert any(FAKE_KEY.encode() in r.response for r in fake_server.requests), "no echo to test"
    assert files_containing(cassettes, FAKE_KEY) == []
    assert files_containing(run.report_dir, FAKE_KEY) == []
    assert FAKE_KEY not in run.stdout + run.stderr


def test_missing_cassette_is_an_error_row_with_the_record_command(
    harness: Any, tmp_path: Path
) -> None:
    result = harness.run("fields.max_tokens", mode="replay", cassette_dir=tmp_path)
    assert result.observed == "error" and result.outcome == "error"
    assert f"no cassette at {tmp_path / 'fake' / 'fields.max_tokens.json'}" in result.message
    assert "pytest --target fake --mode record -k 'fields.max_tokens[fake]'" in result.message
    assert harness.server.requests == []


def test_stale_cassette_says_so(harness: Any, tmp_path: Path) -> None:
    recorded = harness.run("fields.max_tokens", mode="record", cassette_dir=tmp_path)
    assert recorded.observed == "honored"
    path = tmp_path / "fake" / "fields.max_tokens.json"
    doc = json.loads(path.read_text())
    (body,) = doc["bodies"]
    assert body.count('"max_tokens": 5') == 1
    doc["bodies"] = [body.replace('"max_tokens": 5', '"max_tokens": 6')]  # the probe "changed"
    path.write_text(json.dumps(doc))
    sent = len(harness.server.requests)
    replayed = harness.run("fields.max_tokens", mode="replay", cassette_dir=tmp_path)
    assert replayed.observed == "error"
    assert "stale: the probe changed since it was recorded" in replayed.message
    assert "pytest --target fake --mode record -k 'fields.max_tokens[fake]'" in replayed.message
    assert len(harness.server.requests) == sent, "replay must not fall through to the network"


def test_rerecording_replaces_the_cassette(harness: Any, tmp_path: Path) -> None:
    for _ in range(2):
        harness.run("fields.system", mode="record", cassette_dir=tmp_path)
    path = tmp_path / "fake" / "fields.system.json"
    assert len(interactions(path)) == 2  # control and probe, not four
    assert [p.name for p in (tmp_path / "fake").iterdir()] == ["fields.system.json"]


def test_stream_replays_byte_for_byte(harness: Any, tmp_path: Path) -> None:
    recorded = harness.run("fields.stream", mode="record", cassette_dir=tmp_path)
    assert recorded.observed == "honored"
    (logged,) = harness.server.requests
    sent = logged.response  # the SSE bytes the server wrote (de-chunked)
    assert sent.startswith(b"event: message_start\n")
    (interaction,) = interactions(tmp_path / "fake" / "fields.stream.json")
    stored = interaction["response"]["body"]["string"]
    assert (stored if isinstance(stored, bytes) else stored.encode()) == sent
    assert "<redacted>" in str(interaction["request"]["headers"])

    harness.server.stop()
    body = logged.body
    with recording.cassette("replay", tmp_path / "fake" / "fields.stream.json", []):
        ex = harness.client.send(body)
    assert ex.raw == sent
    assert ex.is_stream and [e.raw for e in ex.events] == [e.raw for e in sse.parse(sent)]
    assert sse.check_grammar(ex.events) == []
    replayed = harness.run("fields.stream", mode="replay", cassette_dir=tmp_path)
    assert replayed.observed == "honored"
    assert replayed.evidence["events"] == recorded.evidence["events"]


UNCACHED = "claude_code.usage.uncached"


def fresh_codes(requests: list[Any]) -> set[str]:
    from conformance.probe import FRESH

    return {m.group(0) for r in requests for m in FRESH.finditer(str(r.body))}


def test_a_fresh_code_is_drawn_per_run_and_replayed_from_the_cassette(
    harness: Any, tmp_path: Path
) -> None:
    """{{FRESH}} is random when the endpoint is called, so a second run's prompt is as new to
    the endpoint's cache as the first's; replay reads the recorded code back and sends the
    recorded bytes."""
    first = harness.run(UNCACHED, mode="record", cassette_dir=tmp_path)
    (recorded,) = fresh_codes(harness.server.requests)  # one code, in both requests
    assert len(harness.server.requests) == 2
    second = harness.run(UNCACHED)  # live, against the same server and its cache
    assert first.observed == second.observed == "honored", (first.message, second.message)
    assert len(fresh_codes(harness.server.requests)) == 2, "each run draws its own code"
    assert second.evidence["usage"]["cache_read_input_tokens"] == 0  # a miss: nothing cached
    assert second.evidence["usage_again"]["cache_read_input_tokens"] > 1000  # the repeat hits

    sent = len(harness.server.requests)
    replayed = harness.run(UNCACHED, mode="replay", cassette_dir=tmp_path)
    assert len(harness.server.requests) == sent, "replay must not fall through to the network"
    assert replayed.observed == "honored", replayed.message
    assert replayed.evidence["fresh_code"] == recorded
    assert replayed.evidence["usage"] == first.evidence["usage"]


def test_a_cassette_without_the_fresh_code_is_stale(harness: Any, tmp_path: Path) -> None:
    harness.run(UNCACHED, mode="record", cassette_dir=tmp_path)
    path = tmp_path / "fake" / f"{UNCACHED}.json"
    (code,) = fresh_codes(harness.server.requests)
    path.write_text(path.read_text().replace(code, "recorded before the row had a code"))
    replayed = harness.run(UNCACHED, mode="replay", cassette_dir=tmp_path)
    assert replayed.observed == "error"
    assert "stale: the probe changed since it was recorded" in replayed.message
    assert f"-k '{UNCACHED}[fake]'" in replayed.message


def test_recorded_code_reads_requests_only(tmp_path: Path) -> None:
    from conformance.probe import FRESH

    path = tmp_path / "c.json"

    def write(bodies: list[str]) -> None:
        answer = {"status": {"code": 200}, "headers": {}, "body": {"string": "ZFAAAAAAAAAA"}}
        items = [{"request": {"body": n}, "response": answer} for n in range(len(bodies))]
        doc = {"format": cassettefile.FORMAT, "bodies": bodies, "interactions": items}
        path.write_text(json.dumps(doc))

    write(["no code"])  # the answer quotes a code: not the request's
    assert recorded_code(path, FRESH) is None
    write(["no code", '{"t": "Session ZFBBBBBBBBBB."}'])
    assert recorded_code(path, FRESH) == "ZFBBBBBBBBBB"
    path.write_text('{"interactions": [unclosed')
    assert recorded_code(path, FRESH) is None
    assert recorded_code(tmp_path / "absent.json", FRESH) is None


recorded_code = recording.recorded_code


def test_replay_serves_every_transport_of_the_client_and_never_the_network(
    harness: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay answers in the client before httpx sends anything, not by patching httpx: a
    client whose requests would go through a proxy from the environment (another transport,
    mounted by httpx) is served from the cassette too, and a request the cassette lacks
    raises instead of going out, through the proxy or directly."""
    from conformance import runner

    harness.run("fields.max_tokens", mode="record", cassette_dir=tmp_path)
    (logged,) = harness.server.requests
    monkeypatch.setenv("HTTP_PROXY", harness.server.base_url)  # the proxy would be the server
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = runner.make_client(harness.target, harness.settings, FAKE_KEY)
    try:
        assert any(t is not None for t in client._http._mounts.values()), "no proxy mount"
        with recording.cassette("replay", tmp_path / "fake" / "fields.max_tokens.json", []):
            ex = client.send(logged.body)
            with pytest.raises(Exception) as stale:
                client.send({**logged.body, "max_tokens": 99})
    finally:
        client.close()
    assert ex.status == 200 and ex.json["type"] == "message", ex.detail()
    assert recording.is_mismatch(stale.value), stale.value
    assert len(harness.server.requests) == 1, "replay must not fall through to the network"


def _vcrpy_cassette(path: Path) -> Any:
    """``path`` loaded by vcrpy itself, as replay loaded it before :class:`Replay`: vcrpy's
    Cassette with this suite's serializer, persister and matcher, no record filters."""
    from vcr.cassette import Cassette

    config = recording._vcr([], "none").get_merged_config(path=str(path))
    for name in ("before_record_request", "before_record_response"):
        config[name] = None
    for name in ("path_transformer", "func_path_generator", "record_on_exception"):
        config.pop(name, None)  # what vcrpy's context decorator takes before Cassette does
    return Cassette.load(**config)


def test_replay_plays_what_vcrpy_plays(tmp_path: Path) -> None:
    """Replay serves a cassette as vcrpy's ``Cassette.play_response`` does with this suite's
    matcher: each recorded answer once, to the first matching request in recorded order;
    bodies compared as canonical JSON, query parameters in any order, header names in any
    case, credentials through the scrubber; a request with no answer left is stale. Every
    answer's status, headers (folded as httpx folds them) and bytes are vcrpy's."""
    import httpx
    from vcr.errors import UnhandledHTTPRequestError
    from vcr.request import Request

    def req(body: Any, version: str = "2023-06-01", uri: str = "http://h:1/v1/messages") -> Any:
        raw = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        return Request("POST", uri, raw, {"X-Api-Key": "sk-a", "anthropic-version": version})

    def answer(code: int, *headers: tuple[str, str], body: bytes = b"{}") -> dict[str, Any]:
        folded: dict[str, list[str]] = {}
        for name, value in headers:
            folded.setdefault(name, []).append(value)
        return {"status": {"code": code, "message": "OK"}, "headers": folded,
                "body": {"string": body}}  # fmt: skip

    one = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    two = {**one, "max_tokens": 2}
    recorded = [
        (req(one), answer(200, ("Content-Type", "application/json"), body=b'{"n": 1}')),
        (req(one), answer(529, ("retry-after", "0"), ("Set-X", "a"), ("set-x", "b"))),
        (req(one), answer(200, body=b"\xff\xfe not utf-8")),
        (req(one, "2099-01-01"), answer(400, body=b'{"v": 2099}')),
        (req(two, uri="http://h:1/v1/messages?b=2&a=1"), answer(200, body=b'{"q": 1}')),
        (req(None, uri="http://h:1/v1/models"), answer(200, body=b"")),
    ]
    path = tmp_path / "c.json"
    with recording._vcr(["sk-a"], "all").use_cassette(str(path)) as live:
        for request, response in recorded:
            live.append(recording._scrub_request(request), response)
    sent = [
        req(one), req(two, uri="http://other:9/v1/messages?a=1&b=2"), req(one, "2099-01-01"),
        req(json.dumps(one, indent=2, sort_keys=True).encode()),  # the same JSON, spaced
        req(one), req(one), req(None, uri="http://h:1/v1/models"), req(two), req(one, "x"),
    ]  # fmt: skip

    def by_vcrpy(cassette: Any, request: Any) -> Any:
        try:
            got = cassette.play_response(request)
        except UnhandledHTTPRequestError:
            return "stale"
        headers = [(k, v) for k, values in got["headers"].items() for v in values]
        folded = httpx.Response(got["status"]["code"], headers=headers).headers.items()
        return got["status"]["code"], dict(folded), got["body"]["string"]

    def by_replay(replay: recording.Replay, request: Any) -> Any:
        try:
            got = replay.answer(request.method, request.uri, request.headers.get, request.body)
        except recording.Stale:
            return "stale"
        return got.status_code, dict(got.headers.items()), b"".join(got.iter_bytes())

    cassette, replay = _vcrpy_cassette(path), recording.Replay.load(path)
    expected = [by_vcrpy(cassette, r) for r in sent]
    assert [by_replay(replay, r) for r in sent] == expected
    assert expected[5:] == ["stale", (200, {}, b""), "stale", "stale"], expected
    assert expected[3][1] == {"retry-after": "0", "set-x": "a, b"}, expected[3]


@pytest.mark.parametrize(
    ("response", "says"),
    [
        ({"status": {"code": 200}, "headers": {"x-h": ["caf\u00e9"]}, "body": {"string": ""}},
         "UnicodeEncodeError"),
        ({"status": {"code": 200, "message": 7}, "headers": {}, "body": {"string": ""}},
         "AttributeError"),
        ({"headers": {}, "body": {"string": ""}}, "KeyError"),
    ],
)  # fmt: skip
def test_an_answer_httpx_would_refuse_is_a_broken_cassette(
    tmp_path: Path, response: dict[str, Any], says: str
) -> None:
    """A recorded answer that httpx cannot build (a header value that is not ASCII, a reason
    phrase that is not text, no status) is a broken cassette naming its file, as it was when
    vcrpy served it through httpx."""
    request = {"method": "GET", "uri": "http://h/v1/models", "headers": {}, "body": None}
    doc = {"format": cassettefile.FORMAT, "bodies": [],
           "interactions": [{"request": request, "response": response}]}  # fmt: skip
    path = tmp_path / "t" / "c.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    replay = recording.Replay.load(path)
    with pytest.raises(recording.CassetteBroken) as caught:
        replay.answer("GET", "http://h/v1/models", {}.get, b"")
    assert says in str(caught.value) and "c.json" in str(caught.value), caught.value


def test_replay_matches_on_headers_the_httpx_client_never_adds(harness: Any) -> None:
    """Replay matches a request on the headers the probe sets (``httpx.Headers`` of them):
    that is what httpx sends of the matched headers only while the client adds none of its
    own, which this holds it to. The client is made lazily, so a replay builds none."""
    from conformance import runner

    client = runner.make_client(harness.target, harness.settings, FAKE_KEY)
    try:
        assert client._httpx is None, "a client that has sent nothing holds no httpx client"
        added = {name.lower() for name in client._http.headers}
        assert added and not added & set(recording.MATCHED_HEADERS), added
    finally:
        client.close()


REPORT_LOG = """
import json, pathlib

OUT = pathlib.Path(__file__).parent / "reports.jsonl"


def pytest_runtest_logstart(nodeid):
    _log(["start", nodeid])


def pytest_runtest_logreport(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        longrepr = [pathlib.Path(longrepr[0]).name, *longrepr[1:]]
    _log([report.nodeid, report.when, report.outcome, str(longrepr) if longrepr else None,
          getattr(report, "wasxfail", None), [k for k, _ in report.user_properties]])


def pytest_runtest_logfinish(nodeid):
    _log(["finish", nodeid])


def _log(entry):
    with OUT.open("a") as f:
        f.write(json.dumps(entry) + "\\n")
"""


@pytest.mark.parametrize("fake_server", [{"drop_system"}], indirect=True)
def test_a_replayed_row_reports_to_pytest_what_its_recorded_run_reported(
    suite: Any, fake_server: Any
) -> None:
    """Replay runs a row without pytest's per-phase capture and fixture machinery
    (``pytest_runtest_protocol`` in the plugin); recording runs pytest's own protocol. For
    the same rows (a pass, a known deviation, a stale expectation, an undecided row) pytest
    sees the same reports: the same phases in the same order, outcomes, texts, xfail
    reasons and properties; and the JUnit file says the same of each test."""
    import re

    rows = ["fields.temperature", "fields.max_tokens", "fields.system", "fields.system.echo"]
    rows += ["fields.metadata"]  # a pass, a stale entry, a known one, a NEW one, undecided
    cases_dir = suite.cases_dir(fake_server.base_url)
    (cases_dir / "conftest.py").write_text(REPORT_LOG)
    (cases_dir / "expectations").mkdir(exist_ok=True)
    (cases_dir / "expectations" / "fake.yaml").write_text(
        "target: fake\nexpectations:\n"
        "  fields.system: {outcome: fail, observed: ignored, reason: drops it}\n"
        "  fields.max_tokens: {outcome: fail, observed: ignored, reason: stale on purpose}\n"
        "  fields.metadata: {outcome: inconclusive, observed: accepted, reason: undecided}\n"
    )
    log = cases_dir / "reports.jsonl"
    seen = {}
    for mode in ("record", "replay"):
        junit = suite.tmp / f"{mode}.xml"
        chosen = " or ".join(f"{r}[" for r in rows)
        run = suite.run(cases_dir, "-k", chosen, f"--junitxml={junit}", mode=mode)
        assert run.returncode == 1 and set(run.results) == set(rows), run
        text = re.sub(r'time="[^"]*"|timestamp="[^"]*"|hostname="[^"]*"', "", junit.read_text())
        seen[mode] = ([json.loads(line) for line in log.read_text().splitlines()], text)
        log.unlink()
    (recorded, recorded_junit), (replayed, replayed_junit) = seen["record"], seen["replay"]
    outcomes = {(e[1], e[2]) for e in recorded if len(e) > 2}
    assert {("call", "passed"), ("call", "skipped"), ("call", "failed")} <= outcomes, outcomes
    assert any(len(e) > 2 and e[4] for e in recorded), "no known (xfailed) row"
    assert replayed == recorded
    strip = re.compile(r'<property name="anthropic_conformance_result" value="[^"]*" />')
    assert strip.sub("", replayed_junit) == strip.sub("", recorded_junit)


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01"},
        {"Anthropic-Version": "2023-06-01", "anthropic-version": "2099-01-01"},
        {"anthropic-beta": "caf\u00e9", "x-api-key": "k"},
        {"authorization": "Bearer k", "anthropic-beta": " a , b "},
    ],
    ids=["plain", "two-cases", "non-ascii", "spaces"],
)
def test_replay_reads_the_headers_httpx_would_send(headers: dict[str, str]) -> None:
    """The header values replay matches on are httpx's (``httpx.Headers``), whether they
    are read from it or, for lower-case ASCII names and values, from the dict itself; a
    value httpx refuses is refused the same way."""
    import httpx

    from conformance.client import sent_header

    def values(make: Any) -> Any:
        try:
            header = make(headers)
        except Exception as exc:  # httpx refuses a non-ASCII value: so must replay
            return type(exc)
        return [header(n) for n in [*recording.MATCHED_HEADERS, "content-type", "absent"]]

    assert values(sent_header) == values(lambda h: httpx.Headers(h).get)
