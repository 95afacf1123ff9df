"""The messages between entities, kept importable from here: they live in
:mod:`netsim.messages` (below the entities and the attacks, which both use them). Kept for
``access_point.py`` and the node tests, which still import them from this path."""

from __future__ import annotations

from netsim.messages import (
    EdgeModel,
    GlobalModel,
    Notice,
    OTAAggregate,
    OTAReady,
    RoundLink,
    Update,
)

__all__ = ["EdgeModel", "GlobalModel", "Notice", "OTAAggregate", "OTAReady", "RoundLink", "Update"]
