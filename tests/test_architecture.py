"""The layering of docs/architecture.md, checked by import-linter's contracts in
pyproject.toml on the package as installed (tests/architecture.py): on this tree they hold,
and a forbidden import planted in a copy breaks them, also where the contracts name the
folders that are installed inside the package (netsim.models, netsim.analysis)."""

from __future__ import annotations

import pytest

from tests.architecture import assemble, lint

pytest.importorskip("importlinter")


def test_the_layering_contracts_hold(tmp_path):
    run = lint(assemble(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("radio/channel.py", "from netsim.scenario import RadioConfig",
         "netsim.radio.channel -> netsim.scenario"),
        # the folders that live beside netsim/ in the source tree are seen as installed
        ("radio/channel.py", "import netsim.analysis.report",
         "netsim.radio.channel -> netsim.analysis.report"),
        ("models/__init__.py", "import netsim.nodes.piu", "netsim.models -> netsim.nodes.piu"),
        ("topologies/graphml.py", "from netsim.scenario import Scenario",
         "netsim.topologies.graphml -> netsim.scenario"),
    ],
)  # fmt: skip
def test_a_forbidden_import_planted_in_a_copy_breaks_them(tmp_path, module, planted, broken):
    tree = assemble(tmp_path)
    path = tree / "netsim" / module
    path.write_text(path.read_text() + f"\n{planted}\n")
    run = lint(tree)
    assert run.returncode != 0
    assert broken in run.stdout, run.stdout
