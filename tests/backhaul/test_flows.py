"""Flow-level sharing of the backhaul against hand computations (PHYSICS.md section 10)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import simpy

from netsim.backhaul import graphs
from netsim.backhaul.flows import FlowNetwork, max_min_rates
from netsim.backhaul.routing import RoutedBackhaul
from netsim.scenario import ScenarioError


def test_max_min_by_hand_three_links_four_flows():
    # links A 10, B 4, C 6; f1: A, f2: A B, f3: B C, f4: C.
    # Filling: all grow to 2 (B is full: f2, f3 freeze); f1 and f4 grow to 4 (C is full:
    # f4 freezes); f1 alone grows to 8 (A is full).
    capacity = {"A": 10.0, "B": 4.0, "C": 6.0}
    rates = max_min_rates([["A"], ["A", "B"], ["B", "C"], ["C"]], capacity)
    assert rates == pytest.approx([8.0, 2.0, 2.0, 4.0], rel=1e-12)


def test_a_demand_caps_a_flow_and_the_rest_goes_to_the_others():
    # background at 3 of a 10 bit/s link; two elastic flows share the remaining 7
    rates = max_min_rates([["L"], ["L"], ["L"]], {"L": 10.0}, [3.0, float("inf"), float("inf")])
    assert rates == pytest.approx([3.0, 3.5, 3.5], rel=1e-12)


def _network(env):
    # a -> b bottleneck of 10 bit/s shared by two flows; c -> d disjoint, 10 bit/s
    capacity = {("a", "b"): 10.0, ("c", "d"): 10.0}
    latency = {("a", "b"): 0.5, ("c", "d"): 0.25}
    return FlowNetwork(env, capacity, latency)


def test_two_flows_halve_a_bottleneck_and_a_disjoint_flow_is_unaffected():
    env = simpy.Environment()
    net = _network(env)
    f1 = net.start([("a", "b")], 100.0)
    f2 = net.start([("a", "b")], 100.0)
    f3 = net.start([("c", "d")], 100.0)
    assert (f1.rate_bps, f2.rate_bps, f3.rate_bps) == (5.0, 5.0, 10.0)
    env.run()
    # 100 bits at 5 bit/s, then 0.5 s; the disjoint one at 10 bit/s, then 0.25 s
    assert (f1.done.value, f2.done.value, f3.done.value) == pytest.approx((20.5, 20.5, 10.25))
    assert net.carried()[("a", "b")] == pytest.approx(200.0)


def test_a_flow_gets_the_full_rate_when_the_other_ends():
    env = simpy.Environment()
    net = _network(env)
    short = net.start([("a", "b")], 40.0)
    long = net.start([("a", "b")], 100.0)
    env.run()
    # both at 5 bit/s until the short one's 40 bits are out (8 s); the long one has 60 left
    # and sends them at 10 bit/s (6 s): out at 14 s, arrived 0.5 s later
    assert short.done.value == pytest.approx(8.5, rel=1e-12)
    assert long.done.value == pytest.approx(14.5, rel=1e-12)


def test_a_flow_that_starts_when_another_ends_gets_the_whole_link():
    env = simpy.Environment()
    net = _network(env)
    first = net.start([("a", "b")], 50.0)  # alone: out at 5 s
    second = []

    def later():
        yield env.timeout(5.0)
        second.append(net.start([("a", "b")], 30.0))

    env.process(later())
    env.run()
    assert first.done.value == pytest.approx(5.5, rel=1e-12)
    assert second[0].rate_bps == 10.0 and second[0].done.value == pytest.approx(3.5, rel=1e-12)


def test_routes_follow_the_shortest_latency_path():
    g = nx.Graph()
    g.add_edge("ap0", "sw0", capacity_bps=1e9, latency_s=1e-3)
    g.add_edge("sw0", "server", capacity_bps=1e9, latency_s=5e-3)
    g.add_edge("ap0", "sw1", capacity_bps=1e8, latency_s=1e-3)
    g.add_edge("sw1", "server", capacity_bps=1e8, latency_s=2e-3)
    env = simpy.Environment()
    bh = RoutedBackhaul(env, g)
    assert bh.route("ap0", "server") == (("ap0", "sw1"), ("sw1", "server"))
    assert bh.route("server", "ap0") == (("server", "sw1"), ("sw1", "ap0"))
    given = RoutedBackhaul(env, g, {("ap0", "server"): ["ap0", "sw0", "server"]})
    assert given.route("server", "ap0") == (("server", "sw0"), ("sw0", "ap0"))
    flow = bh.send("ap0", "server", 1e6)
    env.run()
    assert flow.done.value == pytest.approx(1e6 / 1e8 + 3e-3, rel=1e-12)


def test_a_tree_backhaul_shares_its_links_in_a_run():
    from netsim import Simulation
    from tests.conftest import tiny

    # two APs under one switch: ap -> sw0 -> core -> server, every link 1e6 bit/s, 2 ms
    topology = {**tiny().topology.model_dump(), "ap_positions_m": [[0.0, 0.0], [30.0, 0.0]]}
    backhaul = {"kind": "tree", "capacity_bps": 1e6, "latency_s": 2e-3, "aps_per_switch": 2}
    sim = Simulation(tiny(topology=topology, backhaul=backhaul))
    edges = {frozenset(e) for e in sim.world.backhaul.graph.edges()}
    wires = [("server", "core"), ("core", "sw0"), ("sw0", "ap0"), ("sw0", "ap1")]
    assert edges == {frozenset(e) for e in wires}
    ev = sim.run().events
    sent = ev[ev.event == "broadcast"].iloc[0]
    arrived = ev[ev.event == "dl_start"].set_index("node").t_s
    # both models cross server -> core -> sw0 together at half the rate each (max-min),
    # then their own sw0 -> ap links: bits / (1e6 / 2), plus three links of 2 ms
    expected = sent.t_s + sent.bits / 0.5e6 + 3 * 2e-3
    assert arrived["ap0"] == pytest.approx(expected, rel=1e-9)
    assert arrived["ap1"] == pytest.approx(expected, rel=1e-9)


def test_backhaul_builders():
    t = graphs.tree(5, 2, 1e9, 1e-3, 1e8)
    assert [t.degree(f"sw{i}") for i in range(3)] == [3, 3, 2]  # 2 + 2 + 1 APs, and the core
    assert t.edges["core", "server"]["capacity_bps"] == 1e8
    r = graphs.ring(6, 1e9, 1e-3, 1e9)
    assert set(r["core"]) == {"server", "ap0", "ap3"} and r.degree("ap1") == 2
    one, two = (graphs.mesh(12, 4, 1e9, 1e-3, 1e9, np.random.default_rng(3)) for _ in range(2))
    assert nx.is_connected(one) and sorted(one.edges()) == sorted(two.edges())
    for g in (t, r, one):  # every AP reaches the server, every link has both attributes
        assert all(nx.has_path(g, f"ap{a}", "server") for a in range(5))
        assert all("capacity_bps" in d and "latency_s" in d for *_, d in g.edges(data=True))


def test_a_ring_routes_around_a_cut():
    # the shortest way from ap1 is over ap0; the other way round is the only one without it
    g = graphs.ring(6, 1e9, 1e-3, 1e9)
    env = simpy.Environment()
    assert RoutedBackhaul(env, g).route("ap1", "server") == (
        ("ap1", "ap0"), ("ap0", "core"), ("core", "server"),
    )  # fmt: skip
    g.remove_edge("ap0", "ap1")
    assert RoutedBackhaul(env, g).route("ap1", "server")[0] == ("ap1", "ap2")


def test_background_traffic_takes_its_share_and_stays_until_stopped():
    from netsim.backhaul.background import BackgroundTraffic

    env = simpy.Environment()
    net = _network(env)
    # constant 3 bit/s on the 10 bit/s link: the FL transfer gets the other 7
    BackgroundTraffic(env, lambda: net.start([("a", "b")], math.inf, 3.0), net.stop).start()
    first = net.start([("a", "b")], 70.0)
    env.run(until=50)
    assert first.done.value == pytest.approx(70 / 7 + 0.5, rel=1e-12)
    # above its fair share it is held to half: 10 bit/s against one more transfer
    greedy = FlowNetwork(env, {"L": 10.0}, {"L": 0.0})
    BackgroundTraffic(env, lambda: greedy.start(["L"], math.inf, 100.0), greedy.stop).start()
    second = greedy.start(["L"], 50.0)
    env.run(until=100)
    assert second.done.value == pytest.approx(10.0, rel=1e-12)
    # from t = 50: the transfer's 50 bits, the background's 5 x 10 s + 10 x 40 s
    assert len(greedy.flows) == 1 and greedy.carried()["L"] == pytest.approx(50 + 450)


def test_on_off_background_is_on_for_its_drawn_periods():
    from netsim.backhaul.background import BackgroundTraffic

    env = simpy.Environment()
    net = FlowNetwork(env, {"L": 10.0}, {"L": 0.0})
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    begin = lambda: net.start(["L"], math.inf, 2.0)  # noqa: E731
    BackgroundTraffic(env, begin, net.stop, on_s=1.0, off_s=3.0, rng=rng).start()
    env.run(until=200)
    # it sends 2 bit/s in each on period: the draws in order are on, off, on, off, ...
    t, on = 0.0, 0.0
    while t < 200:
        d_on = twin.exponential(1.0)
        on += min(d_on, 200 - t)
        t += d_on + twin.exponential(3.0)
    assert net.carried()["L"] == pytest.approx(2.0 * on, rel=1e-9)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (['backhaul.background=[{link=["core","server"],rate_bps=1e6}]'], "kind = 'star'"),
        (["backhaul.kind='tree'", 'backhaul.background=[{src="core",dst="sw9",rate_bps=1e6}]'],
         r"backhaul.background\[0\].dst = 'sw9': no such backhaul node; nodes: ap0, core"),
        (["backhaul.kind='ring'", 'backhaul.background=[{link=["ap0","ap9"],rate_bps=1e6}]'],
         r"backhaul.background\[0\].link = \['ap0', 'ap9'\]: no such backhaul link"),
        (["backhaul.kind='tree'", 'backhaul.background=[{src="core",rate_bps=1e6}]'],
         "either link"),
        (["backhaul.kind='tree'",
          'backhaul.background=[{src="core",dst="server",rate_bps=1e6,on_s=1.0}]'], "off_s"),
        (["backhaul.kind='tree'",
          'backhaul.failures={mtbf_s=1.0, mttr_s=0.1, links=[["ap0", "sw9"]]}'],
         r"backhaul.failures.links\[0\] = \['ap0', 'sw9'\]: no such backhaul link"),
        (["backhaul.failures={mtbf_s=1.0, mttr_s=0.1}"], "failures = .*kind = 'star'"),
    ],
)  # fmt: skip
def test_backhaul_mistakes_are_named(overrides, needle):
    from netsim.assembly import preflight
    from netsim.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=needle):
        preflight(load_scenario(None, overrides))


def _diamond():
    # a - b - d (0.1 s per link) and a - c - d (0.2 s per link), all 10 bit/s
    g = nx.Graph()
    g.add_edge("a", "b", capacity_bps=10.0, latency_s=0.1)
    g.add_edge("b", "d", capacity_bps=10.0, latency_s=0.1)
    g.add_edge("a", "c", capacity_bps=10.0, latency_s=0.2)
    g.add_edge("c", "d", capacity_bps=10.0, latency_s=0.2)
    return g


def _fail_at(env, bh, t_s, u, v):
    def cut():
        yield env.timeout(t_s)
        bh.fail(u, v)

    env.process(cut())


def test_a_failed_link_mid_transfer_reroutes_the_rest():
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    flow = bh.send("a", "d", 100.0)
    assert flow.route == (("a", "b"), ("b", "d"))
    _fail_at(env, bh, 4.0, "a", "b")
    env.run()
    # 40 bits over a-b-d by t = 4, the other 60 over a-c-d at 10 bit/s: out at 10 s, then
    # the new route's 0.4 s
    assert flow.done.value == pytest.approx(10.4, rel=1e-12)
    carried = bh.network.carried()
    assert carried[("a", "b")] == pytest.approx(40.0) and carried[("a", "c")] == pytest.approx(60)
    assert carried[("a", "b")] + carried[("a", "c")] == pytest.approx(100.0)  # exactly its bits


def test_with_no_path_a_transfer_waits_for_the_link():
    env = simpy.Environment()
    g = _diamond()
    g.remove_edge("a", "c")
    bh = RoutedBackhaul(env, g)
    flow = bh.send("a", "d", 100.0)

    def outage():
        yield env.timeout(2.0)
        bh.fail("a", "b")  # 20 bits out; no other way
        yield env.timeout(3.0)
        bh.restore("a", "b")  # back at 5 s: 80 bits at 10 bit/s

    env.process(outage())
    env.run()
    assert flow.done.value == pytest.approx(5.0 + 8.0 + 0.2, rel=1e-12)
    assert bh.parked == [] and bh.network.carried()[("a", "b")] == pytest.approx(100.0)


def test_an_outage_in_a_run_reroutes_and_is_logged():
    from netsim import Simulation
    from tests.conftest import tiny

    # ring of two APs, the core attached at both; ap0's own link to the core is down for
    # the first 50 ms, so the model to ap0 goes server -> core -> ap1 -> ap0 (and stays on
    # that route when the link comes back: only waiting transfers move then)
    topology = {**tiny().topology.model_dump(), "ap_positions_m": [[0.0, 0.0], [30.0, 0.0]]}
    backhaul = {
        "kind": "ring", "capacity_bps": 1e6, "latency_s": 2e-3,
        "outages": [{"link": ["ap0", "core"], "start_s": 0.0, "duration_s": 0.05}],
    }  # fmt: skip
    ev = Simulation(tiny(topology=topology, backhaul=backhaul)).run().events
    links = ev[ev.role == "backhaul"]
    assert links.event.tolist() == ["link_down", "link_up"] and set(links.node) == {"ap0-core"}
    assert links.t_s.tolist() == [0.0, 0.05]
    sent = ev[ev.event == "broadcast"].iloc[0]
    arrived = ev[ev.event == "dl_start"].set_index("node").t_s
    # both models share server -> core and core -> ap1 at half the rate; ap0's has one
    # more link of latency
    half = sent.bits / 0.5e6
    assert arrived["ap1"] == pytest.approx(sent.t_s + half + 2 * 2e-3, rel=1e-9)
    assert arrived["ap0"] == pytest.approx(sent.t_s + half + 3 * 2e-3, rel=1e-9)


def test_the_bundled_three_tier_network():
    from netsim.topologies.graphml import read_backhaul

    from netsim.scenario import default_scenario_path

    g = read_backhaul(default_scenario_path().parent / "three_tier.graphml")
    edges = [n for n, role in g.nodes(data="role") if role == "edge"]
    assert len(edges) == 4 and sum(1 for _, r in g.nodes(data="role") if r == "ap") == 16
    assert all(g.degree(e) == 5 for e in edges)  # 4 APs and the gateway
    assert g.edges["gateway", "server"] == {"capacity_bps": 1e9, "latency_s": 10e-3}
    route = RoutedBackhaul(simpy.Environment(), g).route("ap5", "server")
    assert [v for _, v in route] == ["edge1", "gateway", "server"]


def _write(tmp_path, edges, extra_nodes=()):
    g = nx.Graph()
    g.add_node("S", role="server", x_m=0.0, y_m=0.0)
    g.add_node("A", role="ap", x_m=10.0, y_m=0.0)
    g.add_node("P", role="piu", x_m=20.0, y_m=0.0)
    for node, role in extra_nodes:
        g.add_node(node, role=role)
    for u, v, attrs in edges:
        g.add_edge(u, v, **attrs)
    path = tmp_path / "net.graphml"
    nx.write_graphml(g, path)
    return path


@pytest.mark.parametrize(
    ("edges", "needle"),
    [
        ([("A", "A", {"capacity_bps": 1e6, "latency_s": 0.0})], "self-loop"),
        ([("A", "S", {"latency_s": 0.0})], "capacity_bps from 1 to 1e.15 bit/s"),
        ([("A", "S", {"capacity_bps": 1e-300, "latency_s": 0.0})], "capacity_bps from 1"),
        ([("A", "S", {"capacity_bps": 1e6})], "latency_s from 0 to 1e.09 s"),
        ([("A", "S", {"capacity_bps": 1e6, "latency_s": 1e300})], "latency_s from 0"),
        ([("A", "P", {"capacity_bps": 1e6, "latency_s": 0.0})], "touches a PIU"),
        ([("sw", "S", {"capacity_bps": 1e6, "latency_s": 0.0})], "no wired path to the server"),
    ],
)
def test_a_topology_files_backhaul_mistakes_are_named(tmp_path, edges, needle):
    from netsim.assembly import preflight
    from netsim.scenario import ScenarioError, load_scenario

    path = _write(tmp_path, edges, [("sw", "switch")])
    sets = [f'topology={{kind = "file", path = "{path}"}}', "backhaul.kind='file'"]
    with pytest.raises(ScenarioError, match=rf"topology\.path = .*{needle}"):
        preflight(load_scenario(None, sets))


def test_a_file_backhaul_needs_a_topology_file():
    from netsim.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=r"backhaul\.kind = 'file'"):
        load_scenario(None, ["backhaul.kind='file'"])


def test_topo_show_draws_the_backhaul_beside_the_layout(tmp_path):
    from netsim.analysis.topology import layout_figure

    from netsim import Simulation, load_scenario
    from netsim.cli import main

    fig = layout_figure(Simulation(load_scenario("three_tier")))
    wired = fig.axes[1]  # then the colour bar
    assert len(fig.axes) == 3 and wired.get_title().startswith("backhaul")
    labels = {t.get_text() for t in wired.texts}
    assert {"1 Gbit/s", "10 Gbit/s", "edge0", "gateway", "server"} <= labels
    out = tmp_path / "tt.png"
    assert main(["topo", "show", "three_tier", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failure_while_the_last_bit_propagates_changes_nothing():
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    flow = bh.send("a", "d", 10.0)  # out at 1 s, arrives at 1.2 s
    _fail_at(env, bh, 1.1, "a", "b")
    env.run()
    assert flow.done.value == pytest.approx(1.2, rel=1e-12)


def test_forwarded_updates_log_their_route():
    from netsim import Simulation
    from tests.conftest import tiny

    topology = {**tiny().topology.model_dump(), "ap_positions_m": [[0.0, 0.0], [30.0, 0.0]]}
    backhaul = {"kind": "tree", "capacity_bps": 1e6, "latency_s": 2e-3, "aps_per_switch": 2}
    ev = Simulation(tiny(topology=topology, backhaul=backhaul)).run().events
    fwd = ev[ev.event.isin(["fwd_start", "fwd_end"])]
    assert len(fwd) > 0
    for _, row in fwd.iterrows():
        assert row.route == f"{row.node}>sw0>core>server"
    star = Simulation(tiny()).run().events
    assert star.loc[star.event == "fwd_end", "route"].isna().all()


def test_background_on_a_failed_link_pauses_and_routed_background_goes_round():
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    pinned = bh.pin([("a", "b")], math.inf, 4.0)
    routed = bh.send("a", "d", math.inf, 3.0)
    _fail_at(env, bh, 2.0, "a", "b")

    def back():
        yield env.timeout(5.0)
        bh.restore("a", "b")

    env.process(back())
    env.run(until=10.0)
    carried = bh.network.carried()
    # the pinned flow sends 4 bit/s except while a-b is down (2-5 s): 7 s x 4
    assert carried[("a", "b")] == pytest.approx(7 * 4.0 + 2 * 3.0, rel=1e-12)
    # the routed one (3 bit/s) moved to a-c-d at 2 s and stays there
    assert carried[("a", "c")] == pytest.approx(8 * 3.0, rel=1e-12)
    assert pinned.rate_bps == 4.0 and routed.route == (("a", "c"), ("c", "d"))


def test_random_failures_last_their_drawn_means():
    # an alternating renewal process: n up times of mean MTBF and n down times of mean MTTR;
    # each sample mean is within 4 standard errors (m / sqrt(n)) of its mean
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    notes = []
    mtbf, mttr = 20.0, 5.0
    bh.random_outages(
        "a", "b", mtbf, mttr, np.random.default_rng(3), lambda e: notes.append((env.now, e))
    )
    env.run(until=100_000.0)
    times = np.array([t for t, _ in notes])
    assert [e for _, e in notes[:4]] == ["link_down", "link_up", "link_down", "link_up"]
    ups = np.diff(np.concatenate([[0.0], times]))[0::2]  # start / link_up -> link_down
    downs = np.diff(times)[0::2]  # link_down -> link_up
    n = min(len(ups), len(downs))
    assert n > 3000
    assert ups[:n].mean() == pytest.approx(mtbf, abs=4 * mtbf / np.sqrt(n))
    assert downs[:n].mean() == pytest.approx(mttr, abs=4 * mttr / np.sqrt(n))


def test_overlapping_outages_keep_the_link_down_until_both_end():
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    notes = []
    note = lambda e: notes.append((env.now, e))  # noqa: E731
    bh.outage("a", "b", 0.0, 10.0, note)
    bh.outage("a", "b", 5.0, 15.0, note)  # down 5 .. 20 s, overlapping the first
    flow = bh.send("a", "d", 100.0)  # over a-c-d (a-b is down at 0): 10 s + 0.4 s
    env.run()
    assert notes == [(0.0, "link_down"), (20.0, "link_up")]
    assert flow.route == (("a", "c"), ("c", "d")) and flow.done.value == pytest.approx(10.4)
    assert bh.up.has_edge("a", "b")


def test_random_failures_in_a_run_are_logged_and_replayed_by_the_seed():
    from netsim import Simulation
    from tests.conftest import tiny

    topology = {**tiny().topology.model_dump(), "ap_positions_m": [[0.0, 0.0], [30.0, 0.0]]}
    backhaul = {
        "kind": "ring", "capacity_bps": 1e6, "latency_s": 2e-3,
        "failures": {"mtbf_s": 0.3, "mttr_s": 0.05},
    }  # fmt: skip
    scenario = tiny(topology=topology, backhaul=backhaul, protocol={"rounds": 3})
    first = Simulation(scenario).run().events
    links = first[first.role == "backhaul"]
    assert {"link_down", "link_up"} <= set(links.event)
    assert set(links.node) <= {"ap0-ap1", "ap0-core", "ap1-core", "core-server"}
    pd.testing.assert_frame_equal(first, Simulation(scenario).run().events)


def test_a_given_path_is_taken_instead_of_the_shortest():
    from netsim import Simulation
    from tests.conftest import tiny

    # a ring of two APs with the core at both: ap0's shortest way is its own link; the
    # path given goes round through ap1 (and back the same way)
    topology = {**tiny().topology.model_dump(), "ap_positions_m": [[0.0, 0.0], [30.0, 0.0]]}
    backhaul = {"kind": "ring", "paths": [["ap0", "ap1", "core", "server"]]}
    ev = Simulation(tiny(topology=topology, backhaul=backhaul)).run().events
    routes = set(ev.loc[ev.event.isin(["fwd_end", "send_end"]), "route"].dropna())
    assert "ap0>ap1>core>server" in routes and "server>core>ap1>ap0" in routes
    assert "ap0>core>server" not in routes
    with pytest.raises(ScenarioError, match=r"backhaul.paths\[0\] .*\['ap0', 'server'\] is not"):
        Simulation(tiny(topology=topology, backhaul={"kind": "ring", "paths": [["ap0", "server"]]}))


def test_background_that_goes_quiet_while_its_link_is_down_just_stops():
    # stress seed 86: an on/off flow pinned to a link ended its on period while the link
    # was down (the flow parked, off the links): stopping it must not fail
    env = simpy.Environment()
    bh = RoutedBackhaul(env, _diamond())
    flow = bh.pin((("a", "b"),), math.inf, 5.0)
    bh.fail("a", "b")
    assert flow in bh.parked and flow.rate_bps == 0.0
    bh.stop(flow)
    assert flow not in bh.parked and flow.ended
    bh.restore("a", "b")
    assert bh.network.flows == []


def test_link_loads_over_time_by_hand_with_background_traffic():
    # a -> b (10 bit/s): background at 4 bit/s from t = 0 on; a 30-bit transfer at t = 0
    # takes the other 6 and ends at 5 s; a 10-bit one on c -> d alone at 10 bit/s from 2 s
    # ends at 3 s; the run ends at 10 s
    from netsim.backhaul.flows import LOAD_COLUMNS, link_loads

    env = simpy.Environment()
    net = _network(env)
    net.start([("a", "b")], math.inf, demand_bps=4.0)
    net.start([("a", "b")], 30.0)

    def later():
        yield env.timeout(2.0)
        net.start([("c", "d")], 10.0)

    env.process(later())
    env.run(until=10.0)
    loads = link_loads(net, 10.0)
    assert list(loads.columns) == LOAD_COLUMNS
    ab = loads[loads.link == "a>b"][["t_start_s", "t_end_s", "fl_bps", "background_bps"]]
    assert ab.values.tolist() == [[0.0, 5.0, 6.0, 4.0], [5.0, 10.0, 0.0, 4.0]]
    assert loads[loads.link == "a>b"].utilisation.tolist() == [1.0, 0.4]
    cd = loads[loads.link == "c>d"][["t_start_s", "t_end_s", "fl_bps", "background_bps"]]
    assert cd.values.tolist() == [[2.0, 3.0, 10.0, 0.0], [3.0, 10.0, 0.0, 0.0]]
    # the FL bits a link carried are the integral of its FL load
    fl_bits = (ab.fl_bps * (ab.t_end_s - ab.t_start_s)).sum()
    assert fl_bits == pytest.approx(30.0)


def test_a_routed_runs_link_loads_add_up_to_its_forwarded_bits(tmp_path):
    # three_tier with background traffic: every FL transfer's bits appear as FL load on the
    # links of its route, the background's as background load; both in the run directory
    from netsim.analysis import load_run

    from netsim import Simulation, load_scenario
    from netsim.rundir import write_run

    background = '[{src="gateway", dst="server", rate_bps=2e8, on_s=0.05, off_s=0.05}]'
    sets = ["protocol.rounds=1", 'learning.model="mlp"', f"backhaul.background={background}"]
    s = load_scenario("three_tier", sets)
    res = Simulation(s).run()
    loads = res.backhaul
    assert len(loads) and (loads.utilisation <= 1 + 1e-9).all()
    assert (loads[loads.link == "gateway>server"].background_bps > 0).any()
    flows = res.flows
    forwarded = flows[flows.kind.isin(["forward", "send"]) & flows.route.notna()]
    per_link: dict[str, float] = {}
    for route, bits in zip(forwarded.route, forwarded.bits, strict=True):
        hops = route.split(">")
        for u, v in zip(hops, hops[1:], strict=False):
            per_link[f"{u}>{v}"] = per_link.get(f"{u}>{v}", 0.0) + bits
    carried = (loads.fl_bps * (loads.t_end_s - loads.t_start_s)).groupby(loads.link).sum()
    for link, bits in per_link.items():
        assert carried[link] == pytest.approx(bits, rel=1e-9), link
    out = write_run(res, tmp_path / "run", ["test"])
    pd.testing.assert_frame_equal(load_run(out).backhaul, loads)
