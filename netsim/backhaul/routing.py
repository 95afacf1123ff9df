"""A backhaul graph as a routed network: which links a transfer crosses, and the transfer.

The graph (networkx) has nodes for APs (``ap0``, ...), switches, edge servers and the
``server`` (the cloud); each edge is a full-duplex link with ``capacity_bps`` and
``latency_s``, i.e. one :class:`~netsim.backhaul.flows.FlowNetwork` link per direction.
Routes are shortest paths on latency (networkx), or the ``paths`` given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence

import networkx as nx
import numpy as np
import simpy

from netsim.backhaul.flows import Flow, FlowNetwork, Link
from netsim.backhaul.hop import WiredHop


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
        paths: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> None:
        self.env = env
        self.graph = graph
        capacity: dict[Link, float] = {}
        latency: dict[Link, float] = {}
        for u, v, data in graph.edges(data=True):
            hop = WiredHop.of_edge(data)
            for link in ((u, v), (v, u)):
                capacity[link] = hop.capacity_bps
                latency[link] = hop.latency_s
        self.network = FlowNetwork(env, capacity, latency)
        self._paths = dict(paths or {})
        self._routes: dict[tuple[str, str], tuple[Link, ...]] = {}
        self.up = nx.Graph(graph)  # the links in service (routes are found on it)
        self._ends: dict[Flow, tuple[str, str]] = {}  # the transfers under way
        self._pinned: dict[Flow, tuple[Link, ...]] = {}  # flows held to their links
        self.parked: list[Flow] = []  # transfers with no path, waiting for a link
        self._failures: dict[frozenset[str], int] = {}  # outages in force per link

    def route(self, src: str, dst: str) -> tuple[Link, ...]:
        """The directed links from ``src`` to ``dst``."""
        key = (src, dst)
        if key not in self._routes:
            given = self._paths.get(key)
            if given is None and (dst, src) in self._paths:
                given = list(reversed(self._paths[(dst, src)]))
            links = None if given is None else list(zip(given, given[1:], strict=False))
            if links is None or any(not self.up.has_edge(u, v) for u, v in links):
                nodes = nx.shortest_path(self.up, src, dst, weight="latency_s")
                links = list(zip(nodes, nodes[1:], strict=False))
            self._routes[key] = tuple(links)
        return self._routes[key]

    def _route_or_none(self, src: str, dst: str) -> tuple[Link, ...] | None:
        try:
            return self.route(src, dst)
        except nx.NetworkXNoPath:
            return None

    def send(self, src: str, dst: str, bits: float, demand_bps: float = math.inf) -> Flow:
        """Start ``bits`` from ``src`` to ``dst`` (at most ``demand_bps``); wait on the
        flow's ``done``. With no path now, it waits until a link comes back."""
        route = self._route_or_none(src, dst)
        flow = self.network.start(route, bits, demand_bps)
        if route is None:
            self.parked.append(flow)
        self._ends[flow] = (src, dst)

        def arrived(_: simpy.Event) -> None:
            del self._ends[flow]

        flow.done.callbacks.append(arrived)
        return flow

    def pin(self, route: Sequence[Link], bits: float, demand_bps: float = math.inf) -> Flow:
        """A flow held to ``route`` (traffic on given links): it pauses while one of them is
        down."""
        flow = self.network.start(route, bits, demand_bps)
        self._pinned[flow] = tuple(route)
        return flow

    def stop(self, flow: Flow) -> None:
        """Withdraw ``flow`` (background traffic going quiet)."""
        self._ends.pop(flow, None)
        self._pinned.pop(flow, None)
        if flow in self.parked:
            self.parked.remove(flow)
        self.network.stop(flow)

    def _in_service(self, route: Sequence[Link]) -> bool:
        return all(self.up.has_edge(*link) for link in route)  # type: ignore[misc]

    def fail(self, u: str, v: str) -> bool:
        """Link ``u - v`` goes down (both directions): routes are recomputed without it and
        the transfers crossing it move their remaining bits to their new route (or wait).
        Outages may overlap (a scheduled one during a random one): the link is down until
        each has ended. True if it was up."""
        key = frozenset((u, v))
        self._failures[key] = self._failures.get(key, 0) + 1
        if self._failures[key] > 1:
            return False
        self.up.remove_edge(u, v)
        self._routes.clear()
        down = {(u, v), (v, u)}
        for flow, (src, dst) in list(self._ends.items()):
            if flow.ended or flow in self.parked or not down & set(flow.route):
                continue  # sent (its last bit propagating), waiting, or elsewhere
            route = self._route_or_none(src, dst)
            self.network.reroute(flow, route)
            if route is None:
                self.parked.append(flow)
        for flow, links in self._pinned.items():
            if flow not in self.parked and down & set(links):
                self.network.reroute(flow, None)
                self.parked.append(flow)
        return True

    def restore(self, u: str, v: str) -> bool:
        """One outage of link ``u - v`` ended; when none is left it is back: new routes
        from now on, waiting transfers resume. True if it came back."""
        key = frozenset((u, v))
        self._failures[key] -= 1
        if self._failures[key] > 0:
            return False
        self.up.add_edge(u, v, **self.graph.edges[u, v])
        self._routes.clear()
        for flow in list(self.parked):
            if flow in self._pinned:
                route = self._pinned[flow] if self._in_service(self._pinned[flow]) else None
            else:
                route = self._route_or_none(*self._ends[flow])
            if route is not None:
                self.parked.remove(flow)
                self.network.reroute(flow, route)
        return True

    def transfer(self, src: str, dst: str, bits: float) -> Generator[simpy.Event, object, None]:
        """Process body: returns when the last bit has arrived at ``dst``."""
        yield self.send(src, dst, bits).done

    def outage(
        self, u: str, v: str, start_s: float, duration_s: float, note: Callable[[str], None]
    ) -> None:
        """Schedule link ``u - v`` down from ``start_s`` for ``duration_s``; ``note(event)``
        is told ``"link_down"`` and ``"link_up"`` as they happen."""

        def run() -> Generator[simpy.Event, object, None]:
            yield self.env.timeout(start_s)
            yield from self._down_for(u, v, duration_s, note)

        self.env.process(run())

    def random_outages(
        self,
        u: str,
        v: str,
        mtbf_s: float,
        mttr_s: float,
        rng: np.random.Generator,
        note: Callable[[str], None],
    ) -> None:
        """Link ``u - v`` fails after exponentially distributed times in service of mean
        ``mtbf_s`` and is repaired after exponentially distributed times of mean ``mttr_s``
        (drawn from ``rng``), from now on; ``note`` as for :meth:`outage`."""

        def run() -> Generator[simpy.Event, object, None]:
            while True:
                yield self.env.timeout(float(rng.exponential(mtbf_s)))
                yield from self._down_for(u, v, float(rng.exponential(mttr_s)), note)

        self.env.process(run())

    def _down_for(
        self, u: str, v: str, duration_s: float, note: Callable[[str], None]
    ) -> Generator[simpy.Event, object, None]:
        """Link ``u - v`` down now for ``duration_s``, noting when it goes and comes back."""
        if self.fail(u, v):
            note("link_down")
        yield self.env.timeout(duration_s)
        if self.restore(u, v):
            note("link_up")
