"""Numbers are checked: NaN and infinities, out-of-range physical quantities, lax types
(true as 1, 1e9 as an integer, "5" as a number) and runs too large for the machine's memory
are refused with a message naming the field, before anything is written."""

from __future__ import annotations

import math

import pytest

from netsim.assembly.memory import check_memory, estimate, model_size
from netsim.cli import main
from netsim.scenario import ScenarioError, load_scenario


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("radio.pathloss.ref_loss_db=nan", "radio.pathloss.ref_loss_db = nan"),
        ("radio.bandwidth_hz=inf", "radio.bandwidth_hz = inf"),
        ("device.cpu_hz=-inf", "device.cpu_hz"),
        ("device.tx_power_dbm=1e6", "device.tx_power_dbm = 1000000.0"),
        ("radio.ap_tx_power_dbm=-1e6", "radio.ap_tx_power_dbm"),
        ("radio.rician_k_db=1e4", "radio.rician_k_db"),
        ("topology.num_pius=1e9", "topology.num_pius = 1000000000.0"),
        ("protocol.rounds=true", "protocol.rounds = True"),
        ("protocol.rounds=2.5", "protocol.rounds = 2.5"),
        ('protocol.rounds="5"', "protocol.rounds = '5'"),
        ("ota.enabled=1", "ota.enabled = 1"),
        ("attack.pius=[0, true]", "attack.pius.1 = True"),
        ("device.battery_j=nan", "device.battery_j = nan"),
        ("device.battery_j=-inf", "device.battery_j"),
    ],
)
def test_bad_numbers_are_refused_with_the_field(override, needle):
    with pytest.raises(ScenarioError) as info:
        load_scenario(None, [override])
    assert needle in str(info.value), str(info.value)


def test_infinite_battery_means_mains_powered():
    assert math.isinf(load_scenario(None, ["device.battery_j=inf"]).device.battery_j)


def test_a_nan_run_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--set", "radio.pathloss.ref_loss_db=nan", "--out", str(out), "--quiet"])
    assert code == 2
    assert "ref_loss_db = nan" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_memory_estimate_by_hand():
    scenario = load_scenario(
        None, ["topology.num_pius=1000", "protocol.clients_per_round=100", "protocol.rounds=10"]
    )
    p = model_size(scenario)
    # LeNet-5 on 28 x 28: conv 156 + 2,416, fc 400 x 120 + 120, 120 x 84 + 84, 84 x 10 + 10
    assert p == 156 + 2_416 + 48_120 + 10_164 + 850
    need = estimate(scenario, p, 1000, 1)
    assert need.updates_bytes == 100 * p * 4  # 100 float32 deltas held until aggregation
    assert need.entities_bytes == 1000 * (12 * 1024 + 32)  # one AP
    assert need.log_bytes == 1000 * 10 * 8 * 256
    assert need.piu_state_bytes == 0
    # SCAFFOLD keeps c_k and an upload's Delta c_k per PIU, FedDyn g_k: float32 vectors
    plain_sgd = ['learning.algorithm="scaffold"', "learning.optimizer.momentum=0"]
    scaffold = estimate(scenario.with_overrides(plain_sgd), p, 1000, 1)
    assert scaffold.piu_state_bytes == 1000 * 2 * p * 4
    feddyn = estimate(scenario.with_overrides(['learning.algorithm="feddyn"']), p, 1000, 1)
    assert feddyn.piu_state_bytes == 1000 * p * 4


def test_a_run_too_large_for_memory_is_refused_before_it_starts(capsys):
    scenario = load_scenario(None, ["topology.num_pius=100000"])
    with pytest.raises(ScenarioError, match=r"needs about .* GB of memory and 1 GB are available"):
        check_memory(scenario, 100_000, 1, available=1_000_000_000)
    check_memory(load_scenario(), 10, 1, available=1_000_000_000)  # the default fits
    # beyond the schema's own bound: refused by the field's range before any estimate
    assert main(["validate", "--set", "topology.num_pius=1000000000"]) == 2
    assert "topology.num_pius = 1000000000" in capsys.readouterr().err
