"""Heterogeneous device classes: assignment by share, index or topology attribute; drawn
parameters from keyed streams; their effect on compute time, energy and battery."""

from __future__ import annotations

import networkx as nx
import pytest

from netsim import Simulation
from netsim.assembly.devices import assign_classes
from netsim.rng import Stream, Streams
from netsim.scenario import Scenario, ScenarioError
from tests.conftest import TINY, tiny

TEN = [[10.0 * (k + 1), 0.0] for k in range(10)]


def _classes(*classes, positions=TEN, **device):
    return tiny(
        topology={"piu_positions_m": positions}, device={"classes": list(classes), **device}
    )


def test_shares_fill_a_keyed_permutation_and_the_rest_is_default():
    s = _classes({"name": "sensor", "share": 0.5}, {"name": "camera", "share": 0.3})
    names = assign_classes(s.device, 10, [None] * 10, Streams(s.seed))
    assert (names.count("sensor"), names.count("camera"), names.count("default")) == (5, 3, 2)
    # the order: a permutation of the PIUs from the DEVICE_CLASS stream, sensors first
    perm = Streams(s.seed).numpy(Stream.DEVICE_CLASS).permutation(10)
    assert [names[k] for k in perm] == ["sensor"] * 5 + ["camera"] * 3 + ["default"] * 2
    assert names == assign_classes(s.device, 10, [None] * 10, Streams(s.seed))


def test_a_class_sets_compute_time_energy_and_battery():
    fast = {"name": "gateway", "pius": [0], "cpu_hz": 2e9, "battery_j": 7.0, "tx_power_dbm": 23.0}
    s = _classes(fast, positions=TINY["topology"]["piu_positions_m"], battery_j=5.0)
    res = Simulation(s).run()
    e = res.events
    train = e[e.event == "train_end"].set_index("node")
    # t = S C / f with S = 4 samples, C = 2.5e7 cycles; E = kappa C S f^2
    assert train.duration_s["piu0"] == pytest.approx(4 * 2.5e7 / 2e9)
    assert train.duration_s["piu1"] == pytest.approx(4 * 2.5e7 / 1e9)
    assert train.energy_j["piu0"] == pytest.approx(1e-28 * 2.5e7 * 4 * 2e9**2)
    assert res.initial_battery_j == {"piu0": 7.0, "piu1": 5.0, "piu2": 5.0}
    tx = e[e.event == "tx_start"].set_index("node")
    assert tx.power_w["piu0"] == pytest.approx(10 ** (23 / 10) / 1e3)
    assert tx.power_w["piu1"] == pytest.approx(0.1)
    device = e[e.event == "device"].set_index("node")
    assert device.detail["piu0"].startswith("class=gateway cpu_hz=2e+09")
    assert device.detail["piu2"].startswith("class=default")


def test_drawn_values_come_from_each_pius_own_stream():
    drawn = {"name": "sensor", "share": 1.0, "cpu_hz": {"dist": "uniform", "low": 5e8, "high": 2e9}}
    s = _classes(drawn)
    sim = Simulation(s)
    for k, device in enumerate(sim.devices):
        expected = Streams(s.seed).numpy(Stream.DEVICE, k, 0).uniform(5e8, 2e9)  # field 0
        assert device.cpu_hz == expected
        assert sim.pius[k].compute.cpu_hz == expected
    # a PIU's draw does not change when PIUs are added
    more = Simulation(_classes(drawn, positions=[*TEN, [200.0, 0.0]]))
    assert [d.cpu_hz for d in more.devices[:10]] == [d.cpu_hz for d in sim.devices]
    choice = {"name": "c", "share": 1.0, "battery_j": {"dist": "choice", "values": [1.0, 2.0]}}
    assert {d.battery_j for d in Simulation(_classes(choice)).devices} == {1.0, 2.0}


def test_classes_from_the_topology_files_device_class_attribute(tmp_path):
    g = nx.Graph()
    g.add_node("gw", role="ap", x_m=0.0, y_m=0.0)
    for i, x in enumerate([10.0, 20.0, 40.0]):
        g.add_node(f"m{i}", role="piu", x_m=x, y_m=0.0, **({"device_class": "cam"} if i else {}))
    nx.write_graphml(g, tmp_path / "hall.graphml")
    topology = {"kind": "file", "path": str(tmp_path / "hall.graphml")}

    def scenario(*classes):
        device = {**TINY["device"], "classes": list(classes)}
        return Scenario.from_dict({**TINY, "topology": topology, "device": device})

    s = scenario({"name": "cam", "cycles_per_sample": 5e7})
    assert [d.klass for d in Simulation(s).devices] == ["default", "cam", "cam"]
    with pytest.raises(ScenarioError, match="piu1 has device_class = 'cam'"):
        Simulation(scenario({"name": "sensor"}))


@pytest.mark.parametrize(
    ("classes", "needle"),
    [
        ([{"name": "a", "share": 0.7}, {"name": "b", "share": 0.4}], "add up to at most 1"),
        ([{"name": "a"}, {"name": "a"}], "distinct class names"),
        ([{"name": "a", "pius": [1]}, {"name": "b", "pius": [1, 2]}], "at most one class"),
        (
            [{"name": "a", "cpu_hz": {"dist": "uniform", "low": 0.0, "high": 1e9}}],
            r"cpu_hz = \[0.0, 1000000000.0\] .*values in \[1000, 1e\+15\] Hz",
        ),
        ([{"name": "a", "pius": [12]}], "device.classes.a.pius"),
    ],
)
def test_bad_classes_are_named(classes, needle):
    with pytest.raises(ScenarioError, match=needle):
        _classes(*classes)
