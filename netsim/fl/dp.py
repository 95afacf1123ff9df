"""Client-level differential privacy for FedAvg (DP-FedAvg, McMahan et al. 2018) and its
privacy accounting with Opacus's accountants (never a hand-written one).

Each round the server clips every PIU's delta to L2 norm C, sums them, adds Gaussian noise
``N(0, z^2 C^2 I)`` and divides by the fixed expected number of participants ``q N`` (a
fixed denominator keeps one PIU's influence, the sensitivity, at C):

    x <- x + (sum_k clip(Delta_k, C) + N(0, z^2 C^2 I)) / (q N)

A round is the sampled Gaussian mechanism with sampling rate q and noise multiplier z; the
accountant composes the rounds and reports epsilon at the scenario's delta. Assumptions
behind the reported epsilon (say them wherever it is quoted): the PIUs of a round are a
uniform sample of the N (the accountants analyse Poisson sampling at rate q, the usual
approximation for a fixed-size uniform sample; over-commitment or a ranking selection
breaks it), every PIU's contribution is clipped to C by the server (a PIU that sends
nothing in a round is still counted as sampled), and the noise is drawn by a server the
adversary does not control.

Over the air (``count_ota_noise``; Sery et al. 2021, Seif et al. 2020, Liu & Simeone
2020): each PIU clips its own update to C (the server never sees it alone) and sends
``x_k = clip(Delta_k, C) / s`` with the data-independent scale ``s = C / sqrt(n)`` (n
entries; ``||x_k||^2 <= n``, so every entry has mean power <= 1) and equal weights; the AP
delivers the sum ``sum_k clip(Delta_k, C) + e`` whose receiver noise e is Gaussian with a
known variance per entry (from the power control). The server adds only the noise still
missing, ``N(0, max(0, z^2 C^2 - var(e_i)))`` per entry, so every entry of the released sum
carries at least ``z C`` (the channel's noise counts) and the rounds are accounted at
``z_eff = max(z, min_i sd(e_i) / C)``. That holds under these assumptions: (1) the
adversary sees the released global models only (the APs and the server are trusted, as in
DP-FedAvg; an AP's own received sum is protected only by that AP's noise); (2) the
receiver noise is thermal, independent of the data and of the adversary, and its variance
is what the receiver reports (no eavesdropper with a better receiver); (3) channel
knowledge and power control are perfect, so the sum carries no data-dependent
misalignment, and the power control depends on the channels only; (4) every PIU clips
honestly. Private power control (``ota_power = "private"``, Liu & Simeone 2020) lowers
each AP's receiver scaling eta until its noise alone provides ``z^2 C^2 / A`` per entry (A
APs): the PIUs save transmit energy and the server adds nothing while the air suffices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from netsim.fl.aggregation import clip_norms
from netsim.local_rules import LocalRule, LossFn
from netsim.rng import Stream


def dp_fedavg(
    global_weights: torch.Tensor,
    updates: Sequence[torch.Tensor],
    clip_norm: float,
    noise_multiplier: float,
    expected_clients: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """``x + (sum_k clip(Delta_k, C) + N(0, z^2 C^2 I)) / (q N)`` (float64 arithmetic);
    returns the model (global_weights' dtype) and how many deltas were clipped.

    global_weights: (P,); updates: the deltas (P,); clip_norm: C; noise_multiplier: z;
    expected_clients: q N, the fixed denominator; gen: the noise's generator."""
    total = torch.zeros(global_weights.shape, dtype=torch.float64)
    bounded, clipped = clip_norms(updates, clip_norm)
    for u in bounded:
        total.add_(u.to(torch.float64))
    noise = torch.randn(global_weights.shape, generator=gen, dtype=torch.float64)
    total.add_(noise, alpha=noise_multiplier * clip_norm)
    new = global_weights.to(torch.float64) + total / expected_clients
    return new.to(global_weights.dtype), clipped


def dp_ota_fedavg(
    global_weights: torch.Tensor,
    sums: Sequence[torch.Tensor],
    air_var: torch.Tensor,
    clip_norm: float,
    noise_multiplier: float,
    expected_clients: float,
    count_air: bool,
    gen: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """DP-FedAvg over the air (module docstring): ``x + (sum_a S_a + N(0, v)) / (q N)``
    with ``v = max(0, z^2 C^2 - air_var)`` per entry if the receiver noise counts, else
    ``z^2 C^2``; returns the model (global_weights' dtype) and the noise multiplier of
    the release, z_eff (float64 arithmetic).

    sums: each AP's received sum of clipped updates S_a (P,), receiver noise included;
    air_var: (P,) the receiver-noise variance of ``sum_a S_a`` per entry (0 where nothing
    was received)."""
    total = torch.zeros(global_weights.shape, dtype=torch.float64)
    for s in sums:
        total.add_(s.to(torch.float64))
    wanted = (noise_multiplier * clip_norm) ** 2
    air = air_var.to(torch.float64)
    if count_air:
        missing = (wanted - air).clamp_(min=0.0)
        z_eff = max(noise_multiplier, math.sqrt(float(air.min())) / clip_norm)
    else:
        missing, z_eff = torch.full_like(air, wanted), noise_multiplier
    noise = torch.randn(global_weights.shape, generator=gen, dtype=torch.float64)
    total.add_(noise * missing.sqrt())
    new = global_weights.to(torch.float64) + total / expected_clients
    return new.to(global_weights.dtype), z_eff


@dataclass(frozen=True)
class PrivateOTA:
    """What a PIU and its AP do for client-level DP over the air (module docstring).

    clip_norm: C; air_var: the receiver-noise variance per entry an AP aims its sum at
    (private power control, z^2 C^2 / A), or None for full power."""

    clip_norm: float
    air_var: float | None = None

    def signals(self, deltas: np.ndarray) -> tuple[np.ndarray, float]:
        """Each PIU's clipped update over the data-independent scale: (x (K, n), s) with
        ``x_k = clip(Delta_k, C) / s``, ``s = C / sqrt(n)``. deltas: (K, n) float64."""
        bounded, _ = clip_norms(list(torch.from_numpy(deltas)), self.clip_norm)
        scale = self.clip_norm / math.sqrt(deltas.shape[1])
        return torch.stack(bounded).numpy() / scale, scale

    def max_eta(self, pius: int, scale: float, noise_w: float) -> float:
        """The receiver scaling at which the noise of an AP's sum of ``pius`` equally
        weighted signals has variance ``air_var`` per entry: the sum is ``K s`` times the
        estimate, whose noise variance is ``noise_w ||m||^2 / (2 eta)`` with a unit-norm
        beamformer: ``eta = K^2 s^2 noise_w / (2 air_var)`` (inf: full power)."""
        if self.air_var is None or self.air_var <= 0:
            return math.inf
        return (pius * scale) ** 2 * noise_w / (2 * self.air_var)


def adaptive_clip(
    clip_norm: float,
    norms: Sequence[float],
    target_quantile: float,
    lr: float,
    count_std: float,
    expected_clients: float,
    gen: torch.Generator,
) -> float:
    """The next round's clip norm by adaptive clipping (Andrew et al. 2021): the noised
    fraction of updates within the clip norm, ``b = (#{||Delta_k|| <= C} + N(0,
    count_std^2)) / (q N)``, moves C geometrically towards the ``target_quantile`` gamma of
    the update norms: ``C <- C exp(-lr (b - gamma))``."""
    within = sum(n <= clip_norm for n in norms)
    noise = float(torch.randn((), generator=gen, dtype=torch.float64))
    b = (within + count_std * noise) / expected_clients
    return clip_norm * math.exp(-lr * (b - target_quantile))


def update_noise_multiplier(noise_multiplier: float, count_std: float) -> float:
    """The updates' noise multiplier z_Delta that keeps the overall multiplier at z when the
    clipped-count query of adaptive clipping is released too (Andrew et al. 2021, Theorem
    1): ``z_Delta = (z^-2 - (2 count_std)^-2)^(-1/2)``; needs ``2 count_std > z``."""
    rest = noise_multiplier**-2 - (2 * count_std) ** -2
    if rest <= 0:
        raise ValueError(
            f"adaptive clipping's count noise {count_std:g} leaves no privacy for the updates "
            f"at noise multiplier {noise_multiplier:g}: it needs 2 x count_std > z"
        )
    return rest**-0.5


@dataclass
class PrivacyAccountant:
    """Epsilon at ``delta`` of the rounds so far, each a sampled Gaussian mechanism (sampling
    rate q, noise multiplier z), composed by Opacus's "rdp" (Renyi DP, Mironov 2017) or "prv"
    (privacy random variables, Gopi et al. 2021) accountant."""

    delta: float
    method: str = "rdp"
    _accountant: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from opacus.accountants import PRVAccountant, RDPAccountant  # heavy: only with DP

        if self.method not in ("rdp", "prv"):
            raise ValueError(f"unknown accountant {self.method!r}; 'rdp' or 'prv'")
        self._accountant = RDPAccountant() if self.method == "rdp" else PRVAccountant()

    def step(self, noise_multiplier: float, sample_rate: float) -> float:
        """Compose one more mechanism; epsilon of all so far."""
        self.compose(noise_multiplier, sample_rate, 1)
        return self.epsilon()

    def compose(self, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Compose ``steps`` more mechanisms (without computing epsilon: ~0.1 s a time)."""
        for _ in range(steps):
            self._accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)

    def epsilon(self) -> float:
        """Epsilon at ``delta`` of everything composed so far."""
        return float(self._accountant.get_epsilon(delta=self.delta))

    @property
    def history(self) -> tuple[tuple[float, float, int], ...]:
        """What was composed, as the accountant keeps it: runs of equal (z, q, steps)."""
        return tuple(tuple(h) for h in self._accountant.history)


@dataclass
class SampleLevelAccounting:
    """DP-SGD's privacy per PIU (Abadi et al. 2016): every local step of PIU k is a
    sampled Gaussian mechanism on its own data with sampling rate ``B / n_k`` and noise
    multiplier z; one accountant per PIU composes the steps of the updates the server
    received. ``epsilon()`` is the largest over the PIUs (the worst-off PIU's samples).
    The mini-batches are slices of a shuffled order, not Poisson samples: the usual
    approximation of DP-SGD's accounting."""

    noise_multiplier: float
    batch_size: int
    delta: float
    method: str = "rdp"
    _per_piu: dict[int, PrivacyAccountant] = field(default_factory=dict, repr=False)
    _epsilon: dict[int, float] = field(default_factory=dict, repr=False)
    # epsilon of a composition history: PIUs with equal data sizes share theirs
    _known: dict[tuple[tuple[float, float, int], ...], float] = field(
        default_factory=dict, repr=False
    )

    def spend(self, piu: int, samples: int, steps: int) -> None:
        """PIU ``piu`` (``samples`` = n_k) released an update of ``steps`` DP-SGD steps."""
        if not steps:
            return
        acc = self._per_piu.get(piu)
        if acc is None:
            acc = self._per_piu[piu] = PrivacyAccountant(self.delta, self.method)
        acc.compose(self.noise_multiplier, min(self.batch_size, samples) / samples, steps)
        history = acc.history
        if history not in self._known:
            self._known[history] = acc.epsilon()
        self._epsilon[piu] = self._known[history]

    def epsilon(self) -> float:
        """The largest epsilon of any PIU so far (0 before any release)."""
        return max(self._epsilon.values(), default=0.0)


class DPSGD(LocalRule):
    """DP-SGD's gradients in local training (Abadi et al. 2016): every step's per-sample
    gradients (torch.func: vmap of grad over the batch) are clipped to L2 norm C over all
    parameters, summed, given ``N(0, z^2 C^2 I)`` noise (the ``DP_SGD`` stream, keyed by
    (PIU, round)) and divided by the batch size B. clip_norm: C; noise_multiplier: z."""

    stream = Stream.DP_SGD
    computes_gradients = True

    def __init__(self, clip_norm: float, noise_multiplier: float) -> None:
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier

    def key(self) -> bytes:
        """b"dp_sgd" and (C, z) as float64."""
        return b"dp_sgd" + np.asarray([self.clip_norm, self.noise_multiplier]).tobytes()

    def gradients(
        self,
        model: nn.Module,
        loss: LossFn,
        x: torch.Tensor,
        y: torch.Tensor,
        gen: torch.Generator | None,
    ) -> torch.Tensor:
        """The clipped, noised mean gradient into each ``.grad``; the batch's mean loss."""
        from torch.func import functional_call, grad, vmap

        assert gen is not None  # the trainer keys one from ``stream``
        clip_norm, z = self.clip_norm, self.noise_multiplier
        params = {n: p.detach() for n, p in model.named_parameters()}
        buffers = {n: b.detach() for n, b in model.named_buffers()}

        def sample_loss(
            p: dict[str, torch.Tensor], xs: torch.Tensor, ys: torch.Tensor
        ) -> torch.Tensor:
            return loss(functional_call(model, (p, buffers), (xs[None],)), ys[None])

        per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, x, y)  # (B, *shape)
        squares = sum(g.reshape(len(y), -1).pow(2).sum(1) for g in per_sample.values())
        scale = (clip_norm / (squares.sqrt() + 1e-12)).clamp(max=1.0)  # (B,)
        with torch.no_grad():
            for name, p in model.named_parameters():
                g = per_sample[name]
                summed = (g * scale.reshape(-1, *[1] * (g.dim() - 1))).sum(0)
                noise = torch.randn(summed.shape, generator=gen).to(summed.device)
                p.grad = (summed + z * clip_norm * noise) / len(y)
            return loss(model(x), y)
