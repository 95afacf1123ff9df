"""Baselines of the radio tasks (analysis/radio.py)."""

from __future__ import annotations

import numpy as np

from analysis.radio import error_cdf, localization_baselines, localization_errors, snr_baselines
from netsim import Simulation, load_scenario

BASE = [
    "radio.spatial_consistency_m=10.0",
    'mobility={model = "random_waypoint", speed_mps = 3.0}',
    "learning.radio_data={samples_per_piu = 40}",
    'learning.dataset="radio"',
    'learning.model="mlp"',
    "protocol.rounds=2",
    "learning.local_steps=3",
]


def test_multilateration_is_exact_in_a_noiseless_world():
    s = load_scenario(
        "topologies/multi_ap.toml",
        [*BASE, 'learning.task="localization"', "radio.shadowing_std_db=0.0",
         'radio.fading="none"', 'radio.pathloss={model = "log_distance", exponent = 3.0}'],
    )  # fmt: skip
    table = localization_baselines(s).set_index("method")
    assert list(table.index) == ["centralised", "local-only", "kNN fingerprinting",
                                 "random forest", "ML lateration", "multilateration",
                                 "weighted centroid"]  # fmt: skip
    assert table.loc["multilateration", "p90_m"] < 1e-6
    assert table.loc["ML lateration", "p90_m"] < 1e-6
    # the fingerprints look positions up: this split's test rows lie where training rows
    # do, with the same noiseless powers (a random split measures a lookup, issue 41)
    lookups = ["kNN fingerprinting", "random forest"]
    assert (table.loc[lookups, "median_m"] < 1.0).all()
    exact = ["multilateration", "ML lateration"]
    assert (table.median_m > 1.0).drop(exact + lookups).all()  # the others only estimate


def test_snr_baselines_score_the_same_test_windows():
    s = load_scenario("topologies/multi_ap.toml", [*BASE, 'learning.task="snr"'])
    table = snr_baselines(s).set_index("method")
    assert list(table.index) == ["last value", "AR(8)", "training mean"]
    assert np.isfinite(table.rmse_db).all() and (table.rmse_db > 0).all()
    # the large-scale part of a moving PIU's SNR persists from sample to sample: AR uses
    # it, the mean cannot
    assert table.loc["AR(8)", "rmse_db"] < table.loc["training mean", "rmse_db"]


def test_the_error_cdf_of_a_runs_model_matches_its_rounds_table():
    s = load_scenario("topologies/multi_ap.toml", [*BASE, 'learning.task="localization"'])
    res = Simulation(s).run()
    errors = localization_errors(s, res.weights)
    assert res.rounds.test_median_error_m.iloc[-1] == np.percentile(errors, 50)
    cdf = error_cdf(errors)
    assert cdf.fraction.iloc[-1] == 1.0 and cdf.error_m.is_monotonic_increasing
    assert cdf.fraction.tolist() == [(i + 1) / len(errors) for i in range(len(errors))]
