"""Each oracle declares the JSON Schema of its params; case files are checked when they load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance import cases, oracles
from conformance.yamlfile import InputError

REPO = Path(__file__).resolve().parent.parent

ROW = """table: Broken
rows:
  - id: broken.row
    row: a row
    oracle: {oracle}
    probe: {{}}
    params:
{params}
"""


def cases_dir_with(tmp_path: Path, oracle: str, params: str) -> tuple[Path, Path]:
    cases_dir = tmp_path / "cases"
    cases_dir.mkdir()
    shutil.copytree(REPO / "cases" / "profiles", cases_dir / "profiles")
    path = cases_dir / "broken.yaml"
    path.write_text(ROW.format(oracle=oracle, params=params))
    return cases_dir, path


def test_every_oracle_declares_a_params_schema_the_shipped_cases_meet() -> None:
    for name, oracle in oracles.ORACLES.items():
        assert oracle.params_schema["additionalProperties"] is False, name
    loaded, _ = cases.load_all(REPO / "cases", oracles.ORACLES)
    assert {c.oracle for c in loaded} <= set(oracles.ORACLES)


@pytest.mark.parametrize(
    ("oracle", "params", "line", "expected"),
    [
        (
            "echo",
            "      trails: 3",
            8,
            "unknown param 'trails'; fix: known params of oracle 'echo'",
        ),
        ("echo", "      trials: three", 8, "params.trials: 'three' is not of type 'integer'"),
        ("sampling", "      samples: 2", 8, "'narrow' is a required property"),
        ("protocol", "      check: mesage", 8, "params.check: 'mesage' is not one of"),
        ("protocol", "      check: errors", 8, "'invalid' is a required property"),
        ("tool_use", "      expect: maybe", 8, "params.expect: 'maybe' is not one of"),
    ],
)
def test_a_params_typo_names_file_line_and_fix(
    tmp_path: Path, oracle: str, params: str, line: int, expected: str
) -> None:
    cases_dir, path = cases_dir_with(tmp_path, oracle, params)
    with pytest.raises(InputError) as info:
        cases.load_all(cases_dir, oracles.ORACLES)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: case broken.row: "), message
    assert expected in message and "fix: " in message, message


def test_protocol_checks_are_registered_like_oracles() -> None:
    from conformance.oracles.protocol import CHECKS

    assert set(CHECKS) >= {"message", "stream", "errors", "auth_errors", "bearer", "models"}
    assert set(oracles.ORACLES["protocol"].params_schema["properties"]["check"]["enum"]) == set(
        CHECKS
    )


def test_the_tool_use_expect_values_are_the_judges_registered() -> None:
    """``expect`` is checked at load against an enum written beside the oracle (the judges
    register later in the module); the two must name the same values."""
    from conformance.oracles import ORACLES
    from conformance.oracles.tools import EXPECTATIONS

    schema = ORACLES["tool_use"].params_schema
    assert sorted(schema["properties"]["expect"]["enum"]) == sorted(EXPECTATIONS)
