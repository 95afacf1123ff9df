"""Protocols and algorithms: the FL algorithm of ``[learning]`` and ``[dp]`` (both halves,
shared by an aggregator and its PIUs), the server's protocol of ``[protocol]`` and the
cloud tier of ``[hierarchy]``, with the server optimiser of ``[server]``."""

from __future__ import annotations

from collections.abc import Callable

from netsim.assembly import learning as build_learning
from netsim.assembly.streaming import uses_streaming
from netsim.fl.aggregation import AggregationRule
from netsim.fl.algorithms import (
    Algorithm,
    ClientLevelDP,
    FedAvg,
    FedDyn,
    FedNova,
    FedProx,
    SampleLevelDP,
    Scaffold,
)
from netsim.fl.dp import PrivacyAccountant, SampleLevelAccounting
from netsim.fl.protocols import Asynchronous, Synchronous
from netsim.fl.server_optimizers import ServerOptimizer
from netsim.learn.trainer import Trainer
from netsim.nodes.edge import EdgeServer
from netsim.nodes.forecast import SNRForecast
from netsim.nodes.protocols import CloudRounds, FedAsync, FedBuff, ServerProtocol, SyncRounds
from netsim.rng import Stream, Streams
from netsim.scenario import Scenario


def algorithm(s: Scenario, total_samples: int) -> Algorithm:
    """The FL algorithm of ``learning.algorithm`` (with the aggregation rule of
    ``[server]``) over PIUs holding ``total_samples`` samples, inside client- or
    sample-level DP when ``dp.level`` asks for it."""
    learning, srv, dp = s.learning, s.server, s.dp
    rule = AggregationRule(
        srv.aggregation, srv.trim_fraction, srv.clip_norm, srv.byzantine, srv.krum_m
    )
    makers: dict[str, Callable[[], Algorithm]] = {
        "fedavg": lambda: FedAvg(rule),
        "fedprox": lambda: FedProx(learning.prox_mu, rule),
        "fednova": lambda: FedNova(learning.optimizer.momentum),
        "scaffold": lambda: Scaffold(learning.optimizer.lr, total_samples),
        "feddyn": lambda: FedDyn(learning.feddyn_alpha, total_samples),
    }
    inner = makers[learning.algorithm]()
    if dp.level == "client":
        return ClientLevelDP(
            inner,
            dp.clip_norm,
            dp.noise_multiplier,
            PrivacyAccountant(dp.delta, dp.accountant),
            (dp.target_quantile, dp.clip_lr) if dp.adaptive_clipping else None,
            dp.count_ota_noise,
        )
    if dp.level == "sample":
        accounting = SampleLevelAccounting(
            dp.noise_multiplier, learning.batch_size, dp.delta, dp.accountant
        )
        return SampleLevelDP(inner, dp.clip_norm, dp.noise_multiplier, accounting)
    return inner


def server_protocol(
    s: Scenario,
    algorithm: Algorithm,
    trainer: Trainer,
    streams: Streams,
    makes_global: bool = True,
    forecast: SNRForecast | None = None,
    n_pius: int = 0,
) -> ServerProtocol:
    """The FL protocol of ``[protocol]`` running ``algorithm``'s server half (synchronous
    rounds), with what it uses from ``[server]``, ``[control]``, ``[pruning]`` and
    ``[ota]``; ``n_pius``: the federation's size (how much a round's updates would take:
    streaming); ``makes_global``: it makes the global model (not an edge server's rounds),
    so the server optimiser runs there."""
    p = s.protocol
    if p.mode == "sync":
        return SyncRounds(
            Synchronous(
                p.rounds,
                p.deadline_s,
                p.clients_per_round,
                p.selection,
                p.target_updates,
                p.predictive_deadline,
            ),
            algorithm=algorithm,
            optimizer=server_optimizer(s) if makes_global else None,
            over_the_air=s.ota.enabled,
            controller=build_learning.controller(s.control, s.learning.local_steps),
            probe_indices=streams.numpy(Stream.PROBE).permutation(len(trainer.train_y))[
                : s.control.probe_samples
            ],
            pruning=build_learning.pruning_schedule(s.pruning)
            if s.pruning.scope == "server"
            else None,
            rewind=s.pruning.rewind,
            forecast=forecast,
            streaming=makes_global and uses_streaming(s, trainer.num_params, n_pius),
        )
    st = p.staleness
    settings = Asynchronous(
        p.mode, p.rounds, st.function, st.a, st.b, p.mixing, p.buffer_size, p.server_lr,
        p.concurrency,
    )  # fmt: skip
    return FedAsync(settings) if p.mode == "fedasync" else FedBuff(settings)


def cloud_protocol(s: Scenario, edges: list[EdgeServer]) -> CloudRounds:
    """The cloud's protocol over the ``edges``."""
    h = s.hierarchy
    assert h is not None
    return CloudRounds(s.protocol.rounds, edges, h.deadline_s, h.target_edges, server_optimizer(s))


def server_optimizer(s: Scenario) -> ServerOptimizer:
    """The server optimiser of ``server.optimizer`` (fresh moments)."""
    o = s.server.optimizer
    return ServerOptimizer(o.name, o.lr, o.beta1, o.beta2, o.tau)
