"""Large-scale fading: distance-based path loss (dB) and log-normal shadowing.

All functions take 3D distances in metres (arrays of any shape) and return losses in dB
(positive numbers; gain = 10 ** (-loss / 10)). See PHYSICS.md section 1.
"""

from __future__ import annotations

import numpy as np

from netsim.scenario import LogDistancePathLoss, Macro36814PathLoss

SPEED_OF_LIGHT_M_S = 299_792_458.0


def free_space_db(distance_m: np.ndarray | float, carrier_hz: float) -> np.ndarray:
    """Friis free-space loss ``20 log10(4 pi d f / c)`` dB."""
    d = np.asarray(distance_m, dtype=float)
    return 20.0 * np.log10(4.0 * np.pi * d * carrier_hz / SPEED_OF_LIGHT_M_S)


def log_distance_db(
    distance_m: np.ndarray | float, exponent: float, ref_distance_m: float, ref_loss_db: float
) -> np.ndarray:
    """``ref_loss_db + 10 exponent log10(d / d0)``; distances below d0 are clamped to d0."""
    d = np.maximum(np.asarray(distance_m, dtype=float), ref_distance_m)
    return ref_loss_db + 10.0 * exponent * np.log10(d / ref_distance_m)


def macro_36814_db(distance_m: np.ndarray | float) -> np.ndarray:
    """3GPP TR 36.814 macro-cell urban loss at 2 GHz: ``128.1 + 37.6 log10(d_km)`` dB.

    Distances below 35 m (the model's minimum UE-eNB distance) are clamped to 35 m.
    """
    d_km = np.maximum(np.asarray(distance_m, dtype=float), 35.0) / 1000.0  # m -> km
    return 128.1 + 37.6 * np.log10(d_km)


def pathloss_db(
    model: LogDistancePathLoss | Macro36814PathLoss,
    distance_m: np.ndarray,
    carrier_hz: float,
) -> np.ndarray:
    """Path loss of the scenario's model, in dB, same shape as ``distance_m``."""
    if isinstance(model, LogDistancePathLoss):
        ref = model.ref_loss_db
        if ref is None:
            ref = float(free_space_db(model.ref_distance_m, carrier_hz))
        return log_distance_db(distance_m, model.exponent, model.ref_distance_m, ref)
    return macro_36814_db(distance_m)


def noise_power_w(bandwidth_hz: float, noise_psd_dbm_hz: float, noise_figure_db: float) -> float:
    """Thermal noise ``sigma2 = N0 B NF`` in W (dBm -> W: 10 ** ((dBm - 30) / 10))."""
    return bandwidth_hz * dbm_to_w(noise_psd_dbm_hz + noise_figure_db)


def dbm_to_w(dbm: float) -> float:
    return float(10.0 ** ((dbm - 30.0) / 10.0))


def db_to_linear(db: np.ndarray | float) -> np.ndarray:
    return np.power(10.0, np.asarray(db, dtype=float) / 10.0)
