"""The uplink objects on their own: airtime, energy and outcome of each mode against the
closed forms of a channel without fading, grants, and a handover during an upload."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from netsim.radio.access import MultipleAccess
from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import NoFading
from netsim.radio.links import AdaptiveRateLink, CellFreeLink, FixedRateLink, Grant

GAIN = np.array([[1e-10, 1e-11]])  # one PIU, two APs
NOISE_PSD, POWER = 1e-20, 0.1  # W/Hz, W
BAND = Band.orthogonal(1e6, NOISE_PSD, 2)  # each AP a 1 MHz channel
BITS = 10_000


def _setup(scheme: str = "fdma", served: int = 2):
    env = simpy.Environment()
    channel = RadioChannel(GAIN, NoFading(2), 0.01, BAND)
    return env, channel, MultipleAccess(env, scheme, BAND, served)


def _shannon(ap: int, bandwidth_hz: float) -> float:
    snr = POWER * GAIN[0, ap] / (NOISE_PSD * bandwidth_hz)
    return bandwidth_hz * math.log2(1 + snr)


def test_adaptive_rate_is_the_shannon_rate_of_its_share_of_the_band():
    env, channel, band = _setup("fdma", served=2)  # FDMA: half the band each
    link = AdaptiveRateLink(0, 0, band, POWER, channel)
    [attempt] = list(link.attempts(BITS, lambda: 0.0, "dense"))
    rate = _shannon(0, 0.5e6)
    assert attempt.delivered and attempt.rate_bps == pytest.approx(rate)
    assert attempt.airtime_s == pytest.approx(BITS / rate)
    assert attempt.energy_j == pytest.approx(POWER * BITS / rate)
    assert link.planned_airtime_s(BITS) == pytest.approx(BITS / rate)  # no fading: exact


def test_a_fixed_rate_above_capacity_fails_every_attempt():
    env, channel, band = _setup("tdma", served=1)
    capacity = _shannon(0, 1e6)
    above = FixedRateLink(0, 0, band, POWER, channel, 1.1 * capacity, max_retransmissions=2)
    attempts = list(above.attempts(BITS, lambda: 0.0, "dense"))
    assert [a.delivered for a in attempts] == [False] * 3
    assert {a.reason for a in attempts} == {"outage"}
    below = FixedRateLink(0, 0, band, POWER, channel, 0.9 * capacity, max_retransmissions=2)
    [ok] = list(below.attempts(BITS, lambda: 0.0, "dense"))
    assert ok.delivered and ok.airtime_s == pytest.approx(BITS / (0.9 * capacity))


def test_a_cell_free_link_sends_at_its_grant():
    env, _, band = _setup("cellfree", served=1)
    link = CellFreeLink(0, 0, band, POWER, Grant(POWER, 2e6, 7.0))
    link.use(Grant(0.05, 1e6, 3.0))  # the server's allocation for the round
    [a] = list(link.attempts(BITS, lambda: 0.0, "dense"))
    assert (a.rate_bps, a.snr_db, a.power_w) == (1e6, 3.0, 0.05)
    assert a.energy_j == pytest.approx(0.05 * BITS / 1e6)
    link.use(None)  # no grant: everyone at full power
    assert link.planned_airtime_s(BITS) == pytest.approx(BITS / 2e6) and link.power_w == POWER


def test_an_upload_under_way_keeps_the_band_of_its_slot():
    env, channel, band = _setup("fdma", served=2)
    link = AdaptiveRateLink(0, 0, band, POWER, channel)
    with link.request(None):
        link.move(1, MultipleAccess(env, "fdma", BAND, 4, ap=1))  # handover: a quarter there
        [a] = list(link.attempts(BITS, lambda: 0.0, "dense"))
    assert a.rate_bps == pytest.approx(_shannon(1, 0.5e6))  # the new AP, the old slot's band
    assert link.bandwidth_hz == 0.25e6  # the next upload plans on the new band
