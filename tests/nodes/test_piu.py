"""A PIU on its own timeline, with a fake trainer and a fixed-rate link: exact times and
energies of a round, aborts, offline interrupts, an empty battery, retransmissions."""

from __future__ import annotations

import pytest
import simpy
import torch

from netsim.device.availability import Switch
from netsim.log import EventLog
from netsim.messages import GlobalModel, Notice, Update
from tests.nodes.fakes import E_TRAIN, STEP, T_TRAIN, FixedLink, P, frame, make_piu, timeline

BITS = 32 * P  # the dense float32 update
RATE, POWER = 1000.0, 0.1
T_TX = BITS / RATE  # 0.256 s
E_TX = POWER * T_TX


def _model(round_index: int = 0) -> GlobalModel:
    return GlobalModel(round_index, torch.zeros(P), 32 * P, (0,), local_steps=2)


def _deliver(env: simpy.Environment, inbox: simpy.Store, at_s: float, msg: object):
    def go():
        yield env.timeout(at_s)
        inbox.put(msg)

    env.process(go())


def _then(env: simpy.Environment, at_s: float, action) -> None:
    def go():
        yield env.timeout(at_s)
        action()

    env.process(go())


def test_a_round_takes_the_computed_times_and_energies():
    env, log = simpy.Environment(), EventLog()
    piu, ap_inbox, server_inbox, _ = make_piu(env, log, FixedLink(env, RATE, POWER))
    _deliver(env, piu.inbox, 1.0, _model())
    env.run()
    t0 = 1.0
    assert timeline(log) == [
        (t0, "piu0", "rx_model"),
        (t0, "piu0", "train_start"),
        (pytest.approx(t0 + T_TRAIN), "piu0", "train_end"),
        (pytest.approx(t0 + T_TRAIN), "piu0", "tx_start"),
        (pytest.approx(t0 + T_TRAIN + T_TX), "piu0", "tx_end"),
    ]
    ev = frame(log).set_index("event")
    assert ev.loc["train_end", "energy_j"] == pytest.approx(E_TRAIN)
    assert ev.loc["tx_end", "energy_j"] == pytest.approx(E_TX)
    assert ev.loc["tx_end", "battery_j"] == pytest.approx(10.0 - E_TRAIN - E_TX)
    assert ev.loc["tx_end", "bits"] == BITS and ev.loc["tx_end", "peer"] == "ap0"
    [update] = ap_inbox.items
    assert isinstance(update, Update) and update.payload.bits == BITS
    assert torch.equal(update.payload.tensors[0], torch.full((P,), STEP))
    assert update.loss == 1.0 and server_inbox.items == []


def test_a_server_abort_charges_the_work_done_and_sends_nothing():
    env, log = simpy.Environment(), EventLog()
    piu, ap_inbox, server_inbox, trainer = make_piu(env, log, FixedLink(env, RATE, POWER))
    _deliver(env, piu.inbox, 0.0, _model())
    _then(env, T_TRAIN / 2, lambda: piu.abort(0))
    env.run()
    abort = frame(log).set_index("event").loc["abort"]
    assert abort.t_s == pytest.approx(T_TRAIN / 2) and abort.duration_s == pytest.approx(
        T_TRAIN / 2
    )
    assert abort.energy_j == pytest.approx(E_TRAIN / 2)  # constant power over the training
    assert (abort.activity, abort.reason) == ("train", "server")
    assert trainer.jobs[0].cancelled and ap_inbox.items == [] and server_inbox.items == []
    assert piu.battery.level_j == pytest.approx(10.0 - E_TRAIN / 2)


def test_a_model_that_arrives_after_the_deadline_is_not_trained():
    env, log = simpy.Environment(), EventLog()
    piu, _, _, trainer = make_piu(env, log, FixedLink(env, RATE, POWER))
    piu.abort(0)  # the server gave up on round 0 before its model got here
    _deliver(env, piu.inbox, 0.5, _model())
    env.run()
    [row] = frame(log).itertuples()
    assert (row.t_s, row.event, row.reason, row.energy_j) == (0.5, "abort", "late_model", 0.0)
    assert trainer.jobs == []


def test_going_offline_mid_upload_interrupts_it_and_tells_server_and_ap():
    env, log = simpy.Environment(), EventLog()
    off_at = T_TRAIN + T_TX / 4
    piu, ap_inbox, server_inbox, _ = make_piu(
        env, log, FixedLink(env, RATE, POWER), availability=[Switch(off_at, False)]
    )
    _deliver(env, piu.inbox, 0.0, _model())
    env.run()
    assert [e for _, _, e in timeline(log)][-2:] == ["offline", "abort"]
    abort = frame(log).set_index("event").loc["abort"]
    assert abort.t_s == pytest.approx(off_at) and abort.duration_s == pytest.approx(T_TX / 4)
    assert abort.energy_j == pytest.approx(E_TX / 4)
    assert (abort.activity, abort.reason) == ("tx", "offline")
    notice = Notice(0, 0, "offline")
    assert server_inbox.items == [notice] and ap_inbox.items == [notice]


def test_a_model_received_offline_is_declined():
    env, log = simpy.Environment(), EventLog()
    piu, _, server_inbox, _ = make_piu(
        env, log, FixedLink(env, RATE, POWER), availability=[Switch(0.0, False)]
    )
    _deliver(env, piu.inbox, 1.0, _model())
    env.run()
    assert [e for _, _, e in timeline(log)] == ["offline", "skip"]
    assert server_inbox.items == [Notice(0, 0, "offline")]


def test_a_round_the_battery_cannot_pay_for_is_skipped():
    env, log = simpy.Environment(), EventLog()
    battery = E_TRAIN + E_TX / 2  # training and half the upload
    piu, ap_inbox, server_inbox, _ = make_piu(
        env, log, FixedLink(env, RATE, POWER), battery_j=battery
    )
    _deliver(env, piu.inbox, 0.0, _model())
    env.run()
    skip = frame(log).set_index("event").loc["skip"]
    assert skip.reason == "energy" and skip.energy_j == 0.0
    assert server_inbox.items == [Notice(0, 0, "skip")] and piu.active


def test_a_battery_that_runs_dry_mid_round_ends_the_piu():
    env, log = simpy.Environment(), EventLog()
    # the plan expects a fast link (as a mean SNR may); the upload is slow and costly
    link = FixedLink(env, RATE, 100.0, planned_rate_bps=1e9)
    piu, _, server_inbox, _ = make_piu(env, log, link, battery_j=10.0)
    _deliver(env, piu.inbox, 0.0, _model())
    env.run()
    empty = frame(log).set_index("event").loc["battery_empty"]
    lasts = (10.0 - E_TRAIN) / 100.0  # seconds of transmission the rest of the battery pays
    assert empty.t_s == pytest.approx(T_TRAIN + lasts) and empty.activity == "tx"
    assert empty.battery_j == 0.0 and not piu.active
    assert server_inbox.items == [Notice(0, 0, "left")]


def test_a_lost_packet_is_sent_again_holding_the_slot():
    env, log = simpy.Environment(), EventLog()
    link = FixedLink(env, RATE, POWER, failures=1, retries=1)
    piu, ap_inbox, _, _ = make_piu(env, log, link)
    _deliver(env, piu.inbox, 0.0, _model())
    env.run()
    ev = frame(log)
    tx = ev[ev.event.isin(["tx_start", "tx_fail", "tx_end"])]
    assert tx.event.tolist() == ["tx_start", "tx_fail", "tx_start", "tx_end"]
    t1, t2 = T_TRAIN + T_TX, T_TRAIN + 2 * T_TX
    assert tx.t_s.tolist() == pytest.approx([T_TRAIN, t1, t1, t2])
    assert tx[tx.event == "tx_fail"].reason.tolist() == ["outage"]
    assert piu.battery.level_j == pytest.approx(10.0 - E_TRAIN - 2 * E_TX)
    assert len(ap_inbox.items) == 1


def test_every_attempt_lost_means_the_update_is_lost():
    env, log = simpy.Environment(), EventLog()
    piu, ap_inbox, server_inbox, _ = make_piu(
        env, log, FixedLink(env, RATE, POWER, failures=2, retries=1)
    )
    _deliver(env, piu.inbox, 0.0, _model())
    env.run()
    assert [e for _, _, e in timeline(log)].count("tx_fail") == 2
    assert ap_inbox.items == [Notice(0, 0, "lost")] and server_inbox.items == [Notice(0, 0, "lost")]


def test_a_piu_told_its_update_was_discarded_undoes_its_compressor_state():
    from netsim.compress import IdentityCompressor
    from netsim.nodes.signalling import Signalling

    undone = []

    class Spy(IdentityCompressor):
        def undo(self, piu, round_index):
            undone.append((piu, round_index))

    env, log = simpy.Environment(), EventLog()
    signalling = Signalling()
    piu, _, _, _ = make_piu(env, log, FixedLink(env, RATE, POWER), signalling=signalling)
    piu.compressor = Spy()
    signalling.discarded(0, 3)
    signalling.discarded(1, 3)  # another PIU's
    assert undone == [(0, 3)]


def test_an_abort_on_a_shared_channel_withdraws_the_transmission():
    import math

    import numpy as np

    from netsim.radio.access import MultipleAccess
    from netsim.radio.band import Band
    from netsim.radio.channel import RadioChannel
    from netsim.radio.fading import NoFading
    from netsim.radio.links import SharedSpectrumLink
    from netsim.radio.medium import CoChannelMedium

    beta = np.array([[1e-9, 5e-11], [5e-11, 1e-9]])
    noise, band_hz = 1e-20 * 1e6, 1e6
    env, log = simpy.Environment(), EventLog()
    spectrum = Band.reused(band_hz, 1e-20, np.zeros(2, int), 1)  # both cells on channel 0
    channel = RadioChannel(beta, NoFading(2), 0.01, spectrum)
    medium = CoChannelMedium(env, channel)
    band = MultipleAccess(env, "tdma", spectrum, 1, ap=0)
    link = SharedSpectrumLink(0, 0, band, POWER, channel, medium, 0, env)
    piu, ap_inbox, _, _ = make_piu(env, log, link)
    other = medium.start(1, 1, 0, 0.0, band_hz, POWER, 2e6)  # PIU 1 in the other cell
    _deliver(env, piu.inbox, 0.0, _model())
    t_abort = T_TRAIN + 5e-6  # a quarter into its ~19 us upload
    _then(env, t_abort, lambda: piu.abort(0))
    env.run()
    abort = frame(log).set_index("event").loc["abort"]
    assert abort.activity == "tx" and abort.duration_s == pytest.approx(5e-6)
    assert abort.energy_j == pytest.approx(POWER * 5e-6)  # the power it sent at, so long
    alone = band_hz * math.log2(1 + POWER * 1e-9 / noise)
    shared = band_hz * math.log2(1 + POWER * 1e-9 / (noise + POWER * 5e-11))
    sent = alone * T_TRAIN + shared * (t_abort - T_TRAIN)
    assert other.done.value.airtime_s == pytest.approx(t_abort + (2e6 - sent) / alone, rel=1e-12)
    assert ap_inbox.items == [] and medium.active == []
