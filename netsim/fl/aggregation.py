"""Aggregation rules as small pure functions on tensors (tested on hand-built inputs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


def fedavg_weights(num_samples: Sequence[int]) -> list[float]:
    """FedAvg weights ``phi_k = |D_k| / sum_j |D_j|`` over the updates that arrived."""
    total = sum(num_samples)
    if total <= 0:
        raise ValueError("FedAvg needs at least one update with samples")
    return [n / total for n in num_samples]


def fedavg(
    global_weights: torch.Tensor, updates: Sequence[torch.Tensor], num_samples: Sequence[int]
) -> torch.Tensor:
    """New global model ``w + sum_k phi_k delta_k`` (McMahan et al. 2017).

    Parameters
    ----------
    global_weights: (P,) model the round started from.
    updates: model deltas ``w_k - w`` (P,) as reconstructed from what was received.
    num_samples: |D_k| of each update's PIU.

    With no update the global model is returned unchanged.
    """
    if not updates:
        return global_weights.clone()
    # A running float64 sum in the given order: O(P) memory whatever K is (stacking 1000
    # float64 updates of the MLP took 1.6 GB and 8 s), and no float32 round-off across K.
    total = global_weights.to(torch.float64, copy=True)  # never add into the caller's tensor
    for phi, u in zip(fedavg_weights(num_samples), updates, strict=True):
        total.add_(u, alpha=phi)  # u promoted to float64 element by element, no copy
    return total.to(global_weights.dtype)


class StreamingFedAvg:
    """FedAvg of a round without holding the updates: each update is folded into a float64
    running sum ``sum_k n_k delta_k`` when it is made, and the new model is
    ``w + sum_k n_k delta_k / sum_k n_k`` (McMahan et al. 2017), O(P) memory whatever the
    number of PIUs (10,000 MLP updates held until aggregation are 8 GB).

    The simulator folds an update in as soon as its PIU has trained it: only in rounds in
    which every trained update is certain to arrive (the build refuses streaming where one
    could be lost, late or cut), and :meth:`result` checks that the PIUs folded in are
    exactly those whose updates arrived. The sum runs in the order the updates were made
    (deterministic); it differs from :func:`fedavg`'s sum in PIU order by float64
    round-off only (about K 2^-53 of the largest term, far below float32's 2^-24).
    """

    def __init__(self, global_weights: torch.Tensor) -> None:
        self.global_weights = global_weights
        self._total = torch.zeros(global_weights.shape, dtype=torch.float64)
        self.samples: dict[int, int] = {}  # PIU -> |D_k| of its update folded in

    def add(self, piu: int, num_samples: int, delta: torch.Tensor) -> None:
        """Fold PIU ``piu``'s update ``delta`` (P,) of ``num_samples`` samples in."""
        if piu in self.samples:
            raise ValueError(f"PIU {piu}'s update is already in the sum")
        self._total.add_(delta, alpha=num_samples)  # promoted element by element, no copy
        self.samples[piu] = num_samples

    def result(self, arrived: set[int]) -> torch.Tensor:
        """The new global model from the updates of the PIUs ``arrived``, which must be
        the ones folded in."""
        if arrived != set(self.samples):
            missing = sorted(set(self.samples) - arrived)[:5]
            extra = sorted(arrived - set(self.samples))[:5]
            raise RuntimeError(
                "streaming FedAvg folds an update in when it is trained and needs every one "
                f"to arrive: folded in but not arrived {missing}, arrived but not folded in "
                f"{extra}; set server.streaming = false"
            )
        total = sum(self.samples.values())
        if not total:
            return self.global_weights.clone()
        new = self.global_weights.double() + self._total / total
        return new.to(self.global_weights.dtype)


def fednova_scale(steps: int, momentum: float = 0.0) -> float:
    """``a_i``, the L1 norm of FedNova's aggregation vector for ``steps`` local steps of SGD
    with momentum rho (Wang et al. 2020): ``tau`` for plain SGD, else
    ``(tau - rho (1 - rho^tau) / (1 - rho)) / (1 - rho)``."""
    if momentum == 0.0:
        return float(steps)
    rho = momentum
    return (steps - rho * (1 - rho**steps) / (1 - rho)) / (1 - rho)


def fednova(
    global_weights: torch.Tensor,
    updates: Sequence[torch.Tensor],
    num_samples: Sequence[int],
    scales: Sequence[float],
) -> torch.Tensor:
    """FedNova's normalised averaging (Wang et al. 2020): ``w + tau_eff sum_k p_k delta_k /
    a_k`` with ``p_k = |D_k| / sum |D|`` and ``tau_eff = sum_k p_k a_k`` (``scales``: the
    a_k of :func:`fednova_scale`). With equal a_k it is FedAvg; PIUs that ran more steps
    no longer pull the model further towards their own optimum."""
    if not updates:
        return global_weights.clone()
    p = fedavg_weights(num_samples)
    tau_eff = sum(pk * a for pk, a in zip(p, scales, strict=True))
    total = global_weights.to(torch.float64, copy=True)  # never add into the caller's tensor
    for pk, a, u in zip(p, scales, updates, strict=True):
        total.add_(u, alpha=tau_eff * pk / a)
    return total.to(global_weights.dtype)


def masked_fedavg(
    global_weights: torch.Tensor,
    updates: Sequence[torch.Tensor],
    num_samples: Sequence[int],
    masks: Sequence[torch.Tensor],
) -> torch.Tensor:
    """FedAvg of sub-models (Hermes, Li et al. 2021): each entry is averaged over the
    updates that carry it, ``w_i + sum_k m_ki |D_k| delta_ki / sum_k m_ki |D_k|``; an entry
    no update carries keeps its value.

    Parameters
    ----------
    global_weights: (P,) model the round started from.
    updates: (P,) deltas (entries outside the update's mask are ignored).
    num_samples: |D_k| of each update.
    masks: (P,) bool, the entries each update carries.
    """
    if not updates:
        return global_weights.clone()
    w = torch.tensor([float(n) for n in num_samples], dtype=torch.float64)
    m = torch.stack([mk.to(torch.float64) for mk in masks])  # (K, P)
    stacked = torch.stack([u.to(torch.float64) for u in updates]) * m
    weight = (w[:, None] * m).sum(0)
    delta = (w[:, None] * stacked).sum(0) / weight.clamp_min(torch.finfo(torch.float64).tiny)
    return (global_weights.to(torch.float64) + delta).to(global_weights.dtype)


# --------------------------------------------------------------------------- robust rules


def coordinate_median(
    global_weights: torch.Tensor, updates: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``w + median_k delta_k`` per coordinate (Yin et al. 2018), unweighted; an even count
    takes the mean of the two middle values. Tolerates fewer than half corrupted updates."""
    if not updates:
        return global_weights.clone()
    ordered = torch.stack([u.to(torch.float64) for u in updates]).sort(dim=0).values  # (K, P)
    k = len(updates)
    middle = ordered[k // 2] if k % 2 else 0.5 * (ordered[k // 2 - 1] + ordered[k // 2])
    return (global_weights.to(torch.float64) + middle).to(global_weights.dtype)


def trimmed_mean(
    global_weights: torch.Tensor, updates: Sequence[torch.Tensor], trim_fraction: float
) -> torch.Tensor:
    """``w +`` the coordinate-wise mean of the deltas after dropping the ``floor(beta K)``
    largest and smallest values of each coordinate (Yin et al. 2018), unweighted.

    trim_fraction: beta in [0, 0.5); with K updates, 2 floor(beta K) < K values remain."""
    if not 0.0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    if not updates:
        return global_weights.clone()
    stacked = torch.stack([u.to(torch.float64) for u in updates]).sort(dim=0).values
    cut = int(trim_fraction * len(updates))
    kept = stacked[cut : len(updates) - cut]
    return (global_weights.to(torch.float64) + kept.mean(dim=0)).to(global_weights.dtype)


def clip_norms(updates: Sequence[torch.Tensor], clip_norm: float) -> tuple[list[torch.Tensor], int]:
    """Each delta scaled to L2 norm at most ``clip_norm`` (Sun et al. 2019, norm bounding
    against boosted updates); returns the clipped deltas and how many were scaled down."""
    if clip_norm <= 0:
        raise ValueError(f"clip_norm must be > 0, got {clip_norm}")
    out, clipped = [], 0
    for u in updates:
        norm = float(torch.linalg.vector_norm(u.to(torch.float64)))
        if norm > clip_norm:
            out.append(u * (clip_norm / norm))
            clipped += 1
        else:
            out.append(u)
    return out, clipped


def krum_scores(updates: Sequence[torch.Tensor], f: int) -> torch.Tensor:
    """Krum's score of each delta (Blanchard et al. 2017): the sum of its squared L2
    distances to its ``K - f - 2`` nearest other deltas, (K,) float64. Needs K > f + 2."""
    k = len(updates)
    if k - f - 2 < 1:
        raise ValueError(f"Krum with f = {f} needs more than {f + 2} updates, got {k}")
    stacked = torch.stack([u.to(torch.float64) for u in updates])  # (K, P)
    distance = torch.cdist(stacked[None], stacked[None])[0] ** 2  # (K, K)
    distance.fill_diagonal_(math.inf)  # not its own neighbour
    return distance.sort(dim=1).values[:, : k - f - 2].sum(dim=1)


def multi_krum(
    global_weights: torch.Tensor, updates: Sequence[torch.Tensor], f: int, m: int
) -> tuple[torch.Tensor, list[int]]:
    """``w +`` the mean of the ``m`` deltas of lowest Krum score (Blanchard et al. 2017;
    ``m = 1``: Krum, which picks one). Unweighted. Returns the model and the chosen indices
    (ascending score, ties to the lower index)."""
    if not 1 <= m <= len(updates):
        raise ValueError(f"Multi-Krum's m must be in [1, {len(updates)}], got {m}")
    scores = krum_scores(updates, f)
    chosen = sorted(range(len(updates)), key=lambda i: (float(scores[i]), i))[:m]
    mean = torch.stack([updates[i].to(torch.float64) for i in chosen]).mean(dim=0)
    return (global_weights.to(torch.float64) + mean).to(global_weights.dtype), chosen


def bulyan(
    global_weights: torch.Tensor, updates: Sequence[torch.Tensor], f: int
) -> tuple[torch.Tensor, list[int]]:
    """Bulyan (El Mhamdi et al. 2018): pick ``theta = K - 2f`` deltas one by one with Krum
    (each time the lowest score among those left, scored among those left), then per
    coordinate average the ``beta = theta - 2f`` values closest to their median. Needs
    K >= 4f + 3. Returns the model and the deltas Krum picked."""
    k = len(updates)
    if k < 4 * f + 3:
        raise ValueError(
            f"Bulyan with f = {f} needs at least 4f + 3 = {4 * f + 3} updates, got {k}"
        )
    left = list(range(k))
    picked = []
    for _ in range(k - 2 * f):
        scores = krum_scores([updates[i] for i in left], f) if len(left) > f + 2 else None
        best = 0 if scores is None else min(range(len(left)), key=lambda j: (float(scores[j]), j))
        picked.append(left.pop(best))
    stacked = torch.stack([updates[i].to(torch.float64) for i in picked])  # (theta, P)
    beta = len(picked) - 2 * f
    median = stacked.median(dim=0).values
    nearest = (stacked - median).abs().argsort(dim=0, stable=True)[:beta]  # (beta, P)
    mean = stacked.gather(0, nearest).mean(dim=0)
    return (global_weights.to(torch.float64) + mean).to(global_weights.dtype), picked


@dataclass(frozen=True)
class AggregationRule:
    """How the server combines a round's digital updates.

    name: "fedavg" (weights |D_k|), "median" (coordinate-wise), "trimmed_mean" (coordinate-
    wise, ``trim_fraction`` cut at each end), "norm_clip" (FedAvg of the deltas clipped to
    L2 norm ``clip_norm``), "krum", "multikrum" (the mean of the ``krum_m`` best-scored,
    default K - f) or "bulyan", against ``byzantine`` = f corrupted updates. The robust
    rules ignore |D_k|: a corrupted PIU could inflate it. A round with too few updates for
    Krum (K <= f + 2) or Bulyan (K < 4f + 3) takes the coordinate-wise median instead, and
    says so in the note.
    """

    name: str = "fedavg"
    trim_fraction: float = 0.1
    clip_norm: float = 1.0
    byzantine: int = 0
    krum_m: int | None = None

    def apply(
        self,
        global_weights: torch.Tensor,
        updates: Sequence[torch.Tensor],
        num_samples: Sequence[int],
    ) -> tuple[torch.Tensor, str]:
        """The new global model (P,) and a note for the ``aggregate`` event."""
        if self.name == "fedavg":
            return fedavg(global_weights, updates, num_samples), "fedavg"
        if self.name == "median":
            return coordinate_median(global_weights, updates), "median"
        if self.name == "trimmed_mean":
            cut = int(self.trim_fraction * len(updates))
            return trimmed_mean(global_weights, updates, self.trim_fraction), (
                f"trimmed_mean: {cut} cut at each end"
            )
        if self.name == "norm_clip":
            clipped, n = clip_norms(updates, self.clip_norm)
            note = f"norm_clip: {n} clipped to {self.clip_norm:g}"
            return fedavg(global_weights, clipped, num_samples), note
        if self.name in ("krum", "multikrum", "bulyan"):
            return self._krum_family(global_weights, updates)
        raise ValueError(f"unknown aggregation rule {self.name!r}")

    def _krum_family(
        self, global_weights: torch.Tensor, updates: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, str]:
        f, k = self.byzantine, len(updates)
        needed = 4 * f + 3 if self.name == "bulyan" else f + 3
        if k < needed:
            note = f"{self.name}: {k} updates, needs {needed} with f = {f}; median instead"
            return coordinate_median(global_weights, updates), note
        if self.name == "bulyan":
            weights, picked = bulyan(global_weights, updates, f)
        else:
            m = 1 if self.name == "krum" else min(self.krum_m or k - f, k)
            weights, picked = multi_krum(global_weights, updates, f, m)
        return weights, f"{self.name}: picked {sorted(picked)} of {k} (f = {f})"
