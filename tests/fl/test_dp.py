"""Client-level DP-FedAvg (McMahan et al. 2018) and its accounting (Opacus)."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.fl.dp import clip_to_norm, dp_fedavg
from netsim.scenario import ScenarioError
from tests.conftest import tiny

pytest.importorskip("opacus")


def test_clipping_and_the_fixed_denominator_by_hand():
    w = torch.zeros(2)
    big, small = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])  # norms 5 and 0.5
    clipped, was = clip_to_norm(big, 1.0)
    assert was and clipped.tolist() == pytest.approx([0.6, 0.8], rel=1e-6)
    assert clip_to_norm(small, 1.0) == (small, False)
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
