"""[server] and [protocol]: aggregation and the FL protocol (synchronous rounds,
FedAsync, FedBuff)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import NonNegativeFloat, PositiveFloat, _Frozen
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- server, protocol


class ServerOptimizerConfig(_Frozen):
    """The server optimiser (``netsim/fl/server_optimizers.py``; Reddi et al. 2021): the
    round's combined update is a pseudo-gradient for "sgd" (``lr`` 1: plain FedAvg),
    "avgm" (server momentum ``beta1``), "adagrad", "adam" or "yogi" (moments ``beta1``,
    ``beta2``, adaptivity ``tau``)."""

    name: Literal["sgd", "avgm", "adagrad", "adam", "yogi"] = "sgd"
    lr: PositiveFloat = 1.0
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.99, ge=0.0, lt=1.0)
    tau: PositiveFloat = 1e-3


class ServerConfig(_Frozen):
    """aggregation_s: simulated time to aggregate one round. aggregation: "fedavg", or a
    robust rule against corrupted updates (``netsim/fl/aggregation.py``): "median"
    (coordinate-wise), "trimmed_mean" (``trim_fraction`` of the values cut at each end of
    every coordinate), "norm_clip" (FedAvg of deltas clipped to L2 norm ``clip_norm``),
    "krum" (the update closest to its K - f - 2 nearest others), "multikrum" (the mean of
    the ``krum_m`` best by Krum's score; default K - f) or "bulyan" (Krum-picked K - 2f,
    then per coordinate the mean of the K - 4f values closest to their median; needs
    K >= 4f + 3), with f = ``byzantine`` the corrupted updates to tolerate. optimizer: the
    server optimiser applied to the combined update. streaming: FedAvg without holding the
    updates (``netsim.fl.aggregation.StreamingFedAvg``: each folded into a running sum when
    trained): true needs a round in which every trained update arrives (plain synchronous
    FedAvg, uncompressed, no deadline, cut, loss, battery, churn, mobility or attack); "auto"
    streams such rounds when their updates would take more than 1 GiB."""

    aggregation_s: NonNegativeFloat = 0.005
    aggregation: Literal[
        "fedavg", "median", "trimmed_mean", "norm_clip", "krum", "multikrum", "bulyan"
    ] = "fedavg"
    trim_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    clip_norm: PositiveFloat = 1.0
    byzantine: int = Field(0, ge=0)
    krum_m: int | None = Field(None, ge=1)
    optimizer: ServerOptimizerConfig = ServerOptimizerConfig()
    streaming: bool | Literal["auto"] = "auto"


class StalenessConfig(_Frozen):
    """How much a stale update counts, s(tau) for staleness tau = server version now - the
    version the PIU trained on (Xie et al. 2019, FedAsync): "constant" 1; "polynomial"
    ``(1 + tau)^-a``; "hinge" 1 for tau <= b, else ``1 / (a (tau - b) + 1)``."""

    function: Literal["constant", "polynomial", "hinge"] = "polynomial"
    a: NonNegativeFloat = 0.5
    b: NonNegativeFloat = 4.0


class ProtocolConfig(_Frozen):
    """How the server runs the federation.

    mode "sync": rounds of FedAvg; wait for every selected PIU, until ``deadline_s``, or, with
    ``target_updates`` (over-commitment: select ``clients_per_round`` > target), for the first
    ``target_updates`` arrivals, aborting the rest.
    mode "fedasync" (Xie et al. 2019): every arriving update is mixed in at once,
    ``x <- (1 - alpha_t) x + alpha_t x_k`` with ``alpha_t = mixing * s(tau)``.
    mode "fedbuff" (Nguyen et al. 2022): arriving deltas, weighted by s(tau), are buffered;
    every ``buffer_size`` arrivals ``x <- x + server_lr * mean(buffer)``.
    In both asynchronous modes ``rounds`` counts server model versions, ``concurrency`` PIUs
    (None: all) train at a time, and a PIU gets the current model as soon as its update is
    in (or when it comes back online).
    """

    mode: Literal["sync", "fedasync", "fedbuff"] = "sync"
    rounds: int = Field(20, ge=1)
    deadline_s: PositiveFloat | None = None  # after the round start (broadcast); None: no limit
    clients_per_round: int | None = Field(None, ge=1)  # None: every active PIU
    # which clients_per_round PIUs (netsim/fl/selection.py): uniform at random, a rotating
    # window, or the best expected uplink rate / most battery / earliest predicted finish;
    # "predictive" (netsim/nodes/forecast.py): the earliest finish at the SNR the
    # ``predictor`` forecasts; with radio.target_rate_bps a uniform draw among the PIUs
    # not forecast to be in outage
    selection: Literal["random", "round_robin", "channel", "energy", "deadline", "predictive"] = (
        "random"
    )
    predictor: Literal["model", "last_value", "oracle"] = "model"
    # with selection = "predictive": each round's deadline is this factor times the latest
    # predicted finish among the selected (the smaller, if deadline_s is set too)
    predictive_deadline: Annotated[float, Field(ge=1.0)] | None = None
    target_updates: int | None = Field(None, ge=1)
    # stop after the first model version whose test accuracy reaches this (classification;
    # `rounds` is then the most): "time and energy to 90 %" without running past it
    target_accuracy: float | None = Field(None, gt=0, le=1)
    staleness: StalenessConfig = StalenessConfig()
    mixing: float = Field(0.6, gt=0, le=1)
    buffer_size: int = Field(10, ge=1)
    server_lr: PositiveFloat = 1.0
    concurrency: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _mode_fields(self) -> ProtocolConfig:
        if self.mode != "sync":
            for name in ("deadline_s", "clients_per_round", "target_updates"):
                if getattr(self, name) is not None:
                    raise _FieldError(
                        name, getattr(self, name), f"unset with mode = {self.mode!r} (sync only)"
                    )
        t, k = self.target_updates, self.clients_per_round
        if t is not None and k is not None and t > k:
            raise _FieldError("target_updates", t, f"at most clients_per_round ({k})")
        return self


class HierarchyConfig(_Frozen):
    """Hierarchical FL (HierFAVG, Liu et al. 2020) over the routed backhaul's edge servers
    (nodes of role "edge": a topology file's, or ``[backhaul] kind = "tree"`` with
    ``edge_servers = true``). Each AP's PIUs belong to one edge server: the one given in
    ``assign`` (``{ap3 = "edge1"}``), else the nearest by route latency from the AP.

    Each edge server runs ``[protocol]``'s synchronous rounds over its own PIUs (selection,
    ``clients_per_round``, ``deadline_s`` and ``target_updates`` apply per edge round) with
    ``k1 * learning.local_steps`` local steps (k1 local rounds) per edge round,
    ``w_e = sum_{k in e} (n_k / n_e) w_k``; after ``k2`` edge rounds it sends its model to
    the cloud, which averages the edge models in, ``w = sum_e (n_e / n) w_e`` (n_e: the
    samples of the edge's PIUs whose updates went into its model), and sends the result
    back. The cloud waits for every edge server, until ``deadline_s`` after its broadcast,
    or (over-commitment) for the first ``target_edges`` edge models; a late edge model is
    discarded when it arrives and its edge starts over from the newest cloud model.
    ``protocol.rounds`` counts cloud rounds.
    """

    k1: int = Field(1, ge=1)
    k2: int = Field(1, ge=1)
    deadline_s: PositiveFloat | None = None
    target_edges: int | None = Field(None, ge=1)
    assign: dict[str, str] = {}
