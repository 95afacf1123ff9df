"""Cell-free access in the simulation: everybody transmits at once at the closed-form rate."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import Simulation, load_scenario
from netsim.radio.cellfree import assign_pilots, estimation_quality, mr_sinr, uplink_rate_bps
from netsim.scenario import Scenario
from tests.conftest import TINY, tiny


def _cellfree(**radio):
    base = tiny()
    return Scenario.from_dict(
        {
            **TINY,
            "topology": {
                "kind": "grid",
                "num_pius": 12,
                "aps_per_side": 3,
                "side_m": 600.0,
                "wrap_around": True,
                "ap_height_m": 11.5,
                "piu_height_m": 1.5,
            },
            "radio": {
                **base.radio.model_dump(),
                "access": "cellfree",
                "bandwidth_hz": 20e6,
                "pathloss": {"model": "cellfree_book"},
                "shadowing_std_db": 4.0,
                "antennas_per_ap": 4,
                "pilot_length": 4,
                "coherence_symbols": 200,
                **radio,
            },
        }
    )


def test_uploads_run_in_parallel_at_the_closed_form_rate():
    scenario = _cellfree()
    sim = Simulation(scenario)
    res = sim.run()
    ev = res.events
    tx = ev[ev["event"] == "tx_end"].set_index("node")
    beta = sim.gain / (sim.channel.band.noise_psd_w_hz * 20e6)
    rho = np.full(12, 0.1)
    pilots = assign_pilots(beta, 4)
    sinr = mr_sinr(beta, estimation_quality(beta, pilots, rho, 4), pilots, rho, np.ones(12), 4)
    rate = uplink_rate_bps(sinr, 20e6, 4, 200)
    for k in range(12):
        row = tx.loc[f"piu{k}"]
        assert row["rate_bps"] == pytest.approx(rate[k], rel=1e-12)
        assert row["duration_s"] == pytest.approx(row["bits"] / rate[k], rel=1e-12)
        assert row["snr_db"] == pytest.approx(10 * np.log10(sinr[k]), rel=1e-12)
    starts = ev[ev["event"] == "tx_start"]["t_s"].to_numpy()
    train_ends = ev[ev["event"] == "train_end"]["t_s"].to_numpy()
    assert np.array_equal(starts, train_ends)  # nobody queues: all APs hear everybody


def test_wrap_around_uses_distances_on_the_torus():
    from netsim.topologies import positions

    from netsim.radio.pathloss import cellfree_book_db

    sim = Simulation(_cellfree(shadowing_std_db=0.0))
    ap_xy, _ = positions(sim.topology, "ap")
    piu_xy, _ = positions(sim.topology, "piu")
    delta = np.abs(piu_xy[:, None] - ap_xy[None])
    wrapped = np.linalg.norm(np.minimum(delta, 600.0 - delta), axis=-1)
    loss_db = -10 * np.log10(sim.gain)
    assert loss_db == pytest.approx(cellfree_book_db(np.hypot(wrapped, 10.0)), abs=1e-9)
    assert (wrapped < np.linalg.norm(delta, axis=-1) - 1.0).any()  # wrapping mattered


def test_bundled_cellfree_scenario_is_valid():
    s = load_scenario("topologies/cellfree.toml")
    assert (s.radio.access, s.topology.n_pius, s.radio.antennas_per_ap) == ("cellfree", 40, 4)


def test_fixed_rate_with_cellfree_is_refused():
    from netsim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="radio.target_rate_bps"):
        _cellfree(target_rate_bps=1e6)


def test_lsfd_combining_gives_every_piu_at_least_the_mr_rate():
    mr = Simulation(_cellfree()).run().events
    lsfd = Simulation(_cellfree(combining="lsfd")).run().events
    rate_mr = mr[mr["event"] == "tx_end"].set_index("node")["rate_bps"]
    rate_lsfd = lsfd[lsfd["event"] == "tx_end"].set_index("node")["rate_bps"].loc[rate_mr.index]
    assert (rate_lsfd >= rate_mr * (1 - 1e-12)).all()
    assert (rate_lsfd > rate_mr * 1.01).any()


def _allocated(**allocation):
    return _cellfree().with_overrides(
        [f"allocation.{k}={v!r}".replace("'", '"') for k, v in allocation.items()]
        + ["protocol.rounds=2", "learning.local_steps=3"]
    )


def test_the_servers_allocation_sets_each_pius_power_rate_and_steps():
    """The PIUs transmit at eta_k P_u, at the closed-form rate of the allocated powers of the
    selected PIUs, and train the allocated local steps; the round is logged."""
    from netsim.radio.allocation import RoundCosts, allocate, latencies_s

    scenario = _allocated(method="sqp", steps_min=1, steps_max=5)
    sim = Simulation(scenario)
    res = sim.run()
    ev = res.events
    alloc = ev[ev["event"] == "allocate"]
    assert len(alloc) == 2 and alloc["detail"].str.startswith("method=sqp").all()
    # Re-run the first round's allocation independently from the same inputs.
    allocator = sim.server.allocator
    k = len(sim.pius)
    planned = sim.server.compressor.planned_bits(res.weights.numel())
    bits = np.full(k, float(planned))
    settings = allocator.settings
    costs = RoundCosts(bits, allocator.step_time_s, allocator.step_energy_j, 0.1)
    model = allocator.uplink.sinr_model(np.arange(k))  # every PIU is selected
    expected = allocate(model, costs, settings)
    tx = ev[(ev["event"] == "tx_end") & (ev["round"] == 0)].sort_values(
        "node", key=lambda n: n.str[3:].astype(int)
    )
    assert np.allclose(tx["power_w"], 0.1 * expected.eta, rtol=1e-6)
    assert np.allclose(tx["rate_bps"], model.rate_bps(expected.eta), rtol=1e-6)
    assert np.allclose(tx["duration_s"], bits / model.rate_bps(expected.eta), rtol=1e-6)
    train = ev[(ev["event"] == "train_start") & (ev["round"] == 0)].sort_values(
        "node", key=lambda n: n.str[3:].astype(int)
    )
    assert np.allclose(train["duration_s"], expected.steps * allocator.step_time_s, rtol=1e-9)
    assert expected.steps.sum() >= 3 * k
    # And the simulated latency of each PIU is what the allocation predicted (no deadline,
    # no stragglers, cell-free: everybody transmits at once).
    lat = latencies_s(model, costs, expected.eta, expected.steps)
    done = (
        tx["t_s"].to_numpy()
        - ev[(ev["event"] == "rx_model") & (ev["round"] == 0)]
        .sort_values("node", key=lambda n: n.str[3:].astype(int))["t_s"]
        .to_numpy()
    )
    assert np.allclose(done, lat, rtol=1e-6)


def test_an_infeasible_energy_budget_is_logged_and_the_round_runs_at_full_power():
    res = Simulation(_allocated(method="sqp", energy_budget_j=1e-12)).run()
    ev = res.events
    fallback = ev[ev["event"] == "allocation_fallback"]
    assert len(fallback) == 2 and fallback["detail"].str.contains("no feasible point").all()
    tx = ev[ev["event"] == "tx_end"]
    assert np.allclose(tx["power_w"], 0.1) and len(res.rounds) == 2


def test_allocation_needs_a_cellfree_mr_uplink():
    from netsim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="allocation.method = 'sqp'.*radio.access"):
        load_scenario(None, ['allocation.method="sqp"'])


def test_only_the_pius_sending_in_a_round_interfere():
    """allocation.method = "none": every PIU sends pilots, but a round's interference comes
    from the PIUs selected in it (5 of 12 here), as the allocators assume."""
    scenario = _cellfree().with_overrides(["protocol.clients_per_round=5", "protocol.rounds=2"])
    sim = Simulation(scenario)
    ev = sim.run().events
    beta = sim.gain / (sim.channel.band.noise_psd_w_hz * 20e6)
    rho = np.full(12, 0.1)
    pilots = assign_pilots(beta, 4)
    gamma = estimation_quality(beta, pilots, rho, 4)
    for r in (0, 1):
        tx = ev[(ev["event"] == "tx_end") & (ev["round"] == r)]
        sending = sorted(int(n.removeprefix("piu")) for n in tx["node"])
        assert len(sending) == 5
        keep = np.array(sending)
        sinr = mr_sinr(beta[keep], gamma[keep], pilots[keep], rho[keep], np.ones(5), 4)
        everyone = mr_sinr(beta, gamma, pilots, rho, np.ones(12), 4)[keep]
        assert (sinr > everyone).all()  # fewer interferers than all 12
        for node, rate in zip(tx["node"], tx["rate_bps"], strict=True):
            i = sending.index(int(node.removeprefix("piu")))
            assert rate == pytest.approx(uplink_rate_bps(sinr, 20e6, 4, 200)[i], rel=1e-12)


def test_device_classes_of_different_powers_can_be_allocated():
    """Each PIU's allocated power is its coefficient times its own full power."""
    classes = [
        {"name": "weak", "pius": [0, 1, 2, 3], "tx_power_dbm": 10.0},
        {"name": "strong", "pius": [4, 5, 6, 7], "tx_power_dbm": 23.0},
    ]
    base = _cellfree()
    scenario = Scenario.from_dict(
        {
            **base.to_dict(),
            "device": {**base.device.model_dump(), "classes": classes},
            "allocation": {"method": "sqp"},
        }
    )
    ev = Simulation(scenario).run().events
    tx = ev[ev["event"] == "tx_start"].set_index("node")
    for k in range(12):
        cap_w = 10 ** ((10.0 if k < 4 else 23.0 if k < 8 else 20.0) / 10) / 1e3
        assert 0 < tx.loc[f"piu{k}", "power_w"] <= cap_w * (1 + 1e-12)
    assert (ev["event"] == "allocate").any()
