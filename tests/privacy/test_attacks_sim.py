"""Attacks inside a simulation: what the attacker captures is what the timeline carried,
where and when it carried it; ``netsim attack`` on a finished run gives the same result."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from netsim import Simulation
from netsim.cli import main
from netsim.scenario import ScenarioError
from tests.conftest import tiny

# One digit per upload (batch 1, one SGD step) on DLG's smooth LeNet: an easy target.
EXPOSED = {
    "dataset": "digits",
    "model": "lenet_dlg",
    "local_steps": 1,
    "batch_size": 1,
    "optimizer": {"name": "sgd", "lr": 0.05},
}
BUDGET = {"method": "dlg", "restarts": 1, "iterations": 30}


def _scenario(attack: dict, **sections):
    return tiny(learning=EXPOSED, attack={**BUDGET, **attack}, **sections)


def test_an_honest_but_curious_server_reconstructs_what_it_received():
    res = Simulation(_scenario({"pius": [0, 2], "rounds": [0]})).run()
    rows = res.attacks.rows
    assert sorted(rows.piu) == [0, 2]
    assert (rows.ssim > 0.9).all() and rows.label_correct.all()
    rx = res.events[res.events.event == "rx_update"]
    for _, row in rows.iterrows():  # captured when and as big as the server received it
        at = rx[rx.detail == f"piu{row.piu}"]
        assert row.captured_at_s == pytest.approx(float(at.t_s.iloc[0]))
        assert row.bits == int(at.bits.iloc[0])
    assert set(res.attacks.images) == set(rows.image)


def test_an_eavesdropper_at_the_ap_sees_the_sparse_payload_and_its_indices():
    s = _scenario(
        {"position": "ap", "ap": 0, "pius": [1], "rounds": [0]},
        compression={"method": "topk", "ratio": 0.05},
    )
    sim = Simulation(s)
    res = sim.run()
    (cap,) = sim.attacker.captures
    obs = cap.observation
    kept = int(0.05 * obs.delta.numel())
    assert int(obs.sent.sum()) == kept  # the indices the payload carried
    assert int((obs.delta != 0).sum()) <= kept
    fwd = res.events[(res.events.event == "fwd_start") & (res.events.detail == "piu1")]
    assert cap.time_s == pytest.approx(float(fwd.t_s.iloc[0]))  # heard at the AP, not later
    # 5 % of lenet_dlg's 7.6k entries are ~380 equations for 64 unknown pixels: knowing
    # the indices, the eavesdropper still recovers the 8x8 digit
    assert res.attacks.rows.ssim.iloc[0] > 0.9


def test_over_the_air_the_eavesdropper_only_gets_the_superposition():
    s = _scenario({"position": "ap", "pius": [0], "rounds": [0]}, ota={"enabled": True})
    sim = Simulation(s)
    res = sim.run()
    (cap,) = sim.attacker.captures
    assert cap.contributors == (0, 1, 2)
    assert cap.observation.num_samples == sum(len(p) for p in sim.partitions)
    assert len(res.attacks.rows) == 1


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"attack": {**BUDGET, "position": "ap", "ap": 3}}, "attack.ap"),
        ({"attack": {**BUDGET, "pius": [5]}}, "attack.pius"),
        ({"attack": {**BUDGET, "rounds": [4]}}, "attack.rounds"),
        (
            {"attack": BUDGET, "learning": {**EXPOSED, "optimizer": {"name": "adam"}}},
            "learning.optimizer.name",
        ),
        (
            {"attack": {**BUDGET, "position": "ap"}, "compression": {"method": "laq"}},
            "attack.position",
        ),
    ],
)
def test_bad_attack_settings_are_named(sections, field):
    sections = {"learning": EXPOSED, **sections}
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        Simulation(tiny(**sections))


def test_netsim_attack_on_a_finished_run_equals_the_attack_during_the_run(tmp_path, capsys):
    plain = tiny(learning=EXPOSED, protocol={"rounds": 3})
    scenario_file = tmp_path / "s.toml"
    scenario_file.write_text(plain.to_toml(), encoding="utf-8")
    run_dir = tmp_path / "run"
    assert main(["run", str(scenario_file), "--out", str(run_dir), "--quiet"]) == 0
    args = ["attack", str(run_dir), "--piu", "1", "--round", "1", "--method", "dlg"]
    assert main([*args, "--restarts", "1", "--iterations", "30"]) == 0
    shown = capsys.readouterr()
    assert "written to" in shown.out
    # progress while it works: the replay's rounds, then the attacked uploads
    assert "replay to round 1" in shown.err and "2/2" in shown.err, shown.err
    assert "dlg attack" in shown.err and "1/1" in shown.err, shown.err
    after = pd.read_parquet(run_dir / "attacks" / "attacks.parquet")
    assert (run_dir / "attacks" / "piu1_round1_dlg_server.png").is_file()

    during = tiny(
        learning=EXPOSED, protocol={"rounds": 3}, attack={**BUDGET, "pius": [1], "rounds": [1]}
    )
    rows = Simulation(during).run().attacks.rows
    cols = ["piu", "round", "sample", "true_label", "label", "ssim", "mse", "captured_at_s"]
    pd.testing.assert_frame_equal(after[cols], rows[cols])


def test_netsim_attack_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["attack", str(tmp_path), "--piu", "0", "--round", "0"]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_the_observation_starts_from_the_global_model_of_its_round():
    sim = Simulation(_scenario({"pius": [0], "rounds": [1]}, protocol={"rounds": 2}))
    sim.run()
    (cap,) = sim.attacker.captures
    after_round_0 = Simulation(tiny(learning=EXPOSED, protocol={"rounds": 1})).run().weights
    assert cap.round == 1
    assert torch.equal(cap.observation.weights, after_round_0)
