"""Users' own data files (CSV, Parquet, NPZ): partitions by client id, standardised
features, classification and regression, and named errors for malformed files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from netsim import Simulation
from netsim.scenario import ScenarioError
from tests.conftest import tiny

RNG = np.random.default_rng(0)
N, F = 240, 4
X = RNG.normal(size=(N, F)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -1.0, 2.0]
W = np.array([1.0, -0.2, 5.0, 0.3])
HOLE = np.r_[X[:5, 2], np.nan, X[6:, 2]]  # column f2 with row 5 missing
CLIENTS = np.array(["north", "east", "south"])[RNG.integers(0, 3, size=N)]


def _frame(label) -> pd.DataFrame:
    return pd.DataFrame({**{f"f{i}": X[:, i] for i in range(F)}, "y": label, "site": CLIENTS})


def _scenario(path, **learning):
    settings = {"dataset": "file", "data_path": str(path), "label": "y", "model": "mlp",
                "batch_size": 8, "local_steps": 2, **learning}  # fmt: skip
    return tiny(learning=settings, protocol={"rounds": 2})


def test_a_csv_with_client_ids_gives_exactly_those_partitions(tmp_path):
    path = tmp_path / "data.csv"
    labels = np.where(np.median(X @ W) < X @ W, "high", "low")
    _frame(labels).to_csv(path, index=False)
    sim = Simulation(_scenario(path, client_id="site"))
    groups = sim.train_data.groups.numpy()
    # PIU k holds every training sample of the k-th client id in sorted order: east, north,
    # south
    for k, part in enumerate(sim.partitions):
        assert (groups[part] == k).all()
    assert sorted(np.concatenate(sim.partitions).tolist()) == list(range(len(groups)))
    sizes = [int((c == CLIENTS).sum()) for c in ("east", "north", "south")]
    n_test = len(sim.trainer.test_y)
    assert sum(len(p) for p in sim.partitions) == N - n_test
    assert all(len(p) <= s for p, s in zip(sim.partitions, sizes, strict=True))
    # features standardised per column over the file; labels "high" < "low" -> 0, 1
    everything = torch.cat([sim.trainer.train_x, sim.trainer.test_x]).reshape(-1, F)
    assert everything.mean(0).abs().max() < 1e-5
    assert torch.allclose(everything.std(0, unbiased=False), torch.ones(F), atol=1e-5)
    res = sim.run()
    assert res.rounds.test_accuracy.notna().all()


def test_regression_learns_with_the_mean_squared_error(tmp_path):
    path = tmp_path / "data.parquet"
    _frame(X @ W).drop(columns="site").to_parquet(path)  # no client column: all features
    res = Simulation(_scenario(path, task="regression", local_steps=20)).run()
    assert res.rounds.test_accuracy.isna().all()  # no accuracy for a regression
    assert res.rounds.test_loss.iloc[-1] < res.rounds.test_loss.iloc[0]
    sim = Simulation(_scenario(path, task="regression"))
    out, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])
    assert float(sim.trainer.loss(out, y)) == pytest.approx((1 + 4) / 2)


def test_an_npz_file_reads_like_the_table(tmp_path):
    path = tmp_path / "data.npz"
    labels = (X @ W > 0).astype(np.int64)
    np.savez(path, x=X, y=labels)
    sim = Simulation(_scenario(path))
    assert sim.trainer.num_params > 0 and len(sim.partitions) == 3
    assert math.isfinite(sim.run().final_accuracy)


@pytest.mark.parametrize(
    ("write", "learning", "needle"),
    [
        (lambda p: _frame(X[:, 0]).drop(columns="y").to_csv(p, index=False), {},
         "has no column 'y'; columns: f0, f1, f2, f3, site"),
        (lambda p: _frame(X[:, 0]).assign(f1="a").to_csv(p, index=False), {},
         "feature columns must be numeric; not: f1"),
        (lambda p: _frame(np.r_[np.nan, X[1:, 0]]).to_csv(p, index=False), {"task": "regression"},
         "label column 'y' has empty values"),
        (lambda p: _frame(X[:, 0]).assign(f2=HOLE).to_csv(p, index=False), {},
         "row 5 has no finite value in column 'f2'"),
        (lambda p: _frame(np.ones(N)).to_csv(p, index=False), {},
         "classification needs two or more labels"),
        (lambda p: _frame(X @ W > 0).to_csv(p, index=False), {"client_id": "region"},
         "has no column 'region'"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_named(tmp_path, write, learning, needle):
    path = tmp_path / "bad.csv"
    write(path)
    with pytest.raises(ScenarioError, match="learning.data_path") as err:
        Simulation(_scenario(path, client_id=learning.pop("client_id", "site"), **learning))
    assert needle in str(err.value)


def test_clients_must_match_the_pius_and_the_file_must_exist(tmp_path):
    path = tmp_path / "data.csv"
    frame = _frame((X @ W > 0).astype(int))
    frame.assign(site=np.arange(N) % 4).to_csv(path, index=False)  # 4 clients, 3 PIUs
    with pytest.raises(ScenarioError, match="learning.client_id = 'site'.*4 clients.*3 PIUs"):
        Simulation(_scenario(path, client_id="site"))
    with pytest.raises(ScenarioError, match="does not exist"):
        Simulation(_scenario(tmp_path / "nope.csv"))
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ScenarioError, match=r"is not a \.csv, \.parquet, \.npz file"):
        Simulation(_scenario(tmp_path / "data.txt"))


def test_netsim_run_reads_a_data_file_relative_to_the_scenario(tmp_path):
    import json

    import tomli_w

    from netsim.cli import main

    _frame((X @ W > 0).astype(int)).to_csv(tmp_path / "mine.csv", index=False)
    data = _scenario(tmp_path / "mine.csv", client_id="site").to_dict()
    data["learning"]["data_path"] = "mine.csv"  # relative to the scenario file
    (tmp_path / "s.toml").write_text(tomli_w.dumps(data))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["inputs"]["data"]["sha256"]) == ["mine.csv"]
