"""An AP on its own timeline: backhaul forwarding (FIFO serialisation + latency) and the
downlink multicast at the weakest recipient's rate, with a real channel without fading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
import torch

from netsim.compress import IdentityCompressor
from netsim.log import EventLog
from netsim.messages import GlobalModel, Update
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.link import WiredLink
from netsim.radio.access import MultipleAccess
from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.downlinks import ChannelDownlink
from netsim.radio.fading import NoFading
from tests.nodes.fakes import P, timeline

CAPACITY, LATENCY = 1e4, 0.002
GAIN = np.array([[1e-9], [1e-10]])  # two PIUs, one AP
NOISE_PSD, BANDWIDTH, AP_POWER = 1e-20, 1e6, 1.0
BAND = Band.orthogonal(BANDWIDTH, NOISE_PSD, 1)


def _ap(
    env: simpy.Environment, log: EventLog, unicast: bool = False
) -> tuple[AccessPoint, simpy.Store]:
    server = simpy.Store(env)
    ap = AccessPoint(
        env,
        log,
        0,
        access=MultipleAccess(env, "tdma", BAND, 2),
        uplink=WiredLink(env, CAPACITY, LATENCY),
        server_inbox=server,
        tx_power_w=AP_POWER,
        downlink=ChannelDownlink(env, RadioChannel(GAIN, NoFading(1), 0.01, BAND), unicast),
    )
    ap.start()
    return ap, server


def _update(piu: int) -> Update:
    payload = IdentityCompressor().compress(torch.ones(P))
    return Update(0, piu, payload, 10, 1.0)


def test_updates_queue_on_the_backhaul_then_travel_its_latency():
    env, log = simpy.Environment(), EventLog()
    ap, server = _ap(env, log)
    ap.inbox.put(_update(0))
    ap.inbox.put(_update(1))
    serialise = 32 * P / CAPACITY
    arrivals = []

    def watch():
        for _ in range(2):
            msg = yield server.get()
            arrivals.append((env.now, msg.piu))

    env.process(watch())
    env.run()
    assert arrivals == [
        (pytest.approx(serialise + LATENCY), 0),
        (pytest.approx(2 * serialise + LATENCY), 1),  # waited for the first one's bits
    ]
    ends = [(t, e) for t, _, e in timeline(log) if e == "fwd_end"]
    assert [t for t, _ in ends] == pytest.approx([a for a, _ in arrivals])


def test_a_model_is_multicast_at_the_weakest_recipients_rate():
    env, log = simpy.Environment(), EventLog()
    ap, _ = _ap(env, log)
    inboxes = [simpy.Store(env), simpy.Store(env)]
    for k, inbox in enumerate(inboxes):
        ap.attach(k, inbox)
    bits = 32 * P
    ap.inbox.put(GlobalModel(0, torch.zeros(P), bits, (0, 1), 2))
    env.run()
    weakest = AP_POWER * GAIN[1, 0] / (NOISE_PSD * BANDWIDTH)  # 10 dB
    rate = BANDWIDTH * math.log2(1 + weakest)
    [(t_end, _, _)] = [row for row in timeline(log) if row[2] == "dl_end"]
    assert t_end == pytest.approx(bits / rate)
    assert all(len(inbox.items) == 1 for inbox in inboxes)


def test_a_model_for_a_piu_that_moved_on_is_forwarded_to_its_new_ap():
    env, log = simpy.Environment(), EventLog()
    old, _ = _ap(env, log)
    new, _ = _ap(env, log)
    inbox = simpy.Store(env)
    old.attach(0, inbox)
    old.inbox.put(GlobalModel(0, torch.zeros(P), 32 * P, (0,), 2))
    old.hand_over(0, new)  # while the model is on its way down
    env.run()
    events = [e for _, _, e in timeline(log)]
    assert events.count("dl_forward") == 1 and events.count("dl_end") == 2
    assert len(inbox.items) == 1 and new.serving(0) is new and old.serving(0) is new


def test_unicast_sends_to_each_recipient_in_turn_at_its_own_rate():
    env, log = simpy.Environment(), EventLog()
    ap, _ = _ap(env, log, unicast=True)
    inboxes = [simpy.Store(env), simpy.Store(env)]
    for k, inbox in enumerate(inboxes):
        ap.attach(k, inbox)
    bits = 32 * P
    ap.inbox.put(GlobalModel(0, torch.zeros(P), bits, (1, 0), 2))
    arrived = {}

    def watch(k):
        yield inboxes[k].get()
        arrived[k] = env.now

    for k in (0, 1):
        env.process(watch(k))
    env.run()
    rate = [
        BANDWIDTH * math.log2(1 + AP_POWER * GAIN[k, 0] / (NOISE_PSD * BANDWIDTH)) for k in (0, 1)
    ]
    assert arrived[0] == pytest.approx(bits / rate[0])  # piu0 first (sorted), then piu1
    assert arrived[1] == pytest.approx(bits / rate[0] + bits / rate[1])
    ends = [(t, node) for t, node, e in timeline(log) if e == "dl_end"]
    assert len(ends) == 2


def test_unicast_through_the_downlink_scheduler_serves_everyone_at_once():
    from netsim import Simulation
    from tests.conftest import tiny

    overrides = ["radio.scheduler='rr'", "radio.downlink='unicast'", "protocol.rounds=1"]
    sim = Simulation(tiny().with_overrides(overrides))
    events = sim.run().events
    dl = events[events.event.isin(["dl_start", "dl_end"])]
    n = len(sim.pius)
    assert sorted(dl[dl.event == "dl_end"].peer) == [f"piu{k}" for k in range(n)]
    assert dl[dl.event == "dl_start"].t_s.nunique() == 1  # all started together
    got = events[events.event == "rx_model"].set_index("node").t_s
    ends = dl[dl.event == "dl_end"].set_index("peer").t_s
    for k in range(n):
        assert got[f"piu{k}"] == ends[f"piu{k}"]  # delivered when its last bit is
