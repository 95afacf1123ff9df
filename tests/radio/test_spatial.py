"""Spatially consistent shadowing and LOS maps (TR 38.901 7.6.3) against their statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from netsim.radio.largescale import LargeScaleGains
from netsim.radio.pathloss import LinkLoss
from netsim.radio.spatial import GaussianField, los_state
from netsim.rng import Streams
from netsim.scenario import ScenarioError
from tests.conftest import tiny

D = 10.0  # decorrelation distance (m)


def _fields(n: int) -> list[GaussianField]:
    return [GaussianField(D, np.random.default_rng(i)) for i in range(n)]


@pytest.mark.parametrize("r", [0.0, 2.0, 10.0, 30.0])
def test_the_field_correlation_is_the_exponential_in_expectation(r):
    # E over the features of f(x) f(x + r) is exp(-r / d) exactly; each field gives one
    # product per point pair, pairs 1 km apart are nearly independent draws of it
    starts = np.stack([np.arange(20) * 1000.0, np.zeros(20)], axis=1)
    step = np.array([r / math.sqrt(2), r / math.sqrt(2)])
    products = np.array([f(starts) * f(starts + step) for f in _fields(400)]).ravel()
    se = products.std() / math.sqrt(products.size)  # pairs counted as independent draws
    assert products.mean() == pytest.approx(math.exp(-r / D), abs=5 * se + 0.01)


def test_each_field_is_zero_mean_unit_variance_and_gaussian():
    values = np.concatenate([f(np.array([[0.0, 0.0], [5e3, 5e3]])) for f in _fields(4000)])
    n = values.size
    assert abs(values.mean()) < 5 / math.sqrt(n)
    assert values.var() == pytest.approx(1.0, abs=5 * math.sqrt(2 / n))
    # a Gaussian's 2.5 % tails, to the binomial's standard error
    tail = np.mean(np.abs(values) > 1.959964)
    assert tail == pytest.approx(0.05, abs=5 * math.sqrt(0.05 * 0.95 / n))


def test_los_states_follow_the_probability_and_are_spatially_consistent():
    f = GaussianField(D, np.random.default_rng(7))
    far = np.stack([np.arange(4000) * 500.0, np.zeros(4000)], axis=1)
    p = np.full(4000, 0.3)
    assert los_state(f, far, p).mean() == pytest.approx(0.3, abs=5 * math.sqrt(0.21 / 4000))
    near = far + 0.01  # 1.4 cm away: nearly always the same state
    assert (los_state(f, far, p) == los_state(f, near, p)).mean() > 0.99
    assert np.array_equal(los_state(f, far, p), ndtr(f(far)) < 0.3)


def _gains(piu_xy: np.ndarray) -> LargeScaleGains:
    def loss(d2d, d3d, ap_h, ut_h):
        pl = 30.0 + 30.0 * np.log10(d3d)
        return LinkLoss(pl, pl + 15.0, np.exp(-d2d / 50.0), pl * 0 + 4.0, pl * 0 + 8.0)

    ap_xy = np.array([[0.0, 0.0], [100.0, 0.0], [50.0, 80.0]])
    return LargeScaleGains(
        ap_xy, np.full(3, 10.0), piu_xy, np.full(len(piu_xy), 1.5), loss, Streams(3),
        consistency_m=D,
    )  # fmt: skip


def test_links_depend_on_the_point_not_the_piu():
    xy = np.array([[20.0, 30.0], [60.0, 10.0], [20.0, 30.0]])  # PIUs 0 and 2 share a point
    g = _gains(xy)
    assert np.array_equal(g.gain[0], g.gain[2]) and np.array_equal(g.los[0], g.los[2])
    gain, los = g.links_at(xy, np.full(3, 1.5))
    assert np.array_equal(gain, g.gain) and np.array_equal(los, g.los)
    # a PIU that moves sees the links of its new point (mobility), exactly
    assert np.array_equal(g.gain_at(0, np.array([60.0, 10.0])), g.gain[1])
    # the same seed, the same maps
    assert np.array_equal(_gains(xy).gain, g.gain)


def test_spatial_consistency_excludes_the_other_shadowing_correlation():
    with pytest.raises(ScenarioError, match="shadowing_decorrelation_m"):
        tiny(radio={"spatial_consistency_m": 10.0, "shadowing_decorrelation_m": 9.0})


def test_los_correlation_distance_is_table_7_6_3_1_2s_per_scenario():
    """The LOS state's correlation distance: 50 m for UMi and UMa, d_clutter / 2 for InF
    (TR 38.901 Table 7.6.3.1-2), the shadowing's for a model without a table entry, the
    user's where given; refused without spatial consistency."""

    def los_m(pathloss: dict, **radio) -> float | None:
        return tiny(radio={"pathloss": pathloss, **radio}).radio.los_correlation

    on = {"spatial_consistency_m": 10.0}
    assert los_m({"model": "umi_38901"}, **on) == 50.0
    assert los_m({"model": "uma_38901"}, **on) == 50.0
    assert los_m({"model": "inf_38901", "clutter_size_m": 2.0}, **on) == 1.0
    assert los_m({"model": "inf_38901"}, **on) == 5.0  # d_clutter 10 m (InF-SL)
    assert los_m({"model": "log_distance"}, **on) == 10.0
    assert los_m({"model": "umi_38901"}, **on, los_correlation_m=20.0) == 20.0
    assert los_m({"model": "umi_38901"}) is None
    with pytest.raises(ScenarioError, match="los_correlation_m"):
        tiny(radio={"los_correlation_m": 20.0})


def test_the_los_field_decorrelates_over_its_own_distance():
    """The LOS map is drawn with its own distance and the shadowing map with the other: at
    one shadowing distance apart the shadowing fields correlate as exp(-1) and the LOS
    fields (50 m) as exp(-1/5), each to its sampling error."""
    starts = np.stack([np.arange(20) * 1000.0, np.zeros(20)], axis=1)
    step = np.array([D, 0.0])
    shadow, los = [], []
    for seed in range(150):
        g = LargeScaleGains(
            np.array([[0.0, 0.0]]), np.full(1, 10.0), starts, np.full(20, 1.5),
            _gains(starts[:1])._loss, Streams(seed), consistency_m=D, los_consistency_m=5 * D,
        )  # fmt: skip
        assert g._maps is not None
        s_map, l_map = g._maps[0]
        shadow.append(s_map(starts) * s_map(starts + step))
        los.append(l_map(starts) * l_map(starts + step))
    for products, expected in ((np.ravel(shadow), math.exp(-1)), (np.ravel(los), math.exp(-0.2))):
        se = products.std() / math.sqrt(products.size)
        assert products.mean() == pytest.approx(expected, abs=5 * se + 0.01)
