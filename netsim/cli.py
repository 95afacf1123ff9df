"""The ``netsim`` command (the only place that parses argv).

    netsim run [SCENARIO.toml] [--set KEY=VALUE ...] [--out DIR] [--quiet]
    netsim validate [SCENARIO.toml] [--set KEY=VALUE ...]
    netsim topo show [SCENARIO.toml] [--set KEY=VALUE ...] [--out layout.png]
    netsim trace [SCENARIO.toml] [--set KEY=VALUE ...] --out maps.npz
    netsim attack RUN_DIR --piu K [K ...] --round R [--method idlg] [--position server|ap]
    netsim sweep SWEEP.toml [--out DIR] [--workers N | --ray-address local|auto|ADDR] [--quiet]
    netsim report RUN_DIR [RUN_DIR ...] [--out report.html]
    netsim list | init NAME [--from SCENARIO] | schema [--out FILE] | --version

Bad input (scenario file, override, output directory) prints one message naming the field,
the value and what is allowed, exits with status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import shlex
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsim._version import __version__
from netsim.progress import keep_alive, progress, stage, working  # the standard library only

# Only the standard library at import time: `netsim --help` and `--version` answer at once.
# torch, pandas, matplotlib and the simulator (seconds to import) are imported inside the
# command that needs them.
if TYPE_CHECKING:
    from netsim.analysis.run import RunData
    from netsim.log import RoundRecord
    from netsim.scenario import Scenario
    from netsim.sim import Simulation

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written (their line breaks kept), and an option's
    default after its help when it has one (as the generated reference page shows it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = default is not None and default is not False and default != []
        shown = shown and default is not argparse.SUPPRESS and bool(action.option_strings)
        if shown and "default" not in text:  # a help that says its default says it better
            text += " (default: %(default)s)"
        return text


def _examples(*lines: str) -> str:
    """An epilog of example commands, one per line (a comment after two spaces)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _sentence(text: str) -> str:
    """A command's one-line help as its --help description: capitalised, a full stop,
    wrapped to 88 columns (the description is printed as written, line breaks and all)."""
    return textwrap.fill(text[0].upper() + text[1:] + ".", width=88)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netsim",
        description="Discrete-event simulation of federated learning over wireless networks.",
        epilog=_examples(
            "netsim list                                  # the bundled scenarios and studies",
            "netsim run multi_ap --set protocol.deadline_s=0.6",
            "netsim report runs/multi_ap-seed1-*          # an HTML report of the run",
            "netsim COMMAND --help                        # each command's own options",
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"netsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, *examples: str) -> argparse.ArgumentParser:
        """A sub-command whose --help opens with ``text`` and ends with ``examples``."""
        return sub.add_parser(
            name,
            help=text,
            description=_sentence(text),
            epilog=_examples(*examples) if examples else None,
            formatter_class=_HelpFormatter,
        )

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "scenario",
            nargs="?",
            help="scenario TOML file, or the name of a bundled scenario (netsim list) "
            "(default: the bundled default scenario)",
        )
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a scenario field, the value read as TOML, e.g. --set "
            "protocol.deadline_s=1.5 or --set 'radio.access=\"fdma\"' (repeatable)",
        )

    run = command(
        "run",
        "run a scenario and write a run directory",
        "netsim run                                   # the bundled default scenario",
        "netsim run multi_ap --set protocol.deadline_s=0.6",
        "netsim run my.toml --set protocol.rounds=5 --out runs/try",
        "netsim run --set 'compression={method = \"topk\", ratio = 0.1}' --quiet",
    )
    scenario_args(run)
    run.add_argument(
        "--out", type=Path, help="run directory to create (default: runs/NAME-seedN-TIME)"
    )
    run.add_argument(
        "--quiet", action="store_true", help="no progress and no summary (warnings are printed)"
    )
    run.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="training-result cache shared across runs: local updates whose inputs match a "
        "stored one are reused exactly (what-if runs that change only timing, radio or energy)",
    )

    validate = command(
        "validate",
        "check a scenario and print it resolved (TOML): its values, files and data, and the "
        "network built from it (link budgets: every PIU reachable, NR links at the lowest "
        "MCS), without running it",
        "netsim validate multi_ap --set radio.access=fdma",
        "netsim validate my.toml > resolved.toml",
    )
    scenario_args(validate)
    schema = command(
        "schema",
        "print the scenario format as JSON Schema (for editors: a scenario's first line "
        "'#:schema PATH' points Taplo / Even Better TOML at it)",
        "netsim schema --out scenario.schema.json",
    )
    schema.add_argument("--out", type=Path, help="write it to this file instead")
    command(
        "list",
        "the bundled scenarios and sweep studies, each with its description",
        "netsim list",
    )
    init = command(
        "init",
        "write a commented scenario file to start from (NAME.toml, and the JSON Schema "
        "beside it for editors)",
        "netsim init mynet --from multi_ap            # then: netsim run mynet.toml",
    )
    init.add_argument(
        "name", help="the new file (NAME or path/NAME.toml); also the scenario's name"
    )
    init.add_argument(
        "--from",
        dest="source",
        metavar="SCENARIO",
        help="a bundled scenario's name or a scenario file to copy (default: default)",
    )

    topo = command("topo", "topology tools")
    topo_sub = topo.add_subparsers(dest="topo_command", required=True, metavar="TOOL")
    show = topo_sub.add_parser(
        "show",
        help="save a PNG of the layout (PIUs coloured by SNR)",
        description=_sentence("save a PNG of the layout: APs, backhaul and PIUs coloured by SNR"),
        epilog=_examples(
            "netsim topo show cellfree --out layout.png",
            "netsim topo show --run runs/h --out loads.png  # with the FL traffic per link",
        ),
        formatter_class=_HelpFormatter,
    )
    scenario_args(show)
    show.add_argument("--out", type=Path, default=Path("layout.png"), help="PNG file to write")
    show.add_argument(
        "--run",
        type=Path,
        metavar="RUN_DIR",
        help="a finished run: its scenario, with the FL traffic each backhaul link carried",
    )

    dataset = command("dataset", "data sets generated by the simulator")
    dataset_sub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="KIND")
    radio_help = (
        "what each PIU measures along its path (received power from every AP, LOS "
        "states, uplink SNR, true position; learning.radio_data), from the scenario's radio"
    )
    radio = dataset_sub.add_parser(
        "radio",
        help=radio_help,
        description=_sentence(radio_help),
        epilog=_examples("netsim dataset radio agv_localization --out radio.parquet"),
        formatter_class=_HelpFormatter,
    )
    scenario_args(radio)
    radio.add_argument("--out", type=Path, required=True, help="file to write: .parquet or .csv")

    trace = command(
        "trace",
        "ray-trace a scenario's radio maps (radio.pathloss.model = 'raytraced') into a file "
        "that radio.pathloss.maps reads back: the same bits on every machine, no LLVM needed",
        "netsim trace factory.toml --out factory.maps.npz",
    )
    scenario_args(trace)
    trace.add_argument("--out", type=Path, required=True, help="file to write: .npz")

    attack = command(
        "attack",
        "gradient-inversion attack on PIU uploads of a finished run (the run is replayed "
        "exactly up to the round; results go to RUN_DIR/attacks/)",
        "netsim attack runs/x --piu 3 --round 5",
        "netsim attack runs/x --piu 0 1 --round 2 --method ig --restarts 1",
        "netsim attack runs/x --piu 4 --round 0 --position ap --ap 1",
    )
    attack.add_argument("run_dir", type=Path, help="a run directory written by 'netsim run'")
    attack.add_argument("--piu", type=int, nargs="+", required=True, help="attacked PIU(s)")
    attack.add_argument("--round", type=int, required=True, help="the round of the uploads")
    attack.add_argument(
        "--method",
        choices=("dlg", "idlg", "ig"),
        default="idlg",
        help="how an upload is inverted: dummy samples are optimised until the update they "
        "would give matches the captured one. dlg: Deep Leakage from Gradients (Zhu et al. "
        "2019), samples and soft labels by L-BFGS; idlg: DLG with the labels read off the "
        "update's last layer first (Zhao et al. 2020), L-BFGS on the samples only; ig: "
        "Inverting Gradients (Geiping et al. 2020), cosine distance plus a total-variation "
        "prior, Adam, labels as idlg",
    )
    attack.add_argument(
        "--position",
        choices=("server", "ap"),
        default="server",
        help="where the attacker listens. server: an honest-but-curious server, which sees "
        "every update it decodes; ap: an eavesdropper at one access point (--ap), which sees "
        "the uplinks reaching that AP (over-the-air rounds: only their sum)",
    )
    attack.add_argument("--ap", type=int, default=0, help="the eavesdropper's AP (--position ap)")
    attack.add_argument(
        "--restarts",
        type=int,
        help="random restarts per upload; the best match is kept (default: the scenario's "
        "attack.restarts)",
    )
    attack.add_argument(
        "--iterations",
        type=int,
        help="optimizer steps per restart (default: the scenario's attack.iterations)",
    )
    attack.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit per restart, s (default: the scenario's attack.time_budget_s)",
    )

    sweep = command(
        "sweep",
        "run a grid or list of overrides over a base scenario, with seeds; resumes: "
        "complete run directories are not run again",
        "netsim sweep study.toml --workers 4",
        "netsim sweep study.toml --out runs/study     # again: runs only the missing points",
    )
    sweep.epilog = (sweep.epilog or "") + (
        "\n\na sweep file (TOML):\n"
        '  base = "multi_ap"                 # a scenario file or a bundled scenario\n'
        "  seeds = [1, 2]                    # each point runs once per seed\n"
        "  [fixed]                           # overrides of every point\n"
        '  "protocol.rounds" = 10\n'
        "  [grid]                            # every combination of these values\n"
        '  "protocol.deadline_s" = [0.6, 0.9, 1.5]\n'
        "\nresults: OUT/results.csv, one row per run; OUT/summary.csv, per point the mean\n"
        "and the 95 % confidence half-width over the seeds (guide: Sweeps)"
    )
    sweep.add_argument(
        "sweep_file",
        type=Path,
        help="sweep TOML file: base (a scenario), seeds, [fixed] overrides, a [grid] of "
        "values and/or [[points]], lists of overrides (example below)",
    )
    sweep.add_argument("--out", type=Path, help="sweep directory (default: runs/NAME)")
    sweep.add_argument("--workers", type=int, default=1, help="local processes")
    sweep.add_argument(
        "--ray-address", help="run on Ray: 'local' starts one here, 'auto' joins a cluster"
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress and no summary")

    report = command(
        "report",
        "write a self-contained HTML report (tables, figures, scenarios) of runs",
        "netsim report runs/x                          # runs/x/report.html",
        "netsim report runs/a runs/b --out compare.html",
    )
    report.add_argument("run_dirs", type=Path, nargs="+", help="run directories to compare")
    report.add_argument(
        "--static",
        action="store_true",
        help="every figure a PNG (default: the timelines and latency CDFs interactive where "
        "plotly, the 'report' extra, is installed)",
    )
    report.add_argument(
        "--out", type=Path, help="HTML file to write (default: report.html in the first run)"
    )
    return parser


RESUME_CACHE_BUDGET_BYTES = 1 << 30  # keep every update for resuming if that fits in 1 GiB


def main(argv: Sequence[str] | None = None) -> int:
    """``netsim``: run the command of ``argv`` (default: the command line); the exit status."""
    began = time.perf_counter()  # the command's wall time (printed, never in the event log)
    args = _parser().parse_args(argv)
    from netsim.learn.cluster import RayUnavailable
    from netsim.rundir import RunDirError, check_can_create, check_out_dir
    from netsim.scenario import ScenarioError, load_scenario
    from netsim.sweep import SweepError

    try:
        if args.command == "schema":
            return _schema(args.out)
        if args.command == "list":
            return _list()
        if args.command == "init":
            return _init(args.name, args.source)
        if args.command == "attack":
            return _attack(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args)
        scenario = load_scenario(args.scenario, args.overrides)
        if args.command == "validate":  # everything the run would refuse before it starts
            from netsim.assembly import build_world

            build_world(scenario)
            sys.stdout.write(scenario.to_toml())
            return 0
        if args.command == "dataset":
            return _radio_dataset(scenario, args.out)
        if args.command == "trace":
            return _trace(scenario, args.out)
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
        if args.cache is not None and os.path.lexists(args.cache) and not args.cache.is_dir():
            raise RunDirError(
                f"--cache '{args.cache}' is a file; expected a folder (new, or one an earlier "
                "run cached into)"
            )
        if args.cache is not None:
            check_can_create(args.cache, "--cache")
        return _run(scenario, out, args, argv, began)
    except (ScenarioError, RunDirError, SweepError, RayUnavailable) as exc:
        print(f"netsim: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a path given on the command line, not checked
            print(f"netsim: '{exc.filename}': {exc.strerror}; use a shorter name", file=sys.stderr)
            return EXIT_BAD_INPUT
        if exc.errno != errno.ENOSPC:
            raise
        print(f"netsim: {exc.strerror}; free some space and try again", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("netsim: interrupted before the run started; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _list() -> int:
    """Each bundled scenario and study with its whole description, wrapped to the terminal
    (or 100 columns when the output is not one) and indented under the name."""
    import shutil

    from netsim.scenario.loading import default_scenario_path
    from netsim.scenario.starters import catalogue, description

    width = max(60, shutil.get_terminal_size((100, 24)).columns - 1)
    indent = " " * 23

    def wrapped(first: str, path: Path) -> str:
        text = description(path, width=sys.maxsize)  # whole: catalogue() cuts at 88 columns
        return textwrap.fill(
            text,
            width,
            initial_indent=first,
            subsequent_indent=indent,
            break_long_words=False,  # file names and field paths stay whole
            break_on_hyphens=False,
        )

    found = catalogue()
    folder = default_scenario_path().parent
    print("scenarios (netsim run NAME, netsim init MINE --from NAME):")
    for name, _ in found["scenarios"]:
        print(wrapped(f"  {name:20} ", folder / f"{name}.toml"))
    print("studies (netsim sweep NAME; each file is in the folder below):")
    for path, _ in found["studies"]:
        print(wrapped(f"  {Path(path).stem:20} ", Path(path)))
    if found["studies"]:
        print(f"  ({Path(found['studies'][0][0]).parent})")
    return 0


INIT_NAME_MAX = 100  # a scenario's name is part of its runs' folder names (runs/NAME-seedN-TIME)


def _check_init_name(name: str) -> None:
    """Refuse (naming NAME) an ``init`` argument that is no file name to write: empty, a
    folder (ends with a separator, '.' or '..'), a name too long for the runs' folder names,
    or a folder part with a name longer than the filesystem allows."""
    from netsim.scenario import ScenarioError

    allowed = "expected NAME (letters, digits, '_', '-', '.') or path/NAME.toml"
    seps = tuple({"/", os.sep, os.altsep or "/"})
    stem = name
    for sep in seps:
        stem = stem.rsplit(sep, 1)[-1]
    stem = stem.removesuffix(".toml")
    shown = name if len(name) <= 60 else name[:57] + "..."
    if not name.strip():
        raise ScenarioError(f"init NAME '{name}': the name is empty; {allowed}")
    if name.endswith(seps) or stem in ("", ".", ".."):
        raise ScenarioError(f"init NAME '{shown}' names a folder, not a file; {allowed}")
    if len(stem) > INIT_NAME_MAX:
        raise ScenarioError(
            f"init NAME '{shown}': the name is {len(stem)} characters, at most "
            f"{INIT_NAME_MAX} (it becomes the scenario's name and its runs' folder names)"
        )
    for part in Path(name).parts[:-1]:
        if len(os.fsencode(part)) > 255:
            raise ScenarioError(
                f"init NAME '{shown}': a folder name is longer than 255 bytes "
                f"({os.strerror(errno.ENAMETOOLONG)})"
            )


def _init(name: str, source: str | None) -> int:
    from netsim.scenario.starters import write_starter

    _check_init_name(name)
    out = write_starter(name, source)
    print(f"wrote {out}; run it with: netsim run {out}")
    return 0


def _schema(out: Path | None) -> int:
    from netsim.rundir import RunDirError
    from netsim.scenario.json_schema import schema_text

    if out is None:
        sys.stdout.write(schema_text())
        return 0
    if os.path.isdir(out):
        raise RunDirError(
            f"--out '{out}' is a folder; expected a file name, e.g. scenario.schema.json"
        )
    tmp = _check_out_file(out)
    out.parent.mkdir(parents=True, exist_ok=True)  # a folder that is not there yet: made
    tmp.write_text(schema_text(), encoding="utf-8")
    tmp.replace(out)  # atomic: never a half-written schema
    return 0


def _check_out_file(out: Path) -> Path:
    """Refuse an ``--out`` file that could not be written (its folder is a file or cannot
    be created or written, a name too long: :func:`netsim.rundir.check_can_create`) before
    anything is computed or created; return the hidden ``.NAME.partial`` sibling it is
    written to first (then renamed into place, so a half-written file is never left)."""
    from netsim.rundir import RunDirError, check_can_create

    if os.path.isdir(out):
        raise RunDirError(f"--out '{out}' is a folder; expected a file name")
    tmp = out.with_name(f".{out.name}.partial")
    check_can_create(out, "--out", via=tmp)
    return tmp


def _topo_show(scenario: Scenario, out: Path, run_dir: Path | None) -> int:
    from netsim.analysis.breakdown import link_loads
    from netsim.analysis.topology import layout_figure
    from netsim.rundir import RunDirError
    from netsim.sim import Simulation

    if out.suffix.lower() != ".png":
        raise RunDirError(f"--out '{out}': the layout is written as PNG; use a .png file name")
    tmp = _check_out_file(out)  # before the layout is computed, nothing created
    if run_dir is None:
        fig = layout_figure(Simulation(scenario))
    else:
        run = _load_run(run_dir)
        end = float(run.events.t_s.max()) if len(run.events) else 0.0
        fig = layout_figure(Simulation(run.scenario), link_loads(run.events), end)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(tmp, dpi=120, format="png")
    tmp.replace(out)  # atomic: never a half-written PNG
    print(f"layout written to {out}")
    return 0


def _trace(scenario: Scenario, out: Path) -> int:
    from netsim.assembly.radio import scenario_maps
    from netsim.rundir import RunDirError

    if out.suffix.lower() != ".npz":
        raise RunDirError(f"--out '{out}': the maps are written as .npz; use a .npz file name")
    _check_out_file(out)  # before tracing, nothing created
    maps = scenario_maps(scenario)
    maps.save(out)  # atomic: never a half-written file
    n_aps, rows, cols = maps.gain.shape
    print(
        f"{n_aps} maps of {rows} x {cols} cells of {maps.cell_m:g} m written to {out} "
        f'(geometry {maps.geometry}); radio.pathloss.maps = "{out}" reads them back'
    )
    return 0


def _radio_dataset(scenario: Scenario, out: Path) -> int:
    from netsim.assembly.radio_data import radio_dataset
    from netsim.rundir import RunDirError

    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise RunDirError(f"--out '{out}': write the data set as .parquet or .csv")
    tmp = _check_out_file(out)  # before the data set is computed, nothing created
    data = radio_dataset(scenario)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        data.to_parquet(tmp, index=False)
    else:
        data.to_csv(tmp, index=False)
    tmp.replace(out)  # atomic: never a half-written file
    aps = sum(c.startswith("rss_dbm_") for c in data.columns)
    test = float((data.split == "test").mean())
    print(
        f"{len(data)} samples of {data.piu.nunique()} PIUs from {aps} APs "
        f"({test:.0%} test, {scenario.learning.radio_data.split} split) written to {out}"
    )
    return 0


def _run(
    scenario: Scenario,
    out: Path,
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    began: float,
) -> int:
    """Run with a progress bar; keep a resume cache in the staging directory when it fits.
    ``began``: ``time.perf_counter()`` when the command started (its wall time is printed
    from there: loading, build, simulation and writing)."""
    import shutil

    from netsim.learn.cluster import RayUnavailable
    from netsim.log import global_rounds
    from netsim.rundir import prepare_run, unlock_staging
    from netsim.sim import Simulation

    def on_round(record: RoundRecord) -> None:
        if record.tier != "global":  # an edge server's round (hierarchical FL)
            return
        bar.set_postfix(t_sim=f"{record.t_end_s:.2f}s", **_round_score(record))
        bar.update(1)

    if not args.quiet:  # the build can take longer than the run (data sets, radio maps)
        stage(f"building {scenario.name} (network, radio, data, model)")
    sim = Simulation(scenario, on_round=on_round)  # validates everything before touching disk
    built = time.perf_counter()
    if scenario.learning.backend == "ray":  # an address that does not answer: refused now
        from netsim.learn.cluster import check_ray

        check_ray(scenario.learning.ray_address, "learning.ray_address")
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
    bar = progress(scenario.protocol.rounds, "round", scenario.name, args.quiet)  # last:
    # on a terminal it is drawn at once, and nothing may fail between it and the run
    try:  # a full disk while training (the cache) or writing the run directory
        try:
            result = sim.run()
        except RayUnavailable:  # ray.init failed (e.g. another Ray version): nothing ran
            if not resumed:
                shutil.rmtree(staging, ignore_errors=True)
                unlock_staging(staging)
            raise
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
        saving = time.perf_counter()
        result.save(out, command=command)
        saved = time.perf_counter()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return _disk_full(exc, sim, staging, out)
    if not args.quiet:
        rounds = global_rounds(result.rounds)
        print(f"run directory:     {out}")
        print(f"rounds:            {len(rounds)}")
        print(f"simulated time:    {result.sim_time_s:.3f} s")
        print(_final_metric_line(result.final_metric))
        print(f"PIU energy:        {result.total_energy_j:.4f} J")
        print(f"uplink:            {rounds['uplink_bits'].sum() / 1e6:.1f} Mbit")
        print(
            f"updates trained:   {result.training_jobs_run} "
            f"({result.training_cache_hits} reused from the cache)"
        )
        # the command's own wall time (what the user waited), and where it went
        print(
            f"wall time:         {saved - began:.1f} s (load and build {built - began:.1f} s, "
            f"simulation {result.wall_time_s:.1f} s, writing {saved - saving:.1f} s)"
        )
        if result.attacks is not None and not result.attacks.rows.empty:
            rows = result.attacks.rows
            print(
                f"attacks:           {rows.image.nunique()} uploads, mean SSIM "
                f"{rows.ssim.mean():.3f}, labels right {rows.label_correct.mean():.0%} "
                f"({out / 'attacks'})"
            )
    for warning in result.warnings():  # a result, not an error: the exit status stays 0
        _warn(warning)
    return 0


def _round_score(record: RoundRecord) -> dict[str, str]:
    """The progress bar's score of a round's model: accuracy, or the localization error."""
    if not math.isnan(record.test_median_error_m):  # localization
        return {"err": f"{record.test_median_error_m:.2f}m"}
    if math.isnan(record.test_accuracy):  # a regression task
        return {"loss": f"{record.test_loss:.4g}"}
    return {"acc": f"{record.test_accuracy:.3f}"}


def _final_metric_line(metric: tuple[str, float, str]) -> str:
    """The summary's line of the final model's score (:attr:`SimulationResult.final_metric`)."""
    what, value, unit = metric
    if what == "accuracy":
        return f"final accuracy:    {value:.4f}"
    if unit:
        return f"final error:       {value:.2f} {unit} ({what})"
    return f"final test loss:   {value:.4g} ({what})"


def _warn(text: str) -> None:
    """A warning on stderr, wrapped to the terminal (or 100 columns)."""
    import shutil

    width = max(60, shutil.get_terminal_size((100, 24)).columns - 1)
    print(
        textwrap.fill(f"netsim: warning: {text}", width, subsequent_indent="  "),
        file=sys.stderr,
        flush=True,
    )


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
    from netsim.learn.cluster import check_ray
    from netsim.rundir import RunDirError, check_can_create
    from netsim.sweep import SweepError, load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    if args.workers < 1:
        raise SweepError(f"--workers {args.workers}: expected at least 1")
    out = args.out or Path("runs") / sweep.name
    if os.path.lexists(out) and not out.is_dir():
        raise RunDirError(f"--out '{out}' is a file; expected a (new or earlier) sweep directory")
    check_can_create(out, "--out")  # all checked before anything is created
    if args.ray_address is not None:
        check_ray(args.ray_address, "--ray-address")
    bar = progress(len(sweep.runs), "run", sweep.name, args.quiet)

    failed: list[dict] = []

    def done(row: dict) -> None:
        if row["status"] != "ok":
            failed.append(row)
            bar.set_postfix(failed=len(failed))
        bar.update(1)  # after the postfix: a printed line carries the count of failures

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
    from netsim.rundir import RunDirError

    try:
        return load_run(path)
    except FileNotFoundError as exc:
        raise RunDirError(f"{exc}; pass a folder written by 'netsim run'") from None


def _report(args: argparse.Namespace) -> int:
    """Load every run directory (a bad one is named), then write the report atomically."""
    from netsim.analysis.report import build_report
    from netsim.rundir import RunDirError

    if args.out is not None:  # a --out that cannot be written is named before any loading
        _check_out_file(args.out)
    loading = progress(len(args.run_dirs), "run", "netsim: loading runs")
    runs = []
    try:
        for path in args.run_dirs:
            runs.append(_load_run(path))
            loading.update(1)
    finally:
        loading.close()
    out: Path = args.out or args.run_dirs[0] / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise RunDirError(f"--out '{out}': the report is HTML; use a .html file name")
    tmp = _check_out_file(out)  # before the report is built, nothing created
    many = f"{len(runs)} run" + "s" * (len(runs) != 1)
    with working(f"drawing the report's figures ({many})"):  # most of its time
        text = build_report(runs, interactive=False if args.static else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)  # atomic: never a half-written report
    print(f"report written to {out}")
    return 0


def _attack(args: argparse.Namespace) -> int:
    """Replay RUN_DIR's scenario up to the round with an attacker, check that the replay
    reproduces the stored event log up to there, attack, and add to RUN_DIR/attacks/
    (:class:`netsim.privacy.replay.AttackReplay`, with progress bars)."""
    from netsim.privacy.replay import AttackReplay

    replay = AttackReplay(
        args.run_dir,
        args.piu,
        args.round,
        method=args.method,
        position=args.position,
        ap=args.ap,
        restarts=args.restarts,
        iterations=args.iterations,
        time_budget_s=args.time_budget,
    )
    r = args.round
    stage(f"replaying {args.run_dir} up to round {r} to capture the uploads")
    rounds: Any = None  # the replay's progress bar, once it is built
    attacking: Any = None
    alive = contextlib.ExitStack()  # the heartbeat of the attacks, once they start

    def built() -> None:
        nonlocal rounds
        rounds = progress(r + 1, "round", f"replay to round {r}")

    def attacked(done: int, total: int) -> None:
        nonlocal attacking
        if attacking is None:  # the replay is over when the attacks start
            rounds.close()
            cfg = replay.scenario.attack
            stage(
                f"{args.method} attack on {total} upload(s): {cfg.restarts} restarts of up to "
                f"{cfg.iterations} steps each, at most {cfg.time_budget_s:g} s per restart"
            )
            attacking = progress(total, "upload", f"{args.method} attack")
            alive.enter_context(keep_alive(attacking))  # one upload can take minutes
        attacking.n = done
        attacking.refresh()

    try:
        done = replay.run(
            on_built=built, on_round=lambda record: rounds.update(1), on_attack=attacked
        )
    finally:
        alive.close()
        if rounds is not None:
            rounds.close()
        if attacking is not None:
            attacking.close()
    folder = done.write()
    print(done.summary().round(4).to_string())
    print(f"written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
