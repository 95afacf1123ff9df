"""A wired hop's typed parameters: converted once from a graph edge's attributes, and the
star's private AP links built from ``[backhaul]``."""

from __future__ import annotations

from netsim import Simulation
from netsim.backhaul.hop import WiredHop
from netsim.nodes.link import WiredLink
from tests.conftest import tiny


def test_an_edge_becomes_a_hop_of_floats():
    hop = WiredHop.of_edge({"capacity_bps": 10**9, "latency_s": 0.002, "role": "ignored"})
    assert hop == WiredHop(1e9, 2e-3)
    assert type(hop.capacity_bps) is float and type(hop.latency_s) is float


def test_every_star_link_carries_the_scenarios_backhaul_both_ways():
    sim = Simulation(tiny(backhaul={"capacity_bps": 2.5e7, "latency_s": 0.004}))
    links = [ap.uplink for ap in sim.aps]
    links += [link for link, _ in sim.server.downlinks.values()]
    assert len(links) == 2 * len(sim.aps)
    for link in links:
        assert isinstance(link, WiredLink)
        assert (link.capacity_bps, link.latency_s) == (2.5e7, 0.004)
