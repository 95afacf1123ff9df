"""Topology builders (networkx graphs), topology files, and bundled scenario files (``*.toml``).

A topology graph has one node per entity with typed attributes:
``role`` ("server", "ap", "piu"), ``index`` (int), ``position_m`` ((x, y) in m) and
``height_m``; ``server``-``ap`` edges carry the backhaul ``capacity_bps`` and ``latency_s``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_topology", "positions"]


def __getattr__(name: str) -> Any:
    # Lazy: the builders import the scenario schema, which itself reads topology files
    # through topologies.graphml; importing them eagerly here would be circular.
    if name in __all__:
        from netsim.topologies import builders

        return getattr(builders, name)
    raise AttributeError(name)
