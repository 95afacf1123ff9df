"""Radio against closed forms (PHYSICS.md): path loss checks, noise, ergodic Rayleigh capacity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel, integrate_airtime
from netsim.radio.fading import NoFading
from netsim.radio.pathloss import free_space_db, log_distance_db, macro_36814_db


def test_macro_36814_at_one_km_and_slope():
    assert macro_36814_db(1000.0) == pytest.approx(128.1)
    assert macro_36814_db(100.0) == pytest.approx(128.1 - 37.6)


def test_free_space_at_one_metre_2ghz():
    # 20 log10(4 pi / lambda), lambda = c / 2 GHz = 0.149896 m: 20 log10(83.8339) = 38.4684 dB
    assert float(free_space_db(1.0, 2e9)) == pytest.approx(38.4684, abs=1e-4)


def test_log_distance_slope():
    assert log_distance_db(100.0, 3.5, 1.0, 40.0) == pytest.approx(40.0 + 70.0)


def test_static_channel_airtime_is_bits_over_shannon_rate():
    channel = RadioChannel(np.array([[3e-12]]), NoFading(1), 0.01, Band.orthogonal(1e6, 1e-20, 1))
    t = channel.uplink(0, 0, 1e6, 0.123, 1.0, 1e6)
    snr = 3e-12 / (1e-20 * 1e6)
    assert t.airtime_s == pytest.approx(1e6 / (1e6 * math.log2(1 + snr)), rel=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    bits=st.floats(1.0, 5e7),
    t0=st.floats(0.0, 50.0),
    coherence=st.floats(1e-4, 0.1),
    seed=st.integers(0, 2**16),
)
def test_integrated_airtime_delivers_exactly_the_payload(bits, t0, coherence, seed):
    """Bits delivered over the transmission = payload, and <= peak rate x airtime."""
    rng = np.random.default_rng(seed)
    snr_table = rng.exponential(10.0, size=100_000) + 1e-3

    def snr_of_blocks(first, n):
        return snr_table[(first + np.arange(n)) % len(snr_table)]

    bandwidth = 1e6
    tr = integrate_airtime(bits, t0, coherence, bandwidth, snr_of_blocks)
    # Re-add the bits block by block, independently of the implementation.
    t, end, delivered, peak = t0, t0 + tr.airtime_s, 0.0, 0.0
    while t < end - 1e-15 * max(1.0, end):
        block = math.floor(t / coherence)
        block_end = min((block + 1) * coherence, end)
        if block_end <= t:
            block_end = min((block + 2) * coherence, end)
            block += 1
        rate = bandwidth * math.log2(1 + snr_of_blocks(block, 1)[0])
        delivered += rate * (block_end - t)
        peak = max(peak, rate)
        t = block_end
    assert delivered == pytest.approx(bits, rel=1e-6)
    assert bits <= peak * tr.airtime_s * (1 + 1e-9)
