"""How an FL algorithm changes a PIU's local training: the rules a trainer applies at every
local step (:class:`LocalRule`).

An algorithm (``netsim/fl/algorithms.py``) gives each training job its rules; a trainer
(``netsim/learn/trainer.py``, ``batched.py``) applies whatever rules a job carries, without
knowing which algorithm made them: at every mini-batch step one rule may compute the
gradients itself (DP-SGD's clipped per-sample gradients), and every rule may then add a
term to them (FedProx's proximal term, SCAFFOLD's and FedDyn's correction). The type sits
below both packages, so that neither ``netsim.fl`` nor ``netsim.learn`` imports the other.

Parameters travel as lists of tensors in ``model.parameters()`` order; a batched trainer
passes G jobs' parameters stacked along a leading axis (G, *shape), which a rule that is
:attr:`LocalRule.groupable` must handle element-wise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from netsim.rng import Stream

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LocalRule:
    """One change to plain mini-batch training, applied at every local step.

    ``stream``: the random stream a rule draws from (keyed by the job's PIU and round by the
    trainer; None: it draws nothing). ``computes_gradients``: the rule computes the step's
    gradients (:meth:`gradients`) instead of the plain backward pass. ``groupable``: a
    batched trainer may apply it to the stacked parameters of G jobs whose rules have the
    same :meth:`key` (False: jobs with it train one at a time, e.g. a per-PIU vector or
    per-sample gradients).
    """

    stream: Stream | None = None
    computes_gradients: bool = False
    groupable: bool = False

    def key(self) -> bytes:
        """What the training cache hashes for this rule (its parameters and tensors): two
        rules with equal keys train identically."""
        raise NotImplementedError

    def gradients(
        self,
        model: nn.Module,
        loss: LossFn,
        x: torch.Tensor,
        y: torch.Tensor,
        gen: torch.Generator | None,
    ) -> torch.Tensor:
        """Compute the step's gradients into each parameter's ``.grad`` and return the
        batch's mean loss (detached), from the batch (x, y) and the rule's generator
        ``gen``; only for a rule that :attr:`computes_gradients` (at most one in a job)."""
        raise NotImplementedError

    def adjust(
        self,
        params: Sequence[torch.Tensor],
        grads: Sequence[torch.Tensor],
        start: Sequence[torch.Tensor],
    ) -> None:
        """Add this rule's term to the step's gradients ``grads`` in place, given the
        current parameters ``params`` and those the job started from ``start`` (each
        (*shape) or stacked (G, *shape)); called without autograd."""
        return None


class Proximal(LocalRule):
    """The gradient of ``mu / 2 ||w - w_start||^2``: ``mu (w - w_start)`` (FedProx's
    proximal term, Li et al. 2020; FedDyn's quadratic term, Acar et al. 2021)."""

    groupable = True

    def __init__(self, mu: float) -> None:
        self.mu = mu

    def key(self) -> bytes:
        """mu as float64 (the key FedProx jobs have always had)."""
        return np.asarray([self.mu], dtype=np.float64).tobytes()

    def adjust(
        self,
        params: Sequence[torch.Tensor],
        grads: Sequence[torch.Tensor],
        start: Sequence[torch.Tensor],
    ) -> None:
        """``g += mu (w - w_start)``."""
        for g, p, p0 in zip(grads, params, start, strict=True):
            g.add_(p - p0, alpha=self.mu)


class Shift(LocalRule):
    """A fixed vector added to every step's gradient, (P,) float32 in ``model.parameters()``
    order: SCAFFOLD's ``c - c_k`` (Karimireddy et al. 2020), FedDyn's ``-grad L_k(w_k^{t-1})``
    (Acar et al. 2021). Per PIU, so jobs with one train alone."""

    def __init__(self, vector: torch.Tensor, label: bytes = b"correction") -> None:
        self.vector = vector
        self.label = label

    def key(self) -> bytes:
        """The label and the vector's bytes."""
        return self.label + self.vector.detach().cpu().contiguous().numpy().tobytes()

    def adjust(
        self,
        params: Sequence[torch.Tensor],
        grads: Sequence[torch.Tensor],
        start: Sequence[torch.Tensor],
    ) -> None:
        """``g += vector`` (split into the parameters' shapes)."""
        offset = 0
        for g in grads:
            n = g.numel()
            g.add_(self.vector[offset : offset + n].view_as(g).to(g.device))
            offset += n
