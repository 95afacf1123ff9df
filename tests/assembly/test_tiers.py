"""netsim/assembly/tiers.py: who aggregates each AP's PIUs (the server in flat FL, its edge
server in hierarchical FL) and each AP's backhaul link."""

from __future__ import annotations

import pytest
import simpy

from netsim import Simulation, load_scenario
from netsim.assembly.tiers import Tiers, backhaul_link
from netsim.assembly.topology import backhaul_graph, population
from netsim.backhaul.hop import WiredHop
from netsim.backhaul.routing import RoutedBackhaul
from netsim.nodes.link import RoutedLink, WiredLink
from netsim.rng import Streams
from tests.conftest import tiny

TREE = {"kind": "tree", "edge_servers": True, "aps_per_switch": 1}
TWO_APS = {
    "ap_positions_m": [[0.0, 0.0], [100.0, 0.0]],
    "piu_positions_m": [[10.0, 0.0], [20.0, 0.0], [60.0, 0.0]],
}


def _tiers(s):
    """The scenario's tiers over its routed backhaul (None: the star), and the server inbox."""
    env = simpy.Environment()
    server = simpy.Store(env)
    _, n_aps = population(s.topology)
    graph = backhaul_graph(s.backhaul, n_aps, Streams(s.seed), s.topology)
    return Tiers.build(s, env, graph, n_aps, server), server, n_aps


def _flat_checks(tiers, server, n_aps):
    assert tiers.server is server
    assert tiers.names == ["server"] * n_aps
    assert all(inbox is server for inbox in tiers.inboxes)
    assert len(tiers.inboxes) == n_aps
    assert tiers.edges == []


def test_flat_fl_on_the_star_sends_every_ap_to_the_server():
    tiers, server, n_aps = _tiers(tiny(topology=TWO_APS))
    _flat_checks(tiers, server, n_aps)


def test_flat_fl_on_a_routed_backhaul_with_edge_servers_still_sends_to_the_server():
    tiers, server, n_aps = _tiers(tiny(topology=TWO_APS, backhaul=TREE))
    _flat_checks(tiers, server, n_aps)


def _hierarchical_checks(tiers, server, n_aps):
    assert tiers.server is server
    served = [a for _, aps, _ in tiers.edges for a in aps]
    assert sorted(served) == list(range(n_aps))  # every AP in exactly one edge
    inboxes = [inbox for _, _, inbox in tiers.edges]
    assert len({id(i) for i in inboxes}) == len(inboxes)
    assert all(inbox is not server for inbox in inboxes)
    for name, aps, inbox in tiers.edges:
        assert aps, f"{name} serves no AP"
        for a in aps:
            assert tiers.names[a] == name
            assert tiers.inboxes[a] is inbox


def test_three_tier_maps_every_ap_to_its_edge_server():
    s = load_scenario("three_tier", ["hierarchy.k1=1"])
    tiers, server, n_aps = _tiers(s)
    assert n_aps == 16
    _hierarchical_checks(tiers, server, n_aps)
    assert [name for name, _, _ in tiers.edges] == ["edge0", "edge1", "edge2", "edge3"]


def test_a_tree_with_an_edge_server_per_ap():
    tiers, server, n_aps = _tiers(tiny(topology=TWO_APS, backhaul=TREE, hierarchy={}))
    _hierarchical_checks(tiers, server, n_aps)
    assert [(name, aps) for name, aps, _ in tiers.edges] == [("edge0", [0]), ("edge1", [1])]


def test_an_assigned_edge_takes_the_ap_and_an_edge_serving_none_is_left_out():
    s = tiny(topology=TWO_APS, backhaul=TREE, hierarchy={"assign": {"ap0": "edge1"}})
    tiers, server, n_aps = _tiers(s)
    _hierarchical_checks(tiers, server, n_aps)
    assert [(name, aps) for name, aps, _ in tiers.edges] == [("edge1", [0, 1])]
    assert tiers.names == ["edge1", "edge1"]


def test_the_built_world_wires_aps_and_pius_to_their_edge_servers():
    sim = Simulation(tiny(topology=TWO_APS, backhaul=TREE, hierarchy={}))
    edges = {e.name: e for e in sim.world.edges}
    assert sorted(edges) == ["edge0", "edge1"]
    for a, ap in enumerate(sim.aps):
        edge = edges[f"edge{a}"]
        assert ap.server_inbox is edge.inbox
        assert isinstance(ap.uplink, RoutedLink)
        assert (ap.uplink.src, ap.uplink.dst) == (f"ap{a}", edge.name)
    for p in sim.pius:
        assert p.server_inbox is edges[f"edge{int(sim.serving_ap[p.index])}"].inbox


def test_the_built_flat_world_wires_every_ap_to_the_server_over_its_star_link():
    sim = Simulation(tiny(topology=TWO_APS))
    server = sim.server.inbox
    for ap in sim.aps:
        assert ap.server_inbox is server
        assert type(ap.uplink) is WiredLink
        assert (ap.uplink.capacity_bps, ap.uplink.latency_s, ap.uplink.dst) == (
            1e8, 0.001, "server",
        )  # fmt: skip
    assert all(p.server_inbox is server for p in sim.pius)


@pytest.mark.parametrize(("up", "dst"), [(True, "edge1"), (False, "ap2")])
def test_without_a_routed_backhaul_the_link_is_the_star_hop(up, dst):
    env = simpy.Environment()
    link = backhaul_link(env, WiredHop(2e7, 0.003), None, 2, "edge1", up=up)
    assert type(link) is WiredLink
    assert (link.capacity_bps, link.latency_s, link.dst, link.env) == (2e7, 0.003, dst, env)


def test_each_star_link_is_its_own_line():
    env, hop = simpy.Environment(), WiredHop(1e6, 0.0)
    one = backhaul_link(env, hop, None, 0, "server", up=True)
    other = backhaul_link(env, hop, None, 1, "server", up=True)
    assert one is not other and one._line is not other._line


@pytest.mark.parametrize(("up", "ends"), [(True, ("ap1", "server")), (False, ("server", "ap1"))])
def test_with_a_routed_backhaul_the_link_is_the_route(up, ends):
    s = tiny(topology=TWO_APS, backhaul=TREE)
    env = simpy.Environment()
    graph = backhaul_graph(s.backhaul, 2, Streams(s.seed), s.topology)
    routed = RoutedBackhaul(env, graph, {})
    link = backhaul_link(env, WiredHop(2e7, 0.003), routed, 1, "server", up=up)
    assert type(link) is RoutedLink
    assert link.backhaul is routed
    assert (link.src, link.dst) == ends
