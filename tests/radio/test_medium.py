"""Co-channel transmissions on the shared medium, by hand: rates B log2(1 + SINR) with the
interferer's power through its gain to the victim's AP, and the victim's finish time when
the interferer stops midway (exact to 1e-12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import NoFading
from netsim.radio.medium import CoChannelMedium

# PIU 0 -> AP 0 (victim), PIU 1 -> AP 1 (interferer); gains beta[piu, ap]
BETA = np.array([[1e-9, 2e-11], [5e-11, 1e-9]])
N0, B, P = 1e-20, 1e6, 0.1  # W/Hz, Hz, W
BAND = Band.reused(B, N0, np.zeros(2, int), 1)  # both APs on one channel


def _medium(env: simpy.Environment) -> CoChannelMedium:
    return CoChannelMedium(env, RadioChannel(BETA, NoFading(2), 0.01, BAND))


def _sinr(own: float, cross: float | None) -> float:
    interference = 0.0 if cross is None else P * cross
    return P * own / (N0 * B + interference)


def test_two_co_channel_transfers_see_each_other():
    env = simpy.Environment()
    medium = _medium(env)
    a = medium.start(0, 0, 0, 0.0, B, P, 1e9)
    b = medium.start(1, 1, 0, 0.0, B, P, 1e9)
    assert a.sinr == pytest.approx(_sinr(1e-9, 5e-11), rel=1e-12)  # PIU 1 heard at AP 0
    assert b.sinr == pytest.approx(_sinr(1e-9, 2e-11), rel=1e-12)
    assert a.rate_bps == pytest.approx(B * math.log2(1 + _sinr(1e-9, 5e-11)), rel=1e-12)
    assert a.interference_w == pytest.approx(P * 5e-11, rel=1e-12)
    other = medium.start(1, 1, 1, 0.0, B, P, 1e9)  # another channel: no interference
    assert other.interference_w == 0.0


@pytest.mark.parametrize("how", ["finishes", "is_stopped"])
def test_the_victim_speeds_up_when_the_interferer_stops(how):
    env = simpy.Environment()
    medium = _medium(env)
    r_with = B * math.log2(1 + _sinr(1e-9, 5e-11))
    r_alone = B * math.log2(1 + _sinr(1e-9, None))
    r_other = B * math.log2(1 + _sinr(1e-9, 2e-11))
    t_stop = 0.004  # the interferer's bits last this long at its rate
    victim = medium.start(0, 0, 0, 0.0, B, P, 1e5)
    if how == "finishes":
        medium.start(1, 1, 0, 0.0, B, P, r_other * t_stop)
    else:
        interferer = medium.start(1, 1, 0, 0.0, B, P, 1e9)

        def stop():
            yield env.timeout(t_stop)
            medium.stop(interferer)

        env.process(stop())
    env.run()
    finish = t_stop + (1e5 - r_with * t_stop) / r_alone
    result = victim.done.value
    assert result.airtime_s == pytest.approx(finish, rel=1e-12)
    mean_interference = P * 5e-11 * t_stop / finish
    assert result.interference_w == pytest.approx(mean_interference, rel=1e-12)
    sinr_mean = (_sinr(1e-9, 5e-11) * t_stop + _sinr(1e-9, None) * (finish - t_stop)) / finish
    assert result.sinr_db == pytest.approx(10 * math.log10(sinr_mean), rel=1e-12)


def test_disjoint_sub_bands_do_not_interfere_and_partial_overlap_counts_its_share():
    env = simpy.Environment()
    medium = _medium(env)
    a = medium.start(0, 0, 0, 0.0, B / 2, P, 1e9)  # lower half
    b = medium.start(1, 1, 0, B / 2, B, P, 1e9)  # upper half
    assert a.interference_w == 0.0 and b.interference_w == 0.0
    medium.stop(b)
    c = medium.start(1, 1, 0, B / 4, 3 * B / 4, P, 1e9)  # half of it over a's band
    # c spreads P over B/2; B/4 of it lands in a's band
    assert a.interference_w == pytest.approx(P / (B / 2) * (B / 4) * 5e-11, rel=1e-12)
    assert c.interference_w == pytest.approx(P / (B / 2) * (B / 4) * 2e-11, rel=1e-12)


def test_alone_on_a_fading_channel_it_matches_the_block_integration():
    from netsim.radio.fading import IIDBlockFading
    from netsim.rng import Streams

    env = simpy.Environment()
    channel = RadioChannel(BETA, IIDBlockFading(Streams(5), 2, 0.0), 0.001, BAND)
    medium = CoChannelMedium(env, channel)

    def later():
        yield env.timeout(0.0123)  # mid-block
        tx = medium.start(0, 0, 0, 0.0, B, P, 2e5)
        result = yield tx.done
        expected = channel.uplink(0, 0, 2e5, 0.0123, P, B)  # integrate_airtime
        assert result.airtime_s == pytest.approx(expected.airtime_s, rel=1e-12)
        assert result.sinr_db == pytest.approx(expected.snr_db, rel=1e-9)
        assert env.now == pytest.approx(0.0123 + expected.airtime_s, rel=1e-12)

    proc = env.process(later())
    env.run()
    assert proc.ok and proc.triggered


def _antennas(n_ant: int, combining: str, seed: int = 1):
    from netsim.radio.fading import IIDBlockFading
    from netsim.rng import Streams

    env = simpy.Environment()
    fading = IIDBlockFading(Streams(seed), 2 * n_ant, 0.0)  # 2 APs x N antennas per PIU
    channel = RadioChannel(BETA, NoFading(2), 0.001, BAND)
    return env, CoChannelMedium(env, channel, n_ant, fading, combining)


def test_mrc_outage_with_n_antennas_is_the_incomplete_gamma():
    from scipy.special import gammainc

    n_ant, blocks = 4, 4000
    env, medium = _antennas(n_ant, "mrc")
    tx = medium.start(0, 0, 0, 0.0, B, P, 1e12)
    sinr = np.array([medium.evaluate([tx], b * 0.001)[1][0] for b in range(blocks)])
    rho = P * 1e-9 / (N0 * B)  # mean SNR per antenna
    # SINR / rho ~ Gamma(N, 1): the sample mean has relative deviation 1 / sqrt(N blocks)
    assert sinr.mean() == pytest.approx(n_ant * rho, rel=4 / math.sqrt(n_ant * blocks))
    for x in (2.0, 4.0, 6.0):  # thresholds around the mean N rho
        p = gammainc(n_ant, x)
        sigma = math.sqrt(p * (1 - p) / blocks)
        assert abs(np.mean(sinr < x * rho) - p) < 4 * sigma


def test_mmse_irc_beats_mrc_with_an_interferer_and_equals_it_without():
    for interfered in (False, True):
        sinrs = {}
        for combining in ("mrc", "mmse_irc"):
            env, medium = _antennas(4, combining)
            txs = [medium.start(0, 0, 0, 0.0, B, P, 1e12)]
            if interfered:
                txs.append(medium.start(1, 1, 0, 0.0, B, P, 1e12))
            sinrs[combining] = np.array([medium.evaluate(txs, b * 0.001)[1][0] for b in range(200)])
        if interfered:
            assert (sinrs["mmse_irc"] >= sinrs["mrc"] * (1 - 1e-12)).all()
            assert sinrs["mmse_irc"].mean() > 1.5 * sinrs["mrc"].mean()  # 4 antennas, 1 interferer
        else:
            np.testing.assert_allclose(sinrs["mmse_irc"], sinrs["mrc"], rtol=1e-12)


def test_one_antenna_of_either_combiner_is_the_scalar_channel():
    env, medium = _antennas(1, "mmse_irc")
    a = medium.start(0, 0, 0, 0.0, B, P, 1e12)
    b = medium.start(1, 1, 0, 0.0, B, P, 1e12)
    h = [medium.fading.gains(k, 0, 1)[0] for k in (0, 1)]
    sinr = P * 1e-9 * h[0][0] / (N0 * B + P * 5e-11 * h[1][0])
    assert a.sinr == pytest.approx(sinr, rel=1e-12) and b.interference_w > 0


def test_co_channel_downlink_multicasts_run_at_their_weakest_receivers_sinr():
    # AP 0 multicasts to PIUs 0 and 1, AP 1 to PIU 1 alone; BETA[piu, ap]
    env = simpy.Environment()
    medium = CoChannelMedium(env, RadioChannel(BETA, NoFading(2), 0.01, BAND), downlink=True)
    a = medium.start(-1, 0, 0, 0.0, B, P, 1e9, receivers=(0, 1))
    b = medium.start(-1, 1, 0, 0.0, B, P, 1e9, receivers=(1,))
    at_piu0 = P * 1e-9 / (N0 * B + P * 2e-11)  # PIU 0 hears AP 1 through beta[0, 1]
    at_piu1 = P * 5e-11 / (N0 * B + P * 1e-9)  # PIU 1 hears AP 1 loud and clear
    assert a.sinr == pytest.approx(min(at_piu0, at_piu1), rel=1e-12)
    assert a.interference_w == pytest.approx(P * 1e-9, rel=1e-12)  # at its weakest (PIU 1)
    assert b.sinr == pytest.approx(P * 1e-9 / (N0 * B + P * 5e-11), rel=1e-12)
    assert a.rate_bps == pytest.approx(B * math.log2(1 + min(at_piu0, at_piu1)), rel=1e-12)
