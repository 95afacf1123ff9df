"""One wired hop's parameters, typed (PHYSICS.md section 10).

Graphs (the builders of :mod:`netsim.backhaul.graphs`, GraphML / GML topology files) keep a
link's parameters as the edge attributes ``capacity_bps`` and ``latency_s``, the form
networkx routes on and files store; what simulates a link takes a :class:`WiredHop`,
converted once where the graph is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WiredHop:
    """A full-duplex wired link: ``capacity_bps`` (bit/s, each direction) of serialisation
    and ``latency_s`` (s, one way) of propagation."""

    capacity_bps: float
    latency_s: float

    @classmethod
    def of_edge(cls, attrs: Mapping[str, Any]) -> WiredHop:
        """The hop of a graph edge's ``capacity_bps`` and ``latency_s`` attributes."""
        return cls(float(attrs["capacity_bps"]), float(attrs["latency_s"]))
