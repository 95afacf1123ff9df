"""NR transport blocks against TS 38.214 5.1.3.2 computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

sionna_sys = pytest.importorskip("sionna.sys")
torch = pytest.importorskip("torch")

# TS 38.214 Table 5.1.3.1-1 (MCS table 1): index -> (modulation order, 1024 x code rate)
MCS1 = {0: (2, 120), 10: (4, 340), 20: (6, 567), 27: (6, 910)}
# Table 5.1.3.2-1: TBS for N'_info <= 3824 (the part this test reaches)
TBS_TABLE = [24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160,
             168, 176, 184, 192, 208, 224, 240, 256, 272, 288, 304, 320, 336, 352, 368, 384,
             408, 432, 456, 480, 504, 528, 552, 576, 608, 640, 672, 704, 736, 768, 808, 848,
             888, 928, 984, 1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416,
             1480, 1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280,
             2408, 2472, 2536, 2600, 2664, 2728, 2792, 2856, 2976, 3104, 3240, 3368, 3496,
             3624, 3752, 3824]  # fmt: skip


def _tbs_by_hand(n_prb: int, mcs: int, layers: int) -> int:
    qm, r1024 = MCS1[mcs]
    rate = r1024 / 1024
    n_re = min(156, 12 * 14 - 12) * n_prb  # 14 symbols, 12 DMRS REs per PRB
    n_info = n_re * rate * qm * layers
    if n_info <= 3824:
        n = max(3, math.floor(math.log2(n_info)) - 6)
        n_info_q = max(24, 2**n * math.floor(n_info / 2**n))
        return min(t for t in TBS_TABLE if t >= n_info_q)
    n = math.floor(math.log2(n_info - 24)) - 5
    n_info_q = max(3840, 2**n * round((n_info - 24) / 2**n))
    if rate <= 1 / 4:
        c = math.ceil((n_info_q + 24) / 3816)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    if n_info_q > 8424:
        c = math.ceil((n_info_q + 24) / 8424)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    return 8 * math.ceil((n_info_q + 24) / 8) - 24


@pytest.mark.parametrize(
    ("n_prb", "mcs", "layers", "expected"),
    [(1, 0, 1, 32), (10, 10, 1, 2088), (50, 20, 1, 26120), (20, 27, 2, 32776)],
)
def test_transport_block_sizes_follow_38_214(n_prb, mcs, layers, expected):
    from netsim.radio.nr import transport_block

    assert _tbs_by_hand(n_prb, mcs, layers) == expected  # the hand computation itself
    tb = transport_block(n_prb, mcs, 1, layers)
    assert tb.tb_bits == expected
    qm, r1024 = MCS1[mcs]
    assert tb.modulation_order == qm and tb.code_rate == pytest.approx(r1024 / 1024)
    assert tb.n_cb >= 1 and tb.cb_bits * tb.n_cb >= tb.tb_bits


# --------------------------------------------------------------------------- link abstraction
# The NR abstraction's BLER lookup, EESM and MCS choice are Sionna's (checked below against
# Sionna's own blocks on the same inputs); what it adds is the slot-by-slot loop: HARQ draws,
# chase combining, the outer loop and the payload accounting, tested against closed forms.


def _nr(n_links: int = 1, max_prb: int = 25, seed: int = 1, **kw):
    from netsim.radio.nr import NRLinkAbstraction

    return NRLinkAbstraction(n_links, max_prb, np.random.default_rng(seed), **kw)


@pytest.fixture(scope="module")
def nr():
    return _nr(4, 50)


def test_the_tb_table_is_the_transport_block_of_38_214(nr):
    from netsim.radio.nr import transport_block

    for n_prb, k in [(1, 0), (10, 7), (25, 17), (50, 24)]:
        tb = transport_block(n_prb, int(nr.candidates[k]))
        assert nr.tbs[n_prb - 1, k] == tb.tb_bits
        assert (nr.cbs[n_prb - 1, k], nr.n_cb[n_prb - 1, k]) == (tb.cb_bits, tb.n_cb)


def test_bler_lookup_and_eesm_equal_sionnas(nr):
    rng = np.random.default_rng(0)
    phy, eesm = sionna_sys.PHYAbstraction(), sionna_sys.EESM()
    mcs = rng.choice(nr.candidates, 4000)
    cbs = rng.integers(24, 8448, 4000)
    sinr = 10 ** (rng.uniform(-8, 33, 4000) / 10)
    theirs = phy.get_bler(
        torch.tensor(mcs, dtype=torch.int32), 1, 0, torch.tensor(cbs, dtype=torch.int32),
        torch.tensor(sinr, dtype=torch.float32),
    )  # fmt: skip
    assert np.array_equal(nr._bler(mcs, cbs, sinr), theirs.double().numpy())
    per_rb = 10 ** (rng.uniform(-5, 25, (6, 20)) / 10) * (rng.random((6, 20)) < 0.7)
    m6 = rng.choice(nr.candidates, 6)
    sionna_eff = eesm(
        torch.tensor(per_rb.T[None, :, :, None], dtype=torch.float32),
        torch.tensor(m6, dtype=torch.int32),
        1,
    )
    # Sionna computes in float32: a few ulps of 2^-24
    np.testing.assert_allclose(nr.eesm(per_rb, nr.beta[m6]), sionna_eff.numpy(), rtol=1e-6)


def test_link_adaptation_chooses_sionnas_outer_loop_mcs():
    from netsim.radio.nr import RE_PER_PRB

    n, rng = 4, np.random.default_rng(3)
    nr = _nr(n, 50)
    nr.report_db[:] = 8.0
    olla = sionna_sys.OuterLoopLinkAdaptation(
        sionna_sys.PHYAbstraction(), num_ut=n, bler_target=0.1, sinr_eff_init=10**0.8
    )
    feedback, reported = torch.full((n,), -1, dtype=torch.int32), torch.zeros(n)
    for t in range(150):
        prb = rng.integers(1, 51, n)
        sinr = np.zeros((n, 50))
        for i in range(n):
            sinr[i, : prb[i]] = 10 ** (rng.normal(8, 4, prb[i]) / 10)
        theirs = olla(torch.tensor(prb * RE_PER_PRB, dtype=torch.int32), feedback, reported)
        mine = nr.send(t * 1e-3, np.arange(n), sinr, None, [None] * n, np.full(n, 1e9))
        assert [p.mcs for p in mine.process] == theirs.tolist(), t
        feedback = torch.tensor(mine.ack.astype(np.int32))
        reported = torch.tensor(mine.sinr_eff, dtype=torch.float32)


def _block(nr, mcs: int, n_prb: int = 1):
    """A block of ``mcs`` on ``n_prb`` PRBs not sent yet (fixes the MCS of a transmission)."""
    from netsim.radio.nr import HarqProcess

    k = int(np.flatnonzero(nr.candidates == mcs)[0])
    row = n_prb - 1
    return HarqProcess(0.0, mcs, int(nr.cbs[row, k]), int(nr.n_cb[row, k]))


def test_first_transmissions_fail_at_the_tables_bler():
    nr = _nr(1, 1, seed=11)
    mcs = 14
    # the SINR grid point where Sionna's table is closest to 10 % BLER (1 PRB: one block)
    block = _block(nr, mcs)
    grid = 10 ** (np.arange(-5, 30.01, 0.1) / 10)
    bler = nr._bler(np.full(grid.size, mcs), np.full(grid.size, block.cbs), grid)
    at = int(np.argmin(np.abs(bler - 0.1)))
    p, sinr = float(bler[at]), float(grid[at])
    assert abs(p - 0.1) < 0.02 and block.n_cb == 1
    n = 20_000
    fails = 0
    for t in range(n):
        r = nr.send(t * 1e-3, np.zeros(1, int), np.full((1, 1), sinr), None,
                    [_block(nr, mcs)], np.zeros(1))  # fmt: skip
        assert r.tbler[0] == pytest.approx(p)
        fails += int(not r.ack[0])
    assert abs(fails / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_the_outer_loop_steers_the_first_transmission_bler_to_its_target():
    # a stationary, frequency-selective channel over 25 PRBs; 2000 new blocks
    rng = np.random.default_rng(5)
    sinr = 10 ** (rng.normal(12.0, 3.0, (1, 25)) / 10)
    for target in (0.1, 0.3):
        nr = _nr(1, 25, seed=2, bler_target=target)
        acks = [
            nr.send(t * 1e-3, np.zeros(1, int), sinr, None, [None], np.full(1, 1e9)).ack[0]
            for t in range(2000)
        ]
        assert abs(1 - np.mean(acks) - target) <= 0.02


def test_chase_combining_adds_the_effective_sinrs():
    nr = _nr(1, 4, seed=4)
    sinr = np.full((1, 4), 10 ** (-3 / 10))  # -3 dB: a 64QAM block fails, again and again
    block = _block(nr, 20, 4)
    single = float(nr.eesm(sinr, nr.beta[[20]])[0])
    for k in range(1, 6):
        r = nr.send(k * 8e-3, np.zeros(1, int), sinr, None, [block], np.zeros(1))
        assert block.sent == k
        assert block.sinr_sum == pytest.approx(k * single, rel=1e-12)
        expected = nr.tbler(np.array([20]), np.array([block.cbs]), np.array([block.n_cb]),
                            np.array([k * single]))  # fmt: skip
        assert r.tbler[0] == expected[0]
        assert r.sinr_eff[0] == pytest.approx(single, rel=1e-12)  # the slot's own report


class _Recording:
    """An NR abstraction that records, slot by slot, which link sent which block and whether
    it was decoded."""

    def __init__(self, nr) -> None:
        self.nr, self.sent = nr, []
        self.max_transmissions = nr.max_transmissions

    def __getattr__(self, name):  # the rest (CQI reports) is the abstraction's own
        return getattr(self.nr, name)

    def send(self, now, links, *args):
        result = self.nr.send(now, links, *args)
        self.sent += list(zip(links.tolist(), result.process, result.ack.tolist(), strict=True))
        return result


def _scheduler(env, nr, beta, policy="rr", bandwidth=5e6):
    from netsim.radio.band import Band
    from netsim.radio.channel import RadioChannel
    from netsim.radio.fading import NoFading
    from netsim.radio.policies import scheduling_policy
    from netsim.radio.scheduler import OFDMAScheduler

    band = Band.orthogonal(bandwidth, 1e-20, 1)
    channel = RadioChannel(np.asarray(beta), NoFading(1), 0.01, band)
    return OFDMAScheduler(env, channel, NoFading(7), scheduling_policy(policy), nr=nr)


def test_an_upload_delivers_its_payload_exactly_in_transport_blocks():
    env = simpy.Environment()
    rec = _Recording(_nr(2, 25, seed=8))
    # round robin, 12 or 13 RBs each: 0.1 W over 12.5 RBs of 180 kHz at N0 = 1e-20 W/Hz
    # gives an SNR of about 19 and 4 dB per RB
    s = _scheduler(env, rec, [[1.8e-11], [5.7e-13]])
    payload = [1_234_567, 98_765]
    flows = [s.submit(k, 0, 0.1, payload[k]) for k in range(2)]
    env.run()
    for k, f in enumerate(flows):
        d = f.done.value
        mine = [(p, ack) for link, p, ack in rec.sent if link == k]
        blocks = list({id(p): p for p, _ in mine}.values())
        assert sum(p.bits for p, ack in mine if ack) == payload[k] and not d.lost
        assert d.tb_count == len(blocks) and d.harq_retx == len(mine) - len(blocks)
        # the blocks whose first transmission (each block's first row, in slot order) failed
        first_ack = [next(ack for q, ack in mine if q is b) for b in blocks]
        assert d.first_tx_fail == first_ack.count(False) > 0
        assert d.mcs == pytest.approx(np.mean([p.mcs for p in blocks]))
        assert d.harq_retx > 0  # the outer loop makes ~10 % of first transmissions fail


def test_a_block_lost_after_its_last_harq_transmission_loses_the_upload_a_round_trip_each():
    env = simpy.Environment()
    rtt, tries = 5e-3, 3
    nr = _nr(1, 25, max_transmissions=tries, harq_rtt_s=rtt, rlc_max_retx=0)  # RLC UM
    s = _scheduler(env, nr, [[1e-20]])
    # -80 dB: every transmission fails; no PRB count meets the lowest MCS's need, so the
    # PIU gets 1 PRB (its power headroom's cap), whose block holds the 24 bits
    flow = s.submit(0, 0, 0.1, 24)
    env.run()
    d = flow.done.value
    assert d.lost and d.reason == "harq" and d.rlc_retx == 0
    assert d.tb_count == 1 and d.harq_retx == tries - 1
    # sent in slots 0, rtt, 2 rtt; lost at the end of the last one
    assert d.airtime_s == pytest.approx((tries - 1) * rtt + s.slot_s, rel=1e-12)
    assert d.active_s == pytest.approx(tries * s.slot_s, rel=1e-12)


class _Feedback:
    """A HARQ feedback generator whose draws are all ``u``: 1.0 decodes every block (a TBLER
    is at most 1), -1.0 none."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self, n: int) -> np.ndarray:
        return np.full(n, self.u)


class _Timed(_Recording):
    """Also records each slot's time and, before the slot, the links' reports and outer-loop
    offsets (dB): what link adaptation had in hand."""

    def __init__(self, nr) -> None:
        super().__init__(nr)
        self.slots = []

    def send(self, now, links, *args):
        report, offset = self.nr.report_db[links].copy(), self.nr.offset_db[links].copy()
        result = self.nr.send(now, links, *args)
        for k, p, ack in zip(links.tolist(), result.process, result.ack.tolist(), strict=True):
            self.slots.append((now, k, p, p.sent, ack, report, offset))
        return result


def test_an_rlc_retransmission_goes_after_the_status_report_at_the_current_reports_mcs():
    # one PIU at 20 dB per RB (0.1 W over 25 RBs); every HARQ transmission fails
    rtt, slot, delay = 8e-3, 1e-3, 0.01
    nr = _nr(1, 25, max_transmissions=4, harq_rtt_s=rtt, rlc_max_retx=2,
             rlc_status_delay_s=delay)  # fmt: skip
    nr.rng = _Feedback(-1.0)
    rec = _Timed(nr)
    env = simpy.Environment()
    s = _scheduler(env, rec, [[100 * 1e-20 * 180e3 / (0.1 / 25)]])
    flow = s.submit(0, 0, 0.1, 1e7)
    env.run()
    d = flow.done.value
    firsts = [(t, p, report, offset) for t, _, p, n, _, report, offset in rec.slots if n == 1]
    b0 = firsts[0][1]
    assert b0.rlc_retx == 0 and b0.mcs == nr.candidates[0]  # no report yet: the lowest
    # b0 goes in slots 0, 8, 16, 24 (one block per slot: the round trip's 8 blocks then
    # their retransmissions); its last NACK ends at 25 ms, the status report comes 10 ms on
    assert [t for t, _, p, *_ in rec.slots if p is b0] == pytest.approx([0, 8e-3, 16e-3, 24e-3])
    retx = [(t, p, rep, off) for t, p, rep, off in firsts if p.rlc_retx == 1]
    t, r0, report, offset = retx[0]
    assert t == pytest.approx(24e-3 + slot + delay, abs=1e-12)
    assert r0.bits == b0.bits  # b0's payload (its own TBS fits it), nothing else
    # its MCS: chosen from the report in hand then (the SINR the AP measured on the last
    # PUSCH, less the outer loop's offset), as any new block, not b0's
    level = np.full(len(nr.candidates), 10 ** ((report[0] - offset[0]) / 10))
    cbs, n_cb = nr.cbs[24], nr.n_cb[24]  # 25 PRBs
    ok = nr.tbler(nr.candidates, cbs, n_cb, level) <= nr.bler_target
    assert ok.any() and r0.mcs == nr.candidates[np.flatnonzero(ok)[-1]] != b0.mcs
    # the second RLC retransmission is the last: its block's fourth NACK loses the transfer
    assert d.lost and d.reason == "rlc"
    assert max(p.rlc_retx for _, p, *_ in firsts) == 2
    last = next(p for _, p, *_ in firsts if p.rlc_retx == 2)  # the first sent fails first
    ends = [t for t, _, p, n, *_ in rec.slots if p is last and n == 4]
    assert d.airtime_s == pytest.approx(ends[0] + slot, abs=1e-12)
    # every block that failed its fourth transmission before then went back to RLC
    failed = {id(p) for t, _, p, n, *_ in rec.slots if n == 4 and t < ends[0]}
    assert d.rlc_retx == len(failed)


@pytest.mark.parametrize("u", [1.0, -1.0])
def test_a_link_holding_16_harq_processes_sends_no_new_block(u):
    # a 20-slot HARQ round trip: blocks in slots 0-15 hold all 16 processes until their
    # feedback is back at 20-35 ms (decoded, u = 1) or their retransmissions (u = -1)
    nr = _nr(1, 25, harq_rtt_s=20e-3, rlc_max_retx=0)
    nr.rng = _Feedback(u)
    rec = _Timed(nr)
    env = simpy.Environment()
    s = _scheduler(env, rec, [[1e-11]])
    s.submit(0, 0, 0.1, 1e9)
    env.run(until=0.0395)  # 40 slots
    sent = [(round(t / 1e-3), n) for t, _, _, n, *_ in rec.slots]
    assert sent[:16] == [(k, 1) for k in range(16)]  # one new block per slot
    assert all(slot not in (16, 17, 18, 19) for slot, _ in sent)  # every process held
    if u > 0:  # from 20 ms each decoded block's feedback frees a process: a new block
        assert sent[16:] == [(k, 1) for k in range(20, 36)]
    else:  # the retransmissions, each in its process
        assert sent[16:] == [(k, 2) for k in range(20, 36)]


@pytest.mark.parametrize("rlc", [0, 8])
def test_a_downlink_nobody_can_decode_is_lost_not_resent_forever(rlc, monkeypatch):
    from netsim import Simulation
    from netsim.assembly import checks
    from tests.conftest import tiny

    # refused before the run (test below); let through, the run loses it by name
    monkeypatch.setattr(checks, "check_nr_reach", lambda *args: None)

    # the AP at -60 dBm: about -20 dB at the PIUs, below the lowest MCS: every block fails
    radio = {**tiny().radio.model_dump(), "link": "nr", "ap_tx_power_dbm": -60.0}
    radio["rlc_max_retx"] = rlc
    for downlink in ("multicast", "unicast"):
        sim = Simulation(tiny(radio={**radio, "downlink": downlink}, protocol={"rounds": 2}))
        res = sim.run()
        ev = res.events
        failed = ev[ev.event == "dl_fail"]
        assert len(failed) >= 1 and (failed.reason == ("rlc" if rlc else "harq")).all()
        slots = failed.t_s.to_numpy() / 1e-3  # from a slot boundary (1 ms slots)
        assert np.allclose(slots, np.round(slots), rtol=0, atol=1e-6)
        if rlc == 0:
            # new blocks in slots 0-7 (the round trip is 8 slots), their retransmissions in
            # 8-15 and 16-23, block 0's fourth transmission in slot 24 fails: lost
            assert (failed.tb_count == 8).all() and (failed.harq_retx == 8 + 8 + 1).all()
            assert (failed.rlc_retx == 0).all()
            # from the next slot boundary after the model arrived: 25 slots
            assert ((failed.duration_s >= 25e-3) & (failed.duration_s < 26e-3)).all()
        else:
            # block 0's payload fails 4 HARQ transmissions 9 times (RLC sends it 8 times
            # more), each time 25 slots of HARQ and 10 ms to the status report (or later,
            # behind other blocks' retransmissions): every other block failed its HARQ
            # transmissions before then and went back to RLC too
            assert (failed.rlc_retx >= 8).all()
            assert (failed.duration_s >= 9 * 25e-3 + 8 * 10e-3).all()
        assert not (ev.event == "rx_model").any() and not (ev.event == "dl_end").any()
        assert res.rounds.lost.tolist() == [3, 3]  # the server heard of every PIU


@pytest.mark.parametrize("access", ["tdma", "fdma"])
def test_tdma_gives_the_slot_holder_every_rb_and_fdma_its_sub_band(access):
    from netsim import Simulation
    from tests.conftest import tiny

    radio = {"link": "nr", "access": access, "bandwidth_hz": 5e6}
    sim = Simulation(tiny(radio={**tiny().radio.model_dump(), **radio}))
    scheduler = sim.aps[0].access  # the AP's band: the PIUs' sub-bands are its slots
    links = [piu.link for piu in sim.pius]
    rbs = [link.resource_blocks() for link in links]
    if access == "tdma":
        assert scheduler.n_slots == 1 and rbs == [(0, 25)] * 3
    else:  # 25 RBs over 3 sub-bands
        assert rbs == [(0, 8), (8, 16), (16, 25)]
    events = sim.run().events
    tx = events[events.event == "tx_end"]
    assert len(tx) == 3 and (tx.tb_count > 0).all() and tx.mcs.between(0, 28).all()
    assert (tx.bits == tx.bits.iloc[0]).all()  # the payload, not the transport blocks


def test_a_lost_upload_is_logged_and_counted_and_the_run_repeats_exactly(monkeypatch):
    from netsim import Simulation
    from netsim.assembly import checks
    from netsim.log import log_digest
    from netsim.scenario import ScenarioError
    from tests.conftest import tiny

    # -35 dBm: about 9, 0 and -9 dB per RB at 10, 20 and 40 m; two transmissions per block
    # (the downlink, at 56 dB, gets through; the far PIU's uploads do not)
    radio = {**tiny().radio.model_dump(), "link": "nr", "max_transmissions": 2}
    scenario = tiny(radio=radio, device={**tiny().device.model_dump(), "tx_power_dbm": -35.0},
                    protocol={"rounds": 2})  # fmt: skip
    with pytest.raises(ScenarioError, match=r"piu\d's NR uplink cannot be served"):
        Simulation(scenario)  # the far PIU is below the lowest MCS: refused by name
    monkeypatch.setattr(checks, "check_nr_reach", lambda *args: None)  # let through
    first = Simulation(scenario).run()
    events = first.events
    failed = events[events.event == "tx_fail"]
    assert len(failed) > 0 and (failed.reason == "rlc").all()  # after RLC's 8 retransmissions
    assert (failed.tb_count >= 1).all() and (failed.harq_retx >= 1).all()
    assert (failed.rlc_retx >= 8).all()
    assert (events[events.event == "tx_end"].rlc_retx >= 0).all()  # logged on every NR row
    assert failed.rate_bps.isna().all()
    assert int(first.rounds.lost.sum()) == len(failed)  # the server was told
    delivered = events[events.event == "tx_end"]
    assert int(first.rounds.uplink_bits.sum()) == int(delivered.bits.sum())
    assert log_digest(Simulation(scenario).run().events) == log_digest(events)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["radio.link='nr'", "radio.access='cellfree'"], "radio.link = 'nr'"),
        (["radio.link='nr'", "radio.target_rate_bps=1e5"], "radio.link = 'nr'"),
        (["radio.link='nr'", "ota.enabled=true"], "ota.enabled = True"),
        (["radio.link='nr'", "radio.harq_rtt_s=1e-4"], "radio.harq_rtt_s = 0.0001"),
        (["radio.mcs_table=3"], "radio.mcs_table"),
        (["radio.bler_target=1.5"], "radio.bler_target"),
    ],
)
def test_nr_clashes_are_named(overrides, needle):
    from netsim.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_scenario(None, overrides)


def test_without_sionna_the_nr_link_asks_for_the_extra(monkeypatch):
    import netsim.assembly.checks as checks
    from netsim.scenario import ScenarioError, load_scenario

    monkeypatch.setattr(checks, "find_spec", lambda name: None)  # a machine without Sionna
    with pytest.raises(ScenarioError, match=r"pip install 'netsim\[sionna\]'"):
        checks.preflight(load_scenario(None, ["radio.link='nr'"]))


def test_remembered_effective_sinrs_change_nothing():
    # coherence blocks of 10 slots on fixed RBs: the same SINRs, told (same_as) or not
    rng = np.random.default_rng(9)
    told, untold = _nr(2, 25, seed=6), _nr(2, 25, seed=6)
    for t in range(300):
        block = t // 10
        sinr = 10 ** (np.random.default_rng(block).normal(12, 5, (2, 25)) / 10)
        sinr[1, 12:] = 0.0  # the second link holds 12 RBs
        left = rng.integers(1, 10**6, 2).astype(float)
        a = told.send(t * 1e-3, np.arange(2), sinr, None, [None, None], left, same_as=block)
        b = untold.send(t * 1e-3, np.arange(2), sinr, None, [None, None], left)
        assert np.array_equal(a.ack, b.ack) and np.array_equal(a.sinr_eff, b.sinr_eff)
        assert [(p.mcs, p.bits) for p in a.process] == [(p.mcs, p.bits) for p in b.process]


@pytest.mark.parametrize("table", [1, 2])
@pytest.mark.parametrize("uplink", [True, False])
def test_no_mcs_decodes_below_its_shannon_limit(table, uplink):
    nr = _nr(1, 25, mcs_table=table, uplink=uplink)
    assert nr.below_shannon() == []
    # Sionna 2.2's PUSCH table-2 data are six MCS indices off: the PDSCH curves stand in
    if uplink and table == 2:
        nr.bler_category, nr._table = 0, nr._phy_table(0)
        assert nr.below_shannon() != []


def test_a_multicast_is_served_at_its_weakest_recipients_sinr_on_every_rb():
    from netsim.radio.band import Band
    from netsim.radio.channel import RadioChannel
    from netsim.radio.fading import NoFading
    from netsim.radio.policies import RoundRobin
    from netsim.radio.scheduler import OFDMAScheduler

    env = simpy.Environment()
    rec = _Recording(_nr(3 + 1, 5, seed=4, uplink=False))
    seen = []
    send = rec.send

    def spy(now, links, sinr, *rest):
        seen.append((links.copy(), sinr.copy()))
        return send(now, links, sinr, *rest)

    rec.send = spy
    beta = np.array([[1e-12], [1e-13], [4e-13]])  # PIU 1 is the weakest
    channel = RadioChannel(beta, NoFading(1), 0.01, Band.orthogonal(1e6, 1e-20, 1))
    s = OFDMAScheduler(env, channel, NoFading(2), RoundRobin(), downlink=True, nr=rec)
    flow = s.submit(0, 0, 1.0, 20_000, (0, 5), receivers=(0, 1, 2))
    env.run()
    d = flow.done.value
    weakest = 1.0 / 5 * 1e-13 / (1e-20 * 180e3)  # 1 W over 5 RBs at PIU 1
    for links, sinr in seen:
        assert links.tolist() == [3 + 0]  # the AP's own link-adaptation state (3 PIUs + AP 0)
        np.testing.assert_allclose(sinr, weakest, rtol=1e-12)
    assert sum(p.bits for _, p, ack in rec.sent if ack) == 20_000 and d.tb_count >= 1


def test_a_multicast_hands_a_recipient_it_cannot_reach_to_point_to_point():
    # NR MBS (TS 38.300 16.10): PIU 1 is 40 dB below the lowest MCS's need, so the
    # multicast's first block fails its four HARQ transmissions at PIU 1's SINR; PIU 1 then
    # leaves the multicast (point-to-point delivery for it), and the block goes again by RLC
    # to PIUs 0 and 2 alone, at their SINR: the multicast is delivered to them
    from netsim.radio.band import Band
    from netsim.radio.channel import RadioChannel
    from netsim.radio.fading import NoFading
    from netsim.radio.policies import RoundRobin
    from netsim.radio.scheduler import OFDMAScheduler

    env = simpy.Environment()
    rec = _Recording(_nr(3 + 1, 5, seed=4, uplink=False))
    beta = np.array([[1e-12], [1e-19], [4e-13]])
    channel = RadioChannel(beta, NoFading(1), 0.01, Band.orthogonal(1e6, 1e-20, 1))
    s = OFDMAScheduler(env, channel, NoFading(2), RoundRobin(), downlink=True, nr=rec)
    flow = s.submit(0, 0, 1.0, 20_000, (0, 5), receivers=(0, 1, 2))
    env.run()
    d = flow.done.value
    assert d.dropped == (1,) and not d.lost and d.rlc_retx >= 1
    assert flow.receivers == (0, 2)
    assert sum(p.bits for _, p, ack in rec.sent if ack) == 20_000
    # the first block: four NACKs at PIU 1's SINR (the blind lowest MCS), then its payload
    # again for the other two
    first = rec.sent[0][1]
    assert [ack for _, p, ack in rec.sent if p is first] == [False] * 4


# ------------------------------------------------------------ reports that see interference
# TS 38.214: the CQI rows of Tables 5.2.2.1-2 / -3 are the PDSCH MCS rows of Tables
# 5.1.3.1-1 / -2 with the same modulation and code rate (CQI 2 .. 15 by hand); the
# CQIs whose MCS has no Sionna BLER table (table 1: MCS 0, 2) are not resolved (-1)
CQI_MCS_BY_HAND = {
    1: [-1, -1, -1, 4, 6, 8, 11, 13, 15, 18, 20, 22, 24, 26, 28],
    2: [-1, -1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27],
}


@pytest.mark.parametrize("table", [1, 2])
def test_a_cqi_from_its_sinr_follows_the_table_rows(table):
    from netsim.radio.nr import CQI_TABLES

    nr = _nr(1, 25, mcs_table=table, uplink=False)
    assert nr.cqi_mcs.tolist() == CQI_MCS_BY_HAND[table]
    assert len(CQI_TABLES[table]) == 15
    resolved = [c for c in range(1, 16) if np.isfinite(nr.cqi_db[c - 1])]
    assert resolved == sorted(resolved) and len(resolved) >= 11
    step = 0.1  # Sionna's SINR grid (dB)
    for c in resolved:
        m = int(nr.cqi_mcs[c - 1])
        k = int(np.flatnonzero(nr.candidates == m)[0])
        cbs, n_cb = nr.cbs[24, k], nr.n_cb[24, k]  # the CSI reference resource: 25 PRBs
        at = nr.cqi_db[c - 1]
        # the CQI's threshold: its block meets 10 % there and not one grid step below
        tbler = [nr.tbler(np.array([m]), np.array([cbs]), np.array([n_cb]),
                          np.array([10 ** (x / 10)]))[0] for x in (at, at - step)]  # fmt: skip
        assert tbler[0] <= 0.1 < tbler[1]
        # a flat SINR on every RB just above the threshold reports at least this CQI
        flat = np.full((1, 25), 10 ** ((at + 0.02) / 10))
        assert nr.cqi(flat)[0] >= c
        below = np.full((1, 25), 10 ** ((at - step - 0.02) / 10))
        assert nr.cqi(below)[0] < c
        assert nr.cqi_sinr_db(np.array([c]))[0] == at
    assert nr.cqi(np.full((1, 25), 10 ** (-10 / 10)))[0] == 1  # nothing decodes: CQI 1


def _two_cells(env, nr, beta, downlink):
    from netsim.radio.band import Band
    from netsim.radio.channel import RadioChannel
    from netsim.radio.fading import NoFading
    from netsim.radio.policies import scheduling_policy
    from netsim.radio.scheduler import OFDMAScheduler

    band = Band.reused(5e6, 1e-20, np.array([0, 0]), 1)  # reuse 1: one channel of 25 RBs
    channel = RadioChannel(np.asarray(beta), NoFading(2), 0.01, band)
    return OFDMAScheduler(
        env, channel, NoFading(14), scheduling_policy("rr"), downlink=downlink, nr=nr,
        csi_period_s=0.005, csi_delay_s=0.002,
    )  # fmt: skip


# PIU 0 served by AP 0, PIU 1 by AP 1; each hears the other cell 6 dB below its own
BETA_2 = [[1e-12, 2.5e-13], [2.5e-13, 1e-12]]


def test_two_cells_reuse_1_the_first_mcs_comes_from_the_sinr_with_interference():
    noise = 1e-20 * 180e3
    for downlink in (False, True):
        env = simpy.Environment()
        rec = _Recording(_nr(4 if downlink else 2, 25, seed=3, uplink=not downlink))
        s = _two_cells(env, rec, BETA_2, downlink)
        for k in (0, 1):
            s.submit(k, k, 0.1, 1e7)
        env.run(until=0.0295)  # 30 slots
        mine = [(p, ack) for link, p, ack in rec.sent if link == 0]
        blocks = list({id(p): p for p, _ in mine}.values())
        snr = 0.1 / 25 * 1e-12 / noise  # every RB, each cell sending on all 25
        sinr = 0.1 / 25 * 1e-12 / (noise + 0.1 / 25 * 2.5e-13)
        nr = rec.nr
        lowest = int(nr.candidates[0])
        ones = np.ones(1, dtype=np.int64)
        if downlink:
            # no CQI before slot 2 (measured in slot 0, 2 ms to report): the lowest MCS
            assert [p.mcs for p in blocks[:2]] == [lowest, lowest]
            cqi = nr.cqi(np.full((1, 25), sinr))[0]
            assert cqi < nr.cqi(np.full((1, 25), snr))[0]  # the interference is seen
            report = nr.cqi_sinr_db(np.array([cqi]))
        else:
            # the first PUSCH at the lowest MCS; then the SINR the AP measured on it
            assert blocks[0].mcs == lowest
            beta = nr.beta[[lowest]]
            report = 10 * np.log10(nr.eesm(np.full((1, 25), sinr), beta))
        first = 2 if downlink else 1
        nr2 = _nr(1, 25, uplink=not downlink)
        expected = nr2.candidates[nr2.adapt(np.zeros(1, int), 25 * ones, report)[0]]
        clean = nr2.candidates[
            nr2.adapt(np.zeros(1, int), 25 * ones, np.array([10 * np.log10(snr)]))[0]
        ]
        assert blocks[first].mcs == expected < clean


def test_the_outer_loop_converges_to_the_target_under_a_constant_interferer():
    # uplink, reuse 1, static channels: PIU 1's cell sends on every RB in every slot
    env = simpy.Environment()
    rec = _Recording(_nr(2, 25, seed=9))
    s = _two_cells(env, rec, BETA_2, False)
    for k in (0, 1):
        s.submit(k, k, 0.1, 1e12)
    env.run(until=2.9995)  # 3000 slots, 3000 new blocks each
    seen: set[int] = set()
    firsts = []  # each block's first transmission, in order
    for link, p, ack in rec.sent:
        if link == 0 and id(p) not in seen:
            seen.add(id(p))
            firsts.append(ack)
    assert len(firsts) >= 2500
    bler = 1 - np.mean(firsts[100:])  # after the loop's first steps
    assert abs(bler - 0.1) <= 0.02
    # its record counts the same blocks (all but the first, sent blind before a report),
    # none at an end of the MCS range (a steady SINR well inside it)
    loop = rec.nr.outer_loop()
    assert loop["blocks"][0] == len(firsts) - 1
    assert loop["failed"][0] == firsts[1:].count(False) and loop["at_end"][0] == 0


def test_the_outer_loop_counts_blocks_at_the_ends_of_the_mcs_range():
    # 45 dB per RB: every block goes at the highest MCS any SINR gets (26 of table 2): the
    # loop cannot raise it, and the BLER stays below the target (its TBLER there: 0.003);
    # -4 dB: the lowest MCS (3 of table 1), which fails more often than the target (0.96)
    for db, table, end_mcs in ((45.0, 2, 26), (-4.0, 1, 3)):
        nr = _nr(1, 25, seed=3, mcs_table=table)
        sinr = np.full((1, 25), 10 ** (db / 10))
        for t in range(300):
            r = nr.send(t * 1e-3, np.zeros(1, int), sinr, None, [None], np.full(1, 1e9))
        assert r.process[0].mcs == end_mcs
        loop = nr.outer_loop()
        assert loop["blocks"][0] == 299 and loop["at_end"][0] == 299
        # the failures are Binomial(299, TBLER): within 4 standard deviations
        p = float(r.tbler[0])
        assert abs(loop["failed"][0] - 299 * p) <= 4 * np.sqrt(299 * p * (1 - p)) + 1
        assert (p < 0.1) if db > 0 else (p > 0.1)


def test_a_piu_no_mcs_can_serve_is_refused_by_name_before_the_run(tmp_path, capsys):
    from netsim import Simulation
    from netsim.scenario import ScenarioError
    from tests.conftest import tiny

    radio = {**tiny().radio.model_dump(), "link": "nr"}
    sim = Simulation(tiny(radio=radio))
    sched = sim.aps[0].downlink.scheduler
    nr, n_rb = sched.nr, sched.n_rb
    gains = [float(sched.channel.gain[p.index, p.ap_index]) for p in sim.pius]
    weakest = int(np.argmin(gains))
    # the lowest MCS (3 of table 1) meets 10 % BLER on the channel's PRBs at `need` dB; chase
    # combining over 4 transmissions adds 6 dB: the AP power at which the weakest PIU's SNR
    # per RB, P / N_RB g / N, meets that bound
    assert int(nr.candidates[0]) == 3
    need = nr.lowest_mcs_sinr_db(n_rb) - 10 * np.log10(4)
    noise = sched.channel.band.noise_w(sched.rb_hz)
    at_dbm = need + 10 * np.log10(n_rb * noise / gains[weakest] / 1e-3)
    Simulation(tiny(radio={**radio, "ap_tx_power_dbm": at_dbm + 0.1}))  # served, barely
    with pytest.raises(ScenarioError) as refused:
        Simulation(tiny(radio={**radio, "ap_tx_power_dbm": at_dbm - 0.1}))
    message = str(refused.value)
    assert f"piu{weakest}'s NR downlink cannot be served" in message
    assert f"{need - 0.1 + 10 * np.log10(4):.1f} dB with 4 HARQ transmissions" in message
    assert "radio.ap_tx_power_dbm" in message and "lowest MCS (3 of table 1)" in message
    # `netsim validate` refuses it too (it builds the network without running it)
    from netsim.cli import main

    path = tmp_path / "weak.toml"
    path.write_text(tiny(radio={**radio, "ap_tx_power_dbm": at_dbm - 0.1}).to_toml())
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"piu{weakest}'s NR downlink cannot be served" in err


def test_a_power_limited_uplink_gets_the_prbs_its_power_can_serve():
    # one PIU alone with 25 PRBs of 180 kHz: at full power spread over all of them its SNR
    # per PRB is 6 dB below the lowest MCS's need on 25 PRBs; the scheduler grants the most
    # PRBs M at which P / M still meets the need on M PRBs (power headroom), by hand
    nr = _nr(1, 25, seed=3)
    noise = 1e-20 * 180e3
    need_25 = nr.floor_db[24]
    gain = 10 ** ((need_25 - 6.0) / 10) * noise / (0.1 / 25)
    env = simpy.Environment()
    s = _scheduler(env, nr, [[gain]])
    s.submit(0, 0, 0.1, 1e9)
    env.run(until=0.5 * s.slot_s)  # the first slot
    m = np.arange(1, 26)
    snr_db = 10 * np.log10(0.1 / m * gain / noise)
    expected = int(m[snr_db >= nr.floor_db[:25]].max())
    assert 1 < expected < 25 and s.rb_served[0] == expected
    # with 10 dB more it meets the need on every PRB: all 25
    env = simpy.Environment()
    s = _scheduler(env, _nr(1, 25, seed=3), [[gain * 10]])
    s.submit(0, 0, 0.1, 1e9)
    env.run(until=0.5 * s.slot_s)
    assert s.rb_served[0] == 25
