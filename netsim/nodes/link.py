"""Wired point-to-point link (AP <-> server backhaul / fronthaul), one direction."""

from __future__ import annotations

from collections.abc import Generator

import simpy


class WiredLink:
    """A FIFO link: ``bits / capacity_bps`` of serialisation (one message at a time), then
    ``latency_s`` of propagation (messages pipeline through it).

    Parameters
    ----------
    capacity_bps: line rate in bit/s.
    latency_s: one-way latency in s.
    """

    def __init__(self, env: simpy.Environment, capacity_bps: float, latency_s: float) -> None:
        self.env = env
        self.capacity_bps = capacity_bps
        self.latency_s = latency_s
        self._line = simpy.Resource(env, capacity=1)

    def transfer(self, bits: float) -> Generator[simpy.Event, None, None]:
        """Process body: returns when the last bit has arrived at the far end."""
        with self._line.request() as slot:
            yield slot
            yield self.env.timeout(bits / self.capacity_bps)
        yield self.env.timeout(self.latency_s)
