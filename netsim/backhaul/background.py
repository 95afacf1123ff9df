"""Background traffic on a routed backhaul: constant-bit-rate flows, always on or on/off."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import simpy

from netsim.backhaul.flows import Flow


class BackgroundTraffic:
    """Traffic that ``begin()`` starts as one flow of unbounded bits at a capped rate (its
    max-min fair share of every link it crosses, at most its rate) and ``end(flow)``
    withdraws. With ``on_s`` / ``off_s`` it alternates on and off periods, exponentially
    distributed with those means (drawn from ``rng``), starting on; else it is always on."""

    def __init__(
        self,
        env: simpy.Environment,
        begin: Callable[[], Flow],
        end: Callable[[Flow], None],
        on_s: float | None = None,
        off_s: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if (on_s is None) != (off_s is None) or (on_s is not None and rng is None):
            raise ValueError("on_s and off_s go together, with an rng")
        self.env = env
        self.begin, self.end = begin, end
        self.on_s, self.off_s, self.rng = on_s, off_s, rng

    def start(self) -> None:
        """Begin (at the current time)."""
        if self.on_s is None:
            self.begin()
        else:
            self.env.process(self._on_off())

    def _on_off(self) -> Generator[simpy.Event, object, None]:
        assert self.on_s is not None and self.off_s is not None and self.rng is not None
        while True:
            flow = self.begin()
            yield self.env.timeout(float(self.rng.exponential(self.on_s)))
            self.end(flow)
            yield self.env.timeout(float(self.rng.exponential(self.off_s)))
