"""Compute/energy closed forms and straggler distributions against their moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim.device.compute import (
    ComputeModel,
    LogNormalSlowdown,
    ShiftedExponentialSlowdown,
)


def test_compute_time_and_energy():
    cpu = ComputeModel(cpu_hz=2e9, cycles_per_sample=3e4, kappa=1e-28)
    assert cpu.time_s(1000, slowdown=1.5) == pytest.approx(1000 * 3e4 / 2e9 * 1.5)
    # kappa C S f^2 = 1e-28 * 3e4 * 1000 * 4e18 = 12e-3 J; independent of the slowdown
    assert cpu.energy_j(1000) == pytest.approx(0.012)


@pytest.mark.parametrize("dist", [LogNormalSlowdown(0.5), ShiftedExponentialSlowdown(0.7)])
def test_slowdown_sample_mean_within_confidence_interval(dist):
    rng = np.random.default_rng(1)
    n = 20_000
    x = np.array([dist.sample(rng) for _ in range(n)])
    half_width = 4 * math.sqrt(dist.variance / n)
    assert abs(x.mean() - dist.mean) < half_width
