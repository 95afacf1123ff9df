"""When a PIU is reachable: on/off availability processes and per-PIU trace files.

A schedule is an iterable of :class:`Switch` records in time order: from then on the PIU is
available or not, and (traces only) its CPU runs at ``cpu_hz``. The PIU replays it on the
timeline (``netsim.nodes.piu.PIU``): going offline interrupts its training or transmission,
whose energy so far is charged and whose work is lost.

Exponential on/off (an alternating renewal process, the classic model of device churn, e.g.
FedScale's client availability): on periods ~ Exp(mean ``mean_on_s``), off periods ~ Exp(mean
``mean_off_s``); the first state is drawn from the stationary law, P(on) = on / (on + off), and
by memorylessness the first period has the same law as every other.

Trace file (one per PIU, ``piu<k>.csv`` in a directory): columns ``time_s`` (s, from the run
start, non-decreasing), ``available`` (0 or 1) and optionally ``cpu_hz`` (Hz, > 0; empty cell:
unchanged). Before its first row a PIU is available at its class's CPU frequency.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class TraceError(ValueError):
    """A trace file that cannot be used; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Switch:
    """From ``t_s`` (s) on: ``available``; ``cpu_hz`` (Hz) if the trace sets it, else None."""

    t_s: float
    available: bool
    cpu_hz: float | None = None


def exponential_on_off(
    mean_on_s: float, mean_off_s: float, rng: np.random.Generator
) -> Iterator[Switch]:
    """Endless alternating on/off switches with exponential sojourns, starting at t = 0 in a
    state drawn from the stationary law."""
    up = bool(rng.random() < mean_on_s / (mean_on_s + mean_off_s))
    t = 0.0
    while True:
        yield Switch(t, up)
        t += float(rng.exponential(mean_on_s if up else mean_off_s))
        up = not up


# device.cpu_hz's range (netsim/scenario/device.py): a trace's frequency is held to it too
MIN_CPU_HZ, MAX_CPU_HZ = 1.0e3, 1.0e15


def read_trace(path: Path) -> list[Switch]:
    """The switches of one trace file (validated; :class:`TraceError` names what is wrong)."""
    try:  # as text, so a bad cell is reported as written
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise TraceError(f"{path}: not a readable CSV file ({err})") from None
    missing = {"time_s", "available"} - set(df.columns)
    if missing:
        raise TraceError(
            f"{path}: missing column(s) {sorted(missing)}; expected time_s, available[, cpu_hz]"
        )
    switches = []
    last = 0.0
    for i, row in enumerate(df.to_dict("records")):
        where = f"{path}, row {i + 2}"  # 1-based, after the header line
        t = _number(row["time_s"])
        if not (math.isfinite(t) and t >= last):
            raise TraceError(
                f"{where}: time_s = {row['time_s']}; expected a number >= {last} "
                "(times start at 0 and do not decrease)"
            )
        if row["available"].strip() not in ("0", "1"):
            raise TraceError(f"{where}: available = {row['available']}; expected 0 or 1")
        cell = row.get("cpu_hz", "").strip()
        cpu = _number(cell) if cell else None
        if cpu is not None and not (MIN_CPU_HZ <= cpu <= MAX_CPU_HZ):
            raise TraceError(
                f"{where}: cpu_hz = {cell}; expected a frequency from {MIN_CPU_HZ:g} to "
                f"{MAX_CPU_HZ:g} Hz or empty"
            )
        switches.append(Switch(t, row["available"].strip() == "1", cpu))
        last = t
    return switches


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_trace_dir(directory: Path, num_pius: int) -> dict[int, list[Switch]]:
    """The traces ``piu<k>.csv`` found in ``directory`` for k < num_pius (a PIU without a
    file is always available); a file for a PIU that does not exist is an error."""
    if not directory.is_dir():
        raise TraceError(f"{directory}: not a directory of piu<k>.csv trace files")
    traces = {}
    for path in sorted(directory.glob("piu*.csv")):
        index = path.stem[3:]
        if not index.isdigit() or int(index) >= num_pius:
            raise TraceError(
                f"{path}: no such PIU; trace files are named piu0.csv .. piu{num_pius - 1}.csv"
            )
        traces[int(index)] = read_trace(path)
    return traces
