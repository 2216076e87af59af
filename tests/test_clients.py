"""Client readiness: the capture proxy, request shapes, the bisection and the committed shapes.

Everything here talks real HTTP on 127.0.0.1: a tiny stub upstream (a few lines of
``http.server``) stands in for an endpoint, so the proxy's recording, forwarding and
streaming, and the bisection's resends, are exercised on the wire, not mocked.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from loopback import Loopback

from conformance import bisection, capture, filler, protocol, secrets, settings, shapes, sse
from conformance.cases import Case
from conformance.client import Client
from conformance.oracles import ORACLES
from conformance.probe import Probe
from conformance.results import Observed

ROOT = Path(__file__).resolve().parent.parent
SHAPES = sorted((ROOT / "cases" / "shapes").glob("*.json"))
CLIENT_KEY = "sk-client-secret-key-123456"
UPSTREAM_KEY = "sk-upstream-secret-key-654321"


def message(text: str = "Hello there.", model: str = "stub-model") -> dict[str, Any]:
    return {
        "id": "msg_stub01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3},
    }


def sse_events(model: str) -> list[bytes]:
    start = dict(message(model=model), content=[], stop_reason=None)
    start["usage"] = {"input_tokens": 12, "output_tokens": 1}
    events = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


class Stub:
    """A minimal Messages endpoint that refuses what it is told to refuse.

    ``reject_beta`` / ``reject_key``: 400 with a message that does not name the field (so the
    bisection has to search); ``reject_any``: 400 while any of these body keys is present;
    ``crash_key``: 500 (a crashing translator). ``gate``: a stream pauses after its first
    event until the gate is set, which proves the proxy passes events on as they come.
    """

    def __init__(self) -> None:
        self.reject_beta: str | None = None
        self.reject_key: str | None = None
        self.reject_any: tuple[str, ...] = ()
        self.crash_key: str | None = None
        self.gate: threading.Event | None = None
        self.gate_opened_by_client = False
        self.seen: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw) if raw else {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.seen.append({"path": self.path, "headers": headers, "body": body})
                status, problem = stub.verdict(headers, body)
                if status != 200:
                    err = {"type": "error", "error": {"type": problem, "message": "bad request"}}
                    if status >= 500:
                        err["error"]["message"] = "internal error"
                    self.reply(status, "application/json", [json.dumps(err).encode()])
                elif body.get("stream"):
                    self.reply(200, "text/event-stream", sse_events(body.get("model", "m")))
                else:
                    out = json.dumps(message(model=body.get("model", "m"))).encode()
                    self.reply(200, "application/json", [out])

            def reply(self, status: int, ctype: str, chunks: list[bytes]) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                streamed = ctype == "text/event-stream"
                if streamed:
                    self.send_header("transfer-encoding", "chunked")
                else:
                    self.send_header("content-length", str(sum(map(len, chunks))))
                self.end_headers()
                for i, chunk in enumerate(chunks):
                    if streamed:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                        if i == 0 and stub.gate is not None:
                            stub.gate_opened_by_client = stub.gate.wait(timeout=5)
                    else:
                        self.wfile.write(chunk)
                if streamed:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = Loopback(Handler).start()

    @property
    def url(self) -> str:
        return self.server.base_url

    def verdict(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, str]:
        betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",")]
        if self.reject_beta and self.reject_beta in betas:
            return 400, "invalid_request_error"
        if self.reject_key and self.reject_key in body:
            return 400, "invalid_request_error"
        if any(k in body for k in self.reject_any):
            return 400, "invalid_request_error"
        if self.crash_key and self.crash_key in body:
            return 500, "api_error"
        return 200, ""

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def proxy(stub: Stub, tmp_path: Path) -> Iterator[capture.CaptureProxy]:
    with capture.CaptureProxy(
        stub.url, tmp_path / "capture.jsonl", upstream_key=UPSTREAM_KEY, upstream_max_tokens=64
    ) as p:
        yield p


# A request like Claude Code's, small: every feature the shape code must handle.
CC_LIKE_HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,context-management-2025-06-27,effort-2025-11-24",
    "user-agent": "claude-cli/9.9.9 (external, sdk-cli)",
    "x-app": "cli",
    "x-claude-code-session-id": "d4ffbcb7-43f8-4400-b483-28366b93b3f1",
    "x-stainless-os": "Linux",
}
CC_LIKE_BODY: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Please look at the repository and fix the failing test."},
            ],
        },
        {"role": "system", "content": "Available agent types for the Agent tool: general."},
    ],
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=9.9.9.1c0; cch=4f2a1;"},
        {
            "type": "text",
            "text": "You are an interactive agent that helps users with software engineering.",
            "cache_control": {"type": "ephemeral"},
        },
    ],
    "tools": [
        {
            "name": "Read",
            "description": "Reads a file from the local filesystem at an absolute path.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "file_path": {"type": "string", "description": "The absolute path to read"},
                    "mode": {"type": "string", "enum": ["text", "binary"]},
                },
                "required": ["file_path"],
            },
        }
    ],
    "metadata": {
        "user_id": json.dumps(
            {
                "device_id": "c0274a06920270597a2373fd02d44edb601def60915fa7aa0b1c2d3e4f5a6b7c",
                "session_id": "d4ffbcb7-43f8-4400-b483-28366b93b3f1",
            },
            separators=(",", ":"),
        )
    },
    "max_tokens": 32000,
    "thinking": {"type": "adaptive"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "high"},
    "stream": True,
}


def cc_like_record() -> dict[str, Any]:
    return {
        "seq": 1,
        "time": "2026-11-26T10:00:00+00:00",
        "method": "POST",
        "path": "/v1/messages",
        "query": [["beta", "true"]],
        "headers": secrets.redact_headers({**CC_LIKE_HEADERS, "x-api-key": CLIENT_KEY}),
        "body": CC_LIKE_BODY,
        "body_bytes": len(json.dumps(CC_LIKE_BODY)),
    }


# --- the proxy ------------------------------------------------------------------------------


def answered_record(proxy: capture.CaptureProxy, timeout: float = 5.0) -> dict[str, Any]:
    """The one logged request, once the proxy has logged its answer too: the proxy writes
    that line after the client already has the response, so reading at once can race it."""
    deadline = time.monotonic() + timeout
    while True:
        (record,) = capture.read_log(proxy.log)
        if record.get("response") or time.monotonic() > deadline:
            return record
        time.sleep(0.02)


def test_proxy_records_without_secrets_and_forwards(
    stub: Stub, proxy: capture.CaptureProxy
) -> None:
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(
        proxy.url + "/v1/messages?beta=true",
        json=body,
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "cookie": "s=abc"},
    )
    assert resp.status_code == 200
    assert resp.json()["content"][0]["text"] == "Hello there."  # the upstream's answer came back
    upstream = stub.seen[-1]
    assert upstream["headers"]["x-api-key"] == UPSTREAM_KEY  # the proxy's key, not the client's
    assert upstream["path"] == "/v1/messages?beta=true"
    record = answered_record(proxy)
    log = proxy.log.read_text()
    assert CLIENT_KEY not in log and UPSTREAM_KEY not in log and "s=abc" not in log
    assert record["headers"]["x-api-key"] == secrets.PLACEHOLDER
    assert record["headers"]["cookie"] == secrets.PLACEHOLDER
    assert record["query"] == [["beta", "true"]]
    assert record["body"] == body
    assert record["response"]["status"] == 200


def test_proxy_keeps_bearer_scheme_only(stub: Stub, proxy: capture.CaptureProxy) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(
        proxy.url + "/v1/messages", json=body, headers={"authorization": f"Bearer {CLIENT_KEY}"}
    )
    (record,) = capture.read_log(proxy.log)
    assert record["headers"]["authorization"] == f"Bearer {secrets.PLACEHOLDER}"
    assert stub.seen[-1]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in proxy.log.read_text()


def test_proxy_passes_a_stream_through_as_it_comes(stub: Stub, proxy: capture.CaptureProxy) -> None:
    stub.gate = threading.Event()
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    raw = b""
    with httpx.stream(
        "POST", proxy.url + "/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}
    ) as resp:
        assert resp.headers["content-type"] == "text/event-stream"
        for chunk in resp.iter_raw():
            raw += chunk
            if b"message_start" in raw:
                stub.gate.set()  # the upstream holds the rest until this first event arrived
    assert stub.gate_opened_by_client, "the proxy buffered the stream instead of passing it on"
    assert [e.type for e in sse.parse(raw)][-1] == "message_stop"
    assert protocol.check_stream(raw)[0] == []
    assert CLIENT_KEY not in proxy.log.read_text()


def test_proxy_caps_max_tokens_upstream_but_records_the_clients(
    stub: Stub, proxy: capture.CaptureProxy
) -> None:
    body = {"model": "m", "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(proxy.url + "/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY})
    assert stub.seen[-1]["body"]["max_tokens"] == 64
    assert capture.read_log(proxy.log)[0]["body"]["max_tokens"] == 64000


@pytest.mark.parametrize("stream", [False, True])
def test_canned_tool_use_answers_once_and_conforms(
    stub: Stub, tmp_path: Path, stream: bool
) -> None:
    canned = capture.CannedToolUse("Read", {"file_path": "/x"})
    body = {
        "model": "m",
        "max_tokens": 50,
        "stream": stream,
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "read it"}],
    }
    with capture.CaptureProxy(stub.url, tmp_path / "c.jsonl", canned=[canned]) as p:
        first = httpx.post(p.url + "/v1/messages", json=body)
        second = httpx.post(p.url + "/v1/messages", json=body)
    if stream:
        assert protocol.check_stream(first.content)[0] == []
        msg = sse.accumulate(sse.parse(first.content))
    else:
        assert protocol.check_message(first.json()) == []
        msg = first.json()
    assert msg["content"][0]["name"] == "Read" and msg["stop_reason"] == "tool_use"
    assert len(stub.seen) == 1  # only the second request went upstream
    assert second.status_code == 200
    records = capture.read_log(tmp_path / "c.jsonl")
    assert records[0]["response"]["canned"] == "Read" and "canned" not in records[1]["response"]


# --- shapes ---------------------------------------------------------------------------------


def test_extract_shape_keeps_structure_and_sizes_but_no_prose() -> None:
    shape = shapes.extract_shape(cc_like_record(), turn="first")
    assert (shape["client"], shape["version"], shape["captured"]) == (
        "claude-code",
        "9.9.9",
        "2026-11-26",
    )
    req = shape["request"]
    assert req["auth"] == "x-api-key" and req["query"] == [["beta", "true"]]
    assert "x-api-key" not in req["headers"] and "x-api-key" in req["omitted_headers"]
    assert "x-stainless-os" in req["omitted_headers"]
    assert req["headers"]["x-claude-code-session-id"] == "00000000-0000-4000-8000-000000000000"
    assert shape["summary"]["betas"] == CC_LIKE_HEADERS["anthropic-beta"].split(",")
    body = req["body"]
    assert list(body) == list(CC_LIKE_BODY)

    def pairs(a: Any, b: Any) -> Iterator[tuple[Any, Any]]:
        if isinstance(a, dict):
            assert list(a) == list(b)
            for k in a:
                yield from pairs(a[k], b[k])
        elif isinstance(a, list):
            assert len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                yield from pairs(x, y)
        else:
            yield a, b

    for orig, kept in pairs(CC_LIKE_BODY, body):
        assert type(orig) is type(kept)
        if isinstance(orig, str):
            assert len(orig) == len(kept)  # sizes are facts
            if " " in orig and not orig.startswith(("x-anthropic", "{")):
                assert filler.is_filler(kept), kept
        else:
            assert orig == kept
    text = json.dumps(shape)
    for word in ("repository", "interactive", "filesystem", "absolute", "Available"):
        assert word not in text
    assert body["tools"][0]["input_schema"]["properties"]["mode"]["enum"] == ["text", "binary"]
    assert (
        body["system"][0]["text"] == "x-anthropic-billing-header: cc_version=9.9.9.000; cch=00000;"
    )
    user_id = json.loads(body["metadata"]["user_id"])
    assert user_id == {"device_id": "0" * 64, "session_id": "00000000-0000-4000-8000-000000000000"}
    assert CLIENT_KEY not in text


def test_shape_round_trips_to_a_request(tmp_path: Path) -> None:
    shape = shapes.extract_shape(cc_like_record(), turn="first")
    path = shapes.write_shape(shape, tmp_path)
    assert path.name == "claude-code-9.9.9-first.json"
    loaded = shapes.load_shape(path)
    assert loaded == shape
    req = shapes.shape_to_request(loaded, "target-model", max_tokens=16)
    assert req.body["model"] == "target-model" and req.body["max_tokens"] == 16
    assert req.body["stream"] is True
    assert req.url_path == "/v1/messages?beta=true" and req.auth == "x-api-key"
    assert req.headers["anthropic-beta"] == CC_LIKE_HEADERS["anthropic-beta"]
    rest = {k: v for k, v in req.body.items() if k not in ("model", "max_tokens")}
    assert rest == {k: v for k, v in shape["request"]["body"].items() if k in rest}
    assert set(req.body) == set(CC_LIKE_BODY)


def test_shape_to_request_keeps_a_thinking_budget_valid() -> None:
    shape = shapes.extract_shape(cc_like_record(), turn="first")
    shape["request"]["body"]["thinking"] = {"type": "enabled", "budget_tokens": 16000}
    req = shapes.shape_to_request(shape, "m", max_tokens=16)
    assert req.body["thinking"]["budget_tokens"] == 1024
    assert req.body["max_tokens"] > 1024
    assert shape["request"]["body"]["thinking"]["budget_tokens"] == 16000, "the shape changed"


def test_filler_repeats_one_period_of_the_words_it_picks_one_by_one() -> None:
    """{{FILLER}} and the cache rows' fillers are made by repeating one period of the word
    choice; the text is the one picking each word in turn gives (the cassettes hold it)."""
    import hashlib

    def one_by_one(seed: str, words: int) -> str:
        digest = hashlib.sha256(seed.encode()).digest()
        n = len(filler.WORDS)
        return " ".join(filler.WORDS[(digest[i % 32] + 7 * i) % n] for i in range(words)) + "."

    for words in (0, 1, 7, 415, 416, 417, 832, 1000, 2977, 6001):
        for seed in ("fields.system", "ZFQ4KD7PXA2M", ""):
            assert filler.filler.__wrapped__(seed, words) == one_by_one(seed, words)


def test_neutral_filler_is_exact_and_neutral() -> None:
    for n in (1, 5, 17, 300, 5703):
        text = filler.neutral_filler(n, f"seed{n}")
        assert len(text) == n and filler.is_filler(text)
    assert not filler.is_filler("You are an interactive agent")


# --- bisection against a real endpoint ------------------------------------------------------


def shape_probe(stub: Stub) -> Probe:
    client = Client(
        stub.url,
        auth_style="x-api-key",
        api_key="sk-test",
        default_headers={"anthropic-version": "2023-06-01"},
    )
    client.limits.retries = 0
    return Probe("clients.test", "stub-model", {}, client, settings.from_dict({"max_tokens": 16}))


def run_bisect(stub: Stub) -> bisection.Bisection:
    p = shape_probe(stub)
    req = shapes.shape_to_request(shapes.extract_shape(cc_like_record(), turn="first"), "m")
    first = shapes.send_shape(p, "shape", req)
    assert not first.ok
    return bisection.bisect(lambda label, r: shapes.send_shape(p, label, r), req)


def test_bisect_names_the_rejected_beta(stub: Stub) -> None:
    stub.reject_beta = "context-management-2025-06-27"
    found = run_bisect(stub)
    assert found.culprits == ["anthropic-beta: context-management-2025-06-27"]
    # the betas before it were tried and still refused
    assert found.tried[0] == {"without": "anthropic-beta: claude-code-20250219", "status": 400}


def test_bisect_names_the_rejected_body_key(stub: Stub) -> None:
    stub.reject_key = "context_management"
    assert run_bisect(stub).culprits == ["body.context_management"]


def test_bisect_finds_two_fields_each_refused(stub: Stub) -> None:
    # No single removal passes: removed cumulatively, then each put back if not needed.
    stub.reject_any = ("thinking", "output_config")
    found = run_bisect(stub)
    assert sorted(found.culprits) == ["body.output_config", "body.thinking"]
    assert found.note == "no single field; these together"


def write_case_shape(tmp_path: Path) -> Case:
    shape = shapes.extract_shape(cc_like_record(), turn="first")
    shapes.write_shape(shape, tmp_path / "shapes")
    return Case(
        id="clients.test",
        table="Client readiness",
        row="accepts a client",
        oracle="client_shape",
        params={"shape": "shapes/claude-code-9.9.9-first.json"},
        file=tmp_path / "clients.yaml",
    )


def test_client_shape_oracle_verdicts(stub: Stub, tmp_path: Path) -> None:
    case = write_case_shape(tmp_path)
    obs = ORACLES["client_shape"](shape_probe(stub), case)
    assert obs.observed is Observed.HONORED, obs.message
    sent = stub.seen[-1]
    assert sent["path"] == "/v1/messages?beta=true" and sent["body"]["model"] == "stub-model"
    assert sent["headers"]["anthropic-beta"] == CC_LIKE_HEADERS["anthropic-beta"]

    stub.reject_beta = "effort-2025-11-24"
    p = shape_probe(stub)
    obs = ORACLES["client_shape"](p, case)
    assert obs.observed is Observed.REJECTED
    assert "passes without anthropic-beta: effort-2025-11-24" in obs.message
    assert obs.evidence["bisection"]["culprits"] == ["anthropic-beta: effort-2025-11-24"]
    labels = [label for label, _ in p.exchanges]
    assert (
        labels[0] == "shape" and labels[-1] == "bisect: without anthropic-beta: effort-2025-11-24"
    )
    assert all(ex.request_body["body_bytes"] > 0 for _, ex in p.exchanges)  # compact evidence

    stub.reject_beta = None
    stub.crash_key = "metadata"
    obs = ORACLES["client_shape"](shape_probe(stub), case)
    assert obs.observed is Observed.REJECTED and "5xx" in obs.message
    assert obs.evidence["bisection"]["culprits"] == ["body.metadata"]


# --- the committed shapes -------------------------------------------------------------------

# Strings in a shape that are not filler but structure: the billing header with its nonce
# zeroed, JSON Schema's $schema URL, and metadata.user_id as a JSON string of zeroed ids.
STRUCTURAL = (
    re.compile(r"^x-anthropic-billing-header: cc_version=\d+\.\d+\.\d+\.0+;( \w+=[\w-]+;)*$"),
    re.compile(r"^https://json-schema\.org/[\w/.-]+#?$"),
    re.compile(r'^\{("\w+":"(0*|00000000-0000-4000-8000-000000000000)",?)+\}$'),
)


def test_there_are_shapes_for_claude_code_and_the_sdk() -> None:
    clients = {shapes.load_shape(p)["client"] for p in SHAPES}
    assert {"claude-code", "sdk-python"} <= clients


@pytest.mark.parametrize("path", SHAPES, ids=[p.name for p in SHAPES])
def test_committed_shape_has_no_secret_and_no_client_text(path: Path) -> None:
    shape = shapes.load_shape(path)
    assert shape["client"] and shape["version"] and re.match(r"\d{4}-\d\d-\d\d", shape["captured"])
    assert path.name == shapes.shape_filename(shape)
    req = shape["request"]
    assert not set(req["headers"]) & secrets.CREDENTIAL_HEADERS
    text = path.read_text()
    assert "sk-" not in text and secrets.PLACEHOLDER not in text
    for needle in ("/root", "/home/", "/tmp/", "/Users/"):
        assert needle not in text, f"a per-machine path in {path.name}"
    for found in shapes.UUID.findall(text):
        assert set(found) <= set("0-48"), f"an id left in {path.name}: {found}"
    for value in [*shapes.walk_strings(req["body"]), *req["headers"].values()]:
        for found in shapes.LONG_HEX.findall(value):
            assert set(found) == {"0"}, f"a hex id left in {path.name}: {found}"
    for value in shapes.walk_strings(req["body"]):
        if len(value) > 40 or " " in value:
            assert filler.is_filler(value) or any(p.match(value) for p in STRUCTURAL), (
                f"{path.name}: client text kept: {value[:80]!r}"
            )


def test_every_client_case_names_an_existing_shape_of_its_version() -> None:
    doc = yaml.safe_load((ROOT / "cases" / "clients.yaml").read_text())
    assert doc["table"] == "Client readiness"
    for row in doc["rows"]:
        shape = shapes.load_shape(ROOT / "cases" / row["params"]["shape"])
        assert shape["version"] in row["row"], row["id"]
        assert row["declared"]["anthropic"] == "honored"
        assert row["oracle"] == "client_shape"


def test_capture_log_of_a_slow_answer_is_on_record_before_it_ends(
    stub: Stub, tmp_path: Path
) -> None:
    stub.gate = threading.Event()  # the stream stalls after its first event
    log = tmp_path / "c.jsonl"
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with capture.CaptureProxy(stub.url, log) as p:
        done = threading.Thread(target=lambda: httpx.post(p.url + "/v1/messages", json=body))
        done.start()
        deadline = time.monotonic() + 5
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        early = capture.read_log(log)
        stub.gate.set()
        done.join(timeout=10)
    assert early and early[0]["body"] == body and early[0]["response"] is None
    assert capture.read_log(log)[0]["response"]["status"] == 200


def test_retarget_cases_points_rows_at_the_new_version(tmp_path: Path) -> None:
    cases_file = tmp_path / "clients.yaml"
    cases_file.write_text(
        "rows:\n"
        "  - row: accepts Claude Code 1.0.0 first turn  # comment kept\n"
        "    params: {shape: shapes/claude-code-1.0.0-first.json}\n"
        "  - row: accepts Claude Code 1.0.0 streaming (follow-up turn)\n"
        "    params: {shape: shapes/claude-code-1.0.0-stream.json}\n"
    )
    new = {"client": "claude-code", "version": "2.0.1", "turn": "first"}
    assert capture.retarget_cases(cases_file, [new]) == ["claude-code first: 1.0.0 → 2.0.1"]
    text = cases_file.read_text()
    assert "accepts Claude Code 2.0.1 first turn  # comment kept" in text
    assert "shapes/claude-code-2.0.1-first.json" in text
    assert "shapes/claude-code-1.0.0-stream.json" in text  # another turn: not this capture's
    assert "accepts Claude Code 1.0.0 streaming" in text


def test_a_capture_with_settings_retargets_only_rows_with_the_same_settings(
    tmp_path: Path,
) -> None:
    cases_file = tmp_path / "clients.yaml"
    cases_file.write_text(
        "rows:\n"
        "  - row: accepts Claude Code 1.0.0 first turn\n"
        "    params: {shape: shapes/claude-code-1.0.0-first.json}\n"
        "  - row: accepts Claude Code 1.0.0 first turn with B=1\n"
        "    params: {shape: shapes/claude-code-1.0.0-first.with-b-1.json}\n"
    )
    new = {"client": "claude-code", "version": "2.0.1", "turn": "first", "settings": {"B": "1"}}
    assert shapes.shape_filename(new) == "claude-code-2.0.1-first.with-b-1.json"
    assert capture.retarget_cases(cases_file, [new]) == ["claude-code first: 1.0.0 → 2.0.1"]
    text = cases_file.read_text()
    assert "shapes/claude-code-2.0.1-first.with-b-1.json" in text
    assert "shapes/claude-code-1.0.0-first.json" in text  # the default turn: not this capture
    slug = shapes.settings_slug({"CLAUDE_CODE_ATTRIBUTION_HEADER": "0", "DISABLE_X": "1"})
    assert slug == "attribution-header-0+disable-x-1"


@pytest.mark.parametrize("path", SHAPES, ids=[p.name for p in SHAPES])
def test_no_bisection_variant_changes_the_request_it_was_made_from(path: Path) -> None:
    """A request shares the members of its (cached) shape and a variant copies it one level
    deep (Claude Code's bodies are up to 140 KB), so each must drop or replace top-level
    members only: applied alone and all chained, none leaves a trace in the request it was
    made from nor in the shape; each still changes what it says it changes; and the bytes
    sent for each (members the shape shares written from their cached text) are exactly
    ``json.dumps`` of its body."""
    import copy

    shape, texts = shapes.shared_shape(path)
    pristine = copy.deepcopy(shape)
    req = shapes.shape_to_request(shape, "m", extra_body={"x": {"y": [1]}}, texts=texts)
    assert req.known, "no member of the shape is shared"
    before = copy.deepcopy(req)
    found = bisection.variants(req)
    assert found, "a shape with nothing to bisect"

    def sent(r: shapes.ShapeRequest) -> bytes | None:
        return r.content()

    assert sent(req) == json.dumps(req.body).encode()
    chained = req
    for variant in found:
        changed = variant.apply(req)
        chained = variant.apply(chained)
        assert (changed.headers, changed.body, changed.query, changed.auth) != (
            req.headers, req.body, req.query, req.auth
        ), variant.field  # fmt: skip
        assert req == before, f"{variant.field} changed the request it was applied to"
        for r in (changed, chained):
            assert sent(r) == json.dumps(r.body).encode(), variant.field
    assert chained != req and req == before
    assert shape == pristine, "building and bisecting a request changed the shared shape"
    assert shapes.shared_shape(path)[0] is shape, "the shape is read again"
