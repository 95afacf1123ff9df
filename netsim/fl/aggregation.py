"""Aggregation rules as small pure functions on tensors (tested on hand-built inputs)."""

from __future__ import annotations

from collections.abc import Sequence

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
    phi = torch.tensor(fedavg_weights(num_samples), dtype=torch.float64)
    stacked = torch.stack([u.to(torch.float64) for u in updates])  # (K, P)
    delta = (phi[:, None] * stacked).sum(0)
    return (global_weights.to(torch.float64) + delta).to(global_weights.dtype)


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
