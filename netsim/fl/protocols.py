"""Settings of the FL protocols the server runs (plain values; the scenario's
``[protocol]`` table becomes one of these in :mod:`netsim.assembly`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Synchronous:
    """Rounds of FedAvg (McMahan et al. 2017).

    rounds: number of rounds; deadline_s: limit after the round start (None: wait for
    every selected PIU); clients_per_round: PIUs selected (None: every active one);
    selection: "random", "round_robin", "channel", "energy", "deadline" or "predictive"
    (``netsim.fl.selection``); target_updates: over-commitment, aggregate the first this
    many arrivals and abort the rest (None: all); predictive_deadline: with "predictive",
    each round's deadline is this factor times the latest predicted finish of the
    selected (None: deadline_s alone).
    """

    rounds: int
    deadline_s: float | None = None
    clients_per_round: int | None = None
    selection: str = "random"
    target_updates: int | None = None
    predictive_deadline: float | None = None


@dataclass(frozen=True)
class Asynchronous:
    """FedAsync (Xie et al. 2019) or FedBuff (Nguyen et al. 2022), see
    :mod:`netsim.fl.asynchronous`.

    mode: "fedasync" or "fedbuff"; rounds: server model versions to create; staleness:
    s(tau) ``function`` ("constant", "polynomial", "hinge") with its ``a`` and ``b``;
    mixing: FedAsync's alpha; buffer_size, server_lr: FedBuff's K and eta_g; concurrency:
    PIUs training at a time (None: all).
    """

    mode: str
    rounds: int
    staleness_function: str = "polynomial"
    staleness_a: float = 0.5
    staleness_b: float = 4.0
    mixing: float = 0.6
    buffer_size: int = 10
    server_lr: float = 1.0
    concurrency: int | None = None
