"""AP <-> server backhaul, one direction: a private point-to-point link (the star) or a
route through a shared, routed network."""

from __future__ import annotations

from collections.abc import Generator

import networkx as nx
import simpy

from netsim.backhaul.routing import RoutedBackhaul


class WiredLink:
    """A FIFO link: ``bits / capacity_bps`` of serialisation (one message at a time), then
    ``latency_s`` of propagation (messages pipeline through it).

    Parameters
    ----------
    capacity_bps: line rate in bit/s.
    latency_s: one-way latency in s.
    dst: the node at the far end (an AP's uplink: the server).
    """

    def __init__(
        self, env: simpy.Environment, capacity_bps: float, latency_s: float, dst: str = "server"
    ) -> None:
        self.env = env
        self.capacity_bps = capacity_bps
        self.latency_s = latency_s
        self.dst = dst
        self._line = simpy.Resource(env, capacity=1)

    last_route = None  # a private link has no route to log

    def route(self) -> None:
        """A private link has no route to log."""
        return None

    def transfer(self, bits: float) -> Generator[simpy.Event, None, None]:
        """Process body: returns when the last bit has arrived at the far end."""
        with self._line.request() as slot:
            yield slot
            yield self.env.timeout(bits / self.capacity_bps)
        yield self.env.timeout(self.latency_s)


class RoutedLink:
    """One direction between a node and the server over a routed backhaul
    (:class:`~netsim.backhaul.routing.RoutedBackhaul`): the transfer shares each link of its
    route at max-min fair rates with the other transfers, then propagates."""

    def __init__(self, backhaul: RoutedBackhaul, src: str, dst: str) -> None:
        self.backhaul = backhaul
        self.src, self.dst = src, dst
        self.last_route: str | None = None  # the route the last transfer ended on

    def transfer(self, bits: float) -> Generator[simpy.Event, None, None]:
        """Process body: returns when the last bit has arrived at ``dst``."""
        flow = self.backhaul.send(self.src, self.dst, bits)
        yield flow.done
        self.last_route = _nodes(flow.route)

    def route(self) -> str | None:
        """The nodes a transfer starting now crosses, ``ap0>sw0>core>server`` (None: no
        path now)."""
        try:
            return _nodes(self.backhaul.route(self.src, self.dst))
        except nx.NetworkXNoPath:
            return None


def _nodes(route: tuple) -> str:
    return ">".join([route[0][0], *(v for _, v in route)]) if route else ""


Backhaul = WiredLink | RoutedLink  # what an AP and the server send over
