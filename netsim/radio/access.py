"""Multiple access on an AP's uplink band: TDMA (one PIU at a time), FDMA (band split) or
cell-free (everybody at once on the whole band, separated by the antennas).

Each is a ``simpy.Resource`` a PIU holds while it transmits, so the PIU code is the same:
TDMA has one slot, the whole band, and a FIFO queue of waiting PIUs; FDMA has one slot per
served PIU, each with ``B / n`` of the band; cell-free has one slot per PIU and the whole band
(interference is in the PIU's SINR), so nobody waits in either.
"""

from __future__ import annotations

import simpy

from netsim.radio.band import Band


class MultipleAccess:
    """The uplink band of one AP.

    Parameters
    ----------
    scheme: "tdma", "fdma", "cellfree" or "ofdma" (a scheduler shares the band: nobody
        waits for a slot).
    band: the system band; the AP's uplink band is its frequency channel there (width B;
        co-channel APs share one, see :mod:`netsim.radio.spectrum`).
    n_served: PIUs associated with the AP (FDMA gives each B / n_served).
    ap: the AP's index (its channel in the band's frequency plan).
    """

    def __init__(
        self,
        env: simpy.Environment,
        scheme: str,
        band: Band,
        n_served: int,
        ap: int = 0,
    ):
        if scheme not in ("tdma", "fdma", "cellfree", "ofdma"):
            raise ValueError(f"unknown multiple access scheme {scheme!r}")
        self.scheme = scheme
        self.channel = int(band.channels[ap])
        self.channel_hz = band.channel_hz
        self.n_rb = band.n_rb
        self.n_slots = 1 if scheme == "tdma" else max(1, n_served)
        self.bandwidth_hz = band.subband_hz(self.n_slots) if scheme == "fdma" else band.channel_hz
        self.slots = simpy.Resource(env, capacity=self.n_slots)

    def subband(self, slot: int) -> tuple[float, float]:
        """``[lo, hi)`` (Hz, from the channel's lower edge) of FDMA sub-band ``slot`` (taken
        modulo the number of slots); the whole channel for TDMA."""
        if self.scheme != "fdma":
            return 0.0, self.channel_hz
        k = slot % self.n_slots
        return k * self.bandwidth_hz, (k + 1) * self.bandwidth_hz

    def resource_blocks(self, slot: int) -> tuple[int, int] | None:
        """``[lo, hi)`` of the RBs of the channel that slot ``slot`` holds: every
        RB for TDMA, sub-band ``slot`` (modulo the slots) for FDMA, None where a scheduler
        shares them ("ofdma") or nobody splits them ("cellfree")."""
        if self.scheme == "tdma":
            return 0, self.n_rb
        if self.scheme != "fdma":
            return None
        k = slot % self.n_slots
        return k * self.n_rb // self.n_slots, (k + 1) * self.n_rb // self.n_slots

    def request(self) -> simpy.resources.resource.Request:
        """Ask for a slot; use as ``with access.request() as req: yield req``."""
        return self.slots.request()
