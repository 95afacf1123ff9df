"""Magnitude pruning inside FL: one-shot (OSP) and iterative magnitude pruning (IMP).

scope "server": the server prunes the global model with one shared mask over the
conv/linear weights (biases are kept). scope "piu": each PIU prunes its own trained local
model with its own mask and sends only its kept entries (plus its mask when it changed); the
server averages each entry over the PIUs that kept it (Hermes-style sub-model averaging,
:func:`netsim.fl.aggregation.masked_fedavg`).

OSP removes ``amount`` of the prunable weights once; IMP removes ``rate`` (20 %) of the
*remaining* ones at each of ``levels`` levels, ``rounds_per_level`` rounds apart,
optionally rewinding the survivors to their initial values (theta_0). Sparsity after L IMP
levels is ``1 - 0.8^L``. Pruned weights stay zero (the trainer re-applies the mask after
every step) and are not transmitted (the receiver knows the mask).
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


def prune_level(
    weights: torch.Tensor,
    prunable: torch.Tensor,
    mask: torch.Tensor | None,
    fraction: float,
    level: int,
) -> tuple[torch.Tensor, int, str]:
    """One pruning level (server or PIU): the new mask (see :func:`prune_smallest`; None is
    the all-kept mask), the pruned model's size in bits and the ``prune`` event's detail."""
    current = mask if mask is not None else torch.ones_like(prunable)
    new = prune_smallest(weights, prunable, current, fraction)
    sparsity = 1 - float(new[prunable].float().mean())
    size_bits = 32 * int(new.sum()) + new.numel()  # kept float32 weights + the mask bitmap
    detail = f"level={level} sparsity={sparsity:.4f} model_bytes={size_bits / 8:.0f}"
    return new, size_bits, detail


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

    def fraction_at(self, round_index: int) -> tuple[int, float] | None:
        """(level, fraction of the remaining prunable weights to remove) if ``round`` prunes."""
        offset = round_index - self.start_round
        if offset < 0:
            return None
        if self.method == "oneshot":
            return (1, self.amount) if offset == 0 else None
        level, rest = divmod(offset, self.rounds_per_level)
        if rest == 0 and level < self.levels:
            return level + 1, self.rate
        return None

    def fraction_between(self, done: int, round_index: int) -> tuple[int, float] | None:
        """For a PIU that has applied ``done`` levels and participates in ``round``: (the
        level it reaches, fraction of its remaining prunable weights to remove to get there),
        or None if no level is due. Levels missed while not selected are applied at once:
        removing ``1 - (1 - rate)^j`` of the remaining weights equals j successive levels."""
        due = 0
        for r in range(self.start_round, round_index + 1):
            hit = self.fraction_at(r)
            if hit is not None:
                due = hit[0]
        if due <= done:
            return None
        if self.method == "oneshot":
            return due, self.amount
        return due, 1 - (1 - self.rate) ** (due - done)
