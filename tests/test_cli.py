"""The `netsim` command: run directories, overrides, and clean failures on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import tomli_w
import torch

from netsim.cli import main
from netsim.log import EVENT_COLUMNS, log_digest
from netsim.rundir import RUN_FILES
from netsim.scenario import load_scenario
from tests.conftest import TINY


def _scenario_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps(TINY))
    return path


def test_run_writes_a_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    code = main(
        [
            "run",
            str(_scenario_file(tmp_path)),
            "--set",
            "protocol.rounds=2",
            "--set",
            "protocol.deadline_s=1.5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)
    events = pd.read_parquet(out / "events.parquet")
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert list(events.columns) == EVENT_COLUMNS
    assert list(rounds["round"]) == [0, 1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == TINY["seed"] and manifest["rounds"] == 2
    assert manifest["events_sha256"] == log_digest(events)
    resolved = load_scenario(out / "scenario.toml")
    assert resolved.protocol.deadline_s == 1.5 and resolved.protocol.rounds == 2
    state = torch.load(out / "model.pt")
    assert set(state) == {
        "net.1.weight",
        "net.1.bias",
        "net.3.weight",
        "net.3.bias",
        "net.5.weight",
        "net.5.bias",
    }
    assert "final accuracy" in capsys.readouterr().out
    # No staging folder is left behind.
    assert [p.name for p in out.parent.iterdir()] == ["x"]


def test_bad_override_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(
        ["run", str(_scenario_file(tmp_path)), "--set", "radio.bandwidth_hz=-1", "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "radio.bandwidth_hz = -1" in err and "greater than or equal to 1000" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.toml' does not exist" in capsys.readouterr().err


def test_existing_output_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["run", str(_scenario_file(tmp_path)), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_validate_prints_the_resolved_scenario(capsys):
    assert main(["validate", "--set", "protocol.rounds=3"]) == 0
    assert "rounds = 3" in capsys.readouterr().out


def test_console_script_entry_point_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "netsim.cli", "validate", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        f"netsim: scenario file '{tmp_path / 'nope.toml'}' does not exist (bundled scenarios: "
    )


def test_topo_show_writes_a_png_layout(tmp_path, capsys):
    out = tmp_path / "fig" / "layout.png"
    assert main(["topo", "show", str(_scenario_file(tmp_path)), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob(".*partial"))
    assert main(["topo", "show", "--out", str(tmp_path / "layout.pdf")]) == 2
    assert "use a .png file name" in capsys.readouterr().err


def test_netsim_list_names_every_bundled_scenario_and_study(capsys):
    from netsim.scenario import bundled_scenarios
    from netsim.scenario.starters import studies_folder

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in bundled_scenarios():
        assert f"  {name} " in out
    for study in studies_folder().glob("*.toml"):
        assert str(study) in out
    assert "10 PIUs around one AP" in out  # the default's own description


def test_netsim_init_writes_a_scenario_that_loads_and_runs(tmp_path, monkeypatch, capsys):
    from netsim import load_scenario
    from netsim.scenario.json_schema import DIRECTIVE

    monkeypatch.chdir(tmp_path)
    assert main(["init", "mine", "--from", "three_tier"]) == 0
    text = (tmp_path / "mine.toml").read_text()
    assert text.splitlines()[0] == DIRECTIVE and (tmp_path / "scenario.schema.json").exists()
    # the same scenario as the bundled one, named after its file; the graph still found
    mine, bundled = load_scenario("mine.toml"), load_scenario("three_tier")
    assert mine.name == "mine" and mine.model_copy(update={"name": "three_tier"}) == bundled
    assert main(["init", "mine"]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["init", "plain"]) == 0  # from the default
    sets = ["--set", "protocol.rounds=1", "--set", "topology.num_pius=2", "--quiet"]
    assert main(["run", "plain.toml", *sets, "--out", str(tmp_path / "run")]) == 0
    assert main(["init", "bad name"]) == 2
    assert main(["init", "x", "--from", "nope"]) == 2
    assert not (tmp_path / "x.toml").exists() and not (tmp_path / "bad name.toml").exists()


def test_netsim_init_names_the_scenario_not_a_table_named_like_it(tmp_path, monkeypatch):
    from netsim import load_scenario

    monkeypatch.chdir(tmp_path)
    # no top-level name, but a table with its own name field after it
    (tmp_path / "src.toml").write_text('[learning.optimizer]\nname = "adam"\nlr = 0.01\n')
    assert main(["init", "mine", "--from", "src.toml"]) == 0
    mine = load_scenario("mine.toml")
    assert mine.name == "mine" and mine.learning.optimizer.name == "adam"


def test_netsim_init_keeps_a_literal_string_path_pointing_at_its_file(tmp_path, monkeypatch):
    from netsim import load_scenario

    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "traces").mkdir()
    text = "[device.availability]\nkind = 'trace'\ndir = 'traces'\n"
    (tmp_path / "src" / "net.toml").write_text(text)
    assert main(["init", "mine", "--from", "src/net.toml"]) == 0
    mine = load_scenario("mine.toml")
    assert mine.device.availability.dir == (tmp_path / "src" / "traces").resolve()
