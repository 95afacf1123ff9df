"""Over-the-air aggregation on the timeline: one simultaneous slot, the deadline, SNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation
from tests.conftest import tiny

P = 55_210  # MLP on 8x8 digits


def _ota(snr_db=None, rounds=1, **sections):
    base = tiny()
    ota = {"enabled": True, **({"snr_db": snr_db} if snr_db is not None else {})}
    return tiny(
        protocol={"rounds": rounds, **sections.pop("protocol", {})},
        radio={**base.radio.model_dump(), "fading": "rayleigh"},
        ota=ota,
        **sections,
    )


def _digital(rounds=1):
    base = tiny()
    return tiny(
        protocol={"rounds": rounds}, radio={**base.radio.model_dump(), "fading": "rayleigh"}
    )


def test_everybody_transmits_in_one_slot_of_entries_over_bandwidth():
    res = Simulation(_ota(snr_db=10.0)).run()
    ev = res.events
    tx = ev[ev["event"] == "tx_start"]
    assert len(tx) == 3 and tx["t_s"].nunique() == 1
    assert tx["t_s"].iloc[0] == ev[ev["event"] == "train_end"]["t_s"].max()
    assert list(tx["duration_s"]) == pytest.approx([P / 1e6] * 3)  # one entry per channel use
    end = ev[ev["event"] == "tx_end"]
    assert list(end["energy_j"]) == pytest.approx(list(end["power_w"] * end["duration_s"]))
    assert (end["power_w"] <= 0.1 + 1e-12).all()  # 20 dBm budget per channel use
    assert res.rounds["aggregated"].iloc[0] == 3


def test_at_very_high_snr_ota_fedavg_equals_digital_fedavg():
    ota = Simulation(_ota(snr_db=150.0, rounds=2)).run()
    digital = Simulation(_digital(rounds=2)).run()
    assert torch.allclose(ota.weights, digital.weights, rtol=0, atol=1e-6)


def test_the_aggregation_error_shrinks_with_the_snr():
    digital = Simulation(_digital(rounds=2)).run().weights
    errors = [
        float(torch.linalg.norm(Simulation(_ota(snr_db=snr, rounds=2)).run().weights - digital))
        for snr in (-10.0, 10.0, 30.0)
    ]
    # Noise power falls 100x per 20 dB: the error norm about 10x.
    assert errors[0] > 3 * errors[1] > 9 * errors[2] > 0


def test_the_ap_transmits_at_the_deadline_with_the_ready_pius():
    stragglers = {"dist": "lognormal", "sigma": 1.0}
    device = {**tiny().device.model_dump(), "straggler": stragglers}
    free = Simulation(_ota(snr_db=20.0, device=device)).run().events
    ends = free[free["event"] == "train_end"].sort_values("t_s")
    deadline = float(ends["t_s"].iloc[1] + ends["t_s"].iloc[2]) / 2  # after 2 of 3 are ready
    res = Simulation(_ota(snr_db=20.0, device=device, protocol={"deadline_s": deadline})).run()
    ev = res.events
    late = ends["node"].iloc[2]
    assert ev[ev["event"] == "deadline_miss"]["detail"].tolist() == [late]
    tx = ev[ev["event"] == "tx_start"]
    assert sorted(tx["node"]) == sorted(ends["node"].iloc[:2])
    assert tx["t_s"].iloc[0] == pytest.approx(deadline)
    assert res.rounds["aggregated"].iloc[0] == 2
    aborted = ev[(ev["event"] == "abort") & (ev["node"] == late)]
    assert aborted["detail"].tolist() == ["train"]
    assert np.isfinite(res.rounds["test_loss"].iloc[0])


def test_a_deadline_before_the_model_reaches_the_ap_drops_everybody_cleanly():
    res = Simulation(_ota(snr_db=20.0, protocol={"deadline_s": 1e-4})).run()
    r = res.rounds.iloc[0]
    assert (r["aggregated"], r["dropped"]) == (0, 3)
    assert not (res.events["event"] == "tx_start").any()


def test_pruned_entries_do_not_go_over_the_air():
    """With a shared pruning mask only the kept entries use channel uses (airtime kept / B),
    the fronthaul carries 32 bits per kept entry and the pruned weights stay exactly zero
    (no receiver noise lands on them)."""
    sim = Simulation(
        _ota(snr_db=0.0, rounds=2, pruning={"method": "oneshot", "start_round": 1, "amount": 0.5})
    )
    res = sim.run()
    mask = sim.server.mask
    assert mask is not None
    kept = int(mask.sum())
    ev = res.events
    ota = ev[ev["event"] == "ota_start"]["duration_s"].tolist()
    assert ota == pytest.approx([P / 1e6, kept / 1e6])
    fwd = ev[(ev["event"] == "fwd_end")]["bits"].tolist()
    assert fwd == [32 * P, 32 * kept]
    assert torch.count_nonzero(res.weights[~mask]) == 0
