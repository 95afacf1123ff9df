"""The README's set-up commands are the ones CI runs; the getting-started page's error
example prints what it shows; the sweep guide's example is a valid sweep. (Every code block
of the README and docs/ runs in tests/test_docs.py.)"""

from __future__ import annotations

import re
import shlex

from netsim import load_scenario
from netsim.cli import main
from tests.test_docs import ROOT, blocks


def _blocks(page: str, lang: str) -> list[str]:
    """The bodies of ``page``'s ``lang`` code blocks (read as the docs runner reads them)."""
    return [b.body for b in blocks((ROOT / page).read_text(encoding="utf-8")) if b.lang == lang]


def test_setup_commands_pin_torch_and_match_ci():
    lines = [line for block in _blocks("README.md", "bash") for line in block.splitlines()]
    setup = [line for line in lines if "pip install" in line]
    assert len(setup) == 2 and all("torch==2.13.0" in line for line in setup)
    assert setup[0].endswith("&& netsim run") and setup[1].endswith("&& pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert setup[1].split(" && pytest")[0] in ci


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_error_example_prints_what_the_page_shows(capsys):
    (text,) = _blocks("docs/getting-started.md", "text")
    command, *shown = text.strip().splitlines()
    assert main(shlex.split(command.lstrip("$ "))[1:]) == 2
    err = capsys.readouterr().err
    for line in shown[1:]:
        assert line.strip().rstrip(".").rstrip() in err, line


def test_the_sweep_example_is_a_valid_sweep(tmp_path):
    from netsim.sweep import load_sweep

    (text,) = _blocks("docs/guides/sweeps.md", "toml")
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    sweep = load_sweep(path)
    assert len(sweep.runs) == 2 * 2 * 2
    for point in sweep.runs[:4]:  # every override is a valid scenario change
        load_scenario(sweep.base, point.override_strings())


def test_every_relative_link_of_the_readme_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [t for t in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in t]
    assert len(links) >= 15
    for target in links:
        assert (ROOT / target).exists(), target
