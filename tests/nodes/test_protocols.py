"""The FL protocols (netsim/nodes/protocols.py) run by the real server on its own timeline,
with fake PIUs (or fake edge servers) that answer each model after set delays: FedAvg
rounds and their outcomes, deadlines, over-commitment, an algorithm's server half
(SCAFFOLD, and a recording one), FedAsync, FedBuff and the cloud's rounds of hierarchical
FL, each against a model computed by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import simpy
import torch

from netsim.compress import IdentityCompressor
from netsim.fl.algorithms import Algorithm, Combined, Part, RoundFacts, Scaffold
from netsim.fl.protocols import Asynchronous, Synchronous
from netsim.log import EventLog
from netsim.messages import EdgeModel, GlobalModel, Notice, Update
from netsim.nodes.link import WiredLink
from netsim.nodes.protocols import (
    CloudRounds,
    FedAsync,
    FedBuff,
    Outcome,
    ServerProtocol,
    SyncRounds,
)
from netsim.nodes.server import Server, ServerServices
from netsim.rng import Streams
from tests.nodes.fakes import FakePIU, FakeTrainer, P, frame

AGG_S = 0.01
IDX = torch.arange(P, dtype=torch.float32)  # the entries' indices, for per-entry values
BITS = 32 * P  # a dense float32 model


def _vec(a: float, b: float) -> torch.Tensor:
    """(P,) float32 with entry i = a + b i."""
    return a + b * IDX


class SpyServer(Server):
    """The real server, keeping every :class:`Outcome` its protocol returns."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[Outcome] = []

    def _conclude(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        super()._conclude(outcome)


@dataclass(frozen=True)
class Reply:
    """How a fake PIU answers every model: after ``delay`` s, an update whose payload is
    ``upload`` (trained on ``size`` samples, train ``loss``), or a notice of ``notice``."""

    delay: float
    upload: torch.Tensor | None = None
    size: int = 0
    loss: float = 0.0
    notice: str | None = None


@dataclass
class Harness:
    server: SpyServer
    pius: list[FakePIU]
    models: list[GlobalModel] = field(default_factory=list)  # every model the AP received


def _server(
    env: simpy.Environment,
    log: EventLog,
    protocol: ServerProtocol,
    replies: Sequence[Reply],
    weights: torch.Tensor | None = None,
) -> Harness:
    """A server with one AP whose fake PIUs (one per reply) answer every model."""
    pius = [FakePIU(k) for k in range(len(replies))]
    ap_inbox, inbox = simpy.Store(env), simpy.Store(env)
    server = SpyServer(
        env,
        log,
        inbox=inbox,
        weights=torch.zeros(P) if weights is None else weights.clone(),
        downlinks={0: (WiredLink(env, math.inf, 0.0), ap_inbox)},
        pius=pius,
        protocol=protocol,
        local_steps=2,
        aggregation_s=AGG_S,
        services=ServerServices(FakeTrainer(), IdentityCompressor(), Streams(0)),  # type: ignore[arg-type]
    )
    harness = Harness(server, pius)

    def answer(model: GlobalModel, k: int):
        reply = replies[k]
        yield env.timeout(reply.delay)
        if reply.notice is not None:
            inbox.put(Notice(model.round, k, reply.notice))  # type: ignore[arg-type]
            return
        assert reply.upload is not None
        payload = IdentityCompressor().compress(reply.upload)
        inbox.put(Update(model.round, k, payload, reply.size, reply.loss, None, model.local_steps))

    def the_pius():
        while True:
            model = yield ap_inbox.get()
            harness.models.append(model)
            for k in model.recipients:
                env.process(answer(model, k))

    env.process(the_pius())
    server.start()
    return harness


def _events(log: EventLog, name: str):
    ev = frame(log)
    return ev[ev.event == name]


def _close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    return torch.allclose(actual, expected.to(actual.dtype), rtol=0.0, atol=1e-5)


# -- SyncRounds -------------------------------------------------------------------------


def test_a_round_is_fedavg_of_the_updates_by_data_size_and_its_outcome_says_who():
    """Round 0: three updates (|D| 10, 30, 60), a skip and a PIU that leaves; the new model
    is x + sum_k (|D_k| / 100) delta_k, entry by entry."""
    env, log = simpy.Environment(), EventLog()
    replies = [
        Reply(0.3, _vec(1.0, 0.5), 10, 2.0),
        Reply(0.5, _vec(-2.0, 0.25), 30, 1.0),
        Reply(0.7, _vec(4.0, -1.0), 60, 0.5),
        Reply(0.1, notice="skip"),
        Reply(0.2, notice="left"),
    ]
    h = _server(env, log, SyncRounds(Synchronous(rounds=2)), replies, torch.full((P,), 2.0))
    env.run()
    # by hand: entry 0: 2 + (10 * 1 - 30 * 2 + 60 * 4) / 100 = 3.9; per index i:
    # (10 * 0.5 + 30 * 0.25 - 60 * 1) / 100 = -0.475
    r0, r1 = h.server.outcomes
    assert r0 == Outcome(
        0.0,
        5,
        3,
        0,
        {"skip": {3}, "left": {4}, "lost": set(), "offline": set()},
        (10 * 2.0 + 30 * 1.0 + 60 * 0.5) / 100,
        frozenset({0, 1, 2}),
    )
    agg = _events(log, "aggregate")
    assert agg.method.tolist() == ["fedavg", "fedavg"]
    assert agg.detail.tolist() == ["3 updates", "3 updates"]
    assert agg.loss.tolist() == pytest.approx([0.8, 0.8])
    assert agg.t_s.tolist() == pytest.approx([0.7 + AGG_S, 2 * (0.7 + AGG_S)])
    # round 1 without the PIU that left: 4 selected, the same three updates on top
    assert (r1.t_start_s, r1.selected, r1.aggregated, r1.dropped) == (
        pytest.approx(0.7 + AGG_S),
        4,
        3,
        0,
    )
    assert r1.notices == {"skip": {3}, "left": set(), "lost": set(), "offline": set()}
    assert h.models[1].recipients == (0, 1, 2, 3)
    assert _close(h.server.weights, 5.8 - 0.95 * IDX)
    rec = h.server.records[0]
    assert (rec.selected, rec.aggregated, rec.dropped, rec.skipped, rec.left) == (5, 3, 0, 1, 1)
    assert math.isnan(r0.epsilon)


def test_the_deadline_aborts_who_has_not_delivered_and_a_late_update_is_stale():
    """Deadline 1 s: piu2 (1.5 s) misses it in both rounds; piu3's notice is no miss. Its
    round-0 update arrives in round 1 and is discarded, not aggregated."""
    env, log = simpy.Environment(), EventLog()
    replies = [
        Reply(0.3, _vec(1.0, 1.0), 10, 1.0),
        Reply(0.6, _vec(-1.0, 2.0), 30, 3.0),
        Reply(1.5, torch.full((P,), 100.0), 60, 9.0),
        Reply(0.2, notice="lost"),
    ]
    h = _server(env, log, SyncRounds(Synchronous(rounds=2, deadline_s=1.0)), replies)
    env.run()
    miss = _events(log, "deadline_miss")
    assert miss.peer.tolist() == ["piu2", "piu2"] and miss.reason.tolist() == ["deadline"] * 2
    assert miss.t_s.tolist() == pytest.approx([1.0, 2 * 1.0 + AGG_S])
    assert [p.aborted for p in h.pius] == [[], [], [0, 1], []]
    discard = _events(log, "discard")
    assert discard.t_s.tolist() == pytest.approx([1.5])
    assert discard.reason.tolist() == ["stale"] and discard.peer.tolist() == ["piu2"]
    assert discard["round"].tolist() == [1] and discard.bits.tolist() == [BITS]
    assert discard.detail.tolist() == ["piu2 update of round 0"]
    for o in h.server.outcomes:
        assert (o.selected, o.aggregated, o.dropped, o.contributors) == (4, 2, 1, {0, 1})
        assert o.notices["lost"] == {3}
        assert o.train_loss == pytest.approx((10 * 1.0 + 30 * 3.0) / 40)
    # each round: (10 (1 + i) + 30 (-1 + 2 i)) / 40 = -0.5 + 1.75 i; the stale update of
    # 100s is nowhere
    assert _close(h.server.weights, 2 * (-0.5 + 1.75 * IDX))


def test_over_commitment_aggregates_the_first_n_and_cuts_the_rest():
    env, log = simpy.Environment(), EventLog()
    replies = [
        Reply(0.1, notice="offline"),
        Reply(0.3, _vec(2.0, 0.0), 10, 1.0),
        Reply(0.5, _vec(6.0, -1.0), 30, 1.0),
        Reply(0.8, torch.full((P,), 100.0), 60, 1.0),
        Reply(1.2, torch.full((P,), 100.0), 60, 1.0),
    ]
    protocol = SyncRounds(Synchronous(rounds=1, target_updates=2))
    h = _server(env, log, protocol, replies)
    env.run()
    cut = _events(log, "cut")
    assert cut.peer.tolist() == ["piu3", "piu4"] and cut.t_s.tolist() == pytest.approx([0.5] * 2)
    assert cut.reason.tolist() == ["target_reached"] * 2
    assert cut.detail.tolist() == [f"piu{k}: the first 2 updates are in" for k in (3, 4)]
    assert _events(log, "deadline_miss").empty
    assert [p.aborted for p in h.pius] == [[], [], [], [0], [0]]
    (o,) = h.server.outcomes
    assert (o.selected, o.aggregated, o.dropped, o.contributors) == (5, 2, 2, {1, 2})
    assert o.notices["offline"] == {0}
    assert h.server.records[0].t_end_s == pytest.approx(0.5 + AGG_S)
    # (10 * 2 + 30 (6 - i)) / 40 = 5 - 0.75 i
    assert _close(h.server.weights, 5.0 - 0.75 * IDX)


def test_a_deadline_before_the_target_is_a_deadline_miss_not_a_cut():
    env, log = simpy.Environment(), EventLog()
    replies = [
        Reply(0.3, torch.full((P,), 1.0), 10),
        Reply(0.5, torch.full((P,), 3.0), 30),
        Reply(0.8, torch.full((P,), 100.0), 60),
        Reply(1.2, torch.full((P,), 100.0), 60),
    ]
    settings = Synchronous(rounds=1, deadline_s=0.6, target_updates=3)
    h = _server(env, log, SyncRounds(settings), replies)
    env.run()
    assert _events(log, "cut").empty
    miss = _events(log, "deadline_miss")
    assert miss.peer.tolist() == ["piu2", "piu3"] and miss.t_s.tolist() == pytest.approx([0.6] * 2)
    assert h.server.outcomes[0].dropped == 2
    assert _close(h.server.weights, torch.full((P,), (10 * 1.0 + 30 * 3.0) / 40))


def test_scaffold_sends_c_with_the_model_and_moves_it_by_the_weighted_control_deltas():
    """SCAFFOLD (total n = 200): the broadcast is the model and c (twice the bits); each
    upload is (Delta y, Delta c) back to back; the model is FedAvg of the Delta y and
    c <- c + sum_k (n_k / n) Delta c_k over the updates received."""
    env, log = simpy.Environment(), EventLog()
    upload0 = torch.cat([torch.full((P,), 1.0), IDX])  # Delta y_0 = 1, Delta c_0 = i
    upload1 = torch.cat([torch.full((P,), 3.0), -2.0 * IDX])  # Delta y_1 = 3, Delta c_1 = -2i
    replies = [
        Reply(0.3, upload0, 10, 1.0),
        Reply(0.5, upload1, 30, 1.0),
        Reply(0.1, notice="skip"),
    ]
    algorithm = Scaffold(local_lr=0.1, total_samples=200)
    protocol = SyncRounds(Synchronous(rounds=2), algorithm=algorithm)
    h = _server(env, log, protocol, replies, torch.full((P,), 0.5))
    env.run()
    assert _events(log, "broadcast").bits.tolist() == [2 * BITS, 2 * BITS]
    assert [m.bits for m in h.models] == [2 * BITS, 2 * BITS]
    assert _events(log, "rx_update").bits.tolist() == [2 * BITS] * 4
    # c after round 0: (10 i + 30 (-2 i)) / 200 = -0.25 i, sent with round 1's model; the
    # round-0 message still holds the c it was sent with
    first, second = h.models
    assert first.server_state is not None and torch.equal(first.server_state, torch.zeros(P))
    assert second.server_state is not None and _close(second.server_state, -0.25 * IDX)
    assert algorithm.control is not None and _close(algorithm.control, -0.5 * IDX)
    # the model: FedAvg of the first halves, (10 * 1 + 30 * 3) / 40 = 2.5 per round
    assert _close(h.server.weights, torch.full((P,), 0.5 + 2 * 2.5))
    assert _events(log, "aggregate").method.tolist() == ["fedavg", "fedavg"]


class RecordingAlgorithm(Algorithm):
    """An algorithm whose server half records its calls and returns ``result``; its state is
    3 entries (96 bits on the broadcast) and an upload's last 2 entries are its side."""

    name = "recording"

    def __init__(self, result: torch.Tensor) -> None:
        super().__init__()
        self.result = result
        self.calls: list[str] = []
        self.unpacked: list[torch.Tensor] = []
        self.facts: RoundFacts | None = None
        self.combined: list[Part] = []
        self.after: list[Part] = []

    def server_state(self, weights: torch.Tensor) -> torch.Tensor | None:
        self.calls.append("server_state")
        return torch.ones(3)

    def unpack(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.calls.append("unpack")
        self.unpacked.append(vector)
        return vector[:P], vector[P:]

    def combine(self, facts: RoundFacts, parts: Sequence[Part]) -> Combined:
        self.calls.append("combine")
        self.facts, self.combined = facts, list(parts)
        return Combined(self.result, "recorded", "a fixed model")

    def after_round(self, parts: Sequence[Part]) -> None:
        self.calls.append("after_round")
        self.after = list(parts)

    def epsilon(self) -> float:
        self.calls.append("epsilon")
        return 0.25


def test_sync_rounds_run_whatever_the_algorithm_says():
    """The round is the algorithm's: its state goes down, its unpack splits the uploads,
    its combination is the new model and names the aggregate, its epsilon is recorded. A
    part of weight 0 reaches neither combine nor after_round (nor the contributors)."""
    env, log = simpy.Environment(), EventLog()
    x0, result = _vec(1.0, 1.0), _vec(-7.0, 0.5)
    replies = [
        Reply(0.5, torch.cat([_vec(1.0, 0.0), torch.tensor([7.0, 8.0])]), 10, 2.0),
        Reply(0.3, torch.cat([_vec(0.0, 1.0), torch.tensor([9.0, 10.0])]), 30, 1.0),
        Reply(0.4, torch.cat([_vec(5.0, 5.0), torch.tensor([0.0, 0.0])]), 0, 4.0),
        Reply(0.2, notice="skip"),
    ]
    algorithm = RecordingAlgorithm(result)
    h = _server(env, log, SyncRounds(Synchronous(rounds=1), algorithm=algorithm), replies, x0)
    env.run()
    assert algorithm.calls == ["server_state"] + ["unpack"] * 3 + [
        "combine",
        "after_round",
        "epsilon",
    ]
    (model,) = h.models
    assert model.bits == BITS + 96 and _events(log, "broadcast").bits.tolist() == [BITS + 96]
    assert model.server_state is not None and torch.equal(model.server_state, torch.ones(3))
    assert [len(v) for v in algorithm.unpacked] == [P + 2] * 3
    facts = algorithm.facts
    assert facts is not None and torch.equal(facts.weights, x0)
    assert (facts.selected, facts.population, facts.over_the_air) == (4, 4, False)
    # the parts, sorted by PIU, without piu2's of weight 0
    parts = algorithm.combined
    assert [(p.pius, p.weight, p.loss, p.steps) for p in parts] == [
        ((0,), 10, 2.0, 2),
        ((1,), 30, 1.0, 2),
    ]
    assert torch.equal(parts[0].delta, _vec(1.0, 0.0))
    assert torch.equal(parts[1].delta, _vec(0.0, 1.0))
    assert parts[0].side is not None and parts[0].side.tolist() == [7.0, 8.0]
    assert parts[1].side is not None and parts[1].side.tolist() == [9.0, 10.0]
    assert algorithm.after == parts
    assert torch.equal(h.server.weights, result)
    agg = _events(log, "aggregate")
    assert agg.method.tolist() == ["recorded"]
    assert agg.detail.tolist() == ["2 updates, a fixed model"]
    (o,) = h.server.outcomes
    assert (o.selected, o.aggregated, o.dropped, o.contributors) == (4, 2, 0, {0, 1})
    assert o.train_loss == pytest.approx((10 * 2.0 + 30 * 1.0) / 40)
    assert o.epsilon == 0.25 and h.server.records[0].epsilon == 0.25


# -- FedAsync and FedBuff ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "a", "b", "s1"),
    [
        ("polynomial", 0.5, 4.0, 2**-0.5),  # (1 + 1)^-0.5
        ("hinge", 2.0, 0.0, 1 / 3),  # tau = 1 > b = 0: 1 / (2 (1 - 0) + 1)
        ("constant", 0.5, 4.0, 1.0),
    ],
)
def test_fedasync_mixes_each_local_model_in_by_its_staleness(function, a, b, s1):
    """piu0 (0.3 s) trained on version 0: x1 = 0.4 x0 + 0.6 (x0 + d0). piu1 (0.5 s) trained
    on version 0 too, one version ago: alpha = 0.6 s(1) and its local model is version 0's
    plus its delta: x2 = (1 - alpha) x1 + alpha (x0 + d1)."""
    env, log = simpy.Environment(), EventLog()
    x0, d0, d1 = _vec(1.0, 1.0), torch.full((P,), 1.0), _vec(-2.0, 0.5)
    replies = [Reply(0.3, d0, 10, 1.0), Reply(0.5, d1, 30, 2.0), Reply(1.5, d0 * 100, 60, 3.0)]
    settings = Asynchronous(
        "fedasync", rounds=2, staleness_function=function, staleness_a=a, staleness_b=b
    )
    h = _server(env, log, FedAsync(settings), replies, x0)
    env.run()
    rx = _events(log, "rx_update")
    assert rx.peer.tolist() == ["piu0", "piu1"] and rx.staleness.tolist() == [0, 1]
    x1 = 0.4 * x0 + 0.6 * (x0 + d0)
    alpha = 0.6 * s1
    assert _close(h.server.weights, (1 - alpha) * x1 + alpha * (x0 + d1))
    agg = _events(log, "aggregate")
    assert agg.method.tolist() == ["fedasync"] * 2
    assert agg.detail.tolist() == ["fedasync alpha=0.6", f"fedasync alpha={alpha:.6g}"]
    assert [o.aggregated for o in h.server.outcomes] == [1, 1]
    assert [o.train_loss for o in h.server.outcomes] == [1.0, 2.0]
    # piu0 got version 1 once it was made (and nobody else was free)
    assert [(m.round, m.recipients) for m in h.models] == [(0, (0, 1, 2)), (1, (0,))]


def test_fedbuff_steps_by_the_mean_of_k_staleness_weighted_deltas():
    """K = 3, server_lr 0.5. 0.3 and 0.6: piu0 (version 0, re-sent version 0 each time);
    0.7: piu1 -> x1 = x0 + 0.5 (d0 + d0 + d1) / 3. 0.9: piu0 on version 0 (tau 1); 1.2:
    piu0 on version 1; 1.41: piu1 on version 1 -> x2 = x1 + 0.5 (s(1) d0 + d0 + d1) / 3."""
    env, log = simpy.Environment(), EventLog()
    x0, d0, d1 = _vec(1.0, 1.0), _vec(1.0, 0.5), torch.full((P,), -3.0)
    replies = [Reply(0.3, d0, 10, 1.0), Reply(0.7, d1, 30, 2.0), Reply(1.5, d0 * 100, 60, 3.0)]
    settings = Asynchronous("fedbuff", rounds=2, buffer_size=3, server_lr=0.5)
    h = _server(env, log, FedBuff(settings), replies, x0)
    env.run()
    rx = _events(log, "rx_update")
    assert rx.peer.tolist() == ["piu0", "piu0", "piu1", "piu0", "piu0", "piu1"]
    assert rx.staleness.tolist() == [0, 0, 0, 1, 0, 0]
    assert rx.t_s.tolist() == pytest.approx([0.3, 0.6, 0.7, 0.9, 1.2, 0.7 + AGG_S + 0.7])
    s = 2**-0.5
    x1 = x0 + 0.5 * (d0 + d0 + d1) / 3
    x2 = x1 + 0.5 * (s * d0 + d0 + d1) / 3
    assert _close(h.server.weights, x2)
    agg = _events(log, "aggregate")
    assert agg.method.tolist() == ["fedbuff"] * 2 and agg.detail.tolist() == ["fedbuff K=3"] * 2
    assert [o.aggregated for o in h.server.outcomes] == [3, 3]
    assert [o.train_loss for o in h.server.outcomes] == pytest.approx([4 / 3, 4 / 3])
    assert [o.t_start_s for o in h.server.outcomes] == pytest.approx([0.0, 0.7 + AGG_S])


# -- CloudRounds ------------------------------------------------------------------------


@dataclass
class FakeEdge:
    """What the cloud knows of an edge server (index, name, members); it answers every
    cloud model after ``delay`` with an edge model ``delta`` away of weight ``weight``."""

    index: int
    members_: list[FakePIU]
    delay: float
    delta: torch.Tensor
    weight: int
    pius: tuple[int, ...]
    loss: float
    received: list[GlobalModel] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"edge{self.index}"

    def members(self) -> list[FakePIU]:
        return self.members_


def _cloud(env, log, edges: list[FakeEdge], protocol: CloudRounds, x0: torch.Tensor):
    inbox = simpy.Store(env)
    downlinks = {}
    for e in edges:
        e_inbox = simpy.Store(env)
        downlinks[e.index] = (WiredLink(env, math.inf, 0.0), e_inbox)

        def run(e=e, e_inbox=e_inbox):
            while True:
                model = yield e_inbox.get()
                e.received.append(model)
                yield env.timeout(e.delay)
                msg = EdgeModel(
                    model.round, e.index, model.weights + e.delta, e.weight, e.pius, e.loss, BITS
                )
                inbox.put(msg)

        env.process(run())
    server = SpyServer(
        env,
        log,
        inbox=inbox,
        weights=x0.clone(),
        downlinks=downlinks,
        pius=[],
        protocol=protocol,
        local_steps=2,
        aggregation_s=AGG_S,
        services=ServerServices(FakeTrainer(), IdentityCompressor(), Streams(0)),  # type: ignore[arg-type]
    )
    server.start()
    return server


def _edges() -> list[FakeEdge]:
    """edge0 (0.2 s, n 40, 2 of its 3 PIUs), edge1 (0.3 s, no update: weight 0, a model far
    off), edge2 (0.5 s, n 60), edge3 (1.5 s, 2 PIUs), edge4 (no members: not sent)."""
    return [
        FakeEdge(0, [FakePIU(0), FakePIU(1), FakePIU(2)], 0.2, _vec(1.0, 0.5), 40, (0, 1), 1.0),
        FakeEdge(1, [FakePIU(3)], 0.3, torch.full((P,), 100.0), 0, (), 5.0),
        FakeEdge(2, [FakePIU(4)], 0.5, _vec(-2.0, 1.0), 60, (4,), 2.0),
        FakeEdge(3, [FakePIU(5), FakePIU(6)], 1.5, torch.full((P,), 50.0), 10, (5,), 7.0),
        FakeEdge(4, [], 0.1, torch.full((P,), 50.0), 10, (), 7.0),
    ]


def test_cloud_rounds_average_the_edge_models_by_weight_and_drop_late_edges():
    """Deadline 1 s: edge3 is late in both rounds; edge1's model of weight 0 is left out.
    Each round: w + (40 (1 + 0.5 i) + 60 (-2 + i)) / 100 = w - 0.8 + 0.8 i."""
    env, log = simpy.Environment(), EventLog()
    edges, x0 = _edges(), _vec(0.5, -0.25)
    server = _cloud(env, log, edges, CloudRounds(2, edges, deadline_s=1.0), x0)
    env.run(until=3.0)
    assert [len(e.received) for e in edges] == [2, 2, 2, 2, 0]
    assert _events(log, "broadcast").detail.tolist() == ["4 edge servers"] * 2
    miss = _events(log, "deadline_miss")
    assert miss.peer.tolist() == ["edge3", "edge3"] and miss.reason.tolist() == ["deadline"] * 2
    assert miss.t_s.tolist() == pytest.approx([1.0, 2.0 + AGG_S])
    discard = _events(log, "discard")
    assert discard.peer.tolist() == ["edge3"] and discard.reason.tolist() == ["stale"]
    assert discard.detail.tolist() == ["edge3 model of round 0"]
    assert discard.t_s.tolist() == pytest.approx([1.5])
    agg = _events(log, "aggregate")
    assert agg.method.tolist() == ["hierfavg"] * 2
    assert agg.detail.tolist() == ["2 edge models, 3 PIUs"] * 2
    assert agg.loss.tolist() == pytest.approx([(40 * 1.0 + 60 * 2.0) / 100] * 2)
    for o in server.outcomes:
        # selected: the PIUs of the edges sent the model; dropped: those of the late edge
        assert (o.selected, o.aggregated, o.dropped, o.contributors) == (7, 3, 2, {0, 1, 4})
    assert _close(server.weights, x0 + 2 * (-0.8 + 0.8 * IDX))


def test_cloud_rounds_cut_the_edges_past_the_target_and_a_round_of_weight_0_keeps_the_model():
    """target_edges 2: edge0 and edge1 are in at 0.3 s, edge2 and edge3 are cut; the only
    model of weight > 0 is edge0's. With edge0 gone, the only model in is of weight 0: the
    model stays as it was, the loss is NaN."""
    env, log = simpy.Environment(), EventLog()
    edges, x0 = _edges(), _vec(0.5, -0.25)
    server = _cloud(env, log, edges, CloudRounds(1, edges, target_edges=2), x0)
    env.run(until=3.0)
    cut = _events(log, "cut")
    assert cut.peer.tolist() == ["edge2", "edge3"] and cut.t_s.tolist() == pytest.approx([0.3] * 2)
    assert cut.reason.tolist() == ["target_reached"] * 2
    assert cut.detail.tolist() == [f"edge{e}: the first 2 edge models are in" for e in (2, 3)]
    (o,) = server.outcomes
    assert (o.selected, o.aggregated, o.dropped, o.contributors) == (7, 2, 3, {0, 1})
    assert _close(server.weights, x0 + _vec(1.0, 0.5))

    env, log = simpy.Environment(), EventLog()
    edges = _edges()
    edges[0].members_ = []
    server = _cloud(env, log, edges, CloudRounds(1, edges, target_edges=1), x0)
    env.run(until=3.0)
    (o,) = server.outcomes
    assert (o.selected, o.aggregated, o.dropped, o.contributors) == (4, 0, 3, frozenset())
    assert math.isnan(o.train_loss)
    assert torch.equal(server.weights, x0)
    assert _events(log, "aggregate").detail.tolist() == ["0 edge models, 0 PIUs"]
