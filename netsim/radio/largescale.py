"""Large-scale gains of every PIU-AP link: path loss of each link's LOS/NLOS state at its
3D distance, plus log-normal shadowing (PHYSICS.md section 1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netsim.radio.pathloss import LinkLoss, db_to_linear
from netsim.rng import Stream, Streams

# (distance_2d_m (K, A), distance_3d_m (K, A), ap_height_m (1, A), ut_height_m (K, 1))
# -> the links' large-scale statistics
LossModel = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], LinkLoss]


class LargeScaleGains:
    """beta (K, A), linear, of PIUs at ``piu_xy`` to APs at ``ap_xy``.

    LOS states and shadowing are drawn per PIU from the keyed streams ``(LOS, piu)`` and
    ``(SHADOWING, piu)``, or per AP over all PIUs (``SHADOWING_FIELD``) when shadowing is
    spatially correlated: ``E[F_i F_k] = 2^(-|x_i - x_k| / d_dec)`` (cell-free book,
    d_dec = 9 m). A PIU that moves keeps its links' LOS states and shadowing
    (:meth:`gain_at`).

    Parameters
    ----------
    ap_xy, ap_height_m: (A, 2) and (A,) in m; piu_xy, piu_height_m: (K, 2) and (K,) in m.
    loss: the path-loss model (see :data:`LossModel`).
    shadowing_std_db: one shadowing deviation for every link, instead of the model's.
    decorrelation_m: d_dec of spatially correlated shadowing (None: independent per PIU).
    torus_side_m: distances the shortest way round a torus of this side (wrap-around).
    """

    def __init__(
        self,
        ap_xy: np.ndarray,
        ap_height_m: np.ndarray,
        piu_xy: np.ndarray,
        piu_height_m: np.ndarray,
        loss: LossModel,
        streams: Streams,
        *,
        shadowing_std_db: float | None = None,
        decorrelation_m: float | None = None,
        torus_side_m: float | None = None,
    ) -> None:
        self.ap_xy, self.ap_height_m, self.piu_height_m = ap_xy, ap_height_m, piu_height_m
        self._loss, self._torus_side_m = loss, torus_side_m
        stats = self.link_stats(piu_xy, piu_height_m)
        n_pius, n_aps = stats.loss_los_db.shape
        u = np.stack([streams.numpy(Stream.LOS, k).uniform(size=n_aps) for k in range(n_pius)])
        self.los = u < stats.p_los  # (K, A) bool
        loss_db = np.where(self.los, stats.loss_los_db, stats.loss_nlos_db)
        sigma_db = np.where(self.los, stats.sigma_los_db, stats.sigma_nlos_db)
        if shadowing_std_db is not None:
            sigma_db = np.full_like(loss_db, shadowing_std_db)
        normals = _shadowing_normals(piu_xy, n_aps, decorrelation_m, streams)
        self.shadow_db = sigma_db * normals  # (K, A)
        self.gain = db_to_linear(-(loss_db + self.shadow_db))  # (K, A)

    def link_stats(self, piu_xy: np.ndarray, piu_height_m: np.ndarray) -> LinkLoss:
        """Path-loss statistics of PIUs at ``piu_xy`` (K, 2) to every AP."""
        delta = np.abs(piu_xy[:, None, :] - self.ap_xy[None, :, :])  # (K, A, 2)
        if self._torus_side_m is not None:
            delta = np.minimum(delta, self._torus_side_m - delta)  # shortest way round
        d2d = np.linalg.norm(delta, axis=-1)  # (K, A)
        ap_h = self.ap_height_m[None, :]
        d3d = np.sqrt(d2d**2 + (ap_h - piu_height_m[:, None]) ** 2)
        return self._loss(d2d, d3d, ap_h, piu_height_m[:, None])

    def gain_at(self, piu: int, xy: np.ndarray) -> np.ndarray:
        """beta (A,) of PIU ``piu`` moved to ``xy`` (m): path loss at the new distances, its
        links' LOS states and shadowing kept (mobility)."""
        stats = self.link_stats(np.asarray(xy, dtype=float)[None, :], self.piu_height_m[[piu]])
        los = self.los[piu]
        loss_db = np.where(los, stats.loss_los_db[0], stats.loss_nlos_db[0])
        return db_to_linear(-(loss_db + self.shadow_db[piu]))


def _shadowing_normals(
    piu_xy: np.ndarray, n_aps: int, decorrelation_m: float | None, streams: Streams
) -> np.ndarray:
    """Standard normal shadowing variates (K, A), correlated across PIUs if configured."""
    n_pius = len(piu_xy)
    if decorrelation_m is None:
        return np.stack(
            [streams.numpy(Stream.SHADOWING, k).standard_normal(n_aps) for k in range(n_pius)]
        )
    dist = np.linalg.norm(piu_xy[:, None, :] - piu_xy[None, :, :], axis=-1)
    chol = np.linalg.cholesky(2.0 ** (-dist / decorrelation_m) + 1e-10 * np.eye(n_pius))
    return np.stack(
        [
            chol @ streams.numpy(Stream.SHADOWING_FIELD, a).standard_normal(n_pius)
            for a in range(n_aps)
        ],
        axis=1,
    )
