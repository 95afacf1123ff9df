"""FedDyn (Acar et al. 2021, "Federated Learning Based on Dynamic Regularization",
Algorithm 1) against its update written out: the server's h and model, the PIU's local
objective and its state, and the fixed point (the global optimum, where FedAvg drifts)."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.fl.algorithms import FedDyn, Part, RoundFacts
from netsim.learn.trainer import TrainJob
from netsim.scenario import ScenarioError
from tests.conftest import tiny
from tests.fl.test_scaffold import _distance_to_optimum, least_squares  # noqa: F401

# float32 models: each weight is rounded once per step (<= 6e-8 for weights below 1); a
# few steps of those stay below 1e-6
ATOL = 1e-6


def _facts(w: torch.Tensor) -> RoundFacts:
    return RoundFacts(w, 3, 4, False, lambda: torch.Generator())


def test_the_server_update_is_the_papers():
    # m = 4 PIUs with equal data (n_k = 10), alpha = 0.5; P_1 = {0, 1, 2}, P_2 = {1, 3}
    alpha, m, n_k = 0.5, 4, 10
    gen = torch.Generator().manual_seed(1)
    w0 = torch.randn(5, generator=gen, dtype=torch.float64)
    algo = FedDyn(alpha, total_samples=m * n_k)
    h = torch.zeros(5, dtype=torch.float64)
    w = w0
    for participants in ([0, 1, 2], [1, 3]):
        local = {k: w + torch.randn(5, generator=gen, dtype=torch.float64) for k in participants}
        parts = [Part(n_k, local[k] - w, 0.0, (k,)) for k in participants]
        got = algo.combine(_facts(w), parts).weights
        # Algorithm 1: h^t = h^{t-1} - alpha / m sum_{k in P_t} (theta_k^t - theta^{t-1}),
        # theta^t = 1 / |P_t| sum_{k in P_t} theta_k^t - h^t / alpha
        h = h - alpha / m * sum(local[k] - w for k in participants)
        w = sum(local[k] for k in participants) / len(participants) - h / alpha
        torch.testing.assert_close(got, w, rtol=0, atol=1e-14)
    assert float((w - w0).abs().max()) > 0.1  # it moved


def test_unequal_data_weighs_the_pius_by_their_samples():
    alpha = 0.2
    w = torch.zeros(2, dtype=torch.float64)
    algo = FedDyn(alpha, total_samples=40)  # PIU 0: 30 samples, PIU 1: 10
    d0, d1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    parts = [Part(30, d0, 0.0, (0,)), Part(10, d1, 0.0, (1,))]
    got = algo.combine(_facts(w), parts).weights
    h = -alpha * (30 / 40 * d0 + 10 / 40 * d1)  # n_k / n
    expected = 0.75 * d0 + 0.25 * d1 - h / alpha  # n_k / n_{P_t}
    torch.testing.assert_close(got, expected.double(), rtol=0, atol=1e-15)


def test_a_round_without_updates_leaves_the_model():
    w = torch.ones(3)
    assert torch.equal(FedDyn(0.1, 10).combine(_facts(w), []).weights, w)


@pytest.mark.parametrize("trainer", ["sequential", "batched"])
def test_local_training_descends_the_papers_local_objective(trainer):
    # PIU k minimises L_k(theta) - <g_k, theta> + alpha / 2 ||theta - theta^{t-1}||^2: the
    # same mini-batches stepped by hand with autograd on that objective
    sim = Simulation(tiny(learning={"trainer": trainer}))
    t, w0, idx = sim.trainer, sim.trainer.initial_weights(), sim.partitions[0]
    alpha, lr, steps = 0.3, 0.05, 3
    algo = FedDyn(alpha, total_samples=100)
    earlier = 0.01 * torch.randn(w0.shape, generator=torch.Generator().manual_seed(2))
    algo.client_update(0, earlier, None, steps)  # g_0 = -alpha * earlier
    g_k = -alpha * earlier
    job = TrainJob(0, 0, w0, idx, steps, rules=algo.local_rules(0, None))
    got = t.submit(job).result().weights

    theta = w0.clone().requires_grad_(True)
    model = t.model
    for batch in t._batches(job):
        x, y = t._gather(job, batch)
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
        out = torch.func.functional_call(
            model, dict(zip([n for n, _ in model.named_parameters()], _split(theta, model))), (x,)
        )
        objective = t.loss(out, y) - g_k @ theta + alpha / 2 * (theta - w0).pow(2).sum()
        (grad,) = torch.autograd.grad(objective, theta)
        theta = (theta - lr * grad).detach().requires_grad_(True)
    torch.testing.assert_close(got, theta.detach(), rtol=0, atol=ATOL)
    plain = t.submit(TrainJob(0, 0, w0, idx, steps)).result().weights
    assert float((got - plain).abs().max()) > 1e-4  # the terms did pull

    # the PIU's state: g_k <- g_k - alpha (theta_k^t - theta^{t-1})
    algo.client_update(0, got - w0, None, steps)
    rules = algo.local_rules(0, None)
    torch.testing.assert_close(rules[1].vector, -(g_k - alpha * (got - w0)), rtol=0, atol=1e-9)


def _split(theta: torch.Tensor, model: torch.nn.Module) -> list[torch.Tensor]:
    sizes = [p.numel() for p in model.parameters()]
    return [c.view_as(p) for c, p in zip(theta.split(sizes), model.parameters(), strict=True)]


def test_feddyn_reaches_the_global_optimum_where_fedavg_drifts(least_squares):  # noqa: F811
    feddyn = _distance_to_optimum(least_squares, "feddyn", feddyn_alpha=1.0)
    fedavg = _distance_to_optimum(least_squares, "fedavg")
    # FedDyn's fixed point is the optimum of the sample-weighted loss, even with inexact
    # local solves: float32 weights of size ~3 leave ~1e-6
    assert feddyn < 1e-4
    assert fedavg > 0.5 and fedavg > 1000 * feddyn


def test_a_feddyn_run_logs_its_aggregations():
    res = Simulation(tiny(learning={"algorithm": "feddyn"}, protocol={"rounds": 2})).run()
    agg = res.events[res.events.event == "aggregate"]
    assert set(agg.method) == {"feddyn"} and len(agg) == 2
    plain = Simulation(tiny(protocol={"rounds": 2})).run()
    assert not torch.equal(res.weights, plain.weights)
    assert math.isfinite(float(res.rounds.train_loss.iloc[-1]))
    # the upload is the delta alone: FedAvg's bits
    sent, fedavg_sent = (r.events[r.events.event == "tx_end"].bits.to_numpy() for r in (res, plain))
    assert (sent == fedavg_sent).all()


@pytest.mark.parametrize(
    ("sections", "needle"),
    [
        ({"server": {"aggregation": "median"}}, "server.aggregation = 'median'"),
        ({"dp": {"level": "client"}}, "dp.level = 'client'"),
        ({"protocol": {"mode": "fedasync", "rounds": 2}}, "protocol.mode = 'fedasync'"),
        ({"pruning": {"method": "imp"}}, "pruning.method = 'imp'"),
    ],
)
def test_feddyn_clashes_are_named(sections, needle):
    with pytest.raises(ScenarioError, match=needle):
        tiny(learning={"algorithm": "feddyn"}, **sections)
