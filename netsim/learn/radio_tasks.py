"""Learning tasks on a radio data set (``netsim/assembly/radio_data.py``; FL for wireless):

* "localization": the position (x, y) from the received-power vector (regression of two
  outputs; metric: the Euclidean error in m);
* "los": whether the link to the serving AP is LOS, from the received-power vector
  (two classes);
* "snr": the serving-link uplink SNR of the next sample from the PIU's ``window`` previous
  ones (regression of one output; samples with fewer predecessors are dropped).

Features are standardised per column with the training rows' mean and deviation; regression
targets too, with one deviation for both coordinates of a position (distances keep their
shape: ``error_m = target_scale x |prediction - target|``). The PIU that measured a sample
is its group (the natural partition: each PIU learns from its own measurements).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RADIO_TASKS = ("localization", "los", "snr")


class RadioDataError(ValueError):
    """A radio data set that does not fit the task; the message says what is missing."""


@dataclass(frozen=True)
class RadioTask:
    """A task's arrays: x float32 (N, 1, 1, F); y int64 (N,) ("los"), float32 (N, 2)
    ("localization") or (N,) ("snr"), standardised; groups int64 (N,) the measuring PIU;
    test bool (N,) the data set's split; outputs: the model's output size; target_mean,
    target_scale: ``target = y target_scale + target_mean`` (regression; 0 and 1 for
    "los"); features: the feature names, standardised as ``(raw - feature_mean) /
    feature_scale`` (a model used at run time standardises its inputs the same way)."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    test: np.ndarray
    outputs: int
    target_mean: np.ndarray
    target_scale: float
    features: tuple[str, ...]
    feature_mean: np.ndarray  # (F,) of the training rows: x = (raw - mean) / scale
    feature_scale: np.ndarray  # (F,)


def radio_task(data: pd.DataFrame, task: str, window: int) -> RadioTask:
    """The arrays of ``task`` on the radio data set ``data`` (module docstring)."""
    rss = [c for c in data.columns if c.startswith("rss_dbm_")]
    needed = {"piu", "sample", "split", "x_m", "y_m", "serving_ap", "snr_db"}
    missing = sorted(needed - set(data.columns))
    if missing or not rss:
        raise RadioDataError(
            f"not a radio data set (netsim dataset radio): missing {missing or ['rss_dbm_*']}"
        )
    numeric = sorted(needed - {"split"}) + rss
    try:
        values = data[numeric].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise RadioDataError(f"columns {numeric} must be numeric") from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):  # one NaN position turns every loss into NaN
        row, col = bad[0]
        raise RadioDataError(
            f"row {row} has no finite value in column {numeric[col]!r} ({len(bad)} such cells)"
        )
    data = data.sort_values(["piu", "sample"], kind="stable").reset_index(drop=True)
    if task == "snr":
        return _snr(data, window)
    x = data[rss].to_numpy(dtype=float)
    train = (data.split != "test").to_numpy()
    if task == "los":
        serving = data.serving_ap.to_numpy()
        los = data[[f"los_{a}" for a in range(len(rss))]].to_numpy(dtype=bool)
        y = los[np.arange(len(data)), serving].astype(np.int64)
        return _task(x, y, data, train, 2, np.zeros(1), 1.0, tuple(rss))
    if task != "localization":
        raise RadioDataError(f"unknown radio task {task!r}; one of {RADIO_TASKS}")
    xy = data[["x_m", "y_m"]].to_numpy(dtype=float)
    mean = xy[train].mean(axis=0)
    scale = float(np.sqrt(((xy[train] - mean) ** 2).sum(axis=1).mean() / 2)) or 1.0
    return _task(x, (xy - mean) / scale, data, train, 2, mean, scale, tuple(rss))


def _snr(data: pd.DataFrame, window: int) -> RadioTask:
    """Each sample with ``window`` predecessors of its PIU: their SNRs -> its SNR."""
    snr = data.snr_db.to_numpy(dtype=float)
    rows, history = [], []
    for _, idx in data.groupby("piu", sort=True).indices.items():
        for i in range(window, len(idx)):
            rows.append(idx[i])
            history.append(snr[idx[i - window : i]])
    if not rows:
        raise RadioDataError(f"no PIU has more than window = {window} samples")
    keep = np.array(rows)
    sub = data.iloc[keep].reset_index(drop=True)
    x = np.array(history)
    train = (sub.split != "test").to_numpy()
    mean = snr[keep][train].mean()
    scale = float(snr[keep][train].std()) or 1.0
    names = tuple(f"snr_db_t-{window - j}" for j in range(window))
    return _task(x, (snr[keep] - mean) / scale, sub, train, 1, np.array([mean]), scale, names)


def _task(
    x: np.ndarray,
    y: np.ndarray,
    data: pd.DataFrame,
    train: np.ndarray,
    outputs: int,
    mean: np.ndarray,
    scale: float,
    names: tuple[str, ...],
) -> RadioTask:
    if not train.any():
        raise RadioDataError("the split leaves no training samples")
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
    sd[sd == 0] = 1.0  # a constant column stays 0
    features = ((x - mu) / sd).astype(np.float32)[:, None, None, :]
    target = y if y.dtype == np.int64 else y.astype(np.float32)
    groups = np.array(data.piu, dtype=np.int64)  # a writable copy (torch shares it)
    return RadioTask(features, target, groups, ~train, outputs, mean, scale, names, mu, sd)
