"""Client-level DP-FedAvg (McMahan et al. 2018) and its accounting (Opacus)."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.fl.aggregation import clip_norms
from netsim.fl.dp import adaptive_clip, dp_fedavg, update_noise_multiplier
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
    t._private_gradients(x, y, c, 0.0, torch.Generator().manual_seed(0))
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
