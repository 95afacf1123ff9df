"""Battery ledger of a PIU: ``B(t+1) = B(t) - E`` for every energy draw, ``+ H`` for every
harvested amount (joules), never above the capacity."""

from __future__ import annotations

import math


class Battery:
    """Energy store of one PIU.

    Parameters
    ----------
    capacity_j: initial (and maximum) energy in J; ``inf`` for a mains-powered device.
    """

    def __init__(self, capacity_j: float) -> None:
        if not capacity_j > 0:
            raise ValueError(f"battery capacity must be > 0 J, got {capacity_j}")
        self.capacity_j = capacity_j
        self.level_j = capacity_j
        self.drawn_j = 0.0
        self.harvested_j = 0.0  # stored, i.e. without the overflow of a full battery

    @property
    def unlimited(self) -> bool:
        """True for a mains-powered device (infinite capacity)."""
        return math.isinf(self.capacity_j)

    def can_afford(self, energy_j: float) -> bool:
        """Whether ``energy_j`` (J) can be drawn without emptying the battery."""
        return self.level_j >= energy_j

    def time_until_empty_s(self, power_w: float) -> float:
        """How long the battery sustains a constant draw of ``power_w``."""
        return math.inf if power_w <= 0 else self.level_j / power_w

    def draw(self, energy_j: float) -> float:
        """Take ``energy_j`` (at most what is left); return the energy actually drawn."""
        taken = min(energy_j, self.level_j)
        self.level_j = 0.0 if taken == self.level_j and not self.unlimited else self.level_j - taken
        self.drawn_j += taken
        return taken

    def charge(self, energy_j: float) -> float:
        """Store ``energy_j`` of harvested energy (up to the capacity); return what was stored."""
        stored = min(energy_j, self.capacity_j - self.level_j)
        self.level_j += stored
        self.harvested_j += stored
        return stored
