"""Hierarchical FL: which edge server aggregates each AP's PIUs."""

from __future__ import annotations

import re

import networkx as nx

from netsim.assembly.errors import field_error
from netsim.scenario import HierarchyConfig, ScenarioError


def edge_plan(cfg: HierarchyConfig, graph: nx.Graph, n_aps: int) -> list[tuple[str, list[int]]]:
    """The edge servers that serve APs, in natural name order (edge2 before edge10), each
    with its APs (index order).

    An AP goes to the edge server ``cfg.assign`` names for it, else to the nearest by
    route latency (the routing metric; ties to the first name). Raises
    :class:`ScenarioError` naming the field: no edge servers in ``graph``, an ``assign``
    entry that names no AP or no edge server, an AP with no route to any edge server.
    """
    edges = sorted((str(v) for v, role in graph.nodes(data="role") if role == "edge"), key=_natural)
    if not edges:
        raise ScenarioError(
            "invalid scenario:\n  [hierarchy] needs edge servers in the backhaul: nodes of "
            "role 'edge' in the topology file, or backhaul.kind = 'tree' with "
            "backhaul.edge_servers = true"
        )
    aps = [f"ap{a}" for a in range(n_aps)]
    for ap, edge in cfg.assign.items():
        if ap not in aps:
            raise field_error(
                f"hierarchy.assign.{ap}", edge, problem=f"no such AP; APs: ap0 .. ap{n_aps - 1}"
            )
        if edge not in edges:
            raise field_error(
                f"hierarchy.assign.{ap}", edge, problem=f"no such edge server; edge servers: "
                f"{', '.join(edges)}",
            )  # fmt: skip
    served: dict[str, list[int]] = {e: [] for e in edges}
    for a, ap in enumerate(aps):
        given = cfg.assign.get(ap)
        if given is not None:
            edge = given
        else:
            distance = nx.single_source_dijkstra_path_length(graph, ap, weight="latency_s")
            reachable = [e for e in edges if e in distance]
            if not reachable:
                raise ScenarioError(
                    f"invalid scenario: [hierarchy]: {ap} has no route to any edge server "
                    f"({', '.join(edges)}); connect it or name its edge in hierarchy.assign"
                )
            edge = min(reachable, key=lambda e: distance[e])  # name order breaks ties
        served[edge].append(a)
    return [(e, served[e]) for e in edges if served[e]]


def _natural(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
