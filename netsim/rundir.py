"""Run directories: written atomically, so an interrupted run leaves no half-written one.

Layout::

    RUN_DIR/
      events.parquet    the event log
      rounds.parquet    one row per round
      scenario.toml     the resolved scenario (re-runnable: ``netsim run RUN_DIR/scenario.toml``)
      inputs/           copies of the topology file and availability traces the run used;
                        scenario.toml refers to them by relative paths, so the directory is
                        self-contained (data sets are not copied: the manifest records their
                        path and each file's SHA-256)
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

import contextlib
import errno
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import tomli_w

from netsim.log import flow_table, global_rounds, log_digest
from netsim.storage import disk_full

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from netsim.privacy.attacker import AttackReport
    from netsim.scenario import RayTracedPathLoss, Scenario

RUN_FILES = ("events.parquet", "rounds.parquet", "scenario.toml", "manifest.json", "model.pt")
INPUTS = "inputs"
OPTIONAL_RUN_FILES = (
    "attacks", INPUTS, "piu_eval.parquet", "flows.parquet", "backhaul.parquet", "rb_usage.parquet"
)  # fmt: skip


class RunDirError(ValueError):
    """The output directory cannot be used, or a run directory is damaged."""


class RunResult(Protocol):
    """What :func:`write_run` writes of a run: the fields of
    :class:`netsim.sim.SimulationResult` (see there). A protocol, so that this layer, below
    the simulation, does not import it."""

    scenario: Scenario
    events: pd.DataFrame
    rounds: pd.DataFrame
    state_dict: dict[str, torch.Tensor]
    wall_time_s: float
    initial_battery_j: dict[str, float]
    final_battery_j: dict[str, float]
    harvested_j: dict[str, float]
    training_jobs_run: int
    training_cache_hits: int
    attacks: AttackReport | None
    diagnostics: dict[str, float]
    piu_eval: pd.DataFrame
    backhaul: pd.DataFrame
    rb_usage: pd.DataFrame

    @property
    def sim_time_s(self) -> float:
        """Simulated time (s) at the end of the last round."""

    @property
    def final_accuracy(self) -> float:
        """Test accuracy of the final global model (NaN without a round)."""

    @property
    def total_energy_j(self) -> float:
        """Energy the PIUs spent (J)."""


def check_can_create(path: Path, flag: str = "--out", via: Path | None = None) -> None:
    """Refuse, without creating anything, a ``path`` that could not be created: a
    :class:`RunDirError` naming ``flag``, the path and the operating system's reason (its
    folder is a file; nothing can be created there, e.g. /proc or a read-only mount; a name
    longer than the filesystem allows). ``via``: a sibling written first and renamed into
    place (a staging folder, a ``.partial`` file), checked too. A path that exists passes
    (the caller decides whether it may be used)."""
    for target in (path,) if via is None else (path, via):
        reason = _cannot_create(Path(os.path.abspath(target)))
        if reason is not None:
            first = f" (it is written first as '{target}', then renamed)" if target != path else ""
            raise RunDirError(f"{flag} '{path}' cannot be created: {reason}{first}")


def _cannot_create(target: Path) -> str | None:
    """Why ``target`` (absolute) could not be created, or None if it could (or exists).
    The only thing made is a probe folder in the nearest existing folder, removed at once."""
    import tempfile

    if os.path.lexists(target):
        return None
    missing = [target.name]
    folder = target.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder.name)
        folder = folder.parent
    if not os.path.isdir(folder):
        return f"'{folder}' is not a folder ({os.strerror(errno.ENOTDIR)})"
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for name in missing:
        size = len(os.fsencode(name))
        if size > name_max:
            shown = name if len(name) <= 40 else name[:37] + "..."
            return (
                f"the name '{shown}' is {size} bytes, more than the {name_max} this "
                f"filesystem allows ({os.strerror(errno.ENAMETOOLONG)})"
            )
    if len(os.fsencode(str(target))) >= path_max:
        return f"the path is longer than {path_max - 1} bytes ({os.strerror(errno.ENAMETOOLONG)})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"'{folder}' is not writable ({os.strerror(errno.EACCES)})"
    try:  # what access() does not see: /proc, a read-only mount, a full inode table
        probe = tempfile.mkdtemp(prefix=".netsim-probe-", dir=folder)
    except OSError as exc:
        return f"nothing can be created in '{folder}' ({exc.strerror or exc})"
    os.rmdir(probe)
    return None


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output directory that exists and is not empty (nothing is overwritten), or
    that cannot be created (:func:`check_can_create`)."""
    staging = staging_dir(out_dir)
    check_can_create(out_dir, "--out", via=staging)
    if os.path.lexists(out_dir) and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise RunDirError(
            f"output directory '{out_dir}' already exists and is not empty; "
            "choose another --out or remove it"
        )
    if staging.is_dir() and staging.resolve() not in _LOCKS:
        _try_lock(staging)  # raises at once if another run is writing it


OWNER_FILE = "owner.pid"  # the staging folder's owner process while it runs
_LOCKS: dict[Path, int] = {}  # staging folders this process holds: an fd with an flock on it


def lock_staging(staging: Path) -> None:
    """Hold an exclusive lock on the staging folder for the rest of this run (released by
    :func:`write_run` or when the process ends, even by kill -9), so that a second run with
    the same ``--out`` stops at once instead of treating the live folder as interrupted."""
    key = staging.resolve()
    if key in _LOCKS:
        return
    _LOCKS[key] = _try_lock(staging, keep=True)
    (staging / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")


def _try_lock(staging: Path, keep: bool = False) -> int:
    """Take the staging folder's flock (kept: return its fd; else released at once);
    :class:`RunDirError` naming the owner when another process holds it."""
    import fcntl

    fd = os.open(staging, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            owner = (staging / OWNER_FILE).read_text(encoding="ascii").strip()
        except OSError:
            owner = "?"
        raise RunDirError(
            f"'{staging}' is in use by another netsim run (process {owner}) writing the same "
            "output directory; wait for it to finish or choose another --out"
        ) from None
    if not keep:
        os.close(fd)
    return fd


def unlock_staging(staging: Path) -> None:
    """Release :func:`lock_staging` (no-op if this process does not hold it)."""
    fd = _LOCKS.pop(staging.resolve(), None)
    if fd is not None:
        os.close(fd)


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
        if staging.resolve() not in _LOCKS:
            _try_lock(staging)  # another run writing it: stop here
        if saved.is_file() and saved.read_text(encoding="utf-8") == scenario_toml:
            lock_staging(staging)
            return staging, True
        raise RunDirError(
            f"'{staging}' holds an interrupted run of another scenario; "
            "remove it or choose another --out"
        )
    staging.mkdir(parents=True)
    lock_staging(staging)
    saved.write_text(scenario_toml, encoding="utf-8")
    return staging, False


def write_run(result: RunResult, out_dir: Path, command: str | None = None) -> Path:
    """Write ``result`` to ``out_dir`` atomically; return the directory.

    Files are written into :func:`staging_dir` and the folder is renamed into place; its
    resume cache (``cache/``), if any, is deleted first.
    """
    import torch

    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir)
    staging.mkdir(exist_ok=True)
    lock_staging(staging)

    def save(path: Path, write: Callable[[Path], Any]) -> Any:
        try:
            return write(path)
        except (OSError, RuntimeError) as exc:
            full = disk_full(exc, path)
            if full is None:
                raise
            _discard_unresumable(staging, result.scenario.to_toml())
            raise full from None

    save(staging / "events.parquet", lambda p: result.events.to_parquet(p, index=False))
    save(staging / "rounds.parquet", lambda p: result.rounds.to_parquet(p, index=False))
    flows = flow_table(result.events)  # derived from the events: a table to open at once
    save(staging / "flows.parquet", lambda p: flows.to_parquet(p, index=False))
    save(staging / "model.pt", lambda p: torch.save(result.state_dict, p))
    if len(result.piu_eval):
        save(staging / "piu_eval.parquet", lambda p: result.piu_eval.to_parquet(p, index=False))
    if len(result.backhaul):  # a routed backhaul's link loads over time
        save(staging / "backhaul.parquet", lambda p: result.backhaul.to_parquet(p, index=False))
    if len(result.rb_usage):  # a slot scheduler's RBs by AP and SINR
        save(staging / "rb_usage.parquet", lambda p: result.rb_usage.to_parquet(p, index=False))
    scenario_toml, inputs = save(staging / INPUTS, lambda _: copy_inputs(result.scenario, staging))
    attacks = result.attacks
    if attacks is not None:
        from netsim.privacy.attacker import write_attacks

        save(staging / "attacks", lambda p: write_attacks(attacks, p))
    save(staging / "scenario.toml", lambda p: p.write_text(scenario_toml, encoding="utf-8"))
    manifest = {**_manifest(result, command), "inputs": inputs}
    text = json.dumps(manifest, indent=2)
    save(staging / "manifest.json", lambda p: p.write_text(text, encoding="utf-8"))
    shutil.rmtree(staging / "cache", ignore_errors=True)
    (staging / OWNER_FILE).unlink(missing_ok=True)
    known = RUN_FILES + OPTIONAL_RUN_FILES
    extra = sorted(p.name for p in staging.iterdir() if p.name not in known)
    if extra:
        raise RunDirError(f"staging directory '{staging}' holds unexpected files {extra}")
    if out_dir.exists():  # an empty directory: replace it
        out_dir.rmdir()
    os.replace(staging, out_dir)
    unlock_staging(staging)
    return out_dir


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet table of a run directory; :class:`RunDirError` if it is truncated or not
    Parquet at all (pyarrow's ArrowInvalid and friends), naming the file."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise RunDirError(
            f"'{path}' is damaged (not a readable Parquet file: {type(exc).__name__}: "
            f"{str(exc)[:200]}); run the scenario again to write it anew"
        ) from None


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """``manifest.json`` of a run directory; :class:`RunDirError` if it is not JSON."""
    path = run_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"'{path}' is damaged (not readable JSON: {exc})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"'{path}' is damaged (not a JSON object)")
    return manifest


def check_events(run_dir: Path, events: pd.DataFrame, manifest: dict[str, Any]) -> None:
    """Raise :class:`RunDirError` when the event log is not the one the run wrote (its
    SHA-256 in the manifest)."""
    expected = manifest.get("events_sha256")
    if expected is not None and log_digest(events) != expected:
        raise RunDirError(
            f"'{run_dir / 'events.parquet'}' does not match the SHA-256 in its manifest "
            "(damaged or edited); run the scenario again to write it anew"
        )


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _trace_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("piu*.csv"))


def copy_inputs(scenario: Scenario, staging: Path) -> tuple[str, dict[str, Any]]:
    """Copy the files a scenario reads into ``staging/inputs`` and return the scenario as TOML
    referring to the copies by paths relative to ``staging`` (so ``netsim run
    RUN_DIR/scenario.toml`` repeats the run from the run directory alone), and the manifest's
    record of every input: where it came from and its SHA-256.

    Data sets are referenced, not copied (they can be gigabytes): the record holds the data
    folder and the SHA-256 of each file the loader reads.
    """
    from netsim.learn.datasets import data_files
    from netsim.scenario import FileTopology, RayTracedPathLoss, TraceAvailability

    data = scenario.to_dict()
    record: dict[str, Any] = {}
    inputs = staging / INPUTS
    shutil.rmtree(inputs, ignore_errors=True)
    topology = scenario.topology
    if isinstance(topology, FileTopology):
        inputs.mkdir(parents=True, exist_ok=True)
        copy = inputs / f"topology{''.join(topology.path.suffixes) or '.graphml'}"
        shutil.copyfile(topology.path, copy)
        data["topology"]["path"] = copy.relative_to(staging).as_posix()
        record["topology"] = {
            "source": str(topology.path),
            "copy": data["topology"]["path"],
            "sha256": file_sha256(copy),
        }
    availability = scenario.device.availability
    if isinstance(availability, TraceAvailability):
        traces = inputs / "traces"
        traces.mkdir(parents=True, exist_ok=True)
        files = {}
        for trace in _trace_files(availability.dir):
            shutil.copyfile(trace, traces / trace.name)
            files[trace.name] = file_sha256(traces / trace.name)
        data["device"]["availability"]["dir"] = traces.relative_to(staging).as_posix()
        record["traces"] = {
            "source": str(availability.dir),
            "copy": data["device"]["availability"]["dir"],
            "sha256": files,
        }
    pathloss = scenario.radio.pathloss
    if isinstance(pathloss, RayTracedPathLoss):
        record.update(_copy_raytracing(scenario, pathloss, data, staging))
    learning = scenario.learning
    if learning.data_path is not None:
        record["data"] = {
            "path": str(learning.data_path),
            "sha256": {
                p.name: file_sha256(p) for p in data_files(learning.dataset, learning.data_path)
            },
        }
    return tomli_w.dumps(data), record


def _copy_raytracing(
    scenario: Scenario, pathloss: RayTracedPathLoss, data: dict[str, Any], staging: Path
) -> dict[str, Any]:
    """Copy what a ray-traced path loss reads into ``staging/inputs``: the scene with the
    meshes it references (a building in the topology needs no file) and the maps the run
    read (stored, or traced into the cache: a repeat reads the same bits); point ``data``
    (the scenario as a dict) at the copies and return their manifest records."""
    from netsim.assembly.radio import traced_maps_file
    from netsim.radio.raytracing import scene_files

    inputs, record = staging / INPUTS, {}
    if pathloss.scene is not None:
        folder, files = inputs / "scene", {}
        for name, content in scene_files(pathloss.scene):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
            files[name] = file_sha256(folder / name)
        data["radio"]["pathloss"]["scene"] = (
            (folder / pathloss.scene.name).relative_to(staging).as_posix()
        )
        record["scene"] = {
            "source": str(pathloss.scene),
            "copy": data["radio"]["pathloss"]["scene"],
            "sha256": files,
        }
    maps = pathloss.maps or traced_maps_file(scenario)
    if maps is not None:
        inputs.mkdir(parents=True, exist_ok=True)
        copy = inputs / "radio_maps.npz"
        shutil.copyfile(maps, copy)
        data["radio"]["pathloss"]["maps"] = copy.relative_to(staging).as_posix()
        record["radio_maps"] = {
            "source": str(maps),
            "copy": data["radio"]["pathloss"]["maps"],
            "sha256": file_sha256(copy),
        }
    return record


def scenario_fingerprint(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario with every input file stood for by its content, so a
    run directory's copy of a scenario (paths into ``inputs/``) has the fingerprint of the
    scenario it was run from."""
    from netsim.radio.raytracing import scene_files
    from netsim.scenario import FileTopology, RayTracedPathLoss, TraceAvailability

    data = scenario.to_dict()
    if isinstance(scenario.topology, FileTopology):
        data["topology"]["path"] = file_sha256(scenario.topology.path)
    pathloss = scenario.radio.pathloss
    if isinstance(pathloss, RayTracedPathLoss):
        if pathloss.scene is not None:
            data["radio"]["pathloss"]["scene"] = {
                name: hashlib.sha256(content).hexdigest()
                for name, content in scene_files(pathloss.scene)
            }
        # stored maps stand for what the scene and settings trace (their geometry is
        # checked when read): a run directory's copy, which names them, fingerprints as
        # the scenario it was run from
        data["radio"]["pathloss"].pop("maps", None)
    availability = scenario.device.availability
    if isinstance(availability, TraceAvailability):
        data["device"]["availability"]["dir"] = {
            p.name: file_sha256(p) for p in _trace_files(availability.dir)
        }
    return hashlib.sha256(tomli_w.dumps(data).encode()).hexdigest()


def _discard_unresumable(staging: Path, scenario_toml: str) -> None:
    """After a failed write: remove the outputs written so far (they are made again), keep
    a resume cache and the scenario it is matched against (:func:`prepare_run`); with no
    cache nothing can be resumed, so the whole staging folder goes."""
    if not (staging / "cache").is_dir():
        shutil.rmtree(staging, ignore_errors=True)
        unlock_staging(staging)
        return
    for name in RUN_FILES + OPTIONAL_RUN_FILES:
        shutil.rmtree(staging / name, ignore_errors=True)
        (staging / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a few hundred bytes: fits where a model did not
        (staging / "scenario.toml").write_text(scenario_toml, encoding="utf-8")


def _manifest(result: RunResult, command: str | None) -> dict[str, Any]:
    import torch

    from netsim._version import __version__

    return {
        "netsim_version": __version__,
        "git_commit": _git_commit(),
        "seed": result.scenario.seed,
        "scenario": result.scenario.name,
        "scenario_sha256": scenario_fingerprint(result.scenario),
        "command": command,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "wall_time_s": result.wall_time_s,
        "sim_time_s": result.sim_time_s,
        "rounds": len(global_rounds(result.rounds)),
        "final_accuracy": result.final_accuracy,
        "total_energy_j": result.total_energy_j,
        "events": len(result.events),
        "events_sha256": log_digest(result.events),
        "training_jobs_run": result.training_jobs_run,
        "training_cache_hits": result.training_cache_hits,
        "initial_battery_j": {k: _json_float(v) for k, v in result.initial_battery_j.items()},
        "final_battery_j": {k: _json_float(v) for k, v in result.final_battery_j.items()},
        "harvested_j": dict(result.harvested_j),
        "diagnostics": dict(result.diagnostics),
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
