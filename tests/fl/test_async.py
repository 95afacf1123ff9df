"""FedAsync and FedBuff: staleness, mixing weights and buffer steps by hand."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.fl.asynchronous import fedasync_mix, fedbuff_step, staleness_weight
from netsim.learn.trainer import TrainJob
from netsim.log import log_digest
from netsim.rng import Stream
from tests.conftest import float32_atol, tiny


def test_staleness_functions_by_hand():
    assert staleness_weight("constant", 7) == 1.0
    assert staleness_weight("polynomial", 3, a=0.5) == 0.5  # (1 + 3)^-0.5
    assert staleness_weight("polynomial", 0, a=2.0) == 1.0
    assert staleness_weight("hinge", 4, a=10.0, b=4.0) == 1.0  # tau <= b
    assert staleness_weight("hinge", 6, a=10.0, b=4.0) == 1 / 21  # 1 / (10 (6 - 4) + 1)
    with pytest.raises(ValueError, match="staleness must be >= 0"):
        staleness_weight("hinge", -1)


def test_fedasync_mix_and_fedbuff_step_by_hand():
    x = torch.tensor([1.0, 2.0])
    assert fedasync_mix(x, torch.tensor([3.0, 0.0]), 0.25).tolist() == [1.5, 1.5]
    deltas = [torch.tensor([2.0, 0.0]), torch.tensor([0.0, 4.0])]
    # x + 0.5 * (1 * [2, 0] + 0.5 * [0, 4]) / 2 = [1 + 0.5, 2 + 0.5]
    assert fedbuff_step(x, deltas, [1.0, 0.5], server_lr=0.5).tolist() == [1.5, 2.5]


def _async(mode: str, rounds: int, **protocol):
    return tiny(protocol={"mode": mode, "rounds": rounds, **protocol})


def test_fedasync_staleness_and_mixing_weights_match_hand_computation():
    res = Simulation(_async("fedasync", 3, mixing=0.6)).run()
    e = res.events
    rx = e[e.event == "rx_update"]
    # TINY has constant delays: all three PIUs start on version 0 together and finish their
    # uploads in distance order (TDMA); each arrival makes a new version, so the first
    # three staleness values are 0, 1, 2
    assert rx.detail.str.split().str[0].tolist() == ["piu0", "piu1", "piu2"]
    assert rx.staleness.tolist() == [0.0, 1.0, 2.0]
    alphas = e[e.event == "aggregate"].detail.str.extract(r"alpha=([\d.]+)")[0].astype(float)
    hand = [0.6 * (1 + tau) ** -0.5 for tau in (0, 1, 2)]  # polynomial, a = 0.5
    assert alphas.tolist() == pytest.approx(hand, rel=1e-5)
    # staleness from the timeline alone: versions made between receiving the model and
    # the update's arrival
    for _, row in rx.iterrows():
        piu = row.detail.split()[0]
        got = e[(e.node == piu) & (e.event == "rx_model") & (e.t_s <= row.t_s)].t_s.max()
        made = e[(e.event == "aggregate") & (e.t_s > got) & (e.t_s < row.t_s)]
        assert len(made) == row.staleness


def test_the_first_fedasync_version_mixes_the_first_local_model():
    def first_version(mixing):
        sim = Simulation(_async("fedasync", 1, mixing=mixing))
        x0 = sim.server.weights.clone()
        return x0, sim.run().weights

    x0, local = first_version(1.0)  # alpha = 1 * s(0) = 1: the new model is piu0's model
    _, mixed = first_version(0.6)
    # (1 - a) x + a y: two products and a sum in float32, in whatever order torch takes
    expected = 0.4 * x0 + 0.6 * local
    atol = float32_atol(x0, local, operations=4)
    torch.testing.assert_close(mixed, expected, rtol=0, atol=atol)


def test_fedbuff_aggregates_exactly_every_k_arrivals():
    k = 2
    res = Simulation(_async("fedbuff", 4, buffer_size=k)).run()
    e = res.events
    server = e[e.event.isin(["rx_update", "aggregate"])].event.tolist()
    assert server == ["rx_update"] * k + ["aggregate"] + (["rx_update"] * k + ["aggregate"]) * 3
    assert res.rounds.aggregated.tolist() == [k] * 4
    assert e[e.event == "aggregate"].detail.tolist() == [f"fedbuff K={k}"] * 4


def test_fedbuff_step_is_the_mean_of_the_weighted_deltas():
    sim = Simulation(_async("fedbuff", 1, buffer_size=3, server_lr=1.0))
    x0 = sim.server.weights.clone()
    buffered = _a_version_of_each_piu(sim)
    res = sim.run()
    # all three trained on version 0 (staleness 0, s = 1): x1 = x0 + mean of the deltas
    assert res.events[res.events.event == "rx_update"].staleness.tolist() == [0.0] * 3
    expected = x0 + sum(buffered) / 3
    # three deltas summed, divided, added: about six float32 roundings
    atol = float32_atol(x0, *buffered, operations=6)
    torch.testing.assert_close(res.weights, expected, rtol=0, atol=atol)


def _a_version_of_each_piu(sim):
    """Each PIU's delta on version 0, computed by the trainer the simulation uses."""
    s = sim.scenario
    x0 = sim.server.weights.clone()
    handles = [
        sim.trainer.submit(TrainJob(k, 0, x0, sim.partitions[k], s.learning.local_steps))
        for k in range(3)
    ]
    return [h.result().weights - x0 for h in handles]


def test_async_with_churn_is_deterministic():
    churn = {"availability": {"kind": "exponential", "mean_on_s": 0.5, "mean_off_s": 0.2}}
    s = tiny(protocol={"mode": "fedbuff", "rounds": 5, "buffer_size": 2}, device=churn)
    first, second = Simulation(s).run(), Simulation(s).run()
    assert log_digest(first.events) == log_digest(second.events)
    assert (first.events.event == "offline").any()


def test_a_piu_back_online_gets_the_current_model(tmp_path):
    (tmp_path / "piu2.csv").write_text("time_s,available\n0.15,0\n0.8,1\n")
    device = {"availability": {"kind": "trace", "dir": str(tmp_path)}}
    res = Simulation(tiny(protocol={"mode": "fedasync", "rounds": 8}, device=device)).run()
    e = res.events
    abort = e[(e.event == "abort") & (e.node == "piu2")]
    assert abort.detail.tolist() == ["train (offline)"]  # offline mid-training
    assert abort.duration_s.iloc[0] == pytest.approx(0.15 - 0.113743, abs=1e-6)
    got = e[(e.event == "rx_model") & (e.node == "piu2")]
    assert got.t_s.iloc[0] < 0.15 and got.t_s.iloc[1] > 0.8
    # the model it gets is the version current when it came back
    versions_before = (e[(e.event == "aggregate") & (e.t_s <= 0.8)]).shape[0]
    assert got["round"].iloc[1] == versions_before
    assert not math.isnan(res.final_accuracy)


def test_a_piu_sent_the_same_version_again_trains_on_other_mini_batches(tmp_path):
    """FedBuff hands a PIU the same model version again when the buffer is not yet full;
    its second job must not repeat the first one's mini-batches (it would deliver the
    identical update twice: a cache hit without --cache, counted twice in the buffer)."""
    scenario = tiny(protocol={"mode": "fedbuff", "buffer_size": 2, "rounds": 4})
    sim = Simulation(scenario, cache_dir=tmp_path / "cache")
    result = sim.run()
    starts = result.events[result.events.event == "train_start"]
    again = starts.groupby(["node", "round"]).size()
    assert again.max() >= 2, again  # the situation of the bug did happen
    assert result.training_cache_hits == 0
    trainer, part = sim.trainer, sim.partitions[0]
    first = TrainJob(0, 0, trainer.initial_weights(), part, 3)
    second = TrainJob(0, 0, trainer.initial_weights(), part, 3, repeat=1)
    a = torch.cat(trainer._batches(first))
    b = torch.cat(trainer._batches(second))
    assert not torch.equal(a, b)
    # a first job keeps its key: the mini-batches of round-based runs are unchanged
    gen = sim.streams.torch(Stream.BATCHES, 0, 0)
    n, batch = len(part), min(trainer.batch_size, len(part))
    expected = torch.as_tensor(part)[torch.randperm(n, generator=gen)[:batch]]
    assert torch.equal(a[:batch], expected)
