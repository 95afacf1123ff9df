"""The scenario format as JSON Schema (netsim schema): the committed copy next to the bundled
scenarios is the generated one, every bundled scenario validates against it and says so on
its first line, and a misspelt field or a value outside a field's choices is rejected."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from netsim.cli import main
from netsim.scenario import bundled_scenarios
from netsim.scenario.json_schema import DIRECTIVE, scenario_json_schema, schema_text

jsonschema = pytest.importorskip("jsonschema")

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


@pytest.fixture(scope="module")
def validator():
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_the_generated_one():
    committed = (TOPOLOGIES / "scenario.schema.json").read_text()
    assert committed == schema_text(), (
        "topologies/scenario.schema.json is stale: run "
        "`netsim schema --out topologies/scenario.schema.json`"
    )


@pytest.mark.parametrize("name", bundled_scenarios())
def test_every_bundled_scenario_validates_and_points_at_the_schema(name, validator):
    path = TOPOLOGIES / f"{name}.toml"
    text = path.read_text()
    assert text.splitlines()[0] == DIRECTIVE
    errors = [e.message for e in validator.iter_errors(tomllib.loads(text))]
    assert errors == []


def test_a_misspelt_field_and_a_value_outside_the_choices_are_rejected(validator):
    data = tomllib.loads((TOPOLOGIES / "default.toml").read_text())
    data["radio"]["bandwith_hz"] = 1e6  # bandwidth_hz misspelt
    (error,) = validator.iter_errors(data)
    assert "bandwith_hz" in error.message and list(error.path) == ["radio"]
    data = tomllib.loads((TOPOLOGIES / "default.toml").read_text())
    data["protocol"]["mode"] = "fedsync"
    (error,) = validator.iter_errors(data)
    assert list(error.path) == ["protocol", "mode"]


def test_netsim_schema_prints_and_writes_it(tmp_path, capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["title"] == "netsim scenario" and "protocol" in printed["properties"]
    out = tmp_path / "s.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert out.read_text() == schema_text()
    assert main(["schema", "--out", str(tmp_path)]) == 2  # a folder: one clear error
    assert "is a folder" in capsys.readouterr().err


def _strict_json(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_schema_is_strict_json_as_editors_parse_it():
    """No Infinity or NaN (a default of inf once made Taplo and JSON.parse refuse it all)."""
    _strict_json(schema_text())
    _strict_json((TOPOLOGIES / "scenario.schema.json").read_text())


# Fields a number may leave unbounded above, and why.
UNBOUNDED_ABOVE = {
    "DeviceConfig.battery_j": "inf: mains powered",
    "DeviceClass.battery_j": "inf: mains powered",
}


def _numbers(node, path=""):
    """(dotted path, schema) of every number or integer in the schema."""
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            yield path, node
        for key, value in node.items():
            if key in ("default", "examples"):
                continue
            step = "" if key in ("$defs", "properties", "anyOf", "items", "prefixItems") else key
            yield from _numbers(value, f"{path}.{step}".strip(".") if step else path)
    elif isinstance(node, list):
        for value in node:
            yield from _numbers(value, path)


def test_every_number_in_a_scenario_is_bounded_on_both_sides():
    """The rule behind a class of bad inputs (1e308 bandwidth, 1e-308 CPU, 1e-300 coherence
    time): every numeric field says what physics or the machine allows, both ways, so a slip
    is refused with its name before it overflows or hangs deep inside a model."""
    open_ended = []
    numbers = list(_numbers(scenario_json_schema()))
    assert len(numbers) > 150  # the walk reaches every section
    for path, node in numbers:
        if "enum" in node or "const" in node:
            continue
        low = "minimum" in node or "exclusiveMinimum" in node
        high = "maximum" in node or "exclusiveMaximum" in node
        if not low or (not high and path not in UNBOUNDED_ABOVE):
            open_ended.append(path)
    assert open_ended == []


def _taplo() -> str:
    """The Taplo binary the [test] extra installs beside Python (the wheel ships no module)."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "taplo"
    found = str(beside) if beside.exists() else shutil.which("taplo")
    if found is None:
        pytest.fail("taplo is missing: pip install -e '.[test]' installs it")
    return found


def test_taplo_checks_every_bundled_scenario_against_the_committed_schema(tmp_path):
    """What an editor with Taplo / Even Better TOML does with a bundled scenario's first line
    '#:schema ./scenario.schema.json': every scenario passes, and a misspelt field is flagged
    on its own line."""
    import shutil
    import subprocess

    taplo = _taplo()
    for path in [*TOPOLOGIES.glob("*.toml"), TOPOLOGIES / "scenario.schema.json"]:
        shutil.copy(path, tmp_path / path.name)
    scenarios = sorted(p.name for p in tmp_path.glob("*.toml"))
    assert len(scenarios) == len(bundled_scenarios())
    ok = subprocess.run(
        [taplo, "check", *scenarios], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr + ok.stdout
    lines = (tmp_path / "default.toml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "[radio]") + 1
    lines.insert(at, "bandwith_hz = 5e6")
    (tmp_path / "misspelt.toml").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(
        [taplo, "check", "misspelt.toml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    report = bad.stderr + bad.stdout
    assert bad.returncode != 0 and "'bandwith_hz' was unexpected" in report
    assert f"misspelt.toml:{at + 1}:1" in report  # the line of the misspelt key
