"""Over-the-air aggregation against its MSE formulas (PHYSICS.md section 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import exp1

from netsim.radio.ota import (
    receive_beamformer,
    superpose,
    transmit_energy_j,
    truncated_inversion,
    zero_forcing,
)

N_ENTRIES = 200_000


def _channels(rng, k, n, beta):
    return np.sqrt(beta[:, None] / 2) * (
        rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n))
    )


def _variance_ci(var, n):  # 4 sigma of a Gaussian sample variance
    return 4 * var * math.sqrt(2 / n)


@pytest.mark.parametrize("antennas", [1, 4])
def test_zero_forcing_error_matches_the_mse_formula(antennas):
    rng = np.random.default_rng(0)
    k = 6
    beta = np.array([1.0, 0.5, 2.0, 0.8, 1.5, 0.3])
    h = _channels(rng, k, antennas, beta)
    phi = np.full(k, 1 / k)
    control = zero_forcing(h, phi, p0_w=1.0, noise_w=0.05)
    m = control.m
    # MSE = (sigma2 / P0) ||m||^2 max_k phi_k^2 / |m^H h_k|^2, halved for real entries
    formula = 0.05 / 1.0 * np.vdot(m, m).real * np.max(phi**2 / np.abs(h @ m.conj()) ** 2) / 2
    assert control.mse_per_entry == pytest.approx(formula, rel=1e-12)
    assert (np.abs(control.b) ** 2 <= 1.0 + 1e-12).all()  # per-device power budget
    x = rng.standard_normal((k, N_ENTRIES))
    error = superpose(x, h, control, 0.05, rng) - phi @ x
    assert abs(error.mean()) < 4 * math.sqrt(formula / N_ENTRIES)  # no misalignment bias
    assert abs(error.var() - formula) < _variance_ci(formula, N_ENTRIES)


def test_device_selection_drops_the_worst_and_lowers_the_noise():
    rng = np.random.default_rng(1)
    beta = np.array([1.0, 1.0, 1.0, 1e-3])  # one device in a deep fade
    h = _channels(rng, 4, 1, beta)
    phi = np.full(4, 0.25)
    full = zero_forcing(h, phi, 1.0, 0.01)
    selected = zero_forcing(h, phi, 1.0, 0.01, drop_worst=1)
    worst = int(np.argmin(np.abs(h[:, 0]) ** 2))
    assert not selected.transmitting[worst] and selected.transmitting.sum() == 3
    assert selected.mse_per_entry < full.mse_per_entry


def test_truncated_inversion_error_and_truncation_probability():
    rng = np.random.default_rng(2)
    k, g_th = 2000, 0.3
    beta = rng.uniform(0.2, 2.0, k)
    h = _channels(rng, k, 1, beta)
    phi = np.full(k, 1 / k)
    control = truncated_inversion(h, beta, phi, p0_w=1.0, noise_w=0.02, g_th=g_th)
    p = math.exp(-g_th)  # non-truncation probability
    assert abs(control.transmitting.mean() - p) < 4 * math.sqrt(p * (1 - p) / k)
    assert control.mse_per_entry == pytest.approx(0.02 / (2 * control.eta))
    # rho0 = P0 min_k beta_k / (phi_k^2 E1(g_th))
    assert control.eta == pytest.approx(np.min(beta / phi**2) / exp1(g_th))
    x = rng.standard_normal((k, 20_000))
    sent = control.transmitting
    error = superpose(x, h, control, 0.02, rng) - phi[sent] @ x[sent]
    assert abs(error.var() - control.mse_per_entry) < _variance_ci(control.mse_per_entry, 20_000)


def test_truncated_inversion_meets_the_average_power_budget():
    rng = np.random.default_rng(3)
    beta = np.array([0.5, 1.0, 2.0])
    phi = np.full(3, 1 / 3)
    draws = 100_000
    h = np.sqrt(beta / 2) * (rng.standard_normal((draws, 3)) + 1j * rng.standard_normal((draws, 3)))
    g = np.abs(h) ** 2 / beta
    rho0 = 1.0 * np.min(beta / phi**2) / exp1(0.2)
    # Average over fading of |b_k|^2 = rho0 phi_k^2 / |h_k|^2 when not truncated.
    power = np.where(g >= 0.2, rho0 * phi**2 / np.abs(h) ** 2, 0.0).mean(axis=0)
    ctrl = truncated_inversion(h[0], beta, phi, 1.0, 1.0, 0.2)
    assert ctrl.eta == pytest.approx(rho0)
    # The binding (weakest) device spends P0 on average, the others less.
    assert power[0] == pytest.approx(1.0, rel=0.05) and (power[1:] < 0.6).all()


def test_at_very_high_snr_ota_equals_digital_weighted_average():
    rng = np.random.default_rng(4)
    h = _channels(rng, 5, 2, np.ones(5))
    phi = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    x = rng.standard_normal((5, 1000))
    control = zero_forcing(h, phi, p0_w=1.0, noise_w=1e-20)
    assert np.allclose(superpose(x, h, control, 1e-20, rng), phi @ x, atol=1e-7)


def test_beamformer_is_unit_norm_and_energy_is_power_times_time():
    rng = np.random.default_rng(5)
    h = _channels(rng, 3, 4, np.ones(3))
    m = receive_beamformer(h)
    assert np.linalg.norm(m) == pytest.approx(1.0)
    control = zero_forcing(h, np.full(3, 1 / 3), 2.0, 0.1)
    x = np.ones((3, 10))
    energy = transmit_energy_j(x, control, 1e-6)
    assert energy == pytest.approx(np.abs(control.b) ** 2 * 10 * 1e-6)
