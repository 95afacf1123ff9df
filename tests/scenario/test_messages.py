"""Messages for mistakes users make: a misspelt key in any section gets a suggestion and the
allowed fields, broken inline TOML in --set is an error, names cannot escape runs/, and the
Python API says what to pass instead of a bare TypeError."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from netsim import Scenario, ScenarioError, Simulation, load_scenario
from netsim.cli import main


def _sections() -> list[tuple[str, str]]:
    """(section, a field of it) for every plain section of the default scenario."""
    default = load_scenario()
    out = []
    for name in Scenario.model_fields:
        value = getattr(default, name)
        if isinstance(value, BaseModel):
            fields = [f for f in type(value).model_fields if len(f) >= 4]
            out.append((name, sorted(fields)[0]))
    return out


@pytest.mark.parametrize(("section", "field"), _sections())
def test_a_misspelt_key_in_any_section_gets_a_hint(section, field):
    typo = field[:2] + field[3:]  # one letter left out
    with pytest.raises(ScenarioError) as info:
        load_scenario(None, [f"{section}.{typo}=1"])
    message = str(info.value)
    assert f"did you mean '{field}'?" in message, message
    listed = message.split("allowed fields here: ")[1].split(", ")
    assert field in listed


def test_protocol_hint_from_the_issue():
    with pytest.raises(ScenarioError, match=r"protocol.roudns: unknown field \(did you mean 'r"):
        load_scenario(None, ["protocol.roudns=3"])


@pytest.mark.parametrize(
    "raw", ['{method = "topk", ratio = }', "[1, 2", '"open', "{method = topk}", ""]
)
def test_broken_inline_toml_is_an_error(raw):
    with pytest.raises(ScenarioError, match="is not valid TOML"):
        load_scenario(None, [f"compression={raw}"])


def test_a_bare_word_is_still_a_string():
    assert load_scenario(None, ["radio.access=fdma"]).radio.access == "fdma"


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "", "x" * 200, "a\\b"])
def test_a_name_cannot_leave_the_runs_folder(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError, match="name = "):
        load_scenario(None, [f'name="{name}"'.replace("\\", "\\\\")])
    assert main(["run", "--set", f'name="{name}"'.replace("\\", "\\\\"), "--quiet"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_says_what_to_pass():
    with pytest.raises(TypeError, match=r"a Scenario, not str .*load_scenario\('default'\)"):
        Simulation("default")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"expected a table \(dict\) of sections"):
        Scenario.from_dict(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a scenario file path or bundled name"):
        load_scenario(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"not one string; pass \['protocol.rounds=3'\]"):
        load_scenario(None, "protocol.rounds=3")
    with pytest.raises(TypeError, match="not one string"):
        load_scenario().with_overrides("protocol.rounds=3")
