"""The band's derived values against numbers worked out by hand, and the run's band as the
one the links use."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import Simulation
from netsim.radio.band import Band, resource_blocks
from netsim.radio.pathloss import dbm_to_w
from tests.conftest import tiny

# -174 dBm/Hz + 7 dB noise figure = -167 dBm/Hz = 10^((-167 - 30) / 10) W/Hz
PSD_W_HZ = 10 ** (-19.7)  # 1.99526e-20 W/Hz
# pytest.approx's default absolute tolerance (1e-12) would pass any of these tiny powers:
# every comparison below is relative only (abs=0)


def _reuse3() -> Band:
    return Band.reused(20e6, PSD_W_HZ, np.array([0, 1, 2, 0]), 3, numerology=1)


def test_the_noise_figure_is_in_the_psd():
    assert dbm_to_w(-174.0 + 7.0) == pytest.approx(1.99526231e-20, rel=1e-8, abs=0)


def test_reuse_3_splits_20_mhz_into_three_channels_with_their_noise():
    band = _reuse3()
    assert band.channel_hz == pytest.approx(6.666667e6, rel=1e-6, abs=0)  # 20 MHz / 3
    assert band.channels.tolist() == [0, 1, 2, 0]
    # -167 dBm/Hz + 10 log10(6.67e6) = -98.76 dBm = 1.3302e-13 W
    assert band.noise_w(band.channel_hz) == pytest.approx(1.330175e-13, rel=1e-6, abs=0)
    # over the whole 20 MHz: -167 + 73.01 = -93.99 dBm = 3.9905e-13 W
    assert band.band_noise_w == pytest.approx(3.990525e-13, rel=1e-6, abs=0)
    widths = np.array([1e6, 2e6])
    assert band.noise_w(widths) == pytest.approx([1.995262e-14, 3.990525e-14], rel=1e-6, abs=0)


def test_fdma_gives_each_of_four_pius_a_quarter_of_the_channel():
    assert _reuse3().subband_hz(4) == pytest.approx(1.666667e6, rel=1e-6, abs=0)


def test_the_resource_grid_follows_ts_38_211_and_38_101():
    band = Band.orthogonal(20e6, PSD_W_HZ, 2, numerology=1)  # 30 kHz SCS
    assert band.rb_hz == 360e3 and band.slot_s == 0.5e-3  # 12 x 30 kHz; 1 ms / 2
    assert band.n_rb == 51  # TS 38.101-1 Table 5.3.2-1: 20 MHz at 30 kHz
    assert Band.orthogonal(20e6, PSD_W_HZ, 2).n_rb == 106  # at 15 kHz
    assert resource_blocks(100e6, 1) == 273
    # 6.67 MHz is not in the table: the RBs of 180 kHz in 95 % of it, floor(35.19)
    assert Band.reused(20e6, PSD_W_HZ, np.zeros(3, int), 3).n_rb == 35


def test_orthogonal_cells_each_have_the_whole_band():
    band = Band.orthogonal(5e6, PSD_W_HZ, 3)
    assert band.channels.tolist() == [0, 1, 2] and band.channel_hz == 5e6
    with pytest.raises(ValueError):  # the frequency plan is fixed for the run
        band.channels[0] = 1


def test_the_run_builds_one_band_from_the_scenario_and_every_ap_uses_it():
    overrides = [
        'topology={kind="explicit", ap_positions_m=[[0, 0], [300, 0], [600, 0]], '
        "piu_positions_m=[[20, 0], [280, 0], [590, 0]]}",
        "radio.reuse=3",
        "radio.bandwidth_hz=3e6",
        "radio.noise_psd_dbm_hz=-174.0",
        "radio.noise_figure_db=7.0",
    ]
    sim = Simulation(tiny().with_overrides(overrides))
    band = sim.channel.band
    assert band.bandwidth_hz == 3e6 and band.channel_hz == 1e6
    assert band.noise_psd_w_hz == pytest.approx(PSD_W_HZ, rel=1e-12, abs=0)
    assert sorted(band.channels.tolist()) == [0, 1, 2]
    for a, ap in enumerate(sim.aps):
        assert ap.access.channel == band.channels[a] and ap.access.channel_hz == 1e6
        assert ap.downlink.channel.band is band
