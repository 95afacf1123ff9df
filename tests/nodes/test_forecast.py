"""The closed loop: predictive selection on forecast SNRs (netsim/nodes/forecast.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation, load_scenario
from netsim.scenario import ScenarioError

SNR_RUN = [
    'learning.task="snr"',
    "learning.radio_data={samples_per_piu = 40, interval_s = 0.5, snr_window = 4}",
    'protocol.selection="predictive"',
    "protocol.clients_per_round=5",
    "protocol.rounds=2",
    "learning.local_steps=2",
]


def _scenario(*more: str):
    return load_scenario("topologies/street_localization.toml", [*SNR_RUN, *more])


def _candidates(res):
    c = res.events[res.events.event == "candidate"]
    return c.assign(piu=c.peer.str[3:].astype(int))


def test_the_forecasts_are_the_measurements_and_the_runs_own_model():
    sim = Simulation(_scenario())
    forecast = sim.world.server.protocol.forecast
    meter = forecast.meter
    # history: the SNR measured every interval up to now, times before 0 taken at 0
    now = 1.2
    times = np.maximum(now - 0.5 * np.arange(3, -1, -1), 0.0)  # 0, 0.2, 0.7, 1.2
    xy = np.array([forecast.position(3, t) for t in times])
    assert np.array_equal(forecast.history(3, now), meter.measure(3, xy, times).snr_db)
    later = np.array([forecast.position(3, now + 0.5)])
    assert forecast.truth(3, now) == meter.measure(3, later, np.array([now + 0.5])).snr_db[0]
    # the model: the global model on the standardised history, de-standardised
    task, weights = forecast.task, sim.world.server.weights
    x = (forecast.history(3, now) - task.feature_mean) / task.feature_scale
    out = sim.world.trainer.predict(weights, torch.tensor(x, dtype=torch.float32)[None, None, None])
    expected = float(out[0, 0]) * task.target_scale + task.target_mean[0]
    assert forecast.predict([3], now, weights)[0] == pytest.approx(expected, rel=1e-12)


def test_every_decision_is_logged_with_the_prediction_behind_it():
    res = Simulation(_scenario()).run()
    c = _candidates(res)
    assert len(c) == 2 * 30 and set(c.method) == {"predictive"}  # 30 PIUs, 2 rounds
    assert (c.groupby("round").reason.apply(lambda r: (r == "selected").sum()) == 5).all()
    said = c.detail.str.extract(r"\(model: (-?[\d.]+) dB forecast, (-?[\d.]+) dB true\)")
    np.testing.assert_allclose(said[0].astype(float), c.snr_db, atol=0.005)
    assert np.isfinite(said[1].astype(float)).all()
    # the selected are the earliest predicted finishes of each round
    for _, rnd in c.groupby("round"):
        chosen = set(rnd[rnd.reason == "selected"].piu)
        assert chosen == set(rnd.sort_values(["duration_s", "piu"]).piu[:5])


def test_the_oracle_avoids_every_outage_it_is_told_of():
    free = _candidates(Simulation(_scenario('protocol.predictor="oracle"')).run())
    target = float(free[free["round"] == 0].rate_bps.median())  # half the PIUs below it
    res = Simulation(
        _scenario('protocol.predictor="oracle"', f"radio.target_rate_bps={target}")
    ).run()
    c = _candidates(res)
    told = c.rate_bps < target
    assert told.any() and (~told).sum() >= 5 * 2
    assert set(c.reason[told]) == {"outage"}  # every PIU forecast below the rate ...
    assert not (c.reason[told] == "selected").any()  # ... is passed over
    # and the oracle's forecast is the SNR that came true
    truth = c.detail.str.extract(r"forecast, (-?[\d.]+) dB true")[0].astype(float)
    np.testing.assert_allclose(c.snr_db, truth, atol=0.005)


def test_predictive_selection_names_what_it_needs():
    with pytest.raises(ScenarioError, match="learning.task = 'localization'.*'snr'"):
        load_scenario("topologies/street_localization.toml", ['protocol.selection="predictive"'])
    with pytest.raises(ScenarioError, match="radio.spatial_consistency_m"):
        load_scenario(None, ['protocol.selection="predictive"', 'protocol.predictor="oracle"'])


def test_a_predictive_deadline_waits_as_long_as_the_slowest_is_forecast_to_take():
    res = Simulation(_scenario("protocol.predictive_deadline=1.5")).run()
    c, e = _candidates(res), res.events
    deadlines = e[e.event == "deadline"]
    assert len(deadlines) == 2 and set(deadlines.method) == {"predictive"}
    for (r, rnd), (_, d) in zip(c.groupby("round"), deadlines.iterrows(), strict=True):
        slowest = rnd[rnd.reason == "selected"].duration_s.max()
        assert d["round"] == r and d.duration_s == pytest.approx(1.5 * slowest, rel=1e-12)
    with pytest.raises(ScenarioError, match="protocol.predictive_deadline"):
        load_scenario(None, ["protocol.predictive_deadline=1.5"])
