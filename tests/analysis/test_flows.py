"""The per-flow table (FlowMonitor-like): one row per transfer, by hand and against a run's log."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from netsim.analysis import flow_table, load_run

from netsim import Simulation
from netsim.log import FLOW_COLUMNS, Event, events_frame
from tests.conftest import tiny


def _e(t, r, node, event, **kw):
    role = "piu" if node.startswith("piu") else "ap"
    return Event(t, r, node, role, event, **kw)


def test_two_uplinks_by_hand():
    # piu0: trained at 1.0, an attempt of 0.5 s lost in outage, a second delivered at 2.5;
    # piu1: trained at 1.0, queued to 1.2, delivered in 0.4 s
    events = events_frame([
        _e(1.0, 0, "piu0", "train_end"),
        _e(1.0, 0, "piu1", "train_end"),
        _e(1.2, 0, "piu1", "tx_start", bits=2000.0, duration_s=0.4, peer="ap0"),
        _e(1.5, 0, "piu0", "tx_start", bits=1000.0, duration_s=0.5, peer="ap0"),
        _e(1.6, 0, "piu1", "tx_end", bits=2000.0, duration_s=0.4, energy_j=0.05, peer="ap0"),
        _e(2.0, 0, "piu0", "tx_fail", bits=1000.0, duration_s=0.5, energy_j=0.1,
           peer="ap0", reason="outage"),
        _e(2.0, 0, "piu0", "tx_start", bits=1000.0, duration_s=0.5, peer="ap0"),
        _e(2.5, 0, "piu0", "tx_end", bits=1000.0, duration_s=0.5, energy_j=0.1, peer="ap0"),
    ])  # fmt: skip
    flows = flow_table(events)
    assert list(flows.columns) == FLOW_COLUMNS
    one, zero = flows.iloc[0], flows.iloc[1]  # in the order they started
    assert (one.src, one.dst, one.piu, one.kind) == ("piu1", "ap0", "piu1", "uplink")
    assert one.throughput_bps == pytest.approx(2000 / 0.4, rel=1e-12)
    assert one.delay_s == pytest.approx(0.6, rel=1e-12) and one.ready_s == 1.0
    assert (one.attempts, one.outcome) == (1, "delivered")
    # the retransmission belongs to the same flow: 2 attempts, 1 s, 1000 bit/s
    assert (zero.attempts, zero.start_s, zero.end_s) == (2, 1.5, 2.5)
    assert zero.throughput_bps == pytest.approx(1000.0, rel=1e-12)
    assert zero.airtime_s == pytest.approx(1.0) and zero.energy_j == pytest.approx(0.2)
    assert zero.delay_s == pytest.approx(1.5) and zero.outcome == "delivered"
    assert flows[["tb_count", "harq_retx", "rlc_retx", "first_tx_fail"]].isna().all().all()


def test_an_nr_flow_adds_up_its_attempts_blocks_and_retransmissions():
    events = events_frame([
        _e(0.0, 0, "piu0", "tx_start", bits=1000.0, peer="ap0"),
        _e(0.1, 0, "piu0", "tx_fail", bits=1000.0, duration_s=0.1, peer="ap0", reason="rlc",
           tb_count=3, harq_retx=9, rlc_retx=8, first_tx_fail=3),
        _e(0.2, 0, "piu0", "tx_start", bits=1000.0, peer="ap0"),
        _e(0.3, 0, "piu0", "tx_end", bits=1000.0, duration_s=0.1, peer="ap0",
           tb_count=2, harq_retx=1, rlc_retx=0, first_tx_fail=1),
        _e(0.0, 0, "ap0", "dl_start", bits=300.0),
        _e(0.2, 0, "ap0", "dl_end", bits=300.0, tb_count=4, harq_retx=2, rlc_retx=1,
           first_tx_fail=2),
    ])  # fmt: skip
    flows = flow_table(events).set_index("src")
    up, down = flows.loc["piu0"], flows.loc["ap0"]
    assert (up.attempts, up.tb_count, up.harq_retx, up.rlc_retx, up.first_tx_fail) == (
        2, 5, 10, 8, 4
    )  # fmt: skip
    assert (down.tb_count, down.harq_retx, down.rlc_retx, down.first_tx_fail) == (4, 2, 1, 2)


def test_lost_aborted_and_open_flows_say_why():
    events = events_frame([
        _e(0.0, 0, "piu0", "tx_start", bits=100.0, peer="ap0"),
        _e(0.1, 0, "piu0", "tx_fail", bits=100.0, duration_s=0.1, energy_j=0.01,
           peer="ap0", reason="outage"),
        _e(0.0, 0, "piu1", "tx_start", bits=100.0, peer="ap0"),
        Event(0.05, 0, "piu1", "piu", "abort", duration_s=0.05, energy_j=0.005,
              activity="tx", reason="deadline"),
        _e(0.0, 0, "ap0", "dl_start", bits=300.0),
        _e(0.2, 0, "ap0", "dl_fail", bits=300.0, peer="piu3", reason="harq"),  # a recipient
        _e(0.3, 1, "piu0", "tx_start", bits=100.0, peer="ap0"),  # a new round: round 0 lost
    ])  # fmt: skip
    flows = flow_table(events).set_index(["src", "round"])
    assert flows.loc[("piu0", 0), "outcome"] == "lost"
    assert flows.loc[("piu0", 0), "reason"] == "outage"
    assert flows.loc[("piu1", 0), "outcome"] == "aborted"
    assert flows.loc[("piu1", 0), "reason"] == "deadline"
    assert flows.loc[("piu1", 0), "energy_j"] == pytest.approx(0.005)
    assert (
        flows.loc[("ap0", 0), "outcome"] == "lost" and flows.loc[("ap0", 0), "dst"] == "multicast"
    )
    assert flows.loc[("piu0", 1), "outcome"] == "open" and math.isnan(
        flows.loc[("piu0", 1), "end_s"]
    )
    assert flows["throughput_bps"].isna().all()  # nothing was delivered


def test_a_runs_flows_add_up_to_its_log_and_are_in_its_directory(tmp_path):
    # packet errors (fixed rate, retransmissions) and a deadline that cuts some uploads
    scenario = tiny(
        protocol={"rounds": 3, "deadline_s": 0.8},
        radio={"target_rate_bps": 2e7, "max_retransmissions": 2},
    )
    result = Simulation(scenario).run()
    flows, e = result.flows, result.events
    up = flows[flows.kind == "uplink"]
    assert set(up.outcome) == {"delivered", "lost", "aborted"}
    # bits: exactly the tx_end rows'; energy: every transmission energy the PIUs drew (the
    # same float64 terms summed in another grouping: within its rounding)
    delivered = up[up.outcome == "delivered"]
    assert delivered.bits.sum() == e[e.event == "tx_end"].bits.sum()
    cut_short = e.event.isin(["abort", "battery_empty"]) & (e.activity == "tx")
    drawn = e[e.event.isin(["tx_end", "tx_fail"]) | cut_short]
    total = math.fsum(drawn.energy_j)
    assert math.fsum(up.energy_j) == pytest.approx(total, rel=len(drawn) * 2**-52, abs=0)
    assert up.attempts.sum() == (e.event == "tx_start").sum()
    run = load_run(result.save(tmp_path / "run"))
    assert (tmp_path / "run" / "flows.parquet").is_file()
    pd.testing.assert_frame_equal(run.flows, flows)
