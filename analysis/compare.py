"""Comparing runs by what differs between them: each run labelled by the settings in which
its resolved scenario differs from the others' (``radio.reuse=3, seed=2``, not the folder
name ``p000-seed1``), and a what-if table of the outcomes against those settings.

Settings are the scenario's fields flattened to dotted names (``radio.pathloss.exponent``);
a list or table that differs counts as one setting (its JSON text). The scenario's
``name`` is left out (a sweep names every point alike; a renamed copy changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from netsim.analysis.run import RunData

from netsim.log import global_rounds

LABEL_SETTINGS = 3  # settings a label names before "+N more"


def flat_settings(scenario: Any) -> dict[str, Any]:
    """The scenario's fields as ``{dotted name: value}`` (JSON values; lists and tables
    that are values, e.g. ``backhaul.paths``, as their JSON text)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            out[prefix] = json.dumps(value, sort_keys=True)
        else:
            out[prefix] = value

    walk("", scenario.model_dump(mode="json"))
    out.pop("name", None)
    return out


def differing_settings(scenarios: Sequence[Any]) -> list[str]:
    """The dotted names whose values are not the same in every scenario, in the schema's
    order (a field present in only some scenarios, e.g. a section's own field, counts)."""
    flats = [flat_settings(s) for s in scenarios]
    names = list(dict.fromkeys(name for flat in flats for name in flat))
    return [n for n in names if len({json.dumps(f.get(n), sort_keys=True) for f in flats}) > 1]


def _shown(value: Any) -> str:
    """A setting's value as a label shows it: floats short, text as is, the rest JSON."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_labels(runs: Sequence[RunData]) -> list[str]:
    """One label per run: the settings in which its scenario differs from the others'
    (``radio.reuse=3, seed=2``; at most :data:`LABEL_SETTINGS`, then "+N more"); the folder
    name where nothing differs (one run, or repeats of one scenario), made unique."""
    varied = differing_settings([r.scenario for r in runs]) if len(runs) > 1 else []
    labels: list[str] = []
    for run in runs:
        if varied:
            flat = flat_settings(run.scenario)
            shown = [f"{n}={_shown(flat.get(n))}" for n in varied[:LABEL_SETTINGS]]
            more = len(varied) - LABEL_SETTINGS
            label = ", ".join(shown) + (f", +{more} more" if more > 0 else "")
        else:
            label = run.path.name
        base, i = label, 2
        while label in labels:
            label, i = f"{base} ({i})", i + 1
        labels.append(label)
    return labels


def whatif_frame(runs: Sequence[RunData]) -> pd.DataFrame:
    """One row per run: the settings that differ between the runs (one column each, as the
    scenario holds them), then the outcomes: final test accuracy, simulated time (s), PIU
    energy (J) and uplink (Mbit) of the global rounds; rows in the order given."""
    varied = differing_settings([r.scenario for r in runs]) if len(runs) > 1 else []
    rows = []
    for label, run in zip(run_labels(runs), runs, strict=True):
        flat = flat_settings(run.scenario)
        rounds = global_rounds(run.rounds)
        row: dict[str, Any] = {"run": label}
        row.update({n: flat.get(n) for n in varied})
        row.update(
            {
                "final accuracy": run.manifest.get("final_accuracy"),
                "simulated time (s)": run.manifest.get("sim_time_s"),
                "PIU energy (J)": run.manifest.get("total_energy_j"),
                "uplink (Mbit)": float(rounds["uplink_bits"].sum()) / 1e6,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)
