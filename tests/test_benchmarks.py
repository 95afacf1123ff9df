"""The benchmark harness keeps working (what it measures is in benchmarks/, never asserted
here: speed is not a test)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.bench_scale import run_point, scale_overrides


def test_the_scale_scenario_selects_the_requested_cohort_each_round():
    assert "protocol.clients_per_round=20" in scale_overrides(60, 20)
    assert not any("clients_per_round" in o for o in scale_overrides(20, 20))
    point = run_point(60, 20, 2)  # 60 PIUs on 100 cell-free APs, 20 train per round
    assert point["updates"] == 40
    assert point["events"] > 0 and point["peak_gb"] > 0 and 0 <= point["accuracy"] <= 1


def test_the_experiments_scenarios_are_valid():
    # a typo in an experiment's overrides would only show after an hour of runs
    from benchmarks import experiments as ex
    from netsim import load_scenario

    for sets, position in ex.dp_configs().values():
        load_scenario(None, ["protocol.rounds=2", *ex.DP_UTILITY, *sets])
        attack = load_scenario(None, [*ex.DP_ATTACK, *sets, ex._dlg(position)])
        assert attack.attack.position == position and attack.protocol.clients_per_round == 1
    for configs, base in (
        (ex.ALGORITHMS, ex.ALGORITHM_BASE),
        (ex.BYZANTINE_RULES, ex.BYZANTINE_BASE),
    ):
        for sets in configs.values():
            load_scenario(None, [*base, *sets])


def test_the_reproductions_configs_are_valid_and_their_claims_name_them():
    from benchmarks import experiments as ex
    from netsim import load_scenario

    studies = {
        "afcfl": ([c.label for c in ex.afcfl_configs(3)], [(None, c) for c in ex.afcfl_configs(3)]),
        "pruning": (
            [c.label for c in ex.pruning_configs(8)],
            [("iiot_ota", c) for c in ex.pruning_configs(8)],
        ),
        "privacy": (
            [c.label for c in ex.privacy_configs(3)],
            [(None, c) for c in ex.privacy_configs(3)],
        ),
        "allocation": (
            [f"{m} {k}" for m in ("sqp", "dinkelbach", "max_sum_rate", "full_power")
             for k in ("EMQ", "full")],
            [],
        ),
    }  # fmt: skip
    for name, (labels, configs) in studies.items():
        for scenario, cfg in configs:
            load_scenario(scenario, list(cfg.overrides))
        for claim in ex.CLAIMS[name]:
            assert {claim.winner, claim.baseline} <= set(labels), (name, claim)
        assert ex.FIGURES[name][0]  # a figure metric
    # IMP lands exactly on each sparsity
    imp = [c for c in ex.pruning_configs(60) if c.label == "IMP 98% full"][0]
    spec = load_scenario("iiot_ota", list(imp.overrides)).pruning
    assert (1 - spec.rate) ** spec.levels == pytest.approx(0.02, rel=1e-5)


def test_a_run_trains_with_its_threads_and_gives_the_callers_back():
    import torch

    from netsim import Simulation
    from tests.conftest import tiny

    seen: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        s = tiny(learning={**tiny().learning.model_dump(), "threads_per_worker": 1})
        sim = Simulation(s, on_round=lambda _r: seen.append(torch.get_num_threads()))
        sim.run()
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
        # the thread count changes the arithmetic's order: the cache keeps them apart
        other = Simulation(tiny(learning={**tiny().learning.model_dump(),
                                          "threads_per_worker": None}))  # fmt: skip
        assert sim.trainer.fingerprint() != other.trainer.fingerprint()
    finally:
        torch.set_num_threads(before)


def test_the_hex_scale_scenario_runs():
    point = run_point(60, 20, 1, "hex")  # 57 UMi cells, 20 of 60 PIUs a round
    assert point["updates"] == 20 and 0 <= point["accuracy"] <= 1


def test_the_flower_app_holds_netsims_workload(tmp_path, monkeypatch):
    """The Flower side trains the same LeNet-5 from the same weights on the same data."""
    import numpy as np
    import torch

    from benchmarks.bench_flower import APP, _scenario, save_workload
    from netsim import Simulation

    monkeypatch.syspath_prepend(str(APP))
    from netsim_flower.task import Net, load

    save_workload(tmp_path)
    sim = Simulation(_scenario(1))
    net = Net()
    net.load_state_dict(torch.load(tmp_path / "initial.pt"))  # strict: same layers and shapes
    x, y = load(str(tmp_path), "part7")
    assert torch.equal(y, sim.trainer.train_y[torch.as_tensor(sim.partitions[7])])
    ours = sim.trainer.model  # netsim's model in its training layout (the same as Flower's)
    ours.load_state_dict(sim.trainer.state_dict(sim.server.weights))
    with torch.no_grad():
        torch.testing.assert_close(net(x), ours.eval()(x), rtol=0, atol=0)
    assert len(list(tmp_path.glob("part*.npz"))) == 100
    assert np.load(tmp_path / "test.npz")["x"].shape[1:] == (1, 28, 28)


def test_finished_runs_are_kept_in_the_partial_table(tmp_path, monkeypatch, capsys):
    from benchmarks import experiments

    partial = tmp_path / "study.csv.partial"
    monkeypatch.setattr(experiments, "PARTIAL", [partial])
    experiments.finished({"config": "a", "seed": 1, "accuracy": 0.5})
    experiments.finished({"config": "a", "seed": 2, "accuracy": 0.75})
    table = pd.read_csv(partial)
    assert table.to_dict("list") == {"config": ["a", "a"], "seed": [1, 2], "accuracy": [0.5, 0.75]}
    assert "config=a, seed=2, accuracy=0.75" in capsys.readouterr().err


def test_a_study_does_not_start_over_an_interrupted_ones_rows(tmp_path):
    from benchmarks import experiments

    partial = tmp_path / "study.csv.partial"
    partial.write_text("config,seed\na,1\n")
    with pytest.raises(SystemExit, match="interrupted study"):
        experiments.main(["pruning", "--csv", str(tmp_path / "study.csv"), "--out", ""])
    assert partial.read_text() == "config,seed\na,1\n"


def test_the_calibration_code_path():
    import numpy as np

    from benchmarks.bench_calibration import SETUPS, metrics, overrides, sionna_wrap_gap
    from netsim import load_scenario

    # two sectors, -100 and -110 dB at 35 dBm: SINR = S / (I + N) by hand
    cg, geo = metrics(np.array([[-100.0, -110.0]]), 35.0)
    noise_mw = 10 ** ((-174 + 10 * np.log10(20e6) + 9) / 10)
    by_hand = 10 * np.log10(10**-6.5 / (10**-7.5 + noise_mw))
    assert cg[0] == -100.0 and geo[0] == pytest.approx(by_hand, abs=1e-9)
    for setup in SETUPS:
        for indoor in (False, True):
            s = load_scenario("hex_umi", overrides(setup, indoor))
            assert s.topology.n_aps == 57 and s.radio.large_scale_per_site
    # Sionna 2.2's wrap-around translations put a site 0.60 ISD from another's image
    assert sionna_wrap_gap(200.0) == pytest.approx(0.60, abs=0.01)


def test_the_nr_acceptance_row_reads_its_numbers_from_the_log():
    from netsim.analysis.kpis import throughput_per_piu

    from benchmarks.bench_nr_acceptance import MIN_BLOCKS, _row, outer_loops
    from netsim import Simulation
    from tests.conftest import tiny

    radio = {**tiny().radio.model_dump(), "link": "nr"}
    sim = Simulation(tiny(protocol={"rounds": 2}, radio=radio))
    res = sim.run()
    twin = throughput_per_piu(res.events).set_index("piu").throughput_bps
    row = _row("tiny", sim, res, twin / 2)  # a Shannon twin at half the throughput: ratio 2
    assert row["uploads"] == 2 * 3 and row["uploads_lost"] == 0.0
    assert row["nr_over_shannon"] == pytest.approx(2.0) and row["lost_reasons"] == "-"
    assert row["round_s"] == res.rounds.duration_s.mean()
    # the outer loops' record: every link judged is counted once, steered or at an end
    loops = outer_loops(sim)
    assert (loops.blocks >= MIN_BLOCKS).sum() == row["links_20"] + row["at_end"] > 0
    assert row["rlc_retx"] == res.events["rlc_retx"].sum()
    steered = loops[(loops.blocks >= MIN_BLOCKS) & (loops.at_end <= 0.1 * loops.blocks)]
    assert row["bler_max"] == pytest.approx(steered.bler.max(), nan_ok=True)


def test_the_network_benchmark_points_are_valid_and_its_exponent_is_a_slope():
    import pandas as pd

    from benchmarks.bench_network import MODES, PER_SECTOR, SITES, exponent, overrides
    from netsim import load_scenario

    for sites in SITES:
        for mode in MODES:
            s = load_scenario("hex_umi", overrides(sites, PER_SECTOR[0], mode))
            assert s.topology.num_pius == 3 * sites * PER_SECTOR[0]
            assert s.protocol.clients_per_round == s.topology.num_pius  # all training
    # run time ~ PIUs^2 exactly: slope 2
    table = pd.DataFrame({"mode": "pf", "sites": 7, "pius": [10, 20, 40], "run_s": [1, 4, 16]})
    assert exponent(table, "pf", 7) == pytest.approx(2.0)
