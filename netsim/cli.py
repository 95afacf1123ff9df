"""The ``netsim`` command (the only place that parses argv).

    netsim run [SCENARIO.toml] [--set KEY=VALUE ...] [--out DIR] [--quiet]
    netsim validate [SCENARIO.toml] [--set KEY=VALUE ...]
    netsim topo show [SCENARIO.toml] [--set KEY=VALUE ...] [--out layout.png]
    netsim attack RUN_DIR --piu K [K ...] --round R [--method idlg] [--position server|ap]
    netsim sweep SWEEP.toml [--out DIR] [--workers N | --ray-address local|auto|ADDR] [--quiet]
    netsim report RUN_DIR [RUN_DIR ...] [--out report.html]

Bad input (scenario file, override, output directory) prints one message naming the field,
the value and what is allowed, exits with status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from netsim.rundir import RunDirError

if TYPE_CHECKING:
    from netsim.analysis.run import RunData
    from netsim.scenario import Scenario
    from netsim.sim import Simulation

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netsim",
        description="Discrete-event simulation of federated learning over wireless networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "scenario", nargs="?", help="scenario TOML file (default: the bundled default scenario)"
        )
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a scenario field, e.g. --set protocol.deadline_s=1.5 (repeatable)",
        )

    run = sub.add_parser("run", help="run a scenario and write a run directory")
    scenario_args(run)
    run.add_argument(
        "--out", type=Path, help="run directory to create (default: runs/NAME-seedN-TIME)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    run.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="training-result cache shared across runs: local updates whose inputs match a "
        "stored one are reused exactly (what-if runs that change only timing, radio or energy)",
    )

    validate = sub.add_parser("validate", help="check a scenario and print it resolved (TOML)")
    scenario_args(validate)

    topo = sub.add_parser("topo", help="topology tools")
    topo_sub = topo.add_subparsers(dest="topo_command", required=True)
    show = topo_sub.add_parser("show", help="save a PNG of the layout (PIUs coloured by SNR)")
    scenario_args(show)
    show.add_argument("--out", type=Path, default=Path("layout.png"), help="PNG file to write")
    show.add_argument(
        "--run",
        type=Path,
        metavar="RUN_DIR",
        help="a finished run: its scenario, with the FL traffic each backhaul link carried",
    )

    attack = sub.add_parser(
        "attack",
        help="gradient-inversion attack on PIU uploads of a finished run (the run is replayed "
        "exactly up to the round; results go to RUN_DIR/attacks/)",
    )
    attack.add_argument("run_dir", type=Path, help="a run directory written by 'netsim run'")
    attack.add_argument("--piu", type=int, nargs="+", required=True, help="attacked PIU(s)")
    attack.add_argument("--round", type=int, required=True, help="the round of the uploads")
    attack.add_argument("--method", choices=("dlg", "idlg", "ig"), default="idlg")
    attack.add_argument("--position", choices=("server", "ap"), default="server")
    attack.add_argument("--ap", type=int, default=0, help="the eavesdropper's AP (--position ap)")
    attack.add_argument("--restarts", type=int, help="random restarts (default: scenario's)")
    attack.add_argument("--iterations", type=int, help="optimizer steps per restart")
    attack.add_argument("--time-budget", type=float, help="wall-clock seconds per restart")

    sweep = sub.add_parser(
        "sweep",
        help="run a grid or list of overrides over a base scenario, with seeds; resumes: "
        "complete run directories are not run again",
    )
    sweep.add_argument("sweep_file", type=Path, help="sweep TOML file (see netsim/sweep.py)")
    sweep.add_argument("--out", type=Path, help="sweep directory (default: runs/NAME)")
    sweep.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    sweep.add_argument(
        "--ray-address", help="run on Ray: 'local' starts one here, 'auto' joins a cluster"
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    report = sub.add_parser(
        "report", help="write a self-contained HTML report (tables, figures, scenarios) of runs"
    )
    report.add_argument("run_dirs", type=Path, nargs="+", help="run directories to compare")
    report.add_argument(
        "--out", type=Path, help="HTML file to write (default: report.html in the first run)"
    )
    return parser


RESUME_CACHE_BUDGET_BYTES = 1 << 30  # keep every update for resuming if that fits in 1 GiB


def main(argv: Sequence[str] | None = None) -> int:
    """``netsim``: run the command of ``argv`` (default: the command line); the exit status."""
    args = _parser().parse_args(argv)
    from netsim.rundir import check_out_dir
    from netsim.scenario import ScenarioError, load_scenario
    from netsim.sweep import SweepError

    try:
        if args.command == "attack":
            return _attack(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args)
        scenario = load_scenario(args.scenario, args.overrides)
        if args.command == "validate":
            from netsim.build import preflight

            preflight(scenario)
            sys.stdout.write(scenario.to_toml())
            return 0
        if args.command == "topo":
            if args.run is not None and (args.scenario is not None or args.overrides):
                raise RunDirError(
                    "topo show --run RUN_DIR draws the run's own scenario; pass no scenario "
                    "and no --set with it"
                )
            return _topo_show(scenario, args.out, args.run)
        out = args.out or Path("runs") / (
            f"{scenario.name}-seed{scenario.seed}-{datetime.now():%Y%m%d-%H%M%S}"
        )
        check_out_dir(out)
        if args.cache is not None and args.cache.exists() and not args.cache.is_dir():
            raise RunDirError(
                f"--cache '{args.cache}' is a file; expected a folder (new, or one an earlier "
                "run cached into)"
            )
        return _run(scenario, out, args, argv)
    except (ScenarioError, RunDirError, SweepError) as exc:
        print(f"netsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"netsim: {exc.strerror}; free some space and try again", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("netsim: interrupted before the run started; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _topo_show(scenario: Scenario, out: Path, run_dir: Path | None) -> int:
    from netsim.analysis.breakdown import link_loads
    from netsim.analysis.topology import layout_figure
    from netsim.sim import Simulation

    if out.suffix.lower() != ".png":
        raise RunDirError(f"--out '{out}': the layout is written as PNG; use a .png file name")
    if run_dir is None:
        fig = layout_figure(Simulation(scenario))
    else:
        run = _load_run(run_dir)
        end = float(run.events.t_s.max()) if len(run.events) else 0.0
        fig = layout_figure(Simulation(run.scenario), link_loads(run.events), end)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    fig.savefig(tmp, dpi=120, format="png")
    tmp.replace(out)  # atomic: never a half-written PNG
    print(f"layout written to {out}")
    return 0


def _run(
    scenario: Scenario, out: Path, args: argparse.Namespace, argv: Sequence[str] | None
) -> int:
    """Run with a progress bar; keep a resume cache in the staging directory when it fits."""
    import shutil

    from tqdm import tqdm

    from netsim.log import RoundRecord, global_rounds
    from netsim.rundir import prepare_run, unlock_staging
    from netsim.sim import Simulation

    bar = tqdm(
        total=scenario.protocol.rounds,
        unit="round",
        disable=args.quiet,
        file=sys.stderr,
        desc=scenario.name,
    )

    def on_round(record: RoundRecord) -> None:
        if record.tier != "global":  # an edge server's round (hierarchical FL)
            return
        bar.update(1)
        bar.set_postfix(t_sim=f"{record.t_end_s:.2f}s", acc=f"{record.test_accuracy:.3f}")

    sim = Simulation(scenario, on_round=on_round)  # validates everything before touching disk
    staging, resumed = prepare_run(out, scenario.to_toml())
    resumable = args.cache is None and sim.cache_bytes_upper_bound() <= RESUME_CACHE_BUDGET_BYTES
    if args.cache is not None:
        sim.enable_cache(args.cache)
    elif resumable:
        sim.enable_cache(staging / "cache")
    if resumed and not args.quiet:
        cached = len(sim.cache) if sim.cache is not None else 0
        print(
            f"netsim: resuming the interrupted run in {staging} ({cached} cached updates)",
            file=sys.stderr,
        )
    command = "netsim " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    try:  # a full disk while training (the cache) or writing the run directory
        try:
            result = sim.run()
        except KeyboardInterrupt:
            bar.close()
            if sim.cache is not None:
                print(
                    f"netsim: interrupted; {len(sim.cache)} trained updates are kept in "
                    f"{sim.cache.directory}; run the same command with --out {out} to resume",
                    file=sys.stderr,
                )
            else:
                shutil.rmtree(staging, ignore_errors=True)
                unlock_staging(staging)
                print(
                    "netsim: interrupted; nothing was written (pass --cache DIR to make such "
                    "a large run resumable)",
                    file=sys.stderr,
                )
            return EXIT_INTERRUPTED
        finally:
            bar.close()
        result.save(out, command=command)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return _disk_full(exc, sim, staging, out)
    if not args.quiet:
        rounds = global_rounds(result.rounds)
        print(f"run directory:     {out}")
        print(f"rounds:            {len(rounds)}")
        print(f"simulated time:    {result.sim_time_s:.3f} s")
        print(f"final accuracy:    {result.final_accuracy:.4f}")
        print(f"PIU energy:        {result.total_energy_j:.4f} J")
        print(f"uplink bits:       {rounds['uplink_bits'].sum():.6g}")
        print(
            f"updates trained:   {result.training_jobs_run} "
            f"({result.training_cache_hits} reused from the cache)"
        )
        print(f"wall time:         {result.wall_time_s:.1f} s")
        if result.attacks is not None and not result.attacks.rows.empty:
            rows = result.attacks.rows
            print(
                f"attacks:           {rows.image.nunique()} uploads, mean SSIM "
                f"{rows.ssim.mean():.3f}, labels right {rows.label_correct.mean():.0%} "
                f"({out / 'attacks'})"
            )
    return 0


def _disk_full(exc: OSError, sim: Simulation, staging: Path, out: Path) -> int:
    """Say which file did not fit and what is kept for resuming (the training cache)."""
    cache = sim.cache
    if cache is not None and cache.directory.is_dir() and len(cache):
        then = (
            f"{len(cache)} trained updates are kept in {cache.directory}: free some space and "
            f"run the same command (--out {out}) to resume"
        )
    else:
        import shutil

        from netsim.rundir import unlock_staging

        shutil.rmtree(staging, ignore_errors=True)  # nothing in it can be resumed
        unlock_staging(staging)
        then = "nothing was kept; free some space and run the command again"
    print(f"netsim: {exc.strerror}; {then}", file=sys.stderr)
    return EXIT_FAILED


def _sweep(args: argparse.Namespace) -> int:
    """Run the sweep's missing points with a progress bar; print the summary table."""
    from tqdm import tqdm

    from netsim.sweep import SweepError, load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    if args.workers < 1:
        raise SweepError(f"--workers {args.workers}: expected at least 1")
    out = args.out or Path("runs") / sweep.name
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}' is a file; expected a (new or earlier) sweep directory")
    bar = tqdm(
        total=len(sweep.runs), unit="run", disable=args.quiet, file=sys.stderr, desc=sweep.name
    )

    failed: list[dict] = []

    def done(row: dict) -> None:
        bar.update(1)
        if row["status"] != "ok":
            failed.append(row)
            bar.set_postfix(failed=len(failed))

    try:
        table = run_sweep(sweep, out, args.workers, args.ray_address, done)
    except KeyboardInterrupt:
        bar.close()
        print(
            f"netsim: interrupted; the finished runs are in {out}: run the same command "
            "again to run only the missing ones",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    if not args.quiet:
        ok = table[table.status == "ok"]
        print(f"sweep directory:   {out}")
        print(f"runs:              {len(table)} ({len(ok)} ok, {len(table) - len(ok)} failed)")
        for _, row in table[table.status != "ok"].iterrows():
            print(f"failed:            point {row.point} seed {row.seed}: {row.error}")
        print(f"tables:            {out / 'results.csv'}, {out / 'summary.csv'}")
    if (table.status != "ok").any():
        print(
            f"netsim: {int((table.status != 'ok').sum())} of {len(table)} runs failed "
            f"(see {out / 'results.csv'})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def _load_run(path: Path) -> RunData:
    """The run directory at ``path``; a :class:`RunDirError` naming it if it is not one."""
    from netsim.analysis.run import load_run

    try:
        return load_run(path)
    except FileNotFoundError as exc:
        raise RunDirError(f"{exc}; pass a folder written by 'netsim run'") from None


def _report(args: argparse.Namespace) -> int:
    """Load every run directory (a bad one is named), then write the report atomically."""
    from netsim.analysis.report import build_report

    runs = [_load_run(path) for path in args.run_dirs]
    out: Path = args.out or args.run_dirs[0] / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise RunDirError(f"--out '{out}': the report is HTML; use a .html file name")
    text = build_report(runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)  # atomic: never a half-written report
    print(f"report written to {out}")
    return 0


def _attack(args: argparse.Namespace) -> int:
    """Replay RUN_DIR's scenario up to the round with an attacker, check that the replay
    reproduces the stored event log up to there, attack, and add to RUN_DIR/attacks/."""
    import pandas as pd
    from tqdm import tqdm

    from netsim.build.topology import population
    from netsim.log import log_digest
    from netsim.privacy.attacker import Attacker, write_attacks
    from netsim.scenario import load_scenario
    from netsim.sim import Simulation

    run_dir: Path = args.run_dir
    if not (run_dir / "scenario.toml").is_file() or not (run_dir / "events.parquet").is_file():
        raise RunDirError(
            f"'{run_dir}' is not a run directory (no scenario.toml and events.parquet); "
            "pass a folder written by 'netsim run'"
        )
    stored_run = _load_run(run_dir)  # a damaged run is named now, not after the replay
    r = args.round
    rounds = len(stored_run.rounds)
    if not 0 <= r < rounds:
        raise RunDirError(f"--round {r}: the run has rounds 0 to {rounds - 1}")
    n_pius = population(stored_run.scenario.topology)[0]
    bad = [k for k in args.piu if not 0 <= k < n_pius]
    if bad:
        raise RunDirError(f"--piu {bad}: the run has PIUs 0 to {n_pius - 1}")
    overrides = [
        f'attack.method="{args.method}"',
        f'attack.position="{args.position}"',
        f"attack.ap={args.ap}",
        f"attack.pius={list(args.piu)}",
        f"attack.rounds=[{r}]",
        f"protocol.rounds={r + 1}",  # replay only up to the attacked round
    ]
    for key, value in (
        ("restarts", args.restarts),
        ("iterations", args.iterations),
        ("time_budget_s", args.time_budget),
    ):
        if value is not None:
            overrides.append(f"attack.{key}={value}")
    scenario = load_scenario(run_dir / "scenario.toml", overrides)
    bar = tqdm(total=r + 1, unit="round", file=sys.stderr, desc=f"replay to round {r}")
    sim = Simulation(scenario, on_round=lambda record: bar.update(1))
    attacking = tqdm(unit="upload", file=sys.stderr, desc=f"{args.method} attack", delay=0.1)

    def progress(done: int, total: int) -> None:
        bar.close()  # the replay is over when the attacks start
        attacking.total = total
        attacking.n = done
        attacking.refresh()

    assert isinstance(sim.attacker, Attacker)
    sim.attacker.on_progress = progress
    try:
        result = sim.run()  # the attacks run at the end of the (replayed) run
    finally:
        bar.close()
        attacking.close()
    stored = stored_run.events
    end = float(result.rounds["t_end_s"].iloc[-1])

    def upto(events: pd.DataFrame) -> pd.DataFrame:
        keep = (events["round"] <= r) & (events["t_s"] <= end)
        return events[keep].reset_index(drop=True)

    if log_digest(upto(stored)) != log_digest(upto(result.events)):
        raise RunDirError(
            f"replaying '{run_dir}' up to round {r} does not reproduce its event log "
            "(another netsim version or other data files?); nothing was attacked"
        )
    assert result.attacks is not None
    rows = result.attacks.rows
    if rows.empty:
        raise RunDirError(
            f"no upload of PIU(s) {list(args.piu)} in round {r} reached the {args.position} "
            "(not selected, lost, late, or served by another AP); nothing was attacked"
        )
    write_attacks(result.attacks, run_dir / "attacks")
    summary = rows.groupby(["piu", "round", "method", "position"])[
        ["ssim", "psnr_db", "mse", "label_correct"]
    ].mean()
    print(summary.round(4).to_string())
    print(f"written to {run_dir / 'attacks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
