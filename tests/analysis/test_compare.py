"""Compared runs are labelled by what differs between their scenarios, not by folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from netsim.analysis.compare import differing_settings, flat_settings, run_labels, whatif_frame
from netsim.analysis.report import build_report
from netsim.analysis.run import RunData, load_run

from netsim import Simulation
from tests.analysis.test_report import _render
from tests.conftest import tiny


def _run(folder: str, scenario, uplink_bits=(1e6, 2e6), **manifest) -> RunData:
    rounds = pd.DataFrame(
        {"round": range(len(uplink_bits)), "tier": "global", "uplink_bits": uplink_bits}
    )
    return RunData(Path(folder), pd.DataFrame(), rounds, scenario, manifest)


def test_the_settings_that_differ_are_named_in_the_schemas_order():
    a = tiny(protocol={"rounds": 2}, radio={"bandwidth_hz": 1e6})
    b = tiny(protocol={"rounds": 2}, radio={"bandwidth_hz": 2e6}, seed=5)
    assert differing_settings([a, b]) == ["seed", "radio.bandwidth_hz"]
    assert differing_settings([a, a]) == []
    assert "name" not in flat_settings(a)  # a sweep names every point alike
    assert flat_settings(a)["radio.pathloss.exponent"] == a.radio.pathloss.exponent


def test_runs_are_labelled_by_their_differences_and_repeats_by_folder():
    runs = [
        _run("p000-seed1", tiny(radio={"bandwidth_hz": 1e6})),
        _run("p001-seed1", tiny(radio={"bandwidth_hz": 2.5e6})),
    ]
    assert run_labels(runs) == ["radio.bandwidth_hz=1e+06", "radio.bandwidth_hz=2.5e+06"]
    same = [_run("run", tiny()), _run("run", tiny())]
    assert run_labels(same) == ["run", "run (2)"]  # nothing differs: folders, made unique
    assert run_labels([_run("only", tiny())]) == ["only"]


def test_a_label_names_three_settings_then_counts_the_rest():
    base = {"rounds": 2, "deadline_s": 1.0, "clients_per_round": 1}
    a = tiny(protocol=base, radio={"bandwidth_hz": 1e6}, seed=1)
    b = tiny(protocol={**base, "rounds": 3, "deadline_s": 2.0}, radio={"bandwidth_hz": 2e6}, seed=2)
    labels = run_labels([_run("a", a), _run("b", b)])
    assert labels[1] == "seed=2, radio.bandwidth_hz=2e+06, protocol.rounds=3, +1 more"


def test_the_whatif_table_holds_the_settings_and_the_outcomes():
    runs = [
        _run("x", tiny(radio={"bandwidth_hz": 1e6}), (1e6, 3e6), final_accuracy=0.5,
             sim_time_s=10.0, total_energy_j=2.0),
        _run("y", tiny(radio={"bandwidth_hz": 2e6}), (4e6,), final_accuracy=0.7,
             sim_time_s=5.0, total_energy_j=1.5),
    ]  # fmt: skip
    frame = whatif_frame(runs)
    assert list(frame.columns) == [
        "run", "radio.bandwidth_hz", "final accuracy", "simulated time (s)", "PIU energy (J)",
        "uplink (Mbit)",
    ]  # fmt: skip
    assert frame["radio.bandwidth_hz"].tolist() == [1e6, 2e6]
    assert frame["uplink (Mbit)"].tolist() == [4.0, 4.0]  # the global rounds' bits, in Mbit
    assert frame["final accuracy"].tolist() == [0.5, 0.7]


def test_a_report_of_a_sweep_like_comparison_labels_the_swept_setting(tmp_path):
    runs = []
    for i, bandwidth in enumerate((0.5e6, 1e6, 2e6)):
        s = tiny(protocol={"rounds": 1}, radio={"bandwidth_hz": bandwidth})
        Simulation(s).run().save(tmp_path / f"p00{i}-seed1")
        runs.append(load_run(tmp_path / f"p00{i}-seed1"))
    text = build_report(runs)
    assert "<h2>What changed</h2>" in text
    assert "The runs differ in radio.bandwidth_hz." in text
    for label in ("radio.bandwidth_hz=500000", "radio.bandwidth_hz=1e+06"):
        assert f"<h2>Run {label}</h2>" in text
    assert "p000-seed1" in text  # still there, as the folder column
    assert 'alt="outcomes against radio.bandwidth_hz"' in text
    # in a real browser: every figure decodes or is drawn, no script error, nothing
    # overflows (the latency CDFs and three timelines interactive where plotly is installed)
    images, plots = text.count('<img alt="'), text.count('<div class="plot"')
    assert images + plots == 1 + 1 + 1 + 3 * 4  # what changed, accuracy, latency, each run's
    assert _render(text, tmp_path) == (images, 0, 0, 0, plots, plots)
