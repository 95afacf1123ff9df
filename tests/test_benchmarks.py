"""The benchmark harness keeps working (what it measures is in benchmarks/, never asserted
here: speed is not a test)."""

from __future__ import annotations

from benchmarks.bench_scale import run_point, scale_overrides


def test_the_scale_scenario_selects_the_requested_cohort_each_round():
    assert "protocol.clients_per_round=20" in scale_overrides(60, 20)
    assert not any("clients_per_round" in o for o in scale_overrides(20, 20))
    point = run_point(60, 20, 2)  # 60 PIUs on 100 cell-free APs, 20 train per round
    assert point["updates"] == 40
    assert point["events"] > 0 and point["peak_gb"] > 0 and 0 <= point["accuracy"] <= 1
