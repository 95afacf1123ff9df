"""Reading a run directory back into pandas."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from netsim.analysis.breakdown import harvested_per_piu

from netsim.log import COUNT_COLUMNS, EVENT_COLUMNS, TEXT_COLUMNS, flow_table
from netsim.rundir import RUN_FILES, check_events, read_manifest, read_table
from netsim.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class RunData:
    """A finished run: its event log, rounds table, resolved scenario and manifest."""

    path: Path
    events: pd.DataFrame
    rounds: pd.DataFrame
    scenario: Scenario
    manifest: dict[str, Any]
    piu_eval: pd.DataFrame | None = None  # per-PIU evaluation (learning.eval_every), if any
    flows: pd.DataFrame | None = None  # one row per transfer (netsim.log.flow_table)
    # a routed backhaul's link loads over time (netsim.backhaul.flows.link_loads), if any
    backhaul: pd.DataFrame | None = None
    rb_usage: pd.DataFrame | None = None  # a slot scheduler's RBs by AP and SINR, if any

    def energy_per_piu(self) -> pd.DataFrame:
        """Per PIU: energy (J) spent by activity (train_end, tx_end, tx_fail, abort,
        battery_empty...), ``total`` spent, and ``harvested`` (stored, J) if any."""
        piu = self.events[self.events["role"] == "piu"].dropna(subset=["energy_j"])
        harvest = piu["event"] == "harvest"
        table = piu[~harvest].pivot_table(
            index="node",
            columns="event",
            values="energy_j",
            aggfunc="sum",
            fill_value=0.0,
            observed=True,
        )
        table.columns = table.columns.astype(str)
        table["total"] = table.sum(axis=1)
        if harvest.any():
            table["harvested"] = harvested_per_piu(self.events)
        return table


def load_run(path: str | Path) -> RunData:
    """Load a run directory written by ``netsim run`` / ``SimulationResult.save``.

    Raises FileNotFoundError when a file is missing and :class:`netsim.rundir.RunDirError`
    when one is damaged (truncated Parquet, bad JSON, an event log that is not the one
    the manifest's SHA-256 names)."""
    path = Path(path)
    missing = [name for name in RUN_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"'{path}' is not a complete run directory: missing {missing}")
    manifest = read_manifest(path)
    events = read_table(path / "events.parquet")
    check_events(path, events, manifest)
    return RunData(
        path=path,
        events=_with_typed_columns(events),
        rounds=read_table(path / "rounds.parquet"),
        scenario=load_scenario(path / "scenario.toml"),
        manifest=manifest,
        piu_eval=read_table(path / "piu_eval.parquet")
        if (path / "piu_eval.parquet").is_file()
        else None,
        # written since netsim 0.1's run directories had none: derived from their events
        flows=read_table(path / "flows.parquet")
        if (path / "flows.parquet").is_file()
        else flow_table(events),
        backhaul=read_table(path / "backhaul.parquet")
        if (path / "backhaul.parquet").is_file()
        else None,
        rb_usage=read_table(path / "rb_usage.parquet")
        if (path / "rb_usage.parquet").is_file()
        else None,
    )


def _with_typed_columns(events: pd.DataFrame) -> pd.DataFrame:
    """The event log with the typed text columns (``peer``, ``activity``, ...), recovered
    from ``detail`` for a run written before they existed (netsim 0.1 before them)."""
    for column in EVENT_COLUMNS:  # a column added since the run was written: empty
        if column not in events.columns and column not in TEXT_COLUMNS:
            dtype = "Int64" if column in COUNT_COLUMNS else "float64"
            events = events.assign(**{column: pd.Series(pd.NA, events.index, dtype=dtype)})
    missing = [c for c in TEXT_COLUMNS if c not in events.columns]
    if not missing:
        return events[EVENT_COLUMNS]
    events = events.copy()
    first = events["detail"].astype("string").str.split().str[0]
    for column in missing:
        events[column] = pd.Series(pd.NA, index=events.index, dtype="string")
    cut = events["event"].isin(["abort", "battery_empty"])
    if "activity" in missing:
        events.loc[cut, "activity"] = first[cut]
    talks = events["event"].isin(["rx_update", "fwd_start", "fwd_end", "deadline_miss", "cut"])
    if "peer" in missing:
        events.loc[talks, "peer"] = first[talks].str.rstrip(":")
    return events[EVENT_COLUMNS]
