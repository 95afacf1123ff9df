"""Server updates of the asynchronous protocols: staleness weights, FedAsync, FedBuff.

Staleness of an update: ``tau = t - v``, the number of server model versions created since
version v, the one the PIU trained on, up to now (version t).

* FedAsync (Xie, Koyejo, Gupta 2019, "Asynchronous Federated Optimization"): each arriving
  local model ``x_k`` (trained from version v) is mixed in at once,
  ``x_{t+1} = (1 - alpha_t) x_t + alpha_t x_k`` with ``alpha_t = alpha s(tau)`` and
  s "polynomial" ``(1 + tau)^-a`` or "hinge" ``1`` for ``tau <= b`` else
  ``1 / (a (tau - b) + 1)`` (their Section 5.2).
* FedBuff (Nguyen et al. 2022, "Federated Learning with Buffered Asynchronous Aggregation"):
  arriving deltas ``Delta_k = x_k - x_v`` are weighted by s(tau) and buffered; when K are in,
  ``x <- x + eta_g (1/K) sum_k s(tau_k) Delta_k`` (their Algorithm 1, with the staleness
  scaling of their Section 5).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def staleness_weight(function: str, tau: int, a: float = 0.5, b: float = 4.0) -> float:
    """s(tau) in (0, 1] for staleness ``tau`` >= 0 (versions)."""
    if tau < 0:
        raise ValueError(f"staleness must be >= 0, got {tau}")
    if function == "constant":
        return 1.0
    if function == "polynomial":
        return float((1.0 + tau) ** -a)
    if function == "hinge":
        return 1.0 if tau <= b else 1.0 / (a * (tau - b) + 1.0)
    raise ValueError(f"unknown staleness function {function!r}")


def fedasync_mix(x: torch.Tensor, local: torch.Tensor, alpha: float) -> torch.Tensor:
    """FedAsync's new model ``(1 - alpha) x + alpha local`` (flat (P,) tensors)."""
    return torch.lerp(x, local, alpha)


def fedbuff_step(
    x: torch.Tensor, deltas: Sequence[torch.Tensor], weights: Sequence[float], server_lr: float
) -> torch.Tensor:
    """FedBuff's new model ``x + server_lr * mean_k(w_k Delta_k)`` over the K buffered
    deltas (each (P,)) and their staleness weights w_k."""
    if len(deltas) != len(weights) or not deltas:
        raise ValueError("FedBuff needs one staleness weight per buffered delta (K >= 1)")
    total = torch.zeros_like(x)
    for w, d in zip(weights, deltas, strict=True):
        total.add_(d, alpha=w)
    return x + (server_lr / len(deltas)) * total
