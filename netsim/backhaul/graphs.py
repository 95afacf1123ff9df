"""Backhaul graphs: who is wired to whom, with each link's capacity (bit/s) and latency (s).

Nodes: ``ap0`` .. ``ap{A-1}``, switches (``sw0``, ...), the ``core`` switch and the
``server``. The server always hangs off the core by one shared uplink, so FL traffic of all
APs (and any background traffic) contends there.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


def _graph(uplink_bps: float, latency_s: float) -> nx.Graph:
    g = nx.Graph()
    g.add_node("server", role="server")
    g.add_node("core", role="switch")
    g.add_edge("core", "server", capacity_bps=uplink_bps, latency_s=latency_s)
    return g


def _aps(g: nx.Graph, n_aps: int) -> list[str]:
    names = [f"ap{a}" for a in range(n_aps)]
    g.add_nodes_from(names, role="ap")
    return names


def tree(
    n_aps: int,
    aps_per_switch: int,
    capacity_bps: float,
    latency_s: float,
    uplink_bps: float,
    edge_servers: bool = False,
) -> nx.Graph:
    """APs -> aggregation switches (``aps_per_switch`` APs each, in index order) -> core ->
    server; with ``edge_servers`` the aggregation switches are edge servers (``edge0``, ...,
    role "edge")."""
    g = _graph(uplink_bps, latency_s)
    prefix, role = ("edge", "edge") if edge_servers else ("sw", "switch")
    for a, ap in enumerate(_aps(g, n_aps)):
        switch = f"{prefix}{a // aps_per_switch}"
        if switch not in g:
            g.add_node(switch, role=role)
            g.add_edge(switch, "core", capacity_bps=capacity_bps, latency_s=latency_s)
        g.add_edge(ap, switch, capacity_bps=capacity_bps, latency_s=latency_s)
    return g


def ring(n_aps: int, capacity_bps: float, latency_s: float, uplink_bps: float) -> nx.Graph:
    """The APs in a ring (``ap{a}`` - ``ap{a+1}``), the core attached at ``ap0`` and
    ``ap{A/2}`` (two ways round, so one failed link leaves a path)."""
    g = _graph(uplink_bps, latency_s)
    aps = _aps(g, n_aps)
    if n_aps > 1:
        for a in range(n_aps if n_aps > 2 else 1):
            g.add_edge(aps[a], aps[(a + 1) % n_aps], capacity_bps=capacity_bps, latency_s=latency_s)
    _attach(g, aps, capacity_bps, latency_s)
    return g


def mesh(
    n_aps: int,
    neighbours: int,
    capacity_bps: float,
    latency_s: float,
    uplink_bps: float,
    rng: np.random.Generator,
) -> nx.Graph:
    """A connected small world over the APs (Watts-Strogatz: each AP linked to its
    ``neighbours`` nearest on a ring, each link rewired with probability 0.2), the core
    attached at ``ap0`` and ``ap{A/2}``."""
    g = _graph(uplink_bps, latency_s)
    aps = _aps(g, n_aps)
    if n_aps > 2:
        k = min(neighbours, n_aps - 1)
        seed = int(rng.integers(2**31))
        world = nx.connected_watts_strogatz_graph(n_aps, k, 0.2, tries=1000, seed=seed)
        for u, v in sorted(world.edges()):
            g.add_edge(aps[u], aps[v], capacity_bps=capacity_bps, latency_s=latency_s)
    elif n_aps == 2:
        g.add_edge(aps[0], aps[1], capacity_bps=capacity_bps, latency_s=latency_s)
    _attach(g, aps, capacity_bps, latency_s)
    return g


def _attach(g: nx.Graph, aps: list[str], capacity_bps: float, latency_s: float) -> None:
    for ap in dict.fromkeys((aps[0], aps[len(aps) // 2])):
        g.add_edge(ap, "core", capacity_bps=capacity_bps, latency_s=latency_s)
