"""The report screenshots of docs/guides/reports.md: runs the two example runs, writes their
reports and photographs each in headless Chromium (``python docs/make_screenshots.py``;
needs ``chromium`` on PATH; about a minute on 2 cores).

* an NR hex run: ``hex_umi``, PF over NR links, 2 rounds: the radio section (SINR per
  transmission and per RB, MCS, cell table with RB utilisation, first-transmission BLER);
* ``three_tier`` with background traffic on the gateway's uplink, 1 round: the backhaul
  section (link utilisation over time, background shaded).

With plotly installed (the ``report`` extra) their latency CDFs and timelines are the
interactive ones.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from netsim import Simulation, load_scenario
from netsim.cli import main as netsim

RUNS = {
    "report-nr-hex": ("hex_umi", ["protocol.rounds=2", 'learning.model="mlp"',
                                  'radio.link="nr"', 'radio.scheduler="pf"']),
    "report-three-tier": ("three_tier", [
        "protocol.rounds=1", 'learning.model="mlp"',
        'backhaul.background=[{src="gateway", dst="server", rate_bps=2e8, on_s=0.05, '
        "off_s=0.05}]",
    ]),
}  # fmt: skip
OUT = Path(__file__).parent / "guides" / "img"


def main() -> None:
    """Run, report and photograph each of :data:`RUNS` into :data:`OUT`."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (scenario, sets) in RUNS.items():
            run = Path(tmp) / name
            Simulation(load_scenario(scenario, sets)).run().save(run)
            page = Path(tmp) / f"{name}.html"
            assert netsim(["report", str(run), "--out", str(page)]) == 0
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--virtual-time-budget=5000",  # plotly draws the interactive figures
                 "--window-size=1100,4200", f"--screenshot={OUT / (name + '.png')}",
                 page.as_uri()],
                check=True, capture_output=True,
            )  # fmt: skip
            print(f"wrote {OUT / (name + '.png')}")


if __name__ == "__main__":
    main()
