"""The system band: the one owner of its width, frequency plan, noise and NR resource grid.

Everything that needs a fact of the band (a channel's width, the noise over a bandwidth, an
AP's frequency channel, the RBs of a channel) reads it from one :class:`Band`, built once
per run by the assembly from ``[radio]``; nothing derives these facts again on its own.

Units are SI: Hz, W/Hz, W, s. The equations:

* Frequency reuse N (PHYSICS.md section 8): the band of B Hz is split into N channels of
  ``B / N`` Hz each; :mod:`netsim.radio.spectrum` assigns the APs to them. With orthogonal
  cells every AP has a channel of its own spanning the whole band (no co-channel
  interference).
* Thermal noise (PHYSICS.md section 1): ``sigma2 = N0 NF W`` over a bandwidth of W Hz,
  ``N0 NF`` the noise power spectral density including the receiver's noise figure (W/Hz;
  ``-174 dBm/Hz + NF dB`` converted once at the configuration's edge).
* OFDMA resource grid (PHYSICS.md section 8, TS 38.211): numerology mu gives a subcarrier
  spacing of ``15 * 2^mu`` kHz, a slot of ``1 ms / 2^mu`` and a resource block (RB) of 12
  subcarriers, ``180 * 2^mu`` kHz; a channel holds the RBs of TS 38.101-1 Table 5.3.2-1
  for its bandwidth (e.g. 20 MHz: 106 RBs at 15 kHz, 51 at 30 kHz).
* FDMA (PHYSICS.md section 3): n PIUs sharing a channel of W Hz get ``W / n`` Hz each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np

# TS 38.101-1 Table 5.3.2-1: maximum RBs per channel bandwidth (MHz) and SCS (kHz)
_NRB = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162,
         80: 217, 90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 80: 107,
         90: 121, 100: 135},
}  # fmt: skip


def resource_blocks(bandwidth_hz: float, mu: int) -> int:
    """RBs of a channel of ``bandwidth_hz`` (Hz) at numerology ``mu``: TS 38.101-1's count
    for its bandwidths, else the RBs that fit in 95 % of the band (the standard's guard
    bands take about 5 %)."""
    scs_khz = 15 * 2**mu
    mhz = bandwidth_hz / 1e6
    table = _NRB.get(scs_khz, {})
    if float(mhz).is_integer() and int(mhz) in table:
        return table[int(mhz)]
    return max(1, math.floor(0.95 * bandwidth_hz / (12 * scs_khz * 1e3)))


@dataclass(frozen=True, eq=False)
class Band:
    """The system band of a run (module docstring for the equations).

    Parameters
    ----------
    bandwidth_hz: the whole system band B (Hz).
    noise_psd_w_hz: noise power spectral density including the noise figure, N0 NF (W/Hz).
    channels: (A,) int, the frequency channel of each AP (co-channel APs interfere).
    channel_hz: the width of one channel (Hz): B with orthogonal cells, B / N with reuse N.
    numerology: NR numerology mu (subcarrier spacing ``15 * 2^mu`` kHz).
    """

    bandwidth_hz: float
    noise_psd_w_hz: float
    channels: np.ndarray
    channel_hz: float
    numerology: int = 0

    def __post_init__(self) -> None:
        channels = np.array(self.channels, dtype=int)
        channels.flags.writeable = False  # the plan is fixed for the run
        object.__setattr__(self, "channels", channels)

    @classmethod
    def orthogonal(
        cls, bandwidth_hz: float, noise_psd_w_hz: float, n_aps: int, numerology: int = 0
    ) -> Band:
        """Every one of ``n_aps`` APs on a channel of its own spanning the whole band."""
        return cls(bandwidth_hz, noise_psd_w_hz, np.arange(n_aps), bandwidth_hz, numerology)

    @classmethod
    def reused(
        cls,
        bandwidth_hz: float,
        noise_psd_w_hz: float,
        channels: np.ndarray,
        reuse: int,
        numerology: int = 0,
    ) -> Band:
        """The band split into ``reuse`` channels of ``bandwidth_hz / reuse`` (Hz), AP a on
        channel ``channels[a]`` (a frequency plan, :mod:`netsim.radio.spectrum`)."""
        return cls(bandwidth_hz, noise_psd_w_hz, channels, bandwidth_hz / reuse, numerology)

    @overload
    def noise_w(self, width_hz: float) -> float: ...
    @overload
    def noise_w(self, width_hz: np.ndarray) -> np.ndarray: ...
    def noise_w(self, width_hz: float | np.ndarray) -> float | np.ndarray:
        """Thermal noise power (W) over ``width_hz`` (Hz, any shape): ``N0 NF W``."""
        return self.noise_psd_w_hz * width_hz

    @property
    def band_noise_w(self) -> float:
        """Noise power (W) over the whole band (cell-free, over-the-air, measurements)."""
        return self.noise_w(self.bandwidth_hz)

    def subband_hz(self, n_slots: int) -> float:
        """The width (Hz) of one of ``n_slots`` FDMA sub-bands of a channel."""
        return self.channel_hz / n_slots

    @property
    def rb_hz(self) -> float:
        """The width of one resource block (Hz): 12 subcarriers of ``15 * 2^mu`` kHz."""
        return 12 * 15e3 * 2**self.numerology

    @property
    def slot_s(self) -> float:
        """The length of one slot (s): ``1 ms / 2^mu``."""
        return 1e-3 / 2**self.numerology

    @property
    def n_rb(self) -> int:
        """The resource blocks of one channel (TS 38.101-1)."""
        return resource_blocks(self.channel_hz, self.numerology)
