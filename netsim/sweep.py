"""What-if sweeps: a grid or a list of overrides over a base scenario, replicated over seeds.

A sweep file (TOML)::

    name = "bandwidth-x-bits"          # optional (a plain folder name); default output runs/NAME
    base = "default"                   # scenario file (relative to this file) or bundled name
    seeds = [1, 2]                     # replications: each point runs once per seed
    [fixed]                            # overrides of every point (not varied)
    "learning.local_steps" = 5
    [grid]                             # every combination of these values ...
    "radio.bandwidth_hz" = [1e6, 5e6]
    "protocol.rounds" = [5, 10]
    [[points]]                         # ... and/or explicit points (sets of overrides)
    "protocol.deadline_s" = 2.0

Each (point, seed) is a normal run directory ``OUT/p003-seed2``. A run directory that is
already complete is not run again, so an interrupted sweep resumes where it stopped (one that
holds a different scenario, because the sweep file changed, is reported, not reused); a point
that fails (e.g. an invalid override) is recorded with its error and the others go on.
``OUT/results.csv``: one row per run (the varied fields, seed, status, error, summary
metrics); ``OUT/summary.csv``: per point, the mean and the 95 % confidence half-width
(Student t over the seeds) of each metric. Backends: in-process (1 worker), a local process
pool, or Ray; the tables are the same whichever runs them, because every run trains with
one torch thread (torch's CPU kernels sum in a thread-count-dependent order, so the same
seed gives the same model only at the same thread count); parallelism comes from workers.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from netsim.learn.cluster import connect_ray, stop_workers, worker_setup
from netsim.log import global_rounds

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("final_accuracy", "sim_time_s", "total_energy_j", "uplink_bits", "rounds", "wall_time_s")
NAME_MAX_CHARS = 100  # a sweep's name is a folder name (runs/NAME); leave room for the rest


class SweepError(ValueError):
    """A sweep file that cannot be used; the message names the field and the value."""


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: point ``index`` (its ``overrides``) with ``seed``."""

    index: int
    overrides: dict[str, Any]
    seed: int

    @property
    def name(self) -> str:
        """The point's run-directory name (its index and overrides)."""
        return f"p{self.index:03d}-seed{self.seed}"

    def override_strings(self) -> list[str]:
        """``--set`` strings (values written as TOML), the seed last."""
        return [f"{k}={_toml_value(v)}" for k, v in self.overrides.items()] + [f"seed={self.seed}"]


@dataclass
class Sweep:
    """A parsed sweep: its name, base scenario (path or bundled name) and runs."""

    name: str
    base: str | None
    runs: list[SweepPoint]
    varied: list[str] = field(default_factory=list)


def bundled_studies() -> list[str]:
    """Names of the studies bundled in ``topologies/studies`` (``netsim sweep NAME``)."""
    from netsim.scenario.starters import studies_folder

    return sorted(p.stem for p in studies_folder().glob("*.toml"))


def _study_or_path(path: Path) -> Path:
    """``path``, or the bundled study of that name (``deadline_tail`` or
    ``deadline_tail.toml``) when no such file exists, as scenarios resolve."""
    from netsim.scenario.starters import studies_folder

    if not os.path.exists(path) and path.parent == Path(".") and path.stem in bundled_studies():
        return studies_folder() / f"{path.stem}.toml"
    return path


def check_name(name: object, path: Path) -> str:
    """A sweep's ``name``: a plain file name (its default output is runs/NAME), or a
    :class:`SweepError` naming it (and the sweep file, ``path``)."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(sep in name for sep in ("/", "\\", os.sep, os.altsep or "/"))
        and name.isprintable()
        and len(name) <= NAME_MAX_CHARS
    )
    if not plain:
        long = isinstance(name, str) and len(name) > 60
        shown = repr(name[:57]) + "..." if isinstance(name, str) and long else repr(name)
        raise SweepError(
            f"sweep file '{path}': name = {shown}: expected a plain folder name (the default "
            f"output is runs/NAME): 1 to {NAME_MAX_CHARS} printable characters, no '/' or "
            "'\\', not '.' or '..'"
        )
    assert isinstance(name, str)
    return name


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file, or a bundled study by name (:class:`SweepError` names
    what is wrong)."""
    path = _study_or_path(Path(path))
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
        studies = ", ".join(bundled_studies())
        raise SweepError(f"sweep file '{path}' {what} (bundled studies: {studies})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SweepError(f"sweep file '{path}' is not valid TOML: {exc}") from None
    allowed = {"name", "base", "seeds", "fixed", "grid", "points"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SweepError(
            f"sweep file '{path}': unknown field(s) {unknown}; allowed: {sorted(allowed)}"
        )
    base = data.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise SweepError(f"base = {base!r}: expected a scenario file or bundled name")
        candidate = path.parent / base
        base = str(candidate.resolve()) if candidate.is_file() else base
    seeds = data.get("seeds", [0])
    if not (
        isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)
    ):
        raise SweepError(f"seeds = {seeds!r}: expected a non-empty list of integers >= 0")
    grid = data.get("grid", {})
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise SweepError(f"grid = {grid!r}: expected a table of KEY = [non-empty list of values]")
    points = data.get("points", [])
    if not isinstance(points, list) or any(not isinstance(p, dict) for p in points):
        raise SweepError(f"points = {points!r}: expected an array of tables ([[points]])")
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        raise SweepError(f"fixed = {fixed!r}: expected a table of KEY = value overrides")
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    varying = (combos if grid else []) + [dict(p) for p in points]
    sets = [{**fixed, **s} for s in varying]
    if not sets:
        raise SweepError(f"sweep file '{path}' has neither [grid] nor [[points]]: nothing to run")
    varied = list(dict.fromkeys(k for s in varying for k in s))
    runs = [SweepPoint(i, s, seed) for i, s in enumerate(sets) for seed in seeds]
    sweep = Sweep(check_name(data.get("name", path.stem), path), base, runs, varied)
    check_sweep(sweep, path)
    return sweep


def check_sweep(sweep: Sweep, path: Path) -> None:
    """Validate the base scenario and every point before anything runs (values, and what
    the build checks: files, registries, memory).

    A base that does not load, an override key that names no scenario field (a misspelt
    grid key fails every point it is in) or points that all fail are errors of the sweep
    file; a point whose *value* alone is invalid is left to fail on its own (recorded in
    the results table) while the others run.
    """
    from netsim.assembly import preflight
    from netsim.scenario import ScenarioError, load_scenario

    try:
        preflight(load_scenario(sweep.base))
    except (ScenarioError, TypeError) as exc:
        raise SweepError(f"sweep file '{path}': base = {sweep.base!r}: {exc}") from None
    problems: dict[int, str] = {}
    for point in sweep.runs:
        if point.index in problems:
            continue
        try:
            preflight(load_scenario(sweep.base, point.override_strings()))
        except ScenarioError as exc:
            problems[point.index] = str(exc)
            if exc.unknown_fields:
                raise SweepError(
                    f"sweep file '{path}': point {point.index} {point.overrides}: {exc}"
                ) from None
    if problems and len(problems) == len({p.index for p in sweep.runs}):
        first = min(problems)
        raise SweepError(
            f"sweep file '{path}': every point is invalid, e.g. point {first}: {problems[first]}"
        )


def run_point(base: str | None, point: SweepPoint, out: str) -> dict[str, Any]:
    """Run one point into ``out/NAME`` unless that run directory is already complete; return
    its results row (a failure is a row with status "failed" and the error, never raised)."""
    import torch

    from netsim.assembly.learning import training_in_process
    from netsim.rundir import scenario_fingerprint
    from netsim.scenario import ScenarioError, load_scenario
    from netsim.sim import Simulation

    run_dir = Path(out) / point.name
    row: dict[str, Any] = {"point": point.index, "seed": point.seed, **point.overrides}
    try:
        scenario = load_scenario(base, point.override_strings())
    except ScenarioError as exc:
        return {**row, "status": "failed", "error": str(exc), "run_dir": ""}
    if (run_dir / "manifest.json").is_file():  # done before: reuse it if it is this point
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("scenario_sha256") != scenario_fingerprint(scenario):
            problem = f"{run_dir} holds a run of another scenario; remove it or use another --out"
            return {**row, "status": "failed", "error": problem, "run_dir": ""}
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same arithmetic on every backend (module docstring)
        try:
            with training_in_process():  # points run side by side: no pool per run
                result = Simulation(scenario).run()
            result.save(run_dir, command=f"netsim sweep (point {point.index}, seed {point.seed})")
        except Exception as exc:  # noqa: BLE001 - a failed point must not stop the others
            problem = f"{type(exc).__name__}: {exc}"
            return {**row, "status": "failed", "error": problem, "run_dir": ""}
        finally:
            torch.set_num_threads(threads)
    return {**row, "status": "ok", "error": "", **_summary(run_dir), "run_dir": str(run_dir)}


def _summary(run_dir: Path) -> dict[str, float]:
    import pandas as pd

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    rounds = global_rounds(pd.read_parquet(run_dir / "rounds.parquet"))
    return {
        "final_accuracy": float(manifest["final_accuracy"]),
        "sim_time_s": float(manifest["sim_time_s"]),
        "total_energy_j": float(manifest["total_energy_j"]),
        "uplink_bits": float(rounds["uplink_bits"].sum()),
        "rounds": float(len(rounds)),
        "wall_time_s": float(manifest["wall_time_s"]),
    }


def run_sweep(
    sweep: Sweep,
    out: Path,
    workers: int = 1,
    ray_address: str | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run every point not yet complete in ``out`` and write the results and summary tables.

    workers: 1 runs in this process; more use a local process pool. ray_address: use Ray
    instead ("local" starts one here, "auto" joins a running cluster; connected before
    ``out`` is created, so an address that does not work leaves nothing behind). on_done:
    called with each finished row.
    """
    started = ray_address is not None and connect_ray(ray_address, "--ray-address")
    try:
        out.mkdir(parents=True, exist_ok=True)
        rows = _run(sweep, out, workers, ray_address, on_done or (lambda row: None))
    finally:
        if started:
            import ray

            ray.shutdown()
    table = results_table(rows, sweep.varied)
    _write_csv(table, out / "results.csv")
    _write_csv(summary_table(table, sweep.varied), out / "summary.csv")
    return table


def _run(
    sweep: Sweep,
    out: Path,
    workers: int,
    ray_address: str | None,
    done: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    if ray_address is not None:
        rows = _run_ray(sweep, out, done)
    elif workers <= 1:
        rows = []
        for point in sweep.runs:
            rows.append(run_point(sweep.base, point, str(out)))
            done(rows[-1])
    else:
        rows = _run_pool(sweep, out, workers, done)
    return rows


def _run_pool(
    sweep: Sweep, out: Path, workers: int, done: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork after torch has started threads
    rows = []
    # workers ignore Ctrl-C (worker_setup): on an interrupt this process stops them, and the
    # points they were running are run again by the next `netsim sweep` (resume)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=worker_setup) as pool:
        futures: list[Future[dict[str, Any]]] = []
        try:
            futures += [pool.submit(run_point, sweep.base, p, str(out)) for p in sweep.runs]
            for future in as_completed(futures):
                rows.append(future.result())
                done(rows[-1])
        except BaseException:
            for f in futures:
                f.cancel()
            stop_workers(pool)
            raise
    return rows


def _run_ray(
    sweep: Sweep, out: Path, done: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    import ray

    remote = ray.remote(num_cpus=1)(run_point)
    pending = [remote.remote(sweep.base, p, str(out.resolve())) for p in sweep.runs]
    rows = []
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        rows.append(ray.get(ready[0]))
        done(rows[-1])
    return rows


def results_table(rows: Sequence[dict[str, Any]], varied: Sequence[str]) -> pd.DataFrame:
    """One row per run, in (point, seed) order, with a fixed column order."""
    import pandas as pd

    columns = ["point", "seed", *varied, "status", "error", *METRICS, "run_dir"]
    table = pd.DataFrame(list(rows)).reindex(columns=columns)
    return table.sort_values(["point", "seed"], kind="stable").reset_index(drop=True)


def mean_ci95(values: pd.Series) -> tuple[float, float]:
    """(mean, 95 % confidence half-width ``t(0.975, n-1) s / sqrt(n)``) of ``values`` (n of
    them; mean and s skip NaN as pandas does); the half-width is NaN for n < 2."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return float(values.mean()), math.nan
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return float(values.mean()), half


def summary_table(table: pd.DataFrame, varied: Sequence[str]) -> pd.DataFrame:
    """Per point: runs that succeeded (n), and for each metric its mean and the 95 %
    confidence half-width over the seeds (:func:`mean_ci95`)."""
    import pandas as pd

    ok = table[table.status == "ok"]
    rows = []
    for point, runs in ok.groupby("point", sort=True):
        row: dict[str, Any] = {
            "point": point,
            **runs.iloc[0][list(varied)].to_dict(),
            "n": len(runs),
        }
        for m in METRICS:
            row[f"{m}_mean"], row[f"{m}_ci95"] = mean_ci95(runs[m].astype(float))
        rows.append(row)
    return pd.DataFrame(rows)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    table.to_csv(tmp, index=False)
    tmp.replace(path)  # atomic


def _toml_value(value: Any) -> str:
    """``value`` as a one-line TOML value (tables inline), as ``--set`` reads it."""
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")
