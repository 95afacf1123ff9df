"""Spatially consistent large-scale parameters (3GPP TR 38.901 section 7.6.3): shadowing and
LOS state as random fields over the plane, so a PIU that moves sees them change and two
PIUs at nearby points see nearly the same (what a radio map, and localization from received
power, rely on).

Each field is a stationary zero-mean, unit-variance Gaussian random field with the
exponential autocorrelation ``exp(-d / d_corr)`` of TR 38.901 (7.6-1), drawn by random
Fourier features (Rahimi & Recht 2007): ``f(x) = sqrt(2 / M) sum_m cos(k_m . x + phi_m)``
with ``phi_m ~ U[0, 2 pi)`` and wave vectors ``k_m`` from the kernel's spectral density, the
bivariate Cauchy of scale ``1 / d_corr`` (``k = g / (|u| d_corr)``, g ~ N(0, I_2), u ~
N(0, 1)), whose characteristic function is exactly ``exp(-|r| / d_corr)``. The correlation
of two points is that exponential in expectation over the features; one field's own
deviates by O(1 / sqrt(M)), and its values are Gaussian to the central limit of M terms.
A field is evaluated at any point, deterministic from its keyed stream, with no grid.

A LOS state follows procedure A of 7.6.3.3: the link at x is LOS if ``Phi(f_los(x)) <
p_los(x)``, a uniform field thresholded by the model's LOS probability.
"""

from __future__ import annotations

import math

import numpy as np

FEATURES = 512  # sinusoids per field: a correlation error of ~1 / sqrt(512) = 4 % per field


class GaussianField:
    """A unit-variance Gaussian random field over the plane with autocorrelation
    ``exp(-d / decorrelation_m)`` (module docstring), drawn from ``rng``."""

    def __init__(
        self, decorrelation_m: float, rng: np.random.Generator, features: int = FEATURES
    ) -> None:
        g = rng.standard_normal((features, 2))
        u = np.abs(rng.standard_normal(features))
        self.wave = g / (np.maximum(u, 1e-300)[:, None] * decorrelation_m)  # (M, 2) rad/m
        self.phase = rng.uniform(0.0, 2.0 * math.pi, features)  # (M,)
        self._amplitude = math.sqrt(2.0 / features)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """Values (n,) at points xy (n, 2) in m; a point's value does not depend on the
        others evaluated with it (element-wise arithmetic, no matrix product whose blocking
        would change the last bits)."""
        xy = np.asarray(xy, dtype=float)
        angle = xy[:, :1] * self.wave[:, 0] + xy[:, 1:] * self.wave[:, 1] + self.phase
        return self._amplitude * np.cos(angle).sum(axis=1)


def los_state(field: GaussianField, xy: np.ndarray, p_los: np.ndarray) -> np.ndarray:
    """(n,) bool: LOS at xy (n, 2) where the uniform field ``Phi(f(x))`` is below p_los (n,)."""
    from scipy.special import ndtr  # scipy.special takes 0.25 s to import: only when used

    return ndtr(field(xy)) < p_los
