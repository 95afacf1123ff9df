"""Interactive figures of the report (zoom, pan, hover): the round timeline and the latency
CDFs, drawn by plotly.js, which the report embeds once (the page stays one offline file).

Needs the ``report`` extra (``pip install netsim[report]``: plotly); without it the report
draws every figure as a PNG (:mod:`analysis.figures`). A figure here shows what its
matplotlib twin shows, with every PIU its own row however many there are (the PNG timeline
shares rows beyond 60): the view opens on the first rows and the user zooms or pans to the
others, and hovering a bar names its PIU, phase, times and round.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Mapping
from typing import Any

from netsim.analysis.breakdown import (
    TIMELINE_PHASES,
    latency_cdf,
    piu_number,
    round_timeline,
    upload_latency,
)
from netsim.analysis.figures import TIMELINE_COLORS  # the PNG timeline's: both read alike

from netsim.log import global_rounds

ROWS_IN_VIEW = 40
"""PIU rows the timeline shows before the user zooms or pans."""
_CONFIG = {"displaylogo": False, "responsive": True}


def available() -> bool:
    """Whether plotly is installed (the ``report`` extra)."""
    return importlib.util.find_spec("plotly") is not None


def plotly_script() -> str:
    """A ``<script>`` holding plotly.js itself (about 4.8 MB), once per page."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def _html(fig: Any, div_id: str, alt: str) -> str:
    """The figure as a ``<div>`` drawn by the page's plotly.js (its id fixed: the same runs
    give the same report), inside a box labelled ``alt`` for screen readers."""
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=_CONFIG)  # fmt: skip
    return f'<div class="plot" role="figure" aria-label="{html.escape(alt)}">{body}</div>'


def timeline_html(run: Any, div_id: str, alt: str) -> str:
    """A round's timeline (Gantt) as :func:`analysis.figures.timeline_figure` draws it,
    interactive: one row per PIU (download, compute, queue, uplink, forwarding; the
    server's aggregations on the top row), round ends as grey lines and deadlines
    (``deadline_miss``) as red dashed ones; the view opens on the first
    :data:`ROWS_IN_VIEW` rows; a legend entry hides or shows its phase."""
    import plotly.graph_objects as go
    from matplotlib.colors import to_hex

    events = run.events
    spans = round_timeline(events, run.rounds)
    nodes = sorted(spans.node.unique(), key=piu_number)
    rows = ["server", *nodes]
    fig = go.Figure()
    for activity in TIMELINE_PHASES:
        part = spans[spans.activity == activity]
        if len(part):
            fig.add_trace(_bars(part.node, part.start_s, part.end_s, part["round"],
                                activity, to_hex(TIMELINE_COLORS[activity])))  # fmt: skip
    agg = events[(events.event == "aggregate") & (events.role == "server")]
    if len(agg):
        length = agg.duration_s.fillna(0.0)
        fig.add_trace(_bars(["server"] * len(agg), agg.t_s - length, agg.t_s, agg["round"],
                            "aggregate", "black"))  # fmt: skip
    for end in global_rounds(run.rounds)["t_end_s"]:
        fig.add_vline(x=float(end), line_color="#999", line_width=1, layer="below")
    for t in sorted(set(events[events.event == "deadline_miss"].t_s)):
        fig.add_vline(x=float(t), line_color="#d62728", line_dash="dash", line_width=1)
    shown = min(len(rows), ROWS_IN_VIEW)
    hint = "" if shown == len(rows) else f" ({len(nodes)} PIUs: zoom or pan for the others)"
    fig.update_layout(
        title=f"round timeline{hint}", barmode="overlay", height=max(320, 18 * shown + 160),
        xaxis_title="simulated time (s)", legend={"traceorder": "normal"},
        margin={"l": 70, "r": 20, "t": 50, "b": 50},
    )  # fmt: skip
    fig.update_yaxes(categoryorder="array", categoryarray=rows, autorange=False,
                     range=[shown - 0.5, -0.5], tickfont={"size": 10})  # fmt: skip
    return _html(fig, div_id, alt)


def _bars(node: Any, start: Any, end: Any, rounds: Any, name: str, color: str) -> Any:
    """Horizontal bars from ``start`` to ``end`` (s) on rows ``node``, hover naming each."""
    import plotly.graph_objects as go

    start = list(map(float, start))
    length = [float(e) - s for s, e in zip(start, end, strict=True)]
    return go.Bar(
        y=list(map(str, node)), x=length, base=start, orientation="h", name=name,
        marker={"color": color, "line": {"width": 0}}, customdata=list(rounds), width=0.8,
        hovertemplate=("%{y}: " + name + "<br>%{base:.4f} s to %{x:.4f} s later"
                       "<br>round %{customdata}<extra></extra>"),
    )  # fmt: skip


def latency_cdf_html(runs: Mapping[str, Any], div_id: str, alt: str) -> str:
    """CDFs of the round durations (solid) and of the PIUs' model-to-update latencies
    (dashed) of each run, as :func:`analysis.figures.latency_cdf_figure`, interactive."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    fig = go.Figure()
    low, high = float("inf"), -float("inf")
    for k, (label, run) in enumerate(runs.items()):
        color = qualitative.Plotly[k % len(qualitative.Plotly)]
        rounds = latency_cdf(run.rounds.t_end_s - run.rounds.t_start_s)
        uploads = latency_cdf(upload_latency(run.events).latency_s)
        for cdf, what, dash in ((rounds, "rounds", "solid"), (uploads, "uploads", "dash")):
            x = cdf.value.astype(float).tolist()
            if not x:
                continue
            low, high = min(low, x[0]), max(high, x[-1])
            fig.add_trace(go.Scatter(  # from P = 0 at its smallest value, as a step
                x=[x[0], *x], y=[0.0, *cdf.p.astype(float).tolist()],
                mode="lines", line={"shape": "hv", "color": color, "dash": dash},
                name=f"{label}: {what}",
                hovertemplate="%{x:.4f} s: P = %{y:.3f}<extra>" + html.escape(label) + "</extra>",
            ))  # fmt: skip
    if high >= low:  # a margin either side, so that no step hides on the frame
        pad = 0.05 * (high - low) or 0.05 * max(abs(high), 1e-3)
        fig.update_xaxes(range=[low - pad, high + pad])
    fig.update_layout(title="latency CDF", xaxis_title="latency (s)",
                      yaxis_title="P(latency <= x)", height=420,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})  # fmt: skip
    return _html(fig, div_id, alt)
