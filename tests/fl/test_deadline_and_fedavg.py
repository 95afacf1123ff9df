"""FedAvg on hand-built tensors; the deadline drops exactly the late PIUs."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from netsim import Simulation
from netsim.fl.aggregation import fedavg, fedavg_weights
from tests.conftest import tiny


def test_fedavg_hand_built():
    w = torch.tensor([1.0, 2.0, 3.0])
    deltas = [torch.tensor([1.0, 0.0, -1.0]), torch.tensor([-2.0, 4.0, 0.0])]
    # weights 100/400 and 300/400: delta = [0.25 - 1.5, 0 + 3, -0.25 + 0] = [-1.25, 3, -0.25]
    out = fedavg(w, deltas, [100, 300])
    assert out.tolist() == [-0.25, 5.0, 2.75]
    assert out.dtype == torch.float32


def test_fedavg_without_updates_keeps_the_model():
    w = torch.tensor([1.0, -1.0])
    assert torch.equal(fedavg(w, [], []), w)


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=50))
def test_fedavg_weights_sum_to_one(sizes):
    phi = fedavg_weights(sizes)
    assert math.fsum(phi) == pytest.approx(1.0, abs=1e-12)
    assert all(p > 0 for p in phi)


def _arrivals(scenario):
    res = Simulation(scenario).run()
    ev = res.events
    rx = ev[ev["event"] == "rx_update"]
    return {d: t for d, t in zip(rx["detail"], rx["t_s"], strict=True)}


def test_deadline_drops_exactly_the_pius_that_finish_after_it():
    arrivals = _arrivals(tiny())  # no deadline: everybody arrives
    assert sorted(arrivals) == ["piu0", "piu1", "piu2"]
    times = sorted(arrivals.values())
    deadline = (times[0] + times[1]) / 2  # between the first and the second arrival
    res = Simulation(tiny(protocol={"rounds": 1, "deadline_s": deadline})).run()
    ev = res.events
    late = sorted(k for k, t in arrivals.items() if t > deadline)
    missed = ev[ev["event"] == "deadline_miss"]
    assert sorted(missed["detail"]) == late
    assert list(missed["t_s"]) == pytest.approx([deadline] * len(late))
    got = ev[ev["event"] == "rx_update"]["detail"].tolist()
    assert got == [k for k in sorted(arrivals) if arrivals[k] <= deadline]
    r = res.rounds.iloc[0]
    assert (r["aggregated"], r["dropped"]) == (1, 2)
    # The aggregation starts at the deadline, not when the last straggler would have arrived.
    assert r["t_end_s"] == pytest.approx(deadline + 0.01)


def test_an_update_arriving_exactly_at_the_deadline_is_on_time():
    arrivals = _arrivals(tiny())
    deadline = arrivals["piu1"]  # piu1's arrival time, to the last bit
    res = Simulation(tiny(protocol={"rounds": 1, "deadline_s": deadline})).run()
    missed = res.events[res.events["event"] == "deadline_miss"]
    assert missed["detail"].tolist() == ["piu2"]
    assert res.rounds["aggregated"].iloc[0] == 2


def test_aborted_pius_are_charged_only_for_what_they_did():
    arrivals = _arrivals(tiny())
    # Just before the first arrival: piu0's update is on the backhaul, piu1 is transmitting
    # and piu2 waits for the TDMA slot.
    deadline = sorted(arrivals.values())[0] - 0.0005
    res = Simulation(tiny(protocol={"rounds": 2, "deadline_s": deadline})).run()
    ev = res.events
    aborts = ev[(ev["event"] == "abort") & (ev["round"] == 0)]
    assert sorted(zip(aborts["node"], aborts["detail"], strict=True)) == [
        ("piu1", "tx"),
        ("piu2", "queue"),
    ]
    # piu0's update was already on the backhaul: it arrives late and is discarded.
    discard = ev[ev["event"] == "discard"]
    assert discard["detail"].tolist() == ["piu0 update of round 0"]
    # An abort during a transmission charges p * (time transmitted so far).
    for _, row in aborts[aborts["detail"] == "tx"].iterrows():
        assert row["energy_j"] == pytest.approx(0.1 * row["duration_s"], rel=1e-12)
    # Queued PIUs are charged nothing.
    assert (aborts[aborts["detail"] == "queue"]["energy_j"] == 0).all()
    # Round 1 starts fresh for every PIU (nobody is stuck in round 0's work).
    assert (ev[(ev["round"] == 1) & (ev["event"] == "rx_model")]["node"].nunique()) == 3
