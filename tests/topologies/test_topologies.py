"""Topology builders and the bundled scenario files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from netsim.topologies import positions

from netsim.assembly.topology import build_topology
from netsim.rng import Streams
from netsim.scenario import BackhaulConfig, FactoryHallTopology, ScenarioError, load_scenario

BUNDLED = sorted((Path(__file__).resolve().parents[2] / "topologies").glob("*.toml"))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenarios_validate(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem


def test_factory_hall_places_pius_on_distinct_machine_spots_under_ceiling_aps():
    cfg = FactoryHallTopology(kind="factory_hall", num_pius=50, machine_spacing_m=4.0)
    graph = build_topology(cfg, BackhaulConfig(), Streams(1))
    ap_xy, ap_h = positions(graph, "ap")
    piu_xy, piu_h = positions(graph, "piu")
    assert ap_xy.tolist() == [[30.0, 30.0], [90.0, 30.0]] and (ap_h == 8.0).all()
    assert len({tuple(p) for p in piu_xy}) == 50  # one PIU per machine
    assert ((piu_xy[:, 0] - 2.0) % 4.0 == 0).all() and ((piu_xy[:, 1] - 2.0) % 4.0 == 0).all()
    assert (piu_xy[:, 0] < 120).all() and (piu_xy[:, 1] < 60).all() and (piu_h == 1.5).all()


def test_factory_hall_with_more_pius_than_machines_is_refused():
    with pytest.raises(ScenarioError, match=r"topology.num_pius = 500.*at most the 450"):
        load_scenario(None, ['topology={kind="factory_hall", num_pius=500}'])


def test_grid_topology_places_aps_at_cell_centres():
    graph = build_topology(
        load_scenario("topologies/cellfree.toml").topology, BackhaulConfig(), Streams(0)
    )
    ap_xy, _ = positions(graph, "ap")
    assert np.unique(ap_xy[:, 0]).tolist() == [125.0, 375.0, 625.0, 875.0]


def test_perturbed_grid_moves_aps_only_and_within_the_bound():
    from netsim.scenario import GridTopology

    plain = GridTopology(kind="grid", num_pius=30, aps_per_side=3, side_m=600.0)
    moved = plain.model_copy(update={"ap_perturbation_m": 40.0})
    g0 = build_topology(plain, BackhaulConfig(), Streams(4))
    g1 = build_topology(moved, BackhaulConfig(), Streams(4))
    ap0, _ = positions(g0, "ap")
    ap1, _ = positions(g1, "ap")
    assert np.array_equal(positions(g0, "piu")[0], positions(g1, "piu")[0])
    shift = np.abs(ap1 - ap0)
    assert (shift <= 40.0).all() and (shift > 0).any()
