"""Classical short-term SNR predictors: the baselines of a learned SNR predictor (FL for
wireless, issue 23).

* last value: ``snr_t = snr_{t-1}`` (persistence);
* AR(p): ``snr_t = c + sum_i a_i snr_{t-i} + e_t`` fitted by least squares (the
  conditional maximum likelihood of a Gaussian AR process) on training windows.

Windows are rows of the p past values, oldest first (n, p), as in the "snr" radio task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def last_value(windows: np.ndarray) -> np.ndarray:
    """(n,) the most recent value of each window (n, p)."""
    return np.asarray(windows, dtype=float)[:, -1]


@dataclass(frozen=True)
class ARModel:
    """``y_t = intercept + sum_i coefficients[i] y_{t-1-i}``: coefficients (p,), lag 1 first."""

    intercept: float
    coefficients: np.ndarray

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n,) one-step predictions from windows (n, p), oldest value first."""
        lagged = np.asarray(windows, dtype=float)[:, ::-1]  # lag 1 first
        return self.intercept + lagged @ self.coefficients


def fit_ar(windows: np.ndarray, targets: np.ndarray) -> ARModel:
    """Least-squares AR(p) from windows (n, p) (oldest first) and the values after them (n,)."""
    lagged = np.asarray(windows, dtype=float)[:, ::-1]
    design = np.hstack([np.ones((len(lagged), 1)), lagged])
    solution, *_ = np.linalg.lstsq(design, np.asarray(targets, dtype=float), rcond=None)
    return ARModel(float(solution[0]), solution[1:])


def windows_of(series: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows (n - p, p), targets (n - p,)) of one series (n,)."""
    series = np.asarray(series, dtype=float)
    idx = np.arange(p)[None, :] + np.arange(len(series) - p)[:, None]
    return series[idx], series[p:]
