"""Streaming FedAvg (issue 24, item 5): a running float64 sum of n_k delta_k folded in when
each update is trained, where every trained update arrives; equal to FedAvg over the stored
updates up to float64 round-off, i.e. at most one float32 step per weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation, load_scenario
from netsim.assembly.streaming import AUTO_BYTES, streaming_blocker, uses_streaming
from netsim.fl.aggregation import StreamingFedAvg, fedavg
from netsim.scenario import ScenarioError


def test_streaming_fedavg_by_hand():
    w = torch.tensor([1.0, 2.0])
    s = StreamingFedAvg(w)
    s.add(7, 3, torch.tensor([0.0, 3.0]))
    s.add(2, 1, torch.tensor([1.0, 0.0]))
    # w + (1 [1, 0] + 3 [0, 3]) / 4
    assert torch.equal(s.result({2, 7}), torch.tensor([1.25, 4.25]))
    assert torch.equal(w, torch.tensor([1.0, 2.0]))  # the caller's model untouched
    with pytest.raises(ValueError, match="already"):
        s.add(2, 1, torch.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match=r"not arrived \[7\]"):
        s.result({2})
    assert torch.equal(StreamingFedAvg(w).result(set()), w)  # no update: unchanged


def _ulps(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """|a - b| in float32 steps at the larger of the two."""
    x, y = a.numpy(), b.numpy()
    return np.abs(x - y) / np.spacing(np.maximum(np.abs(x), np.abs(y)))


def test_any_order_is_fedavg_to_one_float32_step():
    """Both sums are float64 (relative error about K 2^-53 = 1e-13 for K = 1000 updates,
    eleven orders below float32's 2^-24): after rounding to float32 they differ by at most
    one step, whatever order the updates come in."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(5000, generator=gen)
    scales = 10.0 ** torch.randint(-4, 1, (1000,), generator=gen)  # magnitudes 1e-4 .. 1
    deltas = [torch.randn(5000, generator=gen) * float(c) for c in scales]
    sizes = torch.randint(1, 600, (1000,), generator=gen).tolist()
    s = StreamingFedAvg(w)
    for k in torch.randperm(1000, generator=gen).tolist():
        s.add(k, sizes[k], deltas[k])
    assert _ulps(s.result(set(range(1000))), fedavg(w, deltas, sizes)).max() <= 1


SETS = ["protocol.rounds=1", "topology.num_pius=30"]


def test_a_streamed_round_is_the_stored_round(monkeypatch):
    """One round of the cell-free scenario, streamed and stored: the same timeline, and a
    model within one float32 step per weight; every update was folded into the sum."""
    folded = []
    real = StreamingFedAvg.add
    monkeypatch.setattr(
        StreamingFedAvg, "add", lambda self, k, n, d: (folded.append(k), real(self, k, n, d))
    )
    stored = Simulation(load_scenario("cellfree", [*SETS, "server.streaming=false"])).run()
    assert not folded
    streamed = Simulation(load_scenario("cellfree", [*SETS, "server.streaming=true"])).run()
    assert sorted(folded) == list(range(30))
    assert _ulps(streamed.weights, stored.weights).max() <= 1
    timeline = ["t_s", "event", "node", "round", "bits", "duration_s", "energy_j"]
    assert streamed.events[timeline].equals(stored.events[timeline])
    aggregate = streamed.events[streamed.events["event"] == "aggregate"]
    assert aggregate["detail"].str.contains("running sum").all()


@pytest.mark.parametrize(
    ("sets", "field"),
    [
        (["protocol.deadline_s=1"], "protocol.deadline_s"),
        (["compression.method=topk"], "compression.method"),
        (["device.battery_j=10"], "device.battery_j"),
        (['server.aggregation="median"'], "server.aggregation"),
        (["protocol.target_updates=20"], "protocol.target_updates"),
    ],
)
def test_streaming_where_an_update_could_go_missing_is_refused(sets, field):
    scenario = load_scenario("cellfree", [*SETS, *sets])
    assert streaming_blocker(scenario)[0] == field
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        Simulation(scenario.with_overrides(["server.streaming=true"]))
    assert not uses_streaming(scenario, 10**9, 10**6)  # "auto" keeps the updates instead


def test_auto_streams_rounds_of_more_than_a_gibibyte():
    s = load_scenario("cellfree", SETS)
    assert s.server.streaming == "auto" and streaming_blocker(s) is None
    params = AUTO_BYTES // (4 * 30)  # 30 PIUs' updates: just 1 GiB
    assert not uses_streaming(s, params, 30)
    assert uses_streaming(s, params + 1, 30)
    assert not uses_streaming(s.with_overrides(["server.streaming=false"]), 10**9, 30)


def test_the_memory_check_counts_the_sum_and_suggests_streaming():
    from netsim.assembly.memory import check_memory, estimate

    s = load_scenario("cellfree", ["topology.num_pius=10000", "server.streaming=false"])
    stored = estimate(s, 199_210, 10_000, 16)
    streamed = estimate(s.with_overrides(["server.streaming=true"]), 199_210, 10_000, 16)
    assert stored.updates_bytes == 10_000 * 199_210 * 4  # every update of a round, float32
    assert streamed.updates_bytes == 2 * 199_210 * 4  # one float64 sum
    with pytest.raises(ScenarioError, match=r"set server\.streaming = true"):
        check_memory(s, 10_000, 16, num_params=199_210, available=4 * 10**9)
    deadline = s.with_overrides(["protocol.deadline_s=1"])
    with pytest.raises(ScenarioError, match=r"protocol\.deadline_s = 1\.0 rules out"):
        check_memory(deadline, 10_000, 16, num_params=199_210, available=4 * 10**9)
