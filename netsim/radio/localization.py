"""Classical localization from received power: the baselines a learned (federated) model
has to beat (FL for wireless, issue 23).

* :func:`fit_log_distance`: calibrate ``rss = a - 10 n log10(d)`` (dBm, d in m) by least
  squares on measurements at known positions (what a site survey does; any path-loss model
  of the scenario is approximated by its best log-distance fit);
* :func:`ranges_m`: the distance each received power implies under that fit;
* :func:`multilaterate`: least-squares position from ranges to APs at known positions,
  linearised by subtracting the last AP's circle equation (Caffery 2000), one solve per
  sample; with exact ranges and three or more APs not on a line it is exact;
* :func:`weighted_centroid`: the APs' positions averaged with weights (received power in
  W)^g (Blumenthal et al. 2007);
* :func:`laterate_ml`: the maximum-likelihood position under the fit with log-normal
  shadowing of one standard deviation on every link: the least-squares fit of the received
  powers in dB (Patwari et al., IEEE Signal Processing Magazine 22(4), 2005, section on
  RSS-based localization), by Levenberg-Marquardt per sample from the linearised solution,
  the weighted centroid and the best point of a grid over the area, keeping the best end.
  Unlike :func:`multilaterate` it weighs every
  AP's power error alike, where the linearisation squares ranges (a far AP's range error,
  exponential in its shadowing, then dominates).

Shapes: n samples, A APs; positions in m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogDistanceFit:
    """``rss_dbm = intercept_dbm - 10 exponent log10(d_m)``: received power at 1 m, and the
    path-loss exponent."""

    intercept_dbm: float
    exponent: float


def fit_log_distance(rss_dbm: np.ndarray, distance_m: np.ndarray) -> LogDistanceFit:
    """Least-squares fit over every (sample, AP) pair of rss (n, A) at 3D distances (n, A)."""
    x = -10 * np.log10(np.asarray(distance_m, dtype=float).ravel())
    design = np.stack([np.ones_like(x), x], axis=1)
    (a, n), *_ = np.linalg.lstsq(design, np.asarray(rss_dbm, dtype=float).ravel(), rcond=None)
    return LogDistanceFit(float(a), float(n))


def ranges_m(rss_dbm: np.ndarray, fit: LogDistanceFit) -> np.ndarray:
    """(n, A) distances (m) the received powers imply: ``10^((a - rss) / (10 n))``."""
    return 10 ** ((fit.intercept_dbm - np.asarray(rss_dbm, dtype=float)) / (10 * fit.exponent))


def multilaterate(
    ranges: np.ndarray, ap_xy: np.ndarray, height_diff_m: np.ndarray | float = 0.0
) -> np.ndarray:
    """(n, 2) least-squares positions from 3D ranges (n, A) to APs at ap_xy (A, 2).

    ``height_diff_m``: (A,) or scalar AP-minus-device heights; the horizontal range is
    ``sqrt(max(r^2 - dh^2, 0))``. Subtracting AP A-1's equation ``|p - x_a|^2 = r_a^2`` from
    the others leaves ``2 (x_a - x_last) . p = |x_a|^2 - |x_last|^2 - r_a^2 + r_last^2``."""
    ap_xy = np.asarray(ap_xy, dtype=float)
    if len(ap_xy) < 3:
        raise ValueError(f"multilateration needs at least 3 APs, got {len(ap_xy)}")
    dh2 = np.broadcast_to(np.asarray(height_diff_m, dtype=float) ** 2, (len(ap_xy),))
    horizontal2 = np.maximum(np.asarray(ranges, dtype=float) ** 2 - dh2, 0.0)  # (n, A)
    last = ap_xy[-1]
    design = 2 * (ap_xy[:-1] - last)  # (A-1, 2)
    sq = (ap_xy**2).sum(axis=1)
    rhs = (sq[:-1] - sq[-1])[None, :] - horizontal2[:, :-1] + horizontal2[:, -1:]  # (n, A-1)
    solution, *_ = np.linalg.lstsq(design, rhs.T, rcond=None)  # (2, n)
    return solution.T


def weighted_centroid(rss_dbm: np.ndarray, ap_xy: np.ndarray, g: float = 1.0) -> np.ndarray:
    """(n, 2) the APs' positions weighted by (received power in W)^g per sample."""
    rss = np.asarray(rss_dbm, dtype=float)
    # relative to each sample's strongest: the same weights, no underflow at -150 dBm
    w = 10 ** (g * (rss - rss.max(axis=1, keepdims=True)) / 10)
    return (w @ np.asarray(ap_xy, dtype=float)) / w.sum(axis=1, keepdims=True)


def laterate_ml(
    rss_dbm: np.ndarray,
    fit: LogDistanceFit,
    ap_xy: np.ndarray,
    height_diff_m: np.ndarray | float = 0.0,
    iterations: int = 100,
    area: tuple[float, float, float, float] | None = None,
    grid_points: int = 4096,
) -> np.ndarray:
    """(n, 2) maximum-likelihood positions: per sample the ``p`` minimising
    ``sum_a (rss_a - intercept + 10 exponent log10 d_a(p))^2`` with the 3D distance
    ``d_a(p) = sqrt(|p - ap_a|^2 + dh_a^2)`` (``height_diff_m``: (A,) or scalar AP-minus-device
    heights), by Levenberg-Marquardt on every sample at once for ``iterations`` steps (the
    damping per sample: /3 after a step that lowers the cost, x4 and the step refused after
    one that does not), from each of :func:`multilaterate`, :func:`weighted_centroid` and,
    with ``area`` (x_min, y_min, x_max, y_max in m: where devices can be), the best of about
    ``grid_points`` points of a grid over it; per sample the end of lowest cost (the cost
    has local minima: a descent stays in the basin it starts in). Exact where the powers
    follow the fit exactly."""
    rss = np.asarray(rss_dbm, dtype=float)
    ap_xy = np.asarray(ap_xy, dtype=float)
    dh2 = np.broadcast_to(np.asarray(height_diff_m, dtype=float) ** 2, (len(ap_xy),))
    slope = 10 * fit.exponent / np.log(10)  # d(-10 n log10 d)/d(ln d) = -slope

    def residual(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        delta = p[:, None, :] - ap_xy[None]  # (n, A, 2)
        d2 = (delta**2).sum(-1) + dh2
        r = rss - fit.intercept_dbm + 5 * fit.exponent * np.log10(d2)  # (n, A)
        return r, slope * delta / d2[..., None]  # the residual and its Jacobian (n, A, 2)

    def cost(p: np.ndarray) -> np.ndarray:
        return (residual(p)[0] ** 2).sum(axis=1)

    def descend(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Levenberg-Marquardt from ``p`` (n, 2): the positions and their costs."""
        current = cost(p)
        damping = np.full(len(rss), 1e-3)
        for _ in range(iterations):
            r, jac = residual(p)
            jtj = np.einsum("nai,naj->nij", jac, jac)
            jtr = np.einsum("nai,na->ni", jac, r)
            scale = np.einsum("nii->ni", jtj)  # Marquardt: damp by each coordinate's curvature
            a = jtj + (damping[:, None] * scale)[:, :, None] * np.eye(2)[None]
            det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
            step = -np.stack(
                [a[:, 1, 1] * jtr[:, 0] - a[:, 0, 1] * jtr[:, 1],
                 a[:, 0, 0] * jtr[:, 1] - a[:, 1, 0] * jtr[:, 0]], axis=1,
            ) / np.where(det == 0, np.inf, det)[:, None]  # fmt: skip
            trial = p + step
            new = cost(trial)
            better = new < current
            p = np.where(better[:, None], trial, p)
            current = np.where(better, new, current)
            damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-12, 1e12)
        return p, current

    starts = [weighted_centroid(rss, ap_xy)]
    if len(ap_xy) >= 3:
        starts.insert(0, multilaterate(ranges_m(rss, fit), ap_xy, np.sqrt(dh2)))
    if area is not None:
        x0, y0, x1, y1 = area
        side = max(np.sqrt((x1 - x0) * (y1 - y0) / grid_points), 1e-9)  # about square cells
        gx = np.arange(x0, x1 + side / 2, side)
        gy = np.arange(y0, y1 + side / 2, side)
        grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # (G, 2)
        d2 = ((grid[:, None, :] - ap_xy[None]) ** 2).sum(-1) + dh2  # (G, A)
        model = fit.intercept_dbm - 5 * fit.exponent * np.log10(d2)  # the powers there
        best = np.empty(len(rss), dtype=int)
        for lo in range(0, len(rss), 256):  # (256, G) costs at a time
            chunk = rss[lo : lo + 256]
            # |r - m|^2 = |r|^2 - 2 r.m + |m|^2: the argmin over the grid needs the last two
            best[lo : lo + 256] = np.argmin((model**2).sum(1)[None] - 2 * chunk @ model.T, axis=1)
        starts.append(grid[best])
    ends = [descend(p) for p in starts]  # the best end: a descent is local
    best = np.argmin(np.stack([c for _, c in ends]), axis=0)
    return np.stack([p for p, _ in ends])[best, np.arange(len(rss))]
