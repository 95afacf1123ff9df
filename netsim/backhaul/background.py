"""Background traffic on a routed backhaul: constant-bit-rate flows, always on or on/off."""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence

import numpy as np
import simpy

from netsim.backhaul.flows import Flow, FlowNetwork, Link


class BackgroundTraffic:
    """Traffic of ``rate_bps`` along ``route`` (directed links) that takes its max-min fair
    share of every link it crosses (at most ``rate_bps``). With ``on_s`` / ``off_s`` it
    alternates on and off periods, exponentially distributed with those means (drawn from
    ``rng``), starting on; else it is always on. ``bits_sent`` what it carried so far."""

    def __init__(
        self,
        env: simpy.Environment,
        network: FlowNetwork,
        route: Sequence[Link],
        rate_bps: float,
        on_s: float | None = None,
        off_s: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if (on_s is None) != (off_s is None) or (on_s is not None and rng is None):
            raise ValueError("on_s and off_s go together, with an rng")
        self.env = env
        self.network = network
        self.route = tuple(route)
        self.rate_bps = rate_bps
        self.on_s, self.off_s, self.rng = on_s, off_s, rng
        self._flow: Flow | None = None

    def start(self) -> None:
        """Begin (at the current time)."""
        if self.on_s is None:
            self._flow = self.network.start(self.route, math.inf, self.rate_bps)
        else:
            self.env.process(self._on_off())

    def _on_off(self) -> Generator[simpy.Event, object, None]:
        assert self.on_s is not None and self.off_s is not None and self.rng is not None
        while True:
            flow = self.network.start(self.route, math.inf, self.rate_bps)
            yield self.env.timeout(float(self.rng.exponential(self.on_s)))
            self.network.stop(flow)
            yield self.env.timeout(float(self.rng.exponential(self.off_s)))
