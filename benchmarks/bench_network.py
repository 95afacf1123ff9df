"""How the simulator's cost grows with the network (issue 39): hex UMi layouts of 7 and 19
sites x 3 sectors (wrap-around, reuse 1), 5, 10 and 20 PIUs per sector, every PIU training
in the one round (the MLP), FIFO with Shannon rates, round robin and PF slot-level
scheduling, and PF over NR links.

Each point runs in a fresh process (``python -m benchmarks network``), which reports the
build and run wall times, simulated seconds and the wall time per simulated second, the
time outside the trainer and the slots the uplink and downlink schedulers ran; the cost of a
slot (that time over the slots) is what issue 39 bounds (at most linear in PIUs at fixed
cells: :func:`exponent` fits it on the points). ``--png`` writes the log-log figure of
run time against PIUs, one line per (cells, scheduler, link).
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from netsim import Simulation, load_scenario

SITES = (7, 19)
PER_SECTOR = (5, 10, 20)
MODES = {
    "fifo": ['radio.scheduler="fifo"'],
    "rr": ['radio.scheduler="rr"'],
    "pf": ['radio.scheduler="pf"'],
    "pf-nr": ['radio.scheduler="pf"', 'radio.link="nr"'],
}


def overrides(sites: int, per_sector: int, mode: str) -> list[str]:
    """The hex UMi point: ``sites`` x 3 sectors, ``per_sector`` PIUs each, all selected."""
    return [
        "protocol.rounds=1", 'learning.model="mlp"',
        f"protocol.clients_per_round={3 * sites * per_sector}",
        f"topology.sites={sites}", f"topology.num_pius={3 * sites * per_sector}",
        "radio.reuse=1", *MODES[mode],
    ]  # fmt: skip


def point(sites: int, per_sector: int, mode: str) -> dict[str, float | int | str]:
    """One point, measured in this process."""
    from benchmarks.bench_default import time_trainer

    t0 = time.perf_counter()
    sim = Simulation(load_scenario("hex_umi", overrides(sites, per_sector, mode)))
    t1 = time.perf_counter()
    spent = time_trainer(sim.trainer)
    res = sim.run()
    t2 = time.perf_counter()
    sim_s = float(res.sim_time_s)
    plan = sim.world.spectrum
    slots = sum(s.slots_run for s in ([] if plan is None else plan.schedulers))
    outside = (t2 - t1) - spent["train"] - spent["evaluate"]
    return {
        "sites": sites, "cells": 3 * sites, "pius": 3 * sites * per_sector, "mode": mode,
        "build_s": t1 - t0, "run_s": t2 - t1, "sim_s": sim_s,
        "wall_per_sim_s": (t2 - t1) / sim_s if sim_s > 0 else math.nan,
        "events": len(res.events), "outside_s": outside, "slots": slots,
        # the simulator's own cost (outside the trainer) per slot of its schedulers
        "ms_per_slot": 1e3 * outside / slots if slots else math.nan,
        # a round that lost transfers (NR) ends sooner: its time is not comparable
        "lost": int((res.flows["outcome"] == "lost").sum()),
    }  # fmt: skip


def exponent(table: pd.DataFrame, mode: str, sites: int, column: str = "run_s") -> float:
    """The slope of log(``column``) against log(PIUs) at fixed cells (least squares)."""
    part = table[(table["mode"] == mode) & (table["sites"] == sites)].dropna(subset=[column])
    if len(part) < 2:
        return math.nan
    return float(np.polyfit(np.log(part["pius"]), np.log(part[column]), 1)[0])


def network(
    sites: Sequence[int] = SITES,
    per_sector: Sequence[int] = PER_SECTOR,
    modes: Sequence[str] = tuple(MODES),
    png: str | None = None,
) -> pd.DataFrame:
    """Every point in a fresh process (spawn: nothing shared), the table printed with the
    fitted exponents; ``png``: the log-log figure."""
    rows = []
    context = multiprocessing.get_context("spawn")
    for s in sites:
        for mode in modes:
            for n in per_sector:
                with context.Pool(1) as pool:
                    row = pool.apply(point, (s, n, mode))
                rows.append(row)
                print(
                    f"{s:>2} sites, {row['pius']:>5} PIUs, {mode:>5}: build "
                    f"{row['build_s']:6.1f} s, run {row['run_s']:7.1f} s, "
                    f"{row['wall_per_sim_s']:8.1f} s per simulated s, outside the trainer "
                    f"{row['outside_s']:7.1f} s, {row['slots']:>6} slots "
                    f"({row['ms_per_slot']:5.2f} ms each), {row['lost']} transfers lost",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    for s in sites:
        for mode in modes:
            print(
                f"{s} sites, {mode}: run time ~ PIUs^{exponent(table, mode, s):.2f}, cost of "
                f"a slot ~ PIUs^{exponent(table, mode, s, 'ms_per_slot'):.2f}"
            )
    if png:
        _figure(table, png)
    return table


def _figure(table: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for (sites, mode), part in table.groupby(["sites", "mode"]):
        ax.loglog(part["pius"], part["run_s"], "o-", label=f"{3 * sites} cells, {mode}")
    ax.set(xlabel="PIUs (all training)", ylabel="run wall time of one round (s)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=110)
