"""Frequency plans, shared spectrum in a run, and open-loop power control, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from netsim.topologies.builders import axial_to_xy, hex_sites, hex_wrap_offsets

from netsim import Simulation
from netsim.radio.pathloss import dbm_to_w
from netsim.radio.spectrum import assign_channels, min_cochannel_distance_m
from netsim.scenario import ScenarioError, load_scenario
from tests.conftest import tiny

ISD = 200.0


@pytest.mark.parametrize(("n", "distance"), [(3, math.sqrt(3)), (7, math.sqrt(7))])
def test_classic_reuse_distances_on_19_sites(n, distance):
    xy = axial_to_xy(hex_sites(2), ISD)
    channels = assign_channels(xy, n)
    load = np.bincount(channels, minlength=n)
    assert load.max() - load.min() <= 1 or n == 7  # reuse 7: the centre cluster is alone
    assert min_cochannel_distance_m(channels, xy) == pytest.approx(distance * ISD)


def test_loads_stay_balanced_where_no_distance_can_be_gained():
    xy = axial_to_xy(hex_sites(1), ISD)
    wrap = hex_wrap_offsets(1, ISD)  # with wrap-around every site neighbours every other
    channels = assign_channels(xy, 3, wrap)
    assert sorted(np.bincount(channels)) == [2, 2, 3]
    sectors = assign_channels(np.repeat(xy, 3, axis=0), 3, wrap)
    assert (sectors.reshape(7, 3) == [0, 1, 2]).all()  # a site's sectors never share


def _two_cells(*overrides: str) -> list[str]:
    return [
        'topology={kind="explicit", ap_positions_m=[[0, 0], [300, 0]], '
        "piu_positions_m=[[20, 0], [280, 0]]}",
        "radio.fading='none'",
        "radio.shadowing_std_db=0.0",
        "radio.bandwidth_hz=1e6",
        *overrides,
    ]


def _finish(starts: list[float], bits: float, rate_alone: list[float], rate_both: list[float]):
    """End times of two transmissions of ``bits`` starting at ``starts``, each at its
    rate alone or, while both send, at its rate with the other's interference."""
    left, t, ends = [bits, bits], min(starts), [math.nan, math.nan]
    while any(math.isnan(e) for e in ends):
        on = [i for i in (0, 1) if starts[i] <= t and math.isnan(ends[i])]
        rate = [rate_both[i] if len(on) == 2 else rate_alone[i] for i in (0, 1)]
        nxt = [starts[i] for i in (0, 1) if starts[i] > t]
        until = [t + left[i] / rate[i] for i in on] + nxt
        step = min(until) - t
        for i in on:
            left[i] -= rate[i] * step
            if left[i] <= 1e-6:
                ends[i] = t + step
        t += step
    return ends


def test_co_channel_uploads_of_two_cells_finish_when_the_sinr_says():
    sim = Simulation(tiny().with_overrides(_two_cells("radio.reuse=1", "protocol.rounds=1")))
    events = sim.run().events
    tx = events[events.event == "tx_start"].set_index("node")
    end = events[events.event == "tx_end"].set_index("node")
    beta, noise = sim.gain, sim.channel.band.noise_psd_w_hz * 1e6
    p = dbm_to_w(sim.scenario.device.tx_power_dbm)
    alone = [1e6 * math.log2(1 + p * beta[k, k] / noise) for k in (0, 1)]
    both = [1e6 * math.log2(1 + p * beta[k, k] / (noise + p * beta[1 - k, k])) for k in (0, 1)]
    starts = [float(tx.loc[f"piu{k}", "t_s"]) for k in (0, 1)]
    bits = float(tx.loc["piu0", "bits"])
    expected = _finish(starts, bits, alone, both)
    for k in (0, 1):
        assert float(end.loc[f"piu{k}", "t_s"]) == pytest.approx(expected[k], rel=1e-9)
        assert float(end.loc[f"piu{k}", "interference_w"]) > 0  # they overlapped
    assert (events.loc[events.event == "tx_end", "duration_s"] > 0).all()


def test_orthogonal_cells_hear_no_one():
    sim = Simulation(tiny().with_overrides(_two_cells("protocol.rounds=1")))
    end = sim.run().events
    assert end.loc[end.event == "tx_end", "interference_w"].isna().all()


def test_open_loop_power_control_by_hand_with_the_cap():
    far = 'topology={kind="explicit", ap_positions_m=[[0, 0]], piu_positions_m=[[5, 0], [400, 0]]}'
    overrides = [
        far,
        "radio.fading='none'",
        "radio.shadowing_std_db=0.0",
        "radio.power_control={p0_dbm=-60.0, alpha=1.0}",
        "protocol.rounds=1",
    ]
    sim = Simulation(tiny().with_overrides(overrides))
    events = sim.run().events
    p_max = dbm_to_w(sim.scenario.device.tx_power_dbm)
    for k in (0, 1):
        pl_db = -10 * math.log10(sim.gain[k, 0])
        expected = min(p_max, dbm_to_w(-60.0 + pl_db))
        row = events[(events.node == f"piu{k}") & (events.event == "tx_end")].iloc[0]
        assert row.power_w == pytest.approx(expected, rel=1e-12)
        assert row.energy_j == pytest.approx(expected * row.duration_s, rel=1e-12)
    assert events[(events.node == "piu1") & (events.event == "tx_end")].power_w.iloc[0] == p_max


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["radio.reuse=3", "radio.access='cellfree'"], "radio.reuse = 3"),
        (["radio.reuse=1", "radio.target_rate_bps=1e5"], "radio.reuse = 1"),
        (["radio.reuse=1", "ota.enabled=true"], "ota.enabled = True"),
        (["radio.reuse=0"], "radio.reuse"),
        (["radio.combining='mrc'", "radio.access='cellfree'"], "radio.combining = 'mrc'"),
        (["radio.combining='mmse_irc'", "ota.enabled=true"], "ota.enabled = True"),
    ],
)
def test_shared_spectrum_clashes_are_named(overrides, needle):
    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_scenario(None, overrides)
