"""Analysis of run directories (reads logs only; never imported by the simulator)."""

from netsim.analysis.breakdown import (
    activity_intervals,
    battery_trajectories,
    energy_breakdown,
    latency_breakdown,
    latency_cdf,
    progress,
    upload_latency,
)
from netsim.analysis.run import RunData, load_run

__all__ = [
    "RunData",
    "activity_intervals",
    "battery_trajectories",
    "energy_breakdown",
    "latency_breakdown",
    "latency_cdf",
    "load_run",
    "progress",
    "upload_latency",
]
