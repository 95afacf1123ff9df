"""A backhaul graph as a routed network: which links a transfer crosses, and the transfer.

The graph (networkx) has nodes for APs (``ap0``, ...), switches, edge servers and the
``server`` (the cloud); each edge is a full-duplex link with ``capacity_bps`` and
``latency_s``, i.e. one :class:`~netsim.backhaul.flows.FlowNetwork` link per direction.
Routes are shortest paths on latency (networkx), or the ``paths`` given.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import networkx as nx
import simpy

from netsim.backhaul.flows import Flow, FlowNetwork, Link


class RoutedBackhaul:
    """Transfers between backhaul nodes over shortest-latency routes, sharing the links at
    max-min fair rates.

    Parameters
    ----------
    graph: undirected; every edge has ``capacity_bps`` (bit/s, each direction) and
        ``latency_s`` (s).
    paths: routes given explicitly, ``{(src, dst): [src, ..., dst]}`` (the reverse
        direction follows the same nodes backwards unless given too).
    """

    def __init__(
        self,
        env: simpy.Environment,
        graph: nx.Graph,
        paths: dict[tuple[str, str], Sequence[str]] | None = None,
    ) -> None:
        self.env = env
        self.graph = graph
        capacity: dict[Link, float] = {}
        latency: dict[Link, float] = {}
        for u, v, data in graph.edges(data=True):
            for link in ((u, v), (v, u)):
                capacity[link] = float(data["capacity_bps"])
                latency[link] = float(data["latency_s"])
        self.network = FlowNetwork(env, capacity, latency)
        self._paths = dict(paths or {})
        self._routes: dict[tuple[str, str], tuple[Link, ...]] = {}

    def route(self, src: str, dst: str) -> tuple[Link, ...]:
        """The directed links from ``src`` to ``dst``."""
        key = (src, dst)
        if key not in self._routes:
            given = self._paths.get(key)
            if given is None and (dst, src) in self._paths:
                given = list(reversed(self._paths[(dst, src)]))
            nodes = given or nx.shortest_path(self.graph, src, dst, weight="latency_s")
            self._routes[key] = tuple(zip(nodes, nodes[1:], strict=False))
        return self._routes[key]

    def send(self, src: str, dst: str, bits: float) -> Flow:
        """Start ``bits`` from ``src`` to ``dst``; wait on the flow's ``done``."""
        return self.network.start(self.route(src, dst), bits)

    def transfer(self, src: str, dst: str, bits: float) -> Generator[simpy.Event, object, None]:
        """Process body: returns when the last bit has arrived at ``dst``."""
        yield self.send(src, dst, bits).done
