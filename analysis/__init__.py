"""Analysis of run directories (reads logs only; never imported by the simulator)."""

from netsim.analysis.breakdown import (
    activity_intervals,
    battery_trajectories,
    cloud_breakdown,
    energy_breakdown,
    latency_breakdown,
    latency_cdf,
    link_loads,
    piu_accuracy,
    progress,
    round_timeline,
    upload_latency,
)
from netsim.analysis.run import RunData, load_run

from netsim.log import flow_table

__all__ = [
    "RunData",
    "activity_intervals",
    "battery_trajectories",
    "cloud_breakdown",
    "energy_breakdown",
    "flow_table",
    "latency_breakdown",
    "latency_cdf",
    "link_loads",
    "load_run",
    "piu_accuracy",
    "progress",
    "round_timeline",
    "upload_latency",
]
