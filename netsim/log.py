"""The event log: typed records, one row per event, turned into pandas only at the edge.

Columns (DESIGN.md), NaN (or <NA>) where not applicable; SI units: ``t_s, round, node, role,
event, duration_s, bits, energy_j, battery_j, rate_bps, snr_db, interference_w, mcs, tb_count,
harq_retx, rlc_retx, first_tx_fail, power_w, staleness, loss, accuracy, peer, activity, reason,
method, route, detail`` (``interference_w``: the mean co-channel interference power of a
transmission on a shared medium, W; ``mcs``, ``tb_count``, ``harq_retx``, ``rlc_retx``,
``first_tx_fail``: under the NR link abstraction, a transmission's mean MCS index, its
transport blocks, HARQ retransmissions, RLC retransmissions and blocks whose first transmission
failed, nullable integers for the counts).

The typed text columns say what the free-form ``detail`` only describes, so analyses filter
on them instead of parsing text: ``peer`` the other node of the row (the receiver of a
transmission, the PIU an AP forwards for or the server decides about, the sender of an
update the server receives, the new AP of a handover); ``activity`` what an ``abort`` or
``battery_empty`` cut short ("train", "queue", "tx"); ``reason`` why (a skip, an abort, a
failed attempt, a dropped PIU, a discarded update, a fallback, a stop or a wait);
``method`` how (the payload's encoding, the aggregation rule, the allocation method, the
selection policy, the harvesting source); ``route`` the backhaul nodes a transfer crossed on
a routed backhaul (``ap0>sw0>core>server``: at its start on ``fwd_start``, at its end on
``fwd_end``, so per-link loads follow from the log).

``energy_j`` is energy drawn from the node's battery by the activity the row closes, and
``battery_j`` the level right after, so per PIU: initial battery - sum(energy_j) = final level.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import astuple, dataclass, fields, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


NAN = math.nan


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the event log. ``round`` is -1 where no round applies."""

    t_s: float
    round: int
    node: str
    role: str
    event: str
    duration_s: float = NAN
    bits: float = NAN
    energy_j: float = NAN
    battery_j: float = NAN
    rate_bps: float = NAN
    snr_db: float = NAN
    interference_w: float = NAN
    mcs: float = NAN
    tb_count: int | None = None
    harq_retx: int | None = None
    rlc_retx: int | None = None
    first_tx_fail: int | None = None
    power_w: float = NAN
    staleness: float = NAN
    loss: float = NAN
    accuracy: float = NAN
    peer: str | None = None
    activity: str | None = None
    reason: str | None = None
    method: str | None = None
    route: str | None = None
    detail: str = ""


EVENT_COLUMNS = [f.name for f in fields(Event)]
TEXT_COLUMNS = ("peer", "activity", "reason", "method", "route", "detail")

# What each column holds (SI units; NaN or <NA> where it does not apply). The reference
# page of the event log is generated from these two tables (netsim/reference.py).
COLUMN_DOCS: dict[str, str] = {
    "t_s": "simulated time of the event (s); a *_end row's time is when it ended",
    "round": "the round (synchronous), model version (asynchronous), cloud round; -1: none",
    "node": "the entity: piu3, ap0, server, edge1, or u-v for a backhaul link",
    "role": "piu, ap, server, edge or backhaul",
    "event": "the event type (below)",
    "duration_s": "how long the activity took (s): compute, airtime, a transfer, a deadline",
    "bits": "payload bits of a transmission or transfer (the encoded update or model)",
    "energy_j": "energy the activity drew from the PIU's battery (J); a harvest is negative",
    "battery_j": "the PIU's battery after the activity (J)",
    "rate_bps": "mean rate of a transmission (bit/s)",
    "snr_db": "mean SNR (SINR with interference) of a transmission (dB)",
    "interference_w": "mean co-channel interference power of a transmission (W; radio.reuse)",
    "mcs": "mean MCS index over a transmission's transport blocks (radio.link = nr)",
    "tb_count": "transport blocks of a transmission (radio.link = nr)",
    "harq_retx": "HARQ retransmissions of a transmission (radio.link = nr)",
    "rlc_retx": "RLC retransmissions of a transmission: its transport blocks that failed "
    "their last HARQ transmission and whose payload RLC sent again (radio.link = nr; "
    "TS 38.322 acknowledged mode)",
    "first_tx_fail": "transport blocks of a transmission whose first HARQ transmission was "
    "not decoded (radio.link = nr): first_tx_fail / tb_count is its first-transmission BLER, "
    "which link adaptation holds at radio.bler_target",
    "power_w": "transmit power (W)",
    "staleness": "versions between the model an update was trained on and the current one",
    "loss": "training loss (train_end, aggregate), test loss (evaluate) or validation loss (stop "
    "at a plateau)",
    "accuracy": "test accuracy of the global model (evaluate, stop)",
    "peer": "the other node: the receiving AP of a tx_*, the PIU an AP forwards for, the "
    "sender of an rx_update, the PIU of a candidate / deadline_miss / cut / discard, "
    "the new AP of a handover",
    "activity": "what an abort or battery_empty cut short: train, queue or tx",
    "reason": "why: skip (energy, offline), abort (server, offline, late_model), tx_fail "
    "(outage, harq, rlc), dl_fail (harq, rlc), deadline_miss (deadline), cut "
    "(target_reached), discard (stale, declined), candidate (selected, passed, outage), "
    "stop (target_accuracy, plateau, nothing_left)",
    "method": "how: a transmission's payload encoding, the aggregate rule or asynchronous "
    "mode, the allocate method, a candidate's selection policy, a harvest's source",
    "route": "on a routed backhaul, the nodes a transfer crossed (ap0>sw0>core>server)",
    "detail": "free text for people; filter on the typed columns instead",
}

# Every event type, the roles that log it and what its row means. A test checks that the
# runs log no other type and that each one here is logged by the code.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "candidate": (
        "server",
        "a ranking selection policy's inputs for one PIU: rate_bps, "
        "predicted round time (duration_s), battery_j; predictive selection: the "
        "forecast SNR (snr_db), reason selected / passed / outage, detail the "
        "forecast and the SNR that came true",
    ),
    "deadline": ("server", "the predictive deadline of the round (duration_s)"),
    "control": ("server", "adaptive control: local steps, fidelity and the probe loss"),
    "allocate": ("server", "power allocation of the round (method, detail: its solution)"),
    "allocation_fallback": ("server", "the allocation's solver failed; reason: the fallback"),
    "prune": ("server, piu", "pruning: level, sparsity and model bits"),
    "broadcast": ("server", "the global model sent to the round's PIUs (bits)"),
    "rx_update": (
        "server, edge",
        "an update received (asynchronous modes: staleness, detail "
        "the version it was trained on and its weight; peer the sender)",
    ),
    "deadline_miss": ("server, edge", "a selected PIU (or edge server) missed the deadline"),
    "cut": ("server, edge", "over-commitment: enough updates arrived, this PIU's is cut off"),
    "discard": ("server, edge", "an update of an old round (stale) or declined, thrown away"),
    "wait": ("server", "every PIU offline or declining: the server waits"),
    "aggregate": (
        "server, edge",
        "the updates aggregated (train loss; method the rule; "
        "detail the updates and any robust rule)",
    ),
    "evaluate": ("server, edge", "the new model on the test set (loss, accuracy)"),
    "stop": (
        "server",
        "the run stops early (reason target_accuracy, plateau: the validation loss stopped "
        "improving, or nothing_left; loss: the validation loss at a plateau)",
    ),
    "send_start": (
        "server, edge",
        "a model sent over a routed backhaul starts (bits, peer, route)",
    ),
    "send_end": ("server, edge", "that transfer ends (duration_s)"),
    "link_down": ("backhaul", "a backhaul link u-v goes down (scheduled outage or failure)"),
    "link_up": ("backhaul", "the link is repaired"),
    "dl_start": ("ap", "downlink of the model starts (multicast or unicast: rate, SNR)"),
    "dl_end": ("ap", "the downlink ends (airtime in duration_s)"),
    "dl_fail": (
        "ap",
        "NR: a downlink block failed its last HARQ transmission (reason harq) or did so "
        "after its last RLC retransmission (reason rlc); detail: the recipients, whose "
        "updates are lost",
    ),
    "dl_forward": ("ap", "a model on its way through the old AP forwarded to a moved PIU's new AP"),
    "fwd_start": ("ap", "an update forwarded over the backhaul to the server starts"),
    "fwd_end": ("ap", "that forwarding ends"),
    "ota_start": ("ap", "an over-the-air aggregation slot starts (airtime, mean SNR)"),
    "ota_end": ("ap", "the slot ends (detail: the aggregate's MSE per entry)"),
    "rx_model": ("piu, edge", "the model arrived (an edge server: the cloud's model)"),
    "train_start": ("piu", "local training starts"),
    "train_end": ("piu", "local training ends (compute time, energy, loss)"),
    "tx_start": ("piu", "the upload starts (bits, method: the payload encoding)"),
    "tx_end": ("piu", "the upload ends (airtime, rate, SNR, power, energy)"),
    "tx_fail": (
        "piu",
        "a packet in outage or lost after HARQ or RLC (energy, worst SNR, reason)",
    ),
    "skip": (
        "piu",
        "the PIU sits the round out (reason energy: battery below the round's "
        "need plus reserve_j; offline)",
    ),
    "abort": (
        "piu",
        "work cut short by the deadline, a cut or going offline (energy and "
        "work up to then; activity, reason)",
    ),
    "battery_empty": ("piu", "the battery ran out: the PIU leaves (with harvesting it stays)"),
    "offline": ("piu", "the PIU goes offline (churn or trace)"),
    "online": ("piu", "the PIU comes back online"),
    "cpu_change": ("piu", "the CPU frequency changes (availability trace)"),
    "harvest": ("piu", "energy harvested (round -1; energy_j is minus the stored energy)"),
    "handover": ("piu", "the PIU moves to a stronger AP (peer; snr_db the gain margin)"),
    "device": ("piu", "with device classes: the PIU's class and drawn parameters"),
    "gan_inject": (
        "piu",
        "a GAN adversary's injected samples (generator loss, share taken for the victim class)",
    ),
}

COUNT_COLUMNS = ("tb_count", "harq_retx", "rlc_retx", "first_tx_fail")  # nullable integers
# a record's values as a tuple (dataclasses.astuple deep-copies every field: 2 s for the
# 16,000 events of two rounds of the 1,000-PIU scale run)
_event_row = attrgetter(*EVENT_COLUMNS)


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """One row of the rounds table (one per completed round).

    ``selected``: PIUs sent the model; ``aggregated``: updates in the new model; ``dropped``:
    missed the deadline or were cut (over-commitment); ``skipped``: declined (battery);
    ``left``: left the federation; ``lost``: every transmission attempt failed (packet
    errors, or an NR downlink lost the model on the way); ``offline``: became unavailable
    during the round or declined while offline.
    ``uplink_bits`` (delivered uploads, ``tx_end``) and ``energy_j`` (every PIU energy draw,
    harvest not subtracted) cover what happened since the previous row was recorded, so the
    row is complete when it is made (the ``on_round`` callback gets it so) and the rows add
    up to the run; in synchronous rounds that is the round's own transmissions and energy.

    ``tier``: "global" for the model versions of the federation (the server of flat FL, the
    cloud of hierarchical FL), "edge" for an edge server's aggregation of its own PIUs
    (hierarchical FL, ``node`` names it; its ``uplink_bits`` and ``energy_j`` are its PIUs'
    since its previous row). The rows of one tier add up to the run. ``epsilon``: with
    differential privacy, the privacy spent by the end of the round at the scenario's
    delta (NaN without). ``test_median_error_m``, ``test_p90_error_m``: localization on a
    radio data set, the median and 90th percentile of the test positions' errors (m; NaN
    for other tasks).
    """

    round: int
    t_start_s: float
    t_end_s: float
    selected: int
    aggregated: int
    dropped: int
    skipped: int
    left: int
    lost: int
    offline: int
    uplink_bits: float
    energy_j: float
    train_loss: float
    test_loss: float
    test_accuracy: float
    tier: str = "global"
    node: str = "server"
    epsilon: float = math.nan
    test_median_error_m: float = math.nan
    test_p90_error_m: float = math.nan

    @property
    def duration_s(self) -> float:
        """t_end_s - t_start_s (s)."""
        return self.t_end_s - self.t_start_s


class EventLog:
    """Append-only list of :class:`Event` records, with running totals of what the PIUs
    spent (``piu_energy_j``: energy drawn, harvest not subtracted, J) and delivered
    (``uplink_bits``: bits of ``tx_end`` rows) so far. A row's measured values may be filled
    in after it was appended (:meth:`amend`: a round's evaluation, computed later), never its
    time or place in the log."""

    def __init__(self) -> None:
        self.records: list[Event] = []
        self.piu_energy_j = 0.0
        self.uplink_bits = 0.0
        self.spent: dict[str, list[float]] = {}  # per PIU node: [energy J, uplink bits]

    def emit(self, event: Event) -> None:
        """Append ``event`` and update the running totals; an event type missing from
        :data:`EVENT_TYPES` is a programming error (the log's reference would not list it)."""
        if event.event not in EVENT_TYPES:
            raise ValueError(f"event type {event.event!r} is not in netsim.log.EVENT_TYPES")
        self.records.append(event)
        if event.role != "piu":
            return
        mine = self.spent.get(event.node)
        if mine is None:
            mine = self.spent[event.node] = [0.0, 0.0]
        if event.event == "tx_end":
            self.uplink_bits += event.bits
            mine[1] += event.bits
        if event.event != "harvest" and not math.isnan(event.energy_j):
            self.piu_energy_j += event.energy_j
            mine[0] += event.energy_j

    def amend(self, index: int, *, loss: float, accuracy: float) -> None:
        """Fill a model's ``loss`` and ``accuracy`` into the (evaluate) row at ``index``."""
        self.records[index] = replace(self.records[index], loss=loss, accuracy=accuracy)

    def __len__(self) -> int:
        return len(self.records)

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame (see :func:`events_frame`)."""
        return events_frame(self.records)


def events_frame(records: list[Event]) -> pd.DataFrame:
    """The events DataFrame with the fixed columns and dtypes."""
    import pandas as pd

    df = pd.DataFrame([_event_row(r) for r in records], columns=EVENT_COLUMNS)
    df = df.astype(
        {
            "t_s": "float64",
            "round": "int64",
            "node": "string",
            "role": "category",
            "event": "category",
            **dict.fromkeys(COUNT_COLUMNS, "Int64"),
            **dict.fromkeys(TEXT_COLUMNS, "string"),
        }
    )
    float_cols = [
        c
        for c in EVENT_COLUMNS
        if c not in ("round", "node", "role", "event", *TEXT_COLUMNS, *COUNT_COLUMNS)
    ]
    df[float_cols] = df[float_cols].astype("float64")
    return df


def rounds_frame(records: list[RoundRecord]) -> pd.DataFrame:
    """The rounds DataFrame: one row per record, with ``duration_s`` after ``t_end_s``."""
    import pandas as pd

    cols = [f.name for f in fields(RoundRecord)]
    df = pd.DataFrame([astuple(r) for r in records], columns=cols)
    df.insert(3, "duration_s", df["t_end_s"] - df["t_start_s"])
    return df.astype({"tier": "string", "node": "string"})


def global_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """The rows of the federation's model versions (tier "global": every row of flat FL,
    the cloud's rows of hierarchical FL; a table written before tiers existed is all
    global)."""
    if "tier" not in rounds.columns:
        return rounds
    return rounds[rounds["tier"] == "global"]


def log_digest(events: pd.DataFrame) -> str:
    """SHA-256 of the event log's content (order, values, types): same seed, same digest."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(events.astype(str), index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


# The per-flow table (FlowMonitor-like): one row per transfer of a model or an update.
FLOW_COLUMNS = [
    "kind", "round", "src", "dst", "piu", "bits", "start_s", "end_s", "duration_s",
    "throughput_bps", "attempts", "airtime_s", "energy_j", "ready_s", "delay_s", "route",
    "outcome", "reason", "tb_count", "harq_retx", "rlc_retx", "first_tx_fail",
]  # fmt: skip
NR_FLOW_COUNTS = ("tb_count", "harq_retx", "rlc_retx", "first_tx_fail")
FLOW_DOCS: dict[str, str] = {
    "kind": "uplink (PIU -> AP, over the air), downlink (AP -> PIUs), forward (AP -> its "
    "aggregator over the backhaul) or send (a server's model to an AP or edge server)",
    "round": "the round (model version) of the model or update carried",
    "src": "the sending node",
    "dst": "the receiving node (a downlink multicast: 'multicast')",
    "piu": "the PIU whose update (uplink, forward) or model (a unicast downlink) it carries",
    "bits": "payload bits (of the delivered attempt; else of the last one)",
    "start_s": "when its first transmission started (s)",
    "end_s": "when it ended: delivered, lost, aborted (s); NaN if the run ended first",
    "duration_s": "end_s - start_s (s), retransmissions and waits between attempts included",
    "throughput_bps": "bits / duration_s of a delivered flow (bit/s); NaN otherwise",
    "attempts": "uplink: transmission attempts (packet-level retransmissions included)",
    "airtime_s": "uplink: the attempts' airtime, summed (s)",
    "energy_j": "uplink: the PIU's transmit energy for it, every attempt and an abort (J)",
    "ready_s": "uplink: when the update was trained (train_end), so start_s - ready_s queued",
    "delay_s": "uplink: end_s - ready_s of a delivered update (queueing + airtime) (s)",
    "route": "forward and send on a routed backhaul: the nodes crossed",
    "outcome": "delivered, lost (every attempt failed; NR: after HARQ), aborted (deadline, "
    "cut, offline, battery) or open (the run ended first)",
    "reason": "why it was lost or aborted (the last failure's or the abort's reason)",
    "tb_count": "uplink and downlink under radio.link = nr: transport blocks, every attempt's",
    "harq_retx": "uplink and downlink under radio.link = nr: HARQ retransmissions",
    "rlc_retx": "uplink and downlink under radio.link = nr: blocks whose payload RLC sent again",
    "first_tx_fail": "uplink and downlink under radio.link = nr: blocks whose first "
    "transmission failed (first_tx_fail / tb_count: the flow's first-transmission BLER)",
}
_FLOW_ENDS = {
    "dl_start": ("downlink", None),
    "dl_end": ("downlink", "delivered"),
    "dl_fail": ("downlink", "lost"),
    "fwd_start": ("forward", None),
    "fwd_end": ("forward", "delivered"),
    "send_start": ("send", None),
    "send_end": ("send", "delivered"),
}


def flow_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per transfer in ``events`` (an event log, in its order), columns
    :data:`FLOW_COLUMNS` (:data:`FLOW_DOCS`; SI units), in the order the flows started.

    An uplink flow is one PIU's upload of one update: its attempts from the first
    ``tx_start`` to the ``tx_end`` that delivered it, to an ``abort`` or ``battery_empty``
    during a transmission, or to its last ``tx_fail`` (lost: the PIU's next upload or the
    run's end closes it). Downlinks, forwards and sends pair their ``*_start`` with the
    ``*_end`` (or ``dl_fail``) of the same node, round and peer. The delivered uplinks'
    bits add up to the ``tx_end`` rows' and the uplinks' energy to every transmission
    energy the PIUs drew (``tx_end``, ``tx_fail``, and aborts during a transmission).
    """
    import pandas as pd

    flows: list[dict[str, object]] = []
    uplinks: dict[str, dict[str, object]] = {}  # PIU -> its upload under way
    others: dict[tuple[str, str, int, str | None], dict[str, object]] = {}
    trained: dict[str, tuple[int, float]] = {}  # PIU -> (round, t) of its last train_end

    def close(flow: dict[str, object], end_s: float, outcome: str, reason: object) -> None:
        flow.update(end_s=end_s, outcome=outcome, reason=reason)

    def count_blocks(flow: dict[str, object], e: Any) -> None:
        """Add a transmission's NR counts (absent outside NR, and in logs older than
        ``first_tx_fail``) to its flow's."""
        for name in NR_FLOW_COUNTS:
            value = getattr(e, name, None)
            if value is not None and value is not pd.NA and value == value:
                flow[name] = int(flow.get(name) or 0) + int(value)  # type: ignore[call-overload]

    for e in events.itertuples(index=False):
        event, node = e.event, e.node
        if event == "train_end":
            trained[node] = (e.round, e.t_s)
            uplinks.pop(node, None)  # a new update: the last upload was lost for good
        elif event == "tx_start":
            flow = uplinks.get(node)
            if flow is not None and flow["round"] != e.round:
                del uplinks[node]  # the previous upload was lost after its last attempt
                flow = None
            if flow is not None:  # another attempt after a failed one
                flow.update(outcome="open", reason=None)
            if flow is None:
                ready = trained.get(node)
                flow = uplinks[node] = {
                    "kind": "uplink", "round": e.round, "src": node, "dst": e.peer,
                    "piu": node, "bits": e.bits, "start_s": e.t_s, "attempts": 0,
                    "airtime_s": 0.0, "energy_j": 0.0, "outcome": "open",
                    "ready_s": ready[1] if ready is not None and ready[0] == e.round else NAN,
                }  # fmt: skip
                flows.append(flow)
            flow["attempts"] = int(flow["attempts"]) + 1  # type: ignore[call-overload]
        elif event in ("tx_end", "tx_fail") and node in uplinks:
            flow = uplinks[node]
            flow["airtime_s"] = float(flow["airtime_s"]) + e.duration_s  # type: ignore[arg-type]
            flow["energy_j"] = float(flow["energy_j"]) + e.energy_j  # type: ignore[arg-type]
            flow["bits"] = e.bits
            count_blocks(flow, e)
            if event == "tx_end":
                close(flow, e.t_s, "delivered", None)
                del uplinks[node]
            else:  # lost unless another attempt follows
                close(flow, e.t_s, "lost", e.reason)
        elif event in ("abort", "battery_empty") and e.activity == "tx" and node in uplinks:
            flow = uplinks.pop(node)
            flow["airtime_s"] = float(flow["airtime_s"]) + e.duration_s  # type: ignore[arg-type]
            flow["energy_j"] = float(flow["energy_j"]) + e.energy_j  # type: ignore[arg-type]
            reason = e.reason if event == "abort" else "battery"
            close(flow, e.t_s, "aborted", reason)
        elif event in _FLOW_ENDS:
            kind, outcome = _FLOW_ENDS[event]
            peer = e.peer if isinstance(e.peer, str) else None
            key = (kind, node, e.round, peer)
            if outcome is not None and key not in others:
                key = (kind, node, e.round, None)  # a multicast's end may name a recipient
            if outcome is None:
                route = e.route if isinstance(e.route, str) else None
                dst: str | None
                if kind == "downlink":
                    dst = peer or "multicast"
                elif kind == "forward":
                    dst = route.split(">")[-1] if route else "server"
                else:
                    dst = peer
                flow = others[key] = {
                    "kind": kind, "round": e.round, "src": node, "dst": dst,
                    "piu": peer if kind == "forward" or (kind == "downlink" and peer) else None,
                    "bits": e.bits, "start_s": e.t_s, "route": route, "outcome": "open",
                }  # fmt: skip
                flows.append(flow)
            elif key in others:
                flow = others.pop(key)
                count_blocks(flow, e)
                close(flow, e.t_s, outcome, e.reason if outcome == "lost" else None)
    table = pd.DataFrame(flows, columns=FLOW_COLUMNS)
    table["end_s"] = table["end_s"].astype(float)
    open_ = table["outcome"] == "open"
    table.loc[open_, "end_s"] = NAN
    table["duration_s"] = table["end_s"] - table["start_s"]
    delivered = table["outcome"] == "delivered"
    table["throughput_bps"] = (table["bits"] / table["duration_s"]).where(delivered)
    table["delay_s"] = (table["end_s"] - table["ready_s"]).where(delivered)
    for column in ("attempts", *NR_FLOW_COUNTS):
        table[column] = table[column].astype("Int64")
    for column in ("kind", "src", "dst", "piu", "route", "outcome", "reason"):
        table[column] = table[column].astype("string")
    return table
