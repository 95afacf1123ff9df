"""``[topology]`` and ``[backhaul]`` -> the topology graph (placement from the ``TOPOLOGY``
stream, or read from a GraphML/GML file)."""

from __future__ import annotations

import math
from functools import partial

import networkx as nx
import numpy as np
import simpy

from netsim.assembly.errors import field_error
from netsim.backhaul import graphs
from netsim.backhaul.background import BackgroundTraffic
from netsim.backhaul.flows import Flow
from netsim.backhaul.routing import RoutedBackhaul
from netsim.radio.scenes import Hall, machine_grid, shelf_rows
from netsim.rng import Stream, Streams
from netsim.scenario import (
    BackhaulConfig,
    ExplicitTopology,
    FactoryHallTopology,
    FileTopology,
    GridTopology,
    HexTopology,
    ScenarioError,
    SingleCellTopology,
    Topology,
)
from netsim.topologies.builders import (
    factory_hall,
    grid,
    hexagonal,
    single_cell,
    topology_graph,
)
from netsim.topologies.graphml import (
    Placement,
    TopologyFileError,
    read_backhaul,
    read_placement,
)


def read_topology_file(cfg: FileTopology) -> Placement:
    """The placement of a topology file; a missing or broken file is a field error of
    ``topology.path``."""
    try:
        return read_placement(cfg.path, cfg.ap_height_m, cfg.piu_height_m)
    except TopologyFileError as exc:
        raise _file_error(cfg, exc) from None


def _file_error(cfg: FileTopology, exc: TopologyFileError) -> ScenarioError:
    problem = str(exc)
    for shown in (str(cfg.path.resolve()), str(cfg.path)):
        problem = problem.removeprefix(f"'{shown}'")
    return field_error("topology.path", str(cfg.path), problem=problem.lstrip(": "))


def population(cfg: Topology) -> tuple[int, int]:
    """(PIUs, APs) of a topology (a file's are counted by reading it)."""
    if isinstance(cfg, FileTopology):
        placement = read_topology_file(cfg)
        return len(placement.piu_xy), len(placement.ap_xy)
    assert cfg.n_pius is not None and cfg.n_aps is not None
    return cfg.n_pius, cfg.n_aps


def build_topology(cfg: Topology, backhaul: BackhaulConfig, streams: Streams) -> nx.Graph:
    """The topology graph of a scenario (placement drawn from the ``TOPOLOGY`` stream)."""
    if isinstance(cfg, FileTopology):
        placement = read_topology_file(cfg)
        return topology_graph(
            cfg.kind,
            placement.ap_xy,
            placement.ap_height_m,
            placement.piu_xy,
            placement.piu_height_m,
            backhaul.capacity_bps,
            backhaul.latency_s,
            placement.piu_class,
        )
    aps, pius, azimuth = _placement(cfg, streams.numpy(Stream.TOPOLOGY))
    return topology_graph(
        cfg.kind,
        aps,
        np.full(len(aps), cfg.ap_height_m),
        pius,
        np.full(len(pius), cfg.piu_height_m),
        backhaul.capacity_bps,
        backhaul.latency_s,
        ap_azimuth_deg=azimuth,
    )


def hall_of(topology: Topology) -> Hall | None:
    """The building of a factory hall with ``topology.building`` (walls, floor, roof,
    machines and shelves as boxes, ``netsim/radio/scenes.py``), or None."""
    if not isinstance(topology, FactoryHallTopology) or topology.building is None:
        return None
    b, length, width = topology.building, topology.length_m, topology.width_m
    m, s = b.machines, b.shelves
    machines = () if m is None else machine_grid(length, width, m.rows, m.cols, m.size_m,
                                                 m.material)  # fmt: skip
    shelves = () if s is None else shelf_rows(length, s.y_m, s.depth_m, s.height_m,
                                              s.margin_m, s.material)  # fmt: skip
    return Hall(length, width, b.height_m, b.wall_material, b.floor_material, b.roof_material,
                machines=machines, shelves=shelves)  # fmt: skip


def _placement(
    cfg: Topology, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """AP positions (A, 2), PIU positions (K, 2) in m and sector azimuths (A,) in degrees
    (None: omnidirectional APs) of a builder topology."""
    if isinstance(cfg, SingleCellTopology):
        return (*single_cell(cfg.num_pius, cfg.radius_m, cfg.min_distance_m, rng), None)
    if isinstance(cfg, GridTopology):
        aps, pius = grid(cfg.num_pius, cfg.side_m, cfg.aps_per_side, cfg.ap_perturbation_m, rng)
        return aps, pius, None
    if isinstance(cfg, FactoryHallTopology):
        hall = hall_of(cfg)
        try:
            aps, pius = factory_hall(
                cfg.num_pius,
                cfg.length_m,
                cfg.width_m,
                cfg.aps_along_length,
                cfg.aps_along_width,
                cfg.machine_spacing_m,
                rng,
                None if hall is None else hall.free,
            )
        except ValueError as exc:
            raise field_error("topology.num_pius", cfg.num_pius, problem=str(exc)) from None
        return aps, pius, None
    if isinstance(cfg, HexTopology):
        aps, azimuth, pius = hexagonal(
            cfg.num_pius, cfg.sites, cfg.sectors, cfg.isd_m, cfg.min_distance_m, rng
        )
        return aps, pius, azimuth
    assert isinstance(cfg, ExplicitTopology)
    aps = np.asarray(cfg.ap_positions_m, dtype=float)
    return aps, np.asarray(cfg.piu_positions_m, dtype=float), None


def backhaul_graph(
    cfg: BackhaulConfig, n_aps: int, streams: Streams, topology: Topology
) -> nx.Graph | None:
    """The routed backhaul of ``[backhaul]`` (None: the star of private AP links); with
    ``kind = "file"`` the topology file's edges."""
    if cfg.kind == "file":
        assert isinstance(topology, FileTopology)  # the schema's cross-check
        try:
            return read_backhaul(topology.path)
        except TopologyFileError as exc:
            raise _file_error(topology, exc) from None
    uplink = cfg.uplink_capacity_bps or cfg.capacity_bps
    if cfg.kind == "tree":
        return graphs.tree(
            n_aps, cfg.aps_per_switch, cfg.capacity_bps, cfg.latency_s, uplink, cfg.edge_servers
        )
    if cfg.kind == "ring":
        return graphs.ring(n_aps, cfg.capacity_bps, cfg.latency_s, uplink)
    if cfg.kind == "mesh":
        rng = streams.numpy(Stream.BACKHAUL)
        return graphs.mesh(n_aps, cfg.mesh_neighbours, cfg.capacity_bps, cfg.latency_s, uplink, rng)
    return None


def check_background(cfg: BackhaulConfig, graph: nx.Graph) -> None:
    """Every ``[[backhaul.background]]`` flow's ends are nodes (or its link an edge) of the
    routed backhaul ``graph``, every outage's and failure's link an edge and every given
    path a walk along edges; a :class:`ScenarioError` naming the field otherwise."""
    for i, o in enumerate(cfg.outages):
        if not graph.has_edge(o.link[0], o.link[1]):
            raise field_error(f"backhaul.outages[{i}].link", o.link, problem=_no_link(graph))
    for i, path in enumerate(cfg.paths):
        missing = [[u, v] for u, v in zip(path, path[1:]) if not graph.has_edge(u, v)]
        if len(path) < 2 or missing:
            problem = f"{missing[0]} is not a backhaul link" if missing else "at least 2 nodes"
            raise field_error(f"backhaul.paths[{i}]", path, problem=problem)
    for i, link in enumerate(cfg.failures.links or [] if cfg.failures else []):
        if len(link) != 2 or not graph.has_edge(link[0], link[1]):
            raise field_error(f"backhaul.failures.links[{i}]", link, problem=_no_link(graph))
    for i, b in enumerate(cfg.background):
        field = f"backhaul.background[{i}]"
        if b.link is not None and not graph.has_edge(b.link[0], b.link[1]):
            raise field_error(f"{field}.link", list(b.link), problem=_no_link(graph))
        for name, node in (("src", b.src), ("dst", b.dst)):
            if node is not None and node not in graph:
                raise field_error(f"{field}.{name}", node, problem=_no_node(graph))


def background(
    cfg: BackhaulConfig, backhaul: RoutedBackhaul, env: simpy.Environment, streams: Streams
) -> list[BackgroundTraffic]:
    """The ``[[backhaul.background]]`` flows on ``backhaul`` (not started yet)."""
    check_background(cfg, backhaul.graph)
    flows = []
    for i, b in enumerate(cfg.background):
        begin = partial(_begin, backhaul, b.src, b.dst, b.link, b.rate_bps / b.flows)
        for j in range(b.flows):  # each connection of an aggregate on and off on its own
            rng = streams.numpy(Stream.BACKHAUL, 1, i, j)
            flows.append(BackgroundTraffic(env, begin, backhaul.stop, b.on_s, b.off_s, rng))
    return flows


def _begin(
    backhaul: RoutedBackhaul, src: str | None, dst: str | None, link: list[str] | None, rate: float
) -> Flow:
    """One on period of background traffic: on its link (paused while it is down) or
    routed between its ends (rerouted around a failure)."""
    if link is not None:
        return backhaul.pin(((link[0], link[1]),), math.inf, rate)
    assert src is not None and dst is not None
    return backhaul.send(src, dst, math.inf, rate)


def _no_node(graph: nx.Graph) -> str:
    return f"no such backhaul node; nodes: {', '.join(sorted(map(str, graph.nodes)))}"


def _no_link(graph: nx.Graph) -> str:
    links = ", ".join(f"[{u}, {v}]" for u, v in sorted(graph.edges()))
    return f"no such backhaul link; links: {links}"
