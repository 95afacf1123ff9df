"""Classical localization baselines (netsim/radio/localization.py)."""

from __future__ import annotations

import numpy as np
import pytest

from netsim.radio.localization import (
    fit_log_distance,
    laterate_ml,
    multilaterate,
    ranges_m,
    weighted_centroid,
)

APS = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 80.0], [10.0, 90.0]])
DH = 8.5  # AP 10 m, device 1.5 m


def _survey(n: int, shadowing_db: float, seed: int):
    rng = np.random.default_rng(seed)
    xy = rng.uniform([5, 5], [95, 85], size=(n, 2))
    d = np.sqrt(((xy[:, None, :] - APS[None]) ** 2).sum(-1) + DH**2)  # (n, A) 3D
    rss = -30.0 - 10 * 3.2 * np.log10(d) + shadowing_db * rng.standard_normal(d.shape)
    return xy, d, rss


def test_the_fit_and_multilateration_are_exact_without_noise():
    xy, d, rss = _survey(500, 0.0, 1)
    fit = fit_log_distance(rss, d)
    assert fit.intercept_dbm == pytest.approx(-30.0, abs=1e-9)
    assert fit.exponent == pytest.approx(3.2, abs=1e-12)
    estimate = multilaterate(ranges_m(rss, fit), APS, DH)
    np.testing.assert_allclose(estimate, xy, atol=1e-6)


def test_the_error_grows_with_the_shadowing():
    medians = []
    for sigma in (0.5, 2.0, 6.0):
        xy, d, rss = _survey(2000, sigma, 2)
        estimate = multilaterate(ranges_m(rss, fit_log_distance(rss, d)), APS, DH)
        medians.append(float(np.median(np.linalg.norm(estimate - xy, axis=1))))
    # range errors scale ~ linearly with sigma (ln 10 sigma / (10 n) relative): 4x and 3x
    assert medians[0] < medians[1] < medians[2]
    assert medians[1] > 2 * medians[0] and medians[2] > 2 * medians[1]


def test_weighted_centroid_by_hand():
    # equal powers: the APs' mean; one AP 10 dB stronger weighs 10x (g = 1)
    rss = np.array([[-60.0, -60.0, -60.0, -60.0], [-50.0, -60.0, -60.0, -60.0]])
    got = weighted_centroid(rss, APS)
    np.testing.assert_allclose(got[0], APS.mean(axis=0))
    np.testing.assert_allclose(got[1], (10 * APS[0] + APS[1:].sum(axis=0)) / 13)
    with pytest.raises(ValueError, match="at least 3 APs"):
        multilaterate(np.ones((1, 2)), APS[:2])


def test_ml_lateration_is_exact_without_noise_and_beats_the_linearisation_with_it():
    xy, d, rss = _survey(500, 0.0, 3)
    fit = fit_log_distance(rss, d)
    np.testing.assert_allclose(laterate_ml(rss, fit, APS, DH), xy, atol=1e-6)
    # with shadowing: the maximum-likelihood fit of the powers in dB against the least
    # squares of squared ranges, on the same samples (the fit's own data: 4 APs, 6 dB)
    xy, d, rss = _survey(2000, 6.0, 4)
    fit = fit_log_distance(rss, d)
    ml = np.linalg.norm(laterate_ml(rss, fit, APS, DH) - xy, axis=1)
    linear = np.linalg.norm(multilaterate(ranges_m(rss, fit), APS, DH) - xy, axis=1)
    assert np.median(ml) < np.median(linear)
    # and it is a minimum: no nearby point fits the powers better
    p = laterate_ml(rss[:50], fit, APS, DH)

    def cost(q):
        dist = np.sqrt(((q[:, None, :] - APS[None]) ** 2).sum(-1) + DH**2)
        return ((rss[:50] - fit.intercept_dbm + 10 * fit.exponent * np.log10(dist)) ** 2).sum(1)

    for shift in ([0.05, 0.0], [0.0, 0.05], [-0.05, 0.0], [0.0, -0.05]):
        assert (cost(p) <= cost(p + np.array(shift)) + 1e-9).all()


def test_a_grid_start_over_the_area_never_fits_worse():
    # the cost has local minima; the best grid point is one more start, and the lowest of
    # the descents' ends is kept, so the fit with the grid is at least as good
    xy, d, rss = _survey(400, 8.0, 5)
    fit = fit_log_distance(rss, d)

    def cost(q):
        dist = np.sqrt(((q[:, None, :] - APS[None]) ** 2).sum(-1) + DH**2)
        return ((rss - fit.intercept_dbm + 10 * fit.exponent * np.log10(dist)) ** 2).sum(1)

    plain = cost(laterate_ml(rss, fit, APS, DH))
    gridded = cost(laterate_ml(rss, fit, APS, DH, area=(0.0, 0.0, 100.0, 90.0)))
    assert (gridded <= plain + 1e-9).all()
    assert (gridded < plain - 1e-6).any()  # where the others start in a wrong basin
