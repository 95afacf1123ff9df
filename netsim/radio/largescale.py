"""Large-scale gains of every PIU-AP link: path loss of each link's LOS/NLOS state at its
3D distance, plus log-normal shadowing (PHYSICS.md section 1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from netsim.radio.antenna import SectorAntenna
from netsim.radio.pathloss import LinkLoss, db_to_linear, o2i_loss_db, o2i_sigma_db
from netsim.radio.raytracing import RadioMaps
from netsim.radio.spatial import GaussianField, los_state
from netsim.rng import Stream, Streams

# (distance_2d_m (K, A), distance_3d_m (K, A), ap_height_m (1, A), ut_height_m (K, 1))
# -> the links' large-scale statistics
LossModel = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], LinkLoss]


@dataclass(frozen=True)
class IndoorPIUs:
    """Which PIUs are indoors (TR 38.901 7.4.3, the UE drop of TR 36.873 / 38.901 7.8):
    (K,) arrays of the indoor state, the antenna height (indoor: ``3 (n_fl - 1) + 1.5`` m on
    floor n_fl), the indoor 2D distance d2D-in (0 outdoors) and the high-loss O2I model; an
    indoor link's shadowing has the O2I deviation ``shadowing_std_db`` (Table 7.5-6: 7 dB in
    UMi and UMa) instead of its LOS/NLOS one."""

    indoor: np.ndarray
    height_m: np.ndarray
    distance_m: np.ndarray
    high_loss: np.ndarray
    carrier_hz: float
    shadowing_std_db: float = 7.0


def draw_indoor(
    height_m: np.ndarray,
    fraction: float,
    high_loss_fraction: float,
    max_distance_m: float,
    carrier_hz: float,
    streams: Streams,
    shadowing_std_db: float = 7.0,
) -> IndoorPIUs:
    """Each PIU indoors with probability ``fraction`` (stream ``(INDOOR, k)``), with the
    high-loss O2I model with probability ``high_loss_fraction``, d2D-in the smaller of two
    uniform draws on [0, max_distance_m] (TR 38.901 7.4.3.1, UMa and UMi), and, indoors,
    on floor n_fl uniform in 1..N_fl of a building of N_fl uniform in 4..8 floors, at
    ``3 (n_fl - 1) + 1.5`` m (TR 36.873 Table 6-1); outdoor PIUs keep ``height_m`` (K,)."""
    u = np.stack(
        [streams.numpy(Stream.INDOOR, k).uniform(size=6) for k in range(len(height_m))]
    ).reshape(-1, 6)
    indoor = u[:, 0] < fraction
    floors = 4 + np.floor(u[:, 4] * 5.0)  # N_fl in 4..8
    floor = 1 + np.floor(u[:, 5] * floors)  # n_fl in 1..N_fl
    return IndoorPIUs(
        indoor=indoor,
        height_m=np.where(indoor, 3.0 * (floor - 1.0) + 1.5, height_m),
        distance_m=np.where(indoor, max_distance_m * np.minimum(u[:, 2], u[:, 3]), 0.0),
        high_loss=indoor & (u[:, 1] < high_loss_fraction),
        carrier_hz=carrier_hz,
        shadowing_std_db=shadowing_std_db,
    )


def site_ids(ap_xy: np.ndarray) -> np.ndarray:
    """(A,) site of each AP: APs at the same position (a site's sectors) share one."""
    return np.unique(np.asarray(ap_xy, dtype=float), axis=0, return_inverse=True)[1].reshape(-1)


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
        and LOS state are fields over the plane, the shadowing's with this decorrelation
        distance, drawn from ``(SHADOWING_MAP, a)`` and ``(LOS_MAP, a)``; a PIU's links then
        depend on where it is, not on which PIU it is, and change as it moves
        (:meth:`links_at`).
    los_consistency_m: the LOS state field's decorrelation distance (TR 38.901 Table
        7.6.3.1-2: 50 m UMi and UMa, d_clutter / 2 InF; None: ``consistency_m``).
    ap_site: (A,) site of each AP (:func:`site_ids`): LOS states and shadowing are drawn per
        (PIU, site) from ``(LOS_SITE, piu)`` and ``(SHADOWING_SITE, piu)`` and shared by a
        site's sectors, as TR 38.901 draws large-scale parameters (None: per link).
    indoor: indoor PIUs (:class:`IndoorPIUs`): their heights, an O2I loss (TR 38.901 7.4.3)
        with its deviation drawn per (PIU, site) from ``(SHADOWING_SITE, piu)`` after the
        shadowing, the LOS probability of the outdoor distance d2D - d2D-in, and the O2I
        shadowing deviation; needs ``ap_site``.
    radio_maps: ray-traced maps (:class:`~netsim.radio.raytracing.RadioMaps`, one per AP in
        order) instead of ``loss``: each link's loss is the map's at the PIU's position, its
        LOS state the scene's (p_los 1 or 0), without shadowing unless
        ``shadowing_std_db``.
    sector_antenna: the 3D antenna of TR 38.901 (:class:`SectorAntenna`: both cuts of the
        element pattern, a column with electrical downtilt) instead of the horizontal
        pattern alone.
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
        los_consistency_m: float | None = None,
        ap_site: np.ndarray | None = None,
        indoor: IndoorPIUs | None = None,
        sector_antenna: SectorAntenna | None = None,
        radio_maps: RadioMaps | None = None,
    ) -> None:
        if indoor is not None:
            if ap_site is None:
                raise ValueError("indoor PIUs need per-site draws (ap_site)")
            piu_height_m = indoor.height_m
        if (ap_site is not None) and (consistency_m is not None or decorrelation_m is not None):
            raise ValueError("per-site draws exclude spatial consistency and correlation")
        self.ap_xy, self.ap_height_m, self.piu_height_m = ap_xy, ap_height_m, piu_height_m
        self._antenna, self._indoor = sector_antenna, indoor
        self._o2i_db: np.ndarray | float = 0.0
        self._loss, self._torus_side_m = loss, torus_side_m
        self._wrap, self._azimuth = wrap_offsets_m, ap_azimuth_deg
        self._sigma_db = shadowing_std_db
        self._radio_maps = radio_maps
        self._maps: list[tuple[GaussianField, GaussianField]] | None = None
        if consistency_m is not None:
            self._maps = [
                (
                    GaussianField(consistency_m, streams.numpy(Stream.SHADOWING_MAP, a)),
                    GaussianField(
                        los_consistency_m or consistency_m, streams.numpy(Stream.LOS_MAP, a)
                    ),
                )
                for a in range(len(ap_xy))
            ]
            self.gain, self.los, self.shadow_db = self._links(piu_xy, piu_height_m)
            return
        stats = self.link_stats(piu_xy, piu_height_m)
        n_pius, n_aps = stats.loss_los_db.shape
        if ap_site is not None:
            self._per_site(piu_xy, stats, ap_site, streams)
            return
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

    @property
    def radio_maps(self) -> RadioMaps | None:
        """The ray-traced maps the links are read from (None: a statistical model)."""
        return self._radio_maps

    @property
    def indoor(self) -> IndoorPIUs | None:
        """The indoor PIUs (None: every PIU outdoors)."""
        return self._indoor

    def _per_site(
        self, piu_xy: np.ndarray, stats: LinkLoss, ap_site: np.ndarray, streams: Streams
    ) -> None:
        """LOS states and shadowing per (PIU, site), O2I loss of indoor PIUs."""
        n_pius, n_sites = len(piu_xy), int(ap_site.max()) + 1
        u = np.stack(
            [streams.numpy(Stream.LOS_SITE, k).uniform(size=n_sites) for k in range(n_pius)]
        ).reshape(n_pius, n_sites)
        normals = np.stack(
            [
                streams.numpy(Stream.SHADOWING_SITE, k).standard_normal((2, n_sites))
                for k in range(n_pius)
            ]
        ).reshape(n_pius, 2, n_sites)
        p_los = stats.p_los
        ind = self._indoor
        if ind is not None:  # LOS probability of the outdoor part of the link
            d2d = np.linalg.norm(self._deltas(piu_xy), axis=-1)
            d2d_out = np.maximum(d2d - ind.distance_m[:, None], 0.0)
            d3d = np.hypot(d2d_out, self.ap_height_m[None, :] - self.piu_height_m[:, None])
            outdoor = self._loss(
                d2d_out, d3d, self.ap_height_m[None, :], self.piu_height_m[:, None]
            )
            p_los = np.where(ind.indoor[:, None], outdoor.p_los, stats.p_los)
        self.los = u[:, ap_site] < p_los  # (K, A): equal for a site's sectors
        loss_db = np.where(self.los, stats.loss_los_db, stats.loss_nlos_db)
        sigma_db = np.where(self.los, stats.sigma_los_db, stats.sigma_nlos_db)
        if ind is not None:
            sigma_db = np.where(ind.indoor[:, None], ind.shadowing_std_db, sigma_db)
            # the building's penetration deviation N(0, sigma_P^2) is the PIU's, one for all
            # its links (TR 38.901 7.4.3.1: UT-specific; Sionna draws it per UT too); drawn
            # per site it let a PIU take the best of 19 (the 5th percentile 3 dB high)
            deviation = o2i_sigma_db(ind.high_loss)[:, None] * normals[:, 1, :1]
            o2i = o2i_loss_db(ind.carrier_hz, ind.distance_m, ind.high_loss)[:, None]
            self._o2i_db = np.where(ind.indoor[:, None], o2i + deviation, 0.0)
        if self._sigma_db is not None:
            sigma_db = np.full_like(loss_db, self._sigma_db)
        self.shadow_db = sigma_db * normals[:, 0, ap_site]
        antenna_db = self.antenna_gain_db(piu_xy)
        self.gain = db_to_linear(antenna_db - (loss_db + self.shadow_db + self._o2i_db))

    def _deltas(self, piu_xy: np.ndarray) -> np.ndarray:
        """(K, A, 2) |offsets| of PIUs to APs, nearest image or the torus's shortest way."""
        if self._wrap is not None:
            delta = np.abs(self._offsets(piu_xy))
        else:
            delta = np.abs(piu_xy[:, None, :] - self.ap_xy[None, :, :])  # (K, A, 2)
        if self._torus_side_m is not None:
            delta = np.minimum(delta, self._torus_side_m - delta)  # shortest way round
        return delta

    def _offsets(self, piu_xy: np.ndarray) -> np.ndarray:
        """(K, A, 2) vectors from each AP (its nearest image with wrap-around) to each PIU."""
        diff = piu_xy[:, None, :] - self.ap_xy[None, :, :]  # (K, A, 2)
        if self._wrap is None:
            return diff
        images = diff[:, :, None, :] - self._wrap[None, None, :, :]  # (K, A, S, 2)
        nearest = np.linalg.norm(images, axis=-1).argmin(axis=2)  # (K, A)
        return np.take_along_axis(images, nearest[:, :, None, None], axis=2)[:, :, 0, :]

    def antenna_gain_db(
        self, piu_xy: np.ndarray, piu_height_m: np.ndarray | None = None
    ) -> np.ndarray | float:
        """(K, A) sector antenna gain (dBi) towards PIUs at ``piu_xy`` (0 without sectors),
        at heights ``piu_height_m`` (K,) (default: the PIUs' own) for the 3D antenna."""
        if self._azimuth is None or np.all(np.isnan(self._azimuth)):
            return 0.0
        v = self._offsets(piu_xy)
        towards = np.degrees(np.arctan2(v[..., 1], v[..., 0]))  # (K, A)
        off = (towards - self._azimuth[None, :] + 180.0) % 360.0 - 180.0
        if self._antenna is not None:
            h = self.piu_height_m if piu_height_m is None else piu_height_m
            drop = self.ap_height_m[None, :] - np.asarray(h, dtype=float)[:, None]
            d2d = np.linalg.norm(v, axis=-1)
            theta = 90.0 + np.degrees(np.arctan2(drop, d2d))  # zenith angle from the AP
            gain = self._antenna.gain_db(theta, off)
        else:
            gain = 8.0 - np.minimum(12.0 * (off / 65.0) ** 2, 30.0)
        return np.where(np.isnan(self._azimuth)[None, :], 0.0, gain)

    def link_stats(self, piu_xy: np.ndarray, piu_height_m: np.ndarray) -> LinkLoss:
        """Path-loss statistics of PIUs at ``piu_xy`` (K, 2) to every AP."""
        if self._radio_maps is not None:  # the scene's: one state, known
            loss_db = -self._radio_maps.gain_db_at(piu_xy)
            zero = np.zeros_like(loss_db)
            return LinkLoss(loss_db, loss_db, self._radio_maps.los_at(piu_xy) * 1.0, zero, zero)
        d2d = np.linalg.norm(self._deltas(piu_xy), axis=-1)  # (K, A)
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
        gain = db_to_linear(self.antenna_gain_db(xy, height_m) - (loss_db + shadow_db))
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
        antenna_db = np.asarray(
            self.antenna_gain_db(at, self.piu_height_m[[piu]]), dtype=float
        ).reshape(-1)
        o2i = np.asarray(self._o2i_db, dtype=float)
        shadow = self.shadow_db[piu] + (o2i[piu] if o2i.ndim else 0.0)
        if antenna_db.size == 1:
            return db_to_linear(-(loss_db + shadow))
        return db_to_linear(antenna_db - (loss_db + shadow))


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
