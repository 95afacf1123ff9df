"""netsim report: a self-contained HTML file that a real headless browser renders cleanly."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from netsim import Simulation
from netsim.cli import main
from tests.conftest import tiny
from tests.procs import HANG_GUARD_S

# Put first into a copy of the page (so it sees every later error): after load, count the
# images that did not decode, the uncaught script errors, the interactive figures and those
# plotly drew (an SVG with marks in it: bars or lines), and leave the counts in the DOM for
# --dump-dom.
CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => setTimeout(() => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const plots = Array.from(document.querySelectorAll('.plot'));
  const drawn = plots.filter(p => p.querySelector('svg.main-svg') &&
    p.querySelectorAll('g.trace path, g.trace rect').length > 0 &&
    p.getBoundingClientRect().height > 100).length;
  // an element wider than its column (outside a box that scrolls sideways) overflows
  const right = document.body.getBoundingClientRect().right + 1;
  const over = Array.from(document.body.querySelectorAll('img, table, pre, h2, p, .plot'))
    .filter(e => !e.closest('.wide, pre') && e.getBoundingClientRect().right > right).length;
  document.body.setAttribute('data-check',
    `images=${imgs.length} broken=${bad} errors=${window.__errors.length} overflow=${over} ` +
    `plots=${plots.length} drawn=${drawn}`);
}, 500));
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    for name, seed in (("a", 1), ("b", 2)):
        s = tiny(protocol={"rounds": 2}, device={"battery_j": 1.0}, seed=seed)
        Simulation(s).run().save(root / name)
    out = root / "report.html"
    assert main(["report", str(root / "a"), str(root / "b"), "--out", str(out)]) == 0
    return out


def test_the_report_holds_the_summary_figures_and_scenarios(report):
    text = report.read_text(encoding="utf-8")
    # accuracy (one figure, three panels) and 4 per run as PNGs (with the radio KPIs); the
    # latency CDFs and each run's timeline interactive, plotly.js embedded once; nothing
    # fetched
    assert text.count('<img alt="') == text.count('src="data:image/png;base64,') - 1 == 1 + 2 * 4
    assert text.count('<div class="plot" role="figure"') == 1 + 2
    assert text.count("* plotly.js v") == 1  # (its code holds one such src string)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    assert "<script" not in markup and not re.search(r'src="(?!data:)', markup)
    assert text.count("<details><summary>scenario</summary>") == 2
    assert "<td>a</td>" in text and "<td>b</td>" in text
    # the summary in units a reader takes in: Mbit, rounded; no raw floats
    table = text[text.index("<table") : text.index("</table>")]
    assert "<th>uplink (Mbit)</th>" in table and "e+" not in table
    cells = re.findall(r"<td>([\d,.]+)</td>", table)
    assert cells and all(len(c.split(".")[-1]) <= 3 for c in cells if "." in c)


def _render(page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + CHECK, 1), encoding="utf-8")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            checked.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,  # only a hang guard: chromium's time is virtual (the budget above)
        check=True,
    ).stdout
    found = re.search(
        r'data-check="images=(\d+) broken=(\d+) errors=(\d+) overflow=(\d+) '
        r'plots=(\d+) drawn=(\d+)"',
        dom,
    )
    assert found, "the page did not finish loading"
    return tuple(int(g) for g in found.groups())


def test_the_report_renders_in_headless_chromium(report, tmp_path):
    page = report.read_text(encoding="utf-8")
    # every image decodes, no script error, nothing wider than the page's column
    # and plotly drew the three interactive figures
    assert _render(page, tmp_path) == (9, 0, 0, 0, 3, 3)
    # the check can fail: a broken image, a script error, an overflow and an interactive
    # figure not drawn are all caught
    spoiled = page.replace(
        "</body>",
        '<img src="data:image/png;base64,AAAA"><script>notAFunction()</script>'
        '<table style="width: 3000px"><tr><td>x</td></tr></table>'
        '<div class="plot"></div></body>',
    )
    assert _render(spoiled, tmp_path) == (10, 1, 1, 1, 4, 3)


def test_a_static_report_draws_every_figure_as_a_png(report, tmp_path):
    # --static (or a machine without plotly): the same figures, every one a PNG
    runs = [report.parent / "a", report.parent / "b"]
    out = tmp_path / "static.html"
    assert main(["report", *map(str, runs), "--static", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('<img alt="') == page.count('src="data:image/png;base64,') == 12
    assert "plotly" not in page
    assert _render(page, tmp_path) == (12, 0, 0, 0, 0, 0)


def test_a_bad_run_directory_is_named(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_a_routed_backhauls_utilisation_is_in_the_report_and_renders(tmp_path):
    # three_tier with background traffic on the gateway's uplink: the backhaul section
    # draws the links' utilisation over time; a run without a routed backhaul has none
    from netsim import load_scenario

    background = '[{src="gateway", dst="server", rate_bps=2e8, on_s=0.05, off_s=0.05}]'
    sets = ["protocol.rounds=1", 'learning.model="mlp"', f"backhaul.background={background}"]
    Simulation(load_scenario("three_tier", sets)).run().save(tmp_path / "routed")
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "routed"), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert 'alt="routed: backhaul utilisation"' in page
    images, broken, errors, overflow, plots, drawn = _render(page, tmp_path)
    assert images >= 4 and (broken, errors, overflow) == (0, 0, 0) and plots == drawn == 2
    Simulation(tiny(protocol={"rounds": 1})).run().save(tmp_path / "star")
    assert main(["report", str(tmp_path / "star"), "--out", str(out)]) == 0
    assert "backhaul utilisation" not in out.read_text(encoding="utf-8")


def test_a_scheduled_runs_rb_usage_is_saved_and_reported(tmp_path):
    # a slot scheduler: RB usage by AP and SINR in the run directory, each cell's RB
    # utilisation in the report's cell table and the per-RB SINR CDF in its radio figure
    from netsim.analysis import load_run

    res = Simulation(tiny(protocol={"rounds": 1}, radio={"scheduler": "rr"})).run()
    assert len(res.rb_usage) and (res.rb_usage.rb_slots > 0).all()
    res.save(tmp_path / "rr")
    assert (tmp_path / "rr" / "rb_usage.parquet").is_file()
    assert load_run(tmp_path / "rr").rb_usage.equals(res.rb_usage)
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "rr"), "--out", str(out)]) == 0
    assert "<th>rb_utilisation_uplink</th>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "sets", "sections"),
    [
        (
            "nr-hex",  # PF over NR on 21 sectors: the radio section with the NR link table
            ['radio.link="nr"', 'radio.scheduler="pf"'],
            ["nr-hex: radio</h3>", "NR links: first-transmission BLER", "rb_utilisation_uplink"],
        ),
        (
            "pius-1000",  # 1,000 PIUs on 57 sectors, all training: every figure still reads
            ["topology.sites=19", "topology.num_pius=1000", "protocol.clients_per_round=1000"],
            ["round timeline (1000 PIUs: zoom or pan for the others)", "energy per PIU"],
        ),
    ],
)
def test_reports_of_an_nr_hex_run_and_of_1000_pius_render(tmp_path, name, sets, sections):
    # the must-hold: each section present where its data exists, each figure
    # decoded or drawn in a real browser, no script error, nothing overflowing its column
    from netsim import load_scenario

    base = ["protocol.rounds=1", 'learning.model="linear"', "learning.local_steps=1"]
    Simulation(load_scenario("hex_umi", [*base, *sets])).run().save(tmp_path / name)
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / name), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for section in sections:
        assert section in page, section
    images, broken, errors, overflow, plots, drawn = _render(page, tmp_path)
    assert images >= 4 and (broken, errors, overflow) == (0, 0, 0) and plots == drawn == 2
