"""Large-scale gains of every PIU-AP link: path loss of each link's LOS/NLOS state at its
3D distance, plus log-normal shadowing (PHYSICS.md section 1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netsim.radio.pathloss import LinkLoss, db_to_linear
from netsim.radio.spatial import GaussianField, los_state
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
    wrap_offsets_m: (S, 2) shifts of the layout's images (hexagonal wrap-around): each link
        is measured to the nearest image of its AP.
    ap_azimuth_deg: (A,) boresight of sectorised APs (NaN: omnidirectional); a sector's
        gain follows the 3GPP TR 38.901 (Table 7.3-1) horizontal pattern
        ``8 - min(12 (phi / 65)^2, 30)`` dBi.
    consistency_m: spatial consistency (``netsim/radio/spatial.py``): each AP's shadowing
        and LOS state are fields over the plane with this decorrelation distance, drawn
        from ``(SHADOWING_MAP, a)`` and ``(LOS_MAP, a)``; a PIU's links then depend on where
        it is, not on which PIU it is, and change as it moves (:meth:`links_at`).
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
        wrap_offsets_m: np.ndarray | None = None,
        ap_azimuth_deg: np.ndarray | None = None,
        consistency_m: float | None = None,
    ) -> None:
        self.ap_xy, self.ap_height_m, self.piu_height_m = ap_xy, ap_height_m, piu_height_m
        self._loss, self._torus_side_m = loss, torus_side_m
        self._wrap, self._azimuth = wrap_offsets_m, ap_azimuth_deg
        self._sigma_db = shadowing_std_db
        self._maps: list[tuple[GaussianField, GaussianField]] | None = None
        if consistency_m is not None:
            self._maps = [
                (
                    GaussianField(consistency_m, streams.numpy(Stream.SHADOWING_MAP, a)),
                    GaussianField(consistency_m, streams.numpy(Stream.LOS_MAP, a)),
                )
                for a in range(len(ap_xy))
            ]
            self.gain, self.los, self.shadow_db = self._links(piu_xy, piu_height_m)
            return
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
        antenna_db = self.antenna_gain_db(piu_xy)
        self.gain = db_to_linear(antenna_db - (loss_db + self.shadow_db))  # (K, A)

    def _offsets(self, piu_xy: np.ndarray) -> np.ndarray:
        """(K, A, 2) vectors from each AP (its nearest image with wrap-around) to each PIU."""
        diff = piu_xy[:, None, :] - self.ap_xy[None, :, :]  # (K, A, 2)
        if self._wrap is None:
            return diff
        images = diff[:, :, None, :] - self._wrap[None, None, :, :]  # (K, A, S, 2)
        nearest = np.linalg.norm(images, axis=-1).argmin(axis=2)  # (K, A)
        return np.take_along_axis(images, nearest[:, :, None, None], axis=2)[:, :, 0, :]

    def antenna_gain_db(self, piu_xy: np.ndarray) -> np.ndarray | float:
        """(K, A) sector antenna gain (dBi) towards PIUs at ``piu_xy`` (0 without sectors)."""
        if self._azimuth is None or np.all(np.isnan(self._azimuth)):
            return 0.0
        v = self._offsets(piu_xy)
        towards = np.degrees(np.arctan2(v[..., 1], v[..., 0]))  # (K, A)
        off = (towards - self._azimuth[None, :] + 180.0) % 360.0 - 180.0
        gain = 8.0 - np.minimum(12.0 * (off / 65.0) ** 2, 30.0)
        return np.where(np.isnan(self._azimuth)[None, :], 0.0, gain)

    def link_stats(self, piu_xy: np.ndarray, piu_height_m: np.ndarray) -> LinkLoss:
        """Path-loss statistics of PIUs at ``piu_xy`` (K, 2) to every AP."""
        if self._wrap is not None:
            delta = np.abs(self._offsets(piu_xy))
        else:
            delta = np.abs(piu_xy[:, None, :] - self.ap_xy[None, :, :])  # (K, A, 2)
        if self._torus_side_m is not None:
            delta = np.minimum(delta, self._torus_side_m - delta)  # shortest way round
        d2d = np.linalg.norm(delta, axis=-1)  # (K, A)
        ap_h = self.ap_height_m[None, :]
        d3d = np.sqrt(d2d**2 + (ap_h - piu_height_m[:, None]) ** 2)
        return self._loss(d2d, d3d, ap_h, piu_height_m[:, None])

    def links_at(self, xy: np.ndarray, height_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(beta (n, A) linear, LOS (n, A) bool) of devices at ``xy`` (n, 2) and heights (n,)
        m, from the spatially consistent maps (``consistency_m`` must be set)."""
        gain, los, _ = self._links(np.asarray(xy, dtype=float), np.asarray(height_m, float))
        return gain, los

    def _links(
        self, xy: np.ndarray, height_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gain, LOS, shadowing dB), each (n, A), of points xy (n, 2) from the maps."""
        if self._maps is None:
            raise ValueError("links at arbitrary points need spatial consistency")
        stats = self.link_stats(xy, height_m)
        los = np.stack(
            [los_state(lm, xy, stats.p_los[:, a]) for a, (_, lm) in enumerate(self._maps)],
            axis=1,
        )
        normals = np.stack([sm(xy) for sm, _ in self._maps], axis=1)
        loss_db = np.where(los, stats.loss_los_db, stats.loss_nlos_db)
        sigma_db = np.where(los, stats.sigma_los_db, stats.sigma_nlos_db)
        if self._sigma_db is not None:
            sigma_db = np.full_like(loss_db, self._sigma_db)
        shadow_db = sigma_db * normals
        gain = db_to_linear(self.antenna_gain_db(xy) - (loss_db + shadow_db))
        return gain, los, shadow_db

    def gain_at(self, piu: int, xy: np.ndarray) -> np.ndarray:
        """beta (A,) of PIU ``piu`` moved to ``xy`` (m): path loss at the new distances, its
        links' LOS states and shadowing kept (mobility), or with spatial consistency those
        of the new point."""
        at = np.asarray(xy, dtype=float)[None, :]
        if self._maps is not None:
            return self._links(at, self.piu_height_m[[piu]])[0][0]
        stats = self.link_stats(at, self.piu_height_m[[piu]])
        los = self.los[piu]
        loss_db = np.where(los, stats.loss_los_db[0], stats.loss_nlos_db[0])
        antenna_db = np.asarray(self.antenna_gain_db(at), dtype=float).reshape(-1)
        if antenna_db.size == 1:
            return db_to_linear(-(loss_db + self.shadow_db[piu]))
        return db_to_linear(antenna_db - (loss_db + self.shadow_db[piu]))


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
