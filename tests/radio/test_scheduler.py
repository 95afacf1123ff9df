"""OFDMA schedulers by hand: round robin's equal shares, proportional fair against a brute
force of the sum of log throughputs, and PF fairer than max C/I."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import simpy

from netsim.radio.band import Band, resource_blocks
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import BlockFading, NoFading
from netsim.radio.policies import ProportionalFair, RoundRobin, scheduling_policy
from netsim.radio.scheduler import OFDMAScheduler

N0, P = 1e-20, 0.1


class _Fixed(BlockFading):
    """Static frequency-selective gains: ``table[piu]`` (A G,) in every block."""

    static = True

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        return np.tile(self.table[piu], (n_blocks, 1))


def _run(scheduler: OFDMAScheduler, env: simpy.Environment, pius, slots: int):
    flows = [scheduler.submit(k, 0, P, 1e15) for k in pius]
    env.run(until=(slots - 0.5) * scheduler.slot_s)  # exactly ``slots`` slots
    return np.array([f.bits - f.left_bits for f in flows]) / (slots * scheduler.slot_s)


def test_resource_blocks_follow_ts_38_101():
    assert resource_blocks(20e6, 0) == 106 and resource_blocks(20e6, 1) == 51
    assert resource_blocks(100e6, 1) == 273


def test_round_robin_gives_equal_rb_shares():
    env = simpy.Environment()
    beta = np.array([[1e-9], [1e-11], [1e-10]])
    channel = RadioChannel(beta, NoFading(1), 0.01, Band.orthogonal(5e6, N0, 1))
    s = OFDMAScheduler(env, channel, NoFading(7), RoundRobin())
    assert s.n_rb == 25
    _run(s, env, [0, 1, 2], 30)  # 30 slots x 25 RBs = 750 = 3 x 250
    assert [s.rb_served[k] for k in range(3)] == [250, 250, 250]


def test_proportional_fair_maximises_the_sum_of_log_throughputs():
    # two PIUs, two RBs in groups of one, each PIU better on another RB (static channel)
    env = simpy.Environment()
    bandwidth = 2 * 180e3 / 0.95 + 1.0  # two RBs at 15 kHz
    table = np.array([[4.0, 0.5], [1.0, 2.0]])  # |h|^2 per RB: piu0 RB0 strong, piu1 RB1
    beta = np.array([[1e-9], [3e-10]])
    channel = RadioChannel(beta, NoFading(1), 0.01, Band.orthogonal(bandwidth, N0, 1))
    s = OFDMAScheduler(env, channel, _Fixed(table), ProportionalFair(50.0), group_size=1)
    assert s.n_rb == 2
    throughput = _run(s, env, [0, 1], 4000)
    # brute force: every time-sharing of the four per-slot allocations
    noise = N0 * s.rb_hz
    vectors = []
    for owners in itertools.product((0, 1), repeat=2):
        rbs = np.bincount(owners, minlength=2)
        rate = np.zeros(2)
        for rb, k in enumerate(owners):
            rate[k] += s.rb_hz * np.log2(1 + P / rbs[k] * beta[k, 0] * table[k, rb] / noise)
        vectors.append(rate)
    grid = np.linspace(0, 1, 41)
    best = -np.inf
    for w in itertools.product(grid, repeat=3):
        if sum(w) <= 1:
            mix = np.array([*w, 1 - sum(w)]) @ np.array(vectors)
            if (mix > 0).all():
                best = max(best, float(np.log(mix).sum()))
    assert np.log(throughput).sum() == pytest.approx(best, abs=0.01)  # within 1 % per PIU


def _jain(x: np.ndarray) -> float:
    return float(x.sum() ** 2 / (len(x) * (x**2).sum()))


def test_pf_is_fairer_than_max_ci_with_a_10_db_gap():
    from netsim.radio.fading import IIDBlockFading
    from netsim.rng import Streams

    jain = {}
    for policy in ("max_ci", "pf"):
        env = simpy.Environment()
        beta = np.array([[1e-9], [1e-10]])  # 10 dB apart
        channel = RadioChannel(beta, NoFading(1), 0.001, Band.orthogonal(5e6, N0, 1))
        fading = IIDBlockFading(Streams(2), 7, 0.0)  # 25 RBs in 7 groups of 4
        s = OFDMAScheduler(env, channel, fading, scheduling_policy(policy))
        jain[policy] = _jain(_run(s, env, [0, 1], 2000))
    assert jain["pf"] > jain["max_ci"] + 0.1 and jain["pf"] > 0.9


def test_in_a_run_every_piu_with_data_gets_rbs_at_once():
    from netsim import Simulation
    from tests.conftest import tiny

    sim = Simulation(tiny().with_overrides(["radio.scheduler='rr'", "protocol.rounds=1"]))
    events = sim.run().events
    piu = events[events.role == "piu"]
    for k in range(len(sim.pius)):
        mine = piu[piu.node == f"piu{k}"]
        trained = float(mine.loc[mine.event == "train_end", "t_s"].iloc[0])
        start = float(mine.loc[mine.event == "tx_start", "t_s"].iloc[0])
        end = mine[mine.event == "tx_end"].iloc[0]
        assert start == trained  # no queue: the scheduler shares the RBs
        # the transmitter is on in the slots with RBs: at most power x airtime
        assert 0 < end.energy_j <= end.power_w * end.duration_s * (1 + 1e-12)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["radio.scheduler='pf'", "radio.access='cellfree'"], "radio.scheduler = 'pf'"),
        (["radio.scheduler='rr'", "radio.target_rate_bps=1e5"], "radio.scheduler = 'rr'"),
        (["radio.scheduler='rr'", "ota.enabled=true"], "ota.enabled = True"),
        (["radio.numerology=4"], "radio.numerology"),
    ],
)
def test_scheduler_clashes_are_named(overrides, needle):
    from netsim.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_scenario(None, overrides)


def test_power_control_per_rb_two_pius_sharing_25_rbs_by_hand():
    # TS 38.213 7.1.1: P = min(P_max, P0 + 10 log10(2^mu M_RB) + alpha PL). Two PIUs share
    # the 25 RBs of 5 MHz at 15 kHz in turn (12 and 13 RBs, alternating: 12.5 each on
    # average); the target gives -4.00 dBm for the whole channel, so each radiates
    # -4.00 + 10 log10(12.5 / 25) = -7.01 dBm on average, at the same power per RB
    from netsim.radio.links import OpenLoopPowerControl
    from netsim.radio.pathloss import dbm_to_w

    env = simpy.Environment()
    gain, alpha = 1e-10, 0.8  # PL = 100 dB
    p0_dbm = -4.0 - alpha * 100.0  # the channel's P0: full-channel power -4.00 dBm
    control = OpenLoopPowerControl(dbm_to_w(p0_dbm), alpha)
    beta = np.array([[gain], [gain]])
    channel = RadioChannel(beta, NoFading(1), 0.01, Band.orthogonal(5e6, N0, 1))
    s = OFDMAScheduler(env, channel, NoFading(7), RoundRobin())
    assert s.n_rb == 25
    p_max = dbm_to_w(23.0)
    per_rb = control.rb_power_w(gain, s.n_rb)
    assert 10 * np.log10(per_rb * 25 / 1e-3) == pytest.approx(-4.00, abs=1e-9)
    flows = [s.submit(k, 0, p_max, 1e15, rb_power_w=per_rb) for k in (0, 1)]
    env.run(until=(100 - 0.5) * s.slot_s)  # 100 slots, each PIU 1250 RBs
    for f in flows:
        mean_dbm = 10 * np.log10(f.energy_j / f.served_s / 1e-3)
        assert mean_dbm == pytest.approx(-4.00 + 10 * np.log10(12.5 / 25), abs=1e-9)
        assert mean_dbm == pytest.approx(-7.01, abs=0.005)
        # the SINR on each RB is the target's power per RB, not P / 12.5 of full power
        noise = N0 * s.rb_hz
        assert f.sinr_time / f.served_s == pytest.approx(per_rb * gain / noise, rel=1e-12)
    # its RB usage: 100 slots x 25 RBs, all in the 0.25 dB bin of that SINR; a utilisation
    # of 1 over the 100 slots (kpis.rb_utilisation), the per-RB CDF one step there
    from netsim.analysis.kpis import rb_sinr_cdf, rb_utilisation

    usage = s.usage()
    sinr_db = 10 * np.log10(per_rb * gain / (N0 * s.rb_hz))
    assert usage.rb_slots.tolist() == [2500] and usage.cell.tolist() == ["ap0"]
    assert abs(usage.sinr_db.iloc[0] - sinr_db) <= 0.125
    assert rb_utilisation(usage, 100 * s.slot_s).rb_utilisation.tolist() == pytest.approx([1.0])
    assert rb_sinr_cdf(usage).p.tolist() == [1.0]
    assert rb_sinr_cdf(usage, "downlink").empty
    # capped: at P_max = -10 dBm the PIU granted 12 or 13 RBs sends -10 dBm on them
    env = simpy.Environment()
    s = OFDMAScheduler(env, channel, NoFading(7), RoundRobin())
    f = s.submit(0, 0, dbm_to_w(-10.0), 1e15, rb_power_w=per_rb)
    s.submit(1, 0, p_max, 1e15, rb_power_w=per_rb)
    env.run(until=(100 - 0.5) * s.slot_s)
    assert f.energy_j / f.served_s == pytest.approx(dbm_to_w(-10.0), rel=1e-12)


def test_an_ap_sending_several_unicasts_radiates_its_power_once_p_over_n_rb_per_rb():
    # reuse 1, 25 RBs: AP 0 sends one unicast (every RB), AP 1 two unicasts sharing its RBs
    # in turn (12 and 13). Each AP radiates P in all, P / 25 on each RB whichever transfer
    # holds it: PIU 0 meets P / 25 of interference on each RB, and so do PIUs 1 and 2
    env = simpy.Environment()
    band = Band.reused(5e6, N0, np.array([0, 0]), 1)
    own, cross = 1e-10, 1e-12
    beta = np.array([[own, cross], [cross, own], [cross, own]])  # PIU 0 in cell 0, 1-2 in 1
    channel = RadioChannel(beta, NoFading(2), 0.01, band)
    s = OFDMAScheduler(env, channel, NoFading(14), RoundRobin(), downlink=True)
    assert s.n_rb == 25
    flows = [s.submit(0, 0, P, 1e15), s.submit(1, 1, P, 1e15), s.submit(2, 1, P, 1e15)]
    air = s._air_of(flows, 0.0)
    assert air.rbs.tolist() in ([25, 12, 13], [25, 13, 12])
    assert air.radiated[0] == pytest.approx(P, rel=1e-12)
    assert air.radiated[1] + air.radiated[2] == pytest.approx(P, rel=1e-12)  # not 2 P
    env.run(until=(100 - 0.5) * s.slot_s)  # 100 slots
    noise, per_rb = N0 * s.rb_hz, P / 25
    sinr = per_rb * own / (noise + per_rb * cross)
    for f in flows:
        assert f.sinr_time / f.served_s == pytest.approx(sinr, rel=1e-12)
        assert f.interference_time / f.served_s == pytest.approx(per_rb * cross, rel=1e-12)


def test_per_rb_fading_held_for_every_piu_draws_each_chunk_once_and_the_same_values():
    # a slot scheduler reads each PIU's per-RB gains every coherence block: with the cache
    # holding one chunk per PIU, a chunk is drawn once; a bound too small redraws it, the
    # values equal either way (only speed depends on the bound)
    from netsim.radio.fading import IIDBlockFading
    from netsim.rng import Streams

    def reads(bound_pius: int, max_bytes: int) -> tuple[list[np.ndarray], int]:
        fading = IIDBlockFading(Streams(3), 8, 0.0)
        fading._max_cached = 2  # a tight default bound, as 57 APs x 27 groups make it
        fading.hold(bound_pius, max_bytes)
        drawn = 0
        draw = fading._diffuse_chunk

        def counted(piu, chunk):
            nonlocal drawn
            drawn += 1
            return draw(piu, chunk)

        fading._diffuse_chunk = counted
        out = [fading.gains(k, b, 1) for b in range(3) for k in range(10)]
        return out, drawn

    held, once = reads(10, 2**30)
    tight, again = reads(10, 3 * IIDBlockFading.CHUNK * 8 * 16)  # room for 3 chunks only
    assert once == 10 and again == 30  # 10 PIUs x 3 blocks, each a fresh draw
    for a, b in zip(held, tight, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["pf", "max_ci", "rr"])
def test_every_ap_at_once_decides_as_ap_by_ap_ties_included(name):
    # choose_cells (one vectorised step over every AP) against choose AP by AP, with
    # rates rounded to a few values so that ties are common (the first of equal ones wins)
    rng = np.random.default_rng(5)
    for trial in range(20):
        n_cells, n_rb = int(rng.integers(1, 6)), int(rng.integers(1, 12))
        cell = rng.integers(0, n_cells, size=int(rng.integers(n_cells, 4 * n_cells + 1)))
        cell[:n_cells] = np.arange(n_cells)  # every AP has a PIU
        rng.shuffle(cell)
        pius = rng.permutation(100)[: len(cell)].tolist()
        estimate = rng.integers(0, 3, size=(len(cell), n_rb)).astype(float) * 1e6
        aps = np.sort(rng.choice(50, size=n_cells, replace=False))
        one, other = scheduling_policy(name), scheduling_policy(name)
        for policy in (one, other):  # some history: averages, round robin's turn
            if name == "pf":
                policy.average = {k: float(rng.integers(1, 3)) for k in pius[::2]}
        if name == "pf":
            other.average = dict(one.average)
        for _ in range(3):
            at_once = one.choose_cells(aps, cell, pius, estimate)
            by_ap = np.empty_like(at_once)
            for c, ap in enumerate(aps.tolist()):
                mine = np.flatnonzero(cell == c)
                by_ap[c] = mine[other.choose(ap, [pius[i] for i in mine], estimate[mine])]
            np.testing.assert_array_equal(at_once, by_ap, err_msg=f"trial {trial}")
            assert (cell[at_once] == np.arange(n_cells)[:, None]).all()  # its own AP's


def test_prbs_over_a_cap_go_one_by_one_to_the_best_flow_with_room():
    # _within_caps against the rule written out, AP by AP: each flow keeps its caps[i] PRBs
    # of best gain, the released PRBs (in order) go one at a time to the flow of the same AP
    # with room and the best estimate there (the first of equal ones), until none has room;
    # several APs in one call (the all-at-once step and the one-by-one fallback both occur)
    rng = np.random.default_rng(8)
    for trial in range(300):
        n_cells, n_rb = int(rng.integers(1, 4)), int(rng.integers(1, 16))
        sizes = rng.integers(1, 6, size=n_cells)
        n = int(sizes.sum())
        cell = np.repeat(np.arange(n_cells), sizes)
        rng.shuffle(cell)  # an AP's flows need not be adjacent
        chosen = np.zeros((n + 1, n_rb), dtype=bool)  # row n: a flow not in rows, untouched
        for c in range(n_cells):
            theirs = np.flatnonzero(cell == c)
            chosen[theirs[rng.integers(0, len(theirs), size=n_rb)], np.arange(n_rb)] = True
        chosen[n, rng.random(n_rb) < 0.5] = True
        caps = rng.integers(1, n_rb + 1, size=n + 1)
        own, estimate = rng.random((n + 1, n_rb)), rng.integers(0, 3, size=(n + 1, n_rb)) * 1.0
        expected = chosen.copy()
        for c in range(n_cells):
            free = np.flatnonzero(cell == c)
            released = []
            for i in free:
                mine = np.flatnonzero(expected[i])
                if mine.size > caps[i]:
                    drop = mine[np.argsort(-own[i, mine], kind="stable")][caps[i] :]
                    expected[i, drop] = False
                    released += drop.tolist()
            for r in sorted(released):
                room = [i for i in free if expected[i].sum() < caps[i]]
                if room:
                    expected[max(room, key=lambda i: (estimate[i, r], -i)), r] = True
        rows = np.arange(n)
        OFDMAScheduler._within_caps(chosen, rows, cell, n_cells, caps, own, estimate)
        np.testing.assert_array_equal(chosen, expected, err_msg=f"trial {trial}")
