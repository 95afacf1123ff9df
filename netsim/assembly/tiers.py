"""Tiers and backhaul: who aggregates each AP's PIUs (the server, or an edge server of
hierarchical FL), each AP's backhaul link to it, and the routed backhaul's outages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import simpy

from netsim.assembly.hierarchy import edge_plan
from netsim.backhaul.hop import WiredHop
from netsim.backhaul.routing import RoutedBackhaul
from netsim.log import Event, EventLog
from netsim.nodes.link import Backhaul, RoutedLink, WiredLink
from netsim.rng import Stream, Streams
from netsim.scenario import Scenario


@dataclass(frozen=True)
class Tiers:
    """Who aggregates each AP's PIUs: the server's inbox; per AP (A,) the aggregator's
    backhaul node name and inbox (the server's in flat FL); in hierarchical FL each edge
    server's name, APs and inbox."""

    server: simpy.Store
    names: list[str]
    inboxes: list[simpy.Store]
    edges: list[tuple[str, list[int], simpy.Store]]

    @classmethod
    def build(
        cls,
        s: Scenario,
        env: simpy.Environment,
        graph: nx.Graph | None,
        n_aps: int,
        server_inbox: simpy.Store,
    ) -> Tiers:
        """The tiers of ``[hierarchy]`` over ``graph`` (flat FL without one)."""
        names, inboxes = ["server"] * n_aps, [server_inbox] * n_aps
        if s.hierarchy is None or graph is None:
            return cls(server_inbox, names, inboxes, [])
        edges = []
        for name, served in edge_plan(s.hierarchy, graph, n_aps):
            inbox = simpy.Store(env)
            edges.append((name, served, inbox))
            for a in served:
                names[a], inboxes[a] = name, inbox
        return cls(server_inbox, names, inboxes, edges)


def outages(
    s: Scenario, routed: RoutedBackhaul, env: simpy.Environment, log: EventLog, streams: Streams
) -> None:
    """Schedule ``[backhaul]``'s scheduled outages and random failures (each link's from
    its own keyed stream)."""
    for o in s.backhaul.outages:
        u, v = o.link
        routed.outage(u, v, o.start_s, o.duration_s, _link_note(env, log, u, v))
    f = s.backhaul.failures
    if f is None:
        return
    every = sorted(tuple(sorted((str(u), str(v)))) for u, v in routed.graph.edges)
    for i, (u, v) in enumerate(f.links or every):
        rng = streams.numpy(Stream.BACKHAUL, 2, i)
        routed.random_outages(u, v, f.mtbf_s, f.mttr_s, rng, _link_note(env, log, u, v))


def _link_note(env: simpy.Environment, log: EventLog, u: str, v: str) -> Callable[[str], None]:
    """Log a backhaul link's ``link_down`` / ``link_up`` (node ``u-v``, role ``backhaul``)."""

    def note(event: str) -> None:
        log.emit(Event(float(env.now), -1, f"{u}-{v}", "backhaul", event))

    return note


def backhaul_link(
    env: simpy.Environment,
    star: WiredHop,
    routed: RoutedBackhaul | None,
    ap: int,
    far: str,
    up: bool,
) -> Backhaul:
    """One direction of AP ``ap``'s backhaul to its aggregator ``far`` (the server, or its
    edge server; ``up``: towards it): its private ``star`` link, or the route through the
    routed backhaul."""
    if routed is not None:
        src, dst = (f"ap{ap}", far) if up else (far, f"ap{ap}")
        return RoutedLink(routed, src, dst)
    return WiredLink(env, star.capacity_bps, star.latency_s, far if up else f"ap{ap}")
