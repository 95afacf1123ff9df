"""Frequency plans, shared spectrum in a run, and open-loop power control, by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from netsim.topologies.builders import axial_to_xy, hex_rings, hex_sites, hex_wrap_offsets

from netsim import Simulation
from netsim.assembly.radio import band
from netsim.radio.pathloss import dbm_to_w
from netsim.radio.spectrum import distances_m, frequency_plan, min_cochannel_distance_m
from netsim.scenario import ScenarioError, load_scenario
from tests.conftest import tiny

ISD = 200.0


def _hex(sites: int, sectors: int = 1, wrap: bool = False):
    rings = hex_rings(sites)
    xy = np.repeat(axial_to_xy(hex_sites(rings), ISD), sectors, axis=0)
    return xy, hex_wrap_offsets(rings, ISD) if wrap else None


def _loads(channels: np.ndarray, n: int) -> list[int]:
    return sorted(np.bincount(channels, minlength=n).tolist())


@pytest.mark.parametrize(("n", "distance"), [(3, math.sqrt(3)), (7, math.sqrt(7))])
def test_classic_reuse_distances_on_19_sites(n, distance):
    xy, _ = _hex(19)
    plan = frequency_plan(xy, n)
    assert plan.optimal
    assert min_cochannel_distance_m(plan.channels, xy) == pytest.approx(distance * ISD)
    # reuse 3: 19 = 6 + 6 + 7; reuse 7: the centre's channel reaches no ring-2 site sqrt(7)
    # ISD away that is also sqrt(7) from the others on it, so the loads cannot be balanced
    assert _loads(plan.channels, n) == ([6, 6, 7] if n == 3 else [1, 3, 3, 3, 3, 3, 3])


def test_reuse_7_on_19_sites_with_wrap_around_keeps_co_channel_sites_2_isd_apart():
    """With wrap-around every site of the 19 sees 6 sites at 1 ISD, 6 at sqrt(3) and 6 at 2
    (its own two rings), so 2 ISD is the most any plan can reach with fewer than 19
    channels; it takes 7 channels with loads [2, 2, 3, 3, 3, 3, 3] (a greedy colouring found
    sqrt(3) ISD)."""
    xy, wrap = _hex(19, wrap=True)
    dist = np.round(distances_m(xy, wrap) / ISD, 9)
    for row, a in zip(dist, range(19), strict=True):
        assert sorted(np.delete(row, a).tolist()) == [1.0] * 6 + [1.732050808] * 6 + [2.0] * 6
    plan = frequency_plan(xy, 7, wrap)
    assert plan.optimal
    assert min_cochannel_distance_m(plan.channels, xy, wrap) == pytest.approx(2 * ISD)
    assert plan.distance_m == pytest.approx(2 * ISD)
    assert _loads(plan.channels, 7) == [2, 2, 3, 3, 3, 3, 3]
    assert frequency_plan(xy, 6, wrap).distance_m == pytest.approx(math.sqrt(3) * ISD)


def _brute_force(xy: np.ndarray, n: int, wrap: np.ndarray | None) -> tuple[float, int]:
    """The largest co-channel distance over every one of the n^A plans, and the smallest
    load spread (largest - smallest load) among the plans that reach it."""
    best = (-1.0, len(xy))
    for channels in itertools.product(range(n), repeat=len(xy)):
        plan = np.array(channels)
        d = round(min_cochannel_distance_m(plan, xy, wrap), 6)
        load = np.bincount(plan, minlength=n)
        best = max(best, (d, -int(load.max() - load.min())))
    return best[0], -best[1]


_LINE = np.column_stack([np.cumsum([0, 1, 2, 3, 5, 8, 13, 21]) * ISD, np.zeros(8)])


@pytest.mark.parametrize(
    ("xy", "wrap", "n"),
    [
        (*_hex(7), 3),  # the centre alone: sqrt(3) ISD, loads [1, 3, 3]
        (*_hex(7), 4),
        (*_hex(7, wrap=True), 3),  # every site neighbours every other
        (_LINE, None, 3),  # 8 APs on a line, gaps 1, 2, 3, 5, ... ISD: no lattice
        (np.repeat(_hex(7)[0][:3], 2, axis=0), None, 3),  # 3 sites x 2 co-sited APs
    ],
)
def test_the_plan_is_as_good_as_brute_force_finds(xy, wrap, n):
    distance, spread = _brute_force(xy, n, wrap)
    plan = frequency_plan(xy, n, wrap)
    assert plan.optimal
    assert round(plan.distance_m, 6) == distance
    load = np.bincount(plan.channels, minlength=n)
    assert load.max() - load.min() == spread


def test_sectors_of_a_site_never_share_a_channel_when_n_allows():
    xy, wrap = _hex(7, sectors=3, wrap=True)
    plan = frequency_plan(xy, 3, wrap)
    assert (plan.channels.reshape(7, 3) == [0, 1, 2]).all()
    assert plan.optimal and plan.distance_m == pytest.approx(ISD)
    two = frequency_plan(xy, 2, wrap)  # fewer channels than sectors: distance 0, loads kept
    assert two.distance_m == 0.0 and _loads(two.channels, 2) == [10, 11]


def test_the_plan_is_deterministic():
    xy, wrap = _hex(19, sectors=3, wrap=True)
    for n in (7, 12):
        first = frequency_plan(xy, n, wrap)
        again = frequency_plan(xy.copy(), n, wrap.copy())
        assert (first.channels == again.channels).all() and first.optimal == again.optimal


def test_a_search_out_of_nodes_says_so_and_keeps_the_best_proven_plan():
    """19 sites x 3 sectors with wrap-around and reuse 12: the search gives up before it
    proves whether sqrt(3) ISD is reachable; the plan keeps 1 ISD with balanced loads."""
    xy, wrap = _hex(19, sectors=3, wrap=True)
    plan = frequency_plan(xy, 12, wrap)
    assert not plan.optimal
    assert plan.distance_m == pytest.approx(ISD)
    assert _loads(plan.channels, 12) == [4, 4, 4] + [5] * 9


def test_the_grid_torus_counts_in_the_plan():
    """Three APs at x = 0, 300 and 900 m of a 1000 m torus, two channels: flat, 0 and 900 m
    are the farthest pair; round the torus they are 100 m apart and 300 and 900 m (400 m)
    share instead."""
    s = load_scenario(
        None,
        [
            'topology={kind="grid", side_m=1000.0, aps_per_side=2, wrap_around=true}',
            "radio.reuse=2",
        ],
    )
    xy = np.array([[0.0, 0.0], [300.0, 0.0], [900.0, 0.0]])
    channels = band(s.radio, s.topology, xy).channels
    assert channels[1] == channels[2] != channels[0]
    flat = s.with_overrides(["topology.wrap_around=false"])
    channels = band(flat.radio, flat.topology, xy).channels
    assert channels[0] == channels[2] != channels[1]


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
