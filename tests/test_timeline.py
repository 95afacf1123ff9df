"""Exact timeline: constant compute and channel, 3 PIUs, every event time by hand."""

from __future__ import annotations

import math

import pytest

from netsim import Simulation
from tests.conftest import LINE_POSITIONS, snr_linear, tiny

MLP_DIGITS_PARAMS = (64 * 200 + 200) + (200 * 200 + 200) + (200 * 10 + 10)  # 55,210
MODEL_BITS = 32 * MLP_DIGITS_PARAMS  # dense float32


def hand_timeline(scenario):
    """(t, node, event) of one TDMA round, computed from the scenario's numbers."""
    b = scenario.radio.bandwidth_hz
    cap, lat = scenario.backhaul.capacity_bps, scenario.backhaul.latency_s
    dist = [math.hypot(*p) for p in LINE_POSITIONS]
    backhaul = MODEL_BITS / cap + lat  # serialisation + latency
    # Multicast at the weakest PIU's downlink SNR (AP 30 dBm).
    dl = MODEL_BITS / (b * math.log2(1 + snr_linear(max(dist), 30.0, scenario)))
    t_rx = backhaul + dl
    compute = 4 * 2.5e7 / 1e9  # 1 step x batch 4 samples x C / f = 0.1 s
    t_train_end = t_rx + compute
    airtime = [MODEL_BITS / (b * math.log2(1 + snr_linear(d, 20.0, scenario))) for d in dist]
    tx_end = []
    t = t_train_end
    for a in airtime:  # TDMA: one after another in request (= index) order
        t += a
        tx_end.append(t)
    arrive = [te + backhaul for te in tx_end]
    t_end = arrive[-1] + 0.01
    ev = [(0.0, "server", "broadcast"), (backhaul, "ap0", "dl_start")]
    ev += [(t_rx, "ap0", "dl_end")]
    for k in range(3):
        ev += [(t_rx, f"piu{k}", "rx_model"), (t_rx, f"piu{k}", "train_start")]
    ev += [(t_train_end, f"piu{k}", "train_end") for k in range(3)]
    ev += [(t_train_end, "piu0", "tx_start")]
    for k in range(3):
        ev += [(tx_end[k], f"piu{k}", "tx_end")]
        if k < 2:
            ev += [(tx_end[k], f"piu{k + 1}", "tx_start")]
        ev += [(tx_end[k], "ap0", "fwd_start")]
        ev += [(arrive[k], "ap0", "fwd_end"), (arrive[k], "server", "rx_update")]
    ev += [(t_end, "server", "aggregate"), (t_end, "server", "evaluate")]
    return ev, t_end, airtime


def test_exact_timeline_of_one_tdma_round():
    scenario = tiny()
    expected, t_end, airtime = hand_timeline(scenario)
    res = Simulation(scenario).run()
    got = list(zip(res.events["t_s"], res.events["node"], res.events["event"], strict=True))
    assert [(n, e) for _, n, e in got] == [(n, e) for _, n, e in expected]
    for (t_got, node, event), (t_exp, _, _) in zip(got, expected, strict=True):
        assert t_got == pytest.approx(t_exp, rel=1e-12, abs=1e-12), (node, event)
    assert res.rounds["t_end_s"].iloc[0] == pytest.approx(t_end, rel=1e-12)
    tx = res.events[res.events["event"] == "tx_end"]
    assert list(tx["duration_s"]) == pytest.approx(airtime, rel=1e-12)
    assert list(tx["bits"]) == [MODEL_BITS] * 3


def test_fdma_transmits_in_parallel_on_a_third_of_the_band():
    scenario = tiny(radio={**tiny().radio.model_dump(), "access": "fdma"})
    res = Simulation(scenario).run()
    ev = res.events
    starts = ev[ev["event"] == "tx_start"]["t_s"].to_numpy()
    assert starts == pytest.approx([starts[0]] * 3)  # nobody queues
    b = scenario.radio.bandwidth_hz / 3
    for k, (x, y) in enumerate(LINE_POSITIONS):
        snr = snr_linear(math.hypot(x, y), 20.0, scenario) * 3  # noise in B/3 is a third
        airtime = MODEL_BITS / (b * math.log2(1 + snr))
        row = ev[(ev["node"] == f"piu{k}") & (ev["event"] == "tx_end")]
        assert row["duration_s"].item() == pytest.approx(airtime, rel=1e-12)


def test_rounds_follow_each_other_without_gaps():
    res = Simulation(tiny(protocol={"rounds": 3})).run()
    r = res.rounds
    assert list(r["round"]) == [0, 1, 2]
    assert r["t_start_s"].iloc[1:].to_numpy() == pytest.approx(r["t_end_s"].iloc[:-1].to_numpy())
    assert (r["aggregated"] == 3).all()
