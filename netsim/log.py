"""The event log: typed records, one row per event, turned into pandas only at the edge.

Columns (DESIGN.md), NaN (or <NA>) where not applicable; SI units:
``t_s, round, node, role, event, duration_s, bits, energy_j, battery_j, rate_bps, snr_db,
interference_w, mcs, tb_count, harq_retx, power_w, staleness, loss, accuracy, peer, activity,
reason, method, route, detail`` (``interference_w``: the mean co-channel interference power of a
transmission on a shared medium, W; ``mcs``, ``tb_count``, ``harq_retx``: under the NR link
abstraction, a transmission's mean MCS index, its transport blocks and HARQ retransmissions,
nullable integers for the counts).

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
COUNT_COLUMNS = ("tb_count", "harq_retx")  # nullable integers
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
        """Append ``event`` and update the running totals."""
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
    hashed = pd.util.hash_pandas_object(events.astype(str), index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
