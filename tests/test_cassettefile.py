"""The cassette file format (conformance/cassettefile.py) and the migration from YAML.

* The shipped cassettes, converted from vcrpy YAML at commit 8140ff1, replay to the verdict,
  message and evidence their YAML gave (``tests/data/yaml-replay-baseline.json``), row by row,
  for every row whose cassette is still the converted file (a re-recorded row has a new one).
* Serializing and deserializing keep every byte vcrpy hands over: text and non-UTF-8 bodies,
  stream lines, repeated request bodies stored once, headers and reason phrases.
* The converter gives the same interactions vcrpy's YAML serializer read.
* A broken or foreign file is refused with its path and the fix, before anything is served.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from vcr.request import Request
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from conformance import cassettefile, recording

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "tests" / "data" / "yaml-replay-baseline.json"


def digest(record: dict[str, Any], sdk: str) -> str:
    """What the baseline holds of a row: verdict, message and evidence, the official SDK's
    version written ``{sdk}`` (the SDK rows name it, and the pin moves)."""
    verdict = [record["observed"], record["outcome"], record["message"], record["evidence"]]
    text = json.dumps(verdict, sort_keys=True, ensure_ascii=False).replace(sdk, "{sdk}")
    return hashlib.sha256(text.encode()).hexdigest()


def test_converted_cassettes_give_the_verdicts_the_yaml_gave(tmp_path: Path) -> None:
    from importlib.metadata import version

    baseline = json.loads(BASELINE.read_text())["rows"]
    sdk = version("anthropic")
    unchanged = {
        key: row
        for key, row in baseline.items()
        if (path := REPO / "cassettes" / f"{key}{cassettefile.SUFFIX}").exists()
        and hashlib.sha256(path.read_bytes()).hexdigest() == row["cassette_sha256"]
    }
    assert len(unchanged) >= 100, "fewer than 100 rows still replay their converted cassette"
    targets = sorted({key.split("/")[0] for key in unchanged})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--target", ",".join(targets), "--mode", "replay",
         "-p", "no:xdist", "-q", f"--report-dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        env={**__import__("os").environ, "ANTHROPIC_CONFORMANCE_CACHE": str(tmp_path / "c")},
    )  # fmt: skip
    assert proc.returncode in (0, 1, 3), proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    got = {f"{r['target']}/{r['id']}": r for r in doc["results"]}

    def same(key: str, row: dict[str, Any]) -> bool:
        if key not in got:
            return False
        if row.get("reshaped"):  # its probe changed since, not its cassette (the file says)
            return (got[key]["observed"], got[key]["outcome"]) == (row["observed"], row["outcome"])
        return digest(got[key], sdk) == row["verdict_sha256"]

    differ = [
        (key, row["outcome"], got.get(key, {}).get("outcome"), got.get(key, {}).get("message"))
        for key, row in unchanged.items()
        if not same(key, row)
    ]
    assert differ == [], differ[:10]


def sample_cassette() -> dict[str, Any]:
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]})
    headers = {"x-api-key": ["<redacted>"], "anthropic-version": ["2023-06-01"]}
    stream = 'event: ping\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    answers = [
        {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["a/json"]},
         "body": {"string": b'{"ok": true}'}},
        {"status": {"code": 200, "message": "OK"},
         "headers": {"content-type": ["text/event-stream"], "set-x": ["a", "b"]},
         "body": {"string": stream.encode()}},
        {"status": {"code": 502, "message": "Bad Gateway"}, "headers": {},
         "body": {"string": b"\xff\xfe not utf-8 \x00"}},
    ]  # fmt: skip
    requests = [
        Request("POST", "http://h/v1/messages", big.encode(), dict(headers)) for _ in answers
    ]
    requests.append(Request("GET", "http://h/v1/models?limit=2", None, {}))
    answers.append({"status": {"code": 200, "message": ""}, "headers": {}, "body": {"string": b""}})
    return {"requests": requests, "responses": answers}


def loaded(text: str, serializer: Any) -> list[tuple[Any, Any]]:
    requests, responses, *_ = deserialize(text, serializer)
    return [
        ((r.method, r.uri, r.body, dict(r.headers)), resp)
        for r, resp in zip(requests, responses, strict=True)
    ]


def test_round_trip_keeps_every_byte() -> None:
    cassette = sample_cassette()
    text = serialize(cassette, cassettefile)
    doc = json.loads(text)
    assert doc["format"] == cassettefile.FORMAT
    assert len(doc["bodies"]) == 1  # three identical request bodies, stored once
    assert doc["interactions"][1]["response"]["body"]["lines"][:2] == [
        "event: ping\n",
        "data: {}\n",
    ]
    assert "base64" in doc["interactions"][2]["response"]["body"]
    fresh = sample_cassette()  # serialize() turned the bodies above into text in place
    expected = [
        ((r.method, r.uri, r.body, dict(r.headers)), resp)
        for r, resp in zip(fresh["requests"], fresh["responses"], strict=True)
    ]
    assert loaded(text, cassettefile) == expected
    assert serialize({"requests": [], "responses": []}, cassettefile).startswith("{")


def test_converting_yaml_gives_what_vcrpy_read_from_it(tmp_path: Path) -> None:
    cassette = sample_cassette()
    del cassette["requests"][2], cassette["responses"][2]  # vcrpy's YAML cannot hold \xff
    old = tmp_path / "row.yaml"
    old.write_text(serialize(cassette, yamlserializer), encoding="utf-8")
    before = loaded(old.read_text(), yamlserializer)
    new = recording.convert_yaml(old)
    assert new == tmp_path / "row.json" and not old.exists()
    assert loaded(new.read_text(), cassettefile) == before


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("interactions: []\n", "not JSON"),
        ('{"version": 1, "interactions": []}', "python -m conformance cassettes convert"),
        ("[" * 100_000, "nested too deep"),
        (
            json.dumps(
                {
                    "format": cassettefile.FORMAT,
                    "bodies": [],
                    "interactions": [
                        {
                            "request": {"method": "GET", "uri": "u", "headers": {}, "body": 3},
                            "response": {
                                "status": {"code": 200},
                                "headers": {},
                                "body": {"string": ""},
                            },
                        }
                    ],
                }
            ),
            "is not an index",
        ),
        (
            json.dumps({"format": cassettefile.FORMAT, "bodies": {}, "interactions": []}),
            "must be lists",
        ),
    ],
)
def test_a_broken_cassette_is_refused_with_its_path(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "fake" / "fields.stream.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(recording.CassetteBroken) as caught, recording.cassette("replay", path, []):
        pass
    assert says in str(caught.value) and "fields.stream.json" in str(caught.value)


def test_an_old_yaml_cassette_is_named_with_the_command_that_converts_it(tmp_path: Path) -> None:
    old = tmp_path / "fake" / "fields.stream.yaml"
    old.parent.mkdir()
    old.write_text("interactions: []\nversion: 1\n")
    new = old.with_suffix(".json")
    with pytest.raises(recording.CassetteMissing) as caught, recording.cassette("replay", new, []):
        pass
    assert "old YAML format" in str(caught.value)
    assert "python -m conformance cassettes convert" in str(caught.value)


def test_the_convert_command_converts_a_folder(tmp_path: Path) -> None:
    from conformance.__main__ import main

    cassette = sample_cassette()
    del cassette["requests"][2], cassette["responses"][2]
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.yaml").write_text(serialize(cassette, yamlserializer))
    (tmp_path / "t" / "_provenance.yaml").write_text("recorded: x\n")
    assert main(["cassettes", "convert", str(tmp_path)]) == 0
    assert (tmp_path / "t" / "a.json").exists() and (tmp_path / "t" / "_provenance.yaml").exists()
    assert main(["cassettes", "convert", str(tmp_path)]) == 4  # nothing left to convert


def test_a_cassette_is_read_whole_and_bounded_even_if_it_grows_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cassette is read with a buffer of the size ``fstat`` gives, not of the cap; a file
    that has grown since is still read whole, and still refused past the cap."""
    import os
    import types

    path = tmp_path / "c.json"
    text = json.dumps({"format": cassettefile.FORMAT, "bodies": ["x" * 5000], "interactions": []})
    path.write_text(text)
    real = os.fstat
    monkeypatch.setattr(
        cassettefile.os, "fstat", lambda fd: types.SimpleNamespace(st_size=real(fd).st_size // 3)
    )
    assert cassettefile.read_text(path) == text
    monkeypatch.setattr(cassettefile.Persister, "max_bytes", 4000)
    with pytest.raises(cassettefile.CassetteFormatError, match="over"):
        cassettefile.read_text(path)
