"""Learning on the simulator's radio data sets (netsim/learn/radio_tasks.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from netsim import Simulation, load_scenario
from netsim.assembly.radio_data import radio_dataset
from netsim.learn.radio_tasks import RadioDataError, radio_task
from netsim.scenario import ScenarioError

BASE = [
    "radio.spatial_consistency_m=10.0",
    'mobility={model = "random_waypoint", speed_mps = 3.0}',
    "learning.radio_data={samples_per_piu = 30}",
    'learning.dataset="radio"',
    'learning.model="mlp"',
    "protocol.rounds=2",
    "learning.local_steps=3",
]


def _scenario(task: str, *more: str):
    return load_scenario("topologies/multi_ap.toml", [*BASE, f'learning.task="{task}"', *more])


def test_localization_reports_the_test_errors_in_metres():
    s = _scenario("localization")
    sim = Simulation(s)
    res = sim.run()
    data = radio_dataset(s)
    task = radio_task(data, "localization", 8)
    # the test set is the data set's own test rows, the partition each PIU's own rows
    assert len(sim.world.trainer.test_y) == int((data.split == "test").sum())
    groups = task.groups[~task.test]
    for k, part in enumerate(sim.partitions):
        assert np.array_equal(np.sort(part), np.flatnonzero(groups == k))
    # the errors: |prediction - truth| in metres, recomputed from the final model
    trainer = sim.world.trainer
    trainer._load(res.weights)
    predicted = trainer.model(trainer.test_x).detach().double().numpy()
    xy = data.loc[data.split == "test", ["x_m", "y_m"]].to_numpy()
    errors = np.linalg.norm(predicted * task.target_scale + task.target_mean - xy, axis=1)
    last = res.rounds.iloc[-1]
    # float32 model outputs times a ~100 m scale: ~1e-5 m
    assert last.test_median_error_m == pytest.approx(np.median(errors), abs=1e-3)
    assert last.test_p90_error_m == pytest.approx(np.percentile(errors, 90), abs=1e-3)
    assert np.isnan(last.test_accuracy)
    # one pass over the test set gives exactly what evaluate and position_errors give apart
    loss, one_pass = trainer.evaluate_positions(res.weights)
    assert loss == trainer.evaluate(res.weights)[0] == last.test_loss
    assert np.array_equal(one_pass, trainer.position_errors(res.weights))


def test_los_and_snr_targets_come_from_the_measurements():
    data = radio_dataset(_scenario("los", 'radio.pathloss={model = "umi_38901"}'))
    los = radio_task(data, "los", 8)
    serving = data.serving_ap.to_numpy()
    expected = data.filter(like="los_").to_numpy()[np.arange(len(data)), serving]
    assert np.array_equal(los.y, expected.astype(np.int64)) and 0 < los.y.mean() < 1
    snr = radio_task(data, "snr", 4)
    assert len(snr.y) == data.piu.nunique() * (30 - 4)
    # PIU 0's first target is its 5th SNR; its features the 4 before (standardised)
    first = data[data.piu == 0].snr_db.to_numpy()
    assert snr.y[0] * snr.target_scale + snr.target_mean[0] == pytest.approx(first[4], abs=1e-4)
    # the features: each target's 4 predecessors, standardised over the training rows
    history = np.concatenate([
        np.array([g.snr_db.to_numpy()[i - 4 : i] for i in range(4, 30)])
        for _, g in data.groupby("piu")
    ])  # fmt: skip
    train = ~snr.test
    mu, sd = history[train].mean(axis=0), history[train].std(axis=0)
    np.testing.assert_allclose(snr.x[:, 0, 0, :], (history - mu) / sd, rtol=1e-5, atol=1e-6)


def test_a_data_set_written_by_the_cli_trains_the_same_as_one_generated(tmp_path):
    from netsim.cli import main

    out = tmp_path / "radio.csv"
    args = ["dataset", "radio", "topologies/multi_ap.toml"]
    for o in BASE[:3]:
        args += ["--set", o]
    assert main([*args, "--out", str(out)]) == 0
    generated = Simulation(_scenario("localization")).run()
    read = Simulation(_scenario("localization", f'learning.data_path="{out}"')).run()
    assert generated.rounds.test_median_error_m.tolist() == pytest.approx(
        read.rounds.test_median_error_m.tolist(), rel=1e-5
    )  # CSV keeps 15-17 significant digits: the same model to float32 rounding
    # and from the command line: the run directory records the data file's SHA-256
    run_dir = tmp_path / "run"
    sets = [x for o in [*BASE, 'learning.task="localization"', f'learning.data_path="{out}"']
            for x in ("--set", o)]  # fmt: skip
    assert main(["run", "topologies/multi_ap.toml", *sets, "--out", str(run_dir), "--quiet"]) == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert list(manifest["inputs"]["data"]["sha256"]) == ["radio.csv"]
    rounds = pd.read_parquet(run_dir / "rounds.parquet")
    assert rounds.test_median_error_m.tolist() == read.rounds.test_median_error_m.tolist()


def test_radio_tasks_name_bad_input(tmp_path):
    with pytest.raises(ScenarioError, match="learning.task = 'classification'.*radio"):
        load_scenario(None, ['learning.dataset="radio"'])
    with pytest.raises(ScenarioError, match="learning.task = 'localization'.*dataset = 'radio'"):
        load_scenario(None, ['learning.task="localization"'])
    bad = tmp_path / "other.csv"
    pd.DataFrame({"a": [1.0], "label": [0]}).to_csv(bad, index=False)
    with pytest.raises(ScenarioError, match="learning.data_path.*not a radio data set"):
        Simulation(_scenario("localization", f'learning.data_path="{bad}"'))
    with pytest.raises(RadioDataError, match="unknown radio task"):
        radio_task(radio_dataset(_scenario("los")), "speed", 8)
