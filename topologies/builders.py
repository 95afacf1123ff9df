"""Builders that place the server, APs and PIUs of a scenario."""

from __future__ import annotations

import networkx as nx
import numpy as np

from netsim.rng import Stream, Streams
from netsim.scenario import (
    BackhaulConfig,
    ExplicitTopology,
    FactoryHallTopology,
    FileTopology,
    GridTopology,
    SingleCellTopology,
)


def build_topology(
    cfg: SingleCellTopology | GridTopology | FactoryHallTopology | ExplicitTopology | FileTopology,
    backhaul: BackhaulConfig,
    streams: Streams,
) -> nx.Graph:
    """The topology graph of a scenario (placement drawn from the ``TOPOLOGY`` stream)."""
    rng = streams.numpy(Stream.TOPOLOGY)
    ap_heights: np.ndarray | None = None
    piu_heights: np.ndarray | None = None
    piu_classes: tuple[str | None, ...] = ()
    if isinstance(cfg, SingleCellTopology):
        aps = np.zeros((1, 2))
        # Uniform in the annulus: r = sqrt(U (R^2 - r0^2) + r0^2), angle uniform.
        u = rng.uniform(size=cfg.num_pius)
        radius = np.sqrt(u * (cfg.radius_m**2 - cfg.min_distance_m**2) + cfg.min_distance_m**2)
        angle = rng.uniform(0.0, 2.0 * np.pi, size=cfg.num_pius)
        pius = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    elif isinstance(cfg, GridTopology):
        n = cfg.aps_per_side
        aps = _grid_centres(cfg.side_m, cfg.side_m, n, n)
        pius = rng.uniform(0.0, cfg.side_m, size=(cfg.num_pius, 2))
        if cfg.ap_perturbation_m > 0:  # drawn after the PIUs: their places do not change
            shift = rng.uniform(-cfg.ap_perturbation_m, cfg.ap_perturbation_m, aps.shape)
            aps = np.mod(aps + shift, cfg.side_m)
    elif isinstance(cfg, FactoryHallTopology):
        aps = _grid_centres(cfg.length_m, cfg.width_m, cfg.aps_along_length, cfg.aps_along_width)
        nx_spots = int(cfg.length_m // cfg.machine_spacing_m)
        ny_spots = int(cfg.width_m // cfg.machine_spacing_m)
        spots = _grid_centres(cfg.length_m, cfg.width_m, nx_spots, ny_spots)
        pius = spots[np.sort(rng.choice(len(spots), size=cfg.num_pius, replace=False))]
    elif isinstance(cfg, ExplicitTopology):
        aps = np.asarray(cfg.ap_positions_m, dtype=float)
        pius = np.asarray(cfg.piu_positions_m, dtype=float)
    else:
        placement = cfg.placement()
        aps, pius = placement.ap_xy, placement.piu_xy
        ap_heights, piu_heights = placement.ap_height_m, placement.piu_height_m
        piu_classes = placement.piu_class

    graph = nx.Graph(kind=cfg.kind)
    graph.add_node("server", role="server", index=0)
    for a, (x, y) in enumerate(aps):
        graph.add_node(
            f"ap{a}",
            role="ap",
            index=a,
            position_m=(float(x), float(y)),
            height_m=cfg.ap_height_m if ap_heights is None else float(ap_heights[a]),
        )
        graph.add_edge(
            "server", f"ap{a}", capacity_bps=backhaul.capacity_bps, latency_s=backhaul.latency_s
        )
    for k, (x, y) in enumerate(pius):
        graph.add_node(
            f"piu{k}",
            role="piu",
            index=k,
            position_m=(float(x), float(y)),
            height_m=cfg.piu_height_m if piu_heights is None else float(piu_heights[k]),
        )
        if piu_classes and piu_classes[k] is not None:
            graph.nodes[f"piu{k}"]["device_class"] = piu_classes[k]
    return graph


def _grid_centres(length_m: float, width_m: float, nx_: int, ny_: int) -> np.ndarray:
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
