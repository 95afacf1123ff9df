"""Recorded event logs of every bundled scenario: the invariant of the renovation (issue 18:
"a renovation, not a change of behaviour").

Each bundled scenario runs two rounds with its own seed and one torch thread; its event log
without ``detail`` is kept in ``tests/data/recorded_logs/NAME.parquet``.
``tests/test_recorded_logs.py`` checks that every log still equals its recording. Record
again only when a log must change, in a commit of its own that says why:

    python -m tests.recorded_logs            # every bundled scenario
    python -m tests.recorded_logs NAME ...   # these (a new bundled scenario)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FOLDER = Path(__file__).resolve().parent / "data" / "recorded_logs"
OVERRIDES = ("protocol.rounds=2",)


def run_log(name: str) -> pd.DataFrame:
    """The event log (without ``detail``) of bundled scenario ``name`` for two rounds, with
    one torch thread (CPU kernels sum in a thread-count-dependent order)."""
    import torch

    from netsim import Simulation, load_scenario

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        events = Simulation(load_scenario(name, list(OVERRIDES))).run().events
    finally:
        torch.set_num_threads(threads)
    return events.drop(columns=["detail"])


def record(names: list[str]) -> None:
    from netsim.scenario import bundled_scenarios

    FOLDER.mkdir(parents=True, exist_ok=True)
    for name in names or bundled_scenarios():
        log = run_log(name)
        log.to_parquet(FOLDER / f"{name}.parquet", index=False)
        print(f"{name}: {len(log)} events", flush=True)


if __name__ == "__main__":
    record(sys.argv[1:])
    sys.exit(0)
