"""Shared helpers: small, fast scenarios with fully predictable physics."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from netsim.radio.pathloss import dbm_to_w
from netsim.scenario import Scenario

# Three PIUs on a line from one AP at the origin; heights 0 so distances are exact.
LINE_POSITIONS = [[10.0, 0.0], [20.0, 0.0], [40.0, 0.0]]

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 7,
    "topology": {
        "kind": "explicit",
        "ap_positions_m": [[0.0, 0.0]],
        "piu_positions_m": LINE_POSITIONS,
        "ap_height_m": 0.0,
        "piu_height_m": 0.0,
    },
    "backhaul": {"capacity_bps": 1e8, "latency_s": 0.001},
    "radio": {
        "pathloss": {
            "model": "log_distance",
            "exponent": 3.0,
            "ref_distance_m": 1.0,
            "ref_loss_db": 40.0,
        },
        "shadowing_std_db": 0.0,
        "fading": "none",
        "bandwidth_hz": 1e6,
        "noise_psd_dbm_hz": -174.0,
        "noise_figure_db": 0.0,
        "access": "tdma",
        "ap_tx_power_dbm": 30.0,
    },
    "device": {"cpu_hz": 1e9, "cycles_per_sample": 2.5e7, "kappa": 1e-28, "tx_power_dbm": 20.0},
    "server": {"aggregation_s": 0.01},
    "protocol": {"rounds": 1},
    "learning": {
        "dataset": "digits",
        "model": "mlp",
        "local_steps": 1,
        "batch_size": 4,
        "optimizer": {"name": "sgd", "lr": 0.05},
    },
}


def tiny(**sections: dict[str, Any]) -> Scenario:
    """The TINY scenario with sections merged in (``tiny(protocol={"rounds": 3})``)."""
    data = copy.deepcopy(TINY)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return Scenario.from_dict(data)


def snr_linear(distance_m: float, tx_dbm: float, scenario: Scenario) -> float:
    """SNR of the TINY radio at a distance, by the textbook link budget."""
    radio = scenario.radio
    pl = radio.pathloss
    loss_db = pl.ref_loss_db + 10 * pl.exponent * math.log10(distance_m / pl.ref_distance_m)
    noise_w = dbm_to_w(radio.noise_psd_dbm_hz + radio.noise_figure_db) * radio.bandwidth_hz
    return dbm_to_w(tx_dbm - loss_db) / noise_w


@pytest.fixture
def tiny_scenario() -> Scenario:
    return tiny()


def training_roundoff(
    dtype: Any,
    steps: int,
    lr: float,
    summands: int,
    *,
    adaptive_eps: float | None = None,
    momentum: float = 0.0,
    scale: float = 1.0,
) -> float:
    """Largest weight difference (absolute) that the same training computed twice with
    sums in another order can show, from the arithmetic alone.

    Each step's gradient entry is a sum of at most ``summands`` products of magnitude up to
    ``scale``; recursive summation in floating point is exact to ``summands * u * scale``
    (Higham, Accuracy and Stability of Numerical Algorithms, 2002, eq. 4.4; ``u`` is the unit
    round-off of ``dtype``). Plain SGD moves a weight by ``lr`` times that, momentum
    accumulates it by at most ``1 / (1 - momentum)``; an adaptive optimiser (Adam, RMSprop,
    AdaDelta) divides the gradient by at least its ``adaptive_eps``, so a gradient error
    moves the weight by up to ``lr`` times the error over that eps. The errors of the steps
    add up.
    """
    import torch

    u = torch.finfo(dtype).eps / 2  # unit round-off
    per_gradient = summands * u * scale
    gain = 1.0 / adaptive_eps if adaptive_eps is not None else 1.0
    return steps * lr * gain * per_gradient / (1.0 - momentum)


def float32_atol(*tensors: Any, operations: int) -> float:
    """Round-off bound for float32 results of ``operations`` roundings (additions or
    multiplications, in any order) on values of the tensors' largest magnitude: each
    rounding errs by at most u = eps / 2 relative, and the errors add up (first order)."""
    import torch

    scale = max(float(t.abs().max()) for t in tensors)
    return operations * (torch.finfo(torch.float32).eps / 2) * max(scale, 1e-30)
