"""Hierarchical FL (HierFAVG, Liu et al. 2020; PHYSICS.md section 10) against flat FedAvg
and hand-computed averages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from netsim.analysis.breakdown import (
    CLOUD_COMPONENTS,
    cloud_breakdown,
    latency_breakdown,
    link_loads,
)

from netsim import Simulation
from netsim.cli import main
from netsim.log import Event, events_frame
from netsim.scenario import ScenarioError
from tests.conftest import tiny

# float32 arithmetic: the cloud adds an edge model back as w + (w_e - w), one float32
# rounding of each weight (|w| < 1 here, so <= 6e-8) per cloud round; a few SGD steps
# later such a difference stays within a few ulps. 1e-6 bounds that and fails on any
# real difference (a wrong weight or a missing update moves weights by 1e-3 or more).
FLOAT32_ATOL = 1e-6

TREE = {"kind": "tree", "edge_servers": True, "aps_per_switch": 1}


def two_edges(**sections):
    """Two APs 100 m apart, two PIUs near ap0 and one 40 m from ap1; the tree puts each
    AP under its own edge server (edge0: piu0, piu1; edge1: piu2)."""
    topology = {
        "ap_positions_m": [[0.0, 0.0], [100.0, 0.0]],
        "piu_positions_m": [[10.0, 0.0], [20.0, 0.0], [60.0, 0.0]],
    }
    return tiny(topology=topology, backhaul=TREE, **sections)


def test_one_edge_with_k1_k2_one_is_flat_fedavg():
    one_edge = {**TREE, "aps_per_switch": 4}
    flat = Simulation(tiny(backhaul=one_edge, protocol={"rounds": 2})).run()
    hier = Simulation(
        tiny(backhaul=one_edge, protocol={"rounds": 2}, hierarchy={"k1": 1, "k2": 1})
    ).run()
    np.testing.assert_allclose(hier.weights, flat.weights, rtol=0, atol=FLOAT32_ATOL)
    r = hier.rounds
    assert r[r.tier == "edge"]["round"].tolist() == [0, 1]
    assert r[r.tier == "global"]["round"].tolist() == [0, 1]
    assert set(r.node) == {"edge0", "server"}
    # the same updates were trained on the same models
    piu = lambda res: res.events[res.events.event == "train_end"][["round", "node", "loss"]]  # noqa: E731
    pd_flat, pd_hier = piu(flat).reset_index(drop=True), piu(hier).reset_index(drop=True)
    assert pd_flat[["round", "node"]].equals(pd_hier[["round", "node"]])
    np.testing.assert_allclose(pd_hier.loss, pd_flat.loss, rtol=1e-5)


def test_the_cloud_model_is_the_sample_weighted_average_of_the_edge_models():
    sim = Simulation(two_edges(protocol={"rounds": 1}, hierarchy={"k1": 2, "k2": 2}))
    res = sim.run()
    edge0, edge1 = sim.world.edges
    assert (edge0.name, sorted(edge0.serves), edge1.name, sorted(edge1.serves)) == (
        "edge0", [0], "edge1", [1],
    )  # fmt: skip
    n = [len(sim.partitions[0]) + len(sim.partitions[1]), len(sim.partitions[2])]
    by_hand = (n[0] * edge0.weights.double() + n[1] * edge1.weights.double()) / sum(n)
    np.testing.assert_allclose(res.weights.double(), by_hand, rtol=0, atol=FLOAT32_ATOL)
    assert not torch.equal(edge0.weights, edge1.weights)
    # k2 = 2 edge rounds per edge before the one cloud round; k1 = 2 local rounds of one step
    r = res.rounds
    assert r[r.tier == "edge"].groupby("node")["round"].apply(list).to_dict() == {
        "edge0": [0, 1],
        "edge1": [0, 1],
    }
    train = res.events[res.events.event == "train_start"]
    # 2 steps x 4 samples x 2.5e7 cycles at 1 GHz, each of the 3 PIUs in 2 edge rounds
    assert train.duration_s.tolist() == pytest.approx([2 * 4 * 2.5e7 / 1e9] * 6, rel=1e-12)
    # the rows of each tier add up to the PIUs' energy
    piu = res.events[(res.events.role == "piu")]
    assert r[r.tier == "edge"].energy_j.sum() == pytest.approx(piu.energy_j.sum(), rel=1e-12)
    assert r[r.tier == "global"].energy_j.sum() == pytest.approx(piu.energy_j.sum(), rel=1e-12)


def test_an_edge_late_for_the_cloud_deadline_is_left_out_and_its_model_discarded():
    # piu0 and piu1 take turns on ap0 (TDMA): edge0's model reaches the cloud at 0.466 s,
    # edge1's at 0.415 s (from the log of a run without deadline); with a 0.45 s deadline
    # the cloud averages edge1's alone, and edge0's arrives in round 1: discarded as stale
    res = Simulation(
        two_edges(protocol={"rounds": 2}, hierarchy={"k2": 1, "deadline_s": 0.45})
    ).run()
    e = res.events
    server = e[e.node == "server"]
    missed = server[server.event == "deadline_miss"]
    assert missed[["round", "peer"]].values.tolist()[0] == [0, "edge0"]
    discarded = server[server.event == "discard"]
    assert discarded[["round", "peer"]].values.tolist()[0] == [1, "edge0"]
    first = server[(server.event == "aggregate") & (server["round"] == 0)]
    assert first.detail.iloc[0] == "1 edge models, 1 PIUs"
    assert first.t_s.iloc[0] == pytest.approx(0.45 + 0.01, rel=1e-12)  # deadline + aggregation


def test_every_transfer_over_the_routed_backhaul_is_logged_with_its_route():
    res = Simulation(two_edges(protocol={"rounds": 1}, hierarchy={})).run()
    sends = res.events[res.events.event == "send_end"]
    routes = set(zip(sends.node, sends.peer, sends.route, strict=True))
    assert routes == {
        ("server", "edge0", "server>core>edge0"),
        ("server", "edge1", "server>core>edge1"),
        ("edge0", "ap0", "edge0>ap0"),
        ("edge1", "ap1", "edge1>ap1"),
        ("edge0", "server", "edge0>core>server"),
        ("edge1", "server", "edge1>core>server"),
    }
    fwd = res.events[res.events.event == "fwd_end"]
    assert set(fwd.route) == {"ap0>edge0", "ap1>edge1"}


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"backhaul": {"kind": "star"}}, "backhaul.kind = 'star'"),
        ({"backhaul": {"kind": "tree"}}, "needs edge servers"),
        ({"hierarchy": {"assign": {"ap0": "edge9"}}}, "hierarchy.assign.ap0 = 'edge9'"),
        ({"hierarchy": {"assign": {"ap7": "edge0"}}}, "hierarchy.assign.ap7"),
        ({"protocol": {"mode": "fedbuff", "rounds": 1}}, "protocol.mode = 'fedbuff'"),
    ],
)
def test_a_hierarchy_that_cannot_be_built_names_its_field(sections, message):
    base = {"backhaul": TREE, "hierarchy": {}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if key == "hierarchy" else value
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        Simulation(tiny(**base))


def test_link_loads_add_the_bits_of_each_transfer_to_every_link_of_its_route():
    log = events_frame(
        [
            Event(0.1, 0, "ap0", "ap", "fwd_end", bits=100.0, route="ap0>sw0>core>server"),
            Event(0.2, 0, "ap1", "ap", "fwd_end", bits=50.0, route="ap1>sw0>core>server"),
            Event(0.3, 1, "server", "server", "send_end", bits=30.0, route="server>core>sw0>ap0"),
            Event(0.3, 1, "server", "server", "send_start", bits=30.0, route="server>core"),
            Event(0.4, 1, "ap2", "ap", "fwd_end", bits=7.0),  # the star: no route
        ]
    )
    loads = link_loads(log).set_index(["src", "dst"])
    assert loads.bits.to_dict() == {
        ("sw0", "core"): 150.0, ("core", "server"): 150.0, ("ap0", "sw0"): 100.0,
        ("ap1", "sw0"): 50.0, ("server", "core"): 30.0, ("core", "sw0"): 30.0,
        ("sw0", "ap0"): 30.0,
    }  # fmt: skip
    assert loads.transfers[("core", "server")] == 2


def test_a_cloud_round_splits_along_its_critical_edge_and_adds_up():
    res = Simulation(two_edges(protocol={"rounds": 2}, hierarchy={"k2": 2})).run()
    cloud = cloud_breakdown(res.events)
    assert cloud["round"].tolist() == [0, 1]
    parts = cloud[list(CLOUD_COMPONENTS)].sum(axis=1)
    np.testing.assert_allclose(parts, cloud.duration_s, rtol=1e-12)
    made = res.rounds[res.rounds.tier == "global"]
    np.testing.assert_allclose(cloud.duration_s, made.duration_s, rtol=1e-12)
    # the critical edge: the one whose model the cloud received last
    e = res.events
    last = e[(e.node == "server") & (e.event == "rx_update")].groupby("round").peer.last()
    assert cloud.edge.tolist() == last.tolist()
    # the edge rounds of each edge server, each along its own critical PIU
    edges = latency_breakdown(res.events)
    assert sorted(set(edges.edge)) == ["edge0", "edge1"]
    assert len(edges) == 8  # 2 edge servers x 2 cloud rounds x k2 = 2


def test_topo_show_draws_the_loads_of_a_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    Simulation(two_edges(protocol={"rounds": 1}, hierarchy={})).run().save(run_dir)
    out = tmp_path / "loads.png"
    assert main(["topo", "show", "--run", str(run_dir), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["topo", "show", "default", "--run", str(run_dir), "--out", str(out)]) == 2
    assert "pass no scenario" in capsys.readouterr().err
    assert main(["topo", "show", "--run", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "pass a folder written by 'netsim run'" in capsys.readouterr().err


def test_over_the_air_aggregation_feeds_the_edge_servers():
    # each AP's over-the-air sum goes to its edge server, which aggregates it as its round
    res = Simulation(two_edges(protocol={"rounds": 1}, hierarchy={}, ota={"enabled": True})).run()
    e = res.events
    sums = e[(e.event == "fwd_end") & (e.method == "ota")]
    assert set(zip(sums.node, sums.peer, sums.route, strict=True)) == {
        ("ap0", "edge0", "ap0>edge0"),
        ("ap1", "edge1", "ap1>edge1"),
    }
    received = e[(e.event == "rx_update") & (e.role == "edge")]
    assert set(zip(received.node, received.peer, strict=True)) == {
        ("edge0", "ap0"),
        ("edge1", "ap1"),
    }
    assert res.rounds[res.rounds.tier == "global"].aggregated.tolist() == [3]
