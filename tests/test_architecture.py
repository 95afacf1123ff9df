"""The layering of docs/architecture.md, checked by import-linter's contracts in
pyproject.toml on the package as installed (tests/architecture.py): on this tree they hold,
and a forbidden import planted in a copy breaks them, also where the contracts name the
folders that are installed inside the package (netsim.models, netsim.analysis) and where the
import is only for type annotations (under ``if TYPE_CHECKING:``)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.architecture import ROOT, assemble, lint

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


def test_an_import_for_annotations_only_breaks_them_too(tmp_path):
    """An entity that names an attack in its annotations only (the import under ``if
    TYPE_CHECKING:``) still depends on the layer above it: the contracts count such imports
    (``exclude_type_checking_imports = false``). The entities call a Tap (netsim.messages)."""
    tree = assemble(tmp_path)
    path = tree / "netsim" / "nodes" / "server.py"
    assert "if TYPE_CHECKING:" in path.read_text()
    planted = "if TYPE_CHECKING:\n    from netsim.privacy.attacker import Attacker\n"
    path.write_text(path.read_text() + "\n" + planted)
    run = lint(tree)
    assert run.returncode != 0
    assert "netsim.nodes is not allowed to import netsim.privacy" in run.stdout, run.stdout
    assert "netsim.nodes.server -> netsim.privacy.attacker" in run.stdout, run.stdout


def test_every_module_is_in_a_layer(tmp_path):
    """A module that no layer names is checked against none: the privacy package, whose
    replay sits above the run and whose attacks sit below the assembly, names its modules one
    by one, so a new one must be added to the layers."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    tree = assemble(tmp_path)
    modules = {
        ".".join(path.relative_to(tree).with_suffix("").parts).removesuffix(".__init__")
        for path in (tree / "netsim").rglob("*.py")
    }
    unnamed = {m for m in modules if not any(m == n or m.startswith(n + ".") for n in named)}
    # the package itself, its version, and the privacy package's (empty) __init__
    assert unnamed == {"netsim", "netsim._version", "netsim.privacy"}
