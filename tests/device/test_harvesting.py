"""Energy harvesting: closed-form integrals, the per-PIU ledger, energy-aware participation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from netsim.analysis import load_run
from scipy.integrate import quad

from netsim import Simulation
from netsim.device.harvesting import Harvester
from netsim.rng import Streams
from netsim.scenario import ScenarioError
from tests.conftest import tiny


def test_periodic_harvest_is_the_integral_of_the_half_sine():
    h = Harvester("periodic", power_w=2.0, interval_s=0.7, period_s=3.0)
    w = 2 * math.pi / 3.0
    for i in range(12):  # intervals that cross the day/night edges and whole periods
        t0, t1 = i * 0.7, (i + 1) * 0.7
        exact, _ = quad(lambda t: 2.0 * max(0.0, math.sin(w * t)), t0, t1, limit=200)
        assert h.energy_j(i) == pytest.approx(exact, abs=1e-9)


def test_constant_and_random_harvest():
    assert Harvester("constant", 0.5, 0.2).energy_j(7) == pytest.approx(0.1)
    h = Harvester("random", 0.5, 0.2, streams=Streams(4), piu=1)
    n = 20_000
    draws = np.array([h.energy_j(i) for i in range(n)])
    mean = 0.5 * 0.2  # exponential: sd = mean, so the sample mean has sd mean / sqrt(n)
    assert draws.mean() == pytest.approx(mean, abs=5 * mean / math.sqrt(n))
    assert h.energy_j(3) == h.energy_j(3)  # keyed by interval: recomputable


def _harvesting(rounds=6, battery_j=0.05, power_w=0.02, reserve_j=0.0, kind="constant"):
    device = {
        "battery_j": battery_j,
        "reserve_j": reserve_j,
        "harvesting": {"kind": kind, "power_w": power_w, "interval_s": 0.1},
    }
    return Simulation(tiny(device=device, protocol={"rounds": rounds})).run()


@pytest.mark.parametrize("kind", ["constant", "random"])
def test_harvested_plus_initial_minus_spent_is_the_final_battery(kind):
    res = _harvesting(kind=kind)
    e = res.events[res.events.role == "piu"]
    harvest = e[e.event == "harvest"]
    assert len(harvest) > 0
    for node in ["piu0", "piu1", "piu2"]:
        mine = e[e.node == node]
        spent = mine[mine.event != "harvest"].energy_j.sum()
        harvested = res.harvested_j[node]
        assert -mine[mine.event == "harvest"].energy_j.sum() == pytest.approx(harvested, abs=1e-15)
        initial, final = res.initial_battery_j[node], res.final_battery_j[node]
        assert harvested + initial - spent == pytest.approx(final, abs=1e-12)
        assert final <= initial + 1e-15  # never above the capacity
    if kind == "constant":  # a full battery wastes the rest: stored <= P t
        elapsed = harvest.t_s.max()
        assert max(res.harvested_j.values()) <= 0.02 * elapsed + 1e-12
    # spending excludes harvesting
    assert res.total_energy_j == pytest.approx(e[e.event != "harvest"].energy_j.sum())


def test_energy_aware_participation_keeps_the_reserve():
    reserve = 0.015
    res = _harvesting(rounds=10, battery_j=0.04, power_w=0.02, reserve_j=reserve)
    e = res.events
    skips = e[(e.event == "skip")]
    assert len(skips) > 0  # the reserve bites
    need = {}  # a PIU's predicted round energy (no fading: the same every round)
    for _, row in skips.iterrows():
        need[row.node] = float(row.detail.split()[1])
        assert row.battery_j < need[row.node] + reserve
    # whoever trained could pay its round and keep the reserve: its level before training
    # is the level logged by its last event before (the full battery before any)
    trained = e[e.event == "train_start"]
    for _, row in trained.iterrows():
        before = e[(e.node == row.node) & (e.index < row.name) & e.battery_j.notna()]
        level = before.battery_j.iloc[-1] if len(before) else 0.04
        assert level >= need[row.node] + reserve
    # harvesting brings skipping PIUs back
    first_skip = skips.groupby("node").t_s.min()
    for node, t in first_skip.items():
        assert ((trained.node == node) & (trained.t_s > t)).any()


def test_harvesting_needs_a_finite_battery():
    with pytest.raises(ScenarioError, match="device.harvesting.kind = 'constant'"):
        tiny(device={"harvesting": {"kind": "constant", "power_w": 1.0}})


def test_the_run_directorys_energy_table_separates_spending_and_harvest(tmp_path):
    res = _harvesting()
    table = load_run(res.save(tmp_path / "run")).energy_per_piu()
    for node, row in table.iterrows():
        assert res.harvested_j[node] == pytest.approx(row.harvested, abs=1e-15)
        balance = res.initial_battery_j[node] + row.harvested - row.total
        assert balance == pytest.approx(res.final_battery_j[node], abs=1e-12)
