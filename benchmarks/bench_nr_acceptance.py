"""FL over 5G, the acceptance run of issue 38: the bundled hex_umi layout (7 UMi sites x 3
sectors, wrap-around, 70 PIUs) over NR links at reuse 1 and 3, round robin and PF, MCS
tables 1 and 2, against Shannon links on the same layout and scheduler.

Per configuration, over ``rounds`` rounds (``python -m benchmarks nr_acceptance``):

* ``uploads_lost``, ``downloads_lost``: the share of model transfers lost (the per-flow
  table, :func:`netsim.log.flow_table`), and the reasons they were lost;
* ``links_20``, ``first_tx_bler_min``, ``first_tx_bler_max``: the links with 20 or more
  transport blocks, and the lowest and highest first-transmission BLER among them (the log's
  ``first_tx_fail`` over ``tb_count``); the target is the scenario's ``radio.bler_target``;
* ``harq_per_block``, ``rlc_retx``: HARQ retransmissions per transport block, and RLC
  retransmissions where the log has them;
* ``nr_over_shannon``: the median over PIUs of a PIU's upload throughput (bits over airtime,
  :func:`netsim.analysis.kpis.throughput_per_piu`) on NR against the same PIU's on Shannon
  links in the run with the same layout, reuse and scheduler (the same draws: the same
  SINRs before link adaptation), and ``round_s``, ``energy_j`` beside the Shannon run's.

The run's own wall time is printed too; the numbers come from the logs only.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from netsim.analysis.kpis import harq_per_link, throughput_per_piu

from netsim import Simulation, load_scenario


def _run(overrides: list[str]) -> Any:
    return Simulation(load_scenario("hex_umi", overrides)).run()


MIN_BLOCKS = 20  # a link's first-transmission BLER is judged from this many blocks on


def _first_tx_bler(events: pd.DataFrame) -> tuple[float, float, int]:
    """(lowest, highest) first-transmission BLER of the links with :data:`MIN_BLOCKS` or more
    blocks (:func:`netsim.analysis.kpis.harq_per_link`), and how many such links."""
    per = harq_per_link(events)
    per = per[per.blocks >= MIN_BLOCKS]
    bler = per.first_tx_bler.astype(float)
    if bler.isna().all():
        return float("nan"), float("nan"), 0
    return float(bler.min()), float(bler.max()), len(per)


def _row(label: str, res: Any, shannon: pd.Series | None) -> dict[str, Any]:
    """The acceptance numbers of run ``res``; ``shannon``: the Shannon twin's upload
    throughput per PIU (None: this is the Shannon run)."""
    flows, e = res.flows, res.events
    up, down = flows[flows.kind == "uplink"], flows[flows.kind == "downlink"]
    lost_up, lost_down = up[up.outcome == "lost"], down[down.outcome == "lost"]
    reasons = pd.concat([lost_up.reason, lost_down.reason]).value_counts().to_dict()
    harq = harq_per_link(e)
    bler = _first_tx_bler(e)
    mine = throughput_per_piu(e).set_index("piu").throughput_bps
    ratio = (mine / shannon).dropna() if shannon is not None else pd.Series(dtype=float)
    return {
        "config": label,
        "uploads": len(up),
        "uploads_lost": len(lost_up) / max(len(up), 1),
        "downloads": len(down),
        "downloads_lost": len(lost_down) / max(len(down), 1),
        "lost_reasons": ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "-",
        "links_20": bler[2],
        "first_tx_bler_min": bler[0],
        "first_tx_bler_max": bler[1],
        "harq_per_block": float(harq.harq_retx.sum() / harq.blocks.sum()) if len(harq) else 0.0,
        "rlc_retx": int(harq.rlc_retx.sum()) if len(harq) else 0,
        "nr_over_shannon": float(ratio.median()) if len(ratio) else float("nan"),
        "round_s": float(res.rounds.duration_s.mean()),
        "energy_j": float(res.total_energy_j),
    }


def nr_acceptance(rounds: int = 5) -> pd.DataFrame:
    """The acceptance grid (see the module docstring); prints and returns the table."""
    rows = []
    base = [f"protocol.rounds={rounds}", 'learning.model="mlp"']
    for reuse in (1, 3):
        for scheduler in ("rr", "pf"):
            common = [*base, f"radio.reuse={reuse}", f'radio.scheduler="{scheduler}"']
            t0 = time.perf_counter()
            twin = _run(common)
            rows.append(_row(f"reuse {reuse}, {scheduler}, shannon", twin, None))
            shannon = throughput_per_piu(twin.events).set_index("piu").throughput_bps
            for table in (1, 2):
                nr = [*common, 'radio.link="nr"', f"radio.mcs_table={table}"]
                label = f"reuse {reuse}, {scheduler}, NR table {table}"
                rows.append(_row(label, _run(nr), shannon))
            print(f"reuse {reuse}, {scheduler}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(index=False))
    return table
