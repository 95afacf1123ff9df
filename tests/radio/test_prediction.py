"""Classical SNR predictors (netsim/radio/prediction.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim.radio.prediction import fit_ar, last_value, windows_of


def test_ar_fit_recovers_a_known_process():
    # y_t = 2 + 0.6 y_{t-1} - 0.3 y_{t-2} + e_t, e ~ N(0, 1): stationary
    rng = np.random.default_rng(0)
    n = 200_000
    y = np.zeros(n)
    e = rng.standard_normal(n)
    for t in range(2, n):
        y[t] = 2 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + e[t]
    w, target = windows_of(y[1000:], 2)
    model = fit_ar(w, target)
    # the coefficients' standard errors are ~ sqrt((1 - a2^2) / n) < 1 / sqrt(n)
    tol = 5 / math.sqrt(len(target))
    assert model.coefficients == pytest.approx([0.6, -0.3], abs=tol)
    # the intercept's: ~ sigma / ((1 - a1 - a2) sqrt(n))
    assert model.intercept == pytest.approx(2.0, abs=5 / (0.7 * math.sqrt(len(target))))
    residual = target - model.predict(w)
    assert residual.var() == pytest.approx(1.0, abs=5 * math.sqrt(2 / len(target)))


def test_windows_and_persistence_by_hand():
    w, t = windows_of(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3)
    assert w.tolist() == [[1, 2, 3], [2, 3, 4]] and t.tolist() == [4, 5]
    assert last_value(w).tolist() == [3, 4]
