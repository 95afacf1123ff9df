"""Magnitude pruning in FL: the mask, IMP sparsity 1 - 0.8^L, zeros kept, bits not sent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation
from netsim.compress.pruning import PruningSchedule, prune_smallest
from tests.conftest import tiny

P = 55_210


def test_prune_smallest_removes_the_smallest_unmasked_prunable_entries():
    w = torch.tensor([0.5, -0.1, 0.3, -2.0, 0.05, 1.0])
    prunable = torch.tensor([True, True, True, True, True, False])  # last: a bias
    mask = torch.tensor([True, True, True, True, False, True])  # 0.05 already pruned
    new = prune_smallest(w, prunable, mask, 0.5)  # half of 4 remaining: -0.1 and 0.3
    assert new.tolist() == [True, False, False, True, False, True]


def test_schedules():
    imp = PruningSchedule("imp", start_round=2, levels=3, rounds_per_level=2)
    assert [imp.fraction_at(r) for r in range(9)] == [
        None,
        None,
        (1, 0.2),
        None,
        (2, 0.2),
        None,
        (3, 0.2),
        None,
        None,
    ]
    osp = PruningSchedule("oneshot", start_round=1, amount=0.7)
    assert [osp.fraction_at(r) for r in range(3)] == [None, (1, 0.7), None]


@pytest.mark.parametrize("trainer", ["sequential", "batched"])
def test_imp_in_a_simulation(trainer):
    base = tiny()
    scenario = tiny(
        protocol={"rounds": 4},
        learning={**base.learning.model_dump(), "trainer": trainer, "local_steps": 3},
        pruning={"method": "imp", "start_round": 0, "levels": 3, "rounds_per_level": 1},
    )
    sim = Simulation(scenario)
    res = sim.run()
    ev = res.events
    prunes = ev[ev["event"] == "prune"]
    sparsity = [float(d.split()[1].split("=")[1]) for d in prunes["detail"]]
    assert sparsity == pytest.approx([1 - 0.8**level for level in (1, 2, 3)], abs=1e-4)
    prunable = sim.trainer.prunable()
    mask = sim.server.mask
    assert mask is not None
    # Masked weights are exactly zero after training and aggregation; biases untouched.
    assert torch.count_nonzero(res.weights[~mask]) == 0
    assert bool(mask[~prunable].all())
    # Only the kept entries travel: dense float32 over the mask of the round. The prune
    # event of round r carries the new model size: 32 x kept + an n-bit mask.
    kept = [(int(b) - P) // 32 for b in prunes["bits"]]
    assert kept[-1] == int(mask.sum())
    tx = ev[ev["event"] == "tx_end"]
    broadcast = ev[ev["event"] == "broadcast"]["bits"].tolist()
    for r in range(4):
        k = kept[min(r, 2)]
        assert (tx[tx["round"] == r]["bits"] == 32 * k).all()
        assert broadcast[r] == 32 * k + (P if r < 3 else 0)  # the mask only when it changes


def test_oneshot_with_rewind_restarts_from_the_masked_initial_weights():
    scenario = tiny(
        protocol={"rounds": 2},
        pruning={"method": "oneshot", "start_round": 1, "amount": 0.5, "rewind": True},
    )
    sim = Simulation(scenario)
    initial = sim.server.weights.clone()
    sim.run()
    mask = sim.server.mask
    assert mask is not None
    sparsity = 1 - float(mask[sim.trainer.prunable()].float().mean())
    assert sparsity == pytest.approx(0.5, abs=1e-4)
    assert np.isclose(float((sim.server.initial_weights - initial).abs().max()), 0.0)
