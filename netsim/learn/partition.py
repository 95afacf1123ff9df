"""Partitioning a training set across PIUs: IID, label shards, Dirichlet label skew."""

from __future__ import annotations

import numpy as np

_MAX_DIRICHLET_TRIES = 1000


def partition_iid(n_samples: int, n_pius: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle and split into ``n_pius`` near-equal parts (sizes differ by at most 1)."""
    _check(n_samples, n_pius)
    return [np.sort(part) for part in np.array_split(rng.permutation(n_samples), n_pius)]


def partition_sampled(
    n_samples: int, n_pius: int, samples_per_piu: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Each PIU draws ``samples_per_piu`` distinct samples uniformly, independently of the
    other PIUs, so PIUs may share samples.

    For cohorts larger than the data set (10,000 PIUs on MNIST-5k): every PIU still holds an
    IID sample of the population, as if each device had recorded its own draws.
    """
    if not 1 <= samples_per_piu <= n_samples:
        raise ValueError(f"samples_per_piu must be in [1, {n_samples}], got {samples_per_piu}")
    return [np.sort(rng.choice(n_samples, samples_per_piu, replace=False)) for _ in range(n_pius)]


def partition_shards(
    labels: np.ndarray, n_pius: int, classes_per_piu: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """McMahan et al. 2017 shards: sort by label, cut into ``n_pius * classes_per_piu`` equal
    shards, give each PIU ``classes_per_piu`` random shards.

    With balanced classes and ``n_pius * classes_per_piu`` a multiple of the number of classes,
    each shard holds one class, so ``classes_per_piu = 1`` gives one class per PIU (AFC-FL).
    """
    _check(len(labels), n_pius * classes_per_piu)
    order = np.argsort(labels, kind="stable")
    shards = np.array_split(order, n_pius * classes_per_piu)
    assignment = rng.permutation(len(shards)).reshape(n_pius, classes_per_piu)
    return [np.sort(np.concatenate([shards[s] for s in row])) for row in assignment]


def partition_dirichlet(
    labels: np.ndarray, n_pius: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Per class c, split its samples across PIUs with proportions ~ Dirichlet(alpha 1_K).

    Redrawn (from the same generator) until every PIU has at least one sample.
    """
    _check(len(labels), n_pius)
    classes = np.unique(labels)
    for _ in range(_MAX_DIRICHLET_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_pius)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(n_pius, alpha)))[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        result = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in result) > 0:
            return result
    raise ValueError(
        f"Dirichlet(alpha={alpha}) partition left a PIU without samples in "
        f"{_MAX_DIRICHLET_TRIES} draws; use a larger alpha or fewer PIUs"
    )


def _check(n_samples: int, n_parts: int) -> None:
    if n_parts > n_samples:
        raise ValueError(f"cannot split {n_samples} samples into {n_parts} non-empty parts")
