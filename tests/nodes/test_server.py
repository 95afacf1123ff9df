"""The server on its own timeline with fake PIUs that answer after set delays: deadlines,
over-commitment, waiting for a PIU to come back, and FedBuff, with hand-computed models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
import torch

from netsim.compress import IdentityCompressor
from netsim.fl.protocols import Asynchronous, Synchronous
from netsim.log import EventLog
from netsim.messages import GlobalModel, Update
from netsim.nodes.link import WiredLink
from netsim.nodes.protocols import FedBuff, ServerProtocol, SyncRounds
from netsim.nodes.server import Server, ServerServices
from netsim.nodes.signalling import Signalling
from netsim.rng import Streams
from tests.nodes.fakes import FakePIU, FakeTrainer, P, frame

AGG_S = 0.01
DELAYS = [0.3, 0.7, 1.5]  # each PIU answers this long after its model leaves the server
DELTAS = [1.0, 3.0, 5.0]  # every entry of its update
SIZES = [10, 30, 60]  # |D_k|


def _server(env, log, protocol: ServerProtocol, pius=None, signalling=None):
    """A server with one AP whose fake PIUs answer every model after ``DELAYS``."""
    pius = pius or [FakePIU(k) for k in range(3)]
    ap_inbox, inbox = simpy.Store(env), simpy.Store(env)
    server = Server(
        env,
        log,
        inbox=inbox,
        weights=torch.zeros(P),
        downlinks={0: (WiredLink(env, math.inf, 0.0), ap_inbox)},
        pius=pius,
        protocol=protocol,
        local_steps=2,
        aggregation_s=AGG_S,
        services=ServerServices(FakeTrainer(), IdentityCompressor(), Streams(0), signalling),  # type: ignore[arg-type]
    )

    def answer(model: GlobalModel, k: int):
        yield env.timeout(DELAYS[k])
        payload = IdentityCompressor().compress(torch.full((P,), DELTAS[k]))
        inbox.put(Update(model.round, k, payload, SIZES[k], 1.0 + k))

    def the_pius():
        while True:
            model = yield ap_inbox.get()
            for k in model.recipients:
                env.process(answer(model, k))

    env.process(the_pius())
    server.start()
    return server, pius


def _events(log, name):
    ev = frame(log)
    return ev[ev.event == name]


def test_a_deadline_aborts_the_late_piu_and_fedavg_takes_the_rest():
    env, log = simpy.Environment(), EventLog()
    server, pius = _server(env, log, SyncRounds(Synchronous(rounds=2, deadline_s=1.0)))
    env.run()
    # round 0: piu0 and piu1 in time, piu2 (1.5 s) misses the 1 s deadline
    fedavg = (10 * 1.0 + 30 * 3.0) / 40
    rx = _events(log, "rx_update")
    assert rx[rx["round"] == 0].peer.tolist() == ["piu0", "piu1"]
    assert rx[rx["round"] == 0].t_s.tolist() == pytest.approx([0.3, 0.7])
    miss = _events(log, "deadline_miss")
    assert miss.peer.tolist() == ["piu2", "piu2"] and miss.t_s.tolist() == pytest.approx(
        [1.0, 2.01]
    )
    assert pius[2].aborted == [0, 1]
    r0, r1 = server.records
    assert (r0.selected, r0.aggregated, r0.dropped) == (3, 2, 1)
    assert (r0.t_start_s, r0.t_end_s) == (0.0, pytest.approx(1.0 + AGG_S))
    assert r0.train_loss == pytest.approx((10 * 1.0 + 30 * 2.0) / 40)
    # round 1 starts at once; round 0's late update arrives in it and is discarded
    assert r1.t_start_s == pytest.approx(1.0 + AGG_S)
    discard = _events(log, "discard")
    assert discard.t_s.tolist() == pytest.approx([1.5]) and discard.reason.tolist() == ["stale"]
    assert torch.allclose(server.weights, torch.full((P,), 2 * fedavg))


def test_over_commitment_cuts_the_rest_once_the_target_is_in():
    env, log = simpy.Environment(), EventLog()
    server, pius = _server(env, log, SyncRounds(Synchronous(rounds=1, target_updates=2)))
    env.run(until=1.0)
    cut = _events(log, "cut")
    assert cut.peer.tolist() == ["piu2"] and cut.t_s.tolist() == pytest.approx([0.7])
    assert cut.reason.tolist() == ["target_reached"] and pius[2].aborted == [0]
    assert server.records[0].t_end_s == pytest.approx(0.7 + AGG_S)


def test_the_server_waits_for_a_piu_to_come_back():
    env, log = simpy.Environment(), EventLog()
    signalling = Signalling()
    pius = [FakePIU(k, online=False) for k in range(3)]
    server, _ = _server(env, log, SyncRounds(Synchronous(rounds=1)), pius, signalling)

    def back():
        yield env.timeout(2.0)
        pius[1].online = True
        signalling.online(1)

    env.process(back())
    env.run()
    assert _events(log, "wait").t_s.tolist() == [0.0]
    broadcast = _events(log, "broadcast")
    assert broadcast.t_s.tolist() == [2.0] and broadcast.detail.tolist() == ["1 PIUs"]
    assert server.records[0].t_end_s == pytest.approx(2.0 + DELAYS[1] + AGG_S)


def test_fedbuff_steps_every_k_arrivals_weighting_stale_ones():
    env, log = simpy.Environment(), EventLog()
    protocol = FedBuff(Asynchronous("fedbuff", rounds=2, buffer_size=2))
    server, _ = _server(env, log, protocol)
    env.run(until=1.0)
    # 0.3: piu0 (version 0), sent version 0 again; 0.6: piu0 again -> K = 2: step
    rx = _events(log, "rx_update")
    assert rx.t_s.tolist()[:2] == pytest.approx([0.3, 0.6]) and rx.staleness.tolist()[:2] == [0, 0]
    first = server.records[0]
    assert first.t_end_s == pytest.approx(0.6 + AGG_S) and first.aggregated == 2
    # 0.7: piu1 trained on version 0, one version ago: s(1) = 2^-0.5; 0.91: piu0 on version 1
    assert rx.t_s.tolist()[2:4] == pytest.approx([0.7, 0.6 + AGG_S + 0.3])
    assert rx.staleness.tolist()[2:4] == [1, 0]
    s = 2**-0.5
    step = (1.0 + 0.5 * (s * 3.0 + 1.0)) * torch.ones(P)
    assert torch.allclose(server.weights, step) and len(server.records) == 2


def test_a_discarded_update_is_signalled_to_its_piu():
    env, log = simpy.Environment(), EventLog()
    signalling, told = Signalling(), []
    signalling.on_discarded(2, told.append)
    _server(env, log, SyncRounds(Synchronous(rounds=2, deadline_s=1.0)), signalling=signalling)
    env.run()
    assert told == [0]  # piu2's round-0 update came in round 1: for piu2 it was not delivered


def test_target_accuracy_stops_at_the_first_version_that_reaches_it():
    """The run with a target is the run without it, cut after the first version whose
    test accuracy reaches the target, with a stop row saying so."""
    from netsim import Simulation
    from tests.conftest import tiny

    full = Simulation(tiny(protocol={"rounds": 6})).run()
    accuracy = full.rounds.test_accuracy.to_numpy()
    target = float(accuracy[2])  # reached at round 2 or earlier
    first = int(np.flatnonzero(accuracy >= target)[0])
    cut = Simulation(tiny(protocol={"rounds": 6, "target_accuracy": target})).run()
    assert len(cut.rounds) == first + 1
    assert cut.rounds.equals(full.rounds.iloc[: first + 1])
    stop = cut.events.iloc[-1]
    assert (stop.event, stop.reason, stop["round"]) == ("stop", "target_accuracy", first)
    assert stop.accuracy == accuracy[first]
    # every row before the stop is the full run's (as text: the categorical columns' category
    # sets are the values each log holds)
    n = len(cut.events) - 1
    assert cut.events.iloc[:n].astype(str).equals(full.events.iloc[:n].astype(str))


def _plateau_round(losses: list[float], patience: int, min_delta: float) -> int | None:
    """The rule written out again: the first round after which ``patience`` evaluations in
    a row did not beat (1 - min_delta) x the best validation loss before them."""
    best, since = math.inf, 0
    for r, loss in enumerate(losses):
        if loss < (1 - min_delta) * best:
            best, since = loss, 0
        else:
            since += 1
            if since == patience:
                return r
    return None


@pytest.mark.parametrize("patience, min_delta", [(1, 0.003), (2, 0.003)])
def test_patience_stops_where_the_validation_loss_stopped_improving(patience, min_delta):
    """Early stopping on a validation criterion: the run with patience is the run without
    it cut after the round where the rule, recomputed from the PIUs' held-out scores (the
    sample-weighted mean loss), says the validation loss has plateaued; a stop row gives
    that loss. Nothing of the test set enters the decision."""
    from netsim import Simulation
    from tests.conftest import tiny

    every = {"learning": {"eval_every": 1}}
    full = Simulation(tiny(protocol={"rounds": 12}, **every)).run()
    e = full.piu_eval
    losses = (e.loss * e.samples).groupby(e["round"]).sum() / e.groupby("round").samples.sum()
    stop_at = _plateau_round(losses.tolist(), patience, min_delta)
    assert stop_at is not None and stop_at < 11  # the test needs a plateau inside the run
    protocol = {"rounds": 12, "patience": patience, "min_delta": min_delta}
    cut = Simulation(tiny(protocol=protocol, **every)).run()
    assert len(cut.rounds) == stop_at + 1
    assert cut.rounds.equals(full.rounds.iloc[: stop_at + 1])
    stop = cut.events.iloc[-1]
    assert (stop.event, stop.reason, stop["round"]) == ("stop", "plateau", stop_at)
    assert stop.loss == pytest.approx(losses.iloc[stop_at], rel=1e-12)


def test_patience_needs_the_held_out_shares():
    from netsim import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match="protocol.patience.*learning.eval_every"):
        load_scenario("default", ["protocol.patience=5"])


def test_target_accuracy_needs_a_classification_task():
    from netsim import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match="protocol.target_accuracy"):
        load_scenario("agv_localization", ["protocol.target_accuracy=0.9"])
