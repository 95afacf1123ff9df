"""Baselines of the radio tasks in the same harness as federated learning (issue 23):
centralised training on all the PIUs' data (the upper bound), local-only training (each PIU
alone), fingerprinting on the same received-power features (k-nearest neighbours with k
chosen by cross-validation on the training rows, a random forest; scikit-learn), and the
classical methods (maximum-likelihood and linearised multilateration, weighted centroid for
localization; last value and AR(p) for the SNR), scored on the same test rows as the
federated model.

    >>> from analysis.radio import error_cdf, localization_baselines, localization_errors
    >>> localization_baselines(scenario)          # a DataFrame: method, median_m, p90_m
    >>> error_cdf(localization_errors(scenario, result.weights))  # error_m, fraction
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from netsim.assembly.learning import radio_frame, radio_task_of
from netsim.learn.trainer import TrainJob
from netsim.radio.localization import (
    fit_log_distance,
    laterate_ml,
    multilaterate,
    ranges_m,
    weighted_centroid,
)
from netsim.radio.prediction import fit_ar, last_value, windows_of
from netsim.scenario import Scenario
from netsim.sim import Simulation


def _errors_row(method: str, errors: np.ndarray) -> dict[str, object]:
    median, p90 = np.percentile(errors, [50, 90])
    return {"method": method, "median_m": float(median), "p90_m": float(p90)}


def localization_errors(s: Scenario, weights: torch.Tensor) -> np.ndarray:
    """(N_test,) each test position's error (m) under the localization model ``weights``
    (a run's final ``result.weights``), sorted: its empirical CDF is ``(i + 1) / N``."""
    trainer = Simulation(s).world.trainer
    if trainer.position_scale is None:
        raise ValueError("localization errors need learning.task = 'localization'")
    return np.sort(trainer.position_errors(weights))


def error_cdf(errors: np.ndarray) -> pd.DataFrame:
    """The empirical CDF of errors: ``error_m`` sorted and ``fraction`` (i + 1) / N."""
    ordered = np.sort(np.asarray(errors, dtype=float))
    return pd.DataFrame(
        {"error_m": ordered, "fraction": np.arange(1, len(ordered) + 1) / len(ordered)}
    )


def localization_baselines(
    s: Scenario, steps: int | None = None, local_steps: int | None = None
) -> pd.DataFrame:
    """Test errors (m; median and 90th percentile) of: "centralised" (one model of the
    scenario's architecture and optimiser trained ``steps`` mini-batch steps on every
    training row; default rounds x local steps, the compute of one PIU in the federated
    run), "local-only" (each PIU's model trained ``local_steps`` (default ``steps``) on its
    own rows; the errors of all of them pooled), "kNN fingerprinting" (the mean position of
    the k training rows nearest in received power, dBm, k in :data:`KNN_K` by 5-fold
    cross-validation on the training rows), "random forest" (:data:`FOREST_TREES` trees on
    the same features, seeded by the scenario), "ML lateration"
    (:func:`~netsim.radio.localization.laterate_ml`: the maximum-likelihood position under
    the log-distance fit of the training rows),
    "multilateration" (that fit's ranges, the linearised least-squares positions) and
    "weighted centroid". ``s`` must be a localization task."""
    if s.learning.dataset != "radio" or s.learning.task != "localization":
        raise ValueError("localization baselines need learning.dataset = 'radio' and task = "
                         "'localization'")  # fmt: skip
    sim = Simulation(s)
    trainer, parts = sim.world.trainer, sim.partitions
    steps = steps or s.protocol.rounds * s.learning.local_steps
    local_steps = local_steps or steps
    start = trainer.initial_weights()
    rows = []
    everyone = np.concatenate(parts)
    central = trainer.submit(TrainJob(len(parts), 0, start, everyone, steps)).result()
    rows.append(_errors_row("centralised", trainer.position_errors(central.weights)))
    handles = [
        trainer.submit(TrainJob(k, 0, start, part, local_steps)) for k, part in enumerate(parts)
    ]
    local = np.concatenate([trainer.position_errors(h.result().weights) for h in handles])
    rows.append(_errors_row("local-only", local))
    frame = radio_frame(s)
    gains = sim.world.gains
    rss = frame.filter(like="rss_dbm_").to_numpy(dtype=float)
    xy = frame[["x_m", "y_m"]].to_numpy(dtype=float)
    test = (frame.split == "test").to_numpy()
    height = gains.piu_height_m[frame.piu.to_numpy()]
    dh = gains.ap_height_m[None, :] - height[:, None]
    dist = np.sqrt(((xy[:, None, :] - gains.ap_xy[None]) ** 2).sum(-1) + dh**2)
    for method, model in fingerprinting(rss[~test], xy[~test], s.seed).items():
        rows.append(
            _errors_row(method, np.linalg.norm(model.predict(rss[test]) - xy[test], axis=1))
        )
    fit = fit_log_distance(rss[~test], dist[~test])
    # one height difference per AP: the devices' mean height (they share it in the bundled
    # scenarios)
    heights = dh[test].mean(axis=0)
    low, high = xy[~test].min(axis=0), xy[~test].max(axis=0)  # where the devices go
    estimate = laterate_ml(rss[test], fit, gains.ap_xy, heights, area=(*low, *high))
    rows.append(_errors_row("ML lateration", np.linalg.norm(estimate - xy[test], axis=1)))
    estimate = multilaterate(ranges_m(rss[test], fit), gains.ap_xy, heights)
    rows.append(_errors_row("multilateration", np.linalg.norm(estimate - xy[test], axis=1)))
    centroid = weighted_centroid(rss[test], gains.ap_xy)
    rows.append(_errors_row("weighted centroid", np.linalg.norm(centroid - xy[test], axis=1)))
    return pd.DataFrame(rows)


KNN_K = (1, 2, 3, 5, 8, 13, 21)  # the neighbour counts cross-validation chooses among
FOREST_TREES = 200


def fingerprinting(rss_dbm: np.ndarray, xy: np.ndarray, seed: int) -> dict[str, Any]:
    """The fingerprinting baselines fitted on training rows (received powers (n, A) in dBm,
    positions (n, 2) in m): "kNN fingerprinting", a k-nearest-neighbour regressor whose k (in
    :data:`KNN_K`, at most the rows of a fold) minimises the mean squared position error of
    5-fold cross-validation (shuffled by ``seed``), and "random forest"
    (:data:`FOREST_TREES` trees, ``seed``). Each has ``predict(rss_dbm) -> (m, 2)``."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KNeighborsRegressor

    folds = KFold(5, shuffle=True, random_state=seed)
    largest = len(rss_dbm) - -(-len(rss_dbm) // 5)  # the training rows of a fold
    grid = {"n_neighbors": [k for k in KNN_K if k <= largest] or [1]}
    knn = GridSearchCV(KNeighborsRegressor(), grid, cv=folds, scoring="neg_mean_squared_error")
    forest = RandomForestRegressor(FOREST_TREES, random_state=seed, n_jobs=1)
    return {"kNN fingerprinting": knn.fit(rss_dbm, xy), "random forest": forest.fit(rss_dbm, xy)}


def snr_baselines(s: Scenario) -> pd.DataFrame:
    """Test RMSE (dB) of the next-sample SNR by "last value" and "AR(p)" (fitted on the
    training windows of every PIU, p = ``learning.radio_data.snr_window``), on the same
    test windows as the "snr" task."""
    p = s.learning.radio_data.snr_window
    frame = radio_frame(s).sort_values(["piu", "sample"], kind="stable")
    pius = [g for _, g in frame.groupby("piu", sort=True) if len(g) > p]
    w, y = (np.concatenate(parts) for parts in zip(*(windows_of(g.snr_db, p) for g in pius)))
    t = np.concatenate([g.split.to_numpy()[p:] == "test" for g in pius])
    ar = fit_ar(w[~t], y[~t])

    def rmse(prediction: np.ndarray) -> float:
        return float(np.sqrt(np.mean((prediction - y[t]) ** 2)))

    return pd.DataFrame(
        [
            {"method": "last value", "rmse_db": rmse(last_value(w[t]))},
            {"method": f"AR({p})", "rmse_db": rmse(ar.predict(w[t]))},
            {"method": "training mean", "rmse_db": rmse(np.full(t.sum(), y[~t].mean()))},
        ]
    )


def snr_rmse_db(test_loss: float, s: Scenario) -> float:
    """The RMSE (dB) of a federated "snr" model from its rounds-table ``test_loss`` (MSE of
    the standardised targets)."""
    return float(np.sqrt(test_loss)) * radio_task_of(s).target_scale
