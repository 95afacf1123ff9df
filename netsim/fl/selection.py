"""Client selection for partial participation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_uniform(active: Sequence[int], k: int | None, rng: np.random.Generator) -> list[int]:
    """``k`` PIUs drawn uniformly without replacement from ``active`` (all when k is None
    or at least the number active), returned sorted."""
    if k is None or k >= len(active):
        return sorted(active)
    return sorted(int(i) for i in rng.choice(np.asarray(active), size=k, replace=False))
