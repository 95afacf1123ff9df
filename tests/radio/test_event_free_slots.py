"""Slots run back to back without a SimPy event (issue 39) against one event per slot: the
same event log, to the bit, on random slot-scheduled networks (policies, Shannon and NR
links, multicast and unicast downlinks, TDMA and FDMA, power control, reuse 1 and 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netsim import Simulation, load_scenario
from netsim.radio.scheduler import OFDMAScheduler


def _scenario(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pick = lambda *options: options[int(rng.integers(len(options)))]  # noqa: E731
    pius = int(rng.integers(21, 64))  # on 7 sites x 3 sectors
    overrides = [
        f"seed={seed}", "protocol.rounds=2", 'learning.model="mlp"', "learning.local_steps=1",
        f"topology.num_pius={pius}",
        f"protocol.clients_per_round={max(1, pius // int(rng.integers(1, 3)))}",
        f'radio.scheduler="{pick("rr", "pf", "max_ci")}"',
        f'radio.link="{pick("shannon", "nr")}"',
        f'radio.downlink="{pick("multicast", "unicast")}"',
        f'radio.access="{pick("tdma", "fdma")}"',
        f"radio.reuse={pick(1, 3)}",
    ]  # fmt: skip
    if rng.random() < 0.5:
        overrides.append("radio.power_control = {p0_dbm = -80.0, alpha = 0.8}")
    return overrides


def _log(overrides: list[str], event_free: bool, monkeypatch) -> pd.DataFrame:
    monkeypatch.setattr(OFDMAScheduler, "event_free_slots", event_free)
    result = Simulation(load_scenario("hex_umi", overrides)).run()
    return result.events


@pytest.mark.parametrize("seed", range(6))
def test_event_free_slots_give_the_log_of_one_event_per_slot(seed, monkeypatch):
    overrides = _scenario(seed)
    slot_by_slot = _log(overrides, False, monkeypatch)
    event_free = _log(overrides, True, monkeypatch)
    assert len(slot_by_slot) > 20, overrides
    pd.testing.assert_frame_equal(event_free, slot_by_slot, check_exact=True, obj=str(overrides))


def test_a_timeout_after_event_free_slots_fires_at_exactly_the_slot_time():
    # SimPy fires a timeout at now + delay: after slots ran without events, now lags, and
    # delay = t - now need not land on t; the scheduler's delay does, to the bit
    import simpy

    rng = np.random.default_rng(3)
    scheduler = OFDMAScheduler.__new__(OFDMAScheduler)
    missed = 0
    for _ in range(1000):
        # slots from a first one within 10 ms, each a slot (0.25 - 1 ms) after the last,
        # run without events for up to 2,000 slots
        env = simpy.Environment(initial_time=float(rng.uniform(0, 1e-2)))
        slot_s, t = 1e-3 / float(rng.choice([1, 2, 4])), env.now
        for _ in range(int(rng.integers(1, 2000))):
            t += slot_s
        missed += env.now + (t - env.now) != t
        scheduler.env = env
        scheduler._timeout_at(t)
        env.run()
        assert env.now == t
    assert missed > 0  # the plain delay misses some (else this test shows nothing)
