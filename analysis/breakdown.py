"""Where time and energy went: breakdowns computed from an event log (pure pandas).

All functions take the ``events`` DataFrame of a run (``SimulationResult.events`` or
``load_run(path).events``) and return DataFrames; nothing prints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Consecutive milestones of a synchronous round's critical path; each latency component is
# the time between two of them, so the components add up to the round's duration.
LATENCY_COMPONENTS = (
    "downlink",
    "compute",
    "queueing",
    "airtime",
    "uplink",
    "waiting",
    "aggregation",
)


def latency_breakdown(events: pd.DataFrame, edge: str | None = None) -> pd.DataFrame:
    """Per round, the round time (s) split along its critical path.

    Hierarchical FL: the rounds of edge server ``edge`` (its events, its APs' and its
    PIUs'); without ``edge``, every edge server's, one after another, with an ``edge``
    column (see :func:`cloud_breakdown` for the cloud's rounds).

    The critical PIU is the one whose transmission ended last before the aggregation (the
    update that closed the round; if nobody transmitted, the last to finish training).
    Milestones: round start (``broadcast``) -> its model arrives (``rx_model``: backhaul and
    multicast, ``downlink``) -> its training ends (``compute``) -> its first transmission
    starts (``queueing`` for the uplink slot) -> its last transmission ends (``airtime``,
    retransmissions included) -> the server's last ``rx_update`` (``uplink``: backhaul) ->
    the aggregation starts (``waiting``: e.g. for the deadline) -> the round ends
    (``aggregation``). A milestone that did not happen collapses onto the previous one.

    Returns one row per round with ``t_start_s``, ``duration_s`` and the components (s).
    """
    edges = sorted(events.loc[events.role == "edge", "node"].unique())
    if edge is None and edges:
        tables = [latency_breakdown(events, e).assign(edge=e) for e in edges]
        return pd.concat(tables, ignore_index=True)
    if edge is not None:
        events = edge_events(events, edge)
    rows = []
    for r, ev in events[events["round"] >= 0].groupby("round", sort=True):
        start = ev.loc[ev.event == "broadcast", "t_s"].min()
        agg = ev[ev.event == "aggregate"]
        if agg.empty or np.isnan(start):
            continue  # not a finished synchronous round
        end = float(agg.t_s.iloc[-1])
        agg_start = end - float(agg.duration_s.iloc[-1])
        piu = ev[(ev.role == "piu") & (ev.t_s <= agg_start)]
        sent = piu[piu.event.isin(["tx_end", "tx_fail"])]
        trained = piu[piu.event == "train_end"]
        critical = (sent if len(sent) else trained).sort_values("t_s", kind="stable")
        mine = piu[piu.node == critical.node.iloc[-1]] if len(critical) else piu.iloc[:0]
        rx_update = ev.loc[(ev.event == "rx_update") & (ev.t_s <= agg_start), "t_s"]
        marks = [
            start,
            _first(mine, "rx_model"),
            _last(mine, "train_end"),
            _first(mine, "tx_start"),
            _last(mine, ["tx_end", "tx_fail"]),
            rx_update.max() if len(rx_update) else np.nan,
            agg_start,
            end,
        ]
        times = _collapse(marks)
        row = {"round": int(r), "t_start_s": start, "duration_s": end - start}
        row.update(zip(LATENCY_COMPONENTS, np.diff(times), strict=True))
        rows.append(row)
    return pd.DataFrame(rows, columns=["round", "t_start_s", "duration_s", *LATENCY_COMPONENTS])


def edge_events(events: pd.DataFrame, edge: str) -> pd.DataFrame:
    """The rows of edge server ``edge`` (hierarchical FL), of the APs it sends models to
    and of the PIUs that transmit to those APs."""
    mine = events[events.node == edge]
    aps = set(mine.loc[(mine.event == "send_start") & (mine.peer != "server"), "peer"])
    tx = events[(events.role == "piu") & (events.event == "tx_start")]
    pius = set(tx.loc[tx.peer.isin(aps), "node"])
    keep = (events.node == edge) | events.node.isin(aps) | events.node.isin(pius)
    return events[keep]


# Consecutive milestones of a cloud round of hierarchical FL along its critical edge server
# (the one whose model arrived last before the aggregation).
CLOUD_COMPONENTS = ("to_edge", "edge_rounds", "to_cloud", "waiting", "aggregation")


def cloud_breakdown(events: pd.DataFrame) -> pd.DataFrame:
    """Per cloud round of hierarchical FL, its time (s) along the critical edge server:
    the cloud's broadcast -> the edge server has the model (``to_edge``: the backhaul) ->
    it starts sending its edge model (``edge_rounds``: its k2 edge rounds) -> the cloud
    has it (``to_cloud``) -> the aggregation starts (``waiting``: e.g. for the deadline)
    -> the round ends (``aggregation``). One row per cloud round with ``edge`` (the
    critical edge server), ``t_start_s``, ``duration_s`` and the components.
    """
    server = events[(events.node == "server") & (events["round"] >= 0)]
    rows = []
    for r, ev in server.groupby("round", sort=True):
        start = ev.loc[ev.event == "broadcast", "t_s"].min()
        agg = ev[ev.event == "aggregate"]
        if agg.empty or np.isnan(start):
            continue
        end = float(agg.t_s.iloc[-1])
        agg_start = end - float(agg.duration_s.iloc[-1])
        rx = ev[(ev.event == "rx_update") & (ev.t_s <= agg_start)].sort_values("t_s")
        edge = str(rx.peer.iloc[-1]) if len(rx) else None
        mine = events[(events.node == edge) & (events["round"] == r)]
        to_cloud = mine[(mine.event == "send_start") & (mine.peer == "server")]
        marks = [
            start,
            _first(mine, "rx_model"),
            float(to_cloud.t_s.min()) if len(to_cloud) else np.nan,
            float(rx.t_s.max()) if len(rx) else np.nan,
            agg_start,
            end,
        ]
        row = {"round": int(r), "edge": edge, "t_start_s": start, "duration_s": end - start}
        row.update(zip(CLOUD_COMPONENTS, np.diff(_collapse(marks)), strict=True))
        rows.append(row)
    columns = ["round", "edge", "t_start_s", "duration_s", *CLOUD_COMPONENTS]
    return pd.DataFrame(rows, columns=columns)


def _first(ev: pd.DataFrame, event: str | list[str]) -> float:
    t = ev.loc[ev.event.isin([event] if isinstance(event, str) else event), "t_s"]
    return float(t.min()) if len(t) else np.nan


def _last(ev: pd.DataFrame, event: str | list[str]) -> float:
    t = ev.loc[ev.event.isin([event] if isinstance(event, str) else event), "t_s"]
    return float(t.max()) if len(t) else np.nan


def _collapse(marks: list[float]) -> np.ndarray:
    """Milestones in order; a missing one (NaN) takes the previous one's time."""
    out = np.array(marks, dtype=float)
    for i in range(1, len(out)):
        if np.isnan(out[i]) or out[i] < out[i - 1]:
            out[i] = out[i - 1]
    return out


ENERGY_COMPONENTS = ("compute", "transmit")


def energy_breakdown(events: pd.DataFrame) -> pd.DataFrame:
    """Per PIU, the energy (J) it spent on ``compute`` (training, also when cut short) and
    ``transmit`` (uploads, failed attempts and over-the-air slots included), their
    ``total`` (= the battery ledger's spending), and ``harvested`` (stored, J).

    Interrupted activities (``abort``, ``battery_empty``) are attributed by their
    ``activity`` column ("train" -> compute, "tx" -> transmit). The model has no idle
    power: a PIU that waits draws nothing.
    """
    piu = events[(events.role == "piu") & events.energy_j.notna()]
    kind = pd.Series(np.nan, index=piu.index, dtype=object)
    kind[piu.event == "train_end"] = "compute"
    kind[piu.event.isin(["tx_end", "tx_fail"])] = "transmit"
    cut = piu.event.isin(["abort", "battery_empty"])
    activity = piu.activity.astype(str)
    kind[cut & (activity == "train")] = "compute"
    kind[cut & (activity == "tx")] = "transmit"
    spent = piu[kind.notna()]
    table = (
        spent.groupby([spent.node.astype(str), kind[kind.notna()]])["energy_j"]
        .sum()
        .unstack(fill_value=0.0)
        .reindex(columns=list(ENERGY_COMPONENTS), fill_value=0.0)
    )
    nodes = sorted(piu.node.astype(str).unique(), key=piu_number)
    table = table.reindex(nodes, fill_value=0.0)
    table["total"] = table.sum(axis=1)
    table["harvested"] = harvested_per_piu(events).reindex(nodes, fill_value=0.0)
    table.index.name = "node"
    return table


def harvested_per_piu(events: pd.DataFrame) -> pd.Series:
    """Energy (J) each harvesting PIU stored (``harvest`` rows carry minus that energy)."""
    harvest = events[(events.role == "piu") & (events.event == "harvest")]
    return -harvest.groupby(harvest.node.astype(str))["energy_j"].sum()


def battery_trajectories(events: pd.DataFrame) -> pd.DataFrame:
    """Battery level (J) of each PIU over simulated time: one row per event that logged it
    (``t_s``, ``node``, ``battery_j``), in time order."""
    piu = events[(events.role == "piu") & events.battery_j.notna()]
    return piu[["t_s", "node", "battery_j"]].reset_index(drop=True)


def latency_cdf(values: pd.Series) -> pd.DataFrame:
    """Empirical CDF of latencies (s): sorted ``value`` and ``p`` = P(X <= value)."""
    x = np.sort(values.dropna().to_numpy(dtype=float))
    return pd.DataFrame({"value": x, "p": np.arange(1, len(x) + 1) / len(x)})


def upload_latency(events: pd.DataFrame) -> pd.DataFrame:
    """Per (PIU, round) whose update reached the server: from the model's arrival
    (``rx_model``) to the update's arrival (``rx_update``), in s."""
    got = events[events.event == "rx_model"][["round", "node", "t_s"]]
    rx = events[events.event == "rx_update"]
    arrived = pd.DataFrame({"round": rx["round"], "node": rx.peer.astype(str), "t_arrival": rx.t_s})
    both = got.astype({"node": str}).merge(arrived, on=["round", "node"])
    both["latency_s"] = both.t_arrival - both.t_s
    return both[["round", "node", "latency_s"]].reset_index(drop=True)


def progress(events: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """Per round (or model version): end time (s), test accuracy and loss, and the
    cumulative PIU energy (J, harvest not subtracted) and uplink bits spent by then."""
    piu = events[(events.role == "piu") & (events.event != "harvest")]
    energy = piu[["t_s", "energy_j"]].dropna().sort_values("t_s", kind="stable")
    bits = events[events.event.isin(["tx_end", "tx_fail"])][["t_s", "bits"]].dropna()
    bits = bits.sort_values("t_s", kind="stable")
    t = rounds.t_end_s.to_numpy()
    cum_e = np.concatenate([[0.0], energy.energy_j.cumsum().to_numpy()])
    cum_b = np.concatenate([[0.0], bits.bits.cumsum().to_numpy()])
    return pd.DataFrame(
        {
            "round": rounds["round"].to_numpy(),
            "t_end_s": t,
            "test_accuracy": rounds.test_accuracy.to_numpy(),
            "test_loss": rounds.test_loss.to_numpy(),
            "energy_j": cum_e[np.searchsorted(energy.t_s.to_numpy(), t, side="right")],
            "uplink_bits": cum_b[np.searchsorted(bits.t_s.to_numpy(), t, side="right")],
        }
    )


def activity_intervals(events: pd.DataFrame) -> pd.DataFrame:
    """Who computed or transmitted when: one row per activity (``node``, ``activity`` =
    "compute" | "transmit", ``start_s``, ``end_s``, ``round``), from the ``*_end`` rows and
    the interrupted ones (``abort`` / ``battery_empty``, ending at the interruption)."""
    piu = events[events.role == "piu"]
    done = piu[piu.event.isin(["train_end", "tx_end", "tx_fail"])]
    out = pd.DataFrame(
        {
            "node": done.node.astype(str),
            "activity": np.where(done.event == "train_end", "compute", "transmit"),
            "start_s": done.t_s - done.duration_s,
            "end_s": done.t_s,
            "round": done["round"],
        }
    )
    cut = piu[piu.event.isin(["abort", "battery_empty"]) & (piu.duration_s > 0)]
    activity = cut.activity.astype(str)
    cut = cut[activity.isin(["train", "tx"])]
    interrupted = pd.DataFrame(
        {
            "node": cut.node.astype(str),
            "activity": np.where(activity[cut.index] == "train", "compute", "transmit"),
            "start_s": cut.t_s - cut.duration_s,
            "end_s": cut.t_s,
            "round": cut["round"],
        }
    )
    both = pd.concat([out, interrupted], ignore_index=True)
    return both.sort_values(["start_s", "node"], kind="stable").reset_index(drop=True)


TIMELINE_PHASES = ("download", "compute", "queue", "transmit", "forward")


def round_timeline(events: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """What each PIU's update went through, phase by phase: one row per interval
    (``node``, ``activity``, ``start_s``, ``end_s``, ``round``) with ``activity`` one of
    :data:`TIMELINE_PHASES`: ``download`` (from its round's start to the model's arrival,
    ``rx_model``: the backhaul and the AP's downlink), ``compute`` and ``transmit``
    (:func:`activity_intervals`), ``queue`` (trained, waiting for the uplink: ``train_end``
    to its first ``tx_start``) and ``forward`` (its update on the AP's backhaul to the
    aggregator, ``fwd_start`` to ``fwd_end``). A round's start comes from ``rounds``; in
    hierarchical FL, whose PIUs count their edge server's rounds, there is no download
    row."""
    acts = activity_intervals(events)
    piu = events[events.role == "piu"]
    flat = "tier" not in rounds.columns or bool((rounds["tier"] == "global").all())
    starts = dict(zip(rounds["round"], rounds["t_start_s"], strict=True)) if flat else {}
    got = piu[piu.event == "rx_model"]
    t0 = got["round"].map(starts).astype(float)
    download = pd.DataFrame(
        {"node": got.node.astype(str), "activity": "download", "start_s": t0,
         "end_s": got.t_s, "round": got["round"]}
    )[t0.notna().to_numpy()]  # fmt: skip
    trained = piu[piu.event == "train_end"][["node", "round", "t_s"]]
    first_tx = piu[piu.event == "tx_start"].groupby(["node", "round"], observed=True).t_s.min()
    queued = trained.join(first_tx.rename("tx_s"), on=["node", "round"]).dropna(subset=["tx_s"])
    queue = pd.DataFrame(
        {"node": queued.node.astype(str), "activity": "queue", "start_s": queued.t_s,
         "end_s": queued.tx_s, "round": queued["round"]}
    )[(queued.tx_s > queued.t_s).to_numpy()]  # fmt: skip
    fwd = events[events.event.isin(["fwd_start", "fwd_end"])]
    begun = fwd[fwd.event == "fwd_start"].groupby(["peer", "round"], observed=True).t_s.min()
    ended = fwd[fwd.event == "fwd_end"].groupby(["peer", "round"], observed=True).t_s.max()
    both = pd.concat([begun.rename("start_s"), ended.rename("end_s")], axis=1).dropna()
    forward = pd.DataFrame(
        {"node": both.index.get_level_values(0).astype(str), "activity": "forward",
         "start_s": both.start_s.to_numpy(), "end_s": both.end_s.to_numpy(),
         "round": both.index.get_level_values(1)}
    )  # fmt: skip
    out = pd.concat([acts, download, queue, forward], ignore_index=True)
    return out.sort_values(["start_s", "node"], kind="stable").reset_index(drop=True)


def piu_number(node: str) -> int:
    """Sort key of node names: piu2 before piu10."""
    digits = "".join(ch for ch in node if ch.isdigit())
    return int(digits) if digits else -1


def link_loads(events: pd.DataFrame) -> pd.DataFrame:
    """Per directed backhaul link of a routed backhaul, the FL traffic it carried: ``bits``
    and ``transfers`` (updates an AP forwarded, ``fwd_end``; models an aggregator sent,
    ``send_end``), each counted on the route it ended on (a transfer rerouted around a
    failure is counted on its last route). Columns ``src``, ``dst``, ``bits``,
    ``transfers``, sorted by bits (most first); empty on the star (no routes)."""
    done = events[events.event.isin(["fwd_end", "send_end"]) & events.route.notna()]
    rows: list[tuple[str, str, float]] = []
    for route, bits in zip(done.route.astype(str), done.bits, strict=True):
        nodes = route.split(">")
        rows.extend((u, v, bits) for u, v in zip(nodes[:-1], nodes[1:], strict=True))
    table = pd.DataFrame(rows, columns=["src", "dst", "bits"])
    loads = table.groupby(["src", "dst"], as_index=False).agg(
        bits=("bits", "sum"), transfers=("bits", "size")
    )
    return loads.sort_values(
        ["bits", "src", "dst"], ascending=[False, True, True], ignore_index=True
    )


def piu_accuracy(piu_eval: pd.DataFrame, worst: float = 0.1) -> pd.DataFrame:
    """Per evaluated round, the distribution of the global model's accuracy over the PIUs'
    own held-out data (``SimulationResult.piu_eval`` / ``piu_eval.parquet``): ``mean``,
    ``median``, ``p10`` (10th percentile), ``worst`` (the mean over the ``worst`` share of
    PIUs with the lowest accuracy, at least one), ``min`` and ``pius``."""
    rows = []
    for r, group in piu_eval.groupby("round", sort=True):
        acc = np.sort(group.accuracy.to_numpy(dtype=float))
        k = max(1, int(np.floor(worst * len(acc))))
        rows.append(
            {
                "round": int(r), "mean": acc.mean(), "median": float(np.median(acc)),
                "p10": float(np.quantile(acc, 0.1)), "worst": acc[:k].mean(),
                "min": acc[0], "pius": len(acc),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=["round", "mean", "median", "p10", "worst", "min", "pius"])
