"""Scenario validation: every bad value gets one message naming field, value and what is allowed."""

from __future__ import annotations

import pytest

from netsim.assembly import preflight
from netsim.scenario import Scenario, ScenarioError, default_scenario_path, load_scenario


def _error(overrides: list[str]) -> str:
    """The message of a scenario refused by the schema or, for what needs files and
    registries, by the assembly layer's checks (``netsim validate`` runs both)."""
    with pytest.raises(ScenarioError) as info:
        preflight(load_scenario(None, overrides))
    return str(info.value)


def test_default_scenario_is_valid_and_round_trips(tmp_path):
    scenario = load_scenario()
    path = tmp_path / "resolved.toml"
    path.write_text(scenario.to_toml())
    assert load_scenario(path) == scenario


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("radio.bandwidth_hz=-5", ["radio.bandwidth_hz", "-5", "greater than or equal to 1000"]),
        ("learning.model='resnet9000'", ["learning.model", "resnet9000", "lenet5", "mlp"]),
        ("protocol.deadline_s=0", ["protocol.deadline_s", "= 0", "greater than 0"]),
        (
            "radio.bandwith_hz=1e6",
            ["radio.bandwith_hz", "unknown field", "did you mean 'bandwidth_hz'"],
        ),
        ("radio.access='cdma'", ["radio.access", "cdma", "'tdma', 'fdma' or 'cellfree'"]),
        (
            "radio.pathloss.model='umi'",
            ["radio.pathloss.model", "umi", "log_distance", "macro_36814"],
        ),
        ("radio.pathloss.exponentt=3", ["radio.pathloss.exponentt", "did you mean 'exponent'"]),
        ("device.straggler.dist='lognormal'", []),  # valid: sigma has a default
        ("device.straggler.sigma=-1", ["device.straggler.sigma", "-1"]),
        ("protocol.rounds=0", ["protocol.rounds", "greater than or equal to 1"]),
        (
            "protocol.clients_per_round=11",
            ["protocol.clients_per_round", "11", "at most the number of PIUs (10)"],
        ),
        ("learning.dataset='cifar'", ["learning.dataset", "cifar", "mnist5k"]),
        ("learning.dataset='digits'", ["learning.model", "lenet5", "8x8"]),
        ("learning.partition.kind='dirichlet'", []),
        (
            "learning.partition={kind='dirichlet', alpha=0}",
            ["learning.partition.alpha", "greater than 0"],
        ),
        ("learning.partition.alpha=0.5", ["learning.partition.alpha", "unknown field", "kind"]),
        ("learning.device='tpu'", ["learning.device", "tpu", "'cpu'"]),
        ("topology.num_pius='ten'", ["topology.num_pius", "ten", "integer"]),
        ("topology.min_distance_m=300", ["min_distance_m", "300", "radius_m"]),
        ("seed=-1", ["seed", "-1"]),
        ("device.battery_j=nan", ["device.battery_j", "nan"]),
    ],
)
def test_bad_values_name_field_value_and_allowed(override, needles):
    if not needles:
        load_scenario(None, [override])  # must not raise
        return
    message = _error([override])
    for needle in needles:
        assert needle in message, (needle, message)


def test_all_errors_are_reported_at_once():
    message = _error(["radio.bandwidth_hz=-1", "learning.model='x'"])
    assert "radio.bandwidth_hz" in message and "learning.model" in message


def test_a_bundled_scenario_loads_by_name(tmp_path, monkeypatch):
    from netsim.scenario import bundled_scenarios

    names = bundled_scenarios()
    assert {"default", "iiot_ota", "cellfree"} <= set(names)
    assert load_scenario("iiot_ota").name == "iiot_ota"
    monkeypatch.chdir(tmp_path)  # a file of that name in the working directory wins
    (tmp_path / "iiot_ota").write_text('name = "mine"\n')
    assert load_scenario("iiot_ota").name == "mine"
    listed = r"does not exist \(bundled scenarios: [a-z_, ]*cellfree, "
    with pytest.raises(ScenarioError, match=listed):
        load_scenario("iiot")


def test_missing_file_and_directory_and_bad_toml(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[radio\nbandwidth_hz = 1")
    with pytest.raises(ScenarioError, match=r"bad.toml' is not valid TOML.*line 1"):
        load_scenario(bad)


def test_missing_required_field_in_a_variant(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[topology]\nkind = "explicit"\nap_positions_m = [[0.0, 0.0]]\n')
    with pytest.raises(ScenarioError, match=r"topology.piu_positions_m: required field is missing"):
        load_scenario(f)


@pytest.mark.parametrize("bad", ["noequals", "=5", "a..b=1", "radio.bandwidth_hz.x=1"])
def test_malformed_overrides(bad):
    with pytest.raises(ScenarioError, match="--set"):
        load_scenario(None, [bad])


def test_override_values_are_typed_like_toml():
    s = load_scenario(
        None,
        ["protocol.deadline_s=1.5", "learning.local_steps=10", "radio.access=fdma", "name=my run"],
    )
    assert s.protocol.deadline_s == 1.5 and s.learning.local_steps == 10
    assert s.radio.access == "fdma" and s.name == "my run"


def test_scenario_is_frozen():
    s = Scenario()
    with pytest.raises(Exception, match="frozen"):
        s.seed = 3  # type: ignore[misc]


def test_bundled_default_path_exists():
    assert default_scenario_path().is_file()


def test_an_unusable_link_budget_is_a_clear_scenario_error():
    from netsim import Simulation

    scenario = load_scenario(None, ["topology.radius_m=5e6", "protocol.rounds=1"])
    with pytest.raises(ScenarioError, match=r"piu\d+'s uplink is unusable: mean SNR -\d+"):
        Simulation(scenario)


def test_per_piu_pruning_conflicts_are_named():
    rewind = _error(['pruning={method = "imp", scope = "piu", rewind = true}'])
    assert "pruning.rewind = True" in rewind and "scope = 'piu'" in rewind
    ota = _error(
        ["ota.enabled=true", 'pruning={method = "imp", scope = "piu"}', 'radio.access="fdma"']
    )
    assert "pruning.scope = 'piu'" in ota and "ota.enabled" in ota
    adaquant = _error(['control.kind="adaquantfl"'])
    assert "control.kind = 'adaquantfl'" in adaquant and "qsgd" in adaquant


def test_the_schema_knows_the_registries_names():
    """The schema imports no implementation: its name lists must match the registries."""
    from netsim.models import MODELS

    from netsim.learn.datasets import DATASETS
    from netsim.learn.radio_tasks import RADIO_TASKS
    from netsim.scenario.learning import (
        DATASET_NAMES,
        DATASETS_READ_FROM_PATH,
        MODEL_NAMES,
        RADIO_TASK_NAMES,
    )

    # "file": a user's own data file; "radio": generated by the simulator
    assert set(DATASET_NAMES) == set(DATASETS) | {"file", "radio"}
    assert set(MODEL_NAMES) == set(MODELS)
    assert RADIO_TASK_NAMES == RADIO_TASKS
    assert set(DATASETS_READ_FROM_PATH) == {n for n, d in DATASETS.items() if d.needs_path}


def test_an_error_lists_the_keys_that_name_no_field():
    with pytest.raises(ScenarioError) as info:
        load_scenario(None, ["radio.bandwith_hz=1e6", "protocol.rounds=0"])
    assert info.value.unknown_fields == ("radio.bandwith_hz",)
    with pytest.raises(ScenarioError) as info:
        load_scenario(None, ["protocol.rounds=0"])
    assert info.value.unknown_fields == ()
