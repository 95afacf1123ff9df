"""netsim sweep: grids x seeds, resume, failed points, the tables, process pool = in-process."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from scipy import stats

from netsim.cli import main
from netsim.sweep import SweepError, load_sweep, run_sweep
from tests.conftest import TINY


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


def test_pool_workers_die_with_the_sweep_process(tmp_path):
    """kill -9 of `netsim sweep --workers 2`: its workers end within seconds instead of
    going on writing run folders."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # points long enough (thousands of rounds) that a surviving worker would still run
    path = _files(tmp_path, seeds=[1, 2], grid={"protocol.rounds": [5000, 5001]})
    out = tmp_path / "out"
    parent = subprocess.Popen(
        [sys.executable, "-m", "netsim.cli", "sweep", str(path), "--out", str(out),
         "--workers", "2", "--quiet"],
    )  # fmt: skip

    def children() -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent.pid:
                    found.append(int(entry))
        return found

    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:  # spawn: 2 workers + tracker
            time.sleep(0.2)
            workers = children()
        assert len(workers) >= 2, workers
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10  # the backstop checks every second
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in alive if os.path.exists(f"/proc/{w}") and not _zombie(w)]
    assert not alive, f"workers {alive} outlived their parent"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
