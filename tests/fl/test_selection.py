"""Client selection policies: hand-computed choices, and the reports they rank by."""

from __future__ import annotations

import math

import pytest

from netsim import Simulation
from netsim.fl.selection import SelectionReport, select_best, select_round_robin
from tests.conftest import LINE_POSITIONS, snr_linear, tiny


def test_round_robin_moves_a_window_of_k():
    active = [0, 1, 2, 3, 4]
    assert [select_round_robin(active, 2, r) for r in range(4)] == [
        [0, 1],
        [2, 3],
        [0, 4],  # wraps: 4, then 0
        [1, 2],
    ]
    assert select_round_robin(active, None, 3) == active


def test_best_reports_win_and_ties_go_to_the_lower_index():
    reports = {
        3: SelectionReport(rate_bps=5.0, finish_s=2.0, battery_j=1.0),
        1: SelectionReport(rate_bps=5.0, finish_s=1.0, battery_j=3.0),
        2: SelectionReport(rate_bps=9.0, finish_s=3.0, battery_j=2.0),
    }
    assert select_best(reports, 2, "channel") == [1, 2]  # 9, then the tie 5/5 -> PIU 1
    assert select_best(reports, 1, "energy") == [1]
    assert select_best(reports, 1, "deadline") == [1]
    assert select_best(reports, None, "deadline") == [1, 2, 3]


def _run(policy: str, rounds: int = 2):
    s = tiny(
        protocol={"rounds": rounds, "clients_per_round": 1, "selection": policy},
        device={"battery_j": 1.0},
    )
    return s, Simulation(s).run()


@pytest.mark.parametrize("policy", ["channel", "deadline"])
def test_the_nearest_piu_has_the_best_channel_and_the_earliest_finish(policy):
    s, res = _run(policy)
    cand = res.events[res.events.event == "candidate"]
    assert len(cand) == 2 * 3  # every candidate's report, every round
    chosen = cand[cand.detail.str.contains("selected")]
    assert list(chosen.detail.str.split().str[0]) == ["piu0", "piu0"]
    # the reported rate is the Shannon rate at the mean SNR of the link budget
    first = cand[cand["round"] == 0].reset_index()
    for k, (x, _) in enumerate(LINE_POSITIONS):
        snr = snr_linear(x, s.device.tx_power_dbm, s)
        assert first.rate_bps[k] == pytest.approx(s.radio.bandwidth_hz * math.log2(1 + snr))


def test_energy_aware_selection_picks_the_fullest_battery():
    _, res = _run("energy", rounds=3)
    chosen = res.events[(res.events.event == "candidate") & res.events.detail.str.contains("sel")]
    # all full at first (tie -> PIU 0); then PIU 0 has spent energy, so PIU 1, then PIU 2
    assert list(chosen.detail.str.split().str[0]) == ["piu0", "piu1", "piu2"]
    trained = res.events[res.events.event == "train_end"]
    assert list(trained.node) == ["piu0", "piu1", "piu2"]
