"""What a PIU measures of its radio environment (FL for wireless, issue 23): the received
power from every AP, each link's LOS state, and the uplink SNR to the strongest AP, at
given points and times, from the run's own large-scale maps and small-scale fading. The
radio data sets (``netsim/assembly/radio_data.py``) are made of these measurements, and the
closed loop (``protocol.selection = "predictive"``) takes a PIU's recent ones from here, so
the learned model sees at run time exactly the kind of input it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netsim.radio.fading import BlockFading
from netsim.radio.largescale import LargeScaleGains


@dataclass(frozen=True)
class Measurement:
    """n measurements of one PIU: rss_dbm (n, A) received power from each AP; los (n, A);
    serving (n,) the AP of the strongest rss; snr_db (n,) the uplink SNR to it in the
    coherence block of the measurement."""

    rss_dbm: np.ndarray
    los: np.ndarray
    serving: np.ndarray
    snr_db: np.ndarray


@dataclass(frozen=True)
class RadioMeter:
    """Measurements from the maps (``gains``, spatially consistent) and the fading.

    rss: ``P_AP + 10 log10(beta(x)) + 10 log10(mean |h|^2)``, the fading averaged over the
    ``fading_window`` blocks up to the measurement (0: none); snr: ``p beta |h|^2 / noise``
    in the measurement's own block, with the PIU's transmit power p (W) and the noise
    ``noise_w`` over the band (W)."""

    gains: LargeScaleGains
    fading: BlockFading
    coherence_s: float
    ap_tx_power_dbm: float
    piu_power_w: float
    noise_w: float
    fading_window: int

    def measure(self, piu: int, xy: np.ndarray, times: np.ndarray) -> Measurement:
        """PIU ``piu``'s measurements at points xy (n, 2) m and times (n,) s (t >= 0)."""
        height = np.full(len(xy), self.gains.piu_height_m[piu])
        beta, los = self.gains.links_at(xy, height)
        now, mean = self._faded_power(piu, np.asarray(times, dtype=float))
        rss_dbm = self.ap_tx_power_dbm + 10 * np.log10(beta) + 10 * np.log10(mean)
        serving = rss_dbm.argmax(axis=1)
        rows = np.arange(len(xy))
        snr = self.piu_power_w * beta[rows, serving] * now[rows, serving] / self.noise_w
        return Measurement(rss_dbm, los, serving, 10 * np.log10(snr))

    def _faded_power(self, piu: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|h|^2 (n, A) in each time's block, and averaged over the window up to it (1
        without a window): the run's own coefficients (the same keyed streams)."""
        blocks = np.floor(times / self.coherence_s).astype(np.int64)
        window = self.fading_window
        first = max(int(blocks.min()) - max(window, 1) + 1, 0)
        h2 = np.abs(self.fading.coefficients(piu, first, int(blocks.max()) - first + 1)) ** 2
        now = h2[blocks - first]
        if window == 0:
            return now, np.ones_like(now)
        cumulative = np.vstack([np.zeros((1, h2.shape[1])), np.cumsum(h2, axis=0)])
        end = blocks - first + 1
        start = np.maximum(end - window, 0)
        return now, (cumulative[end] - cumulative[start]) / (end - start)[:, None]
