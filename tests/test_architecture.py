"""The layering of docs/architecture.md, checked by import-linter's contracts in
pyproject.toml: on this tree they hold, and a leaf module that reads the schema breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("netsim", "models", "topologies", "analysis")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the tree at ``root`` (its pyproject.toml, its packages)."""
    pytest.importorskip("importlinter")
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )


def test_the_layering_contracts_hold():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def test_a_radio_module_that_reads_the_schema_breaks_them(tmp_path):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    channel = tmp_path / "netsim" / "radio" / "channel.py"
    channel.write_text(channel.read_text() + "\nfrom netsim.scenario import RadioConfig\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "netsim.radio.channel -> netsim.scenario" in run.stdout, run.stdout
