"""Per-PIU evaluation: each PIU's held-out share, scored every eval_every rounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from netsim.analysis import load_run, piu_accuracy

from netsim import Simulation
from tests.conftest import tiny


def test_held_out_samples_are_not_trained_on_and_scored_by_hand(tmp_path):
    plain = Simulation(tiny())
    sim = Simulation(tiny(protocol={"rounds": 3}, learning={"eval_every": 2}))
    held = sim.world.server.piu_eval[0]
    for full, train, out in zip(plain.partitions, sim.partitions, held, strict=True):
        assert len(np.intersect1d(train, out)) == 0  # never trained on
        assert sorted(np.concatenate([train, out]).tolist()) == sorted(full.tolist())
        assert len(out) == round(0.2 * len(full))
    res = sim.run()
    assert sorted(set(res.piu_eval["round"])) == [1, 2]  # every 2 rounds, and the last
    last = res.piu_eval[res.piu_eval["round"] == 2]
    t = sim.trainer
    t._load(res.weights)
    t.model.eval()
    with torch.no_grad():
        for k, idx in enumerate(held):
            logits = t.model(t.train_x[torch.as_tensor(idx)])
            correct = int((logits.argmax(1) == t.train_y[torch.as_tensor(idx)]).sum())
            accuracy = correct / len(idx)
            assert last.accuracy.iloc[k] == pytest.approx(accuracy, abs=1e-12)
    res.save(tmp_path / "run")
    stored = load_run(tmp_path / "run").piu_eval
    assert stored is not None and stored.equals(res.piu_eval)


def test_piu_accuracy_summary_by_hand():
    table = pd.DataFrame(
        {"round": [0] * 10, "piu": range(10), "samples": [5] * 10,
         "loss": [0.0] * 10, "accuracy": [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 1.0]}
    )  # fmt: skip
    row = piu_accuracy(table).iloc[0]
    assert row["mean"] == pytest.approx(0.55) and row["min"] == 0.1
    assert row["worst"] == pytest.approx(0.1)  # the worst 10 %: one PIU of ten
    assert row["p10"] == pytest.approx(np.quantile(table.accuracy, 0.1))
    assert piu_accuracy(table, worst=0.3).iloc[0]["worst"] == pytest.approx(0.2)


def test_without_eval_every_the_pius_train_on_everything():
    res = Simulation(tiny()).run()
    assert res.piu_eval.empty
