"""netsim sweep: grids x seeds, resume, failed points, the tables, process pool = in-process."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from scipy import stats

from netsim.cli import main
from netsim.sweep import SweepError, load_sweep, run_sweep
from tests.conftest import TINY
from tests.procs import (
    alive,
    cmdline,
    descendants,
    ignores_sigint,
    interrupt_group,
    terminal_process,
    wait_until,
)  # fmt: skip


def _files(tmp_path, **sweep):
    (tmp_path / "tiny.toml").write_text(tomli_w.dumps(TINY))
    spec = {
        "name": "grid",
        "base": "tiny.toml",
        "seeds": [1, 2],
        "grid": {"protocol.rounds": [1, 2], "radio.bandwidth_hz": [1e6, 2e6]},
        **sweep,
    }
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps(spec))
    return path


def test_a_2x2_grid_with_2_seeds_is_8_runs_and_an_8_row_table(tmp_path):
    sweep = load_sweep(_files(tmp_path))
    assert len(sweep.runs) == 8 and sweep.varied == ["protocol.rounds", "radio.bandwidth_hz"]
    table = run_sweep(sweep, tmp_path / "out")
    assert len(table) == 8 and (table.status == "ok").all()
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("p")) == [
        f"p{i:03d}-seed{s}" for i in range(4) for s in (1, 2)
    ]
    assert table["rounds"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2]  # the grid's values took
    on_disk = pd.read_csv(tmp_path / "out" / "results.csv")
    assert on_disk.final_accuracy.tolist() == pytest.approx(table.final_accuracy.tolist())
    # summary: per point the mean and the t-based 95 % half-width over the 2 seeds
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 4 and (summary.n == 2).all()
    first = table[table.point == 0].sim_time_s
    half = stats.t.ppf(0.975, 1) * first.std(ddof=1) / math.sqrt(2)
    assert summary.sim_time_s_mean[0] == pytest.approx(first.mean())
    assert summary.sim_time_s_ci95[0] == pytest.approx(half)


def test_an_interrupted_sweep_resumes_with_only_the_missing_runs(tmp_path):
    sweep = load_sweep(_files(tmp_path))
    finished = []

    def stop_after_three(row):
        finished.append(row)
        if len(finished) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, tmp_path / "out", on_done=stop_after_three)
    runs = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("p")]
    assert len(runs) == 3
    mtimes = {p.name: (p / "manifest.json").stat().st_mtime_ns for p in runs}
    ran = []
    table = run_sweep(sweep, tmp_path / "out", on_done=ran.append)
    assert len(table) == 8 and (table.status == "ok").all()
    fresh = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("p")]
    rerun = [
        p.name for p in fresh if mtimes.get(p.name) != (p / "manifest.json").stat().st_mtime_ns
    ]
    assert len(rerun) == 5 and not set(rerun) & set(mtimes)  # the first 3 were not run again


def test_a_point_with_an_invalid_override_is_recorded_and_the_others_complete(tmp_path):
    path = _files(tmp_path, grid={}, points=[{"protocol.rounds": 1}, {"radio.bandwidth_hz": -5.0}])
    table = run_sweep(load_sweep(path), tmp_path / "out")
    assert table.status.tolist() == ["ok", "ok", "failed", "failed"]
    assert table.error[2].count("radio.bandwidth_hz") >= 1 and "-5.0" in table.error[2]
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == 1  # only the good point


def _assert_same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal tables but for wall time and where the runs were written."""
    keep = [c for c in a.columns if c not in ("wall_time_s", "run_dir")]
    pd.testing.assert_frame_equal(a[keep], b[keep])


def test_a_process_pool_gives_the_same_table(tmp_path):
    sweep = load_sweep(_files(tmp_path, seeds=[3], grid={"protocol.rounds": [1, 2]}))
    alone = run_sweep(sweep, tmp_path / "one")
    pooled = run_sweep(sweep, tmp_path / "two", workers=2)
    _assert_same_results(alone, pooled)


def test_the_cli_runs_a_sweep_and_names_bad_sweep_files(tmp_path, capsys):
    path = _files(tmp_path, seeds=[1], grid={"protocol.rounds": [1]})
    assert main(["sweep", str(path), "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    assert (tmp_path / "cli" / "p000-seed1" / "events.parquet").is_file()
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "x"\nseeds = [-1]\n[grid]\n"a.b" = [1]\n')
    assert main(["sweep", str(bad)]) == 2
    assert "seeds = [-1]" in capsys.readouterr().err
    with pytest.raises(SweepError, match="nothing to run"):
        bad.write_text("seeds = [1]\n")
        load_sweep(bad)


def test_ray_gives_the_same_table_as_local(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'netsim[ray]')")
    sweep = load_sweep(_files(tmp_path, seeds=[3], grid={"protocol.rounds": [1, 2]}))
    local = run_sweep(sweep, tmp_path / "local")
    try:
        remote = run_sweep(sweep, tmp_path / "ray", ray_address="local")
    except Exception as exc:  # noqa: BLE001 - e.g. no shared memory in a container
        if ray.is_initialized():
            ray.shutdown()
        pytest.skip(f"Ray could not start here: {type(exc).__name__}: {exc}")
    _assert_same_results(local, remote)


def test_fixed_overrides_and_table_values_reach_every_point(tmp_path):
    slow = {"dist": "constant", "factor": 2.0}
    path = _files(
        tmp_path,
        seeds=[1],
        fixed={"protocol.rounds": 1},
        grid={"device.straggler": [{"dist": "none"}, slow]},
    )
    sweep = load_sweep(path)
    assert sweep.varied == ["device.straggler"]  # fixed fields are not "varied"
    table = run_sweep(sweep, tmp_path / "out")
    assert (table.status == "ok").all() and table["rounds"].tolist() == [1, 1]
    events = [pd.read_parquet(f"{d}/events.parquet") for d in table.run_dir]
    trained = [e[e.event == "train_start"].duration_s.iloc[0] for e in events]
    assert trained[1] == pytest.approx(2 * trained[0])  # the inline table took


@pytest.mark.parametrize("study", ["deadline_tail", "cellfree_aps"])
def test_the_bundled_studies_are_valid_sweeps(study):
    from pathlib import Path

    from netsim.scenario import load_scenario

    path = Path(__file__).resolve().parents[1] / "topologies" / "studies" / f"{study}.toml"
    sweep = load_sweep(path)
    assert len(sweep.runs) >= 6
    for point in sweep.runs:
        load_scenario(sweep.base, point.override_strings())  # raises if a point is invalid


def test_a_changed_sweep_does_not_reuse_runs_of_other_scenarios(tmp_path):
    path = _files(tmp_path, seeds=[1], grid={"protocol.rounds": [1]})
    run_sweep(load_sweep(path), tmp_path / "out")
    changed = _files(tmp_path, seeds=[1], grid={"protocol.rounds": [2]})  # same run names
    table = run_sweep(load_sweep(changed), tmp_path / "out")
    assert table.status.tolist() == ["failed"]
    assert "holds a run of another scenario" in table.error[0]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"grid": {"protocol.roudns": [1, 2]}}, "protocol.roudns: unknown field"),
        ({"base": "no_such_scenario"}, "base = 'no_such_scenario'"),
        ({"grid": {"radio.bandwidth_hz": [-1.0, -2.0]}}, "every point is invalid"),
    ],
)
def test_a_sweep_that_cannot_run_is_refused_before_the_first_run(tmp_path, capsys, change, needle):
    path = _files(tmp_path, **change)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_a_sweep_with_a_failed_point_exits_non_zero_with_the_table(tmp_path, capsys):
    bad = {"protocol.deadline_s": -1.0}
    path = _files(tmp_path, grid={}, seeds=[1], points=[{"protocol.rounds": 1}, bad])
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 1
    assert "1 of 2 runs failed" in capsys.readouterr().err
    assert pd.read_csv(out / "results.csv").status.tolist() == ["ok", "failed"]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_sweep_checks_ray_and_its_out_before_creating_anything(tmp_path, monkeypatch, capsys):
    path = _files(tmp_path, seeds=[1], grid={"protocol.rounds": [1]})
    out = tmp_path / "runs" / "x"
    before = _tree(tmp_path)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ray", None)  # Ray not installed
        assert main(["sweep", str(path), "--out", str(out), "--ray-address", "local"]) == 2
    assert "--ray-address 'local' needs Ray, which is not installed" in capsys.readouterr().err
    assert main(["sweep", str(path), "--out", str(out), "--ray-address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--ray-address '127.0.0.1:1': nothing answers at 127.0.0.1:1" in err, err
    assert main(["sweep", str(path), "--out", "/proc/netsim-sweep"]) == 2
    assert "--out '/proc/netsim-sweep' cannot be created" in capsys.readouterr().err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("name", ["../../escape", "a/b", "a\\b", ".", "..", "", "x" * 101, 3])
def test_a_sweep_name_must_be_a_plain_folder_name(tmp_path, monkeypatch, capsys, name):
    path = _files(tmp_path, name=name, seeds=[1], grid={"protocol.rounds": [1]})
    with pytest.raises(SweepError, match=r"name = .*: expected a plain folder name"):
        load_sweep(path)
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    before = _tree(tmp_path)
    assert main(["sweep", str(path), "--quiet"]) == 2  # the default out is runs/NAME
    assert f"sweep file '{path}': name = " in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_a_bundled_study_is_found_by_its_name(tmp_path, capsys):
    studies = Path(__file__).resolve().parents[1] / "topologies" / "studies"
    named = load_sweep("deadline_tail")
    assert named.runs == load_sweep(studies / "deadline_tail.toml").runs
    assert load_sweep("deadline_tail.toml").name == named.name
    # the CLI resolves it too: it gets as far as the (refused) Ray address
    out = tmp_path / "out"
    assert main(["sweep", "deadline_tail", "--out", str(out), "--ray-address", "127.0.0.1:1"]) == 2
    assert "nothing answers at 127.0.0.1:1" in capsys.readouterr().err
    assert main(["sweep", "no_such_study"]) == 2
    err = capsys.readouterr().err
    assert "sweep file 'no_such_study' does not exist (bundled studies: " in err
    assert "deadline_tail" in err and "cellfree_aps" in err
    assert not out.exists()


def _sweep_process(path: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """`netsim sweep PATH --out OUT --workers 2 EXTRA` in a process group of its own (a
    terminal's Ctrl-C reaches the whole group), stderr captured."""
    return terminal_process(
        [sys.executable, "-m", "netsim.cli", "sweep", str(path), "--out", str(out),
         "--workers", "2", *extra]
    )  # fmt: skip


def _ready_workers(parent: int) -> list[int]:
    """The sweep's pool workers (spawned children) that have run their initializer: they
    watch the parent and ignore SIGINT (netsim.learn.cluster.worker_setup), and take points."""
    return [
        pid
        for pid, ppid in descendants(parent).items()
        if ppid == parent and "spawn_main" in cmdline(pid) and ignores_sigint(pid)
    ]


def _finished_runs(out: Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob("p*/manifest.json"))


def test_pool_workers_die_with_the_sweep_process(tmp_path):
    """kill -9 of `netsim sweep --workers 2` while its workers run points: the workers end
    with it, before any of their runs is finished, instead of going on writing run folders.
    Nothing is timed: each step waits on a condition (with only a hang guard), so a loaded
    machine, where workers take long to import torch, waits longer instead of failing."""
    # points long enough (thousands of rounds) that a surviving worker would still run
    path = _files(tmp_path, seeds=[1, 2], grid={"protocol.rounds": [5000, 5001]})
    out = tmp_path / "out"
    parent = _sweep_process(path, out, "--quiet")
    try:
        wait_until(lambda: len(_ready_workers(parent.pid)) >= 2, "both workers to take points")
        workers = _ready_workers(parent.pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.communicate()
    # either every worker ends or one of them finishes a run: only the first may happen
    wait_until(
        lambda: not any(alive(w) for w in workers) or _finished_runs(out),
        "the workers to end (or, wrongly, to finish a run)",
    )
    assert not _finished_runs(out), "a worker outlived its parent and finished a run"
    assert not [w for w in workers if alive(w)], f"workers {workers} outlived their parent"


def test_ctrl_c_of_a_sweep_with_workers_prints_one_line_and_stops_them(tmp_path):
    """Ctrl-C (SIGINT to the process group) of `netsim sweep --workers 2` while both workers
    run points: one line from the sweep, no KeyboardInterrupt traceback from each worker,
    the workers stopped, no run finished (the next sweep runs the points again)."""
    path = _files(tmp_path, seeds=[1, 2], grid={"protocol.rounds": [5000]})
    out = tmp_path / "out"
    parent = _sweep_process(path, out, "--quiet")
    wait_until(lambda: len(_ready_workers(parent.pid)) >= 2, "both workers to take points")
    err = interrupt_group(parent, _ready_workers(parent.pid))
    assert err.count("netsim: interrupted") == 1, err
    assert not _finished_runs(out)  # the points were stopped, not finished
