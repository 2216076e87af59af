"""Typed settings: defaults written once, equal to cases/settings.yaml; bad files name file:line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from conformance import secrets, settings
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent


def test_the_defaults_are_the_shipped_file() -> None:
    shipped = settings.load(REPO / "cases" / "settings.yaml")
    assert shipped == settings.Settings()
    # and the file spells out every setting (nothing is left to a default in code)
    doc = yaml.safe_load((REPO / "cases" / "settings.yaml").read_text())
    assert set(doc) == {f.name for f in dataclasses.fields(settings.Settings)}
    for f in dataclasses.fields(settings.Settings):
        value = getattr(shipped, f.name)
        if dataclasses.is_dataclass(value):
            assert set(doc[f.name]) == {g.name for g in dataclasses.fields(value)}, f.name


def test_an_unknown_or_mistyped_setting_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("max_tokens: 4\nsampling:\n  sample: 6\n")
    with pytest.raises(InputError, match=r"settings.yaml:3: sampling.sample: unknown setting"):
        settings.load(path)
    path.write_text("trials: three\n")
    with pytest.raises(InputError, match=r"settings.yaml:1: trials: 'three' is not a whole"):
        settings.load(path)
    path.write_text("echo: 2\n")
    with pytest.raises(InputError, match=r"settings.yaml:1: echo must be a mapping"):
        settings.load(path)


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("sampling:\n  samples: 2\n")
    loaded = settings.load(path)
    assert loaded.sampling.samples == 2 and loaded.sampling.max_tokens == 8
    assert loaded.max_tokens == 4 and loaded.limits == settings.Limits()


def test_one_credential_list_and_one_placeholder() -> None:
    from conformance import client, recording, shapes
    from conformance.capture import proxy

    for module in (client, recording, shapes, proxy):  # each uses the one list
        assert module.CREDENTIAL_HEADERS is secrets.CREDENTIAL_HEADERS, module.__name__
    assert secrets.redact_headers({"Authorization": "Bearer sk-1", "X-Api-Key": "sk-2"}) == {
        "authorization": f"Bearer {secrets.PLACEHOLDER}",
        "x-api-key": secrets.PLACEHOLDER,
    }
    # a scheme-less authorization value is replaced whole, never kept in front of it
    assert secrets.scrub_header_value("authorization", "sk-3") == secrets.PLACEHOLDER
    assert secrets.scrub_header_value("x-api-key", secrets.WRONG_KEY) == secrets.WRONG_KEY
