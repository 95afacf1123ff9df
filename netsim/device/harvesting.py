"""Energy harvesting into a PIU's battery (PHYSICS.md section 6: ``B(t+1) = B(t) - E`` +
harvested).

The harvested energy is credited at the end of every ledger interval ``[t0, t1)`` of length
``interval_s`` (the battery holds at most its capacity; the overflow is lost):

* constant: ``P (t1 - t0)``;
* periodic (solar-like day cycle): power ``P_peak max(0, sin(2 pi t / T))``, credited as its
  exact integral ``P_peak (F(t1) - F(t0))`` with ``F(t) = n 2/w + g(t - n T)``, ``w = 2 pi / T``,
  ``n = floor(t / T)``, ``g(r) = (1 - cos(w r)) / w`` for ``r <= T / 2`` else ``2 / w``;
* random (bursty ambient RF or vibration): each interval's energy ~ Exp(mean ``P_mean
  interval_s``), drawn from the keyed stream (HARVEST, PIU, interval index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netsim.rng import Stream, Streams


@dataclass(frozen=True)
class Harvester:
    """One PIU's harvesting source.

    kind: "constant", "periodic" or "random"; power_w: P (constant), P_peak (periodic) or
    P_mean (random), in W; period_s: T (periodic); interval_s: ledger interval (s).
    """

    kind: str
    power_w: float
    interval_s: float
    period_s: float = 86_400.0
    streams: Streams | None = None
    piu: int = 0

    def energy_j(self, interval: int) -> float:
        """Energy (J) harvested in ledger interval ``interval`` (0-based)."""
        t0, t1 = interval * self.interval_s, (interval + 1) * self.interval_s
        if self.kind == "constant":
            return self.power_w * (t1 - t0)
        if self.kind == "periodic":
            return self.power_w * (self._cumulative(t1) - self._cumulative(t0))
        if self.kind == "random":
            assert self.streams is not None
            rng = self.streams.numpy(Stream.HARVEST, self.piu, interval)
            return float(rng.exponential(self.power_w * self.interval_s))
        raise ValueError(f"unknown harvesting kind {self.kind!r}")

    def _cumulative(self, t: float) -> float:
        """F(t) = integral over [0, t] of max(0, sin(w s)) ds."""
        w = 2 * math.pi / self.period_s
        n = math.floor(t / self.period_s)
        r = t - n * self.period_s
        part = (1 - math.cos(w * r)) / w if r <= self.period_s / 2 else 2 / w
        return n * 2 / w + part
