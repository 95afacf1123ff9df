"""Robust aggregation rules: hand-computed values, and the server really applies them."""

from __future__ import annotations

import pytest
import torch

from netsim import Simulation
from netsim.fl.aggregation import (
    AggregationRule,
    clip_norms,
    coordinate_median,
    trimmed_mean,
)
from netsim.learn.trainer import TrainJob
from netsim.scenario import ScenarioError
from tests.conftest import float32_atol, tiny

W = torch.tensor([1.0, -1.0])
# five deltas, one of them a corrupted outlier
DELTAS = [
    torch.tensor([0.1, 0.0]),
    torch.tensor([0.3, -0.2]),
    torch.tensor([0.2, 0.4]),
    torch.tensor([100.0, -100.0]),
    torch.tensor([0.0, 0.1]),
]


def test_coordinate_median_by_hand():
    # sorted first coordinates 0, .1, .2, .3, 100 -> .2; second -100, -.2, 0, .1, .4 -> 0
    assert torch.allclose(coordinate_median(W, DELTAS), torch.tensor([1.2, -1.0]))
    # an even count averages the two middle values: (.1 + .3) / 2, (0 + -.2) / 2
    assert torch.allclose(coordinate_median(W, DELTAS[:2]), torch.tensor([1.2, -1.1]))
    assert torch.equal(coordinate_median(W, []), W)


def test_trimmed_mean_by_hand():
    # beta = 0.2 of 5: one value cut at each end -> mean of .1, .2, .3 and of -.2, 0, .1
    expected = torch.tensor([1.0 + 0.2, -1.0 + (-0.2 + 0.0 + 0.1) / 3])
    assert torch.allclose(trimmed_mean(W, DELTAS, 0.2), expected)
    # beta = 0.1 of 5 cuts nothing: the plain (unweighted) mean, outlier included
    plain = W + torch.stack(DELTAS).mean(0)
    assert torch.allclose(trimmed_mean(W, DELTAS, 0.1), plain)
    with pytest.raises(ValueError, match="trim_fraction"):
        trimmed_mean(W, DELTAS, 0.5)


def test_norm_clipping_by_hand():
    clipped, n = clip_norms([torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])], 1.0)
    assert n == 1
    assert torch.allclose(clipped[0], torch.tensor([0.6, 0.8]))  # norm 5 -> 1
    assert torch.equal(clipped[1], torch.tensor([0.3, 0.4]))  # norm .5: unchanged
    new, note = AggregationRule("norm_clip", clip_norm=1.0).apply(
        W, [torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])], [1, 3]
    )
    # FedAvg weights 1/4, 3/4 of the clipped deltas
    assert torch.allclose(
        new, W + 0.25 * torch.tensor([0.6, 0.8]) + 0.75 * torch.tensor([0.3, 0.4])
    )
    assert note == "norm_clip: 1 clipped to 1"


@pytest.mark.parametrize("rule", ["median", "trimmed_mean", "norm_clip"])
def test_the_server_aggregates_with_the_rule(rule):
    server = {"aggregation": rule, "trim_fraction": 0.34, "clip_norm": 0.05}
    sim = Simulation(tiny(server=server))
    w0 = sim.trainer.initial_weights()
    res = sim.run()
    # the three PIUs' updates, trained again from the same inputs
    deltas = [
        sim.trainer._train(TrainJob(k, 0, w0, sim.partitions[k], 1)).weights - w0 for k in range(3)
    ]
    expected, note = AggregationRule(rule, 0.34, 0.05).apply(
        w0, deltas, [len(p) for p in sim.partitions]
    )
    # the same float32 arithmetic up to the order of a few sums (three updates)
    atol = float32_atol(w0, *deltas, operations=8)
    torch.testing.assert_close(res.weights, expected, rtol=0, atol=atol)
    assert not torch.allclose(expected, AggregationRule().apply(w0, deltas, [1, 1, 1])[0])
    assert "0 clipped" not in note  # the clip norm binds here
    agg = res.events[res.events.event == "aggregate"]
    assert agg.detail.iloc[0] == f"3 updates, {note}"


def test_a_robust_rule_needs_digital_updates():
    with pytest.raises(ScenarioError, match=r"server\.aggregation"):
        tiny(server={"aggregation": "median"}, ota={"enabled": True})
