"""A user's own models.py, analysis.py or topologies.py in the working folder is harmless:
netsim's packages of those names live inside netsim (netsim.models, ...)."""

from __future__ import annotations

import subprocess
import sys

from tests.procs import HANG_GUARD_S


def test_own_modules_named_like_netsims_do_not_break_it(tmp_path):
    for name in ("models", "analysis", "topologies"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user\\'s {name}.py')\n")
    script = (
        "from netsim import Simulation, load_scenario\n"
        "from netsim.analysis.run import load_run\n"
        "from netsim.models import MODELS\n"
        "s = load_scenario('default', ['protocol.rounds=1', 'learning.local_steps=1'])\n"
        "assert 'lenet5' in MODELS and s.name\n"
        "Simulation(s)\n"
        "print('netsim ok')\n"
        "import models\n"  # and the user's own module is still theirs
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,  # only a hang guard
    )
    assert "netsim ok" in done.stdout, done.stderr
    assert "the user's models.py" in done.stderr  # their import reached their file
    cli = subprocess.run(
        [sys.executable, "-m", "netsim.cli", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert cli.returncode == 0 and 'name = "default"' in cli.stdout, cli.stderr
