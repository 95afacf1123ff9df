"""[server] and [protocol]: aggregation and the FL protocol (synchronous rounds,
FedAsync, FedBuff)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import (
    Count,
    LearningRate,
    NonNegativeCount,
    NonNegativeScale,
    NonNegativeSeconds,
    Scale,
    Seconds,
    _Frozen,
)
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- server, protocol


class ServerOptimizerConfig(_Frozen):
    """The server optimiser (``netsim/fl/server_optimizers.py``; Reddi et al. 2021)."""

    name: Literal["sgd", "avgm", "adagrad", "adam", "yogi"] = "sgd"
    """sgd (lr 1: plain FedAvg), avgm (server momentum beta1), adagrad, adam or yogi (moments
    beta1, beta2, adaptivity tau); the round's combined update is their pseudo-gradient."""
    lr: LearningRate = 1.0
    """Server learning rate."""
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    """First-moment (momentum) decay."""
    beta2: float = Field(0.99, ge=0.0, lt=1.0)
    """Second-moment decay (adagrad, adam, yogi)."""
    tau: Scale = 1e-3
    """Adaptivity: added to the root of the second moment."""


class ServerConfig(_Frozen):
    """The aggregation server: its aggregation rule (FedAvg or a robust rule against
    corrupted updates, ``netsim/fl/aggregation.py``), its optimiser and its timing."""

    aggregation_s: NonNegativeSeconds = 0.005
    """Simulated time the server takes to aggregate a round."""
    aggregation: Literal[
        "fedavg", "median", "trimmed_mean", "norm_clip", "krum", "multikrum", "bulyan"
    ] = "fedavg"
    """fedavg, or a robust rule against corrupted updates: median (coordinate-wise),
    trimmed_mean, norm_clip (FedAvg of updates clipped to clip_norm), krum, multikrum or bulyan
    (with f = byzantine)."""
    trim_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    """trimmed_mean: fraction of the values cut at each end of every coordinate."""
    clip_norm: Scale = 1.0
    """norm_clip: L2 norm the updates are clipped to."""
    byzantine: NonNegativeCount = 0
    """Number f of corrupted updates krum, multikrum and bulyan tolerate (bulyan needs K >= 4f +
    3 updates)."""
    krum_m: Count | None = None
    """multikrum: how many of the best updates by Krum's score are averaged (absent: K - f)."""
    optimizer: ServerOptimizerConfig = ServerOptimizerConfig()
    """The server optimiser applied to the combined update (Reddi et al. 2021)."""
    streaming: bool | Literal["auto"] = "auto"
    """FedAvg without holding the updates, each folded into a float64 running sum as it is
    trained: true needs rounds where every trained update arrives (plain synchronous FedAvg);
    auto does so when a round's updates would take more than 1 GiB."""


class StalenessConfig(_Frozen):
    """How much a stale update counts, s(tau) for staleness tau = server version now - the
    version the PIU trained on (Xie et al. 2019, FedAsync)."""

    function: Literal["constant", "polynomial", "hinge"] = "polynomial"
    """constant 1; polynomial (1 + tau)^-a; hinge: 1 for tau <= b, else 1 / (a (tau - b) + 1)."""
    a: NonNegativeScale = 0.5
    """Decay of the weight with staleness."""
    b: NonNegativeScale = 4.0
    """hinge: staleness (versions) up to which an update counts fully."""


class ProtocolConfig(_Frozen):
    """How the server runs the federation: synchronous rounds (with a deadline or
    over-commitment) or an asynchronous protocol (FedAsync, FedBuff), which PIUs take part and
    when the run stops."""

    mode: Literal["sync", "fedasync", "fedbuff"] = "sync"
    """sync: rounds of FedAvg; fedasync (Xie et al. 2019): each update mixed in as it arrives;
    fedbuff (Nguyen et al. 2022): updates buffered, applied every buffer_size arrivals."""
    rounds: Count = 20
    """Number of rounds (asynchronous modes: server model versions; hierarchical FL: cloud
    rounds); with target_accuracy, the most."""
    deadline_s: Seconds | None = None
    """sync: a round waits at most this long after its broadcast; late PIUs are aborted (absent:
    no limit)."""
    clients_per_round: Count | None = None
    """sync: PIUs selected per round (absent: every active PIU)."""
    # netsim/fl/selection.py; predictive: netsim/nodes/forecast.py
    selection: Literal["random", "round_robin", "channel", "energy", "deadline", "predictive"] = (
        "random"
    )
    """How the clients_per_round PIUs are chosen: random, round_robin, channel (best expected
    uplink rate), energy (most battery), deadline (earliest predicted finish) or predictive
    (earliest finish at the SNR the predictor forecasts; with radio.target_rate_bps, random among
    those not forecast in outage)."""
    predictor: Literal["model", "last_value", "oracle"] = "model"
    """predictive selection's SNR forecast: model (the federated SNR model being learned,
    learning.task = snr), last_value, or oracle (the SNR that will come true)."""
    predictive_deadline: Annotated[float, Field(ge=1.0, le=1.0e6)] | None = None
    """predictive selection: each round's deadline is this factor times the latest predicted
    finish of the selected PIUs (the smaller, with deadline_s)."""
    target_updates: Count | None = None
    """Over-commitment: the round ends at the first target_updates arrivals and the rest are cut
    (select more with clients_per_round)."""
    target_accuracy: float | None = Field(None, gt=0, le=1)
    """Stop after the first model version whose test accuracy reaches this (classification): time
    and energy to a target without running past it."""
    patience: Count | None = None
    """Stop once the validation loss (the PIUs' held-out shares, learning.eval_every: their
    sample-weighted mean loss) has not improved on its best by more than min_delta (relative)
    in this many evaluations: training to convergence, judged on data no PIU trained on and
    not on the test set (absent: run every round)."""
    min_delta: float = Field(0.0, ge=0.0, lt=1.0)
    """patience: the relative decrease of the validation loss that counts as an improvement."""
    staleness: StalenessConfig = StalenessConfig()
    """Asynchronous modes: how much a stale update counts."""
    mixing: float = Field(0.6, gt=0, le=1)
    """fedasync: the base mixing weight alpha; an update enters with alpha s(staleness)."""
    buffer_size: Count = 10
    """fedbuff: updates per server step."""
    server_lr: LearningRate = 1.0
    """fedbuff: server learning rate applied to the buffer's mean."""
    concurrency: Count | None = None
    """Asynchronous modes: PIUs training at a time (absent: all)."""

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

    k1: Count = 1
    """Local rounds per edge round: each edge round runs k1 x learning.local_steps local steps."""
    k2: Count = 1
    """Edge rounds per cloud round."""
    deadline_s: Seconds | None = None
    """The cloud waits at most this long after its broadcast; a late edge model is discarded
    (absent: no limit)."""
    target_edges: Count | None = None
    """Over-commitment: the cloud aggregates the first target_edges edge models."""
    assign: dict[str, str] = {}
    """Edge server of an AP's PIUs, {ap3 = "edge1"}; APs not named go to the nearest edge server
    by route latency."""
