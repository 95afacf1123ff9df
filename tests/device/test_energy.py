"""Battery ledger: exact energy conservation; skipping and leaving at the right round."""

from __future__ import annotations

import math

import pytest

from netsim import Simulation
from netsim.device.battery import Battery
from tests.conftest import LINE_POSITIONS, snr_linear, tiny

MODEL_BITS = 32 * 55_210


def _check_conservation(res):
    ev = res.events
    for name, initial in res.initial_battery_j.items():
        rows = ev[ev["node"] == name]
        spent = math.fsum(rows["energy_j"].dropna())
        final = res.final_battery_j[name]
        assert initial - spent == pytest.approx(final, rel=1e-12, abs=1e-12), name
        levels = rows["battery_j"].dropna()
        if len(levels):
            assert levels.iloc[-1] == pytest.approx(final, rel=1e-12, abs=1e-15)
            assert (levels.diff().dropna() <= 0).all()  # no harvesting: never grows


def test_energy_is_conserved_with_fading_stragglers_and_deadlines():
    scenario = tiny(
        radio={**tiny().radio.model_dump(), "fading": "rayleigh", "shadowing_std_db": 6.0},
        device={
            **tiny().device.model_dump(),
            "battery_j": 3.0,
            "straggler": {"dist": "lognormal", "sigma": 0.8},
        },
        protocol={"rounds": 6, "deadline_s": 0.35},
    )
    res = Simulation(scenario).run()
    ev = res.events
    assert (ev["event"] == "abort").any()  # the deadline really interrupted someone
    _check_conservation(res)


def _round_energy(k: int, scenario) -> float:
    compute_j = 1e-28 * 2.5e7 * 4 * 1e9**2  # kappa C S f^2 = 1e-2 J
    airtime = MODEL_BITS / (
        1e6 * math.log2(1 + snr_linear(math.hypot(*LINE_POSITIONS[k]), 20.0, scenario))
    )
    return compute_j + 0.1 * airtime  # p = 20 dBm = 0.1 W


def test_a_pius_with_a_tiny_battery_skips_from_the_right_round():
    base = tiny()
    per_round = _round_energy(2, base)
    # Enough for exactly two rounds and a half: rounds 0 and 1, then it must skip.
    battery = 2.5 * per_round
    scenario = tiny(
        device={**base.device.model_dump(), "battery_j": battery}, protocol={"rounds": 4}
    )
    res = Simulation(scenario).run()
    ev = res.events
    piu2 = ev[ev["node"] == "piu2"]
    trained = sorted(set(piu2[piu2["event"] == "train_end"]["round"]))
    skipped = sorted(set(piu2[piu2["event"] == "skip"]["round"]))
    assert trained == [0, 1]
    assert skipped == [2, 3]
    assert res.final_battery_j["piu2"] == pytest.approx(battery - 2 * per_round, rel=1e-12)
    # Every PIU by hand: it trains while its battery covers a round's energy.
    expected_skips = [0] * 4
    for k in range(3):
        level = battery
        for r in range(4):
            if level >= _round_energy(k, base):
                level -= _round_energy(k, base)
            else:
                expected_skips[r] += 1
    assert list(res.rounds["skipped"]) == expected_skips
    _check_conservation(res)


def test_a_pius_whose_battery_empties_mid_transmission_leaves():
    # With Rayleigh fading the real airtime differs from the mean-SNR plan; give every PIU
    # barely one planned round so that some run dry on the air and leave for good.
    base = tiny(radio={**tiny().radio.model_dump(), "fading": "rayleigh"})
    budgets = [_round_energy(k, base) * 1.0001 for k in range(3)]
    seen_empty = False
    for seed in range(12):
        scenario = tiny(
            seed=seed,
            radio=base.radio.model_dump(),
            device={**base.device.model_dump(), "battery_j": max(budgets)},
            protocol={"rounds": 4},
        )
        res = Simulation(scenario).run()
        ev = res.events
        _check_conservation(res)
        for name in res.initial_battery_j:
            rows = ev[ev["node"] == name]
            empty = rows[rows["event"] == "battery_empty"]
            if len(empty):
                seen_empty = True
                assert res.final_battery_j[name] == 0.0
                assert rows.index[-1] == empty.index[-1]  # nothing after leaving
                later = ev[
                    (ev["event"] == "rx_model")
                    & (ev["node"] == name)
                    & (ev["round"] > empty["round"].item())
                ]
                assert later.empty
    assert seen_empty


def test_battery_draw_never_goes_negative():
    b = Battery(1.0)
    assert b.draw(0.4) == 0.4
    assert b.draw(5.0) == pytest.approx(0.6)
    assert b.level_j == 0.0
    assert Battery(math.inf).draw(1e9) == 1e9
