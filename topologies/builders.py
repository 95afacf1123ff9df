"""Placement builders and the topology graph (plain values in, arrays or a graph out).

The scenario's ``[topology]`` table is turned into calls of these by the build layer
(:mod:`netsim.assembly.topology`); nothing here knows the scenario schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    free: Callable[[float, float], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """APs on a regular grid over the hall, PIUs on distinct machine spots (a grid of
    ``machine_spacing_m``) drawn without replacement; with ``free``, only the spots on free
    floor (``free(x, y)``: not inside a machine or shelf of the building)."""
    aps = grid_centres(length_m, width_m, aps_along_length, aps_along_width)
    nx_spots = int(length_m // machine_spacing_m)
    ny_spots = int(width_m // machine_spacing_m)
    spots = grid_centres(length_m, width_m, nx_spots, ny_spots)
    if free is not None:
        spots = spots[[free(float(x), float(y)) for x, y in spots]]
        if len(spots) < num_pius:
            raise ValueError(f"{num_pius} PIUs need as many free machine spots; the building "
                             f"leaves {len(spots)}")  # fmt: skip
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
    ap_azimuth_deg: np.ndarray | None = None,
) -> nx.Graph:
    """The topology graph: a server, APs and PIUs with positions (m) and heights (m), a
    backhaul edge per AP, each PIU's ``device_class`` where given and each sector AP's
    boresight ``azimuth_deg`` (degrees; omnidirectional APs have none)."""
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
        if ap_azimuth_deg is not None and not np.isnan(ap_azimuth_deg[a]):
            graph.nodes[f"ap{a}"]["azimuth_deg"] = float(ap_azimuth_deg[a])
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


def azimuths(graph: nx.Graph) -> np.ndarray:
    """(A,) boresight azimuth (degrees) of each AP, by index; NaN for omnidirectional."""
    aps = sorted((d["index"], d) for _, d in graph.nodes(data=True) if d["role"] == "ap")
    return np.array([d.get("azimuth_deg", np.nan) for _, d in aps], dtype=float)


def positions(graph: nx.Graph, role: str) -> tuple[np.ndarray, np.ndarray]:
    """((n, 2) positions in m, (n,) heights in m) of the nodes of ``role``, by index."""
    nodes = sorted(
        (data["index"], data) for _, data in graph.nodes(data=True) if data["role"] == role
    )
    xy = np.array([d["position_m"] for _, d in nodes], dtype=float).reshape(-1, 2)
    h = np.array([d["height_m"] for _, d in nodes], dtype=float)
    return xy, h


# 3GPP TR 38.901 Table 7.3-1: sector antenna pattern (horizontal cut)
SECTOR_AZIMUTHS_DEG = (30.0, 150.0, 270.0)


def hex_rings(sites: int) -> int:
    """Rings around the centre site of a layout of ``sites`` sites (7: 1, 19: 2)."""
    return {7: 1, 19: 2}[sites]


def hex_sites(rings: int) -> np.ndarray:
    """Axial coordinates (q, r) of the sites of a hexagonal layout with ``rings`` rings
    around a centre site: 1 + 3 rings (rings + 1) sites (7 for one ring, 19 for two),
    centre first, then ring by ring."""
    sites = [
        (q, r)
        for q in range(-rings, rings + 1)
        for r in range(-rings, rings + 1)
        if abs(q + r) <= rings
    ]
    sites.sort(key=lambda s: (max(abs(s[0]), abs(s[1]), abs(s[0] + s[1])), s[1], s[0]))
    return np.array(sites, dtype=float)


def axial_to_xy(axial: np.ndarray, isd_m: float) -> np.ndarray:
    """Positions (n, 2) in m of axial hex coordinates (n, 2) with inter-site distance
    ``isd_m`` (pointy-top: neighbours at 0, 60, ..., 300 degrees)."""
    q, r = axial[:, 0], axial[:, 1]
    return np.column_stack([isd_m * (q + r / 2.0), isd_m * r * np.sqrt(3.0) / 2.0])


def hex_wrap_offsets(rings: int, isd_m: float) -> np.ndarray:
    """(7, 2) shifts in m of the layout and its six wrap-around images (3GPP TR 36.814
    wrap-around): the cluster of 1 + 3 R (R + 1) sites tiles the plane with the images'
    centres at the six 60-degree rotations of axial (R + 1, R)."""
    q, r = rings + 1, rings
    images = [(0, 0)]
    for _ in range(6):
        images.append((q, r))
        q, r = -r, q + r  # 60 degrees
    return axial_to_xy(np.array(images, dtype=float), isd_m)


def hexagonal(
    num_pius: int,
    sites: int,
    sectors: int,
    isd_m: float,
    min_distance_m: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hexagonal multi-cell layout: ``sites`` (7 or 19) sites ``isd_m`` apart, each with
    ``sectors`` APs (1: omnidirectional; 3: sectors facing 30, 150 and 270 degrees), and
    PIUs uniform over the sites' hexagons at least ``min_distance_m`` from their site.

    Returns AP positions (sites x sectors, 2) m, AP azimuths (same length; NaN: omni) in
    degrees, and PIU positions (K, 2) m. Each PIU picks a site uniformly, then a point
    uniformly in its hexagon (rejection sampling)."""
    rings = hex_rings(sites)
    centres = axial_to_xy(hex_sites(rings), isd_m)
    aps = np.repeat(centres, sectors, axis=0)
    azimuth = np.tile(SECTOR_AZIMUTHS_DEG if sectors == 3 else (np.nan,), sites)
    radius = isd_m / np.sqrt(3.0)  # circumradius of a cell
    pius = np.empty((num_pius, 2))
    for k in range(num_pius):
        site = int(rng.integers(sites))
        while True:
            x, y = rng.uniform(-radius, radius, size=2)
            if _in_hexagon(x, y, isd_m) and np.hypot(x, y) >= min_distance_m:
                break
        pius[k] = centres[site] + (x, y)
    return aps, azimuth, pius


def _in_hexagon(x: float, y: float, isd_m: float) -> bool:
    """Whether (x, y) lies in the pointy-top hexagon of a site at the origin (flat sides at
    distance isd / 2 in the neighbours' directions)."""
    half = isd_m / 2.0
    for angle in (0.0, np.pi / 3.0, 2.0 * np.pi / 3.0):
        if abs(x * np.cos(angle) + y * np.sin(angle)) > half:
            return False
    return True
