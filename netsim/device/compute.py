"""Local computation time and energy (PHYSICS.md section 6), and straggler slowdowns.

``t_cmp = S C / f * s`` and ``E_cmp = kappa C S f^2`` for S samples processed, C CPU cycles per
sample, CPU frequency f (Hz), effective switched capacitance kappa and a per-round slowdown
factor s. The slowdown models contention or throttling that stretches wall time, not extra
cycles, so it does not change the energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from typing_extensions import override


@dataclass(frozen=True)
class ComputeModel:
    """CPU of one PIU. cpu_hz: f (Hz); cycles_per_sample: C; kappa: J / (cycle Hz^2)."""

    cpu_hz: float
    cycles_per_sample: float
    kappa: float

    def time_s(self, samples: int, slowdown: float = 1.0) -> float:
        """Time (s) to process ``samples`` samples, stretched by ``slowdown``: ``S C / f * s``."""
        return samples * self.cycles_per_sample / self.cpu_hz * slowdown

    def energy_j(self, samples: int) -> float:
        """Energy (J) to process ``samples`` samples: ``kappa C S f^2``."""
        return self.kappa * self.cycles_per_sample * samples * self.cpu_hz**2


class SlowdownDistribution:
    """A per-round slowdown factor distribution that knows its mean and variance."""

    def sample(self, rng: np.random.Generator) -> float:
        """One slowdown factor (>= 1 for the heavy-tailed ones) drawn from ``rng``."""
        raise NotImplementedError

    @property
    def mean(self) -> float:
        """E[s]."""
        raise NotImplementedError

    @property
    def variance(self) -> float:
        """Var[s] (inf where the tail has none)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantSlowdown(SlowdownDistribution):
    """The same factor every round (1: no straggling)."""

    factor: float = 1.0

    @override
    def sample(self, rng: np.random.Generator) -> float:
        return self.factor

    @override
    @property
    def mean(self) -> float:
        return self.factor

    @override
    @property
    def variance(self) -> float:
        return 0.0


@dataclass(frozen=True)
class LogNormalSlowdown(SlowdownDistribution):
    """``exp(N(0, sigma^2))``: median 1, mean ``exp(sigma^2/2)``."""

    sigma: float

    @override
    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(0.0, self.sigma))

    @override
    @property
    def mean(self) -> float:
        return math.exp(self.sigma**2 / 2)

    @override
    @property
    def variance(self) -> float:
        return (math.exp(self.sigma**2) - 1) * math.exp(self.sigma**2)


@dataclass(frozen=True)
class ShiftedExponentialSlowdown(SlowdownDistribution):
    """``1 + Exp(mean = scale)``."""

    scale: float

    @override
    def sample(self, rng: np.random.Generator) -> float:
        return 1.0 + float(rng.exponential(self.scale))

    @override
    @property
    def mean(self) -> float:
        return 1.0 + self.scale

    @override
    @property
    def variance(self) -> float:
        return self.scale**2


@dataclass(frozen=True)
class ParetoSlowdown(SlowdownDistribution):
    """Pareto I with minimum 1 and tail index ``shape`` > 1: ``P(s > x) = x^-shape``."""

    shape: float

    @override
    def sample(self, rng: np.random.Generator) -> float:
        return 1.0 + float(rng.pareto(self.shape))  # numpy's pareto is Lomax = Pareto I - 1

    @override
    @property
    def mean(self) -> float:
        return self.shape / (self.shape - 1)

    @override
    @property
    def variance(self) -> float:
        a = self.shape
        return math.inf if a <= 2 else a / ((a - 1) ** 2 * (a - 2))
