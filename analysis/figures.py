"""Figures of runs (matplotlib, Agg backend): each function returns a Figure; nothing shows.

``runs`` arguments map a label to a run (a :class:`analysis.RunData` or a
``SimulationResult``: anything with ``events`` and ``rounds``), so several runs share one
figure for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from netsim.analysis.breakdown import (
    LATENCY_COMPONENTS,
    battery_trajectories,
    energy_breakdown,
    latency_breakdown,
    latency_cdf,
    piu_number,
    progress,
    upload_latency,
)

from netsim.log import global_rounds

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_X_LABELS = {
    "t_end_s": "simulated time (s)",
    "energy_j": "cumulative PIU energy (J)",
    "uplink_bits": "cumulative uplink bits",
    "round": "round / model version",
}


def _blank(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, Axes]:
    fig = _blank(width, height)
    return fig, fig.add_subplot()


def accuracy_figure(runs: Mapping[str, Any], x: str = "t_end_s") -> Figure:
    """Test accuracy of each run against ``x``: "t_end_s" (simulated time), "energy_j"
    (cumulative PIU energy), "uplink_bits" or "round"."""
    if x not in _X_LABELS:
        raise ValueError(f"x = {x!r}; expected one of {sorted(_X_LABELS)}")
    fig, ax = _figure()
    for label, run in runs.items():
        p = progress(run.events, global_rounds(run.rounds))
        ax.plot(p[x], p.test_accuracy, marker=".", lw=1.2, label=label)
    ax.set(xlabel=_X_LABELS[x], ylabel="test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def latency_figure(run: Any) -> Figure:
    """Stacked bars: each round's time split along its critical path (the legend beside
    the axes, never over the bars; whole rounds on the x axis)."""
    from matplotlib.ticker import MaxNLocator

    table = latency_breakdown(run.events)
    fig, ax = _figure(width=8.0)
    bottom = pd.Series(0.0, index=table.index)
    for c in LATENCY_COMPONENTS:
        ax.bar(table["round"], table[c], bottom=bottom, label=c, width=0.8)
        bottom += table[c]
    ax.set(xlabel="round", ylabel="time (s)", title="round latency breakdown")
    top = float(bottom.max()) if len(bottom) else 0.0
    ax.set_ylim(0, 1.05 * top if top > 0 else 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend_beside(ax)
    return fig


def _legend_beside(ax: Any, **kwargs: Any) -> None:
    """The legend to the right of the axes, where it cannot cover bars or curves."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kwargs)


def accuracy_panels(runs: Mapping[str, Any]) -> Figure:
    """Test accuracy of each run against simulated time, cumulative PIU energy and
    cumulative uplink bits: one figure, three panels sharing the accuracy axis."""
    fig = _blank(11.0, 3.6)
    axes = fig.subplots(1, 3, sharey=True)
    panels = (("t_end_s", 1.0, _X_LABELS["t_end_s"]), ("energy_j", 1.0, _X_LABELS["energy_j"]),
              ("uplink_bits", 1e-6, "cumulative uplink (Mbit)"))  # fmt: skip
    curves = {label: progress(run.events, global_rounds(run.rounds)) for label, run in runs.items()}
    for ax, (x, scale, xlabel) in zip(axes, panels, strict=True):
        for label, p in curves.items():
            ax.plot(p[x] * scale, p.test_accuracy, marker=".", lw=1.2, label=label)
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="test accuracy")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=8,
               ncol=min(len(runs), 4), frameon=False)  # fmt: skip
    return fig


MAX_NAMED_BARS = 40  # bar labels that still read at the figure's width


def energy_figure(run: Any) -> Figure:
    """Stacked bars: each PIU's compute and transmit energy (harvested energy as a dot)."""
    table = energy_breakdown(run.events)
    fig, ax = _figure(width=8.0)
    ax.bar(table.index, table.compute, label="compute")
    ax.bar(table.index, table.transmit, bottom=table.compute, label="transmit")
    if (table.harvested > 0).any():
        ax.plot(table.index, table.harvested, "k.", label="harvested")
    ax.set(xlabel="PIU", ylabel="energy (J)", title="energy per PIU")
    ax.tick_params(axis="x", rotation=90)
    if len(table) > MAX_NAMED_BARS:  # names would overlap: every k-th one, and say so
        step = -(-len(table) // MAX_NAMED_BARS)
        ax.set_xticks(range(0, len(table), step), list(table.index[::step]))
        ax.set_xlabel(f"PIU ({len(table)}; one name in {step})")
    _legend_beside(ax)
    return fig


def battery_figure(run: Any) -> Figure:
    """Battery level of each PIU over simulated time (steps at the logged events)."""
    traj = battery_trajectories(run.events)
    fig, ax = _figure(width=8.0)
    for node, t in traj.groupby("node", sort=False):
        ax.step(t.t_s, t.battery_j, where="post", lw=1.0, label=str(node))
    ax.set(xlabel="simulated time (s)", ylabel="battery (J)", title="battery levels")
    if traj.node.nunique() <= 12:
        _legend_beside(ax, ncol=2 if traj.node.nunique() > 6 else 1)
    return fig


def latency_cdf_figure(runs: Mapping[str, Any]) -> Figure:
    """CDFs of the round durations (solid) and of the PIUs' model-to-update latencies
    (dashed) of each run."""
    fig, ax = _figure()
    for label, run in runs.items():
        rounds = latency_cdf(run.rounds.t_end_s - run.rounds.t_start_s)
        line = ax.step(rounds.value, rounds.p, where="post", label=f"{label}: rounds")[0]
        uploads = latency_cdf(upload_latency(run.events).latency_s)
        ax.step(
            uploads.value,
            uploads.p,
            where="post",
            ls="--",
            color=line.get_color(),
            label=f"{label}: uploads",
        )
    ax.set(xlabel="latency (s)", ylabel="P(latency <= x)", title="latency CDF")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


TIMELINE_COLORS = {"download": "tab:green", "compute": "tab:blue", "queue": "tab:gray",
                   "transmit": "tab:orange", "forward": "tab:purple"}  # fmt: skip


def timeline_figure(run: Any, max_rows: int = 60) -> Figure:
    """A round's timeline (Gantt) per PIU: download, compute, queue, uplink and forwarding
    (:func:`analysis.breakdown.round_timeline`); the server's aggregations on the top row;
    round ends as grey lines and deadlines (``deadline_miss``) as red dashed ones. Up to
    ``max_rows`` PIUs a row each; beyond, consecutive PIUs share a row (the title says how
    many), each drawn faintly so that overlaps darken."""
    from netsim.analysis.breakdown import TIMELINE_PHASES, round_timeline

    events = run.events
    spans = round_timeline(events, run.rounds)
    nodes = sorted(spans.node.unique(), key=piu_number)
    per_row = max(1, -(-len(nodes) // max_rows))
    rows = [nodes[i : i + per_row] for i in range(0, len(nodes), per_row)]
    row_of = {node: r + 1 for r, group in enumerate(rows) for node in group}
    fig, ax = _figure(9.0, max(3.0, 0.22 * (len(rows) + 1) + 1.6))
    alpha = 1.0 if per_row == 1 else max(0.15, 1.5 / per_row)
    for activity in TIMELINE_PHASES:
        part = spans[spans.activity == activity]
        for row, group in part.groupby(part.node.map(row_of)):
            bars = list(zip(group.start_s, group.end_s - group.start_s, strict=True))
            ax.broken_barh(bars, (row - 0.4, 0.8), color=TIMELINE_COLORS[activity],
                           alpha=alpha, label=activity)  # fmt: skip
    agg = events[(events.event == "aggregate") & (events.role == "server")]
    if len(agg):
        bars = list(
            zip(agg.t_s - agg.duration_s.fillna(0.0), agg.duration_s.fillna(0.0), strict=True)
        )
        ax.broken_barh(bars, (-0.4, 0.8), color="black", label="aggregate")
    for end in global_rounds(run.rounds)["t_end_s"]:
        ax.axvline(end, color="0.6", linewidth=0.8, zorder=0)
    for t in sorted(set(events[events.event == "deadline_miss"].t_s)):
        ax.axvline(t, color="tab:red", linestyle="--", linewidth=1.0, zorder=0)
    labels = ["server"] + [g[0] if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in rows]
    ax.set_yticks(range(len(rows) + 1), labels, fontsize=7 if len(rows) <= 40 else 5)
    ax.invert_yaxis()
    shared = "" if per_row == 1 else f" ({per_row} PIUs a row)"
    ax.set(xlabel="simulated time (s)", title=f"round timeline{shared}")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    _legend_beside(ax, handles=list(unique.values()), labels=list(unique))
    return fig


def sweep_figure(summary: pd.DataFrame, x: str, y: str, hue: str | None = None) -> Figure:
    """A sweep's ``summary.csv`` (``netsim sweep``): metric ``y`` (its mean, with the 95 %
    confidence half-width as error bars) against the varied field ``x``, one line per value
    of ``hue``. Values are shown as text, so tables (a straggler law) work as categories."""
    fig, ax = _figure()
    groups = [("", summary)] if hue is None else list(summary.groupby(summary[hue].astype(str)))
    categories = list(dict.fromkeys(summary[x].astype(str)))
    for label, part in groups:
        pos = [categories.index(v) for v in part[x].astype(str)]
        ax.errorbar(
            pos,
            part[f"{y}_mean"],
            yerr=part[f"{y}_ci95"].fillna(0.0),
            marker="o",
            capsize=3,
            label=f"{hue} = {label}" if hue else None,
        )
    ax.set_xticks(range(len(categories)), categories, fontsize=8)
    ax.set(xlabel=x, ylabel=f"{y} (mean, 95 % CI)")
    ax.grid(alpha=0.3)
    if hue:
        ax.legend(fontsize=7)
    return fig


WHATIF_OUTCOMES = ("final accuracy", "simulated time (s)", "PIU energy (J)", "uplink (Mbit)")


def whatif_figure(frame: pd.DataFrame, setting: str) -> Figure:
    """The outcomes of compared runs (:func:`analysis.compare.whatif_frame`) against one
    setting that differs between them: a panel per outcome, every run a point, the mean per
    value joined by a line (repeats, e.g. seeds, spread around it). A numeric setting is
    drawn on its own scale; any other by its values in the order they first appear."""
    values = frame[setting]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        x = values.astype(float)
        order = sorted(set(x))
    else:
        order_text = list(dict.fromkeys(values.astype(str)))
        x = values.astype(str).map(order_text.index).astype(float)
        order = list(range(len(order_text)))
    fig = _blank(10.0, 2.8)
    axes = fig.subplots(1, len(WHATIF_OUTCOMES))
    for ax, outcome in zip(axes, WHATIF_OUTCOMES, strict=True):
        y = pd.to_numeric(frame[outcome], errors="coerce")
        ax.plot(x, y, "o", alpha=0.5, color="C0")
        means = y.groupby(x).mean().reindex(order)
        ax.plot(order, means.to_numpy(), "-", color="C0")
        ax.set(xlabel=setting, ylabel=outcome)
        if not numeric:
            ax.set_xticks(order, order_text, fontsize=8, rotation=30, ha="right")
        ax.grid(alpha=0.3)
    return fig


def radio_figure(events: pd.DataFrame, rb_usage: pd.DataFrame | None = None) -> Figure:
    """A run's radio KPIs (:mod:`analysis.kpis`): the SINR CDFs of its uplink and downlink
    transmissions (and, under a slot scheduler, ``rb_usage``'s per-RB SINR CDFs, dashed),
    each PIU's upload throughput against its mean SINR, and with NR links the transport
    blocks by MCS index."""
    from netsim.analysis.kpis import mcs_histogram, rb_sinr_cdf, sinr_cdf, throughput_per_piu

    hist = mcs_histogram(events)
    fig = _blank(10.0, 3.0)
    axes = fig.subplots(1, 3 if len(hist) else 2)
    for direction in ("uplink", "downlink"):
        cdf = sinr_cdf(events, direction)
        if len(cdf):
            axes[0].step(cdf["sinr_db"], cdf["p"], where="post", label=direction)
        per_rb = rb_sinr_cdf(rb_usage, direction) if rb_usage is not None else cdf.iloc[:0]
        if len(per_rb):
            axes[0].plot(per_rb["sinr_db"], per_rb["p"], "--", label=f"{direction}, per RB")
    axes[0].set(xlabel="SINR (dB): of a transmission, of an RB-slot", ylabel="CDF")
    axes[0].legend(fontsize=8)
    per_piu = throughput_per_piu(events)
    axes[1].plot(per_piu["mean_sinr_db"], per_piu["throughput_bps"] / 1e6, "o", alpha=0.6)
    axes[1].set(xlabel="PIU's mean upload SINR (dB)", ylabel="upload throughput (Mbit/s)")
    if len(hist):
        for direction, part in hist.groupby("direction"):
            axes[2].bar(part["mcs"] + (0.2 if direction == "downlink" else -0.2),
                        part["share"], width=0.4, label=str(direction))  # fmt: skip
        axes[2].set(xlabel="MCS index", ylabel="share of transport blocks")
        axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def backhaul_figure(loads: pd.DataFrame, max_links: int = 8) -> Figure:
    """A routed backhaul's link utilisation over time (:attr:`RunData.backhaul`, from
    :func:`netsim.backhaul.flows.link_loads`): the ``max_links`` links that carried the most
    bits, each a step line of its total utilisation with the background traffic's share
    shaded; the rest are named in the title."""
    busy = (
        ((loads["fl_bps"] + loads["background_bps"]) * (loads["t_end_s"] - loads["t_start_s"]))
        .groupby(loads["link"], observed=True)
        .sum()
        .sort_values(ascending=False)
    )
    shown = list(busy.index[:max_links])
    fig, ax = _figure(8.0, 3.6)
    colors = _colors()
    for i, link in enumerate(shown):
        part = loads[loads["link"] == link].sort_values("t_start_s")
        t = np.append(part["t_start_s"].to_numpy(), part["t_end_s"].to_numpy()[-1])
        total = np.append(part["utilisation"].to_numpy(), part["utilisation"].to_numpy()[-1])
        background = (part["background_bps"] / part["capacity_bps"]).to_numpy()
        color = colors[i % len(colors)]
        ax.step(t, total, where="post", color=color, label=str(link))
        ax.fill_between(t, 0, np.append(background, background[-1]), step="post",
                        color=color, alpha=0.15)  # fmt: skip
    hidden = len(busy) - len(shown)
    title = "backhaul links: utilisation (line), background traffic (shaded)"
    if hidden > 0:
        title += f"; {hidden} less busy links not drawn"
    ax.set(xlabel="simulated time (s)", ylabel="utilisation", ylim=(0, 1.05), title=title)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    _legend_beside(ax)
    return fig


def _colors() -> list[str]:
    """Matplotlib's default colour cycle."""
    import matplotlib as mpl

    return list(mpl.rcParams["axes.prop_cycle"].by_key()["color"])
