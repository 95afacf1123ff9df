"""Robust aggregation rules: hand-computed values, and the server really applies them."""

from __future__ import annotations

import pytest
import torch

from netsim import Simulation
from netsim.fl.aggregation import (
    AggregationRule,
    bulyan,
    clip_norms,
    coordinate_median,
    krum_scores,
    multi_krum,
    trimmed_mean,
)
from netsim.fl.byzantine import ByzantineUpdate
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


# Krum, Multi-Krum and Bulyan (Blanchard et al. 2017; El Mhamdi et al. 2018) on scalars,
# where the squared distances are easy to add by hand.
SCALARS = [torch.tensor([v]) for v in (0.0, 1.0, 2.0, 3.0, 4.0, 100.0, 101.0)]  # 2 Byzantine


def test_krum_scores_and_choice_by_hand():
    # f = 2, K = 7: each score sums the K - f - 2 = 3 smallest squared distances.
    # 0: 1 + 4 + 9 = 14; 1: 1 + 1 + 4 = 6; 2: 1 + 1 + 4 = 6; 3: 1 + 1 + 4 = 6;
    # 4: 1 + 4 + 9 = 14; 100: 1 + 96^2 + 97^2 = 18626; 101: 1 + 97^2 + 98^2 = 19014
    scores = krum_scores(SCALARS, f=2)
    assert scores.tolist() == [14.0, 6.0, 6.0, 6.0, 14.0, 18626.0, 19014.0]
    w, picked = multi_krum(torch.zeros(1), SCALARS, f=2, m=1)
    assert picked == [1] and w.tolist() == [1.0]  # ties go to the lower index
    w, picked = multi_krum(torch.zeros(1), SCALARS, f=2, m=5)
    assert sorted(picked) == [0, 1, 2, 3, 4] and w.tolist() == [2.0]


@pytest.mark.parametrize("seed", range(5))
def test_krum_picks_an_honest_update_with_f_byzantine_out_of_n(seed):
    # n = 9 > 2f + 2 with f = 3: honest deltas near 1, Byzantine ones colluding far away
    gen = torch.Generator().manual_seed(seed)
    honest = [1.0 + 0.1 * torch.randn(20, generator=gen) for _ in range(6)]
    byzantine = [torch.full((20,), -30.0) + 0.01 * torch.randn(20, generator=gen) for _ in range(3)]
    updates = byzantine + honest
    _, picked = multi_krum(torch.zeros(20), updates, f=3, m=1)
    assert picked[0] >= 3  # an honest one


def test_bulyan_by_hand_and_its_condition():
    # f = 1, K = 7 (>= 4f + 3): theta = 5 picks, each by Krum among those left with
    # len(left) - 3 neighbours: 7 left: 2 (1+1+4+4 = 10); 6 left: 1 (1+4+9 = 14, ties with 3
    # to the lower index); 5 left {0,3,4,100,101}: 3 (1+9); 4 left {0,4,100,101}, one
    # neighbour: 100 (1, tie with 101); 3 left {0,4,101}: no neighbours, the first: 0.
    # Picked {0,1,2,3,100}; per coordinate the beta = theta - 2f = 3 values closest to
    # their median 2 are 1, 2, 3: the mean is 2 (the Byzantine pick is trimmed away)
    w, picked = bulyan(torch.zeros(1), SCALARS, f=1)
    assert picked == [2, 1, 3, 5, 0]
    assert w.tolist() == [2.0]
    with pytest.raises(ValueError, match="needs at least 4f \\+ 3 = 11 updates, got 7"):
        bulyan(torch.zeros(1), SCALARS, f=2)
    rule = AggregationRule("bulyan", byzantine=2)
    w, note = rule.apply(torch.zeros(1), SCALARS, [1] * 7)
    assert w.tolist() == [3.0] and "median instead" in note  # too few: the median


def test_too_many_byzantine_for_the_rule_is_a_named_error():
    with pytest.raises(ScenarioError, match="server.byzantine = 1 .* it needs 7"):
        tiny(server={"aggregation": "bulyan", "byzantine": 1})
    with pytest.raises(ScenarioError, match="server.byzantine = 1 .* it needs 4"):
        tiny(server={"aggregation": "krum", "byzantine": 1})
    tiny(server={"aggregation": "krum", "byzantine": 0})  # 3 PIUs: K = 3 > f + 2


def test_byzantine_updates_by_hand():
    d = torch.tensor([0.5, -1.0, 2.0])
    gen = torch.Generator().manual_seed(0)
    assert ByzantineUpdate("sign_flip").corrupt(d, gen).tolist() == [-0.5, 1.0, -2.0]
    assert ByzantineUpdate("scaled", 4.0).corrupt(d, gen).tolist() == [2.0, -4.0, 8.0]
    big = torch.zeros(200_000)
    noise = ByzantineUpdate("gaussian", 3.0).corrupt(big, torch.Generator().manual_seed(1))
    # sample std of n normal draws: relative standard error 1 / sqrt(2n) = 0.16 %; 5 of them
    assert float(noise.std()) == pytest.approx(3.0, rel=5 / (2 * 200_000) ** 0.5)
    with pytest.raises(ValueError, match="unknown Byzantine behaviour 'flip'"):
        ByzantineUpdate("flip")


def _byzantine_run(scale: float | None, aggregation: str = "fedavg"):
    classes = [] if scale is None else [
        {"name": "bad", "pius": [2], "byzantine": "scaled", "byzantine_scale": scale}
    ]  # fmt: skip
    return Simulation(tiny(device={"classes": classes}, server={"aggregation": aggregation})).run()


def test_a_byzantine_piu_sends_its_scaled_update_in_a_run():
    # FedAvg: w_s - w_clean = phi_2 (s - 1) d_2, so the offset at s = 5 is twice that at 3;
    # each model is rounded to float32 once (<= 6e-8 for weights below 1): 1e-6 covers 3x2
    clean, three, five = (_byzantine_run(s).weights.double() for s in (None, 3.0, 5.0))
    torch.testing.assert_close(five - clean, 2 * (three - clean), rtol=0, atol=1e-6)
    assert float((three - clean).abs().max()) > 1e-3  # it did move the model
    device = _byzantine_run(3.0).events.query("event == 'device'")
    assert device.detail.str.endswith("byzantine=scaled").tolist() == [False, False, True]


def test_krum_leaves_out_a_boosted_byzantine_update_in_a_run():
    res = _byzantine_run(1000.0, "krum")
    detail = res.events.query("event == 'aggregate'").detail.iloc[0]
    assert detail in (
        "3 updates, krum: picked [0] of 3 (f = 0)",
        "3 updates, krum: picked [1] of 3 (f = 0)",
    )
