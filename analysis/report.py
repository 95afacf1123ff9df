"""A self-contained HTML report of one or more run directories (``netsim report``).

One file, nothing fetched: a summary table, the figures of :mod:`analysis.figures` as
embedded PNGs (base64 data URIs), and each run's resolved scenario. Opens in a browser offline.
With plotly installed (the ``report`` extra) the round timelines and the latency CDFs are
interactive (:mod:`analysis.interactive`: zoom, pan, hover), plotly.js embedded once.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
from netsim.analysis.compare import differing_settings, run_labels, whatif_frame
from netsim.analysis.figures import (
    accuracy_panels,
    backhaul_figure,
    battery_figure,
    energy_figure,
    latency_cdf_figure,
    latency_figure,
    radio_figure,
    timeline_figure,
    whatif_figure,
)
from netsim.analysis.interactive import (
    available,
    latency_cdf_html,
    plotly_script,
    timeline_html,
)
from netsim.analysis.kpis import cell_kpis, harq_per_link, rb_utilisation
from netsim.analysis.run import RunData

from netsim.log import global_rounds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
.plot { max-width: 100%; margin: 0.5em 0 1.5em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.8em; }
.wide { overflow-x: auto; max-width: 100%; }
"""


def summary_frame(runs: Sequence[RunData]) -> pd.DataFrame:
    """One row per run: its label (:func:`analysis.compare.run_labels`: the settings in
    which it differs from the others), folder, scenario, seed, rounds, simulated time (s),
    final accuracy, PIU energy (J), uplink (Mbit), wall time (s); numbers as measured (see
    :func:`summary_html` for the report's rounding)."""
    rows = []
    for label, run in zip(run_labels(runs), runs, strict=True):
        m = run.manifest
        rows.append(
            {
                "run": label,
                "folder": run.path.name,
                "scenario": m.get("scenario"),
                "seed": m.get("seed"),
                "rounds": len(global_rounds(run.rounds)),
                "simulated time (s)": m.get("sim_time_s"),
                "final accuracy": m.get("final_accuracy"),
                "PIU energy (J)": m.get("total_energy_j"),
                "uplink (Mbit)": float(global_rounds(run.rounds)["uplink_bits"].sum()) / 1e6,
                "wall time (s)": m.get("wall_time_s"),
            }
        )
    return pd.DataFrame(rows)


# digits after the point the report shows per summary column (values keep their units)
_DECIMALS = {"simulated time (s)": 2, "final accuracy": 3, "PIU energy (J)": 3,
             "uplink (Mbit)": 1, "wall time (s)": 1}  # fmt: skip


def summary_html(runs: Sequence[RunData]) -> str:
    """The summary table as HTML, each number rounded for reading (:data:`_DECIMALS`)."""
    table = summary_frame(runs)
    formatters = {c: functools.partial(_fixed, decimals=d) for c, d in _DECIMALS.items()}
    return _scrolling(table.to_html(index=False, formatters=formatters, border=0))


def _fixed(value: float | None, decimals: int) -> str:
    return "" if value is None or pd.isna(value) else f"{value:,.{decimals}f}"


def build_report(
    runs: Sequence[RunData], title: str = "netsim report", interactive: bool | None = None
) -> str:
    """The HTML text of the report of ``runs`` (at least one). ``interactive``: the
    timelines and latency CDFs drawn by plotly.js (zoom, pan, hover; the page embeds it,
    about 4.8 MB); None: where plotly is installed (the ``report`` extra), False: every
    figure a PNG."""
    if not runs:
        raise ValueError("a report needs at least one run")
    if interactive is None:
        interactive = available()
    elif interactive and not available():
        raise ImportError("interactive figures need plotly: pip install 'netsim[report]'")
    labels = run_labels(runs)
    by_label = dict(zip(labels, runs, strict=True))
    latency = (
        latency_cdf_html(by_label, "latency-cdf", "latency CDFs")
        if interactive
        else _img(latency_cdf_figure(by_label), "latency CDFs")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
        plotly_script() if interactive else "",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(runs)} run(s); written {datetime.now():%Y-%m-%d %H:%M}.</p>",
        "<h2>Summary</h2>",
        summary_html(runs),
        *_what_changed(runs),
        "<h2>Accuracy</h2>",
        _img(accuracy_panels(by_label), "accuracy against simulated time, energy and bits"),
        "<h2>Latency</h2>",
        latency,
    ]
    for k, (label, run) in enumerate(by_label.items()):
        parts.append(f"<h2>Run {html.escape(label)}</h2>")
        if run.scenario.protocol.mode == "sync":
            parts.append(_img(latency_figure(run), f"{label}: round latency breakdown"))
        parts.append(_img(energy_figure(run), f"{label}: energy per PIU"))
        if run.events.battery_j.notna().any() and run.events.battery_j.max() < float("inf"):
            parts.append(_img(battery_figure(run), f"{label}: battery levels"))
        if interactive:
            parts.append(timeline_html(run, f"timeline-{k}", f"{label}: timeline"))
        else:
            parts.append(_img(timeline_figure(run), f"{label}: timeline"))
        parts += _radio_section(run, label)
        if run.backhaul is not None and len(run.backhaul):
            parts.append(_img(backhaul_figure(run.backhaul), f"{label}: backhaul utilisation"))
        toml = html.escape(run.scenario.to_toml())
        parts.append(f"<details><summary>scenario</summary><pre>{toml}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _radio_section(run: RunData, label: str) -> list[str]:
    """The run's radio KPIs (:mod:`analysis.kpis`) where it logged SINRs: the SINR,
    throughput and MCS figure, the per-cell table, and with NR links the HARQ
    retransmissions of the worst links."""
    if not run.events["snr_db"].notna().any():
        return []
    cells = cell_kpis(run.events)
    usage = run.rb_usage
    if usage is not None and len(usage):  # under a slot scheduler: each AP's RB utilisation
        span = float(run.events["t_s"].max())
        rbs = rb_utilisation(usage, span).pivot(index="cell", columns="direction",
                                                values="rb_utilisation")  # fmt: skip
        rbs.columns = [f"rb_utilisation_{d}" for d in rbs.columns]
        cells = cells.merge(rbs, left_on="cell", right_index=True, how="left")
    # the report's unit of data is the Mbit (the summary's too)
    cells.insert(cells.columns.get_loc("uplink_bits"), "uplink_Mbit", cells["uplink_bits"] / 1e6)
    cells = cells.drop(columns="uplink_bits")
    decimals = {"load": 3, "mean_interference_dbm": 1, "airtime_s": 3, "uplink_Mbit": 3,
                "rb_utilisation_uplink": 3, "rb_utilisation_downlink": 3}  # fmt: skip
    formatters = {c: functools.partial(_fixed, decimals=d) for c, d in decimals.items()}
    parts = [
        f"<h3>{html.escape(label)}: radio</h3>",
        _img(radio_figure(run.events, usage), f"{label}: SINR, throughput and MCS"),
        _scrolling(cells.to_html(index=False, formatters=formatters, border=0)),
    ]
    harq = harq_per_link(run.events)
    if len(harq):
        worst = harq.sort_values("retx_per_block", ascending=False).head(10)
        parts += [
            "<p>NR links: first-transmission BLER (link adaptation's target: "
            f"{run.scenario.radio.bler_target:g}), HARQ retransmissions per transport "
            "block and RLC retransmissions, the ten links with the most HARQ "
            "retransmissions per block:</p>",
            _scrolling(worst.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)),
        ]
    return parts


def _what_changed(runs: Sequence[RunData]) -> list[str]:
    """The "What changed" section of compared runs: the settings that differ and the
    outcomes (:func:`analysis.compare.whatif_frame`), and the outcomes against each
    differing setting but the seed (at most three figures); nothing for one run or for
    repeats of one scenario."""
    varied = differing_settings([r.scenario for r in runs]) if len(runs) > 1 else []
    if not varied:
        return []
    frame = whatif_frame(runs)
    formatters = {c: functools.partial(_fixed, decimals=d) for c, d in _DECIMALS.items()}
    parts = [
        "<h2>What changed</h2>",
        f"<p>The runs differ in {', '.join(html.escape(v) for v in varied)}.</p>",
        _scrolling(frame.to_html(index=False, formatters=formatters, border=0)),
    ]
    for setting in [v for v in varied if v != "seed"][:3]:
        alt = f"outcomes against {setting}"
        parts.append(_img(whatif_figure(frame, setting), alt))
    return parts


def _scrolling(table: str) -> str:
    """A table in a box that scrolls sideways when it is wider than the page (a what-if
    table of many settings), so it never overflows the report's column."""
    return f'<div class="wide">{table}</div>'


def _img(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
