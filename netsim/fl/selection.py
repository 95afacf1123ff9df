"""Client selection for partial participation.

Policies (``protocol.selection``): "random" (uniform), "round_robin" (a window that moves
by k each round), and three greedy ones on what the PIUs report at the round start
(:class:`SelectionReport`): "channel" (highest expected uplink rate), "energy" (most
battery) and "deadline" (earliest predicted finish); "predictive" ranks by "deadline" on
reports redone at a forecast SNR (``netsim/nodes/forecast.py``) and passes over PIUs
forecast to be in outage. Ties go to the lower PIU index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def select_uniform(active: Sequence[int], k: int | None, rng: np.random.Generator) -> list[int]:
    """``k`` PIUs drawn uniformly without replacement from ``active`` (all when k is None
    or at least the number active), returned sorted."""
    if k is None or k >= len(active):
        return sorted(active)
    return sorted(int(i) for i in rng.choice(np.asarray(active), size=k, replace=False))


POLICIES = ("random", "round_robin", "channel", "energy", "deadline", "predictive")


@dataclass(frozen=True)
class SelectionReport:
    """What a PIU reports for selection: expected uplink rate (bit/s, mean SNR), predicted
    round time (s: compute at nominal speed + airtime of the expected payload), battery
    level (J), and its uplink's transmit power (W) and bandwidth (Hz)."""

    rate_bps: float
    finish_s: float
    battery_j: float
    power_w: float = math.nan
    bandwidth_hz: float = math.nan

    def score(self, policy: str) -> float:
        """Larger is better under ``policy``."""
        if policy == "channel":
            return self.rate_bps
        if policy == "energy":
            return self.battery_j
        if policy == "deadline":
            return -self.finish_s
        raise ValueError(f"{policy!r} does not rank PIUs by report")


def select_round_robin(active: Sequence[int], k: int | None, round_index: int) -> list[int]:
    """The ``k`` PIUs from position ``round k`` (mod n) of the sorted ``active`` list,
    wrapping around, returned sorted (all when k is None or at least n)."""
    ordered = sorted(active)
    n = len(ordered)
    if k is None or k >= n:
        return ordered
    start = (round_index * k) % n
    return sorted(ordered[(start + i) % n] for i in range(k))


def select_best(reports: Mapping[int, SelectionReport], k: int | None, policy: str) -> list[int]:
    """The ``k`` PIUs with the best reports under ``policy`` (ties: lower index first),
    returned sorted."""
    ranked = sorted(reports, key=lambda i: (-reports[i].score(policy), i))
    return sorted(ranked if k is None else ranked[:k])
