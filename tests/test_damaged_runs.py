"""Damaged run directories, impossible attack targets, a --cache that is a file and a full
disk get one clear message and exit status 2 (1 for the full disk), never a traceback,
and leave nothing behind that cannot be resumed."""

from __future__ import annotations

import errno

import pytest
import tomli_w
from netsim.analysis.run import load_run

from netsim.cli import main
from netsim.rundir import RunDirError
from tests.conftest import TINY


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    scenario = root / "s.toml"
    scenario.write_text(tomli_w.dumps({**TINY, "protocol": {"rounds": 2}}))
    out = root / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return out


def _copy(run, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_log"])
def test_a_damaged_event_log_is_named_by_report_attack_and_load_run(
    finished_run, tmp_path, capsys, damage
):
    run = _copy(finished_run, tmp_path)
    events = run / "events.parquet"
    if damage == "truncate":
        events.write_bytes(events.read_bytes()[: events.stat().st_size // 2])
    elif damage == "garbage":
        events.write_bytes(b"not parquet at all")
    else:  # a readable log, but not the one the run wrote
        import pandas as pd

        log = pd.read_parquet(events)
        log.loc[0, "t_s"] += 1.0
        log.to_parquet(events, index=False)
    with pytest.raises(RunDirError, match="events.parquet"):
        load_run(run)
    assert main(["report", str(run)]) == 2
    assert "events.parquet' " in capsys.readouterr().err
    assert main(["attack", str(run), "--piu", "0", "--round", "0"]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err or "does not match" in err, err
    assert not (run / "attacks").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--round", "-1", "--piu", "0"], "--round -1: the run has rounds 0 to 1"),
        (["--round", "2", "--piu", "0"], "--round 2: the run has rounds 0 to 1"),
        (["--round", "0", "--piu", "7"], "--piu [7]: the run has PIUs 0 to 2"),
    ],
)
def test_an_impossible_attack_target_is_refused_before_the_replay(
    finished_run, capsys, args, needle
):
    assert main(["attack", str(finished_run), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "replay" not in err, err


def test_a_cache_that_is_a_file_is_refused_and_nothing_is_left(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    assert main(["run", "--cache", str(cache), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "--cache" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.parametrize("where", ["model.pt", "cache"])
def test_a_full_disk_is_said_and_what_cannot_be_resumed_is_removed(
    tmp_path, capsys, monkeypatch, where
):
    """torch reports a full disk as "file write failed" without an errno; with no space
    left that becomes "no space left on device while writing FILE". Written so far: the
    run's outputs are removed, its trained updates kept for resuming (none: all removed)."""
    import shutil

    import torch

    scenario = tmp_path / "s.toml"
    scenario.write_text(tomli_w.dumps({**TINY, "protocol": {"rounds": 2}}))
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if where in str(f):
            raise RuntimeError(
                "[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                "failed writing file data/0: file write failed"
            )
        return real(obj, f, *args, **kwargs)

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=0))
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no space left on device while writing" in err and where in err, err
    assert not (tmp_path / "out").exists()
    staging = tmp_path / ".out.partial"
    if where == "model.pt":  # the run finished: its 6 updates are kept for resuming
        assert "6 trained updates are kept" in err
        assert sorted(p.name for p in staging.iterdir()) == ["cache", "owner.pid", "scenario.toml"]
        monkeypatch.setattr(torch, "save", real)
        assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert not staging.exists() and (tmp_path / "out" / "model.pt").is_file()
    else:  # the first update did not fit: nothing to resume
        assert "nothing was kept" in err
        assert not staging.exists()


def test_a_full_disk_without_a_cache_leaves_no_staging_folder(tmp_path, monkeypatch):
    import pandas as pd

    from netsim import Simulation
    from tests.conftest import tiny

    result = Simulation(tiny()).run()

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OSError, match="no space left on device while writing .*events.parquet"):
        result.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
