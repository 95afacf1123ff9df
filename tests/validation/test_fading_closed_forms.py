"""Fading processes against closed forms: outage (Rayleigh, Rician via ncx2), Gauss-Markov
lag-1 correlation J0(2 pi f_D T), Jakes autocorrelation, ergodic capacity at several SNRs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import exp1, j0
from scipy.stats import ncx2

from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import (
    GaussMarkovFading,
    IIDBlockFading,
    JakesFading,
    RayleighBlockFading,
    RayleighPowerFading,
    doppler_hz,
    gauss_markov_rho,
)
from netsim.rng import Streams

N_BLOCKS = 20_000
N_LINKS = 8  # APs: independent links per PIU


def _fraction_ci(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(("snr_db", "rate"), [(10.0, 1.0), (0.0, 0.5), (20.0, 4.0)])
def test_rayleigh_outage(snr_db, rate):
    rho = 10 ** (snr_db / 10)
    g = RayleighBlockFading(Streams(1), N_LINKS).gains(0, 0, N_BLOCKS).ravel()
    p = 1 - math.exp(-(2**rate - 1) / rho)
    if snr_db == 10.0:
        assert p == pytest.approx(0.0951626, abs=1e-7)  # PHYSICS.md check value
    measured = np.mean(np.log2(1 + rho * g) < rate)
    assert abs(measured - p) < _fraction_ci(p, g.size)


@pytest.mark.parametrize("k_db", [0.0, 6.0, 10.0])
def test_rician_outage_matches_noncentral_chi2(k_db):
    k = 10 ** (k_db / 10)
    g = IIDBlockFading(Streams(2), N_LINKS, k).gains(3, 0, N_BLOCKS).ravel()
    assert g.mean() == pytest.approx(1.0, abs=4 * g.std() / math.sqrt(g.size))
    for x in (0.1, 0.5, 1.0):
        # 2 (K + 1) |h|^2 ~ noncentral chi-square, 2 degrees of freedom, non-centrality 2K
        p = ncx2.cdf(2 * (k + 1) * x, 2, 2 * k)
        assert abs(np.mean(g < x) - p) < _fraction_ci(p, g.size) + 1e-4


@pytest.mark.parametrize("speed_mps", [1.0, 5.0, 30.0])
def test_gauss_markov_lag1_correlation_is_j0(speed_mps):
    rho = gauss_markov_rho(speed_mps, 2e9, 0.01)
    assert rho == pytest.approx(j0(2 * math.pi * speed_mps * 2e9 / 299_792_458.0 * 0.01))
    fading = GaussMarkovFading(Streams(3), N_LINKS, rho)
    h = fading.coefficients(0, 0, N_BLOCKS)  # crosses many chunk boundaries
    lag1 = np.mean(h[1:] * np.conj(h[:-1])).real
    power = np.mean(np.abs(h) ** 2)
    # Effective sample size of an AR(1) mean: n (1 - rho^2) / (1 + rho^2), roughly.
    n_eff = h[1:].size * (1 - rho**2) / (1 + rho**2)
    assert abs(lag1 - rho) < 4 / math.sqrt(n_eff) + 1e-3
    assert power == pytest.approx(1.0, abs=8 / math.sqrt(n_eff))


def test_gauss_markov_chunks_are_continuous_whatever_the_query_order():
    a = GaussMarkovFading(Streams(4), 2, 0.9)
    b = GaussMarkovFading(Streams(4), 2, 0.9)
    late_first = a.coefficients(1, 600, 20)  # chunk 2 first: generates 0, 1, 2 in order
    in_order = b.coefficients(1, 0, 620)[600:]
    assert np.array_equal(late_first, in_order)


def test_jakes_autocorrelation_follows_j0_at_several_lags():
    f_d = doppler_hz(10.0, 2e9)  # 66.7 Hz
    fading = JakesFading(Streams(5), 400, f_d, coherence_s=1e-3)
    h = fading.coefficients(0, 0, 64)  # 400 independent links x 64 blocks
    for lag in (1, 3, 6):
        r = np.mean(h[lag:] * np.conj(h[:-lag])).real
        expected = j0(2 * math.pi * f_d * lag * 1e-3)
        assert abs(r - expected) < 0.08  # ~1/sqrt(400 links) spread of the random SoS


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_ergodic_capacity_at_several_snrs(snr_db):
    rho = 10 ** (snr_db / 10)
    closed = math.log2(math.e) * math.exp(1 / rho) * exp1(1 / rho)
    if snr_db == 10.0:
        assert closed == pytest.approx(2.90651, abs=1e-5)  # PHYSICS.md check value
    noise_psd, bandwidth, coherence = 1e-20, 1e6, 1e-3
    channel = RadioChannel(
        np.array([[rho * noise_psd * bandwidth]]),
        RayleighBlockFading(Streams(6), 1),
        coherence,
        Band.orthogonal(bandwidth, noise_psd, 1),
    )
    transfer = channel.uplink(0, 0, closed * bandwidth * coherence * N_BLOCKS, 0.0, 1.0, bandwidth)
    x = np.random.default_rng(0).standard_exponential(200_000)
    sd = np.log2(1 + rho * x).std() / math.sqrt(transfer.airtime_s / coherence)
    assert abs(transfer.rate_bps / bandwidth - closed) < 4 * sd
    # The time-averaged SNR over the transmission is rho (mean of rho |h|^2).
    assert 10 ** (transfer.snr_db / 10) == pytest.approx(rho, rel=6 / math.sqrt(N_BLOCKS))


def test_per_rb_fading_is_rayleigh_of_its_own_and_gauss_markov_continues_across_its_chunks():
    # a slot scheduler's per-RB fading (1,539 columns: 57 APs x 27 RB groups), drawn in
    # float32 chunks of its own streams: |h|^2 ~ Exp(1), uncorrelated with the wideband
    # fading of the same PIU (whose numbers it once shared)
    from scipy import stats

    cols = 1539
    wide = IIDBlockFading(Streams(6), cols, 0.0)
    w = wide.gains(0, 0, 200).ravel()
    # Rayleigh as power gains drawn directly (what a scheduler reads), and as coefficients
    power = RayleighPowerFading(Streams(6), cols)
    for per_rb in (power, IIDBlockFading(Streams(6), cols, 0.0, per_rb=True)):
        assert per_rb.chunk == 2**16 // cols == 42
        g = per_rb.gains(0, 0, 200)  # crosses chunk boundaries
        assert g.dtype == np.float32 and g.shape == (200, cols)
        sample = g.ravel().astype(float)  # 307,800 values
        assert stats.kstest(sample, "expon").pvalue > 1e-4
        r = np.corrcoef(sample, w)[0, 1]
        assert abs(r) < 4 / math.sqrt(sample.size)  # independent: r ~ N(0, 1/n)
    # a function of (seed, PIU, block): another instance asked in another order agrees
    later = RayleighPowerFading(Streams(6), cols).gains(0, 100, 50)
    np.testing.assert_array_equal(later, power.gains(0, 0, 200)[100:150])
    with pytest.raises(NotImplementedError, match="power gains"):
        power.coefficients(0, 0, 1)
    # its chunked AR(1) keeps the lag-1 correlation at the chunk boundaries too
    rho = 0.9
    gm = GaussMarkovFading(Streams(7), cols, rho, per_rb=True)
    h = gm.coefficients(0, 0, 126).astype(complex)  # three chunks of 42 blocks
    for edge in (41, 83):  # the last block of a chunk and the first of the next
        lag1 = np.mean(h[edge + 1] * np.conj(h[edge])).real
        # Re(h' h*) = rho |h|^2 + sqrt(1 - rho^2) Re(w h*): variance rho^2 + (1 - rho^2) / 2
        assert abs(lag1 - rho) < 4 * math.sqrt((rho**2 + (1 - rho**2) / 2) / cols)
