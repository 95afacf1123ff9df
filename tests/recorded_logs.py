"""Recorded event logs of every bundled scenario: the invariant of the renovation (issue 18:
"a renovation, not a change of behaviour").

Each bundled scenario runs two rounds with its own seed and one torch thread; its event log
without ``detail`` is kept in ``tests/data/recorded_logs/NAME.parquet``. So are the
:data:`VARIANTS`, bundled scenarios with the parts no bundled scenario uses switched on (the
OFDMA scheduler's policies, NR links on a shared band), recorded before their code was
reorganised.
``tests/test_recorded_logs.py`` checks that every log still equals its recording. Record
again only when a log must change, in a commit of its own that says why:

    python -m tests.recorded_logs            # every bundled scenario and variant
    python -m tests.recorded_logs NAME ...   # these (a new bundled scenario or variant)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FOLDER = Path(__file__).resolve().parent / "data" / "recorded_logs"
OVERRIDES = ("protocol.rounds=2",)
# name -> (bundled scenario, overrides): what no bundled scenario exercises, on the
# 21-sector reuse-1 layout (each transfer meets the other sectors' interference)
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hex_umi-pf-shannon": ("hex_umi", ('radio.scheduler="pf"',)),
    "hex_umi-rr-nr": ("hex_umi", ('radio.scheduler="rr"', 'radio.link="nr"')),
    "hex_umi-maxci-nr-unicast": (
        "hex_umi",
        ('radio.scheduler="max_ci"', 'radio.link="nr"', 'radio.downlink="unicast"'),
    ),
}


def run_log(name: str) -> pd.DataFrame:
    """The event log (without ``detail``) of bundled scenario ``name`` for two rounds, with
    one torch thread (CPU kernels sum in a thread-count-dependent order)."""
    import torch

    from netsim import Simulation, load_scenario

    base, extra = VARIANTS.get(name, (name, ()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        events = Simulation(load_scenario(base, [*OVERRIDES, *extra])).run().events
    finally:
        torch.set_num_threads(threads)
    return events.drop(columns=["detail"])


def record(names: list[str]) -> None:
    from netsim.scenario import bundled_scenarios

    FOLDER.mkdir(parents=True, exist_ok=True)
    for name in names or [*bundled_scenarios(), *VARIANTS]:
        log = run_log(name)
        log.to_parquet(FOLDER / f"{name}.parquet", index=False)
        print(f"{name}: {len(log)} events", flush=True)


if __name__ == "__main__":
    record(sys.argv[1:])
    sys.exit(0)
