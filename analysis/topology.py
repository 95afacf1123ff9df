"""Topology layout figure: APs and PIUs in the plane, PIUs coloured by mean uplink SNR."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    to its serving AP. A routed backhaul is drawn beside it with each link's capacity and,
    given a run's ``loads`` (:func:`netsim.analysis.breakdown.link_loads`) over
    ``duration_s``, the FL traffic it carried in its busier direction (line width, MB and
    mean utilisation).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from netsim.topologies import positions

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
        fig, ax = plt.subplots(figsize=(7, 6))
    else:
        fig, (ax, wired) = plt.subplots(1, 2, figsize=(13, 6))
        _draw_backhaul(wired, backhaul.graph, ap_xy, loads, duration_s)
    for k, a in enumerate(sim.serving_ap):
        ax.plot(*np.column_stack([piu_xy[k], ap_xy[a]]), color="0.85", lw=0.6, zorder=1)
    points = ax.scatter(piu_xy[:, 0], piu_xy[:, 1], c=snr_db, cmap="viridis", s=22, zorder=2)
    ax.scatter(
        ap_xy[:, 0],
        ap_xy[:, 1],
        marker="^",
        s=120,
        c="crimson",
        edgecolor="k",
        zorder=3,
        label="AP",
    )
    fig.colorbar(points, ax=ax, label="mean uplink SNR at the serving AP (dB)")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title(
        f"{sim.scenario.name}: {len(ap_xy)} APs, {len(piu_xy)} PIUs ({radio.pathloss.model})"
    )
    fig.tight_layout()
    return fig


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
    nx.draw_networkx_nodes(
        graph, pos, ax=ax, node_size=90, node_color=[colours.get(role.get(n, "switch"), "0.5")
                                                     for n in graph]
    )  # fmt: skip
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=6)
    labels = {}
    for u, v, d in graph.edges(data=True):
        labels[u, v] = _rate(d["capacity_bps"])
        bits = carried.get(frozenset((u, v)))
        if bits and duration_s:
            share = bits / (d["capacity_bps"] * duration_s)
            labels[u, v] += f"\n{bits / 8e6:.3g} MB, {share:.1%}"
    nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, ax=ax, font_size=6)
    what = "capacities" if loads is None else "capacities, FL MB carried and mean utilisation"
    ax.set_title(f"backhaul: link {what}\n(red APs, green edge servers, blue switches)")
    ax.set_axis_off()


def _rate(bps: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= scale:
            return f"{bps / scale:g} {unit}bit/s"
    return f"{bps:g} bit/s"
