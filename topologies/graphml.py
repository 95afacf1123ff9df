"""Node placements from a GraphML or GML file a network engineer already has.

Each node needs ``role`` ("ap", "piu", "server", or for the backhaul "switch" / "edge")
and, APs, PIUs and the server, numeric ``x_m`` and ``y_m`` (metres); ``height_m`` is
optional, and so is a PIU's ``device_class`` (the name of one of the scenario's
``[[device.classes]]``). APs and PIUs are numbered in file order (ap0, ap1, ..., piu0, ...).
Edges are the wired backhaul (:func:`read_backhaul`, used with ``[backhaul] kind =
"file"``): between APs, switches, edge servers and the server, each with ``capacity_bps``
and ``latency_s``; otherwise they are ignored and every AP reaches the server over the
scenario's star.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

ROLES = ("ap", "piu", "server", "switch", "edge")
# The ranges of the scenario's own fields (netsim/scenario/base.py), which this module may not
# import: a file's numbers are held to what a scenario's would be.
MAX_COORDINATE_M = 1.0e7
MAX_HEIGHT_M = 1.0e4
MIN_CAPACITY_BPS, MAX_CAPACITY_BPS = 1.0, 1.0e15
MAX_LATENCY_S = 1.0e9
WIRED = ("ap", "server", "switch", "edge")  # the roles the backhaul connects


class TopologyFileError(ValueError):
    """A topology file is missing, unreadable or has a node without a usable role/position."""


@dataclass(frozen=True)
class Placement:
    """Positions (n, 2) and heights (n,) in m of the APs and PIUs, in file order, and each
    PIU's ``device_class`` attribute (None where absent)."""

    ap_xy: np.ndarray
    ap_height_m: np.ndarray
    piu_xy: np.ndarray
    piu_height_m: np.ndarray
    piu_class: tuple[str | None, ...] = ()


def read_placement(path: str | Path, ap_height_m: float, piu_height_m: float) -> Placement:
    """Read and check a GraphML (``.graphml``, ``.xml``) or GML (``.gml``) file.

    ``ap_height_m`` / ``piu_height_m`` apply to nodes without a ``height_m`` attribute.
    """
    path = Path(path)
    if not path.is_file():
        raise TopologyFileError(f"'{path}' does not exist")
    return _read(str(path.resolve()), os.stat(path).st_mtime_ns, ap_height_m, piu_height_m)


@lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int, ap_height_m: float, piu_height_m: float) -> Placement:
    graph = _load(path)
    found: dict[str, list[tuple[float, float, float]]] = {"ap": [], "piu": [], "server": []}
    defaults = {"ap": ap_height_m, "piu": piu_height_m, "server": 0.0}
    classes: list[str | None] = []
    for node, attrs in graph.nodes(data=True):
        role = _role(path, node, attrs)
        if role in ("switch", "edge"):
            continue
        x, y = _number(attrs, "x_m"), _number(attrs, "y_m")
        if x is None or y is None:
            raise TopologyFileError(
                f"'{path}': node {node!r} ({role}) has no position: it needs numeric "
                "attributes x_m and y_m"
            )
        h = _number(attrs, "height_m")
        where = f"'{path}': node {node!r} ({role})"
        if max(abs(x), abs(y)) > MAX_COORDINATE_M:
            raise TopologyFileError(
                f"{where} is at ({x:g}, {y:g}) m: coordinates within +-{MAX_COORDINATE_M:g} m"
            )
        if h is not None and not 0 <= h <= MAX_HEIGHT_M:
            raise TopologyFileError(f"{where} has height_m {h:g}: from 0 to {MAX_HEIGHT_M:g} m")
        found[role].append((x, y, defaults[role] if h is None else h))
        if role == "piu":
            klass = attrs.get("device_class")
            classes.append(None if klass is None else str(klass))
    for role in ("ap", "piu"):
        if not found[role]:
            raise TopologyFileError(f"'{path}' has no node with role '{role}'")
    if len(found["server"]) > 1:  # the backhaul would merge them into one node 'server'
        servers = [str(n) for n, role in graph.nodes(data="role") if role == "server"]
        raise TopologyFileError(
            f"'{path}' has {len(servers)} nodes with role 'server' ({', '.join(servers)}): one "
            "aggregation server; give the others role 'edge' (hierarchical FL) or 'switch'"
        )
    ap, piu = np.array(found["ap"]), np.array(found["piu"])
    return Placement(ap[:, :2], ap[:, 2], piu[:, :2], piu[:, 2], tuple(classes))


def _role(path: str, node: Any, attrs: dict[str, Any]) -> str:
    role = attrs.get("role")
    if role not in ROLES:
        what = "has no 'role' attribute" if role is None else f"has role {role!r}"
        raise TopologyFileError(
            f"'{path}': node {node!r} {what}; expected one of {', '.join(ROLES)}"
        )
    return str(role)


def _load(path: str) -> nx.Graph:
    kind = "GML" if path.endswith(".gml") else "GraphML"
    try:
        if kind == "GML":
            return nx.read_gml(path)  # refuses duplicate ids and labels itself
        _refuse_duplicate_ids(path)  # networkx would silently merge them
        return nx.read_graphml(path)
    except TopologyFileError:
        raise
    except Exception as exc:  # networkx raises many types for malformed files
        raise TopologyFileError(f"'{path}' is not a valid {kind} file: {exc}") from None


def read_backhaul(path: str | Path) -> nx.Graph:
    """The wired backhaul of a topology file: an undirected graph over ``ap0``, ``ap1``, ...
    (file order), ``server`` and the switches and edge servers (their file ids, with
    ``role``), each edge with ``capacity_bps`` (> 0) and ``latency_s`` (>= 0). Refused, with
    the node or edge named: an edge at a PIU, a self-loop, a missing or bad capacity or
    latency, no server, or an AP with no path to the server."""
    path = str(Path(path).resolve())
    graph = _load(path)
    names: dict[Any, str] = {}
    aps = 0
    for node, attrs in graph.nodes(data=True):
        role = _role(path, node, attrs)
        if role == "ap":
            names[node] = f"ap{aps}"
            aps += 1
        elif role == "server":
            names[node] = "server"
        elif role in ("switch", "edge"):
            if str(node) == "server" or (str(node).startswith("ap") and str(node)[2:].isdigit()):
                raise TopologyFileError(
                    f"'{path}': {role} node {node!r} has a name the simulator gives an AP or "
                    "the server; rename it"
                )
            names[node] = str(node)
    if "server" not in names.values():
        raise TopologyFileError(f"'{path}' has no node with role 'server' for the backhaul")
    wired = nx.Graph()
    for node, name in names.items():
        attrs = graph.nodes[node]
        x, y = _number(attrs, "x_m"), _number(attrs, "y_m")
        place = {} if x is None or y is None else {"x_m": x, "y_m": y}
        wired.add_node(name, role=attrs["role"], **place)
    for u, v, attrs in graph.edges(data=True):
        where = f"'{path}': edge {u!r} - {v!r}"
        if u == v:
            raise TopologyFileError(f"{where} is a self-loop")
        if u not in names or v not in names:
            raise TopologyFileError(f"{where} touches a PIU: PIUs are reached over the air")
        capacity, latency = _number(attrs, "capacity_bps"), _number(attrs, "latency_s")
        if capacity is None or not MIN_CAPACITY_BPS <= capacity <= MAX_CAPACITY_BPS:
            raise TopologyFileError(
                f"{where} needs a numeric capacity_bps from {MIN_CAPACITY_BPS:g} to "
                f"{MAX_CAPACITY_BPS:g} bit/s"
            )
        if latency is None or not 0 <= latency <= MAX_LATENCY_S:
            raise TopologyFileError(
                f"{where} needs a numeric latency_s from 0 to {MAX_LATENCY_S:g} s"
            )
        wired.add_edge(names[u], names[v], capacity_bps=capacity, latency_s=latency)
    for a in range(aps):
        if not nx.has_path(wired, f"ap{a}", "server"):
            raise TopologyFileError(
                f"'{path}': AP ap{a} (the {a + 1}. AP in file order) has no wired path to "
                "the server"
            )
    return wired


def _refuse_duplicate_ids(path: str) -> None:
    """Raise when two GraphML ``<node>`` elements share an ``id`` (merged by networkx)."""
    import xml.etree.ElementTree as ET

    seen: set[str] = set()
    for _, element in ET.iterparse(path):
        if element.tag.rsplit("}", 1)[-1] == "node":
            node_id = element.get("id")
            if node_id is not None and node_id in seen:
                raise TopologyFileError(
                    f"'{path}': node id {node_id!r} appears more than once; "
                    "every node needs its own id"
                )
            if node_id is not None:
                seen.add(node_id)


def _number(attrs: dict[str, Any], key: str) -> float | None:
    value = attrs.get(key)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
