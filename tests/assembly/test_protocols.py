"""netsim/assembly/protocols.py: the FL algorithm object of ``learning.algorithm`` and
``dp.level`` with ``[server]``'s aggregation rule, and the server protocol of
``protocol.mode`` with the server optimiser where the global model is made."""

from __future__ import annotations

import pytest

from netsim.assembly.learning import Learning
from netsim.assembly.protocols import algorithm, cloud_protocol, server_protocol
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
from netsim.fl.dp import DPSGD
from netsim.local_rules import Proximal
from netsim.nodes.protocols import FedAsync, FedBuff, SyncRounds
from netsim.rng import Streams
from netsim.scenario import Scenario
from tests.conftest import TINY, tiny

N = 1234  # the PIUs' samples passed to the builder
SGD = dict(TINY["learning"]["optimizer"])  # sgd, lr 0.05


@pytest.fixture(scope="module")
def trainer():
    """The TINY scenario's trainer (digits, MLP): what a protocol probes its samples from."""
    return Learning.build(tiny(), Streams(7), 3, 1).trainer


def test_fedavg_is_plain_fedavg_with_the_default_rule():
    alg = algorithm(tiny(), N)
    assert type(alg) is FedAvg
    assert alg.name == "fedavg"
    assert alg.rule == AggregationRule()


def test_fedprox_carries_its_mu_into_a_proximal_local_rule():
    alg = algorithm(tiny(learning={"algorithm": "fedprox", "prox_mu": 0.25}), N)
    assert type(alg) is FedProx
    assert alg.mu == 0.25
    (rule,) = alg.local_rules(0, None)
    assert isinstance(rule, Proximal)
    assert rule.mu == 0.25


def test_fednova_takes_the_local_optimizers_momentum():
    opt = {**SGD, "momentum": 0.7}
    alg = algorithm(tiny(learning={"algorithm": "fednova", "optimizer": opt}), N)
    assert type(alg) is FedNova
    assert alg.momentum == 0.7


def test_scaffold_takes_the_local_lr_and_the_total_samples():
    opt = {**SGD, "lr": 0.03}
    alg = algorithm(tiny(learning={"algorithm": "scaffold", "optimizer": opt}), N)
    assert type(alg) is Scaffold
    assert (alg.local_lr, alg.total_samples) == (0.03, N)


def test_feddyn_takes_its_alpha_and_the_total_samples():
    alg = algorithm(tiny(learning={"algorithm": "feddyn", "feddyn_alpha": 0.3}), N)
    assert type(alg) is FedDyn
    assert (alg.alpha, alg.total_samples) == (0.3, N)


@pytest.mark.parametrize(
    ("learning", "kind"),
    [({}, FedAvg), ({"algorithm": "fedprox"}, FedProx)],
)
def test_the_servers_aggregation_rule_reaches_the_algorithms_that_take_one(learning, kind):
    server = {"aggregation": "trimmed_mean", "trim_fraction": 0.2}
    alg = algorithm(tiny(learning=learning, server=server), N)
    assert type(alg) is kind
    assert alg.rule == AggregationRule("trimmed_mean", 0.2, 1.0, 0, None)


@pytest.mark.parametrize(
    ("server", "rule"),
    [
        ({"aggregation": "norm_clip", "clip_norm": 2.5}, AggregationRule("norm_clip", 0.1, 2.5)),
        ({"aggregation": "multikrum", "krum_m": 2}, AggregationRule("multikrum", 0.1, 1.0, 0, 2)),
        ({"aggregation": "krum", "byzantine": 1}, AggregationRule("krum", 0.1, 1.0, 1, None)),
    ],
)
def test_each_rules_settings_reach_fedavg(server, rule):
    five = {"piu_positions_m": [[10.0 * (i + 1), 0.0] for i in range(5)]}  # krum: K > f + 2
    assert algorithm(tiny(topology=five, server=server), N).rule == rule


def test_scaffold_combines_by_plain_fedavg():
    # the scenario refuses a robust rule with SCAFFOLD (it combines the rounds itself)
    alg = algorithm(tiny(learning={"algorithm": "scaffold"}), N)
    assert alg.rule == AggregationRule()


def test_client_level_dp_wraps_the_algorithm_with_its_clip_noise_and_accountant():
    dp = {"level": "client", "clip_norm": 0.7, "noise_multiplier": 1.3, "delta": 1e-6,
          "accountant": "prv"}  # fmt: skip
    alg = algorithm(tiny(learning={"algorithm": "fedprox", "prox_mu": 0.1}, dp=dp), N)
    assert type(alg) is ClientLevelDP
    assert type(alg.inner) is FedProx and alg.inner.mu == 0.1
    assert (alg.clip_norm, alg.noise_multiplier) == (0.7, 1.3)
    assert (alg.accountant.delta, alg.accountant.method) == (1e-6, "prv")
    assert alg.adaptive is None
    assert alg.count_ota_noise is False
    # the wrapper keeps the inner algorithm's name and rule (the rounds table reads them)
    assert alg.name == "fedprox" and alg.rule is alg.inner.rule


def test_client_level_dp_with_adaptive_clipping_gets_the_quantile_and_clip_lr():
    dp = {"level": "client", "adaptive_clipping": True, "target_quantile": 0.3, "clip_lr": 0.1}
    alg = algorithm(tiny(dp=dp), N)
    assert isinstance(alg, ClientLevelDP)
    assert alg.adaptive == (0.3, 0.1)


def test_client_level_dp_over_the_air_may_count_the_receiver_noise():
    dp = {"level": "client", "count_ota_noise": True}
    alg = algorithm(tiny(dp=dp, ota={"enabled": True}), N)
    assert isinstance(alg, ClientLevelDP)
    assert alg.count_ota_noise is True


def test_sample_level_dp_ends_the_local_rules_with_dp_sgd():
    dp = {"level": "sample", "clip_norm": 0.5, "noise_multiplier": 2.0, "delta": 1e-4}
    alg = algorithm(tiny(learning={"algorithm": "fedprox", "prox_mu": 0.2}, dp=dp), N)
    assert type(alg) is SampleLevelDP
    assert type(alg.inner) is FedProx
    rules = alg.local_rules(0, None)
    assert len(rules) == 2
    assert isinstance(rules[0], Proximal)
    assert isinstance(rules[-1], DPSGD)
    assert (rules[-1].clip_norm, rules[-1].noise_multiplier) == (0.5, 2.0)
    a = alg.accounting
    assert (a.noise_multiplier, a.batch_size, a.delta, a.method) == (2.0, 4, 1e-4, "rdp")


def test_sample_level_dp_around_fedavg_has_dp_sgd_alone():
    alg = algorithm(tiny(dp={"level": "sample"}), N)
    assert isinstance(alg, SampleLevelDP) and type(alg.inner) is FedAvg
    (rule,) = alg.local_rules(0, None)
    assert isinstance(rule, DPSGD)


def test_sync_rounds_carry_the_protocol_settings_and_the_algorithm(trainer):
    s = tiny(protocol={"rounds": 4, "deadline_s": 2.5, "clients_per_round": 2,
                       "selection": "round_robin", "target_updates": 1})  # fmt: skip
    alg = algorithm(s, N)
    p = server_protocol(s, alg, trainer, Streams(7))
    assert type(p) is SyncRounds
    assert p.algorithm is alg
    st = p.settings
    assert (st.rounds, st.deadline_s, st.clients_per_round, st.selection, st.target_updates) == (
        4, 2.5, 2, "round_robin", 1,
    )  # fmt: skip
    assert p.over_the_air is False


def _with_server_optimizer(**sections) -> Scenario:
    server = {"optimizer": {"name": "adam", "lr": 0.1, "beta1": 0.8}}
    return tiny(server=server, **sections)


def test_the_server_optimizer_runs_where_the_global_model_is_made(trainer):
    s = _with_server_optimizer()
    p = server_protocol(s, algorithm(s, N), trainer, Streams(7), makes_global=True)
    assert isinstance(p, SyncRounds)
    assert (p.optimizer.name, p.optimizer.lr, p.optimizer.beta1) == ("adam", 0.1, 0.8)
    assert not p.optimizer.is_identity


def test_an_edge_servers_rounds_have_no_server_optimizer(trainer):
    s = _with_server_optimizer()
    p = server_protocol(s, algorithm(s, N), trainer, Streams(7), makes_global=False)
    assert isinstance(p, SyncRounds)
    assert p.optimizer.is_identity


def test_streaming_only_where_the_global_model_is_made(trainer):
    s = tiny(server={"streaming": True})
    alg = algorithm(s, N)
    assert server_protocol(s, alg, trainer, Streams(7), makes_global=True, n_pius=3).streaming
    assert not server_protocol(s, alg, trainer, Streams(7), makes_global=False).streaming


def test_over_the_air_rounds_know_it(trainer):
    s = tiny(ota={"enabled": True})
    p = server_protocol(s, algorithm(s, N), trainer, Streams(7))
    assert isinstance(p, SyncRounds) and p.over_the_air is True


def test_fedasync_gets_its_mixing_and_staleness(trainer):
    protocol = {"mode": "fedasync", "rounds": 5, "mixing": 0.3, "concurrency": 2,
                "staleness": {"function": "hinge", "a": 2.0, "b": 3.0}}  # fmt: skip
    s = tiny(protocol=protocol)
    p = server_protocol(s, algorithm(s, N), trainer, Streams(7))
    assert type(p) is FedAsync
    st = p.settings
    assert (st.mode, st.rounds, st.mixing, st.concurrency) == ("fedasync", 5, 0.3, 2)
    assert (st.staleness_function, st.staleness_a, st.staleness_b) == ("hinge", 2.0, 3.0)


def test_fedbuff_gets_its_buffer_and_server_lr(trainer):
    s = tiny(protocol={"mode": "fedbuff", "buffer_size": 2, "server_lr": 0.5})
    p = server_protocol(s, algorithm(s, N), trainer, Streams(7))
    assert type(p) is FedBuff
    st = p.settings
    assert (st.mode, st.buffer_size, st.server_lr) == ("fedbuff", 2, 0.5)


def test_the_cloud_runs_the_server_optimizer():
    s = tiny(
        topology={"ap_positions_m": [[0.0, 0.0], [100.0, 0.0]]},
        backhaul={"kind": "tree", "edge_servers": True, "aps_per_switch": 1},
        hierarchy={"target_edges": 1},
        server={"optimizer": {"name": "avgm", "lr": 0.5}},
    )
    cloud = cloud_protocol(s, [])
    assert (cloud.optimizer.name, cloud.optimizer.lr) == ("avgm", 0.5)


def test_every_algorithm_name_has_a_builder():
    from netsim.scenario.learning import ALGORITHM_NEEDS

    for name in ALGORITHM_NEEDS:
        opt = SGD
        alg = algorithm(tiny(learning={"algorithm": name, "optimizer": opt}), N)
        assert isinstance(alg, Algorithm)
        assert alg.name == name
