"""Cell-free massive MIMO: closed-form MR SINR vs a Monte-Carlo of the same channel and
estimator (within 0.1 dB per PIU), pilot assignment, estimation quality."""

from __future__ import annotations

import numpy as np
import pytest

from netsim.radio.cellfree import (
    assign_pilots,
    estimation_quality,
    monte_carlo_mr_sinr,
    mr_sinr,
    uplink_rate_bps,
)
from netsim.radio.pathloss import cellfree_book_db


def _layout(n_aps=9, n_pius=6, seed=0):
    rng = np.random.default_rng(seed)
    side = 300.0
    ap = (np.stack(np.meshgrid(np.arange(3), np.arange(3)), -1).reshape(-1, 2) + 0.5) * side / 3
    ue = rng.uniform(0, side, size=(n_pius, 2))
    d = np.hypot(np.linalg.norm(ue[:, None] - ap[None], axis=-1), 10.0)
    noise_w = 10 ** ((-174 + 10 * np.log10(20e6) + 9 - 30) / 10)
    beta_over_noise = 10 ** (-cellfree_book_db(d) / 10) / noise_w  # (K, L) gain / noise
    return beta_over_noise


def test_pilot_assignment_orthogonal_first_then_least_loaded():
    beta = np.array([[1.0, 0.1], [0.2, 1.0], [0.9, 0.05], [0.1, 0.8]])
    pilots = assign_pilots(beta, tau_p=2)
    assert pilots[:2].tolist() == [0, 1]
    # PIU 2's strongest AP is 0: pilot 0 carries 1.0 there, pilot 1 only 0.2 -> pilot 1.
    assert pilots[2] == 1
    # PIU 3's strongest AP is 1: pilot 0 carries 0.1, pilot 1 carries 1.0 + 0.05 -> pilot 0.
    assert pilots[3] == 0


def test_estimation_quality_without_contamination_is_the_mmse_formula():
    beta = np.array([[2.0, 0.5]])
    gamma = estimation_quality(beta, np.array([0]), np.array([3.0]), tau_p=4)
    assert gamma[0] == pytest.approx(4 * 3 * beta[0] ** 2 / (4 * 3 * beta[0] + 1))


# Orthogonal pilots with single-antenna APs; 3 PIUs per pilot with 8 antennas, where leaving
# out the contamination term would be off by about 1.1 dB.
@pytest.mark.parametrize(("tau_p", "antennas"), [(6, 1), (2, 8)])
def test_closed_form_sinr_matches_monte_carlo_within_0p1_db(tau_p, antennas):
    beta = _layout()  # gains over noise; rho = transmit power in W
    n_pius = beta.shape[0]
    rho = np.full(n_pius, 0.1)  # 100 mW
    eta = np.linspace(0.4, 1.0, n_pius)
    pilots = assign_pilots(beta, tau_p)
    gamma = estimation_quality(beta, pilots, rho, tau_p)
    closed = mr_sinr(beta, gamma, pilots, rho, eta, antennas)
    mc = monte_carlo_mr_sinr(
        beta, pilots, rho, rho, eta, antennas, tau_p, 50_000, np.random.default_rng(1)
    )
    gap_db = np.abs(10 * np.log10(closed) - 10 * np.log10(mc))
    assert gap_db.max() < 0.1, gap_db


def test_rate_has_the_pilot_prelog():
    assert uplink_rate_bps(np.array([3.0]), 20e6, 10, 200)[0] == pytest.approx(20e6 * 0.95 * 2)


@pytest.mark.parametrize(("tau_p", "antennas"), [(6, 1), (2, 8)])
def test_lsfd_closed_form_matches_monte_carlo_and_beats_mr(tau_p, antennas):
    from netsim.radio.cellfree import lsfd_sinr

    beta = _layout()
    n_pius = beta.shape[0]
    rho = np.full(n_pius, 0.1)
    eta = np.linspace(0.4, 1.0, n_pius)
    pilots = assign_pilots(beta, tau_p)
    gamma = estimation_quality(beta, pilots, rho, tau_p)
    lsfd, weights = lsfd_sinr(beta, gamma, pilots, rho, eta, antennas)
    mr = mr_sinr(beta, gamma, pilots, rho, eta, antennas)
    assert (lsfd >= mr * (1 - 1e-12)).all()
    assert (10 * np.log10(lsfd / mr)).max() > 0.3  # LSFD really helps somewhere
    mc = monte_carlo_mr_sinr(
        beta,
        pilots,
        rho,
        rho,
        eta,
        antennas,
        tau_p,
        50_000,
        np.random.default_rng(1),
        weights=weights,
    )
    gap_db = np.abs(10 * np.log10(lsfd) - 10 * np.log10(mc))
    assert gap_db.max() < 0.1, gap_db


def _ngo_equal_power_form(beta, gamma, pilots, rho, eta, antennas):
    """The special form the project used before: coherent term (sum_l gamma_kl beta_il /
    beta_kl)^2, right only when every PIU sends its pilot at the same power."""
    p = rho * eta
    gamma_sum = gamma.sum(axis=1)
    same = (pilots[:, None] == pilots[None, :]) & ~np.eye(len(p), dtype=bool)
    coherent = np.where(same, ((gamma / beta) @ beta.T) ** 2, 0.0)
    return (
        antennas * p * gamma_sum**2 / (antennas * coherent @ p + gamma @ (beta.T @ p) + gamma_sum)
    )


# Device classes of 10 to 23 dBm sharing one pilot (tau_p = 1) and five pilots: the
# coherent contamination term must use sqrt(gamma_kl gamma_il) (PHYSICS.md section 4).
@pytest.mark.parametrize(("tau_p", "antennas"), [(1, 4), (5, 4)])
def test_closed_forms_with_mixed_pilot_powers_match_monte_carlo(tau_p, antennas):
    from netsim.radio.cellfree import lsfd_sinr

    beta = _layout(n_pius=6, seed=3)
    rho = 10 ** ((np.array([10.0, 23.0, 14.0, 20.0, 10.0, 23.0]) - 30) / 10)  # W
    eta = np.linspace(0.5, 1.0, len(rho))
    pilots = assign_pilots(beta, tau_p)
    gamma = estimation_quality(beta, pilots, rho, tau_p)
    mr = mr_sinr(beta, gamma, pilots, rho, eta, antennas)
    lsfd, weights = lsfd_sinr(beta, gamma, pilots, rho, eta, antennas)
    rng = np.random.default_rng(2)
    mc = monte_carlo_mr_sinr(beta, pilots, rho, rho, eta, antennas, tau_p, 50_000, rng)
    mc_lsfd = monte_carlo_mr_sinr(
        beta, pilots, rho, rho, eta, antennas, tau_p, 50_000, rng, weights=weights
    )
    db = lambda x: 10 * np.log10(x)  # noqa: E731
    assert np.abs(db(mr) - db(mc)).max() < 0.1
    assert np.abs(db(lsfd) - db(mc_lsfd)).max() < 0.1
    assert (lsfd >= mr * (1 - 1e-12)).all()
    if tau_p == 1:  # the equal-power form is measurably wrong here: the test can fail
        old = _ngo_equal_power_form(beta, gamma, pilots, rho, eta, antennas)
        assert np.abs(db(old) - db(mc)).max() > 0.5
