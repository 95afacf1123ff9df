"""Link rates and airtime over block-fading channels (PHYSICS.md sections 1-3).

``rate = B log2(1 + SNR)`` with ``SNR = p beta |h|^2 / (N0 B)``. The SNR is constant within a
coherence block and redrawn at block boundaries; a transmission that spans several blocks is
integrated: it ends when the bits delivered, sum over blocks of rate x time in block, reach the
payload. Propagation delay is ignored (microseconds at cell sizes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from netsim.radio.band import Band
from netsim.radio.fading import BlockFading

_BLOCKS_PER_STEP = 64
_MAX_AIRTIME_S = 1e7  # a transmission longer than ~4 months means a broken link budget


@dataclass(frozen=True)
class Transfer:
    """Outcome of one transmission: airtime (s), effective rate bits/airtime (bit/s), and the
    time-averaged SNR over the transmission (dB)."""

    airtime_s: float
    rate_bps: float
    snr_db: float


def integrate_airtime(
    bits: float,
    t0_s: float,
    coherence_s: float,
    bandwidth_hz: float,
    snr_of_blocks: Callable[[int, int], np.ndarray],
) -> Transfer:
    """Time to deliver ``bits`` from ``t0_s`` when the SNR is piecewise constant per block.

    Parameters
    ----------
    snr_of_blocks: ``(first_block, n_blocks) -> (n_blocks,)`` linear SNR of consecutive blocks.
    """
    if bits <= 0:
        return Transfer(0.0, math.nan, math.nan)
    block = math.floor(t0_s / coherence_s)
    # Time left in the first (partial) block; guard against t0 landing on a boundary by rounding.
    first_len = (block + 1) * coherence_s - t0_s
    if first_len <= 0:
        block, first_len = block + 1, coherence_s
    remaining = float(bits)
    elapsed, snr_time = 0.0, 0.0
    while elapsed < _MAX_AIRTIME_S:
        snr = snr_of_blocks(block, _BLOCKS_PER_STEP)
        rates = bandwidth_hz * np.log2(1.0 + snr)  # bit/s per block
        lengths = np.full(_BLOCKS_PER_STEP, coherence_s)
        lengths[0] = first_len
        delivered = np.cumsum(rates * lengths)
        done = int(np.searchsorted(delivered, remaining, side="left"))
        if done < _BLOCKS_PER_STEP:
            before = delivered[done - 1] if done > 0 else 0.0
            last = (remaining - before) / rates[done]
            times = np.append(lengths[:done], last)
            airtime = elapsed + float(times.sum())
            snr_time += float(np.dot(snr[: done + 1], times))
            return Transfer(airtime, bits / airtime, _db(snr_time / airtime))
        remaining -= float(delivered[-1])
        elapsed += float(lengths.sum())
        snr_time += float(np.dot(snr, lengths))
        block, first_len = block + _BLOCKS_PER_STEP, coherence_s
    raise RuntimeError(f"transmission of {bits} bits did not finish within {_MAX_AIRTIME_S} s")


def _db(x: float) -> float:
    return 10.0 * math.log10(x) if x > 0 else -math.inf


class RadioChannel:
    """The wireless channels between K PIUs and A APs.

    Parameters
    ----------
    gain: large-scale power gains beta (K, A), linear (path loss and shadowing).
    fading: small-scale block fading (mean-1 power gains per block).
    coherence_s: coherence time T_c (s).
    band: the system band (its noise PSD including noise figure, W/Hz, sets the SNRs).

    Uplink and downlink see the same channel (TDD reciprocity).
    """

    def __init__(
        self, gain: np.ndarray, fading: BlockFading, coherence_s: float, band: Band
    ) -> None:
        self.gain = np.asarray(gain, dtype=float)
        self.fading = fading
        self.coherence_s = coherence_s
        self.band = band
        self.moves = 0  # how often the gains changed (what caches them checks it)

    def move(self, piu: int, gain: np.ndarray) -> None:
        """PIU ``piu`` moved: its large-scale gains to every AP are now ``gain`` (A,), linear
        (a transmission already under way keeps the gains it started with)."""
        self.gain[piu, :] = gain
        self.moves += 1

    def mean_snr(self, piu: int, ap: int, power_w: float, bandwidth_hz: float) -> float:
        """SNR with the fading averaged out (|h|^2 = 1), linear."""
        return power_w * self.gain[piu, ap] / self.band.noise_w(bandwidth_hz)

    def expected_airtime_s(
        self, piu: int, ap: int, bits: float, power_w: float, bandwidth_hz: float
    ) -> float:
        """Airtime at the rate of the mean SNR: a planning estimate, exact without fading;
        inf where the SNR underflows to 0 (a 400 dB path loss)."""
        rate = bandwidth_hz * math.log2(1.0 + self.mean_snr(piu, ap, power_w, bandwidth_hz))
        return bits / rate if rate > 0 else math.inf

    def uplink(
        self, piu: int, ap: int, bits: float, t0_s: float, power_w: float, bandwidth_hz: float
    ) -> Transfer:
        """Transfer of ``bits`` from PIU to AP starting at ``t0_s``."""
        return self.multicast([piu], ap, bits, t0_s, power_w, bandwidth_hz)

    def multicast(
        self,
        pius: Sequence[int],
        ap: int,
        bits: float,
        t0_s: float,
        power_w: float,
        bandwidth_hz: float,
    ) -> Transfer:
        """Transfer of ``bits`` between an AP and a group of PIUs starting at ``t0_s``.

        A multicast is decoded by every receiver, so it runs at the rate of the weakest
        receiver in each block. With one PIU this is a point-to-point link (either direction).
        """
        snr_of_blocks = self._snr_of_blocks(pius, ap, power_w, bandwidth_hz)
        if self.fading.static:
            snr = float(snr_of_blocks(0, 1)[0])
            rate = bandwidth_hz * math.log2(1.0 + snr)
            return (
                Transfer(bits / rate, rate, _db(snr))
                if bits > 0
                else Transfer(0.0, math.nan, math.nan)
            )
        return integrate_airtime(bits, t0_s, self.coherence_s, bandwidth_hz, snr_of_blocks)

    def fixed_rate_uplink(
        self,
        piu: int,
        ap: int,
        bits: float,
        t0_s: float,
        power_w: float,
        bandwidth_hz: float,
        rate_bps: float,
    ) -> tuple[Transfer, bool]:
        """One packet of ``bits`` sent at a fixed ``rate_bps`` from ``t0_s``: airtime
        ``bits / rate_bps``; it is decoded only if the channel's capacity ``B log2(1 + SNR)``
        is at least the rate in every coherence block the packet overlaps (outage otherwise).

        Returns the transfer (its ``snr_db``: the worst block's) and whether it succeeded.
        """
        airtime = bits / rate_bps
        first = math.floor(t0_s / self.coherence_s)
        last = max(first, math.ceil((t0_s + airtime) / self.coherence_s) - 1)
        snr = self._snr_of_blocks([piu], ap, power_w, bandwidth_hz)(first, last - first + 1)
        worst = float(snr.min())
        ok = bandwidth_hz * math.log2(1.0 + worst) >= rate_bps
        return Transfer(airtime, rate_bps, _db(worst)), ok

    def _snr_of_blocks(
        self, pius: Sequence[int], ap: int, power_w: float, bandwidth_hz: float
    ) -> Callable[[int, int], np.ndarray]:
        """``(first_block, n) -> (n,)`` SNR of the weakest of ``pius`` at ``ap`` per block."""
        pius = list(pius)
        scale = power_w / self.band.noise_w(bandwidth_hz)
        beta = self.gain[pius, ap]  # (G,)

        def snr_of_blocks(first: int, n: int) -> np.ndarray:
            g = np.stack([self.fading.gains(k, first, n)[:, ap] for k in pius], axis=1)  # (n, G)
            return scale * (g * beta).min(axis=1)

        return snr_of_blocks
