"""Run directories: written atomically, so an interrupted run leaves no half-written one.

Layout::

    RUN_DIR/
      events.parquet    the event log
      rounds.parquet    one row per round
      scenario.toml     the resolved scenario (re-runnable: ``netsim run RUN_DIR/scenario.toml``)
      manifest.json     seed, versions, git commit, wall time, summary figures
      model.pt          final global model (``state_dict``)
      attacks/          with an ``[attack]`` (or after ``netsim attack``): attacks.parquet,
                        one row per reconstructed sample, and PNGs (originals over
                        reconstructions)

Everything is written into a hidden sibling ``.RUN_DIR.partial`` first and renamed into
place at the end; a crash leaves at most that hidden folder, never a ``RUN_DIR`` with some
files missing. The CLI also keeps the run's training-result cache there while it runs, so an
interrupted run is resumed by running the same command again (see ``netsim.cli``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from netsim.log import log_digest

if TYPE_CHECKING:
    from netsim.sim import SimulationResult

RUN_FILES = ("events.parquet", "rounds.parquet", "scenario.toml", "manifest.json", "model.pt")
OPTIONAL_RUN_FILES = ("attacks",)


class RunDirError(ValueError):
    """The output directory cannot be used."""


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output directory that exists and is not empty (nothing is overwritten)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise RunDirError(
            f"output directory '{out_dir}' already exists and is not empty; "
            "choose another --out or remove it"
        )
    parent = out_dir.resolve().parent
    if parent.exists() and not os.access(parent, os.W_OK):
        raise RunDirError(f"output directory '{out_dir}': parent '{parent}' is not writable")


def staging_dir(out_dir: Path) -> Path:
    """Hidden sibling where a run is assembled (and where an interrupted run's cache waits)."""
    return out_dir.parent / f".{out_dir.name}.partial"


def prepare_run(out_dir: Path, scenario_toml: str) -> tuple[Path, bool]:
    """Claim ``out_dir`` for a run of the given resolved scenario.

    Returns the staging directory and whether it already held an interrupted run of the same
    scenario (which is then resumed from its training cache). A staging directory left by a
    *different* scenario is an error rather than silently mixed or deleted.
    """
    check_out_dir(out_dir)
    staging = staging_dir(out_dir)
    saved = staging / "scenario.toml"
    if staging.exists():
        if saved.is_file() and saved.read_text(encoding="utf-8") == scenario_toml:
            return staging, True
        raise RunDirError(
            f"'{staging}' holds an interrupted run of another scenario; "
            "remove it or choose another --out"
        )
    staging.mkdir(parents=True)
    saved.write_text(scenario_toml, encoding="utf-8")
    return staging, False


def write_run(result: SimulationResult, out_dir: Path, command: str | None = None) -> Path:
    """Write ``result`` to ``out_dir`` atomically; return the directory.

    Files are written into :func:`staging_dir` and the folder is renamed into place; its
    resume cache (``cache/``), if any, is deleted first.
    """
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir)
    staging.mkdir(exist_ok=True)
    result.events.to_parquet(staging / "events.parquet", index=False)
    result.rounds.to_parquet(staging / "rounds.parquet", index=False)
    (staging / "scenario.toml").write_text(result.scenario.to_toml(), encoding="utf-8")
    torch.save(result.state_dict, staging / "model.pt")
    if result.attacks is not None:
        from netsim.privacy.attacker import write_attacks

        write_attacks(result.attacks, staging / "attacks")
    manifest = _manifest(result, command)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    shutil.rmtree(staging / "cache", ignore_errors=True)
    known = RUN_FILES + OPTIONAL_RUN_FILES
    extra = sorted(p.name for p in staging.iterdir() if p.name not in known)
    if extra:
        raise RunDirError(f"staging directory '{staging}' holds unexpected files {extra}")
    if out_dir.exists():  # an empty directory: replace it
        out_dir.rmdir()
    os.replace(staging, out_dir)
    return out_dir


def _manifest(result: SimulationResult, command: str | None) -> dict[str, Any]:
    from netsim import __version__

    return {
        "netsim_version": __version__,
        "git_commit": _git_commit(),
        "seed": result.scenario.seed,
        "scenario": result.scenario.name,
        "command": command,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "wall_time_s": result.wall_time_s,
        "sim_time_s": result.sim_time_s,
        "rounds": len(result.rounds),
        "final_accuracy": result.final_accuracy,
        "total_energy_j": result.total_energy_j,
        "events": len(result.events),
        "events_sha256": log_digest(result.events),
        "training_jobs_run": result.training_jobs_run,
        "training_cache_hits": result.training_cache_hits,
        "initial_battery_j": {k: _json_float(v) for k, v in result.initial_battery_j.items()},
        "final_battery_j": {k: _json_float(v) for k, v in result.final_battery_j.items()},
        "harvested_j": dict(result.harvested_j),
    }


def _json_float(x: float) -> float | str:
    return x if x == x and abs(x) != float("inf") else str(x)


def _git_commit() -> str | None:
    """Commit of the netsim source tree, if it is a git checkout with git available."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
