"""analysis/: breakdowns of a hand-built event log, by hand; and on a real run, the sums."""

from __future__ import annotations

import pandas as pd
import pytest
from netsim.analysis import (
    activity_intervals,
    battery_trajectories,
    energy_breakdown,
    latency_breakdown,
    latency_cdf,
    progress,
    round_timeline,
    upload_latency,
)
from netsim.analysis.breakdown import LATENCY_COMPONENTS

from netsim import Simulation
from netsim.log import Event, events_frame
from tests.conftest import tiny


def _e(t, r, node, event, **kw):
    role = "server" if node == "server" else "piu"
    return Event(t, r, node, role, event, **kw)


# Round 0: both PIUs deliver; piu1 waits 0.1 s for the TDMA slot and closes the round.
# Round 1: piu0's first packet fails and is resent; piu1 is cut by the deadline mid-training.
LOG = events_frame(
    [
        _e(0.0, 0, "server", "broadcast"),
        _e(0.1, 0, "piu0", "rx_model"),
        _e(0.1, 0, "piu1", "rx_model"),
        _e(0.3, 0, "piu0", "train_end", duration_s=0.2, energy_j=0.02, battery_j=0.98),
        _e(0.4, 0, "piu1", "train_end", duration_s=0.3, energy_j=0.03, battery_j=0.97),
        _e(0.3, 0, "piu0", "tx_start", duration_s=0.2, bits=100.0),
        _e(0.5, 0, "piu0", "tx_end", duration_s=0.2, bits=100.0, energy_j=0.04, battery_j=0.94),
        _e(0.5, 0, "piu1", "tx_start", duration_s=0.3, bits=100.0),
        _e(0.8, 0, "piu1", "tx_end", duration_s=0.3, bits=100.0, energy_j=0.06, battery_j=0.91),
        _e(0.52, 0, "server", "rx_update", peer="piu0"),
        _e(0.83, 0, "server", "rx_update", peer="piu1"),
        _e(0.9, 0, "server", "aggregate", duration_s=0.01),
        _e(0.9, 0, "server", "evaluate", accuracy=0.5),
        _e(1.0, 1, "server", "broadcast"),
        _e(1.1, 1, "piu0", "rx_model"),
        _e(1.1, 1, "piu1", "rx_model"),
        _e(1.3, 1, "piu0", "train_end", duration_s=0.2, energy_j=0.02, battery_j=0.92),
        _e(1.3, 1, "piu0", "tx_start", duration_s=0.2, bits=100.0),
        _e(1.5, 1, "piu0", "tx_fail", duration_s=0.2, bits=100.0, energy_j=0.04, battery_j=0.88),
        _e(1.5, 1, "piu0", "tx_start", duration_s=0.2, bits=100.0),
        _e(1.55, -1, "piu1", "harvest", duration_s=1.0, energy_j=-0.01, battery_j=0.92),
        _e(
            1.6, 1, "piu1", "abort", duration_s=0.5, energy_j=0.05, battery_j=0.87, activity="train"
        ),
        _e(1.7, 1, "piu0", "tx_end", duration_s=0.2, bits=100.0, energy_j=0.04, battery_j=0.84),
        _e(1.72, 1, "server", "rx_update", peer="piu0"),
        _e(1.81, 1, "server", "aggregate", duration_s=0.01),
        _e(1.81, 1, "server", "evaluate", accuracy=0.6),
    ]
)


def test_latency_components_follow_the_critical_path_and_add_up():
    table = latency_breakdown(LOG).set_index("round")
    r0 = table.loc[0]  # piu1: model 0.1, trains to 0.4, slot at 0.5, sent 0.8, in at 0.83
    hand0 = [0.1, 0.3, 0.1, 0.3, 0.03, 0.06, 0.01]
    assert [r0[c] for c in LATENCY_COMPONENTS] == pytest.approx(hand0)
    r1 = table.loc[1]  # piu0 (piu1 never transmitted): airtime covers both attempts
    hand1 = [0.1, 0.2, 0.0, 0.4, 0.02, 0.08, 0.01]
    assert [r1[c] for c in LATENCY_COMPONENTS] == pytest.approx(hand1)
    sums = table[list(LATENCY_COMPONENTS)].sum(axis=1)
    assert sums.tolist() == pytest.approx(table.duration_s.tolist())
    assert table.duration_s.tolist() == pytest.approx([0.9, 0.81])


def test_energy_components_add_up_to_the_ledger():
    table = energy_breakdown(LOG)
    assert table.loc["piu0", "compute"] == pytest.approx(0.04)
    assert table.loc["piu0", "transmit"] == pytest.approx(0.12)  # 0.04 + failed 0.04 + 0.04
    assert table.loc["piu1", "compute"] == pytest.approx(0.08)  # 0.03 + cut short 0.05
    assert table.loc["piu1", "transmit"] == pytest.approx(0.06)
    assert table.loc["piu1", "harvested"] == pytest.approx(0.01)
    assert table.total.tolist() == pytest.approx([0.16, 0.14])
    # the ledger: 1 J initial + harvested - total = last battery level
    last = battery_trajectories(LOG).groupby("node").battery_j.last()
    assert (1.0 + table.harvested - table.total).tolist() == pytest.approx(last.tolist())


def test_progress_upload_latency_and_activities():
    rounds = pd.DataFrame(
        {
            "round": [0, 1],
            "t_end_s": [0.9, 1.81],
            "test_accuracy": [0.5, 0.6],
            "test_loss": [1, 0.8],
        }
    )
    p = progress(LOG, rounds)
    assert p.energy_j.tolist() == pytest.approx([0.15, 0.30])  # harvest not subtracted
    assert p.uplink_bits.tolist() == [200.0, 400.0]  # the failed attempt's bits count
    lat = upload_latency(LOG)
    assert lat.latency_s.tolist() == pytest.approx([0.42, 0.73, 0.62])
    cdf = latency_cdf(lat.latency_s)
    assert cdf.p.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert cdf.value.tolist() == pytest.approx([0.42, 0.62, 0.73])
    acts = activity_intervals(LOG)
    piu1 = acts[acts.node == "piu1"]
    assert piu1.activity.tolist() == ["compute", "transmit", "compute"]
    assert piu1.start_s.tolist() == pytest.approx([0.1, 0.5, 1.1])  # the cut one too
    assert piu1.end_s.tolist() == pytest.approx([0.4, 0.8, 1.6])


def test_breakdowns_of_a_real_run_add_up():
    s = tiny(protocol={"rounds": 3, "deadline_s": 0.45}, device={"battery_j": 1.0})
    res = Simulation(s).run()
    lat = latency_breakdown(res.events)
    assert len(lat) == 3
    assert lat[list(LATENCY_COMPONENTS)].sum(axis=1).tolist() == pytest.approx(
        res.rounds.duration_s.tolist()
    )
    assert (lat[list(LATENCY_COMPONENTS)] >= 0).all().all()
    energy = energy_breakdown(res.events)
    for node, row in energy.iterrows():
        spent = res.initial_battery_j[node] - res.final_battery_j[node]
        assert row.total == pytest.approx(spent, abs=1e-12)


def test_figures_draw_what_the_tables_hold():
    from netsim.analysis.figures import (
        accuracy_figure,
        accuracy_panels,
        battery_figure,
        energy_figure,
        latency_cdf_figure,
        latency_figure,
        timeline_figure,
    )

    s = tiny(protocol={"rounds": 2}, device={"battery_j": 1.0})
    runs = {"a": Simulation(s).run(), "b": Simulation(s.with_overrides(["seed=8"])).run()}
    fig = accuracy_figure(runs, x="energy_j")
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [2, 2]
    with pytest.raises(ValueError, match="x = 'joules'"):
        accuracy_figure(runs, x="joules")
    panels = accuracy_panels(runs)
    assert [len(ax.lines) for ax in panels.axes] == [2, 2, 2]
    assert panels.axes[2].lines[0].get_xdata()[-1] == pytest.approx(
        runs["a"].rounds.uplink_bits.sum() / 1e6
    )
    run = runs["a"]
    latency = latency_figure(run)
    ax = latency.axes[0]
    assert len(ax.patches) == 2 * len(LATENCY_COMPONENTS)
    # every bar inside the axes, the legend beside them, not over the bars
    assert max(p.get_y() + p.get_height() for p in ax.patches) <= ax.get_ylim()[1]
    latency.canvas.draw()
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= frame.x1
    assert len(energy_figure(run).axes[0].patches) == 2 * 3  # compute + transmit per PIU
    assert len(battery_figure(run).axes[0].lines) == 3
    assert len(latency_cdf_figure(runs).axes[0].lines) == 4
    timeline = timeline_figure(run).axes[0]
    spans = sum(len(b.get_paths()) for b in timeline.collections)
    phases = round_timeline(run.events, run.rounds)
    aggregations = ((run.events.event == "aggregate") & (run.events.role == "server")).sum()
    assert spans == len(phases) + aggregations
    # every phase of an update: downloaded, trained, sent; round ends drawn
    assert {"download", "compute", "transmit"} <= set(phases.activity)
    assert len(timeline.lines) == len(run.rounds)
    labels = [t.get_text() for t in timeline.get_yticklabels()]
    assert labels == ["server", "piu0", "piu1", "piu2"]


def test_sweep_figure_draws_means_with_their_confidence_bars():
    from netsim.analysis.figures import sweep_figure

    summary = pd.DataFrame(
        {
            "x": [1, 2, 1, 2],
            "tail": ["a", "a", "b", "b"],
            "acc_mean": [0.5, 0.6, 0.7, 0.8],
            "acc_ci95": [0.1, float("nan"), 0.05, 0.02],
        }
    )
    ax = sweep_figure(summary, "x", "acc", hue="tail").axes[0]
    bars = ax.containers  # one errorbar per value of the hue
    assert [list(b.lines[0].get_ydata()) for b in bars] == [[0.5, 0.6], [0.7, 0.8]]
    spans = [[y for seg in b.lines[2][0].get_segments() for y in seg[:, 1]] for b in bars]
    assert spans[0] == pytest.approx([0.4, 0.6, 0.6, 0.6])  # no CI (n < 2): no bar
    assert spans[1] == pytest.approx([0.65, 0.75, 0.78, 0.82])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]


def test_typed_columns_name_peers_and_activities_in_a_real_run():
    sim = Simulation(tiny(protocol={"rounds": 2, "deadline_s": 0.45}))  # piu2 misses it
    events = sim.run().events
    rx = events[events.event == "rx_update"]
    assert set(rx.peer) <= {f"piu{k}" for k in range(len(sim.pius))} and len(rx) > 0
    assert (rx.peer == rx.detail).all()  # the digital detail is the sender's name
    cut = events[events.event.isin(["abort", "battery_empty"]) & (events.duration_s > 0)]
    assert len(cut) > 0 and cut.activity.isin(["train", "queue", "tx"]).all()
    missed = events[events.event == "deadline_miss"]
    assert (missed.reason == "deadline").all() and (missed.peer == missed.detail).all()
    assert events.loc[events.event == "aggregate", "method"].eq("fedavg").all()


def test_a_run_written_before_the_typed_columns_gets_them_from_detail():
    from netsim.analysis.run import _with_typed_columns

    old = LOG.drop(columns=["peer", "activity", "reason", "method"]).copy()
    old.loc[old.event == "rx_update", "detail"] = old.loc[old.event == "rx_update", "node"]
    old.loc[old.event == "rx_update", "detail"] = ["piu0", "piu1", "piu0"]
    old.loc[old.event == "abort", "detail"] = "train (offline)"
    new = _with_typed_columns(old)
    assert new.loc[new.event == "rx_update", "peer"].tolist() == ["piu0", "piu1", "piu0"]
    assert new.loc[new.event == "abort", "activity"].tolist() == ["train"]
    assert energy_breakdown(new).equals(energy_breakdown(LOG))


def _one_round(n_pius: int):
    """A run of one round (0 - 1 s) in which each of ``n_pius`` PIUs downloads 0 - 0.1 s,
    computes 0.1 - 0.5 s, queues 0.5 - 0.6 s and transmits 0.6 - 0.9 s; a deadline miss
    at 0.35 s."""
    from types import SimpleNamespace

    records = []
    for k in range(n_pius):
        records += [
            _e(0.1, 0, f"piu{k}", "rx_model"),
            _e(0.5, 0, f"piu{k}", "train_end", duration_s=0.4),
            _e(0.6, 0, f"piu{k}", "tx_start", duration_s=0.3),
            _e(0.9, 0, f"piu{k}", "tx_end", duration_s=0.3),
        ]
    records.append(_e(0.35, 0, "server", "deadline_miss", peer="piu7"))
    events = events_frame(sorted(records, key=lambda e: e.t_s))
    rounds = pd.DataFrame({"round": [0], "t_start_s": [0.0], "t_end_s": [1.0], "tier": ["global"]})
    return SimpleNamespace(events=events, rounds=rounds)


def test_a_timeline_of_many_pius_shares_rows_and_says_so():
    from netsim.analysis.figures import timeline_figure

    ax = timeline_figure(_one_round(130)).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 1 + 44 and labels[1] == "piu0-piu2"  # 130 PIUs, 3 a row
    assert ax.get_title() == "round timeline (3 PIUs a row)"
    # download 0-0.1, compute 0.1-0.5, queue 0.5-0.6, transmit 0.6-0.9 for each PIU
    spans = sum(len(b.get_paths()) for b in ax.collections)
    assert spans == 130 * 4
    assert len(ax.lines) == 2  # the round's end and the deadline


def test_the_interactive_timeline_keeps_a_row_per_piu_at_1000_pius():
    # the PNG timeline shares rows beyond 60 PIUs; the interactive one (plotly) keeps every
    # PIU its own row, opens on the first ROWS_IN_VIEW and says how many there are; each
    # phase one trace with a bar per PIU, the round's end and the deadline as lines
    import json
    import re

    pytest.importorskip("plotly")
    from netsim.analysis.interactive import ROWS_IN_VIEW, timeline_html

    text = timeline_html(_one_round(1000), "t", "timeline")
    found = re.search(
        r'Plotly\.newPlot\(\s*"t",\s*(\[.*?\]),\s*(\{"template".*?\}),\s*\{"displaylogo"',
        text,
        re.S,
    )
    spec, layout = json.loads(found.group(1)), json.loads(found.group(2))
    assert [t["name"] for t in spec] == ["download", "compute", "queue", "transmit"]
    for trace, (start, length) in zip(spec, [(0.0, 0.1), (0.1, 0.4), (0.5, 0.1), (0.6, 0.3)]):
        assert len(trace["y"]) == 1000 and sorted(trace["y"])[:2] == ["piu0", "piu1"]
        assert trace["base"][0] == pytest.approx(start) and trace["x"][0] == pytest.approx(length)
    rows = layout["yaxis"]["categoryarray"]
    assert rows[:3] == ["server", "piu0", "piu1"] and len(rows) == 1001
    assert layout["yaxis"]["range"] == [ROWS_IN_VIEW - 0.5, -0.5]
    assert layout["title"]["text"] == "round timeline (1000 PIUs: zoom or pan for the others)"
    lines = [(v["x0"], v["line"].get("dash")) for v in layout["shapes"]]
    assert lines == [(1.0, None), (0.35, "dash")]  # the round's end, the deadline


def test_an_energy_figure_of_many_pius_names_every_kth():
    # 100 PIUs' bars would bury their names in one black band: every 3rd is named (at most
    # 40), and the axis says so; a few PIUs keep every name
    from types import SimpleNamespace

    from netsim.analysis.figures import MAX_NAMED_BARS, energy_figure

    from netsim.log import Event, events_frame

    events = events_frame(
        [Event(1.0, 0, f"piu{k}", "piu", "train_end", energy_j=0.1 + k / 1000) for k in range(100)]
    )
    ax = energy_figure(SimpleNamespace(events=events)).axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert len(names) == 34 <= MAX_NAMED_BARS and names[:2] == ["piu0", "piu3"]
    assert ax.get_xlabel() == "PIU (100; one name in 3)" and len(ax.patches) == 200
    few = events_frame(
        [Event(1.0, 0, f"piu{k}", "piu", "train_end", energy_j=0.1) for k in "01234"]
    )
    ax = energy_figure(SimpleNamespace(events=few)).axes[0]
    assert len(ax.get_xticklabels()) == 5 and ax.get_xlabel() == "PIU"
