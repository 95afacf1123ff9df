"""Mobility: trajectories, path loss that follows the position, handover."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim import Simulation
from netsim.device.mobility import Trajectory, along_path, random_waypoint
from netsim.radio.pathloss import db_to_linear
from netsim.scenario import ScenarioError
from tests.conftest import snr_linear, tiny


def test_a_path_is_walked_there_and_back_at_constant_speed():
    traj = Trajectory(along_path([[0, 0], [30, 0], [30, 40]], speed_mps=10.0))
    assert traj.position(0.0).tolist() == [0.0, 0.0]
    assert traj.position(1.5).tolist() == [15.0, 0.0]
    assert traj.position(5.0).tolist() == [30.0, 20.0]  # 3 s along x, then 2 s up
    assert traj.position(7.0).tolist() == [30.0, 40.0]  # the end, then back
    assert traj.position(8.0).tolist() == [30.0, 30.0]
    assert traj.position(14.0 + 1.0).tolist() == pytest.approx([10.0, 0.0])  # back at 0 at 14 s


def test_random_waypoint_stays_in_its_area_within_its_speeds():
    area = (-5.0, 0.0, 20.0, 10.0)
    legs = random_waypoint([0, 0], area, 1.0, 3.0, 0.5, np.random.default_rng(2))
    walked = [next(legs) for _ in range(400)]
    for leg in walked:
        assert area[0] <= leg.end[0] <= area[2] and area[1] <= leg.end[1] <= area[3]
        span = leg.t1_s - leg.t0_s
        if leg.start == leg.end:
            assert span == pytest.approx(0.5)  # pause
        else:
            assert 1.0 - 1e-9 <= math.dist(leg.start, leg.end) / span <= 3.0 + 1e-9
    assert all(a.t1_s == b.t0_s and a.end == b.start for a, b in zip(walked, walked[1:]))


def _moving(path, rounds=1, aps=None, **mobility):
    topology = {"ap_positions_m": aps} if aps else {}
    cfg = {"model": "path", "pius": [2], "path_m": path, "speed_mps": 10.0, "update_s": 0.05}
    return tiny(topology=topology, mobility={**cfg, **mobility}, protocol={"rounds": rounds})


def _gain(distance_m: float) -> float:
    return db_to_linear(-(40.0 + 30.0 * math.log10(distance_m)))  # TINY's log-distance model


def test_a_moving_pius_path_loss_follows_its_position():
    s = _moving([[40.0, 0.0], [80.0, 0.0]])
    sim = Simulation(s)
    sim.env.run(until=1.0)  # the last update before 1 s was at 0.95 s: x = 40 + 9.5
    assert sim.channel.gain[2, 0] == pytest.approx(_gain(49.5), rel=1e-12)
    sim.env.run(until=3.0)  # last update at 2.95 s: x = 69.5
    assert sim.channel.gain[2, 0] == pytest.approx(_gain(69.5), rel=1e-12)
    assert sim.channel.gain[1, 0] == pytest.approx(_gain(20.0), rel=1e-12)  # PIU 1 stays


def test_an_upload_sees_the_link_at_the_pius_position():
    res = Simulation(_moving([[40.0, 0.0], [80.0, 0.0]])).run()
    e = res.events
    tx = e[(e.event == "tx_end") & (e.node == "piu2")].iloc[0]
    start = tx.t_s - tx.duration_s  # 0.3936 s: the gains of the 0.35 s update, x = 43.5 m
    x = 40.0 + 10.0 * (math.floor(start / 0.05) * 0.05)
    snr = snr_linear(x, 20.0, res.scenario)
    assert tx.snr_db == pytest.approx(10 * math.log10(snr), abs=1e-9)


def test_handover_to_the_stronger_ap_with_hysteresis():
    aps = [[0.0, 0.0], [100.0, 0.0]]
    s = _moving([[10.0, 0.0], [90.0, 0.0]], rounds=12, aps=aps, speed_mps=20.0)
    res = Simulation(s).run()
    e = res.events
    hand = e[e.event == "handover"]
    # (d0 / d1)^3 > 10^(3 / 10) <=> d0 > 100 r / (1 + r), r = 10^0.1: d0 > 55.73 m, i.e.
    # after (55.73 - 10) / 20 = 2.287 s; the first update after that is at 2.30 s
    r = 10**0.1
    t_cross = (100 * r / (1 + r) - 10.0) / 20.0
    t_first = math.ceil(t_cross / 0.05) * 0.05
    assert hand.detail.tolist()[0] == "ap0 -> ap1"
    assert hand.t_s.iloc[0] == pytest.approx(t_first)
    assert hand.snr_db.iloc[0] > 3.0
    # after it, PIU 2's models come from ap1 (a multicast by ap1 right before)
    got = e[(e.node == "piu2") & (e.event == "rx_model") & (e.t_s > hand.t_s.iloc[0])]
    assert len(got) > 0
    first = got.iloc[0]
    sent = e[(e.event == "dl_end") & (e.t_s == first.t_s)]
    assert "ap1" in sent.node.tolist()


def test_mobility_settings_are_checked():
    with pytest.raises(ScenarioError, match="mobility.path_m"):
        tiny(mobility={"model": "path", "path_m": [[1.0, 1.0]]})
    with pytest.raises(ScenarioError, match="mobility.pius"):
        tiny(mobility={"model": "random_waypoint", "pius": [3]})


def test_a_piu_handed_over_while_its_model_is_on_the_way_gets_it_from_the_new_ap():
    """The issue's reproducer (KeyError in AccessPoint._multicast before): PIUs walking
    across the multi-AP grid at 20 m/s. piu19 leaves ap1 while ap1 multicasts round 1's
    model; ap1 forwards it over its backhaul to the new AP, which sends it on."""
    from netsim.scenario import load_scenario

    walk = 'mobility={model = "random_waypoint", speed_mps = 20.0, pause_s = 0.0, update_s = 0.5}'
    scenario = load_scenario("multi_ap", ["protocol.rounds=6", walk, "learning.local_steps=2"])
    e = Simulation(scenario).run().events
    forwarded = e[e.event == "dl_forward"]
    assert len(forwarded) >= 1
    for _, fwd in forwarded.iterrows():
        piu = fwd.detail
        mine = e[(e.node == piu) & (e["round"] == fwd["round"])]
        handover = e[(e.node == piu) & (e.event == "handover") & (e.t_s <= fwd.t_s)]
        assert not handover.empty  # it did leave the forwarding AP before
        new_ap = handover.detail.iloc[-1].split(" -> ")[1]
        assert new_ap != fwd.node
        # the model reaches the PIU after the forward, over its new AP's downlink
        got = mine[mine.event == "rx_model"]
        assert len(got) == 1 and float(got.t_s.iloc[0]) > fwd.t_s
        dl = e[(e.node == new_ap) & (e.event == "dl_end") & (e["round"] == fwd["round"])]
        assert (dl.t_s >= fwd.t_s).any()
