"""Training-result cache: exact reuse, exact invalidation; resuming an interrupted run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tomli_w
import torch

from netsim import Simulation
from netsim.cli import main
from netsim.learn.trainer import Trainer
from netsim.log import log_digest
from tests.conftest import TINY, tiny


def _noisy(**learning):
    base = tiny()
    return tiny(
        radio={**base.radio.model_dump(), "fading": "rayleigh"},
        protocol={"rounds": 3},
        learning={**base.learning.model_dump(), **learning},
    )


def test_a_second_identical_run_trains_nothing_and_logs_the_same(tmp_path):
    first = Simulation(_noisy(), cache_dir=tmp_path).run()
    again = Simulation(_noisy(), cache_dir=tmp_path).run()
    assert first.training_jobs_run == 9 and first.training_cache_hits == 0
    assert again.training_jobs_run == 0 and again.training_cache_hits == 9
    assert log_digest(first.events) == log_digest(again.events)
    assert torch.equal(first.weights, again.weights)


def test_what_if_on_radio_only_reuses_every_update(tmp_path):
    first = Simulation(_noisy(), cache_dir=tmp_path).run()
    s = _noisy()
    what_if = s.with_overrides(["radio.bandwidth_hz=3e5", "device.cpu_hz=5e8"])
    res = Simulation(what_if, cache_dir=tmp_path).run()
    assert res.training_jobs_run == 0
    assert torch.equal(first.weights, res.weights)  # same learning, other timeline
    assert res.sim_time_s > first.sim_time_s


def test_a_deadline_what_if_reuses_only_matching_inputs(tmp_path):
    first = Simulation(_noisy(), cache_dir=tmp_path).run()
    arrivals = first.events[first.events["event"] == "rx_update"]
    r0 = arrivals[arrivals["round"] == 0]["t_s"].sort_values().to_numpy()
    deadline = (r0[0] + r0[1]) / 2  # drops two PIUs in round 0: round 1 starts elsewhere
    res = Simulation(
        _noisy().with_overrides([f"protocol.deadline_s={deadline}"]), cache_dir=tmp_path
    ).run()
    assert res.training_cache_hits == 3  # round 0: same model, same batches
    assert res.training_jobs_run > 0  # later rounds start from another global model


@pytest.mark.parametrize(
    "change",
    [{"optimizer": {"name": "sgd", "lr": 0.07}}, {"batch_size": 5}, {"trainer": "batched"}],
)
def test_any_learning_change_invalidates(tmp_path, change):
    Simulation(_noisy(), cache_dir=tmp_path).run()
    res = Simulation(_noisy(**change), cache_dir=tmp_path).run()
    assert res.training_cache_hits == 0


def test_seed_and_architecture_are_in_the_fingerprint(tmp_path):
    Simulation(_noisy(), cache_dir=tmp_path).run()
    other_seed = tiny(seed=8, radio=_noisy().radio.model_dump(), protocol={"rounds": 3})
    assert Simulation(other_seed, cache_dir=tmp_path).run().training_cache_hits == 0
    relu = Simulation(
        tiny(learning={**tiny().learning.model_dump(), "dataset": "mnist5k", "model": "lenet5"})
    ).trainer
    sigm = Simulation(
        tiny(
            learning={
                **tiny().learning.model_dump(),
                "dataset": "mnist5k",
                "model": "lenet5_sigmoid",
            }
        )
    ).trainer
    assert relu.fingerprint() != sigm.fingerprint()


def test_interrupted_cli_run_resumes_and_loses_nothing(tmp_path, monkeypatch, capsys):
    scenario = tmp_path / "s.toml"
    data = {**TINY, "protocol": {"rounds": 4}}
    scenario.write_text(tomli_w.dumps(data))
    reference = tmp_path / "ref"
    assert main(["run", str(scenario), "--out", str(reference), "--quiet"]) == 0

    real = Trainer.run_chunk

    def interrupt_in_round_2(self, grouped, jobs):
        if jobs[0].round == 2:  # the third round's training: Ctrl-C
            raise KeyboardInterrupt
        return real(self, grouped, jobs)

    out = tmp_path / "out"
    monkeypatch.setattr(Trainer, "run_chunk", interrupt_in_round_2)
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 130
    assert "to resume" in capsys.readouterr().err
    assert not out.exists()
    assert len(list((tmp_path / ".out.partial" / "cache").glob("*.pt"))) == 6  # rounds 0, 1

    monkeypatch.setattr(Trainer, "run_chunk", real)
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    assert "resuming the interrupted run" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["training_cache_hits"], manifest["training_jobs_run"]) == (6, 6)
    ref_events = pd.read_parquet(reference / "events.parquet")
    assert log_digest(pd.read_parquet(out / "events.parquet")) == log_digest(ref_events)
    a, b = torch.load(reference / "model.pt"), torch.load(out / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / ".out.partial").exists() and not (out / "cache").exists()


def test_a_stale_staging_directory_of_another_scenario_is_refused(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text(tomli_w.dumps(TINY))
    (tmp_path / ".out.partial").mkdir()
    (tmp_path / ".out.partial" / "scenario.toml").write_text("name = 'other'\n")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 2
    assert "interrupted run of another scenario" in capsys.readouterr().err
    assert np.array_equal(
        sorted(p.name for p in (tmp_path / ".out.partial").iterdir()), ["scenario.toml"]
    )


def test_a_second_run_with_the_same_out_stops_at_once_naming_the_first(
    tmp_path, capsys, monkeypatch
):
    """The first run holds its staging folder (here a child process mid-run, until its
    stdin closes); the second exits 2 before building anything and leaves the folder
    alone."""
    import subprocess
    import sys

    out = tmp_path / "out"
    holder = (
        "import sys\n"
        "from pathlib import Path\n"
        "from netsim.rundir import prepare_run\n"
        f"prepare_run(Path({str(out)!r}), 'name = \"first\"\\n')\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"  # holds the folder until the test lets go (no clock)
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def built(*args, **kwargs):
        raise AssertionError("the second run built a simulation")

    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with monkeypatch.context() as patch:
            patch.setattr("netsim.sim.Simulation", built)  # stopped before any build
            assert main(["run", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"in use by another netsim run (process {child.pid})" in err, err
        staging = tmp_path / ".out.partial"
        assert sorted(p.name for p in staging.iterdir()) == ["owner.pid", "scenario.toml"]
    finally:
        child.kill()
        child.communicate()
    # once the first run is gone (killed: its lock died with it) the folder can be resumed
    assert main(["run", "--out", str(out), "--quiet", "--set", 'name="first"']) == 2
    assert "interrupted run of another scenario" in capsys.readouterr().err
