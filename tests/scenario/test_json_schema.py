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
