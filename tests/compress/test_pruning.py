"""Magnitude pruning in FL: the mask, IMP sparsity 1 - 0.8^L, zeros kept, bits not sent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation
from netsim.compress.pruning import PruningSchedule, prune_smallest
from tests.conftest import tiny, training_roundoff

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


def test_a_piu_catches_up_on_missed_levels_at_once():
    imp = PruningSchedule("imp", start_round=2, levels=3, rounds_per_level=2)
    assert imp.fraction_between(0, 1) is None
    assert imp.fraction_between(0, 2) == (1, pytest.approx(0.2))
    assert imp.fraction_between(1, 3) is None  # level 1 done, level 2 due at round 4
    level, fraction = imp.fraction_between(0, 7)  # missed all three levels
    assert level == 3 and fraction == pytest.approx(1 - 0.8**3)
    assert imp.fraction_between(3, 20) is None
    osp = PruningSchedule("oneshot", start_round=1, amount=0.7)
    assert osp.fraction_between(0, 5) == (1, 0.7) and osp.fraction_between(1, 5) is None


def test_masked_fedavg_averages_each_entry_over_the_updates_that_carry_it():
    from netsim.fl.aggregation import masked_fedavg

    w = torch.tensor([1.0, 1.0, 1.0, 1.0])
    d1 = torch.tensor([1.0, 2.0, 3.0, 9.0])
    d2 = torch.tensor([3.0, 6.0, 99.0, 9.0])
    m1 = torch.tensor([True, True, True, False])
    m2 = torch.tensor([True, True, False, False])
    out = masked_fedavg(w, [d1, d2], [1, 3], [m1, m2])
    # entry 0: (1 x 1 + 3 x 3) / 4; entry 1: (1 x 2 + 3 x 6) / 4; entry 2: only d1; 3: nobody
    assert torch.allclose(out, torch.tensor([1 + 10 / 4, 1 + 20 / 4, 4.0, 1.0]))


@pytest.mark.parametrize("trainer", ["sequential", "batched"])
def test_per_piu_imp_in_a_simulation(trainer):
    """scope = "piu": every PIU prunes its own trained model at each level (sparsity
    1 - 0.8^L), uploads only its kept entries (+ its n-bit mask in the round the mask changed)
    and the server keeps the entries every PIU pruned as they were."""
    base = tiny()
    scenario = tiny(
        protocol={"rounds": 3},
        learning={**base.learning.model_dump(), "trainer": trainer, "local_steps": 3},
        pruning={"method": "imp", "scope": "piu", "start_round": 0, "levels": 2},
    )
    sim = Simulation(scenario)
    globals_after = []  # the global model after each round (evaluated once per round)
    evaluate = sim.trainer.evaluate

    def spy(weights):
        globals_after.append(weights.clone())
        return evaluate(weights)

    sim.trainer.evaluate = spy  # type: ignore[method-assign]
    res = sim.run()
    ev = res.events
    prunes = ev[ev["event"] == "prune"]
    assert sorted(prunes["node"]) == ["piu0", "piu0", "piu1", "piu1", "piu2", "piu2"]
    assert set(prunes["round"]) == {0, 2}  # levels at rounds 0 and 2 (rounds_per_level 2)
    prunable = sim.trainer.prunable()
    for piu in sim.pius:
        assert piu.mask is not None
        assert 1 - float(piu.mask[prunable].float().mean()) == pytest.approx(1 - 0.8**2, abs=1e-4)
        assert bool(piu.mask[~prunable].all())
    masks = [piu.mask for piu in sim.pius]
    assert not torch.equal(masks[0], masks[1])  # the masks really are per PIU
    tx = ev[ev["event"] == "tx_end"]
    # Round 1: no change, only the kept values; rounds 0 and 2: values + mask bitmap.
    r1 = tx[tx["round"] == 1]
    r2 = tx[tx["round"] == 2]
    for k in range(3):
        assert int(r2[r2["node"] == f"piu{k}"]["bits"].iloc[0]) == 32 * int(masks[k].sum()) + P
        level1_kept = int(r1[r1["node"] == f"piu{k}"]["bits"].iloc[0]) // 32
        assert level1_kept == P - round(0.2 * int(prunable.sum()))
    # Entries pruned by every PIU in round 2 keep the global value of the round's start.
    pruned_by_all = ~(masks[0] | masks[1] | masks[2])
    assert int(pruned_by_all.sum()) > 0
    assert torch.equal(res.weights[pruned_by_all], globals_after[1][pruned_by_all])
    assert not torch.equal(res.weights[~pruned_by_all], globals_after[1][~pruned_by_all])


def test_per_piu_masks_train_the_same_batched_as_sequentially():
    base = tiny()
    weights = []
    for trainer in ("sequential", "batched"):
        scenario = tiny(
            protocol={"rounds": 2},
            learning={**base.learning.model_dump(), "trainer": trainer, "local_steps": 3},
            pruning={"method": "oneshot", "scope": "piu", "start_round": 0, "amount": 0.5},
        )
        weights.append(Simulation(scenario).run().weights)
    # 2 rounds x 3 SGD steps (lr 0.05) of the digits MLP (a gradient sums over the batch of
    # 4 and at most 200 units) in another summation order
    atol = training_roundoff(torch.float32, 6, 0.05, 4 * 200)
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=atol)
