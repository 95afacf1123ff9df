"""Settings the scenario as configured would never read, and settings the machine or the
band cannot hold, are refused before a run starts, with the field named (issue 36: each was
once accepted silently, or ran and trained nothing)."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from netsim.assembly import preflight
from netsim.assembly.checks import OVERSUBSCRIPTION
from netsim.assembly.radio_data import check_radio_dataset_memory
from netsim.cli import main
from netsim.scenario import ScenarioError, load_scenario
from netsim.scenario.base import ScenarioError as BaseScenarioError


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (['radio.combining="lsfd"'], "radio.combining = 'lsfd'"),
        (["radio.mcs_table=2"], "radio.mcs_table = 2"),
        (["radio.bler_target=0.3"], "radio.bler_target = 0.3"),
        (["radio.pilot_length=4"], "radio.pilot_length = 4"),
        (["radio.rician_k_db=9.0"], "radio.rician_k_db = 9.0"),
        (["backhaul.uplink_capacity_bps=1e6"], "backhaul.uplink_capacity_bps"),
        (["backhaul.mesh_neighbours=6"], "backhaul.mesh_neighbours = 6"),
        (["radio.reuse=4"], "radio.reuse = 4"),  # one AP: three of four channels unused
        (["learning.prox_mu=0.5"], "learning.prox_mu = 0.5"),  # FedAvg has no proximal term
        (['learning.algorithm="fedprox"', "learning.feddyn_alpha=0.1"], "learning.feddyn_alpha"),
    ],
)
def test_a_setting_with_no_effect_is_refused(overrides, needle):
    with pytest.raises(ScenarioError) as info:
        load_scenario(None, overrides)
    assert needle in str(info.value)


def test_at_its_default_an_unread_field_passes_so_resolved_files_load_again():
    scenario = load_scenario(None, ["radio.mcs_table=1", "backhaul.aps_per_switch=4"])
    assert load_scenario(None, []).to_toml() == scenario.to_toml()


def test_the_mesh_degree_and_reuse_are_held_to_the_aps():
    with pytest.raises(
        ScenarioError, match="backhaul.mesh_neighbours = 6 .*at most the other APs .3."
    ):
        load_scenario("multi_ap", ['backhaul.kind="mesh"', "backhaul.mesh_neighbours=6"])
    load_scenario("multi_ap", ['backhaul.kind="mesh"', "backhaul.mesh_neighbours=3"])
    with pytest.raises(ScenarioError, match="radio.reuse = 5"):
        load_scenario("multi_ap", ["radio.reuse=5"])


def test_background_traffic_from_a_node_to_itself_is_refused():
    flow = 'backhaul.background=[{src = "ap0", dst = "ap0", rate_bps = 1e6}]'
    with pytest.raises(ScenarioError, match=r"background\[0\].dst = 'ap0'"):
        load_scenario("multi_ap", ['backhaul.kind="tree"', flow])


def test_less_than_one_resource_block_is_refused():
    with pytest.raises(ScenarioError, match="at least one resource block"):
        load_scenario(None, ['radio.link="nr"', "radio.bandwidth_hz=1e5"])
    with pytest.raises(ScenarioError, match="at least one resource block"):
        load_scenario(
            None, ['radio.scheduler="pf"', "radio.numerology=3", "radio.bandwidth_hz=1e6"]
        )


def test_nr_fdma_with_more_pius_than_resource_blocks_is_refused_and_writes_nothing(
    tmp_path, capsys
):
    out = tmp_path / "run"
    sets = ['radio.link="nr"', 'radio.access="fdma"', "radio.bandwidth_hz=1e6",
            "topology.num_pius=12", "protocol.rounds=1"]  # fmt: skip
    argv = ["run", "--out", str(out), "--quiet"] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 2
    assert "too narrow for FDMA on NR links: an AP serves 12 PIUs" in capsys.readouterr().err
    assert not out.exists()


def test_hierarchy_target_edges_above_the_edge_servers_is_refused():
    with pytest.raises(BaseScenarioError, match="hierarchy.target_edges = 9: at most"):
        preflight(load_scenario("three_tier", ["hierarchy.target_edges=9"]))


def test_a_local_pool_larger_than_the_machine_is_refused():
    import os

    cores = len(os.sched_getaffinity(0))
    sets = ['learning.backend="processes"', f"learning.workers={OVERSUBSCRIPTION * cores + 1}"]
    with pytest.raises(BaseScenarioError, match="learning.workers = .*: at most"):
        preflight(load_scenario(None, sets))


def test_a_radio_data_set_too_large_for_memory_is_refused_naming_samples_per_piu():
    with pytest.raises(BaseScenarioError, match="samples_per_piu = 1000000 .*at most about 5000"):
        # 20 PIUs, 2 APs: 12 columns of 100 bytes a cell -> 24 kB a sample
        check_radio_dataset_memory(20, 2, 1_000_000, available=5000 * 20 * 12 * 100)
    check_radio_dataset_memory(20, 2, 5000, available=5000 * 20 * 12 * 100)


def test_two_servers_in_a_topology_file_are_refused(tmp_path):
    g = nx.Graph()
    g.add_node("s1", role="server", x_m=0.0, y_m=0.0)
    g.add_node("s2", role="server", x_m=5.0, y_m=0.0)
    g.add_node("a", role="ap", x_m=1.0, y_m=1.0)
    g.add_node("p", role="piu", x_m=2.0, y_m=2.0)
    g.add_edge("s1", "a", capacity_bps=1e9, latency_s=1e-3)
    g.add_edge("s2", "a", capacity_bps=1e9, latency_s=1e-3)
    nx.write_graphml(g, tmp_path / "two.graphml")
    topo = f'topology={{kind = "file", path = "{tmp_path / "two.graphml"}"}}'
    with pytest.raises(BaseScenarioError, match="2 nodes with role 'server' .s1, s2."):
        preflight(load_scenario(None, [topo]))


@pytest.mark.parametrize("kind", ["folder", "long"])
def test_a_data_path_that_is_a_folder_or_too_long_is_named_as_such(tmp_path, kind):
    if kind == "folder":
        path, needle = tmp_path / "t_dir.csv", "is a folder; expected a file"
        path.mkdir()
    else:
        path, needle = tmp_path / ("x" * 300 + ".csv"), "cannot be read"
    sets = ['learning.dataset="file"', f'learning.data_path="{path}"']
    with pytest.raises(BaseScenarioError, match=needle):
        preflight(load_scenario(None, sets))


def test_a_radio_file_with_nan_positions_is_refused(tmp_path):
    from netsim.learn.radio_tasks import RadioDataError, radio_task

    frame = pd.DataFrame(
        {"piu": [0, 0], "sample": [0, 1], "split": ["train", "test"], "x_m": [1.0, float("nan")],
         "y_m": [0.0, 1.0], "serving_ap": [0, 0], "snr_db": [3.0, 4.0],
         "rss_dbm_0": [-70.0, -71.0], "los_0": [True, False]}
    )  # fmt: skip
    with pytest.raises(RadioDataError, match="row 1 has no finite value in column 'x_m'"):
        radio_task(frame, "localization", 2)


def test_a_download_or_an_upload_the_timeline_cannot_afford_is_refused():
    """A download that would take more than a day (the AP at -150 dBm), or an upload over a
    million fading blocks (1 kHz of band, 10 us coherence), is refused before the run
    instead of stepping through billions of blocks (found by tests/test_input_extremes.py)."""
    from netsim import Simulation
    from tests.conftest import tiny

    with pytest.raises(BaseScenarioError, match=r"radio.ap_tx_power_dbm = -150: the model's"):
        Simulation(tiny(radio={**tiny().radio.model_dump(), "ap_tx_power_dbm": -150.0}))
    radio = {**tiny().radio.model_dump(), "fading": "rayleigh", "coherence_time_s": 1e-5,
             "bandwidth_hz": 1e3}  # fmt: skip
    with pytest.raises(BaseScenarioError, match=r"radio.coherence_time_s = 1e-05: .* fading"):
        Simulation(tiny(radio=radio))
