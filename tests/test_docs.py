"""Every code block of the documentation (docs/ and the README) runs, so the docs cannot go
stale; the site builds with ``mkdocs build --strict``; the generated reference covers the
code it is generated from.

How a page's blocks run, in order, in a fresh folder (with ``topologies/`` linked in):

* ``toml title="FILE"``: written to FILE (later blocks use it);
* ``python``: executed, one namespace per page;
* ``bash``: each ``netsim ...`` command runs and must exit 0; after a line
  ``<!-- test: check -->`` the block's commands are only parsed and their scenarios
  validated and preflighted (runs too long for the suite: the tour, measurements);
  ``pip``, ``python -m`` and shell commands are not run (installs and benchmarks);
  ``> FILE`` writes the command's output there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from netsim import load_scenario
from netsim.assembly import preflight
from netsim.cli import _parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")) + ["README.md"]
_FENCE = re.compile(
    r"(?:<!-- test: (?P<mode>\w+) -->\n)?```(?P<lang>\w+)(?: title=\"(?P<title>[^\"]+)\")?\n"
    r"(?P<body>.*?)```",
    flags=re.S,
)
_SCENARIO_COMMANDS = ("run", "validate", "topo", "dataset")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    title: str | None
    mode: str | None


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a page, in order."""
    return [Block(m["lang"], m["body"], m["title"], m["mode"]) for m in _FENCE.finditer(text)]


def commands(body: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments cut."""
    lines = body.replace("\\\n", " ").splitlines()
    return [c for c in (line.split(" #")[0].strip() for line in lines) if c and c[0] != "#"]


def _check_command(argv: list[str]) -> None:
    """Parse a netsim command as the CLI does and validate its scenario (no run)."""
    args = _parser().parse_args(argv)
    if argv[0] in _SCENARIO_COMMANDS:
        preflight(load_scenario(args.scenario, args.overrides))


def run_page(page: str, folder: Path) -> dict:
    """Run every block of ``page`` in ``folder``; return the Python namespace."""
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks((ROOT / page).read_text(encoding="utf-8")):
        if block.title:
            (folder / block.title).write_text(block.body, encoding="utf-8")
        elif block.lang == "toml":
            tomllib.loads(block.body)  # a fragment shown, not a file used: valid TOML
        elif block.lang == "python":
            exec(compile(block.body, page, "exec"), namespace)  # noqa: S102
        elif block.lang == "bash":
            for command in commands(block.body):
                command, _, into = command.split("&&")[-1].partition(">")
                words = shlex.split(command)
                if words[0] != "netsim":
                    continue  # installs, benchmarks, shell
                if block.mode == "check":
                    _check_command(words[1:])
                    continue
                with contextlib.ExitStack() as stack:
                    if into:  # netsim ... > FILE
                        out = stack.enter_context(open(folder / into.strip(), "w"))  # noqa: SIM115
                        stack.enter_context(contextlib.redirect_stdout(out))
                    assert main(words[1:]) == 0, command
    return namespace


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "topologies").symlink_to(ROOT / "topologies")
    namespace = run_page(page, tmp_path)
    check = PAGE_CHECKS.get(page)
    if check is not None:
        check(namespace, tmp_path)


def _tour(namespace: dict, folder: Path) -> None:
    assert (folder / "runs" / "y" / "events.parquet").is_file()
    rounds = namespace["res"].rounds
    assert (rounds["t_end_s"] - rounds["t_start_s"] <= 0.6 + 0.005 + 1e-9).all()
    assert rounds["dropped"].sum() > 0  # a 0.6 s deadline cuts off the slow PIUs


def _network(namespace: dict, folder: Path) -> None:
    tx = namespace["tx"]
    assert len(tx) == 30 and (tx.tb_count > 0).all() and tx.mcs.notna().all()
    r = namespace["res"].rounds
    assert r[r.tier == "global"]["round"].tolist() == [0, 1, 2]
    assert sorted(set(r[r.tier == "edge"].node)) == ["edge0", "edge1", "edge2", "edge3"]
    assert len(r[r.tier == "edge"]) == 4 * 3 * 2  # 4 edge servers x 3 cloud rounds x k2


def _factory(namespace: dict, folder: Path) -> None:
    assert (folder / "factory.html").is_file() and (folder / "layout.png").is_file()
    before, after = namespace["before"].rounds, namespace["after"].rounds
    # the same training on a faster backhaul: same model, shorter rounds
    assert (before.test_accuracy.to_numpy() == after.test_accuracy.to_numpy()).all()
    assert after.duration_s.mean() < 0.5 * before.duration_s.mean()


def _whatif(namespace: dict, folder: Path) -> None:
    assert (folder / "whatif.png").is_file()
    per_point = namespace["per_point"]
    assert len(per_point) == 6 and per_point.missed.between(0, 1).all()


def _privacy(namespace: dict, folder: Path) -> None:
    ssim = namespace["table"].set_index("defence").ssim
    assert ssim["none"] > 0.9  # DLG's best case: the sample itself
    assert ssim["DP-FedAvg, z = 1"] > 0.9  # central DP noises the aggregate, not the upload
    assert ssim["top-k, 10 % kept"] < ssim["none"] and ssim["DP-SGD, z = 1"] < ssim["none"]


PAGE_CHECKS = {
    "docs/getting-started.md": _tour,
    "docs/guides/network.md": _network,
    "docs/tutorials/factory-network.md": _factory,
    "docs/tutorials/what-if-study.md": _whatif,
    "docs/tutorials/privacy.md": _privacy,
}


def test_every_page_is_in_the_site_and_every_checked_page_exists():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES[:-1]:
        assert page.removeprefix("docs/") in nav, f"{page} is not in mkdocs.yml's nav"
    assert set(PAGE_CHECKS) <= set(PAGES)


def test_check_mode_refuses_a_misspelt_field():
    with pytest.raises(ValueError, match="bandwith_hz"):
        _check_command(["run", "--set", "radio.bandwith_hz=1e6"])


def test_the_block_reader_sees_titles_modes_and_continuations():
    text = (
        'x\n```toml title="a.toml"\nk = 1\n```\n<!-- test: check -->\n```bash\n'
        "netsim run \\\n  --set a=1  # comment\n# only a comment\n```\n"
    )
    toml, bash = blocks(text)
    assert (toml.lang, toml.title, toml.body) == ("toml", "a.toml", "k = 1\n")
    assert bash.mode == "check"
    assert shlex.split(commands(bash.body)[0]) == ["netsim", "run", "--set", "a=1"]


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    if shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("mkdocs is not installed (extra: docs)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "reference" / "scenario" / "index.html").is_file()
