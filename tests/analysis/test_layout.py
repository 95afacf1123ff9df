"""The layout figure (netsim topo show) reads: sites once, sector boresights, cell
outlines, legends outside the axes, link loads in Mbit."""

from __future__ import annotations

import numpy as np
import pytest
from netsim.analysis.breakdown import link_loads
from netsim.analysis.topology import layout_figure

from netsim import Simulation, load_scenario


def test_a_sectored_hex_layout_shows_sites_boresights_and_cells():
    sim = Simulation(load_scenario("hex_umi", ["protocol.rounds=1"]))
    fig = layout_figure(sim)
    ax = fig.axes[0]
    assert "21 APs at 7 sites" in ax.get_title()
    # 7 cell outlines (hexagons: 7 corners, the first repeated), one per site
    hexagons = [ln for ln in ax.lines if len(ln.get_xdata()) == 7]
    assert len(hexagons) == 7
    corners = np.column_stack([hexagons[0].get_xdata(), hexagons[0].get_ydata()])
    centre = corners[:-1].mean(axis=0)
    radius = np.linalg.norm(corners[:-1] - centre, axis=1)
    assert radius == pytest.approx(np.full(6, 200.0 / np.sqrt(3)))  # ISD / sqrt(3)
    # corners at 30 + 60 k degrees: each edge faces a neighbouring site (0, 60, ... degrees)
    angles = np.degrees(np.arctan2(*(corners[:-1] - centre).T[::-1])) % 360
    assert np.sort(angles) == pytest.approx([30, 90, 150, 210, 270, 330])
    arrows = [c for c in ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(arrows) == 1 and arrows[0].N == 21  # a boresight per sector
    fig.canvas.draw()
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y1 <= frame.y0  # below the axes: it covers no PIU


def test_backhaul_labels_carry_mbit_and_every_role_is_in_the_legend(tmp_path):
    scenario = load_scenario("three_tier", ["protocol.rounds=1"])
    result = Simulation(scenario).run()
    loads = link_loads(result.events)
    fig = layout_figure(Simulation(scenario), loads, result.sim_time_s)
    wired = fig.axes[1]
    texts = [t.get_text() for t in wired.texts]
    assert any("Mbit" in t for t in texts) and not any(" MB" in t for t in texts)
    names = [t.get_text() for t in wired.get_legend().get_texts()]
    assert names == ["AP", "server", "switch", "edge server"]
