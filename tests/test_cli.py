"""The `netsim` command: run directories, overrides, and clean failures on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import tomli_w
import torch

from netsim.cli import main
from netsim.log import EVENT_COLUMNS, log_digest
from netsim.rundir import RUN_FILES
from netsim.scenario import load_scenario
from tests.conftest import TINY


def _scenario_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps(TINY))
    return path


def test_run_writes_a_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    code = main(
        [
            "run",
            str(_scenario_file(tmp_path)),
            "--set",
            "protocol.rounds=2",
            "--set",
            "protocol.deadline_s=1.5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*RUN_FILES, "flows.parquet"])
    events = pd.read_parquet(out / "events.parquet")
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert list(events.columns) == EVENT_COLUMNS
    assert list(rounds["round"]) == [0, 1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == TINY["seed"] and manifest["rounds"] == 2
    assert manifest["events_sha256"] == log_digest(events)
    resolved = load_scenario(out / "scenario.toml")
    assert resolved.protocol.deadline_s == 1.5 and resolved.protocol.rounds == 2
    state = torch.load(out / "model.pt")
    assert set(state) == {
        "net.1.weight",
        "net.1.bias",
        "net.3.weight",
        "net.3.bias",
        "net.5.weight",
        "net.5.bias",
    }
    assert "final accuracy" in capsys.readouterr().out
    # No staging folder is left behind.
    assert [p.name for p in out.parent.iterdir()] == ["x"]


def test_bad_override_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(
        ["run", str(_scenario_file(tmp_path)), "--set", "radio.bandwidth_hz=-1", "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "radio.bandwidth_hz = -1" in err and "greater than or equal to 1000" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.toml' does not exist" in capsys.readouterr().err


def test_existing_output_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["run", str(_scenario_file(tmp_path)), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_validate_prints_the_resolved_scenario(capsys):
    assert main(["validate", "--set", "protocol.rounds=3"]) == 0
    assert "rounds = 3" in capsys.readouterr().out


def test_console_script_entry_point_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "netsim.cli", "validate", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        f"netsim: scenario file '{tmp_path / 'nope.toml'}' does not exist (bundled scenarios: "
    )


def test_topo_show_writes_a_png_layout(tmp_path, capsys):
    out = tmp_path / "fig" / "layout.png"
    assert main(["topo", "show", str(_scenario_file(tmp_path)), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob(".*partial"))
    assert main(["topo", "show", "--out", str(tmp_path / "layout.pdf")]) == 2
    assert "use a .png file name" in capsys.readouterr().err


def test_netsim_list_names_every_bundled_scenario_and_study(capsys):
    from netsim.scenario import bundled_scenarios
    from netsim.scenario.starters import studies_folder

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in bundled_scenarios():
        assert f"  {name} " in out
    for study in studies_folder().glob("*.toml"):
        assert f"  {study.stem} " in out  # what `netsim sweep NAME` takes
    assert str(studies_folder()) in out
    assert "10 PIUs around one AP" in out  # the default's own description


def test_netsim_init_writes_a_scenario_that_loads_and_runs(tmp_path, monkeypatch, capsys):
    from netsim import load_scenario
    from netsim.scenario.json_schema import DIRECTIVE

    monkeypatch.chdir(tmp_path)
    assert main(["init", "mine", "--from", "three_tier"]) == 0
    text = (tmp_path / "mine.toml").read_text()
    assert text.splitlines()[0] == DIRECTIVE and (tmp_path / "scenario.schema.json").exists()
    # the same scenario as the bundled one, named after its file; the graph still found
    mine, bundled = load_scenario("mine.toml"), load_scenario("three_tier")
    assert mine.name == "mine" and mine.model_copy(update={"name": "three_tier"}) == bundled
    assert main(["init", "mine"]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["init", "plain"]) == 0  # from the default
    sets = ["--set", "protocol.rounds=1", "--set", "topology.num_pius=2", "--quiet"]
    assert main(["run", "plain.toml", *sets, "--out", str(tmp_path / "run")]) == 0
    assert main(["init", "bad name"]) == 2
    assert main(["init", "x", "--from", "nope"]) == 2
    assert not (tmp_path / "x.toml").exists() and not (tmp_path / "bad name.toml").exists()


def test_netsim_init_names_the_scenario_not_a_table_named_like_it(tmp_path, monkeypatch):
    from netsim import load_scenario

    monkeypatch.chdir(tmp_path)
    # no top-level name, but a table with its own name field after it
    (tmp_path / "src.toml").write_text('[learning.optimizer]\nname = "adam"\nlr = 0.01\n')
    assert main(["init", "mine", "--from", "src.toml"]) == 0
    mine = load_scenario("mine.toml")
    assert mine.name == "mine" and mine.learning.optimizer.name == "adam"


def test_netsim_init_keeps_a_literal_string_path_pointing_at_its_file(tmp_path, monkeypatch):
    from netsim import load_scenario

    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "traces").mkdir()
    text = "[device.availability]\nkind = 'trace'\ndir = 'traces'\n"
    (tmp_path / "src" / "net.toml").write_text(text)
    assert main(["init", "mine", "--from", "src/net.toml"]) == 0
    mine = load_scenario("mine.toml")
    assert mine.device.availability.dir == (tmp_path / "src" / "traces").resolve()


def test_ctrl_c_with_a_process_pool_prints_one_line_and_keeps_the_run_resumable(tmp_path):
    """Ctrl-C (SIGINT to the process group) of `netsim run` with learning.backend =
    "processes" while its workers train: one line, no KeyboardInterrupt traceback from each
    worker, the workers stopped, the trained updates kept for resuming. Nothing is timed:
    it waits on conditions, with only a hang guard."""
    from tests.procs import (
        descendants,
        ignores_sigint,
        interrupt_group,
        terminal_process,
        wait_until,
    )  # fmt: skip

    path = tmp_path / "pool.toml"
    learning = {**TINY["learning"], "backend": "processes", "workers": 2}
    # rounds enough that the run is still training when interrupted, few enough that the
    # resume cache fits its budget (so the run is resumable)
    path.write_text(tomli_w.dumps({**TINY, "protocol": {"rounds": 1600}, "learning": learning}))
    out = tmp_path / "out"
    parent = terminal_process(
        [sys.executable, "-m", "netsim.cli", "run", str(path), "--out", str(out), "--quiet"]
    )

    def ready_workers() -> list[int]:  # forked by the fork server, their initializer run
        below = descendants(parent.pid)
        return [p for p, pp in below.items() if pp in below and ignores_sigint(p)]

    wait_until(lambda: len(ready_workers()) >= 2, "both pool workers to be ready")
    err = interrupt_group(parent, ready_workers())
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "to resume" in lines[0], err
    assert not out.exists() and (tmp_path / ".out.partial" / "cache").is_dir()


def _tree(root):
    """Every path under ``root`` (to check that a refused command created nothing)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _bad_outs(tmp_path):
    """(--out that cannot be created, a piece of the operating system's reason)."""
    (tmp_path / "afile").write_text("not a folder")
    return [
        ("/proc/netsim-x", "No such file or directory"),  # nothing can be created in /proc
        (str(tmp_path / "afile" / "x"), "Not a directory"),  # its parent is a file
        (str(tmp_path / ("n" * 300)), "File name too long"),
        (str(tmp_path / "new" / ("n" * 300) / "x"), "File name too long"),  # no parent made
        (str(tmp_path / ("n" * 250)), "File name too long"),  # its .NAME.partial is too long
    ]


def test_an_out_that_cannot_be_created_is_refused_naming_it(tmp_path, capsys):
    scenario = str(_scenario_file(tmp_path))
    commands = {
        "run": ["run", scenario, "--out"],
        "schema": ["schema", "--out"],
        "topo show": ["topo", "show", scenario, "--out"],
        "dataset radio": ["dataset", "radio", scenario, "--out"],
        "report": ["report", str(tmp_path / "no_run"), "--out"],
    }
    suffix = {"schema": ".json", "topo show": ".png", "dataset radio": ".csv", "report": ".html"}
    for out, reason in _bad_outs(tmp_path):
        for name, argv in commands.items():
            before = _tree(tmp_path)
            target = out + suffix.get(name, "")
            assert main([*argv, target]) == 2, (name, target)
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert f"--out '{target}' cannot be created" in err and reason in err, (name, err)
            assert _tree(tmp_path) == before, name


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_out_in_a_read_only_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["schema", "--out", str(locked / "s.json")]) == 2
        err = capsys.readouterr().err
        assert f"--out '{locked / 's.json'}' cannot be created" in err and "not writable" in err
        assert not list(locked.iterdir())
    finally:
        locked.chmod(0o755)


def test_schema_out_creates_its_folder_and_writes_atomically(tmp_path):
    out = tmp_path / "nodir" / "deeper" / "s.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["title"]
    assert [p.name for p in out.parent.iterdir()] == ["s.json"]  # no .partial left


def test_netsim_init_refuses_a_name_that_is_no_file_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, needle in [
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        ("mine/", "names a folder"),
        ("..", "names a folder"),
        ("sub/.", "names a folder"),
        ("c" * 300, "300 characters, at most 100"),
        ("d" * 300 + "/mine.toml", "File name too long"),
    ]:
        assert main(["init", name]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("netsim: init NAME '") and needle in err, (name, err)
        assert "Traceback" not in err
        assert _tree(tmp_path) == [], name


def _ray_scenario(tmp_path, address):
    learning = {**TINY["learning"], "backend": "ray", "ray_address": address}
    path = tmp_path / "ray.toml"
    path.write_text(tomli_w.dumps({**TINY, "learning": learning}))
    return path


def test_a_ray_address_where_nothing_answers_is_refused_at_once(tmp_path, capsys):
    """Port 1 of this machine: refused by the TCP probe, not retried by ray.init for
    minutes; nothing written."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'netsim[ray]')")
    path = _ray_scenario(tmp_path, "127.0.0.1:1")
    before = _tree(tmp_path)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "learning.ray_address = '127.0.0.1:1': nothing answers at 127.0.0.1:1" in err, err
    assert _tree(tmp_path) == before


def test_ray_address_auto_without_a_cluster_says_so(monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'netsim[ray]')")
    import ray._private.services as services

    from netsim.learn.cluster import RayUnavailable, check_ray

    def nothing_running(address, temp_dir=None):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(services, "canonicalize_bootstrap_address", nothing_running)
    with pytest.raises(RayUnavailable, match="learning.ray_address = 'auto': no running Ray"):
        check_ray("auto", "learning.ray_address")
    with pytest.raises(RayUnavailable, match="--ray-address 'x:y': not an address Ray takes"):
        check_ray("x:y", "--ray-address")


def test_a_ray_cluster_of_another_version_is_one_message_and_nothing_written(
    tmp_path, monkeypatch, capsys
):
    """ray.init's RuntimeError (here a version mismatch) becomes the one message of bad
    input naming learning.ray_address; the run's staging folder is not left behind."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'netsim[ray]')")

    def mismatch(*args, **kwargs):
        raise RuntimeError("Version mismatch: The cluster was started with: Ray: 2.9.0")

    monkeypatch.setattr(ray, "init", mismatch)
    path = _ray_scenario(tmp_path, "local")
    before = _tree(tmp_path)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "learning.ray_address = 'local': Ray could not connect" in err
    assert "Version mismatch" in err
    assert _tree(tmp_path) == before
