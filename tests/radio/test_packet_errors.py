"""Fixed-rate transmission with outage: tx_fail, retransmission, lost updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from netsim import Simulation
from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import RayleighBlockFading
from netsim.rng import Streams
from tests.conftest import LINE_POSITIONS, snr_linear, tiny

MODEL_BITS = 32 * 55_210


def _with_rate(rate_bps, retx=2, **radio):
    base = tiny()
    return tiny(
        radio={
            **base.radio.model_dump(),
            "target_rate_bps": rate_bps,
            "max_retransmissions": retx,
            **radio,
        }
    )


def _capacity(k, scenario):
    b = scenario.radio.bandwidth_hz
    return b * math.log2(1 + snr_linear(math.hypot(*LINE_POSITIONS[k]), 20.0, scenario))


def test_a_rate_below_capacity_never_fails_and_takes_bits_over_rate():
    base = tiny()
    rate = 0.9 * min(_capacity(k, base) for k in range(3))
    res = Simulation(_with_rate(rate)).run()
    ev = res.events
    assert not (ev["event"] == "tx_fail").any()
    tx = ev[ev["event"] == "tx_end"]
    assert list(tx["duration_s"]) == pytest.approx([MODEL_BITS / rate] * 3, rel=1e-12)
    assert res.rounds["aggregated"].iloc[0] == 3


def test_a_rate_above_one_pius_capacity_loses_its_update_after_all_retries():
    base = tiny()
    caps = [_capacity(k, base) for k in range(3)]
    rate = (caps[1] + caps[2]) / 2  # piu2 (farthest) is always in outage
    scenario = _with_rate(rate, retx=2)
    scenario = scenario.with_overrides(["device.battery_j=10.0"])
    res = Simulation(scenario).run()
    ev = res.events
    fails = ev[ev["event"] == "tx_fail"]
    assert fails["node"].tolist() == ["piu2"] * 3  # 1 try + 2 retransmissions
    assert list(fails["energy_j"]) == pytest.approx([0.1 * MODEL_BITS / rate] * 3, rel=1e-12)
    r = res.rounds.iloc[0]
    assert (r["aggregated"], r["lost"], r["dropped"]) == (2, 1, 0)
    # The lost PIU's energy covers every attempt; conservation still holds.
    piu2 = ev[ev["node"] == "piu2"]
    spent = math.fsum(piu2["energy_j"].dropna())
    assert spent == pytest.approx(0.01 + 3 * 0.1 * MODEL_BITS / rate, rel=1e-12)  # compute + 3 tx
    assert 10.0 - spent == pytest.approx(res.final_battery_j["piu2"], rel=1e-12)


def test_outage_frequency_matches_the_rayleigh_closed_form():
    snr, rate_over_b = 10.0, 1.0  # 10 dB, 1 b/s/Hz: p_out = 0.0951626
    noise_psd, bandwidth, coherence = 1e-20, 1e6, 1e-2
    channel = RadioChannel(
        np.array([[snr * noise_psd * bandwidth]]),
        RayleighBlockFading(Streams(9), 1),
        coherence,
        Band.orthogonal(bandwidth, noise_psd, 1),
    )
    bits = rate_over_b * bandwidth * coherence / 2  # half a block per packet
    n = 20_000
    failures = sum(
        not channel.fixed_rate_uplink(
            0, 0, bits, i * coherence, 1.0, bandwidth, rate_over_b * bandwidth
        )[1]
        for i in range(n)
    )
    p = 1 - math.exp(-(2**rate_over_b - 1) / snr)
    assert abs(failures / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_a_lost_update_stays_in_the_error_feedback_residual():
    """piu2 is always in outage: with top-k + error feedback its residual after each round
    is everything it ever trained (nothing was delivered), not the top-k leftovers."""
    base = tiny()
    caps = [_capacity(k, base) for k in range(3)]
    scenario = _with_rate((caps[1] + caps[2]) / 2, retx=0).with_overrides(
        ['compression={method = "topk", ratio = 0.1, error_feedback = true}', "protocol.rounds=2"]
    )
    sim = Simulation(scenario)
    trained: list = []
    submit = sim.trainer.submit

    def spy(job):
        handle = submit(job)
        if job.piu == 2:
            trained.append((job, handle))
        return handle

    sim.trainer.submit = spy  # type: ignore[method-assign]
    res = sim.run()
    assert res.rounds["lost"].tolist() == [1, 1]
    total = sum(h.result().weights - j.weights for j, h in trained)
    assert torch.allclose(sim.server.compressor.residuals[2], total, atol=1e-6)
    assert not torch.allclose(sim.server.compressor.residuals[0], torch.zeros(1))  # piu0 delivered
