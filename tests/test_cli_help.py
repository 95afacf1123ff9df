"""What a new user meets first: --version, --help that answers at once (no torch or pandas
imported), help texts that describe instead of pointing at source files, examples that
parse, ``netsim list`` with whole descriptions, and progress that writes no carriage
returns when its output is not a terminal."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tomli_w

from netsim.cli import _parser, main
from netsim.progress import Heartbeat, LineProgress
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def _commands(parser: argparse.ArgumentParser, prog: str = "netsim"):
    """(prog, parser) of every command that takes arguments (the leaves), recursively."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prog, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, f"{prog} {name}")


def test_version_prints_the_package_version(capsys):
    from netsim import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"netsim {__version__}\n"


def test_help_and_version_import_neither_torch_nor_pandas():
    script = (
        "import sys\n"
        "from netsim.cli import main\n"
        "for argv in (['--help'], ['--version'], ['run', '--help'], ['attack', '--help'],\n"
        "             ['report', '--help'], ['sweep', '--help'], ['topo', 'show', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (argv, exc.code)\n"
        "heavy = ('torch', 'pandas', 'matplotlib', 'scipy', 'netsim.sim', 'netsim.scenario')\n"
        "print('heavy:', sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "heavy: []", proc.stdout


@pytest.mark.parametrize(
    "argv", [["list"], ["schema", "--out", "{tmp}/s.json"], ["init", "{tmp}/mine.toml"]]
)
def test_commands_that_neither_build_nor_train_import_neither_torch_nor_pandas(argv, tmp_path):
    # netsim list took 5.5 s on a loaded 2-core machine, nearly all of it importing torch
    argv = [a.format(tmp=tmp_path) for a in argv]
    script = (
        "import sys\n"
        "from netsim.cli import main\n"
        f"assert main({argv!r}) == 0\n"
        "heavy = ('torch', 'pandas', 'matplotlib', 'scipy', 'netsim.sim')\n"
        "print('heavy:', sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "heavy: []", proc.stdout


def test_the_package_imports_its_public_names_on_first_use():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, netsim\n"
            "assert 'torch' not in sys.modules\n"
            "from netsim import Simulation, load_scenario, SimulationResult\n"
            "assert Simulation.__module__ == 'netsim.sim' and 'Simulation' in dir(netsim)\n"
            "print('ok')",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_no_help_text_points_at_a_source_file():
    for prog, parser in [("netsim", _parser()), *_commands(_parser())]:
        text = parser.format_help()
        assert not re.search(r"[\w/]+\.py\b", text), (prog, text)
        assert "see netsim/" not in text, prog


def test_every_command_has_a_description_and_examples_that_parse():
    from netsim.scenario import bundled_scenarios, load_scenario

    bundled = set(bundled_scenarios())
    for prog, parser in _commands(_parser()):
        assert parser.description, prog
        examples = [
            line.strip()
            for line in (parser.epilog or "").splitlines()
            if line.strip().startswith("netsim ")
        ]
        assert examples, f"{prog} --help shows no example"
        for example in examples:
            command = example.split(" #")[0].split(" > ")[0]
            words = shlex.split(command)[1:]
            names = prog.split()[1:]  # the example is of this command
            assert words[: len(names)] == names, example
            args = _parser().parse_args(words)  # an example that does not parse exits here
            scenario = getattr(args, "scenario", "no scenario")
            if scenario is None or scenario in bundled:  # a real scenario: its --set is valid
                load_scenario(scenario, args.overrides)


def test_attack_method_and_position_describe_each_choice():
    attack = dict(_commands(_parser()))["netsim attack"]
    actions = {a.dest: a for a in attack._actions}
    for dest in ("method", "position"):
        action = actions[dest]
        for choice in action.choices:
            assert f"{choice}:" in action.help, (dest, choice)
    assert "Inverting Gradients" in actions["method"].help
    assert "honest-but-curious" in actions["position"].help and "--ap" in actions["position"].help
    shown = attack.format_help()
    assert "(default: idlg)" in shown and "(default: server)" in shown


def test_list_prints_each_description_whole_wrapped_under_its_name(capsys, monkeypatch):
    from netsim.scenario.loading import default_scenario_path
    from netsim.scenario.starters import description

    monkeypatch.setenv("COLUMNS", "72")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 72 for line in lines if " " in line.strip()), out
    flat = " ".join(out.split())
    for path in sorted(default_scenario_path().parent.glob("*.toml")):
        whole = description(path, width=sys.maxsize)
        assert " ".join(f"{path.stem} {whole}".split()) in flat, path.stem
    # a description longer than the old cut (88 characters) is not cut
    long = description(default_scenario_path().parent / "agv_localization.toml", sys.maxsize)
    assert len(long) > 88 and not long.endswith("...")
    # continuation lines are indented under the description, not under the name
    assert any(line.startswith(" " * 23) and line[23] != " " for line in lines)


def test_line_progress_prints_the_first_and_the_last_step_and_no_carriage_return(capsys):
    bar = LineProgress(5, "round", "demo", every_s=1e9)  # the clock never allows another
    for k in range(5):
        bar.set_postfix(acc=f"0.{k}")
        bar.update(1)
    bar.close()
    bar.update(1)  # closed: nothing more
    err = capsys.readouterr().err
    assert err.splitlines() == ["demo: 1/5 rounds (acc=0.0)", "demo: 5/5 rounds (acc=0.4)"]
    assert "\r" not in err


def test_line_progress_prints_every_step_when_the_interval_allows(capsys):
    bar = LineProgress(3, "run", "sweep", every_s=0.0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert capsys.readouterr().err.splitlines() == [f"sweep: {k}/3 runs" for k in (1, 2, 3)]


def test_a_heartbeat_beats_until_its_block_ends():
    beats: list[float] = []
    twice = threading.Event()

    def beat(elapsed_s: float) -> None:
        beats.append(elapsed_s)
        if len(beats) >= 2:
            twice.set()

    with Heartbeat(beat, every_s=0.01):
        assert twice.wait(timeout=120)  # a condition; the timeout only guards a hang
    count = len(beats)
    assert beats == sorted(beats) and count >= 2
    assert not any(t.name == "netsim-heartbeat" for t in threading.enumerate())
    assert len(beats) == count  # stopped: no beat after the block


def test_run_and_report_into_a_pipe_write_plain_lines(tmp_path):
    """Output that is not a terminal (a pipe, a log file) gets one line per stage or step,
    never tqdm's carriage-return frames."""
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tomli_w.dumps({**TINY, "protocol": {"rounds": 2}}))
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "netsim.cli"]
    proc = subprocess.run(
        [*argv, "run", str(scenario), "--out", str(run)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr + proc.stdout
    assert "netsim: building tiny" in proc.stderr
    assert re.search(r"^tiny: 2/2 rounds \(t_sim=[\d.]+s, acc=[\d.]+\)$", proc.stderr, re.M)
    report = subprocess.run(
        [*argv, "report", str(run), "--out", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    assert "\r" not in report.stderr + report.stdout
    assert "netsim: loading runs: 1/1 runs" in report.stderr
    assert "netsim: drawing the report's figures (1 run)" in report.stderr
    assert (tmp_path / "r.html").is_file()


def test_attack_says_what_it_does_while_it_works(tmp_path, capsys):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tomli_w.dumps({**TINY, "protocol": {"rounds": 2}}))
    run = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    args = ["attack", str(run), "--piu", "0", "--round", "1", "--restarts", "1"]
    assert main([*args, "--iterations", "2"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    stages = [
        f"netsim: replaying {run} up to round 1 to capture the uploads",
        "replay to round 1: 2/2 rounds",
        "netsim: idlg attack on 1 upload(s): 1 restarts of up to 2 steps each, at most 60 s "
        "per restart",
        "idlg attack: 0/1 uploads",
        "idlg attack: 1/1 uploads",
    ]
    lines = err.splitlines()
    assert [line for line in lines if line in stages] == stages, err
