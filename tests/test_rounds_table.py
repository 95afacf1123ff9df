"""The rounds table: each record is complete when it is made (the on_round callback gets
its energy and uplink bits), and the records add up to the event log."""

from __future__ import annotations

import math

import pytest

from netsim import Simulation
from tests.conftest import tiny


@pytest.mark.parametrize(
    "protocol",
    [
        {"rounds": 3, "deadline_s": 0.45},  # piu2 misses every deadline: its energy still counts
        {"mode": "fedbuff", "rounds": 3, "buffer_size": 2},
    ],
)
def test_on_round_gets_complete_records_that_add_up(protocol):
    seen = []
    res = Simulation(tiny(protocol=protocol), on_round=seen.append).run()
    assert [r.round for r in seen] == res.rounds["round"].tolist()
    for record, (_, row) in zip(seen, res.rounds.iterrows(), strict=True):
        assert math.isfinite(record.energy_j) and math.isfinite(record.uplink_bits)
        assert record.energy_j == row.energy_j and record.uplink_bits == row.uplink_bits
    e = res.events
    piu = e[(e.role == "piu") & (e.event != "harvest")]
    last = res.rounds.t_end_s.max()
    upto = piu[piu.t_s <= last]  # what happened by the last record
    assert res.rounds.energy_j.sum() == pytest.approx(upto.energy_j.sum(), rel=1e-12)
    delivered = upto[upto.event == "tx_end"].bits.sum()
    assert res.rounds.uplink_bits.sum() == pytest.approx(delivered, rel=1e-12)


def test_a_synchronous_round_holds_its_own_events():
    res = Simulation(tiny(protocol={"rounds": 3, "deadline_s": 0.45})).run()
    piu = res.events[res.events.role == "piu"]
    by_round = piu.groupby("round").energy_j.sum()
    for _, row in res.rounds.iterrows():
        assert row.energy_j == pytest.approx(by_round[row["round"]], rel=1e-12)
