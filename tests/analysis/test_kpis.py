"""Radio and cell KPIs by hand on a small log, and on an NR run's report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from netsim.analysis.kpis import (
    cell_kpis,
    harq_per_link,
    mcs_histogram,
    sinr_cdf,
    throughput_per_piu,
    transmissions,
)

from netsim.log import Event, events_frame


def _tx(t, node, event, peer, **kw):
    role = "piu" if node.startswith("piu") else "ap"
    return Event(t, 0, node, role, event, peer=peer, **kw)


LOG = events_frame([
    # piu0 -> ap0: 1 Mbit in 0.1 s at 10 dB (NR: 4 blocks at MCS 9.6, 1 retransmission),
    # then 1 Mbit in 0.4 s at 0 dB
    _tx(0.1, "piu0", "tx_end", "ap0", bits=1e6, duration_s=0.1, snr_db=10.0, mcs=9.6,
        tb_count=4, harq_retx=1, first_tx_fail=1, rlc_retx=0, interference_w=1e-12),
    _tx(0.5, "piu0", "tx_end", "ap0", bits=1e6, duration_s=0.4, snr_db=0.0, mcs=2.2,
        tb_count=6, harq_retx=0, first_tx_fail=0, rlc_retx=0, interference_w=3e-12),
    # piu1 -> ap1: a failed attempt of 0.2 s, then 2 Mbit in 0.2 s at 20 dB
    _tx(0.2, "piu1", "tx_fail", "ap1", bits=2e6, duration_s=0.2, snr_db=-5.0, mcs=10.0,
        tb_count=5, harq_retx=15, first_tx_fail=5, rlc_retx=0, reason="harq"),
    _tx(0.4, "piu1", "tx_end", "ap1", bits=2e6, duration_s=0.2, snr_db=20.0, mcs=20.0,
        tb_count=5, harq_retx=0, first_tx_fail=0, rlc_retx=0),
    # ap0's model multicast at 5 dB
    _tx(0.05, "ap0", "dl_end", None, bits=3e6, duration_s=0.05, snr_db=5.0, mcs=6.0,
        tb_count=10, harq_retx=2, first_tx_fail=1, rlc_retx=1),
    Event(1.0, 0, "server", "server", "aggregate"),
])  # fmt: skip


def test_transmissions_name_direction_piu_and_cell():
    t = transmissions(LOG)
    assert t["direction"].tolist() == ["uplink"] * 4 + ["downlink"]
    assert t["piu"].tolist()[:4] == ["piu0", "piu0", "piu1", "piu1"]
    assert t["cell"].tolist() == ["ap0", "ap0", "ap1", "ap1", "ap0"]
    assert t["delivered"].tolist() == [True, True, False, True, True]


def test_sinr_cdf_and_mcs_histogram_by_hand():
    cdf = sinr_cdf(LOG)
    assert cdf["sinr_db"].tolist() == [-5.0, 0.0, 10.0, 20.0]
    assert cdf["p"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert sinr_cdf(LOG, "downlink")["sinr_db"].tolist() == [5.0]
    hist = mcs_histogram(LOG).set_index(["direction", "mcs"])
    # uplink blocks: MCS 10 (4 of 9.6, 5 of 10.0), 2 (6), 20 (5): 20 blocks
    assert hist.loc[("uplink", 10), "blocks"] == 9 and hist.loc[("uplink", 2), "blocks"] == 6
    assert hist.loc[("uplink", 20), "share"] == pytest.approx(5 / 20)
    assert hist.loc[("downlink", 6), "share"] == 1.0


def test_harq_and_throughput_per_link_by_hand():
    harq = harq_per_link(LOG).set_index(["direction", "link"])
    assert harq.loc[("uplink", "piu0"), "retx_per_block"] == pytest.approx(1 / 10)
    assert harq.loc[("uplink", "piu1"), "retx_per_block"] == pytest.approx(15 / 10)
    assert harq.loc[("uplink", "piu1"), "lost"] == 1
    assert harq.loc[("downlink", "ap0"), "blocks"] == 10  # a multicast's link is its cell
    # first-transmission BLER: piu0 1 of 10 blocks, piu1 5 of 10, ap0's multicast 1 of 10
    assert harq.loc[("uplink", "piu0"), "first_tx_bler"] == pytest.approx(0.1)
    assert harq.loc[("uplink", "piu1"), "first_tx_bler"] == pytest.approx(0.5)
    assert harq.loc[("downlink", "ap0"), "first_tx_bler"] == pytest.approx(0.1)
    assert harq.loc[("downlink", "ap0"), "rlc_retx"] == 1
    assert harq.loc[("uplink", "piu1"), "rlc_retx"] == 0
    per_piu = throughput_per_piu(LOG).set_index("piu")
    assert per_piu.loc["piu0", "throughput_bps"] == pytest.approx(2e6 / 0.5)
    # mean of the linear SINRs 10 and 1: 5.5, in dB
    assert per_piu.loc["piu0", "mean_sinr_db"] == pytest.approx(10 * math.log10(5.5))
    assert per_piu.loc["piu1", "throughput_bps"] == pytest.approx(2e6 / 0.2)  # delivered only


def test_cell_kpis_by_hand():
    cells = cell_kpis(LOG).set_index("cell")
    assert cells.loc["ap0", "served_pius"] == 1 and cells.loc["ap0", "uplink_bits"] == 2e6
    assert cells.loc["ap0", "load"] == pytest.approx(0.5 / 1.0)  # airtime over the run
    assert cells.loc["ap1", "uplink_bits"] == 2e6 and cells.loc["ap1", "lost"] == 1
    assert cells.loc["ap1", "load"] == pytest.approx(0.4)
    assert cells.loc["ap0", "mean_interference_dbm"] == pytest.approx(10 * np.log10(2e-12 * 1e3))
    assert math.isnan(cells.loc["ap1", "mean_interference_dbm"])


def test_rb_sinr_cdf_and_utilisation_by_hand():
    import pandas as pd
    from netsim.analysis.kpis import rb_sinr_cdf, rb_utilisation

    # ap0 gave 30 RB-slots at 0.125 dB and 10 at 10.125 dB; ap1 60 at 5.125 dB; 50 RBs of
    # 1 ms slots: over 2 s an AP has 100,000 RB-slots
    usage = pd.DataFrame({
        "direction": ["uplink"] * 3, "cell": ["ap0", "ap0", "ap1"],
        "sinr_db": [0.125, 10.125, 5.125], "rb_slots": [30, 10, 60],
        "n_rb": 50, "slot_s": 1e-3,
    })  # fmt: skip
    cdf = rb_sinr_cdf(usage)
    assert cdf.sinr_db.tolist() == [0.125, 5.125, 10.125]
    assert cdf.p.tolist() == pytest.approx([0.3, 0.9, 1.0])
    util = rb_utilisation(usage, 2.0).set_index("cell")
    assert util.loc["ap0", "rb_slots"] == 40 and util.loc["ap1", "rb_slots"] == 60
    assert util.loc["ap0", "rb_utilisation"] == pytest.approx(40 / 100_000)
