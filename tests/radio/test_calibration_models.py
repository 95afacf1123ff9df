"""The TR 38.901 pieces of the system-level calibration, checked by hand: UMa path loss, the
3D sector antenna, the O2I penetration loss, per-site large-scale draws and indoor PIUs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim import load_scenario
from netsim.assembly.radio import Air
from netsim.radio.antenna import SectorAntenna, column_factor_db, element_gain_db
from netsim.radio.largescale import LargeScaleGains, draw_indoor, site_ids
from netsim.radio.pathloss import o2i_loss_db, uma_38901, umi_38901
from netsim.rng import Streams
from netsim.scenario import ScenarioError

C = 299_792_458.0


def _uma_by_hand(d2d: float, h_bs: float, h_ut: float, fc_ghz: float) -> tuple[float, float]:
    d3d = math.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    d_bp = 4 * (h_bs - 1) * (h_ut - 1) * fc_ghz * 1e9 / C
    if d2d <= d_bp:
        los = 28 + 22 * math.log10(d3d) + 20 * math.log10(fc_ghz)
    else:
        los = (
            28 + 40 * math.log10(d3d) + 20 * math.log10(fc_ghz)
            - 9 * math.log10(d_bp**2 + (h_bs - h_ut) ** 2)
        )  # fmt: skip
    nlos = 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    return los, max(los, nlos)


@pytest.mark.parametrize("d2d", [40.0, 100.0, 300.0, 1500.0])
def test_uma_path_loss_is_the_tr_formula(d2d):
    los, nlos = _uma_by_hand(d2d, 25.0, 1.5, 6.0)
    got = uma_38901(np.array([d2d]), np.array([math.hypot(d2d, 23.5)]), 6e9, 25.0, 1.5)
    assert got.loss_los_db[0] == pytest.approx(los, abs=1e-9)
    assert got.loss_nlos_db[0] == pytest.approx(nlos, abs=1e-9)
    assert got.sigma_los_db[0] == 4.0 and got.sigma_nlos_db[0] == 6.0


def test_uma_values_and_los_probability():
    got = uma_38901(np.array([100.0, 1500.0]), np.hypot([100.0, 1500.0], 23.5), 6e9, 25.0, 1.5)
    # 28 + 22 log10(102.72) + 20 log10(6); beyond d'_BP = 960.6 m the 40 dB/decade slope
    assert got.loss_los_db == pytest.approx([87.8198, 116.9202], abs=1e-3)
    assert got.loss_nlos_db[0] == pytest.approx(107.7192, abs=1e-3)
    # 18/100 + exp(-100/63) (1 - 18/100)
    assert got.p_los[0] == pytest.approx(0.18 + math.exp(-100 / 63) * 0.82, abs=1e-12)
    # a UT at 22.5 m: C' = (0.95)^1.5, times 1 + C' 5/4 (1)^3 exp(-100/150)
    high = uma_38901(np.array([100.0]), np.array([100.03]), 6e9, 25.0, 22.5).p_los[0]
    factor = 1 + 0.95**1.5 * 1.25 * math.exp(-100 / 150)
    assert high == pytest.approx((0.18 + math.exp(-100 / 63) * 0.82) * factor, abs=1e-12)
    assert uma_38901(np.array([15.0]), np.array([27.9]), 6e9, 25.0, 1.5).p_los[0] == 1.0


def test_element_pattern_cuts_and_gain():
    assert element_gain_db(90.0, 0.0) == pytest.approx(8.0)  # boresight: 8 dBi
    assert element_gain_db(90.0, 65.0) == pytest.approx(-4.0)  # 12 dB down at 65 degrees
    assert element_gain_db(90.0 + 65.0, 0.0) == pytest.approx(-4.0)
    assert element_gain_db(90.0, -32.5) == pytest.approx(8.0 - 3.0)  # the 3 dB half width
    assert element_gain_db(90.0, 180.0) == pytest.approx(8.0 - 30.0)  # front-back
    assert element_gain_db(180.0, 180.0) == pytest.approx(8.0 - 30.0)  # total capped at 30


def test_column_with_downtilt():
    antenna = SectorAntenna(rows=10, spacing_wavelengths=0.5, downtilt_deg=102.0)
    # at the tilt the array adds 10 log10(10) dB to the element's 8 - 12 (12/65)^2 dBi
    assert antenna.gain_db(np.array(102.0), np.array(0.0)) == pytest.approx(
        8 - 12 * (12 / 65) ** 2 + 10.0, abs=1e-9
    )
    # the horizon: Dirichlet kernel sin^2(M psi / 2) / (M sin^2(psi / 2)),
    # psi = 2 pi 0.5 (cos 90 - cos 102)
    psi = math.pi * (0.0 - math.cos(math.radians(102.0)))
    af = math.sin(10 * psi / 2) ** 2 / (10 * math.sin(psi / 2) ** 2)
    assert column_factor_db(90.0, 10, 0.5, 102.0) == pytest.approx(10 * math.log10(af), abs=1e-9)
    assert column_factor_db(90.0, 1, 0.5, 102.0) == pytest.approx(0.0, abs=1e-12)


def test_o2i_low_and_high_loss():
    lg, li, lc = 2 + 0.2 * 6, 23 + 0.3 * 6, 5 + 4 * 6  # 6 GHz
    low = 5 - 10 * math.log10(0.3 * 10 ** (-lg / 10) + 0.7 * 10 ** (-lc / 10))
    high = 5 - 10 * math.log10(0.7 * 10 ** (-li / 10) + 0.3 * 10 ** (-lc / 10))
    assert o2i_loss_db(6e9, 0.0, False) == pytest.approx(low, abs=1e-9)
    assert low == pytest.approx(13.40, abs=0.01)
    assert o2i_loss_db(6e9, 10.0, True) == pytest.approx(high + 5.0, abs=1e-9)
    assert high == pytest.approx(30.69, abs=0.01)


def _sectors(per_site: bool) -> LargeScaleGains:
    ap_xy = np.repeat([[0.0, 0.0], [200.0, 0.0], [100.0, 173.2]], 3, axis=0)
    rng = np.random.default_rng(1)
    piu_xy = rng.uniform(-100, 300, (40, 2))

    def loss(d2, d3, ha, hu):
        return umi_38901(d2, d3, 6e9, ha, hu)

    return LargeScaleGains(
        ap_xy, np.full(9, 10.0), piu_xy, np.full(40, 1.5), loss, Streams(3),
        ap_azimuth_deg=np.tile([30.0, 150.0, 270.0], 3),
        ap_site=site_ids(ap_xy) if per_site else None,
    )  # fmt: skip


def test_co_sited_sectors_share_los_and_shadowing_per_site():
    g = _sectors(per_site=True)
    for site in range(3):
        cols = slice(3 * site, 3 * site + 3)
        assert (g.los[:, cols] == g.los[:, [3 * site]]).all()
        assert (g.shadow_db[:, cols] == g.shadow_db[:, [3 * site]]).all()
    per_link = _sectors(per_site=False)  # today's draws: the sectors differ
    assert not (per_link.shadow_db[:, 0] == per_link.shadow_db[:, 1]).all()


def test_indoor_draws():
    ind = draw_indoor(np.full(4000, 1.5), 0.8, 0.5, 25.0, 6e9, Streams(0))
    assert ind.indoor.mean() == pytest.approx(0.8, abs=4 * math.sqrt(0.16 / 4000))
    assert (ind.height_m[~ind.indoor] == 1.5).all()
    assert set(np.unique(ind.height_m[ind.indoor])) <= {1.5 + 3 * f for f in range(8)}
    assert (ind.distance_m[~ind.indoor] == 0).all() and ind.distance_m.max() <= 25.0
    # the smaller of two uniforms on [0, 25]: mean 25 / 3
    assert ind.distance_m[ind.indoor].mean() == pytest.approx(25 / 3, rel=0.05)
    assert not ind.high_loss[~ind.indoor].any()


def test_scenario_switches_them_on_and_refuses_inert_settings():
    sets = [
        "radio.large_scale_per_site=true",
        'radio.pathloss={model="uma_38901"}',
        "radio.indoor={fraction=0.8}",
        "radio.sector_antenna={rows=10}",
        "radio.carrier_hz=6e9",
        "topology.isd_m=500",
        "topology.ap_height_m=25",
        "topology.min_distance_m=35",
    ]
    s = load_scenario("hex_umi", sets)
    air = Air.build(s, Streams(s.seed))
    g = air.gains
    assert (g.los[:, 0::3] == g.los[:, 1::3]).all()
    assert (g.shadow_db[:, 0::3] == g.shadow_db[:, 2::3]).all()
    assert (g.piu_height_m > 1.5).any()
    # an indoor PIU's penetration loss is its building's: one value for all its links (TR
    # 38.901 7.4.3.1, UT-specific), so the best site cannot pick a lucky wall
    o2i = g._o2i_db
    inside = g.indoor.indoor
    assert inside.any() and (o2i[inside] == o2i[inside][:, :1]).all()
    assert np.unique(o2i[inside][:, 0]).size == inside.sum()  # its own deviation each
    assert (o2i[~inside] == 0).all()
    with pytest.raises(ScenarioError, match="indoor"):
        load_scenario("hex_umi", ["radio.indoor={fraction=0.8}"])
    with pytest.raises(ScenarioError, match="sector_antenna"):
        load_scenario("hex_umi", ["topology.sectors=1", "radio.sector_antenna={rows=10}"])
