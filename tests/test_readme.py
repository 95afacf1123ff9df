"""The README's examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from netsim import load_scenario
from netsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_setup_commands_pin_torch_and_match_ci():
    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    setup = [line for line in lines if "pip install" in line]
    assert len(setup) == 2 and all("torch==2.13.0" in line for line in setup)
    assert setup[0].endswith("&& netsim run") and setup[1].endswith("&& pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert setup[1].split(" && pytest")[0] in ci


@pytest.mark.slow
def test_python_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "topologies").symlink_to(ROOT / "topologies")
    code = _blocks("python")[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "runs" / "y" / "events.parquet").is_file()
    rounds = namespace["res"].rounds
    assert (rounds["t_end_s"] - rounds["t_start_s"] <= 0.6 + 0.005 + 1e-9).all()
    assert rounds["dropped"].sum() > 0  # a 0.6 s deadline cuts off the slow PIUs


@pytest.mark.slow
def test_nr_example_runs():
    pytest.importorskip("sionna.sys")
    code = _blocks("python")[1]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    tx = namespace["tx"]
    assert len(tx) == 30 and (tx.tb_count > 0).all() and tx.mcs.notna().all()


@pytest.mark.slow
def test_hierarchy_example_runs():
    code = _blocks("python")[2]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    r = namespace["res"].rounds
    assert r[r.tier == "global"]["round"].tolist() == [0, 1, 2]
    assert sorted(set(r[r.tier == "edge"].node)) == ["edge0", "edge1", "edge2", "edge3"]
    assert len(r[r.tier == "edge"]) == 4 * 3 * 2  # 4 edge servers x 3 cloud rounds x k2


def test_validate_example(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    line = next(line for line in lines if "netsim validate" in line)
    argv = shlex.split(line.split("#")[0])[1:]
    assert main(argv) == 0
    assert 'access = "fdma"' in capsys.readouterr().out


def test_error_example_prints_what_the_readme_shows(capsys):
    (text,) = re.findall(r"```text\n(.*?)```", README, flags=re.S)
    command, *shown = text.strip().splitlines()
    assert main(shlex.split(command.lstrip("$ "))[1:]) == 2
    err = capsys.readouterr().err
    for line in shown[1:]:
        assert line.strip().rstrip(".").rstrip() in err, line


def _run_commands() -> list[list[str]]:
    """Every ``netsim run ...`` command of the README's bash blocks, continuation lines
    joined, as argv after ``netsim``."""
    commands = []
    for block in _blocks("bash"):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split(" #")[0].split("&&")[-1].strip()
            if command.startswith("netsim run"):
                commands.append(shlex.split(command)[1:])
    return commands


def test_every_run_example_is_a_valid_scenario():
    commands = _run_commands()
    assert len(commands) >= 8
    for argv in commands:
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        positional = [a for a in argv[1:2] if not a.startswith("-")]
        load_scenario(positional[0] if positional else None, sets)  # raises if invalid


def test_the_sweep_example_is_a_valid_sweep(tmp_path):
    from netsim.sweep import load_sweep

    (text,) = _blocks("toml")
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    sweep = load_sweep(path)
    assert len(sweep.runs) == 2 * 2 * 2
    for point in sweep.runs[:4]:  # every override is a valid scenario change
        load_scenario(sweep.base, point.override_strings())
