"""FL over 5G, the acceptance run of issue 38: the bundled hex_umi layout (7 UMi sites x 3
sectors, wrap-around, 70 PIUs) over NR links at reuse 1 and 3, round robin and PF, MCS
tables 1 and 2, against Shannon links on the same layout and scheduler.

Per configuration, over ``rounds`` rounds (``python -m benchmarks nr_acceptance``):

* ``uploads_lost``, ``downloads_lost``: the share of model transfers lost (the per-flow
  table, :func:`netsim.log.flow_table`), and the reasons they were lost;
* ``links_20``, ``bler_min``, ``bler_max``, ``z_max``: the links with 20 or more first
  transmissions chosen by the outer loop, at most 10 % of them at an end of the MCS range
  (:func:`outer_loops`), their lowest and highest first-transmission BLER and the most
  standard deviations one is off a Binomial(blocks, target) count; ``at_end``: the links
  with 20 or more such blocks mostly at an end of the range, where the loop cannot hold
  the target (below it at the highest MCS, above it at the lowest). The target is the
  scenario's ``radio.bler_target``; the log holds each transmission's ``first_tx_fail``;
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

import numpy as np
import pandas as pd
from netsim.analysis.kpis import harq_per_link, throughput_per_piu

from netsim import Simulation, load_scenario

MIN_BLOCKS = 20  # a link's first-transmission BLER is judged from this many blocks on
MAX_AT_END = 0.1  # ... where at most this share of them went at an end of the MCS range


def _run(overrides: list[str]) -> tuple[Simulation, Any]:
    sim = Simulation(load_scenario("hex_umi", overrides))
    return sim, sim.run()


def outer_loops(sim: Simulation) -> pd.DataFrame:
    """Per NR link of ``sim`` (after its run), the outer loop's record
    (:meth:`netsim.radio.nr.NRLinkAbstraction.outer_loop`): ``direction``, ``link`` (the
    PIU, or the AP of a multicast), ``blocks`` (first transmissions chosen from a report),
    ``failed``, ``at_end`` (at the lowest or the highest reachable MCS) and ``bler``."""
    seen: dict[int, tuple[str, Any]] = {}
    for piu in sim.pius:
        scheduler = getattr(piu.link, "scheduler", None)
        if scheduler is not None and scheduler.nr is not None:
            seen.setdefault(id(scheduler.nr), ("uplink", scheduler.nr))
    for ap in sim.aps:
        scheduler = getattr(ap.downlink, "scheduler", None)
        if scheduler is not None and scheduler.nr is not None:
            seen.setdefault(id(scheduler.nr), ("downlink", scheduler.nr))
    k = len(sim.pius)
    frames = []
    for direction, nr in seen.values():
        loop = nr.outer_loop()
        links = np.arange(len(loop["blocks"]))
        names = [f"piu{i}" if i < k else f"ap{i - k}" for i in links]
        frames.append(
            pd.DataFrame(
                {
                    "direction": direction,
                    "link": names,
                    "blocks": loop["blocks"],
                    "failed": loop["failed"],
                    "at_end": loop["at_end"],
                }
            )
        )
    if not frames:  # Shannon links
        return pd.DataFrame(columns=["direction", "link", "blocks", "failed", "at_end", "bler"])
    out = pd.concat(frames, ignore_index=True)
    out = out[out.blocks > 0].reset_index(drop=True)
    out["bler"] = out.failed / out.blocks
    return out


def _first_tx_bler(sim: Simulation) -> dict[str, Any]:
    """The first-transmission BLER of the links with :data:`MIN_BLOCKS` or more blocks
    chosen by the outer loop: of those at most :data:`MAX_AT_END` at an end of the MCS range
    (``steered``: their lowest and highest BLER, and the most standard deviations of a
    Binomial(blocks, target) one is off), and how many were mostly at an end."""
    loops = outer_loops(sim)
    if loops.empty:
        return {"links_20": 0, "at_end": 0, "bler_min": np.nan, "bler_max": np.nan, "z_max": np.nan}
    target = sim.scenario.radio.bler_target
    judged = loops[loops.blocks >= MIN_BLOCKS]
    steered = judged[judged.at_end <= MAX_AT_END * judged.blocks]
    z = (steered.failed - steered.blocks * target) / np.sqrt(steered.blocks * target * (1 - target))
    return {
        "links_20": len(steered),
        "at_end": len(judged) - len(steered),
        "bler_min": float(steered.bler.min()),
        "bler_max": float(steered.bler.max()),
        "z_max": float(z.abs().max()),
    }


def _row(label: str, sim: Simulation, res: Any, shannon: pd.Series | None) -> dict[str, Any]:
    """The acceptance numbers of run ``res``; ``shannon``: the Shannon twin's upload
    throughput per PIU (None: this is the Shannon run)."""
    flows, e = res.flows, res.events
    up, down = flows[flows.kind == "uplink"], flows[flows.kind == "downlink"]
    lost_up, lost_down = up[up.outcome == "lost"], down[down.outcome == "lost"]
    reasons = pd.concat([lost_up.reason, lost_down.reason]).value_counts().to_dict()
    harq = harq_per_link(e)
    mine = throughput_per_piu(e).set_index("piu").throughput_bps
    ratio = (mine / shannon).dropna() if shannon is not None else pd.Series(dtype=float)
    return {
        "config": label,
        "uploads": len(up),
        "uploads_lost": len(lost_up) / max(len(up), 1),
        "downloads": len(down),
        "downloads_lost": len(lost_down) / max(len(down), 1),
        "lost_reasons": ", ".join(f"{k}: {v}" for k, v in reasons.items()) or "-",
        **_first_tx_bler(sim),
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
            sim, twin = _run(common)
            rows.append(_row(f"reuse {reuse}, {scheduler}, shannon", sim, twin, None))
            shannon = throughput_per_piu(twin.events).set_index("piu").throughput_bps
            for table in (1, 2):
                nr = [*common, 'radio.link="nr"', f"radio.mcs_table={table}"]
                label = f"reuse {reuse}, {scheduler}, NR table {table}"
                rows.append(_row(label, *_run(nr), shannon))
            print(f"reuse {reuse}, {scheduler}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(index=False))
    return table
