"""Topology builders (networkx graphs), topology files, and bundled scenario files (``*.toml``).

A topology graph has one node per entity with typed attributes:
``role`` ("server", "ap", "piu"), ``index`` (int), ``position_m`` ((x, y) in m) and
``height_m``; ``server``-``ap`` edges carry the backhaul ``capacity_bps`` and ``latency_s``.
The scenario's ``[topology]`` table becomes a graph in :mod:`netsim.assembly.topology`.
"""

from __future__ import annotations

from netsim.topologies.builders import positions, topology_graph

__all__ = ["positions", "topology_graph"]
