"""Analysis of run directories (reads logs only; never imported by the simulator)."""

from analysis.run import RunData, load_run

__all__ = ["RunData", "load_run"]
