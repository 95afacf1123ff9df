"""Server optimisers against Reddi et al. 2021 (Algorithm 2) and FedAvgM, computed by hand
on two-entry tensors over two rounds, and in a run."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.fl.server_optimizers import ServerOptimizer
from netsim.scenario import ScenarioError
from tests.conftest import tiny

W0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
D1 = [0.5, -0.5]  # round 1's combined update Delta_1
D2 = [0.1, 0.3]  # round 2's
LR, B1, B2, TAU = 0.1, 0.9, 0.99, 1e-3


def _two_rounds(name: str) -> tuple[list[float], list[float]]:
    opt = ServerOptimizer(name, LR, B1, B2, TAU)
    w1 = opt.step(W0, W0 + torch.tensor(D1, dtype=torch.float64))
    w2 = opt.step(w1, w1 + torch.tensor(D2, dtype=torch.float64))
    return w1.tolist(), w2.tolist()


def _by_hand(v_rule) -> tuple[list[float], list[float]]:
    """Algorithm 2 written out per entry: m, v from m_{-1} = 0, v_{-1} = tau^2."""
    w1, w2 = [], []
    for i in range(2):
        m1 = (1 - B1) * D1[i]
        v1 = v_rule(TAU**2, D1[i])
        x1 = float(W0[i]) + LR * m1 / (math.sqrt(v1) + TAU)
        m2 = B1 * m1 + (1 - B1) * D2[i]
        v2 = v_rule(v1, D2[i])
        w1.append(x1)
        w2.append(x1 + LR * m2 / (math.sqrt(v2) + TAU))
    return w1, w2


RULES = {
    "adagrad": lambda v, d: v + d * d,
    "adam": lambda v, d: B2 * v + (1 - B2) * d * d,
    "yogi": lambda v, d: v - (1 - B2) * d * d * math.copysign(1.0, v - d * d),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_adaptive_server_optimizers_follow_the_paper(name):
    got = _two_rounds(name)
    want = _by_hand(RULES[name])
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-12)


def test_server_momentum_and_sgd_by_hand():
    w1, w2 = _two_rounds("avgm")
    m1 = D1
    m2 = [B1 * a + b for a, b in zip(m1, D2, strict=True)]
    assert w1 == pytest.approx([float(W0[i]) + LR * m1[i] for i in range(2)], rel=1e-12)
    assert w2 == pytest.approx([w1[i] + LR * m2[i] for i in range(2)], rel=1e-12)
    w1, _ = _two_rounds("sgd")
    assert w1 == pytest.approx([1.05, -2.05], rel=1e-12)
    plain = ServerOptimizer()
    agg = torch.tensor([3.0, 4.0])
    assert plain.is_identity and plain.step(torch.zeros(2), agg) is agg


def test_a_run_with_fedadam_moves_the_model_by_the_rule():
    flat = Simulation(tiny(protocol={"rounds": 1})).run()
    adam = Simulation(
        tiny(protocol={"rounds": 1}, server={"optimizer": {"name": "adam", "lr": 0.01}})
    ).run()
    init = Simulation(tiny()).trainer.initial_weights().double()
    delta = flat.weights.double() - init  # the same round's FedAvg aggregate
    m, v = 0.1 * delta, 0.99 * 1e-6 + 0.01 * delta**2
    expected = init + 0.01 * m / (v.sqrt() + 1e-3)
    # float32 model: the aggregate is rounded once to float32, then the step once again
    torch.testing.assert_close(adam.weights.double(), expected, rtol=0, atol=1e-6)
    agg = adam.events[adam.events.event == "aggregate"]
    assert agg.detail.iloc[0] == "3 updates, fedavg, server adam lr=0.01"


def test_a_server_optimizer_with_an_asynchronous_mode_is_refused():
    with pytest.raises(ScenarioError, match="protocol.mode = 'fedbuff'.*server.optimizer"):
        tiny(protocol={"mode": "fedbuff", "buffer_size": 2}, server={"optimizer": {"name": "yogi"}})
