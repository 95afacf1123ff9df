"""Magnitude pruning inside FL: one-shot (OSP) and iterative magnitude pruning (IMP).

The server prunes the global model with one shared mask over the conv/linear weights (biases
are kept): OSP removes ``amount`` of them once; IMP removes ``rate`` (20 %) of the *remaining*
ones at each of ``levels`` levels, ``rounds_per_level`` rounds apart, optionally rewinding the
survivors to their initial values (theta_0). Sparsity after L IMP levels is ``1 - 0.8^L``.
Pruned weights stay zero (the trainer re-applies the mask after every step) and are not
transmitted (sender and receiver share the mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def prune_smallest(
    weights: torch.Tensor, prunable: torch.Tensor, mask: torch.Tensor, fraction: float
) -> torch.Tensor:
    """A new mask (P,) bool: ``mask`` minus the ``round(fraction x remaining)`` prunable
    entries of smallest magnitude among those still unmasked (global, over all layers)."""
    remaining = torch.nonzero(prunable & mask).reshape(-1)
    k = round(fraction * remaining.numel())
    new = mask.clone()
    if k > 0:
        smallest = torch.topk(weights[remaining].abs(), k, largest=False).indices
        new[remaining[smallest]] = False
    return new


@dataclass(frozen=True)
class PruningSchedule:
    """When and how much to prune.

    method: "oneshot" or "imp"; start_round: first pruning round; amount: OSP fraction;
    rate, levels, rounds_per_level: IMP.
    """

    method: str
    start_round: int
    amount: float = 0.7
    rate: float = 0.2
    levels: int = 5
    rounds_per_level: int = 2

    def fraction_at(self, round: int) -> tuple[int, float] | None:
        """(level, fraction of the remaining prunable weights to remove) if ``round`` prunes."""
        offset = round - self.start_round
        if offset < 0:
            return None
        if self.method == "oneshot":
            return (1, self.amount) if offset == 0 else None
        level, rest = divmod(offset, self.rounds_per_level)
        if rest == 0 and level < self.levels:
            return level + 1, self.rate
        return None
