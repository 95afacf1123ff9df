"""Client-level DP-FedAvg (McMahan et al. 2018) and its accounting (Opacus)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from netsim import Simulation
from netsim.fl.aggregation import clip_norms
from netsim.fl.dp import (
    DPSGD,
    PrivateOTA,
    adaptive_clip,
    dp_fedavg,
    dp_ota_fedavg,
    update_noise_multiplier,
)
from netsim.radio.ota import transmit_over_the_air
from netsim.scenario import ScenarioError
from tests.conftest import tiny

pytest.importorskip("opacus")


def test_clipping_and_the_fixed_denominator_by_hand():
    w = torch.zeros(2)
    big, small = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])  # norms 5 and 0.5
    (clipped, kept), n = clip_norms([big, small], 1.0)
    assert n == 1 and clipped.tolist() == pytest.approx([0.6, 0.8], rel=1e-6)
    assert kept is small
    gen = torch.Generator().manual_seed(0)
    new, n = dp_fedavg(w, [big, small], 1.0, 0.0, 4.0, gen)  # z = 0: no noise
    assert n == 1 and new.tolist() == pytest.approx([(0.6 + 0.3) / 4, (0.8 + 0.4) / 4])


def test_the_noise_has_standard_deviation_z_c_over_the_denominator():
    p, z, c, m = 200_000, 1.3, 0.7, 5.0
    new, _ = dp_fedavg(torch.zeros(p), [], c, z, m, torch.Generator().manual_seed(1))
    # the sample std of p normal draws has relative standard error 1 / sqrt(2p); 5 of them
    assert float(new.double().std()) == pytest.approx(z * c / m, rel=5 / math.sqrt(2 * p))
    assert abs(float(new.double().mean())) < 5 * z * c / m / math.sqrt(p)


def test_the_epsilon_in_the_rounds_table_is_the_accountants_own():
    from opacus.accountants import RDPAccountant

    dp = {"level": "client", "noise_multiplier": 1.1, "clip_norm": 0.5, "delta": 1e-4}
    res = Simulation(tiny(protocol={"rounds": 3, "clients_per_round": 2}, dp=dp)).run()
    reference = RDPAccountant()
    expected = []
    for _ in range(3):
        reference.step(noise_multiplier=1.1, sample_rate=2 / 3)  # 2 of the 3 PIUs a round
        expected.append(reference.get_epsilon(delta=1e-4))
    assert res.rounds.epsilon.tolist() == expected
    agg = res.events[res.events.event == "aggregate"]
    assert set(agg.method) == {"dp_fedavg"}
    assert math.isnan(Simulation(tiny()).run().rounds.epsilon.iloc[0])  # no DP: NaN


def test_dp_clashes_are_named():
    dp = {"level": "client"}
    with pytest.raises(ScenarioError, match="protocol.selection = 'channel'.*dp.level"):
        tiny(dp=dp, protocol={"selection": "channel"})
    with pytest.raises(ScenarioError, match="server.aggregation = 'median'"):
        tiny(dp=dp, server={"aggregation": "median"})


def test_dp_sgd_clips_every_per_sample_gradient_to_c():
    # z = 0: the step's gradient is the mean of the clipped per-sample gradients, each
    # computed here one sample at a time with autograd and clipped by hand
    sim = Simulation(tiny())
    t = sim.trainer
    t._load(t.initial_weights())
    idx = torch.as_tensor(sim.partitions[0][:6])
    x, y = t.train_x[idx], t.train_y[idx]
    c = 0.05
    t.model.zero_grad(set_to_none=True)
    DPSGD(c, 0.0).gradients(t.model, t.loss, x, y, torch.Generator().manual_seed(0))
    got = torch.cat([p.grad.reshape(-1) for p in t.model.parameters()])
    clipped = []
    for i in range(len(y)):
        t.model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(t.model(x[i : i + 1]), y[i : i + 1]).backward()
        g = torch.cat([p.grad.reshape(-1) for p in t.model.parameters()]).double()
        clipped.append(g * min(1.0, c / float(g.norm())))
    norms = [float(g.norm()) for g in clipped]
    assert max(norms) <= c * (1 + 1e-9) and min(norms) > 0
    expected = torch.stack(clipped).sum(0) / len(y)
    # float32 gradients (vmap against one at a time) summed in another order: ~1e-6 relative
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-8)


def test_dp_sgd_epsilon_is_the_worst_piu_per_the_accountant():
    from opacus.accountants import RDPAccountant

    dp = {"level": "sample", "noise_multiplier": 1.0, "clip_norm": 1.0, "delta": 1e-5}
    sim = Simulation(tiny(protocol={"rounds": 2}, learning={"local_steps": 3}, dp=dp))
    res = sim.run()
    expected = []
    accountants = {k: RDPAccountant() for k in range(3)}
    for _ in range(2):
        for k, acc in accountants.items():
            n = len(sim.partitions[k])
            for _ in range(3):  # local steps, each at sampling rate B / n_k
                acc.step(noise_multiplier=1.0, sample_rate=min(4, n) / n)
        expected.append(max(a.get_epsilon(delta=1e-5) for a in accountants.values()))
    assert res.rounds.epsilon.tolist() == pytest.approx(expected, rel=1e-12)
    clean = Simulation(tiny(protocol={"rounds": 2}, learning={"local_steps": 3})).run()
    assert not torch.equal(res.weights, clean.weights)  # the noise and clipping did act


def test_adaptive_clipping_by_hand():
    # 4 of 5 norms within C = 1, no count noise: b = 0.8; gamma 0.5, lr 0.2:
    # C <- exp(-0.2 (0.8 - 0.5))
    gen = torch.Generator().manual_seed(0)
    new = adaptive_clip(1.0, [0.1, 0.5, 0.9, 1.0, 3.0], 0.5, 0.2, 0.0, 5.0, gen)
    assert new == pytest.approx(math.exp(-0.2 * 0.3), rel=1e-12)
    # the updates' multiplier that keeps z = 1 overall with count noise 2: (1 - 1/16)^-1/2
    assert update_noise_multiplier(1.0, 2.0) == pytest.approx((1 - 1 / 16) ** -0.5, rel=1e-12)
    with pytest.raises(ValueError, match="needs 2 x count_std > z"):
        update_noise_multiplier(1.0, 0.5)


def test_adaptive_clipping_in_a_run_moves_the_clip_norm_and_keeps_the_accounting():
    from opacus.accountants import RDPAccountant

    dp = {"level": "client", "noise_multiplier": 0.5, "clip_norm": 10.0,
          "adaptive_clipping": True}  # fmt: skip
    res = Simulation(tiny(protocol={"rounds": 2}, dp=dp)).run()
    detail = res.events.query("event == 'aggregate'").detail.tolist()
    assert "clipped to 10," in detail[0] and "next clip" in detail[0]
    # every update is far within 10: the clip norm shrinks, b ~ 1 > gamma
    next_clip = float(detail[0].rsplit("next clip ", 1)[1])
    assert next_clip < 10.0
    reference = RDPAccountant()
    for _ in range(2):
        reference.step(noise_multiplier=0.5, sample_rate=1.0)
    assert res.rounds.epsilon.iloc[-1] == reference.get_epsilon(delta=1e-5)


def test_dp_over_the_air_tops_up_only_the_missing_noise():
    p, z, c, m = 200_000, 1.0, 0.5, 4.0
    sums = [torch.full((p,), 0.2), torch.full((p,), 0.2)]
    gen = torch.Generator().manual_seed(2)
    tol = 5 / math.sqrt(2 * p)  # relative standard error of a sample std: 1 / sqrt(2p)
    # not counted: the full z C, whatever the air gave
    half = torch.full((p,), (0.6 * z * c) ** 2, dtype=torch.float64)
    new, z_eff = dp_ota_fedavg(torch.zeros(p), sums, half, c, z, m, False, gen)
    assert z_eff == z and float(new.double().mean()) == pytest.approx(
        0.4 / m, abs=5 * z * c / m / math.sqrt(p)
    )
    assert float(new.double().std()) == pytest.approx(z * c / m, rel=tol)
    # counted: the server adds variance z^2 C^2 - 0.36 z^2 C^2
    new, z_eff = dp_ota_fedavg(torch.zeros(p), sums, half, c, z, m, True, gen)
    assert z_eff == z
    assert float(new.double().std()) == pytest.approx(0.8 * z * c / m, rel=tol)
    # the air alone exceeds z C: nothing added, accounted at its own multiplier
    loud = torch.full((p,), (2 * z * c) ** 2, dtype=torch.float64)
    new, z_eff = dp_ota_fedavg(torch.zeros(p), sums, loud, c, z, m, True, gen)
    assert z_eff == pytest.approx(2 * z, rel=1e-12)
    assert torch.equal(new, torch.full((p,), 0.4 / m))


def test_private_ota_signals_clip_and_scale_by_data_independent_s():
    deltas = np.array([[3.0, 4.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.1]])  # norms 5 and ~0.14
    x, s = PrivateOTA(1.0).signals(deltas)
    assert s == pytest.approx(1.0 / 2.0)  # C / sqrt(n)
    assert x[0] == pytest.approx([0.6 / s, 0.8 / s, 0, 0])  # clipped to C = 1
    assert x[1] == pytest.approx(deltas[1] / s)  # within C: unchanged
    assert (np.sum(x**2, axis=1) <= 4 * (1 + 1e-12)).all()  # mean power per entry <= 1
    # private power: eta whose noise gives var K^2 s^2 noise / (2 eta) = air_var
    eta = PrivateOTA(1.0, air_var=0.01).max_eta(3, s, 2e-3)
    assert 9 * s**2 * 2e-3 / (2 * eta) == pytest.approx(0.01, rel=1e-12)
    assert PrivateOTA(1.0).max_eta(3, s, 2e-3) == math.inf


def test_an_aps_private_sum_carries_the_receiver_noise_it_reports():
    # three PIUs, clipped and scaled, sent to 4 antennas over two coherence blocks with
    # private power control (eta capped below what the power budget allows)
    rng = np.random.default_rng(7)
    n, k = 40_000, 3
    private = PrivateOTA(1.0, air_var=0.04)
    deltas = rng.standard_normal((k, n)) * np.array([[0.001], [0.01], [1.0]])
    x, s = private.signals(deltas)
    clipped = x * s
    fading = rng.standard_normal((2, k, 4)) + 1j * rng.standard_normal((2, k, 4))
    tx = transmit_over_the_air(
        x, np.full(k, 1 / k), np.ones(k), lambda first, b: fading[first : first + b] / 2**0.5,
        t0_s=0.0, coherence_s=n / 2 / 1e6, bandwidth_hz=1e6, p0_w=1.0, noise_w=0.05,
        power_control="zero_forcing", rng=rng, max_eta=private.max_eta(k, s, 0.05),
    )  # fmt: skip
    scale = k * tx.entry_mass * s
    assert (tx.entry_mass == 1).all()  # zero forcing: every PIU sends every entry
    error = scale * tx.estimate - clipped.sum(axis=0)
    var = scale**2 * tx.entry_mse
    assert var == pytest.approx(np.full(n, 0.04), rel=1e-9)  # the AP's target
    assert float(np.mean(error**2)) == pytest.approx(0.04, rel=5 * math.sqrt(2 / n))


def test_dp_over_the_air_in_a_run_counts_the_channel_by_its_assumptions():
    from opacus.accountants import RDPAccountant

    def run(**dp):
        dp = {"level": "client", "clip_norm": 0.5, "delta": 1e-5} | dp
        return Simulation(tiny(protocol={"rounds": 2}, ota={"enabled": True}, dp=dp)).run()

    def expected(z):
        acc = RDPAccountant()
        for _ in range(2):
            acc.step(noise_multiplier=z, sample_rate=1.0)  # all 3 PIUs every round
        return acc.get_epsilon(delta=1e-5)

    full = run(noise_multiplier=1.0)
    assert full.rounds.epsilon.iloc[-1] == expected(1.0)
    counted = run(noise_multiplier=1.0, count_ota_noise=True)  # the air gives ~1e-5 of z
    assert counted.rounds.epsilon.iloc[-1] == expected(1.0)
    private = run(noise_multiplier=1.0, count_ota_noise=True, ota_power="private")
    detail = private.events.query("event == 'aggregate'").detail.iloc[0]
    z_air = float(detail.split("z_air ")[1].split()[0])
    assert z_air == pytest.approx(1.0, rel=1e-3)  # the AP aimed its noise at z C
    assert private.rounds.epsilon.iloc[-1] == pytest.approx(expected(1.0), rel=1e-6)

    def ota_energy(res):
        return res.events.query("event == 'tx_end' and role == 'piu'").energy_j.sum()

    assert ota_energy(private) < 1e-6 * ota_energy(full)  # privacy for (almost) no power
    # every PIU's clipped signal stays within its power budget: energy <= P0 x airtime
    tx = full.events.query("event == 'tx_end' and role == 'piu'")
    p0 = 10 ** (tiny().device.tx_power_dbm / 10) / 1000
    assert (tx.energy_j <= p0 * tx.duration_s * (1 + 1e-9)).all()
    # no server noise at all (z = 0): without counting no privacy, with it the air's
    none = run(noise_multiplier=0.0)
    assert math.isinf(none.rounds.epsilon.iloc[-1])
    air_only = Simulation(
        tiny(protocol={"rounds": 2}, ota={"enabled": True, "snr_db": -40.0},
             dp={"level": "client", "clip_norm": 0.5, "noise_multiplier": 0.0,
                 "count_ota_noise": True}),
    ).run()  # fmt: skip
    detail = air_only.events.query("event == 'aggregate'").detail.tolist()
    z_effs = [float(d.split("z_eff ")[1].split(",")[0]) for d in detail]
    acc = RDPAccountant()
    for z in z_effs:
        assert z > 0
        acc.step(noise_multiplier=z, sample_rate=1.0)
    assert air_only.rounds.epsilon.iloc[-1] == pytest.approx(acc.get_epsilon(1e-5), rel=1e-3)


def test_dp_over_the_air_clashes_are_named():
    dp = {"level": "client", "count_ota_noise": True}
    with pytest.raises(ScenarioError, match="dp.count_ota_noise = True.*without ota.enabled"):
        tiny(dp=dp)
    with pytest.raises(ScenarioError, match="dp.ota_power = 'private'.*count_ota_noise"):
        tiny(dp={"level": "client", "ota_power": "private"}, ota={"enabled": True})
    with pytest.raises(ScenarioError, match="dp.adaptive_clipping = True.*ota.enabled"):
        tiny(dp={"level": "client", "adaptive_clipping": True}, ota={"enabled": True})
    with pytest.raises(ScenarioError, match="ota.enabled = True.*dp.level = 'sample'"):
        tiny(dp={"level": "sample"}, ota={"enabled": True})
