"""The hexagonal multi-cell layout: sites, cells, sectors and wrap-around, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from netsim.topologies import positions
from netsim.topologies.builders import axial_to_xy, azimuths, hex_sites, hex_wrap_offsets

from netsim.assembly.topology import build_topology
from netsim.radio.largescale import LargeScaleGains
from netsim.radio.pathloss import single_state
from netsim.rng import Streams
from netsim.scenario import BackhaulConfig, HexTopology, ScenarioError, load_scenario

ISD = 200.0


def test_sites_sit_on_the_hexagonal_grid():
    seven = np.linalg.norm(axial_to_xy(hex_sites(1), ISD), axis=1)
    assert seven[0] == 0.0 and seven[1:] == pytest.approx([ISD] * 6)
    ring2 = np.sort(np.linalg.norm(axial_to_xy(hex_sites(2), ISD), axis=1)[7:])
    assert ring2 == pytest.approx([np.sqrt(3) * ISD] * 6 + [2 * ISD] * 6)
    # the layout's images are sqrt(N) ISD away (N = 7, 19 sites per cluster)
    for rings, n in ((1, 7), (2, 19)):
        images = np.linalg.norm(hex_wrap_offsets(rings, ISD), axis=1)
        assert images[1:] == pytest.approx([np.sqrt(n) * ISD] * 6)


@pytest.mark.parametrize(("sites", "sectors"), [(7, 1), (19, 3)])
def test_pius_fall_in_the_cells_and_sectors_face_their_azimuths(sites, sectors):
    cfg = HexTopology(kind="hex", num_pius=300, sites=sites, sectors=sectors, isd_m=ISD)
    graph = build_topology(cfg, BackhaulConfig(), Streams(3))
    ap_xy, _ = positions(graph, "ap")
    piu_xy, _ = positions(graph, "piu")
    assert len(ap_xy) == sites * sectors and len(piu_xy) == 300
    d = np.linalg.norm(piu_xy[:, None, :] - ap_xy[None, :, :], axis=-1).min(axis=1)
    assert (d >= cfg.min_distance_m).all() and (d <= ISD / np.sqrt(3) + 1e-9).all()
    az = azimuths(graph)
    if sectors == 1:
        assert np.isnan(az).all()
    else:
        assert az[:3].tolist() == [30.0, 150.0, 270.0]


def test_sector_pattern_and_wrap_around_by_hand():
    flat = lambda d2, d3, h_ap, h_ut: single_state(np.zeros_like(d3), 0.0)  # noqa: E731
    ap = (np.zeros((1, 2)), np.array([10.0]))
    angles = np.radians([30.0, 62.5, 210.0])  # boresight, 32.5 degrees off, behind
    pius = 50.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    g = LargeScaleGains(
        *ap, pius, np.ones(3), flat, Streams(0), shadowing_std_db=0.0,
        ap_azimuth_deg=np.array([30.0]),
    )  # fmt: skip
    assert 10 * np.log10(g.gain[:, 0]) == pytest.approx([8.0, 8.0 - 3.0, 8.0 - 30.0])
    # wrap-around: a PIU beyond the edge is near an image of the far site
    offsets = hex_wrap_offsets(1, ISD)
    far = axial_to_xy(hex_sites(1), ISD)[[4]]  # the site at (+ISD, 0)
    piu = np.array([[-1.2 * ISD, 0.0]])
    wrapped = LargeScaleGains(
        far, np.array([10.0]), piu, np.ones(1), lambda d2, d3, a, u: single_state(d2, 0.0),
        Streams(0), shadowing_std_db=0.0, wrap_offsets_m=offsets,
    )  # fmt: skip
    nearest = np.linalg.norm(piu - (far + offsets), axis=1).min()
    assert -10 * np.log10(wrapped.gain[0, 0]) == pytest.approx(nearest)  # loss = 2D distance
    assert nearest < np.linalg.norm(piu - far)


def test_a_cell_too_small_for_the_minimum_distance_is_refused():
    with pytest.raises(ScenarioError, match="topology.min_distance_m = 150.0"):
        load_scenario(None, ['topology={kind="hex", isd_m=200, min_distance_m=150}'])
