"""Topology builders (networkx graphs) and bundled scenario files (``*.toml``).

A topology graph has one node per entity with typed attributes:
``role`` ("server", "ap", "piu"), ``index`` (int), ``position_m`` ((x, y) in m) and
``height_m``; ``server``-``ap`` edges carry the backhaul ``capacity_bps`` and ``latency_s``.
"""

from topologies.builders import build_topology, positions

__all__ = ["build_topology", "positions"]
