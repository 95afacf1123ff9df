"""Topologies from GraphML/GML files: positions, heights, and clear errors for bad files."""

from __future__ import annotations

import networkx as nx
import pytest

from netsim import Simulation
from netsim.assembly import preflight
from netsim.scenario import ScenarioError, load_scenario
from tests.conftest import TINY


def _scenario(tmp_path, graph_file: str) -> str:
    import tomli_w

    data = {**TINY, "topology": {"kind": "file", "path": graph_file}}
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def _hall(tmp_path, name="hall.graphml", **bad):
    g = nx.Graph()
    g.add_node("gw", role="ap", x_m=0.0, y_m=0.0, height_m=6.0)
    g.add_node("core", role="server", x_m=0.0, y_m=0.0)
    for i, x in enumerate([10.0, 20.0, 40.0]):
        g.add_node(f"m{i}", role="piu", x_m=x, y_m=0.0)
    for node, attrs in bad.items():
        g.nodes[node].clear()
        g.nodes[node].update(attrs)
    path = tmp_path / name
    (nx.write_gml if name.endswith(".gml") else nx.write_graphml)(g, path)
    return path


@pytest.mark.parametrize("name", ["hall.graphml", "hall.gml"])
def test_positions_and_heights_come_from_the_file(tmp_path, name):
    _hall(tmp_path, name)
    scenario = load_scenario(_scenario(tmp_path, name))  # path relative to the scenario file
    assert scenario.topology.path.is_absolute() and preflight(scenario) == (3, 1)
    sim = Simulation(scenario)
    nodes = dict(sim.topology.nodes(data=True))
    assert nodes["ap0"]["height_m"] == 6.0 and nodes["piu2"]["position_m"] == (40.0, 0.0)
    assert nodes["piu0"]["height_m"] == scenario.topology.piu_height_m  # default applies
    res = sim.run()
    assert res.rounds["aggregated"].iloc[0] == 3


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"m1": {"x_m": 1.0, "y_m": 2.0}}, "node 'm1' has no 'role' attribute"),
        ({"m1": {"role": "router", "x_m": 1.0, "y_m": 2.0}}, "node 'm1' has role 'router'"),
        ({"m1": {"role": "piu", "x_m": 1.0}}, "node 'm1' (piu) has no position"),
        ({"gw": {"role": "piu", "x_m": 1.0, "y_m": 1.0}}, "has no node with role 'ap'"),
        ({"m1": {"role": "piu", "x_m": 1e300, "y_m": 2.0}}, "coordinates within +-1e+07 m"),
        (
            {"m1": {"role": "piu", "x_m": 1.0, "y_m": 2.0, "height_m": -3.0}},
            "has height_m -3: from 0 to 10000 m",
        ),
    ],
)
def test_bad_graph_files_give_one_clear_error(tmp_path, bad, needle):
    """The schema reads no file: the file is checked when the world is built (and by
    ``netsim validate``), with one error that names the field."""
    _hall(tmp_path, **bad)
    with pytest.raises(ScenarioError) as info:
        preflight(load_scenario(_scenario(tmp_path, "hall.graphml")))
    message = str(info.value)
    assert "topology.path" in message and needle in message, message


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"topology.path = .*nope.graphml.*does not exist"):
        preflight(load_scenario(_scenario(tmp_path, "nope.graphml")))
    (tmp_path / "junk.graphml").write_text("<graphml><node")
    with pytest.raises(ScenarioError, match="is not a valid GraphML file"):
        preflight(load_scenario(_scenario(tmp_path, "junk.graphml")))


def test_duplicate_node_ids_are_an_error(tmp_path):
    path = tmp_path / "dup.graphml"
    path.write_text(
        '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<key id="r" for="node" attr.name="role" attr.type="string"/>'
        '<key id="x" for="node" attr.name="x_m" attr.type="double"/>'
        '<key id="y" for="node" attr.name="y_m" attr.type="double"/>'
        '<graph edgedefault="undirected">'
        '<node id="a"><data key="r">ap</data><data key="x">0</data><data key="y">0</data></node>'
        '<node id="b"><data key="r">piu</data><data key="x">5</data><data key="y">0</data></node>'
        '<node id="b"><data key="r">piu</data><data key="x">9</data><data key="y">0</data></node>'
        "</graph></graphml>"
    )
    with pytest.raises(ScenarioError, match="node id 'b' appears more than once"):
        preflight(load_scenario(_scenario(tmp_path, "dup.graphml")))
    (tmp_path / "dup.gml").write_text(
        'graph [ node [ id 0 label "a" role "ap" x_m 0 y_m 0 ]'
        ' node [ id 1 label "a" role "piu" x_m 5 y_m 0 ] ]'
    )
    with pytest.raises(ScenarioError, match="duplicated"):
        preflight(load_scenario(_scenario(tmp_path, "dup.gml")))


def test_validate_checks_the_file_and_the_counts_it_gives(tmp_path, capsys):
    from netsim.cli import main

    _hall(tmp_path, m1={"role": "router", "x_m": 1.0, "y_m": 2.0})
    assert main(["validate", _scenario(tmp_path, "hall.graphml")]) == 2
    err = capsys.readouterr().err
    assert "topology.path" in err and "node 'm1' has role 'router'" in err, err
    _hall(tmp_path)  # three PIUs: four per round is too many, known once the file is read
    path = _scenario(tmp_path, "hall.graphml")
    assert main(["validate", path, "--set", "protocol.clients_per_round=4"]) == 2
    assert "protocol.clients_per_round = 4" in capsys.readouterr().err
    assert main(["validate", path, "--set", "protocol.clients_per_round=3"]) == 0
