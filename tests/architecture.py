"""The package as it is installed, for the import linter: ``netsim/`` with ``models/``,
``topologies/`` and ``analysis/`` inside it as ``netsim.models``, ... (pyproject.toml's
package-dir), in a temporary copy. In the source tree the three folders sit beside
``netsim/``, where ``lint-imports`` would not see the code's ``netsim.models`` imports and
every contract naming them would hold vacuously.

    python -m tests.architecture        # lint-imports on the installed layout
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSIDE = ("models", "topologies", "analysis")  # installed as netsim.<name>


def assemble(dest: Path, root: Path = ROOT) -> Path:
    """Copy ``root``'s package into ``dest`` in its installed layout, with pyproject.toml;
    return ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.json", "*.toml", "*.graphml")
    shutil.copytree(root / "netsim", dest / "netsim", ignore=ignore)
    for name in INSIDE:
        shutil.copytree(root / name, dest / "netsim" / name, ignore=ignore)
    shutil.copy(root / "pyproject.toml", dest)
    return dest


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` (pyproject.toml's contracts) on an assembled ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        run = lint(assemble(Path(folder)))
    print(run.stdout + run.stderr, end="")
    sys.exit(run.returncode)
