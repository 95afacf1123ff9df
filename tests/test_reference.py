"""The generated reference (netsim/reference.py) covers everything it is generated from:
every scenario field with its unit, every event type the code logs, every command and
option of the CLI."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from netsim.cli import _parser
from netsim.log import EVENT_TYPES, Event, EventLog
from netsim.reference import cli_reference, events_reference, scenario_reference, unit_of
from netsim.scenario.json_schema import scenario_json_schema

ROOT = Path(__file__).resolve().parents[1]


def _tables(markdown: str) -> dict[str, list[str]]:
    """Section heading -> the field names of its table."""
    tables: dict[str, list[str]] = {}
    heading = "top"
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line
        elif m := re.match(r"\| `(\w+)` \|", line):
            tables.setdefault(heading, []).append(m[1])
    return tables


def test_every_section_and_field_of_the_schema_is_in_the_scenario_reference():
    schema = scenario_json_schema()
    tables = _tables(scenario_reference())
    documented = {name for fields in tables.values() for name in fields}
    for model in [schema, *schema["$defs"].values()]:
        assert set(model.get("properties", {})) <= documented
    anchors = set(re.findall(r"\{#(\w+)\}", scenario_reference()))
    assert {name.lower() for name in schema["$defs"]} <= anchors  # every linked table exists


def test_units_come_from_the_field_names():
    assert [unit_of(n) for n in ("bandwidth_hz", "noise_psd_dbm_hz", "tx_power_dbm")] == [
        "Hz",
        "dBm/Hz",
        "dBm",
    ]
    assert [unit_of(n) for n in ("deadline_s", "rate_bps", "speed_mps", "rounds", "krum_m")] == [
        "s",
        "bit/s",
        "m/s",
        "",
        "",  # a count
    ]
    row = next(r for r in scenario_reference().splitlines() if r.startswith("| `bandwidth_hz`"))
    assert "| Hz |" in row and ">= 1000, <= 1e+11" in row


def test_every_event_type_is_documented_and_logged_by_the_code():
    reference = events_reference()
    source = "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "netsim").rglob("*.py") if p.name != "log.py"
    )
    for event in EVENT_TYPES:
        assert f"| `{event}` |" in reference
        assert f'"{event}"' in source, f"{event} is registered but nothing logs it"


def test_the_log_refuses_an_unregistered_event_type():
    log = EventLog()
    log.emit(Event(0.0, 0, "piu0", "piu", "train_start"))
    with pytest.raises(ValueError, match="EVENT_TYPES"):
        log.emit(Event(0.0, 0, "piu0", "piu", "trian_end"))


def test_every_command_and_option_is_in_the_cli_reference():
    reference = cli_reference()
    parser = _parser()

    def walk(p: argparse.ArgumentParser, prog: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            assert f"## `{prog}`" in reference
            for action in p._actions:
                for option in action.option_strings:
                    assert option in reference or option in ("-h", "--help")
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, f"{prog} {name}")

    walk(parser, "netsim")


def test_field_docstrings_become_descriptions():
    from netsim.scenario.radio import RadioConfig

    assert issubclass(RadioConfig, BaseModel)
    assert RadioConfig.model_config.get("use_attribute_docstrings") is True
