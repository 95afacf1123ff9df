"""Radio and cell KPIs of a run, from its event log: what a network engineer reads first.

Every function takes the event log (``RunData.events``, ``SimulationResult.events``) and
returns a DataFrame (SI units; SINR in dB as the log holds it). A transmission is one row
of the log that ends one: an upload attempt (``tx_end`` delivered, ``tx_fail`` lost) or a
model download (``dl_end``, ``dl_fail``). Columns that a run does not fill (MCS, transport
blocks, HARQ and RLC retransmissions outside the NR link abstraction; interference
without a shared band) are NaN, and the tables that need them are empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_ENDS = {"tx_end": ("uplink", True), "tx_fail": ("uplink", False),
         "dl_end": ("downlink", True), "dl_fail": ("downlink", False)}  # fmt: skip


def transmissions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per transmission: ``direction`` (uplink, downlink), ``delivered``, ``round``,
    ``piu`` (the uploading PIU; a unicast download's recipient), ``cell`` (the AP), ``t_s``
    (its end), ``bits``, ``airtime_s``, ``rate_bps``, ``sinr_db``, ``interference_w``,
    ``mcs`` (mean over its transport blocks), ``tb_count``, ``harq_retx``, ``rlc_retx``,
    ``first_tx_fail`` (blocks whose first transmission failed), ``power_w``."""
    rows = events[events["event"].isin(list(_ENDS))]
    event = rows["event"].astype(str)  # a categorical maps every category, used or not
    kind = event.map(lambda ev: _ENDS[ev][0])
    up = kind == "uplink"
    table = pd.DataFrame(
        {
            "direction": kind.astype("string"),
            "delivered": event.map(lambda ev: _ENDS[ev][1]).astype(bool),
            "round": rows["round"],
            "piu": rows["node"].where(up, rows["peer"]).astype("string"),
            "cell": rows["peer"].where(up, rows["node"]).astype("string"),
            "t_s": rows["t_s"],
            "bits": rows["bits"],
            "airtime_s": rows["duration_s"],
            "rate_bps": rows["rate_bps"],
            "sinr_db": rows["snr_db"],
            "interference_w": rows["interference_w"],
            "mcs": rows["mcs"],
            "tb_count": rows["tb_count"],
            "harq_retx": rows["harq_retx"],
            "rlc_retx": rows["rlc_retx"],
            "first_tx_fail": rows["first_tx_fail"],
            "power_w": rows["power_w"],
        }
    )
    return table.reset_index(drop=True)


def sinr_cdf(events: pd.DataFrame, direction: str = "uplink") -> pd.DataFrame:
    """The empirical CDF of the transmissions' SINR (dB) in ``direction``: ``sinr_db``
    sorted, ``p`` = i / n (i = 1..n); empty where the run logged none."""
    t = transmissions(events)
    sinr = np.sort(t.loc[t["direction"] == direction, "sinr_db"].dropna().to_numpy())
    return pd.DataFrame({"sinr_db": sinr, "p": np.arange(1, len(sinr) + 1) / max(len(sinr), 1)})


def mcs_histogram(events: pd.DataFrame) -> pd.DataFrame:
    """Transport blocks by MCS index and direction (NR links): each transmission's blocks
    counted at its mean MCS rounded to the nearest index (``blocks``) and the share of its
    direction's blocks (``share``); empty without NR."""
    t = transmissions(events).dropna(subset=["mcs"])
    t = t[t["tb_count"].notna()]
    if t.empty:
        return pd.DataFrame(columns=["direction", "mcs", "blocks", "share"])
    t = t.assign(mcs=t["mcs"].round().astype(int), blocks=t["tb_count"].astype(int))
    hist = t.groupby(["direction", "mcs"], observed=True)["blocks"].sum().reset_index()
    hist["share"] = hist["blocks"] / hist.groupby("direction")["blocks"].transform("sum")
    return hist


LINK_COLUMNS = [
    "direction",
    "link",
    "transmissions",
    "blocks",
    "first_tx_fail",
    "first_tx_bler",
    "harq_retx",
    "retx_per_block",
    "rlc_retx",
    "lost",
]


def harq_per_link(events: pd.DataFrame) -> pd.DataFrame:
    """Per (direction, PIU or cell of a multicast) link under NR: transmissions, transport
    blocks, ``first_tx_fail`` (blocks whose first transmission failed) and
    ``first_tx_bler`` (their share of the blocks: what link adaptation holds at
    ``radio.bler_target``), HARQ retransmissions, ``retx_per_block`` (retransmissions /
    blocks), ``rlc_retx`` (blocks whose payload RLC sent again) and ``lost`` (transmissions
    lost after HARQ and RLC); empty without NR."""
    t = transmissions(events)
    t = t[t["tb_count"].notna()].copy()
    if t.empty:
        return pd.DataFrame(columns=LINK_COLUMNS)
    t["link"] = t["piu"].fillna(t["cell"])
    t["lost"] = ~t["delivered"]
    out = (
        t.groupby(["direction", "link"], observed=True)
        .agg(
            transmissions=("bits", "size"),
            blocks=("tb_count", "sum"),
            first_tx_fail=("first_tx_fail", lambda c: c.sum(min_count=1)),
            harq_retx=("harq_retx", "sum"),
            rlc_retx=("rlc_retx", lambda c: c.sum(min_count=1)),
            lost=("lost", "sum"),
        )
        .reset_index()
    )
    blocks = out["blocks"].astype(float)
    out["first_tx_bler"] = out["first_tx_fail"].astype(float) / blocks
    out["retx_per_block"] = out["harq_retx"].astype(float) / blocks
    return out[LINK_COLUMNS]


def throughput_per_piu(events: pd.DataFrame) -> pd.DataFrame:
    """Per PIU, its delivered uploads: ``bits``, ``airtime_s``, ``throughput_bps`` (bits /
    airtime) and ``mean_sinr_db`` (the mean of the uploads' linear SINR, in dB): the
    throughput-against-SINR scatter of a system-level study."""
    t = transmissions(events)
    t = t[(t["direction"] == "uplink") & t["delivered"]].copy()
    t["sinr_lin"] = 10 ** (t["sinr_db"] / 10)
    out = (
        t.groupby("piu", observed=True)
        .agg(bits=("bits", "sum"), airtime_s=("airtime_s", "sum"), sinr=("sinr_lin", "mean"))
        .reset_index()
    )
    out["throughput_bps"] = out["bits"] / out["airtime_s"]
    out["mean_sinr_db"] = 10 * np.log10(out.pop("sinr"))
    return out


def cell_kpis(events: pd.DataFrame) -> pd.DataFrame:
    """Per cell (AP), its uplinks: ``served_pius`` (distinct PIUs that uploaded to it),
    ``uplink_bits`` delivered, ``airtime_s`` of every attempt, ``load`` (that airtime over
    the run's simulated time: above 1 when uploads overlap on OFDMA or FDMA sub-bands),
    ``mean_interference_dbm`` (the mean co-channel interference its uplinks met; NaN
    without a shared band) and ``lost`` upload attempts."""
    t = transmissions(events)
    up = t[t["direction"] == "uplink"].copy()
    span = float(events["t_s"].max()) if len(events) else 0.0
    up["delivered_bits"] = up["bits"].where(up["delivered"], 0.0)
    up["failed"] = ~up["delivered"]
    out = (
        up.groupby("cell", observed=True)
        .agg(
            served_pius=("piu", "nunique"),
            uplink_bits=("delivered_bits", "sum"),
            airtime_s=("airtime_s", "sum"),
            interference_w=("interference_w", "mean"),
            lost=("failed", "sum"),
        )
        .reset_index()
    )
    out["load"] = out["airtime_s"] / span if span > 0 else np.nan
    out["mean_interference_dbm"] = 10 * np.log10(out.pop("interference_w") * 1e3)
    return out


def rb_sinr_cdf(usage: pd.DataFrame, direction: str = "uplink") -> pd.DataFrame:
    """The CDF of the SINR on every scheduled RB-slot in ``direction``, from a slot
    scheduler's RB usage (``RunData.rb_usage``, ``SimulationResult.rb_usage``): ``sinr_db``
    (the 0.25 dB bins' centres, ascending) and ``p``, the share of RB-slots at or below it;
    empty without a scheduler. A multicast's RB counts at its weakest recipient's SINR."""
    part = usage[usage["direction"] == direction]
    by_bin = part.groupby("sinr_db")["rb_slots"].sum().sort_index()
    total = by_bin.sum()
    return pd.DataFrame(
        {
            "sinr_db": by_bin.index.to_numpy(dtype=float),
            "p": (by_bin.cumsum() / total).to_numpy(dtype=float) if total else [],
        }  # fmt: skip
    )


def rb_utilisation(usage: pd.DataFrame, span_s: float) -> pd.DataFrame:
    """Per (direction, cell): ``rb_slots`` the AP's scheduler gave and ``rb_utilisation``,
    their share of the RB-slots of its channel over ``span_s`` seconds (the run's simulated
    time: RBs x span / slot), from a slot scheduler's RB usage; empty without one."""
    if usage.empty:
        return pd.DataFrame(columns=["direction", "cell", "rb_slots", "rb_utilisation"])
    out = (
        usage.groupby(["direction", "cell"], observed=True)
        .agg(rb_slots=("rb_slots", "sum"), n_rb=("n_rb", "first"), slot_s=("slot_s", "first"))
        .reset_index()
    )
    available = out["n_rb"] * span_s / out["slot_s"]
    out["rb_utilisation"] = out["rb_slots"] / available if span_s > 0 else np.nan
    return out[["direction", "cell", "rb_slots", "rb_utilisation"]]
