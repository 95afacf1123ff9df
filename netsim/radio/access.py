"""Multiple access on an AP's uplink band: TDMA (one PIU at a time), FDMA (band split) or
cell-free (everybody at once on the whole band, separated by the antennas).

Each is a ``simpy.Resource`` a PIU holds while it transmits, so the PIU code is the same:
TDMA has one slot, the whole band, and a FIFO queue of waiting PIUs; FDMA has one slot per
served PIU, each with ``B / n`` of the band; cell-free has one slot per PIU and the whole band
(interference is in the PIU's SINR), so nobody waits in either.
"""

from __future__ import annotations

import simpy


class MultipleAccess:
    """The uplink band of one AP.

    Parameters
    ----------
    scheme: "tdma", "fdma" or "cellfree".
    bandwidth_hz: the AP's whole uplink band B.
    n_served: PIUs associated with the AP (FDMA gives each B / n_served).
    """

    def __init__(self, env: simpy.Environment, scheme: str, bandwidth_hz: float, n_served: int):
        if scheme not in ("tdma", "fdma", "cellfree"):
            raise ValueError(f"unknown multiple access scheme {scheme!r}")
        self.scheme = scheme
        n_served = max(1, n_served)
        self.bandwidth_hz = bandwidth_hz / n_served if scheme == "fdma" else bandwidth_hz
        self.slots = simpy.Resource(env, capacity=1 if scheme == "tdma" else n_served)

    def request(self) -> simpy.resources.resource.Request:
        """Ask for a slot; use as ``with access.request() as req: yield req``."""
        return self.slots.request()
