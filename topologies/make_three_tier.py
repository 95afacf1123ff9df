"""Writes ``three_tier.graphml``: a three-tier campus network for the routed backhaul.

16 APs on a 4 x 4 grid (100 m apart) in a 400 m x 400 m campus, 48 PIUs (3 per AP, up
to 35 m from it), 4 edge servers (``edge0`` .. ``edge3``, one per row of 4 APs, 1 Gbit/s,
0.5 ms to each AP), a ``gateway`` switch (10 Gbit/s, 1 ms to each edge) and the cloud
``server`` behind one shared 1 Gbit/s, 10 ms uplink. Run ``python -m
netsim.topologies.make_three_tier`` to write it again (the same file: seeded).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np


def three_tier() -> nx.Graph:
    """The network described above, node attributes as ``topologies/graphml.py`` reads."""
    rng = np.random.default_rng(2026)
    g = nx.Graph()
    g.add_node("server", role="server", x_m=200.0, y_m=-100.0)
    g.add_node("gateway", role="switch", x_m=200.0, y_m=-50.0)
    g.add_edge("server", "gateway", capacity_bps=1e9, latency_s=10e-3)
    piu = 0
    for row in range(4):
        edge = f"edge{row}"
        g.add_node(edge, role="edge", x_m=-60.0, y_m=100.0 * row)
        g.add_edge(edge, "gateway", capacity_bps=10e9, latency_s=1e-3)
        for col in range(4):
            ap = f"AP{row}{col}"
            x, y = 50.0 + 100.0 * col, 50.0 + 100.0 * row
            g.add_node(ap, role="ap", x_m=x, y_m=y)
            g.add_edge(ap, edge, capacity_bps=1e9, latency_s=0.5e-3)
            for _ in range(3):
                r, phi = 35.0 * np.sqrt(rng.uniform(0.05, 1.0)), rng.uniform(0, 2 * np.pi)
                g.add_node(
                    f"PIU{piu}", role="piu", x_m=round(x + r * np.cos(phi), 2),
                    y_m=round(y + r * np.sin(phi), 2),
                )  # fmt: skip
                piu += 1
    return g


if __name__ == "__main__":
    nx.write_graphml(three_tier(), Path(__file__).with_name("three_tier.graphml"))
