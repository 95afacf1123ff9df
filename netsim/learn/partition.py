"""Partitioning a training set across PIUs: IID, label shards, Dirichlet label skew,
quantity skew (power-law sizes), and Dirichlet over both labels and sizes."""

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


def partition_quantity(
    n_samples: int, n_pius: int, exponent: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Quantity skew: IID samples, sizes following a power law (Zipf): the PIU of rank r
    (r = 1..K, ranks assigned by a random permutation) holds a share ``r^-exponent /
    sum_j j^-exponent`` of the samples, rounded down, at least one each; what rounding
    leaves goes one by one to the largest."""
    _check(n_samples, n_pius)
    share = np.arange(1, n_pius + 1, dtype=float) ** -exponent
    share /= share.sum()
    sizes = np.maximum(np.floor(share * n_samples).astype(int), 1)
    while sizes.sum() > n_samples:  # the minimum of one pushed it over: take from the top
        sizes[int(np.argmax(sizes))] -= 1
    sizes[: n_samples - sizes.sum()] += 1  # the rest to the largest ones, in rank order
    ranks = rng.permutation(n_pius)  # PIU k has rank ranks[k]
    order = rng.permutation(n_samples)
    chunks = np.split(order, np.cumsum(sizes)[:-1])
    return [np.sort(chunks[ranks[k]]) for k in range(n_pius)]


def partition_dirichlet(
    labels: np.ndarray,
    n_pius: int,
    alpha: float,
    rng: np.random.Generator,
    size_beta: float | None = None,
) -> list[np.ndarray]:
    """Per class c, split its samples across PIUs with proportions ~ Dirichlet(alpha 1_K).

    With ``size_beta``, Dirichlet over both labels and sizes: PIU sizes q ~ Dirichlet(beta
    1_K) and label mixes p_k ~ Dirichlet(alpha 1_C); class c is split in proportion to
    ``q_k p_kc``, so PIU k holds about a share q_k of the data (balanced classes).
    Redrawn (from the same generator) until every PIU has at least one sample.
    """
    _check(len(labels), n_pius)
    classes = np.unique(labels)
    for _ in range(_MAX_DIRICHLET_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_pius)]
        mix = None
        if size_beta is not None:
            q = rng.dirichlet(np.full(n_pius, size_beta))  # (K,)
            mix = q[:, None] * rng.dirichlet(np.full(len(classes), alpha), size=n_pius)
        for i, c in enumerate(classes):
            idx = rng.permutation(np.flatnonzero(labels == c))
            if mix is None:
                props = rng.dirichlet(np.full(n_pius, alpha))
            else:
                props = mix[:, i] / mix[:, i].sum()
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
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
