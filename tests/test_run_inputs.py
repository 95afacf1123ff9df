"""Scenarios with paths in them (topology file, availability traces, data folder) run, save,
validate and sweep, and their run directory is self-contained: it holds copies of the
topology and trace files and repeats the run from its own scenario.toml."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import tomli_w

from netsim.cli import main
from netsim.log import log_digest
from netsim.rundir import file_sha256
from netsim.scenario import load_scenario
from tests.conftest import TINY
from tests.learn.test_datasets import _mnist_folder
from tests.topologies.test_topology_file import _hall


def _scenario_file(tmp_path, **sections) -> str:
    data = {**TINY, "protocol": {"rounds": 2}, **sections}
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def test_a_topology_file_scenario_runs_validates_and_repeats_from_its_run_dir(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    _hall(src)
    traces = src / "traces"
    traces.mkdir()
    (traces / "piu1.csv").write_text("time_s,available\n0,1\n0.05,0\n0.3,1\n")
    scenario = _scenario_file(
        src,
        topology={"kind": "file", "path": "hall.graphml"},
        device={**TINY["device"], "availability": {"kind": "trace", "dir": "traces"}},
    )
    assert main(["validate", scenario]) == 0
    assert 'path = "' in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["run", scenario, "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    inputs = manifest["inputs"]
    assert inputs["topology"]["sha256"] == file_sha256(src / "hall.graphml")
    assert inputs["traces"]["sha256"] == {"piu1.csv": file_sha256(traces / "piu1.csv")}
    assert (out / inputs["topology"]["copy"]).is_file()
    assert (out / inputs["traces"]["copy"] / "piu1.csv").is_file()
    # the run directory alone repeats the run, with the originals gone
    shutil.rmtree(src)
    moved = tmp_path / "elsewhere"
    shutil.move(out, moved)
    again = tmp_path / "again"
    assert main(["run", str(moved / "scenario.toml"), "--out", str(again), "--quiet"]) == 0
    first = pd.read_parquet(moved / "events.parquet")
    second = pd.read_parquet(again / "events.parquet")
    assert log_digest(first) == log_digest(second)
    assert (first.event == "offline").any()  # the copied trace was used
    repeated = json.loads((again / "manifest.json").read_text())
    assert repeated["scenario_sha256"] == manifest["scenario_sha256"]


def test_a_sweep_over_a_topology_file_runs_and_resumes(tmp_path):
    _hall(tmp_path)
    scenario = _scenario_file(tmp_path, topology={"kind": "file", "path": "hall.graphml"})
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'base = "{scenario}"\nseeds = [1]\n[grid]\n"radio.bandwidth_hz" = [1e6, 2e6]\n'
    )
    out = tmp_path / "sweep"
    assert main(["sweep", str(sweep), "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table.status) == ["ok", "ok"], table.error.tolist()
    stamp = (out / "p000-seed1" / "manifest.json").stat().st_mtime_ns
    assert main(["sweep", str(sweep), "--out", str(out), "--quiet"]) == 0  # resumes: reuses
    assert list(pd.read_csv(out / "results.csv").status) == ["ok", "ok"]
    assert (out / "p000-seed1" / "manifest.json").stat().st_mtime_ns == stamp


def test_a_data_folder_is_referenced_by_path_and_sha256(tmp_path):
    (tmp_path / "mnist").mkdir()
    data = _mnist_folder(tmp_path / "mnist")
    scenario = load_scenario(
        _scenario_file(
            tmp_path,
            protocol={"rounds": 1},
            learning={**TINY["learning"], "dataset": "mnist", "data_path": str(data)},
        )
    )
    from netsim import Simulation

    out = Simulation(scenario).run().save(tmp_path / "run")
    record = json.loads((out / "manifest.json").read_text())["inputs"]["data"]
    assert record["path"] == str(data)
    assert record["sha256"]["train-images-idx3-ubyte.gz"] == file_sha256(
        data / "train-images-idx3-ubyte.gz"
    )
    assert len(record["sha256"]) == 4
    assert not (out / "inputs").exists()  # data sets are not copied
    assert load_scenario(out / "scenario.toml") == scenario
