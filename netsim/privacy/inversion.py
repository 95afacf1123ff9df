"""Gradient-inversion attacks on an observed local update (COMPRESSION.md, attacks section).

The attacker holds what it observed of one PIU's upload in one round (:class:`Observation`):
the round's global model ``w0`` (P,), the update ``delta`` (P,) as decoded from the payload,
which entries the payload carried (a sparsified payload's indices are known to the receiver:
mask-aware matching), and the public training protocol (local steps, batch size, SGD
learning rate, momentum, weight decay). It optimises dummy samples (and, for DLG, soft
labels) so that the update they would produce matches the observed one:

* **DLG** (Zhu et al. 2019): squared distance of the updates over the sent entries, scaled
  by 1 / lr (for one SGD step: the gradient distance ``sum ||g' - g||^2``); data and label
  logits optimised with L-BFGS (lr 1).
* **iDLG** (Zhao et al. 2020): DLG with the label read off the update: the true class's row
  of the last layer's weight gradient is the only one with a negative sum (so the only one
  with a positive sum in ``delta = -lr g``). For n > 1 samples the n most positive rows are
  taken (label restoration as in Yin et al. 2021; repeated labels are not recovered).
* **Inverting Gradients** ("ig", Geiping et al. 2020): cosine distance of the updates plus
  total variation, Adam (lr 0.1, step decay at 3/8, 5/8, 7/8 of the iterations) on the
  signed gradient, samples boxed to the data range; labels as in iDLG.

A multi-step local update (FedAvg with several SGD steps) is attacked by differentiating
through the unrolled steps (``torch.func.functional_call`` on the dummy samples). The
attacker does not know the PIU's mini-batch order: it reconstructs ``min(|D_k|, steps B,
max_samples)`` samples and unrolls passes over them in a fixed order, B at a time.

Each attack runs ``restarts`` times from random samples (keyed by the attack's seed) and
keeps the restart with the lowest matching loss; ``iterations`` and ``time_budget_s`` (wall
clock, per restart) bound the work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

METHODS = ("dlg", "idlg", "ig")


class AttackError(ValueError):
    """An attack cannot be run on this observation (the message says why)."""


@dataclass(frozen=True)
class Observation:
    """What the attacker saw of one local update.

    weights: the round's global model w0 (P,); delta: the decoded update (P,), zeros where
    nothing was sent; sent: (P,) bool entries the payload carried (None: all); local_steps,
    batch_size, num_samples (|D_k|): the protocol; lr, momentum, weight_decay: the local SGD.
    """

    weights: torch.Tensor
    delta: torch.Tensor
    sent: torch.Tensor | None
    local_steps: int
    batch_size: int
    num_samples: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class AttackSettings:
    """method: "dlg", "idlg" or "ig"; restarts; iterations: optimizer steps per restart
    (L-BFGS steps of up to 20 evaluations for DLG/iDLG, Adam steps for IG); time_budget_s:
    wall-clock limit per restart; lr: optimizer step (None: 1 for L-BFGS, 0.1 for Adam);
    tv_weight: total-variation weight (IG); max_samples: at most this many reconstructed
    samples; seed: keys the random starts; mask_aware: match only the entries the payload
    carried (False: DLG's original threat model, dropped entries taken as zeros)."""

    method: str = "idlg"
    restarts: int = 3
    iterations: int = 100
    time_budget_s: float = 60.0
    lr: float | None = None
    tv_weight: float = 1e-4
    max_samples: int = 8
    seed: int = 0
    mask_aware: bool = True


@dataclass(frozen=True)
class Reconstruction:
    """x: reconstructed samples (n, C, H, W), normalised like the data set; labels (n,);
    match_loss: the best restart's matching loss; iterations: optimizer steps it ran;
    restarts: restarts run; wall_s: wall-clock time of the whole attack."""

    x: torch.Tensor
    labels: torch.Tensor
    match_loss: float
    iterations: int
    restarts: int
    wall_s: float


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (
        x[..., :, 1:] - x[..., :, :-1]
    ).abs().mean()


class GradientInversion:
    """Attack one architecture: ``model`` (its parameters are not used, only its structure,
    in ``model.parameters()`` order, matching the flat vectors of :class:`Observation`);
    input_shape (C, H, W); box: (low, high) of the normalised data range (per channel)."""

    def __init__(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        num_classes: int,
        box: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        self.model = model
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.low, self.high = (b.reshape(1, -1, 1, 1) for b in box)
        named = list(model.named_parameters())
        self._names = [n for n, _ in named]
        self._shapes = [p.shape for _, p in named]
        self._sizes = [p.numel() for _, p in named]
        self._last = self._last_layer(named)

    def _last_layer(self, named: list[tuple[str, nn.Parameter]]) -> slice:
        """Flat slice of the classifier's weight (K, F): the last 2-D parameter with K rows."""
        offset, found = 0, None
        for _, p in named:
            if p.dim() == 2 and p.shape[0] == self.num_classes:
                found = slice(offset, offset + p.numel())
            offset += p.numel()
        if found is None:
            raise AttackError(f"the model has no final linear layer with {self.num_classes} rows")
        return found

    # ------------------------------------------------------------------ label inference

    def infer_labels(self, obs: Observation, n: int) -> torch.Tensor:
        """iDLG: the classes whose last-layer weight rows of ``delta`` have the largest sums
        (over the sent entries), most positive first (n,)."""
        rows = obs.delta[self._last]
        if obs.sent is not None:
            rows = rows * obs.sent[self._last]
        sums = rows.reshape(self.num_classes, -1).sum(dim=1)
        order = torch.argsort(sums, descending=True, stable=True)
        return order[torch.arange(n) % self.num_classes]

    # ------------------------------------------------------------------ simulated update

    def simulate(
        self, obs: Observation, x: torch.Tensor, soft_labels: torch.Tensor
    ) -> torch.Tensor:
        """The flat update (P,) that local SGD on samples x (n, C, H, W) with label
        distributions ``soft_labels`` (n, K) would produce from ``obs.weights``;
        differentiable in x and the labels (the steps are unrolled)."""
        w0 = obs.weights
        params = [t.reshape(s) for t, s in zip(w0.split(self._sizes), self._shapes, strict=True)]
        params = [p.detach().requires_grad_(True) for p in params]
        start = list(params)
        velocity: list[torch.Tensor] | None = None
        n, b = len(x), min(obs.batch_size, len(x))
        for step in range(obs.local_steps):
            idx = (torch.arange(b) + step * b) % n  # passes over the dummies in fixed order
            logits = functional_call(
                self.model, dict(zip(self._names, params, strict=True)), (x[idx],)
            )
            loss = -(soft_labels[idx] * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
            grads = torch.autograd.grad(loss, params, create_graph=True)
            if obs.weight_decay:
                grads = tuple(g + obs.weight_decay * p for g, p in zip(grads, params, strict=True))
            if obs.momentum:
                velocity = (
                    list(grads)
                    if velocity is None
                    else [obs.momentum * v + g for v, g in zip(velocity, grads, strict=True)]
                )
                grads = tuple(velocity)
            params = [p - obs.lr * g for p, g in zip(params, grads, strict=True)]
        return torch.cat([(p - s).reshape(-1) for p, s in zip(params, start, strict=True)])

    def _distance(self, obs: Observation, sim: torch.Tensor, method: str) -> torch.Tensor:
        observed = obs.delta
        if obs.sent is not None:  # only the entries the payload carried
            sim, observed = sim[obs.sent], observed[obs.sent]
        if method == "ig":
            return 1.0 - F.cosine_similarity(sim, observed, dim=0, eps=1e-12)
        return ((sim - observed) ** 2).sum() / obs.lr**2

    # ------------------------------------------------------------------ the attack

    def attack(self, obs: Observation, s: AttackSettings) -> Reconstruction:
        """Run ``s.method`` with restarts; the restart with the lowest matching loss wins."""
        if s.method not in METHODS:
            raise AttackError(f"attack method {s.method!r} is not one of {', '.join(METHODS)}")
        n = max(1, min(obs.num_samples, obs.local_steps * obs.batch_size, s.max_samples))
        if not s.mask_aware:
            obs = replace(obs, sent=None)
        began = time.perf_counter()
        best: tuple[float, torch.Tensor, torch.Tensor] | None = None
        iterations = 0
        labels = self.infer_labels(obs, n) if s.method in ("idlg", "ig") else None
        gen = torch.Generator().manual_seed(s.seed)
        for _ in range(s.restarts):
            x0 = torch.randn((n, *self.input_shape), generator=gen)
            y0 = torch.randn((n, self.num_classes), generator=gen)
            if labels is not None and s.method == "ig":
                loss, x, y, steps = self._adam(obs, s, x0, labels)
            else:
                loss, x, y, steps = self._lbfgs(obs, s, x0, y0, labels)
            iterations += steps
            if best is None or loss < best[0]:
                best = (loss, x, y)
        assert best is not None
        return Reconstruction(
            best[1], best[2], best[0], iterations, s.restarts, time.perf_counter() - began
        )

    def _lbfgs(
        self,
        obs: Observation,
        s: AttackSettings,
        x0: torch.Tensor,
        y0: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> tuple[float, torch.Tensor, torch.Tensor, int]:
        """DLG (soft labels optimised) or iDLG (labels fixed), L-BFGS."""
        x = x0.clone().requires_grad_(True)
        y_logits = y0.clone().requires_grad_(labels is None)
        fixed = None if labels is None else F.one_hot(labels, self.num_classes).float()
        variables = [x, y_logits] if labels is None else [x]
        opt = torch.optim.LBFGS(
            variables, lr=s.lr or 1.0, history_size=100, max_iter=20, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            soft = fixed if fixed is not None else F.softmax(y_logits, dim=1)
            loss = self._distance(obs, self.simulate(obs, x, soft), "dlg")
            loss.backward()
            return loss

        return self._optimise(obs, s, opt, closure, x, y_logits, fixed, "dlg")

    def _adam(
        self, obs: Observation, s: AttackSettings, x0: torch.Tensor, labels: torch.Tensor
    ) -> tuple[float, torch.Tensor, torch.Tensor, int]:
        """Inverting Gradients: cosine + TV, signed Adam, boxed."""
        x = x0.clone().clamp(self.low, self.high).requires_grad_(True)
        fixed = F.one_hot(labels, self.num_classes).float()
        opt = torch.optim.Adam([x], lr=s.lr or 0.1)
        milestones = [int(s.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)]
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            match = self._distance(obs, self.simulate(obs, x, fixed), "ig")
            loss = match + s.tv_weight * total_variation(x)
            loss.backward()
            assert x.grad is not None
            x.grad.sign_()  # signed gradients (Geiping et al.)
            return loss

        def after_step() -> None:
            sched.step()
            with torch.no_grad():
                x.clamp_(self.low, self.high)  # boxed to the data range

        return self._optimise(obs, s, opt, closure, x, None, fixed, "ig", after_step)

    def _optimise(
        self,
        obs: Observation,
        s: AttackSettings,
        opt: torch.optim.Optimizer,
        closure,
        x: torch.Tensor,
        y_logits: torch.Tensor | None,
        fixed: torch.Tensor | None,
        kind: str,
        after_step=None,
    ) -> tuple[float, torch.Tensor, torch.Tensor, int]:
        """Step ``opt`` up to ``s.iterations`` times or until the time budget; return the
        final matching loss, samples, hard labels and the steps run."""
        began, steps = time.perf_counter(), 0
        for _ in range(s.iterations):
            opt.step(closure)
            steps += 1
            if after_step is not None:
                after_step()
            if time.perf_counter() - began > s.time_budget_s:
                break
        with torch.no_grad():
            x_final = x.detach().clone()
            soft = fixed if fixed is not None else F.softmax(y_logits, dim=1)  # type: ignore[arg-type]
        with torch.enable_grad():
            loss = float(self._distance(obs, self.simulate(obs, x_final, soft), kind).detach())
        if not math.isfinite(loss):
            loss = math.inf
        return loss, x_final, soft.argmax(dim=1), steps
