"""Placement builders and the topology graph (plain values in, arrays or a graph out).

The scenario's ``[topology]`` table is turned into calls of these by the build layer
(:mod:`netsim.build.topology`); nothing here knows the scenario schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np


def single_cell(
    num_pius: int, radius_m: float, min_distance_m: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One AP at the origin and PIUs uniform in the annulus ``min_distance_m <= r <=
    radius_m``: ((1, 2), (K, 2)) positions in m."""
    # Uniform in the annulus: r = sqrt(U (R^2 - r0^2) + r0^2), angle uniform.
    u = rng.uniform(size=num_pius)
    radius = np.sqrt(u * (radius_m**2 - min_distance_m**2) + min_distance_m**2)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=num_pius)
    return np.zeros((1, 2)), np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def grid(
    num_pius: int,
    side_m: float,
    aps_per_side: int,
    ap_perturbation_m: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """APs at the centres of an n x n grid over a square of ``side_m``, each moved uniformly
    by up to ``ap_perturbation_m`` (wrapping round the square), PIUs uniform in it."""
    aps = grid_centres(side_m, side_m, aps_per_side, aps_per_side)
    pius = rng.uniform(0.0, side_m, size=(num_pius, 2))
    if ap_perturbation_m > 0:  # drawn after the PIUs: their places do not change
        shift = rng.uniform(-ap_perturbation_m, ap_perturbation_m, aps.shape)
        aps = np.mod(aps + shift, side_m)
    return aps, pius


def factory_hall(
    num_pius: int,
    length_m: float,
    width_m: float,
    aps_along_length: int,
    aps_along_width: int,
    machine_spacing_m: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """APs on a regular grid over the hall, PIUs on distinct machine spots (a grid of
    ``machine_spacing_m``) drawn without replacement."""
    aps = grid_centres(length_m, width_m, aps_along_length, aps_along_width)
    nx_spots = int(length_m // machine_spacing_m)
    ny_spots = int(width_m // machine_spacing_m)
    spots = grid_centres(length_m, width_m, nx_spots, ny_spots)
    return aps, spots[np.sort(rng.choice(len(spots), size=num_pius, replace=False))]


def topology_graph(
    kind: str,
    ap_xy: np.ndarray,
    ap_height_m: np.ndarray,
    piu_xy: np.ndarray,
    piu_height_m: np.ndarray,
    backhaul_capacity_bps: float,
    backhaul_latency_s: float,
    piu_class: Sequence[str | None] = (),
) -> nx.Graph:
    """The topology graph: a server, APs and PIUs with positions (m) and heights (m), a
    backhaul edge per AP, and each PIU's ``device_class`` where given."""
    graph = nx.Graph(kind=kind)
    graph.add_node("server", role="server", index=0)
    for a, (x, y) in enumerate(ap_xy):
        graph.add_node(
            f"ap{a}",
            role="ap",
            index=a,
            position_m=(float(x), float(y)),
            height_m=float(ap_height_m[a]),
        )
        graph.add_edge(
            "server", f"ap{a}", capacity_bps=backhaul_capacity_bps, latency_s=backhaul_latency_s
        )
    for k, (x, y) in enumerate(piu_xy):
        graph.add_node(
            f"piu{k}",
            role="piu",
            index=k,
            position_m=(float(x), float(y)),
            height_m=float(piu_height_m[k]),
        )
        if piu_class and piu_class[k] is not None:
            graph.nodes[f"piu{k}"]["device_class"] = piu_class[k]
    return graph


def grid_centres(length_m: float, width_m: float, nx_: int, ny_: int) -> np.ndarray:
    """(nx * ny, 2) centres of a regular nx x ny grid of cells over a length x width area."""
    xs = (np.arange(nx_) + 0.5) * length_m / nx_
    ys = (np.arange(ny_) + 0.5) * width_m / ny_
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    return np.column_stack([gx.ravel(), gy.ravel()])


def positions(graph: nx.Graph, role: str) -> tuple[np.ndarray, np.ndarray]:
    """((n, 2) positions in m, (n,) heights in m) of the nodes of ``role``, by index."""
    nodes = sorted(
        (data["index"], data) for _, data in graph.nodes(data=True) if data["role"] == role
    )
    xy = np.array([d["position_m"] for _, d in nodes], dtype=float).reshape(-1, 2)
    h = np.array([d["height_m"] for _, d in nodes], dtype=float)
    return xy, h
