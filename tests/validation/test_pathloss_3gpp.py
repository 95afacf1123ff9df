"""Path-loss models against hand-computed values of their formulas (PHYSICS.md section 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsim.radio.pathloss import (
    cellfree_book_db,
    inf_38901,
    ngo_3slope_db,
    umi_38901,
)

FC_INF = 3.5e9


def _inf(variant, d2d, h_bs=8.0, h_ut=1.5, r=0.2, h_c=2.0, d_clutter=10.0):
    d3d = math.hypot(d2d, h_bs - h_ut)
    return inf_38901(
        np.array([d2d]), np.array([d3d]), FC_INF, h_bs, h_ut, variant, r, h_c, d_clutter
    )


def test_cellfree_book_at_100_m():
    assert float(cellfree_book_db(100.0)) == pytest.approx(103.9)  # 30.5 + 36.7 x 2


def test_inf_los_check_value():
    # 31.84 + 21.50 log10(10) + 19.00 log10(3.5) = 63.6773 dB (PHYSICS.md check)
    out = inf_38901(np.array([10.0]), np.array([10.0]), FC_INF, 8, 1.5, "SL", 0.2, 2, 10)
    assert out.loss_los_db[0] == pytest.approx(63.6773, abs=1e-4)


@pytest.mark.parametrize(
    ("variant", "d3d", "expected"),
    [
        # SL at 100 m: 33 + 25.5 x 2 + 20 log10 3.5 = 94.8814 (> LOS 85.1773)
        ("SL", 100.0, 94.8814),
        # DL at 100 m: 18.6 + 35.7 x 2 + 10.8814 = 100.8814
        ("DL", 100.0, 100.8814),
        # DL at 10 m: own 65.1814 < SL 69.3814 -> the SL value
        ("DL", 10.0, 69.3814),
        # SH at 50 m: 32.4 + 23 log10 50 + 10.8814 = 82.3577
        ("SH", 50.0, 82.3577),
        # DH at 50 m: 33.63 + 21.9 log10 50 + 10.8814 = 81.7188
        ("DH", 50.0, 81.7188),
    ],
)
def test_inf_nlos_hand_values(variant, d3d, expected):
    out = inf_38901(np.array([d3d]), np.array([d3d]), FC_INF, 8, 1.5, variant, 0.2, 2, 10)
    assert out.loss_nlos_db[0] == pytest.approx(expected, abs=1e-3)


def test_inf_los_probability():
    # SL: exp(-d / k), k = -d_clutter / ln(1 - r)  =>  (1 - r)^(d / d_clutter) = 0.8^5
    assert _inf("SL", 50.0).p_los[0] == pytest.approx(0.8**5, rel=1e-12)
    # SH: k times (h_BS - h_UT) / (h_c - h_UT) = 6.5 / 0.5 = 13
    assert _inf("SH", 50.0).p_los[0] == pytest.approx(0.8 ** (5 / 13), rel=1e-12)
    assert (_inf("DL", 30.0).sigma_nlos_db[0], _inf("DL", 30.0).sigma_los_db[0]) == (7.2, 4.3)


def test_umi_los_below_and_above_breakpoint_and_nlos():
    h_bs, h_ut, fc = 10.0, 1.5, 3.5e9
    d2d = np.array([100.0, 300.0])
    d3d = np.hypot(d2d, h_bs - h_ut)
    out = umi_38901(d2d, d3d, fc, h_bs, h_ut)
    # d'_BP = 4 x 9 x 0.5 x 3.5e9 / c = 210.14 m
    assert out.loss_los_db[0] == pytest.approx(85.3142, abs=1e-3)  # PL1 at d3D 100.36 m
    assert out.loss_los_db[1] == pytest.approx(98.2388, abs=1e-3)  # PL2 at d3D 300.12 m
    assert out.loss_nlos_db[0] == pytest.approx(104.6438, abs=1e-3)
    assert tuple(out.sigma_los_db) == (4.0, 4.0) and tuple(out.sigma_nlos_db) == (7.82, 7.82)


def test_umi_los_probability():
    out = umi_38901(np.array([10.0, 50.0]), np.array([13.0, 50.7]), 3.5e9, 10.0, 1.5)
    assert out.p_los[0] == 1.0
    assert out.p_los[1] == pytest.approx(18 / 50 + math.exp(-50 / 36) * (1 - 18 / 50))
    assert out.p_los[1] == pytest.approx(0.519585, abs=1e-6)


@pytest.mark.parametrize(
    ("d_m", "expected"),
    [(100.0, 105.7152), (30.0, 90.7422), (5.0, 81.1998)],  # beyond d1, between, below d0
)
def test_ngo_three_slope(d_m, expected):
    # f = 1900 MHz, h_AP 15 m, h_u 1.65 m: L = 140.7152 dB
    assert float(ngo_3slope_db(d_m, 1.9e9, 15.0, 1.65)) == pytest.approx(expected, abs=1e-3)


def _many_pius(radio: dict, positions: list[list[float]]):
    from netsim import Simulation
    from tests.conftest import tiny

    base = tiny()
    topo = {
        **base.topology.model_dump(),
        "piu_positions_m": positions,
        "ap_height_m": 10.0,
        "piu_height_m": 1.5,
    }
    return Simulation(tiny(topology=topo, radio={**base.radio.model_dump(), **radio}))


def test_los_states_follow_the_los_probability():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-150, 150, size=(400, 2)).tolist()
    sim = _many_pius({"pathloss": {"model": "umi_38901"}, "carrier_hz": 3.5e9}, xy)
    d2d = np.linalg.norm(np.asarray(xy), axis=1)
    d3d = np.hypot(d2d, 8.5)
    p = umi_38901(d2d, d3d, 3.5e9, 10.0, 1.5).p_los
    los = sim.los[:, 0]
    assert abs(los.mean() - p.mean()) < 4 * math.sqrt((p * (1 - p)).sum()) / len(p)


def test_correlated_shadowing_is_equal_for_colocated_pius_and_independent_far_apart():
    xy = [[30.0, 0.0], [30.0, 0.0], [5000.0, 0.0]]
    radio = {
        "shadowing_std_db": 8.0,
        "shadowing_decorrelation_m": 9.0,
        "pathloss": {"model": "cellfree_book"},
    }
    sim = _many_pius(radio, xy)
    shadow_db = -10 * np.log10(sim.gain[:, 0]) - cellfree_book_db(
        np.hypot(np.asarray(xy)[:, 0], 8.5)
    )
    assert shadow_db[0] == pytest.approx(shadow_db[1], abs=1e-3)
    assert shadow_db[0] != pytest.approx(shadow_db[2], abs=1e-3)
