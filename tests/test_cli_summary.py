"""The end of ``netsim run``: the command's own wall time (with its split), the task's own
metric (a localization error in m, not "accuracy nan"), and a warning, with the reasons
counted from the event log, when rounds aggregated no update (exit status still 0)."""

from __future__ import annotations

import math
import re

import pandas as pd
import tomli_w
import torch

from netsim import Simulation
from netsim.cli import main
from netsim.log import EVENT_COLUMNS, Event, RoundRecord, events_frame, rounds_frame
from netsim.sim import SimulationResult
from tests.conftest import TINY, tiny


def _file(tmp_path, **sections):
    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps({**TINY, **sections}))
    return str(path)


def test_run_prints_the_commands_wall_time_and_where_it_went(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", _file(tmp_path, protocol={"rounds": 1}), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    match = re.search(
        r"^wall time: +([\d.]+) s \(load and build ([\d.]+) s, simulation ([\d.]+) s, "
        r"writing ([\d.]+) s\)$",
        shown,
        re.M,
    )
    assert match, shown
    total, *parts = (float(v) for v in match.groups())
    assert sum(parts) <= total + 0.15  # each part rounded to 0.1 s
    # printed only: the event log has no wall-clock column
    events = pd.read_parquet(out / "events.parquet")
    assert list(events.columns) == EVENT_COLUMNS
    assert not [c for c in events.columns if "wall" in c]


def test_a_run_that_aggregates_nothing_says_so_and_why_and_exits_0(tmp_path, capsys):
    scenario = _file(tmp_path, protocol={"rounds": 2, "deadline_s": 1e-4})
    assert main(["run", scenario, "--out", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr()
    assert "warning" not in shown.out  # the summary stays on stdout, the warning goes to stderr
    err = " ".join(shown.err.split())
    assert (
        "netsim: warning: 2 of 2 rounds aggregated no update (no local update ever reached "
        "the model): 6 selected PIUs missed the deadline (protocol.deadline_s = 0.0001 s; at "
        "the deadline 6 were still waiting for the model)"
    ) in err, shown.err
    # --quiet drops the progress and the summary, not the warning
    assert main(["run", scenario, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    shown = capsys.readouterr()
    assert shown.out == "" and "2 of 2 rounds aggregated no update" in shown.err


def test_a_run_where_some_rounds_aggregate_nothing_says_how_many():
    device = {**TINY["device"], "battery_j": 0.05}  # two rounds' worth: the third is skipped
    result = Simulation(tiny(protocol={"rounds": 3}, device=device)).run()
    assert list(result.rounds["aggregated"]) == [3, 3, 0]
    assert result.warnings() == [
        "1 of 3 rounds aggregated no update: 3 PIUs skipped the round (battery too low)"
    ]


def test_a_run_where_every_round_aggregates_says_nothing(tmp_path, capsys):
    assert Simulation(tiny(protocol={"rounds": 1})).run().warnings() == []
    assert main(["run", _file(tmp_path), "--out", str(tmp_path / "run")]) == 0
    assert "warning" not in capsys.readouterr().err


def _result(records: list[Event], rows: list[RoundRecord]) -> SimulationResult:
    """A result made of a hand-written event log and rounds table (no run)."""
    weights = torch.zeros(1)
    return SimulationResult(
        scenario=tiny(protocol={"rounds": len(rows), "deadline_s": 0.5}),
        events=events_frame(records),
        rounds=rounds_frame(rows),
        weights=weights,
        state_dict={},
        wall_time_s=0.0,
    )


def _row(r: int, aggregated: int, **counts: int) -> RoundRecord:
    zero = dict.fromkeys(("dropped", "skipped", "left", "lost", "offline"), 0)
    return RoundRecord(
        round=r,
        t_start_s=r,
        t_end_s=r + 1.0,
        selected=4,
        aggregated=aggregated,
        **{**zero, **counts},
        uplink_bits=0.0,
        energy_j=0.0,
        train_loss=math.nan,
        test_loss=1.0,
        test_accuracy=0.1,
    )


def test_the_reasons_are_counted_from_the_event_log():
    """Round 0 aggregated two updates; in round 1 one PIU was lost after HARQ, three missed
    the deadline at three different stages; in round 2 one PIU's upload was in outage."""

    def ev(t, r, node, role, event, **kw):
        return Event(t_s=t, round=r, node=node, role=role, event=event, **kw)

    records = [
        ev(0.1, 0, "server", "server", "aggregate"),
        # round 1
        ev(1.1, 1, "piu0", "piu", "rx_model"),
        ev(1.2, 1, "piu0", "piu", "train_end"),
        ev(1.3, 1, "piu0", "piu", "tx_fail", reason="outage"),  # retried ...
        ev(1.4, 1, "piu0", "piu", "tx_fail", reason="harq"),  # ... then lost
        ev(1.1, 1, "piu1", "piu", "rx_model"),  # still training at the deadline
        ev(1.1, 1, "piu2", "piu", "rx_model"),
        ev(1.2, 1, "piu2", "piu", "train_end"),
        ev(1.3, 1, "piu2", "piu", "tx_end"),  # uploaded, not forwarded in time
        ev(1.5, 1, "server", "server", "deadline_miss", peer="piu1", reason="deadline"),
        ev(1.5, 1, "server", "server", "deadline_miss", peer="piu2", reason="deadline"),
        ev(1.5, 1, "server", "server", "deadline_miss", peer="piu3", reason="deadline"),
        # round 2
        ev(2.1, 2, "piu1", "piu", "rx_model"),
        ev(2.2, 2, "piu1", "piu", "train_end"),
        ev(2.3, 2, "piu1", "piu", "tx_fail", reason="outage"),
        ev(2.3, 2, "piu3", "piu", "skip", reason="energy"),
    ]
    rows = [
        _row(0, 2),
        _row(1, 0, lost=1, dropped=3),
        _row(2, 0, lost=1, skipped=1),
    ]
    (warning,) = _result(records, rows).warnings()
    assert warning == (
        "2 of 3 rounds aggregated no update: 3 selected PIUs missed the deadline "
        "(protocol.deadline_s = 0.5 s; at the deadline 1 was still waiting for the model, "
        "1 was still training, 1 was still on the backhaul (uploaded over the air)); "
        "2 uploads were lost (HARQ gave up: 1, outage: 1); "
        "1 PIU skipped the round (battery too low)"
    )


def test_localization_and_snr_runs_print_their_own_metric(tmp_path, capsys):
    small = [
        "--set",
        "protocol.rounds=1",
        "--set",
        "topology.num_pius=3",
        "--set",
        "learning.radio_data.samples_per_piu=30",
    ]
    assert main(["run", "agv_localization", *small, "--out", str(tmp_path / "loc")]) == 0
    shown = capsys.readouterr().out
    match = re.search(r"^final error: +([\d.]+) m \(median localization error\)$", shown, re.M)
    assert match and "nan" not in shown, shown
    rounds = pd.read_parquet(tmp_path / "loc" / "rounds.parquet")
    assert float(match[1]) == round(float(rounds["test_median_error_m"].iloc[-1]), 2)

    snr = ["--set", 'learning.task="snr"']
    argv = ["run", "agv_localization", *small, *snr, "--out", str(tmp_path / "snr")]
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^final error: +[\d.]+ dB \(RMS SNR prediction error\)$", shown, re.M)
    assert "nan" not in shown


def test_the_final_metric_of_a_localization_result_is_its_median_error():
    from netsim import load_scenario

    scenario = load_scenario(
        "agv_localization",
        ["protocol.rounds=1", "topology.num_pius=3", "learning.radio_data.samples_per_piu=30"],
    )
    result = Simulation(scenario).run()
    what, value, unit = result.final_metric
    assert (what, unit) == ("median localization error", "m")
    assert value == result.rounds["test_median_error_m"].iloc[-1] and value > 0
    assert math.isnan(result.final_accuracy)  # the accuracy stays what it was: none
    assert tiny().learning.task == "classification"
    assert Simulation(tiny()).run().final_metric[:1] == ("accuracy",)
