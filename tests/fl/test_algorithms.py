"""Client algorithms: FedProx (Li et al. 2020) and FedNova (Wang et al. 2020) against
FedAvg and hand computations."""

from __future__ import annotations

import pytest
import torch

from netsim import Simulation
from netsim.fl.aggregation import fedavg, fednova, fednova_scale
from netsim.learn.trainer import TrainJob
from netsim.local_rules import Proximal
from netsim.scenario import ScenarioError
from tests.conftest import tiny

# float32 models: each weight is rounded once per step or aggregation (<= 6e-8 for
# weights below 1); a few of those stay below 1e-6.
ATOL = 1e-6


def test_fedprox_with_mu_zero_is_fedavg():
    fedavg_run = Simulation(tiny(protocol={"rounds": 2})).run()
    prox = Simulation(
        tiny(protocol={"rounds": 2}, learning={"algorithm": "fedprox", "prox_mu": 0.0})
    ).run()
    assert torch.equal(prox.weights, fedavg_run.weights)


@pytest.mark.parametrize("trainer", ["sequential", "batched"])
def test_the_proximal_term_by_hand(trainer):
    # two SGD steps (lr 0.05): the first is the same (w = w0); the second adds
    # -lr mu (w1 - w0), so w2_prox = w2 - lr mu (w1 - w0)
    sim = Simulation(tiny(learning={"trainer": trainer}))
    t, w0, idx = sim.trainer, sim.trainer.initial_weights(), sim.partitions[0]
    mu, lr = 0.5, 0.05
    jobs = [TrainJob(0, 0, w0, idx, 1), TrainJob(0, 0, w0, idx, 2),
            TrainJob(0, 0, w0, idx, 2, rules=(Proximal(mu),))]  # fmt: skip
    w1, w2, w2_prox = (t.submit(j).result().weights.double() for j in jobs)
    expected = w2 - lr * mu * (w1 - w0.double())
    torch.testing.assert_close(w2_prox, expected, rtol=0, atol=ATOL)
    assert float((w2_prox - w2).abs().max()) > 1e-4  # it did pull


def test_fednova_by_hand():
    w = torch.zeros(1, dtype=torch.float64)
    deltas = [torch.tensor([2.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64)]
    # steps 2 and 6, equal data: d = (1, 0.5), tau_eff = 4: w + 4 (0.5 + 0.25) = 3 (FedAvg 2.5)
    assert fednova(w, deltas, [1, 1], [2.0, 6.0]).tolist() == [3.0]
    assert fedavg(w, deltas, [1, 1]).tolist() == [2.5]
    # equal steps: FedAvg
    assert fednova(w, deltas, [1, 3], [4.0, 4.0]).tolist() == fedavg(w, deltas, [1, 3]).tolist()
    # momentum rho = 0.5, tau = 3: sum over the steps of (1 - rho^k) / (1 - rho), k = 1..3
    assert fednova_scale(3, 0.5) == pytest.approx(1.0 + 1.5 + 1.75, rel=1e-15)
    assert fednova_scale(3) == 3.0


def test_fednova_with_equal_steps_is_fedavg_in_a_run():
    fedavg_run = Simulation(tiny(protocol={"rounds": 2})).run()
    nova = Simulation(tiny(protocol={"rounds": 2}, learning={"algorithm": "fednova"})).run()
    torch.testing.assert_close(nova.weights, fedavg_run.weights, rtol=0, atol=ATOL)
    agg = nova.events[nova.events.event == "aggregate"]
    assert set(agg.method) == {"fednova"}


def test_fednova_clashes_are_named():
    with pytest.raises(ScenarioError, match="learning.algorithm = 'fednova'"):
        tiny(learning={"algorithm": "fednova"}, server={"aggregation": "median"})
    with pytest.raises(ScenarioError, match="optimizer.name = 'sgd', not 'adam'"):
        tiny(learning={"algorithm": "fednova", "optimizer": {"name": "adam", "lr": 0.01}})
