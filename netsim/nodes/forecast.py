"""The closed loop of FL for wireless (issue 23): the server forecasts each candidate
PIU's serving-link SNR and selects by it (``protocol.selection = "predictive"``).

At a round's start t each candidate reports its last ``window`` SNR measurements, taken
every ``interval_s`` up to t (``netsim/radio/measurement.py``: the same quantity as the
"snr" radio task's inputs; times before 0 are taken at 0), and the server predicts the SNR
one interval ahead, at ``t + interval_s``, with:

* "model": the run's own global model, the federated SNR predictor being learned
  (``learning.task = "snr"``): what was learned drives the network in the same run;
* "last_value": the most recent measurement (persistence);
* "oracle": the true SNR at ``t + interval_s`` (a perfect predictor, for comparison).

The log keeps every decision and the prediction behind it (``candidate`` events).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from netsim.learn.radio_tasks import RadioTask
from netsim.learn.trainer import Trainer
from netsim.radio.measurement import RadioMeter

PREDICTORS = ("model", "last_value", "oracle")


@dataclass(frozen=True)
class SNRForecast:
    """Predicted SNR (dB, over the whole band at the data set's transmit power) of PIUs one
    ``interval_s`` ahead (module docstring).

    meter: the PIUs' measurements; position: ``(piu, t) -> (2,)`` where a PIU is at t;
    predictor: one of :data:`PREDICTORS`; bandwidth_hz: the band the forecast SNR's noise
    is over; target_rate_bps: fixed-rate links' rate (an upload below it is in outage), or
    None; trainer, task: the run's model and the standardisation of its inputs and outputs
    ("model" only)."""

    meter: RadioMeter
    position: Callable[[int, float], np.ndarray]
    interval_s: float
    window: int
    predictor: str
    bandwidth_hz: float
    target_rate_bps: float | None = None
    trainer: Trainer | None = None
    task: RadioTask | None = None

    def rate_bps(self, snr_db: float, power_w: float, band_hz: float) -> float:
        """Shannon rate (bit/s) of a PIU sending at ``power_w`` on ``band_hz`` when the
        forecast SNR (at the meter's power, over ``bandwidth_hz``) is ``snr_db``."""
        snr = 10 ** (snr_db / 10) * (power_w / self.meter.piu_power_w)
        return band_hz * math.log2(1 + snr * self.bandwidth_hz / band_hz)

    def history(self, piu: int, now: float) -> np.ndarray:
        """(window,) PIU ``piu``'s SNR measurements (dB) up to ``now``, oldest first."""
        times = np.maximum(now - self.interval_s * np.arange(self.window - 1, -1, -1), 0.0)
        return self._snr(piu, times)

    def truth(self, piu: int, now: float) -> float:
        """The SNR (dB) PIU ``piu`` will measure at ``now + interval_s``."""
        return float(self._snr(piu, np.array([now + self.interval_s]))[0])

    def predict(self, pius: Sequence[int], now: float, weights: torch.Tensor) -> np.ndarray:
        """(len(pius),) predicted SNR (dB) at ``now + interval_s``."""
        if self.predictor == "oracle":
            return np.array([self.truth(k, now) for k in pius])
        history = np.array([self.history(k, now) for k in pius])  # (n, window)
        if self.predictor == "last_value":
            return history[:, -1]
        assert self.trainer is not None and self.task is not None
        x = (history - self.task.feature_mean) / self.task.feature_scale
        out = self.trainer.predict(weights, torch.from_numpy(x.astype(np.float32))[:, None, None])
        snr = out[:, 0].double().cpu().numpy()
        return snr * self.task.target_scale + self.task.target_mean[0]

    def _snr(self, piu: int, times: np.ndarray) -> np.ndarray:
        xy = np.array([self.position(piu, float(t)) for t in times])
        return self.meter.measure(piu, xy, times).snr_db
