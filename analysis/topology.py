"""Topology layout figure: APs and PIUs in the plane, PIUs coloured by mean uplink SNR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from netsim.sim import Simulation


def layout_figure(
    sim: Simulation, loads: pd.DataFrame | None = None, duration_s: float | None = None
) -> Figure:
    """A matplotlib figure of ``sim``'s topology (positions in m).

    PIUs are coloured by the mean SNR (dB) of their uplink to the serving AP at full power
    over the whole band (path loss and shadowing, fading averaged out); a line joins each PIU
    to its serving AP. Sites are drawn once (co-sited sector APs share one marker) with an
    arrow per sector along its boresight; a hexagonal layout also gets each site's cell
    outline (a hexagon of radius ISD / sqrt(3)). A routed backhaul is drawn beside it with
    each link's capacity and, given a run's ``loads``
    (:func:`netsim.analysis.breakdown.link_loads`) over ``duration_s``, the FL traffic it
    carried in its busier direction (line width, Mbit and mean utilisation). Legends sit
    outside the axes, where they cover nothing; units: m, dB, bit/s and Mbit.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from netsim.topologies import positions
    from netsim.topologies.builders import azimuths

    ap_xy, _ = positions(sim.topology, "ap")
    piu_xy, _ = positions(sim.topology, "piu")
    radio, device = sim.scenario.radio, sim.scenario.device
    p_w = 10 ** ((device.tx_power_dbm - 30) / 10)
    snr_db = np.array(
        [
            10 * np.log10(sim.channel.mean_snr(k, int(a), p_w, radio.bandwidth_hz))
            for k, a in enumerate(sim.serving_ap)
        ]
    )
    backhaul = sim.world.backhaul
    if backhaul is None:
        fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    else:
        fig, (ax, wired) = plt.subplots(1, 2, figsize=(14, 6), layout="constrained")
        _draw_backhaul(wired, backhaul.graph, ap_xy, loads, duration_s)
    _draw_site(fig, ax, sim)
    for k, a in enumerate(sim.serving_ap):
        ax.plot(*np.column_stack([piu_xy[k], ap_xy[a]]), color="0.85", lw=0.6, zorder=1)
    points = ax.scatter(piu_xy[:, 0], piu_xy[:, 1], c=snr_db, cmap="viridis", s=22, zorder=2)
    sites = np.unique(np.round(ap_xy, 6), axis=0)
    topo = sim.scenario.topology
    isd = getattr(topo, "isd_m", None)
    if getattr(topo, "kind", "") == "hex" and isd:
        radius = isd / np.sqrt(3)  # a hexagonal cell's corner radius
        corner = np.deg2rad(np.arange(30, 450, 60))  # edges face the six neighbours
        for x, y in sites:
            ax.plot(x + radius * np.cos(corner), y + radius * np.sin(corner),
                    color="0.55", lw=0.7, zorder=0)  # fmt: skip
    azimuth = azimuths(sim.topology)
    sectored = ~np.isnan(azimuth)
    if sectored.any():
        span = float(np.ptp(ap_xy, axis=0).max()) if len(ap_xy) > 1 else 100.0
        length = (isd / 3) if isd else max(span / 15, 5.0)
        rad = np.deg2rad(azimuth[sectored])
        ax.quiver(ap_xy[sectored, 0], ap_xy[sectored, 1], np.cos(rad), np.sin(rad),
                  angles="xy", scale_units="xy", scale=1 / length, width=0.004,
                  color="crimson", zorder=3, label="sector boresight")  # fmt: skip
    name = f"site ({len(ap_xy)} APs)" if len(sites) < len(ap_xy) else "AP"
    ax.scatter(sites[:, 0], sites[:, 1], marker="^", s=110, c="crimson", edgecolor="k",
               zorder=4, label=name)  # fmt: skip
    fig.colorbar(points, ax=ax, label="mean uplink SNR at the serving AP (dB)")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.08), ncols=2, frameon=False, fontsize=8)
    ax.set_title(
        f"{sim.scenario.name}: {len(ap_xy)} APs at {len(sites)} sites, {len(piu_xy)} PIUs "
        f"({radio.pathloss.model})"
    )
    return fig


def _draw_site(fig: Figure, ax: Any, sim: Simulation) -> None:
    """A ray-traced run's best-server path-gain map under the layout (dB, the strongest AP
    in each cell) and a building's machines and shelves as outlines."""
    from matplotlib.patches import Rectangle

    from netsim.assembly.topology import hall_of

    maps = sim.world.gains.radio_maps
    if maps is not None:
        best_db = maps.gain_db.max(axis=0)
        image = ax.imshow(best_db, origin="lower", extent=maps.extent, cmap="magma", zorder=0)
        fig.colorbar(image, ax=ax, label="best AP's path gain, ray-traced (dB)")
    hall = hall_of(sim.scenario.topology)
    for box in [] if hall is None else hall.obstacles():
        (x0, y0, _), (x1, y1, _) = box.lower, box.upper
        hatch = "//" if box.material == "metal" else None
        ax.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="0.2", lw=0.8, hatch=hatch)
        )


def _draw_backhaul(
    ax, graph, ap_xy: np.ndarray, loads: pd.DataFrame | None, duration_s: float | None
) -> None:
    """The routed backhaul: APs where they are, the other nodes at their file position or
    laid out around them (seeded spring layout), each link labelled with its capacity (and
    the FL traffic of ``loads`` over ``duration_s``)."""
    import networkx as nx

    fixed = {f"ap{a}": tuple(xy) for a, xy in enumerate(ap_xy)}
    for node, attrs in graph.nodes(data=True):
        if "x_m" in attrs and node not in fixed:
            fixed[node] = (attrs["x_m"], attrs["y_m"])
    span = float(np.ptp(ap_xy, axis=0).max()) or 100.0
    start = {n: fixed.get(n, (ap_xy[:, 0].mean(), ap_xy[:, 1].max() + span / 2)) for n in graph}
    pos = nx.spring_layout(graph, pos=start, fixed=list(fixed), seed=1, k=span / 3)
    colours = {"ap": "crimson", "server": "k", "switch": "tab:blue", "edge": "tab:green"}
    role = nx.get_node_attributes(graph, "role")
    carried: dict[frozenset[str], float] = {}
    if loads is not None:
        for src, dst, bits in zip(loads.src, loads.dst, loads.bits, strict=True):
            key = frozenset((src, dst))
            carried[key] = max(carried.get(key, 0.0), float(bits))
    busiest = max(carried.values(), default=0.0) or 1.0
    widths = [1.0 + 5.0 * carried.get(frozenset((u, v)), 0.0) / busiest for u, v in graph.edges]
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.6", width=widths)
    for kind, colour in colours.items():  # one legend entry per role present
        nodes = [n for n in graph if role.get(n, "switch") == kind]
        if nodes:
            nx.draw_networkx_nodes(graph, pos, nodelist=nodes, ax=ax, node_size=90,
                                   node_color=colour, label=_ROLE_NAMES[kind])  # fmt: skip
    # names beside their markers (offset up), not over them
    lift = 0.025 * (max(y for _, y in pos.values()) - min(y for _, y in pos.values()) or 1.0)
    above = {n: (x, y + lift) for n, (x, y) in pos.items()}
    nx.draw_networkx_labels(graph, above, ax=ax, font_size=6, verticalalignment="bottom")
    labels = {}
    for u, v, d in graph.edges(data=True):
        labels[u, v] = _rate(d["capacity_bps"])
        bits = carried.get(frozenset((u, v)))
        if bits and duration_s:
            share = bits / (d["capacity_bps"] * duration_s)
            labels[u, v] += f"\n{bits / 1e6:.3g} Mbit, {share:.1%}"
    # many links: label the busiest ones only, so labels do not pile up
    if len(labels) > _MAX_LINK_LABELS:
        ranked = sorted(labels, key=lambda e: -carried.get(frozenset(e), 0.0))
        labels = {e: labels[e] for e in ranked[:_MAX_LINK_LABELS]}
    nx.draw_networkx_edge_labels(
        graph, pos, edge_labels=labels, ax=ax, font_size=6,
        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
    )  # fmt: skip
    what = "capacities" if loads is None else "capacities, FL Mbit carried and mean utilisation"
    shown = "" if len(labels) == graph.number_of_edges() else f" ({len(labels)} busiest)"
    ax.set_title(f"backhaul: link {what}{shown}")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.02), ncols=4, frameon=False, fontsize=8)
    ax.set_axis_off()


_ROLE_NAMES = {"ap": "AP", "server": "server", "switch": "switch", "edge": "edge server"}
_MAX_LINK_LABELS = 24  # beyond this many links, only the busiest are labelled


def _rate(bps: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= scale:
            return f"{bps / scale:g} {unit}bit/s"
    return f"{bps:g} bit/s"
