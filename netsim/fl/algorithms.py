"""FL algorithms, one object each, holding both halves of the algorithm (in the spirit of
pfl-research's ``FederatedAlgorithm`` and Flower's strategies).

**Client half**, called by the PIU (``netsim/nodes/piu.py``) for the model it received:
:meth:`Algorithm.local_rules` (how its local training departs from plain mini-batch SGD:
:mod:`netsim.local_rules`), :meth:`Algorithm.client_update` (its own state after training
and what its upload carries besides the model delta), :meth:`Algorithm.side_entries` (how
many entries that adds: the planned upload), :meth:`Algorithm.delivered` (the upload
arrived: state that moves only then).

**Server half**, called by the synchronous rounds (``netsim/nodes/protocols.py``):
:meth:`Algorithm.server_state` (what goes down with the model), :meth:`Algorithm.unpack`
(an upload -> model delta and side payload), :meth:`Algorithm.combine` (the round's
:class:`Part` s -> the new model), :meth:`Algorithm.after_round` (state after the round)
and :meth:`Algorithm.epsilon` (privacy spent, if it accounts any).

Algorithms: :class:`FedAvg` (with its aggregation rule: FedAvg or a robust rule),
:class:`FedProx`, :class:`FedNova`, :class:`Scaffold`, :class:`FedDyn`; differential
privacy wraps any inner algorithm: :class:`ClientLevelDP` (DP-FedAvg replaces the
combination), :class:`SampleLevelDP` (DP-SGD in local training, per-PIU accounting).
The server optimiser (FedOpt) is applied by the protocol after :meth:`Algorithm.combine`.

A new algorithm is a subclass here overriding what it changes, its name and parameters in
``netsim/scenario/learning.py``, and one line in ``netsim/assembly/protocols.py``.

Client state is kept per PIU index; one algorithm object serves one aggregator (the
server, or one edge server) and the PIUs it aggregates. Vectors are (P,) float32 in
``model.parameters()`` order unless stated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from typing_extensions import override

from netsim.fl.aggregation import (
    AggregationRule,
    fedavg_weights,
    fednova,
    fednova_scale,
    masked_fedavg,
)
from netsim.fl.dp import (
    DPSGD,
    PrivacyAccountant,
    SampleLevelAccounting,
    adaptive_clip,
    dp_fedavg,
    dp_ota_fedavg,
    update_noise_multiplier,
)
from netsim.local_rules import LocalRule, Proximal, Shift


@dataclass(frozen=True)
class Part:
    """One input of the aggregation: a PIU's update (digital) or an AP's over-the-air sum.

    weight: |D| behind it; delta: (P,) the (weighted-average) update; loss: its train loss;
    pius: the PIUs it contains; mask: the entries it carries if not all (own-scope pruning);
    steps: the local steps behind it (a PIU's update); side: what the algorithm's upload
    carries besides the delta (SCAFFOLD's Delta c_k); noise_var: (P,) an over-the-air
    sum's receiver-noise variance per entry.
    """

    weight: int
    delta: torch.Tensor
    loss: float
    pius: tuple[int, ...]
    mask: torch.Tensor | None = None
    steps: int = 0
    side: torch.Tensor | None = None
    noise_var: torch.Tensor | None = None


@dataclass(frozen=True)
class RoundFacts:
    """What a combination may need to know about its round: the model it started from
    (P,), the PIUs selected and in the federation, whether the parts are over-the-air sums,
    and the round's DP noise generator (made on demand: ``Stream.DP`` keyed by the round)."""

    weights: torch.Tensor
    selected: int
    population: int
    over_the_air: bool
    noise: Callable[[], torch.Generator]


@dataclass(frozen=True)
class Combined:
    """A round's new model (P,) before the server optimiser, the ``method`` of its
    ``aggregate`` event and the note in its detail."""

    weights: torch.Tensor
    method: str
    note: str


class Algorithm:
    """FedAvg's defaults for both halves (see the module docstring); subclasses override
    what their algorithm changes. ``name``: the ``learning.algorithm`` it implements."""

    name = "fedavg"

    def __init__(self, rule: AggregationRule | None = None) -> None:
        self.rule = rule or AggregationRule()

    # -- client half ------------------------------------------------------------------

    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        """The rules of PIU ``piu``'s local training on a model sent with ``server_state``."""
        return ()

    def client_update(
        self, piu: int, delta: torch.Tensor, server_state: torch.Tensor | None, steps: int
    ) -> torch.Tensor | None:
        """PIU ``piu`` trained ``delta`` (its local model minus the received one) in
        ``steps`` local steps: update its state and return what its upload carries besides
        the delta (None: nothing)."""
        return None

    def side_entries(self, num_params: int) -> int:
        """Entries the upload carries besides the model delta (a model of ``num_params``)."""
        return 0

    def delivered(self, piu: int) -> None:
        """PIU ``piu``'s upload arrived (state that moves only when the server has it)."""
        return None

    # -- server half ------------------------------------------------------------------

    def server_state(self, weights: torch.Tensor) -> torch.Tensor | None:
        """What goes down with the global model ``weights`` this round (None: nothing)."""
        return None

    def unpack(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A decompressed upload -> (model delta, side payload)."""
        return vector, None

    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        """The new model from the round's parts: sub-models of own-scope pruning by masked
        FedAvg (each entry over the updates that carry it), else the aggregation rule."""
        w = facts.weights
        sizes, deltas = [p.weight for p in parts], [p.delta for p in parts]
        if any(p.mask is not None for p in parts):
            everything = torch.ones_like(w, dtype=torch.bool)
            masks = [everything if p.mask is None else p.mask for p in parts]
            return Combined(masked_fedavg(w, deltas, sizes, masks), "fedavg", "fedavg")
        aggregated, note = self.rule.apply(w, deltas, sizes)
        return Combined(aggregated, self.rule.name, note)

    def after_round(self, parts: Sequence[Part]) -> None:
        """The round's parts are combined (state that moves with the round)."""
        return None

    def epsilon(self) -> float:
        """Differential privacy spent so far (NaN: not accounted)."""
        return math.nan


class FedAvg(Algorithm):
    """FedAvg (McMahan et al. 2017) with its aggregation rule (FedAvg weights |D_k|, or a
    robust rule: median, trimmed mean, norm clipping, Krum, Multi-Krum, Bulyan)."""


class FedProx(FedAvg):
    """FedProx (Li et al. 2020): local training minimises ``F_k(w) + mu/2 ||w - w^t||^2``
    (every step's gradient gets ``mu (w - w^t)``); the server combines as FedAvg."""

    name = "fedprox"

    def __init__(self, mu: float, rule: AggregationRule | None = None) -> None:
        super().__init__(rule)
        self.mu = mu

    @override
    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        return (Proximal(self.mu),) if self.mu else ()


class FedNova(Algorithm):
    """FedNova (Wang et al. 2020): updates normalised by their local steps, ``w +
    tau_eff sum_k p_k delta_k / a_k`` (``a_k`` of local SGD with ``momentum``)."""

    name = "fednova"

    def __init__(self, momentum: float = 0.0) -> None:
        super().__init__()
        self.momentum = momentum

    @override
    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        sizes, deltas = [p.weight for p in parts], [p.delta for p in parts]
        scales = [fednova_scale(p.steps, self.momentum) for p in parts]
        return Combined(fednova(facts.weights, deltas, sizes, scales), "fednova", "fednova")


class Scaffold(Algorithm):
    """SCAFFOLD (Karimireddy et al. 2020, option II) over PIUs with ``total_samples`` = n
    samples, local SGD at learning rate ``local_lr``.

    The model goes down with the server control variate c (zero at first: twice the bits);
    PIU k's every step's gradient gets ``c - c_k``; after K steps ``Delta c_k = -c + (x -
    y_k) / (K lr)`` rides the upload after the delta (twice the payload) and ``c_k`` moves
    by it once the upload arrives. The model is combined by FedAvg, and ``c <- c +
    sum_{k in S} (n_k / n) Delta c_k``: c stays the |D|-weighted mean of the c_k, as FedAvg
    weights the updates (the paper's 1/N, with equal data sizes), so the fixed point is the
    optimum of the sample-weighted loss.
    """

    name = "scaffold"

    def __init__(self, local_lr: float, total_samples: int) -> None:
        super().__init__()  # its model is combined by plain FedAvg
        self.local_lr = local_lr
        self.total_samples = total_samples
        self.control: torch.Tensor | None = None  # c, from the first round
        self._client: dict[int, torch.Tensor] = {}  # c_k
        self._pending: dict[int, torch.Tensor] = {}  # Delta c_k of an upload under way

    @override
    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        if server_state is None:
            return ()
        c_k = self._client.setdefault(piu, torch.zeros_like(server_state))
        return (Shift(server_state - c_k),)

    @override
    def client_update(
        self, piu: int, delta: torch.Tensor, server_state: torch.Tensor | None, steps: int
    ) -> torch.Tensor | None:
        if server_state is None:
            return None
        control_delta = -server_state - delta / (steps * self.local_lr)
        self._pending[piu] = control_delta
        return control_delta

    @override
    def side_entries(self, num_params: int) -> int:
        return num_params

    @override
    def delivered(self, piu: int) -> None:
        pending = self._pending.pop(piu, None)
        if pending is not None:  # c_k moves as the server's sum assumes
            self._client[piu] = self._client[piu] + pending

    @override
    def server_state(self, weights: torch.Tensor) -> torch.Tensor | None:
        if self.control is None:
            self.control = torch.zeros_like(weights)
        return self.control

    @override
    def unpack(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        half = len(vector) // 2  # (Delta y, Delta c) back to back
        return vector[:half], vector[half:]

    @override
    def after_round(self, parts: Sequence[Part]) -> None:
        assert self.control is not None  # sent with the round's model
        total = self.control.double()
        for p in parts:
            if p.side is not None:
                total += p.side.double() * (p.weight / self.total_samples)
        self.control = total.to(self.control.dtype)


class FedDyn(Algorithm):
    """FedDyn (Acar et al. 2021, "Federated Learning Based on Dynamic Regularization",
    Algorithm 1) with coefficient ``alpha`` over PIUs with ``total_samples`` = n samples.

    PIU k minimises ``L_k(w) - <g_k, w> + alpha/2 ||w - w^{t-1}||^2`` (every step's
    gradient gets ``-g_k + alpha (w - w^{t-1})``), then ``g_k <- g_k - alpha (w_k^t -
    w^{t-1})`` (its state, zero at first; the upload is the delta alone). The server keeps
    ``h <- h - alpha sum_{k in P_t} (n_k / n) Delta_k`` and sets ``w^t = w^{t-1} + sum_{k in
    P_t} (n_k / n_{P_t}) Delta_k - h / alpha``. With equal data sizes these are the paper's
    ``1/m`` (m PIUs) and the mean over the participants P_t; with unequal ones the PIUs are
    weighted by their data, as FedAvg weights them. A round with no update leaves the model
    and h as they were.
    """

    name = "feddyn"

    def __init__(self, alpha: float, total_samples: int) -> None:
        super().__init__()
        self.alpha = alpha
        self.total_samples = total_samples
        self.h: torch.Tensor | None = None  # (P,) float64, the server's state
        self._client: dict[int, torch.Tensor] = {}  # g_k

    @override
    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        g_k = self._client.get(piu)
        proximal = Proximal(self.alpha)
        return (proximal,) if g_k is None else (proximal, Shift(-g_k, b"feddyn"))

    @override
    def client_update(
        self, piu: int, delta: torch.Tensor, server_state: torch.Tensor | None, steps: int
    ) -> torch.Tensor | None:
        g_k = self._client.get(piu)
        self._client[piu] = -self.alpha * delta if g_k is None else g_k - self.alpha * delta
        return None

    @override
    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        w = facts.weights
        if self.h is None:
            self.h = torch.zeros(w.shape, dtype=torch.float64)
        if not parts:
            return Combined(w.clone(), "feddyn", "feddyn")
        new = w.to(torch.float64, copy=True)
        for phi, p in zip(fedavg_weights([p.weight for p in parts]), parts, strict=True):
            new.add_(p.delta, alpha=phi)
            self.h.add_(p.delta, alpha=-self.alpha * p.weight / self.total_samples)
        return Combined((new - self.h / self.alpha).to(w.dtype), "feddyn", "feddyn")


class _Wrapper(Algorithm):
    """An algorithm around an ``inner`` one: everything is the inner's unless overridden."""

    def __init__(self, inner: Algorithm) -> None:
        self.inner = inner
        self.rule = inner.rule
        self.name = inner.name

    @override
    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        return self.inner.local_rules(piu, server_state)

    @override
    def client_update(
        self, piu: int, delta: torch.Tensor, server_state: torch.Tensor | None, steps: int
    ) -> torch.Tensor | None:
        return self.inner.client_update(piu, delta, server_state, steps)

    @override
    def side_entries(self, num_params: int) -> int:
        return self.inner.side_entries(num_params)

    @override
    def delivered(self, piu: int) -> None:
        self.inner.delivered(piu)

    @override
    def server_state(self, weights: torch.Tensor) -> torch.Tensor | None:
        return self.inner.server_state(weights)

    @override
    def unpack(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.inner.unpack(vector)

    @override
    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        return self.inner.combine(facts, parts)

    @override
    def after_round(self, parts: Sequence[Part]) -> None:
        self.inner.after_round(parts)

    @override
    def epsilon(self) -> float:
        return self.inner.epsilon()


class ClientLevelDP(_Wrapper):
    """Client-level DP-FedAvg (McMahan et al. 2018; netsim/fl/dp.py) instead of the inner
    algorithm's combination: each delta clipped to ``clip_norm`` C, Gaussian noise of
    multiplier z (``noise_multiplier``), the fixed denominator of the round's selected
    count; ``accountant`` composes the rounds (epsilon at its delta). ``adaptive``: (target
    quantile gamma, clip learning rate) of adaptive clipping (Andrew et al. 2021: the
    clipped-count noise max(m / 20, z) for m selected, the updates' noise raised so that
    the overall multiplier stays z). Over the air the PIUs have clipped and the APs
    deliver sums; ``count_ota_noise``: their receiver noise counts toward z C (netsim/fl/dp.py
    states when that holds)."""

    def __init__(
        self,
        inner: Algorithm,
        clip_norm: float,
        noise_multiplier: float,
        accountant: PrivacyAccountant,
        adaptive: tuple[float, float] | None = None,
        count_ota_noise: bool = False,
    ) -> None:
        super().__init__(inner)
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier
        self.accountant = accountant
        self.adaptive = adaptive
        self.count_ota_noise = count_ota_noise
        self._epsilon = math.nan

    @override
    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        gen = facts.noise()
        selected = max(facts.selected, 1)
        rate = selected / max(facts.population, 1)
        z, clip = self.noise_multiplier, self.clip_norm
        deltas = [p.delta for p in parts]
        if facts.over_the_air:
            air = torch.zeros(facts.weights.shape, dtype=torch.float64)
            for p in parts:
                if p.noise_var is not None:
                    air += p.noise_var
            aggregated, z_eff = dp_ota_fedavg(
                facts.weights, deltas, air, clip, z, selected, self.count_ota_noise, gen
            )
            self._epsilon = self.accountant.step(z_eff, rate)
            z_air = math.sqrt(float(air.min())) / clip
            note = (
                f"dp_fedavg over the air: clipped to {clip:g} by the PIUs, receiver noise "
                f"z_air {z_air:.4g}" + (" counted" if self.count_ota_noise else "")
                + f", z_eff {z_eff:.4g}, epsilon {self._epsilon:.4g}"
            )  # fmt: skip
            return Combined(aggregated, "dp_fedavg", note)
        count_std = max(selected / 20, self.noise_multiplier)  # Andrew et al.'s m / 20
        if self.adaptive is not None:
            z = update_noise_multiplier(self.noise_multiplier, count_std)
        aggregated, clipped = dp_fedavg(facts.weights, deltas, clip, z, selected, gen)
        self._epsilon = self.accountant.step(self.noise_multiplier, rate)
        note = f"dp_fedavg: {clipped} clipped to {clip:g}, epsilon {self._epsilon:.4g}"
        if self.adaptive is not None:
            norms = [float(torch.linalg.vector_norm(d.double())) for d in deltas]
            gamma, clip_lr = self.adaptive
            self.clip_norm = adaptive_clip(clip, norms, gamma, clip_lr, count_std, selected, gen)
            note += f", next clip {self.clip_norm:.4g}"
        return Combined(aggregated, "dp_fedavg", note)

    @override
    def epsilon(self) -> float:
        return self._epsilon


class SampleLevelDP(_Wrapper):
    """DP-SGD in every PIU's local training (Abadi et al. 2016: :class:`netsim.fl.dp.DPSGD`
    with ``clip_norm`` C and ``noise_multiplier`` z) around the inner algorithm; each
    received update spends its PIU's privacy (``accounting``), and the worst PIU's epsilon
    is reported."""

    def __init__(
        self,
        inner: Algorithm,
        clip_norm: float,
        noise_multiplier: float,
        accounting: SampleLevelAccounting,
    ) -> None:
        super().__init__(inner)
        self.dp_sgd = DPSGD(clip_norm, noise_multiplier)
        self.accounting = accounting

    @override
    def local_rules(self, piu: int, server_state: torch.Tensor | None) -> tuple[LocalRule, ...]:
        return (*self.inner.local_rules(piu, server_state), self.dp_sgd)

    @override
    def after_round(self, parts: Sequence[Part]) -> None:
        self.inner.after_round(parts)
        for p in parts:
            self.accounting.spend(p.pius[0], p.weight, p.steps)

    @override
    def epsilon(self) -> float:
        return self.accounting.epsilon()
