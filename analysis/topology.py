"""Topology layout figure: APs and PIUs in the plane, PIUs coloured by mean uplink SNR."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from netsim.sim import Simulation


def layout_figure(sim: Simulation) -> Figure:
    """A matplotlib figure of ``sim``'s topology (positions in m).

    PIUs are coloured by the mean SNR (dB) of their uplink to the serving AP at full power
    over the whole band (path loss and shadowing, fading averaged out); a line joins each PIU
    to its serving AP.
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
    fig, ax = plt.subplots(figsize=(7, 6))
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
