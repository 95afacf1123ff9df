"""Large-scale fading: distance-based path loss (dB) and log-normal shadowing.

All functions take 3D distances in metres (arrays of any shape) and return losses in dB
(positive numbers; gain = 10 ** (-loss / 10)). See PHYSICS.md section 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class LinkLoss:
    """Large-scale statistics of links, arrays of one shape (e.g. (K, A)).

    loss_los_db / loss_nlos_db: path loss if the link is LOS / NLOS (dB); p_los: probability
    that it is LOS; sigma_los_db / sigma_nlos_db: shadowing standard deviation (dB). Models
    without a LOS/NLOS distinction have p_los = 1.
    """

    loss_los_db: np.ndarray
    loss_nlos_db: np.ndarray
    p_los: np.ndarray
    sigma_los_db: np.ndarray
    sigma_nlos_db: np.ndarray


def single_state(loss_db: np.ndarray, sigma_db: float | np.ndarray) -> LinkLoss:
    """Statistics of a model without LOS/NLOS states: always "LOS", one shadowing sigma."""
    sigma = np.broadcast_to(np.asarray(sigma_db, dtype=float), loss_db.shape)
    return LinkLoss(loss_db, loss_db, np.ones_like(loss_db), sigma, sigma)


def cellfree_book_db(distance_3d_m: np.ndarray | float) -> np.ndarray:
    """Cell-free book (Demir et al. 2021): ``30.5 + 36.7 log10(d3D)`` dB (gain -103.9 dB at
    100 m). Distances below 1 m are clamped to 1 m."""
    d = np.maximum(np.asarray(distance_3d_m, dtype=float), 1.0)
    return 30.5 + 36.7 * np.log10(d)


def ngo_3slope_db(
    distance_3d_m: np.ndarray | float,
    carrier_hz: float,
    ap_height_m: float | np.ndarray,
    ut_height_m: float | np.ndarray,
    d0_m: float = 10.0,
    d1_m: float = 50.0,
) -> np.ndarray:
    """Ngo et al. 2017 three-slope loss (dB), with the Hata constant
    ``L = 46.3 + 33.9 log10 f - 13.82 log10 h_AP - (1.1 log10 f - 0.7) h_u + (1.56 log10 f - 0.8)``
    (f in MHz): ``L + 35 log10 d`` beyond d1, ``L + 15 log10 d1 + 20 log10 d`` in (d0, d1],
    ``L + 15 log10 d1 + 20 log10 d0`` below d0 (d in km)."""
    f = carrier_hz / 1e6  # Hz -> MHz
    hata = (
        46.3
        + 33.9 * np.log10(f)
        - 13.82 * np.log10(ap_height_m)
        - (1.1 * np.log10(f) - 0.7) * ut_height_m
        + (1.56 * np.log10(f) - 0.8)
    )
    d_km = np.asarray(distance_3d_m, dtype=float) / 1000.0
    d0, d1 = d0_m / 1000.0, d1_m / 1000.0
    far = hata + 35.0 * np.log10(np.maximum(d_km, d1))
    mid = hata + 15.0 * np.log10(d1) + 20.0 * np.log10(np.clip(d_km, d0, d1))
    return np.where(d_km > d1, far, mid)


def umi_38901(
    distance_2d_m: np.ndarray,
    distance_3d_m: np.ndarray,
    carrier_hz: float,
    bs_height_m: float | np.ndarray,
    ut_height_m: float | np.ndarray,
) -> LinkLoss:
    """3GPP TR 38.901 Table 7.4.1-1, UMi street canyon (f_c in GHz inside the formulas).

    LOS: ``32.4 + 21 log10 d3D + 20 log10 f_c`` up to the breakpoint
    ``d'_BP = 4 h'_BS h'_UT f_c / c`` (effective heights h - 1 m), then
    ``32.4 + 40 log10 d3D + 20 log10 f_c - 9.5 log10(d'_BP^2 + (h_BS - h_UT)^2)``; sigma 4 dB.
    NLOS: ``max(LOS, 35.3 log10 d3D + 22.4 + 21.3 log10 f_c - 0.3 (h_UT - 1.5))``; sigma 7.82.
    LOS probability: 1 if d2D <= 18 m, else ``18/d2D + exp(-d2D/36) (1 - 18/d2D)``.
    """
    fc = carrier_hz / 1e9  # Hz -> GHz
    d2 = np.asarray(distance_2d_m, dtype=float)
    d3 = np.maximum(np.asarray(distance_3d_m, dtype=float), 1.0)
    d_bp = 4.0 * (bs_height_m - 1.0) * (ut_height_m - 1.0) * carrier_hz / SPEED_OF_LIGHT_M_S
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = (
        32.4
        + 40.0 * np.log10(d3)
        + 20.0 * np.log10(fc)
        - 9.5 * np.log10(d_bp**2 + (bs_height_m - ut_height_m) ** 2)
    )
    los = np.where(d2 <= d_bp, pl1, pl2)
    nlos = np.maximum(
        los, 35.3 * np.log10(d3) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (ut_height_m - 1.5)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 18.0 / d2 + np.exp(-d2 / 36.0) * (1.0 - 18.0 / d2)
    p_los = np.where(d2 <= 18.0, 1.0, p)
    return LinkLoss(los, nlos, p_los, np.full_like(los, 4.0), np.full_like(los, 7.82))


def uma_38901(
    distance_2d_m: np.ndarray,
    distance_3d_m: np.ndarray,
    carrier_hz: float,
    bs_height_m: float | np.ndarray,
    ut_height_m: float | np.ndarray,
) -> LinkLoss:
    """3GPP TR 38.901 Table 7.4.1-1, UMa (f_c in GHz inside the formulas), with the effective
    environment height h_E = 1 m (the table's value with probability 1 / (1 + C(d2D, h_UT));
    the rest only moves breakpoints beyond 1.5 km at 6 GHz).

    LOS: ``28 + 22 log10 d3D + 20 log10 f_c`` up to ``d'_BP = 4 h'_BS h'_UT f_c / c``, then
    ``28 + 40 log10 d3D + 20 log10 f_c - 9 log10(d'_BP^2 + (h_BS - h_UT)^2)``; sigma 4 dB.
    NLOS: ``max(LOS, 13.54 + 39.08 log10 d3D + 20 log10 f_c - 0.6 (h_UT - 1.5))``; sigma 6.
    LOS probability (7.4.2): 1 if d2D <= 18 m, else ``(18/d2D + exp(-d2D/63) (1 - 18/d2D))
    (1 + C'(h_UT) 5/4 (d2D/100)^3 exp(-d2D/150))``, ``C' = ((h_UT - 13)/10)^1.5`` above 13 m.
    """
    fc = carrier_hz / 1e9  # Hz -> GHz
    d2 = np.asarray(distance_2d_m, dtype=float)
    d3 = np.maximum(np.asarray(distance_3d_m, dtype=float), 1.0)
    h_ut = np.asarray(ut_height_m, dtype=float)
    d_bp = 4.0 * (bs_height_m - 1.0) * (h_ut - 1.0) * carrier_hz / SPEED_OF_LIGHT_M_S
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = (
        28.0
        + 40.0 * np.log10(d3)
        + 20.0 * np.log10(fc)
        - 9.0 * np.log10(d_bp**2 + (bs_height_m - h_ut) ** 2)
    )
    los = np.where(d2 <= d_bp, pl1, pl2)
    nlos = np.maximum(los, 13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(fc) - 0.6 * (h_ut - 1.5))
    c = np.where(h_ut > 13.0, np.maximum(h_ut - 13.0, 0.0) / 10.0, 0.0) ** 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (18.0 / d2 + np.exp(-d2 / 63.0) * (1.0 - 18.0 / d2)) * (
            1.0 + c * 1.25 * (d2 / 100.0) ** 3 * np.exp(-d2 / 150.0)
        )
    p_los = np.where(d2 <= 18.0, 1.0, np.minimum(p, 1.0))
    return LinkLoss(los, nlos, p_los, np.full_like(los, 4.0), np.full_like(los, 6.0))


def o2i_loss_db(
    carrier_hz: float, indoor_distance_m: np.ndarray | float, high_loss: np.ndarray | bool
) -> np.ndarray:
    """Mean outdoor-to-indoor penetration loss ``PL_tw + PL_in`` (dB) of TR 38.901 7.4.3.1,
    Table 7.4.3-2 (f in GHz): low loss ``5 - 10 log10(0.3 10^(-L_glass/10) + 0.7
    10^(-L_concrete/10))``, high loss ``5 - 10 log10(0.7 10^(-L_IIRglass/10) + 0.3
    10^(-L_concrete/10))`` with ``L_glass = 2 + 0.2 f``, ``L_IIRglass = 23 + 0.3 f``,
    ``L_concrete = 5 + 4 f``; ``PL_in = 0.5 d2D-in``. The deviation sigma_P (4.4 dB low,
    6.5 dB high: :func:`o2i_sigma_db`) is drawn apart."""
    f = carrier_hz / 1e9  # Hz -> GHz
    glass, iirglass, concrete = 2.0 + 0.2 * f, 23.0 + 0.3 * f, 5.0 + 4.0 * f
    low = 5.0 - 10.0 * np.log10(0.3 * 10 ** (-glass / 10) + 0.7 * 10 ** (-concrete / 10))
    high = 5.0 - 10.0 * np.log10(0.7 * 10 ** (-iirglass / 10) + 0.3 * 10 ** (-concrete / 10))
    wall = np.where(np.asarray(high_loss, dtype=bool), high, low)
    return wall + 0.5 * np.asarray(indoor_distance_m, dtype=float)


def o2i_sigma_db(high_loss: np.ndarray | bool) -> np.ndarray:
    """Standard deviation sigma_P (dB) of the O2I loss: 4.4 (low loss), 6.5 (high loss)."""
    return np.where(np.asarray(high_loss, dtype=bool), 6.5, 4.4)


_INF_NLOS = {  # variant: (intercept, slope, sigma_dB), all with + 20 log10 f_c
    "SL": (33.00, 25.5, 5.7),
    "DL": (18.6, 35.7, 7.2),
    "SH": (32.4, 23.0, 5.9),
    "DH": (33.63, 21.9, 4.0),
}


def inf_38901(
    distance_2d_m: np.ndarray,
    distance_3d_m: np.ndarray,
    carrier_hz: float,
    bs_height_m: float | np.ndarray,
    ut_height_m: float | np.ndarray,
    variant: str,
    clutter_density: float,
    clutter_height_m: float,
    clutter_size_m: float,
) -> LinkLoss:
    """3GPP TR 38.901 Indoor Factory (valid 1..600 m; f_c in GHz inside the formulas).

    LOS ``31.84 + 21.50 log10 d3D + 19.00 log10 f_c`` (sigma 4.3 dB, 63.6773 dB at 10 m and
    3.5 GHz). NLOS: ``max(LOS, a + b log10 d3D + 20 log10 f_c)`` per variant (DL also takes the
    max with SL). LOS probability ``exp(-d2D / k)``, ``k = -d_clutter / ln(1 - r)``, times
    ``(h_BS - h_UT) / (h_c - h_UT)`` for the high-BS variants SH and DH.
    """
    fc = carrier_hz / 1e9  # Hz -> GHz
    d2 = np.asarray(distance_2d_m, dtype=float)
    d3 = np.maximum(np.asarray(distance_3d_m, dtype=float), 1.0)
    los = 31.84 + 21.50 * np.log10(d3) + 19.00 * np.log10(fc)

    def nlos_of(name: str) -> np.ndarray:
        a, b, _ = _INF_NLOS[name]
        return a + b * np.log10(d3) + 20.0 * np.log10(fc)

    nlos = np.maximum(los, nlos_of(variant))
    if variant == "DL":
        nlos = np.maximum(nlos, nlos_of("SL"))
    k = -clutter_size_m / np.log(1.0 - clutter_density)
    if variant in ("SH", "DH"):
        k *= (bs_height_m - ut_height_m) / (clutter_height_m - ut_height_m)
    p_los = np.exp(-d2 / k)
    sigma_nlos = _INF_NLOS[variant][2]
    return LinkLoss(los, nlos, p_los, np.full_like(los, 4.3), np.full_like(los, sigma_nlos))


def dbm_to_w(dbm: float) -> float:
    """Power in W of ``dbm`` dBm."""
    return float(10.0 ** ((dbm - 30.0) / 10.0))


def db_to_linear(db: np.ndarray | float) -> np.ndarray:
    """Linear ratio of ``db`` dB (any shape)."""
    return np.power(10.0, np.asarray(db, dtype=float) / 10.0)
