"""OFDMA uplinks with a per-AP scheduler, slot by slot (PHYSICS.md section 8; TS 38.211).

The resource grid is the band's (:class:`~netsim.radio.band.Band`): numerology mu gives a
slot of ``1 ms / 2^mu`` and resource blocks (RB) of 12 subcarriers (``180 * 2^mu`` kHz), and
each AP's channel holds the RBs of TS 38.101-1 for its bandwidth. Fading is
frequency-selective: one coefficient per group of ``group_size`` RBs (and coherence block).
Every slot each AP with backlogged PIUs gives each RB to one of them:

* round robin: cyclically, starting where the last slot stopped (equal RB shares);
* max C/I: the PIU with the best rate on that RB;
* proportional fair: the PIU with the largest ``r_k(RB) / T_k``, where the throughput
  average ``T_k <- (1 - 1/t_c) T_k + (1/t_c) r_k(slot)`` is updated every slot.

A PIU spreads its power evenly over the RBs it gets; an RB's SINR counts the PIUs other
co-channel APs scheduled on the same RB. On the downlink an AP radiates ``P_AP / N_RB`` on
each RB of its channel that it uses, whichever of its transfers holds it (a flat power
spectral density: concurrent unicasts share the AP's power, they do not each get all of
it). Under open-loop power control (``rb_power_w`` of
:meth:`OFDMAScheduler.submit`) a PIU granted ``M_RB`` RBs in a slot transmits
``P = min(P_max, M_RB p_rb)`` W, TS 38.213 7.1.1's ``min(P_max, P0 + 10 log10(2^mu M_RB)
+ alpha PL)`` dBm with ``p_rb`` the power per RB of the target (``P0 + 10 log10(2^mu) +
alpha PL``): interference, SINR and energy follow the power radiated on each RB.
Decisions use the RBs' interference-free rates (the AP knows its own PIUs' channels). A
transfer may also hold fixed RBs (``rbs`` of :meth:`OFDMAScheduler.submit`: TDMA's whole
band or FDMA's sub-band under the NR link abstraction); the others share what is left.

The bits served: with Shannon rates (``nr`` None) ``B log2(1 + SINR)`` per RB, and a
transfer ends inside the slot in which its last bit is served (at the slot's constant
rate); with the NR link abstraction (:class:`~netsim.radio.nr.NRLinkAbstraction`) one
transport block per transfer and slot, decoded or not at the slot's end, failed blocks
sent again a HARQ round trip later (before new data), and a transfer ends at the end of
the slot that decodes its last block. While any AP has a backlog the slots run one after
the other, back to back without a SimPy event while nothing else happens in the simulation
(an event at a slot boundary where something else does), none when all are idle.

Above HARQ, under NR (the abstraction's ``harq_processes``, ``rlc_max_retx`` and
``rlc_status_delay_s``):

* HARQ processes (TS 38.321 5.4.2.1 uplink, 5.3.2.1 downlink; 16 per link): a block holds
  one of its link's processes from its first transmission until its feedback is back, a
  HARQ round trip after the transmission that decodes it (the round trip after each failed
  one brings its retransmission). A link with every process held sends no new block (it
  gets no RBs unless a retransmission is due).
* RLC acknowledged mode (TS 38.322 5.3.2): a block that fails its last HARQ transmission is
  reported missing by the receiver's status report (STATUS PDU, 5.3.4: sent when
  t-Reassembly expires on the gap, or answering the transmitter's poll). Modelled: its
  payload re-enters the transfer's RLC queue ``rlc_status_delay_s`` after the end of the
  slot of its last NACK, one delay for every case. From then it goes before new data
  (5.2.3.1.1: retransmissions first), as new transport blocks at the MCS of the link's
  current report (re-segmented to fit their TBS, 5.3.2); RLC retransmits the same payload
  at most ``rlc_max_retx`` times (RETX_COUNT), and a block that fails its last HARQ
  transmission after that loses the transfer (``lost``, reason "rlc"; "harq" with
  ``rlc_max_retx`` 0, unacknowledged mode). A link that cannot carry its lowest MCS thus
  gives up after a bounded number of tries instead of resending forever.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import simpy

from netsim.radio.channel import RadioChannel
from netsim.radio.fading import BlockFading
from netsim.radio.medium import Delivered
from netsim.radio.nr import HarqProcess, NRLinkAbstraction
from netsim.radio.policies import ProportionalFair, SchedulingPolicy, argmax_per_cell

if TYPE_CHECKING:
    import pandas as pd


@dataclass(eq=False)
class _Flow:
    """One PIU's transfer waiting for RBs."""

    piu: int
    ap: int
    power_w: float
    bits: float
    t_start_s: float
    done: simpy.Event
    left_bits: float = 0.0
    sinr_time: float = 0.0  # integral of the mean RB SINR over the slots it was served (s)
    interference_time: float = 0.0
    served_s: float = 0.0  # time in slots with RBs (the transmitter is on)
    ended: bool = field(default=False)
    rbs: tuple[int, int] | None = None  # fixed RBs [lo, hi), else the scheduler's choice
    serial: int = 0  # the scheduler's count of transfers when it was submitted (an identity)
    receivers: tuple[int, ...] = ()  # a downlink multicast's PIUs (else just ``piu``)
    dropped: tuple[int, ...] = ()  # a multicast's recipients handed to point-to-point
    link: int = 0  # its link-adaptation state: the PIU's, or a multicast's AP's
    rb_power_w: float = math.inf  # open-loop power control: the target's power per RB (W)
    energy_j: float = 0.0  # radiated over the slots it was served (power control only)
    # NR: blocks waiting to be sent again, blocks sent, retransmissions, sum of their MCSs
    harq: list[HarqProcess] = field(default_factory=list)
    tb_count: int = 0
    harq_retx: int = 0
    mcs_sum: int = 0
    rlc: list[_RlcRetx] = field(default_factory=list)  # payload RLC sends again
    rlc_retx: int = 0  # blocks whose payload RLC retransmitted
    first_tx_fail: int = 0  # blocks whose first transmission was not decoded


@dataclass(eq=False)
class _RlcRetx:
    """Payload ``bits`` that RLC retransmits for the ``count``-th time (TS 38.322 5.3.2
    RETX_COUNT), from ``due_s`` (s: the status report that asked for it)."""

    bits: float
    count: int
    due_s: float


@dataclass(frozen=True)
class _Air:
    """One slot's RBs and SINRs (n flows, R RBs): ``chosen`` (n, R) flow i has RB r, ``rbs``
    (n,) RBs per flow, ``radiated`` (n,) its transmit power in the slot (W, 0 without RBs),
    ``sinr`` (n, R) on its RBs (0 off them), and per flow
    the mean SINR and interference power (W) over its RBs. Downlink: ``csi`` (m, R) the
    SINR PIU ``csi_piu[i]`` measures on every RB of its AP's channel (its AP's power spread
    over every RB, the other APs' co-channel downlinks of the slot), for its CQI; and
    ``receiver_sinr`` (m, R), each recipient's own SINR on its flow's RBs (row k: PIU
    ``receiver_piu[k]`` of flow ``receiver_flow[k]``; a multicast's ``sinr`` is their
    minimum)."""

    chosen: np.ndarray
    rbs: np.ndarray
    radiated: np.ndarray
    sinr: np.ndarray
    mean_sinr: np.ndarray
    mean_interference: np.ndarray
    csi_piu: np.ndarray | None = None
    csi: np.ndarray | None = None
    receiver_sinr: np.ndarray | None = None
    receiver_piu: np.ndarray | None = None
    receiver_flow: np.ndarray | None = None


# per-RB SINR histogram bins (dB): 0.25 dB wide from -40 to +80 dB, the ends open
SINR_BIN_DB = 0.25
SINR_LOW_DB, SINR_HIGH_DB = -40.0, 80.0
_N_SINR_BINS = int(round((SINR_HIGH_DB - SINR_LOW_DB) / SINR_BIN_DB))
USAGE_COLUMNS = ["direction", "cell", "sinr_db", "rb_slots", "n_rb", "slot_s"]


class OFDMAScheduler:
    """The RB schedulers of every AP on one timeline.

    Parameters
    ----------
    channel: the PIU-AP channels (large-scale gains, coherence time) and their band (each
        AP's frequency channel and its width, the noise, the numerology's RBs and slots).
    fading: per-RB-group fading, ``n_aps * groups`` columns per PIU (AP a owns columns
        a G .. a G + G - 1).
    policy: who gets each RB (:mod:`netsim.radio.policies`).
    group_size: RBs per fading group.
    downlink: the APs send to the PIUs (a flow's transmitter is its AP; interference on
        flow i comes from the other APs' flows, through their gains to i's PIU).
    nr: the NR link abstraction serving the RBs (None: Shannon rates).
    csi_period_s, csi_delay_s: NR downlink: every ``csi_period_s`` (s) in which it serves,
        the receiving PIUs measure their wideband CQI, which the AP uses from
        ``csi_delay_s`` (s) later (TS 38.214 5.2.2.1; periodic CSI reporting).

    Slots in which nothing else happens run back to back without a SimPy event each
    (:attr:`event_free_slots`; the same log as one event per slot, which False restores):
    between two events of the rest of the simulation, a scheduler's slots depend on
    nothing but its own state.

    Under NR two rules keep a cell's weakest PIU from costing the others their transfers:
    an uplink flow gets at most the PRBs its power can serve at the lowest MCS
    (:meth:`_prb_caps`, the power headroom), and a multicast recipient whose SINR fails a
    block's last HARQ transmission leaves the multicast for point-to-point delivery
    (``Delivered.dropped``; NR MBS, TS 38.300 16.10).
    """

    event_free_slots = True
    """Run the slots between two other events without a SimPy event each."""

    def __init__(
        self,
        env: simpy.Environment,
        channel: RadioChannel,
        fading: BlockFading,
        policy: SchedulingPolicy | None = None,
        group_size: int = 4,
        downlink: bool = False,
        nr: NRLinkAbstraction | None = None,
        csi_period_s: float = 0.005,
        csi_delay_s: float = 0.002,
    ) -> None:
        self.env = env
        self.channel = channel
        self.fading = fading
        band = channel.band
        self.channels = band.channels
        self.policy = ProportionalFair() if policy is None else policy
        self.slot_s = band.slot_s
        self.rb_hz = band.rb_hz
        self.n_rb = band.n_rb
        self.group_size = group_size
        self.downlink = downlink
        self.nr = nr
        self.csi_period_s = csi_period_s
        self.csi_delay_s = csi_delay_s
        self._next_csi_s = -math.inf  # when the PIUs measure their next CQI
        self.n_groups = math.ceil(self.n_rb / group_size)
        self.flows: list[_Flow] = []
        self._running = False
        self._air: tuple[tuple | None, _Air] | None = None  # the last slot's, and its key
        # the PIUs' small-scale gains to every AP on every RB group in the coherence block
        # _rb_block (_block_rows): every slot of a block reads them instead of drawing them
        # again. (rows, groups, A), group-major: an RB's owners' gains to every AP are one
        # read
        self._rb_block = -1
        n_piu, n_ap = channel.gain.shape
        self._small = np.zeros((0, self.n_groups, n_ap), dtype=np.float32)
        self._group = np.arange(self.n_rb) // group_size  # each RB's fading group
        self._small_row = np.full(n_piu, -1, dtype=np.int64)  # each PIU's row, -1: none yet
        self._n_small = 0  # rows in use
        self._heard_cache: tuple[tuple, np.ndarray] | None = None  # _heard's last
        self._submitted = 0
        self._now = 0.0  # the time of the slot being served (s)
        self.slots_run = 0
        self.rb_served: dict[int, int] = {}  # RBs given to each PIU (for the tests)
        # NR: per link, when its decoded blocks' HARQ processes are free again (s)
        self._acked: dict[int, deque[float]] = {}
        # RB-slots each AP gave, by the SINR there (bins of SINR_BIN_DB): usage()
        self._usage = np.zeros((channel.gain.shape[1], _N_SINR_BINS), dtype=np.int64)

    def submit(
        self,
        piu: int,
        ap: int,
        power_w: float,
        bits: float,
        rbs: tuple[int, int] | None = None,
        receivers: tuple[int, ...] = (),
        rb_power_w: float = math.inf,
    ) -> _Flow:
        """Queue ``bits`` between ``piu`` and ``ap`` (on RBs ``[lo, hi)`` if ``rbs``) with
        ``power_w`` (W) the transmitter's most; on the downlink ``receivers`` makes it a
        multicast to those PIUs, served on each RB at the weakest one's SINR. ``rb_power_w``
        (W): open-loop power control's power per granted RB (TS 38.213 7.1.1), so that a
        slot with ``M`` RBs radiates ``min(power_w, M rb_power_w)`` (inf: always
        ``power_w``). ``done`` is succeeded with a
        :class:`~netsim.radio.medium.Delivered` when the last bit is served (or, NR, when a
        block is lost: ``lost``)."""
        flow = _Flow(piu, ap, power_w, float(bits), float(self.env.now), self.env.event())
        flow.left_bits = float(bits)
        flow.rbs = rbs
        flow.rb_power_w = rb_power_w
        multicast = self.downlink and bool(receivers)
        flow.receivers = receivers if multicast else (piu,)
        flow.link = self.channel.gain.shape[0] + ap if multicast else piu
        flow.serial = self._submitted
        self._submitted += 1
        self.flows.append(flow)
        if not self._running:
            self._running = True
            self.env.process(self._slots())
        return flow

    def cancel(self, flow: _Flow) -> None:
        """Withdraw ``flow`` (its PIU stopped); its RBs go to the others from the next slot."""
        if not flow.ended:
            flow.ended = True
            self.flows.remove(flow)

    def _slots(self):
        # the first slot starts at the next slot boundary
        start = math.ceil(self.env.now / self.slot_s - 1e-9) * self.slot_s
        if start > self.env.now:
            yield self.env.timeout(start - self.env.now)
        now = float(self.env.now)
        while self.flows:
            self._slot(now)
            self.slots_run += 1
            now += self.slot_s  # as SimPy adds a timeout's delay
            if self.flows and self.event_free_slots and self.env.peek() > now:
                # nothing else happens before the next slot (no event, no submission,
                # no transfer ended in this one): run it without a SimPy event
                continue
            yield self._timeout_at(now)
        self._running = False

    def _timeout_at(self, t: float) -> simpy.Event:
        """An event that fires at exactly ``t`` (s), as a timeout would have from a slot at
        its time. SimPy fires a timeout at ``now + delay``; after slots ran without events
        ``now`` lags behind, and for some (now, t) no float delay lands on ``t`` (the exact
        sum a tie that rounds away from it), so the event is placed at ``t`` itself, as
        ``Environment.schedule`` places one (SimPy 4 has no public call for an absolute
        time): a slot's times, and those of the transfers it ends, are then the same
        whichever way the slots ran."""
        env = self.env
        event = simpy.Event(env)
        event._ok, event._value = True, None  # triggered with no value, as a Timeout
        heapq.heappush(env._queue, (t, simpy.events.NORMAL, next(env._eid), event))
        return event

    def _block_of(self, now: float) -> int:
        """The coherence block of the slot at ``now`` (s)."""
        return math.floor(now / self.channel.coherence_s + 1e-9)

    def _block_rows(self, piu: np.ndarray, now: float) -> np.ndarray:
        """Rows of ``self._small`` holding PIU ``piu[k]``'s small-scale gains to every AP on
        every RB group (groups, A) in the coherence block of ``now``, drawn the first time
        a PIU is asked in the block. A slot reads what it needs from the table instead of
        building a (rows, APs, RBs) tensor: the slots of a block mostly ask for the same
        PIUs, and a slot needs every AP's gain only on the RBs a PIU holds."""
        block = self._block_of(now)
        if block != self._rb_block:
            self._rb_block, self._n_small = block, 0
            self._small_row[:] = -1
        rows = self._small_row[piu]
        if (rows < 0).any():
            new = np.unique(piu[rows < 0])
            n, need = self._n_small, self._n_small + len(new)
            if need > len(self._small):  # the table grows by doubling
                grown = np.empty((max(need, 2 * len(self._small)), *self._small.shape[1:]),
                                 dtype=self._small.dtype)  # fmt: skip
                grown[:n] = self._small[:n]
                self._small = grown
            drawn = np.stack([self.fading.gains(k, block, 1)[0] for k in new.tolist()])
            if drawn.dtype != self._small.dtype:  # Rician: float64 (the LOS phasor's)
                self._small = self._small.astype(np.result_type(drawn, self._small))
            # (new, A G) -> (new, G, A)
            self._small[n:need] = drawn.reshape(len(new), -1, self.n_groups).transpose(0, 2, 1)
            self._small_row[new] = np.arange(n, need)
            self._n_small = need
            rows = self._small_row[piu]
        return rows

    def _own_gains(self, rows: np.ndarray, piu: np.ndarray, ap: np.ndarray) -> np.ndarray:
        """(len(piu), n_rb) large-scale x small-scale gain between PIU ``piu[k]`` (table row
        ``rows[k]``) and AP ``ap[k]`` on every RB (either way: TDD reciprocity)."""
        small = self._small[rows[:, None], self._group[None, :], ap[:, None]]
        return self.channel.gain[piu, ap][:, None] * small

    def _heard(
        self,
        co: np.ndarray,
        radiating: np.ndarray,
        rows: np.ndarray,
        piu: np.ndarray,
        cells: np.ndarray,
    ) -> np.ndarray:
        """(len(piu), R) downlink power PIU ``piu[k]`` (table row ``rows[k]``) hears from
        the other co-channel APs: ``sum_b co[k, b] radiating[b, r] gain[k, b, r]`` over the
        APs ``cells``. A gain is one value per RB group, so each group is one product of the
        (PIUs x APs) gains and the APs' powers on the group's RBs (PIUs x APs x groups
        values, not x RBs). A multicast keeps its RBs from slot to slot, so within a
        coherence block the same sum is asked again: kept."""
        key = (
            self._rb_block, self.channel.moves, piu.tobytes(), cells.tobytes(),
            co.tobytes(), radiating.tobytes(),
        )  # fmt: skip
        if self._heard_cache is not None and self._heard_cache[0] == key:
            return self._heard_cache[1]
        g, size, n_rb = self.n_groups, self.group_size, self.n_rb
        large = self.channel.gain[piu[:, None], cells[None, :]] * co  # (k, b), 0: not heard
        # (groups, k, b): the gains of group j, times the power on its RBs (groups, b, size)
        gain = self._small[rows][:, :, cells].transpose(1, 0, 2) * large[None, :, :]
        power = np.zeros((len(cells), g * size))
        power[:, :n_rb] = radiating  # the last group may hold fewer RBs: 0 W beyond
        per_group = gain @ power.reshape(len(cells), g, size).transpose(1, 0, 2)
        heard = per_group.transpose(1, 0, 2).reshape(len(piu), g * size)[:, :n_rb]
        self._heard_cache = (key, heard)
        return heard

    def _ready(self, now: float) -> list[_Flow]:
        """The transfers with data for the slot at ``now``: new bits, or (NR) a block due
        again, or payload RLC retransmits; new data (RLC's included) only while its link has
        a free HARQ process. One pass over the transfers, its tests written out (a slot's
        budget: a method call per transfer took a fifth of a 57-cell NR slot)."""
        if self.nr is None:
            return [f for f in self.flows if f.left_bits > 1e-9 * f.bits]
        due = now + 1e-9 * self.slot_s
        waiting: dict[int, int] = {}  # each link's blocks awaiting a retransmission
        for f in self.flows:
            if f.harq:
                waiting[f.link] = waiting.get(f.link, 0) + len(f.harq)
        limit = self.nr.harq_processes
        ready = []
        for f in self.flows:
            if f.harq and any(p.due_s <= due for p in f.harq):
                ready.append(f)  # a retransmission is due (it holds its process already)
            elif (
                f.left_bits > 1e-9 * f.bits or (f.rlc and any(r.due_s <= due for r in f.rlc))
            ) and self.processes_held(f.link, now, waiting) < limit:
                ready.append(f)
        return ready

    def _due(self, f: _Flow, now: float) -> HarqProcess | None:
        """``f``'s first block whose HARQ round trip is over by ``now`` (NR), if any."""
        if not f.harq:  # the usual case, without a generator
            return None
        return next((p for p in f.harq if p.due_s <= now + 1e-9 * self.slot_s), None)

    def _rlc_due(self, f: _Flow, now: float) -> _RlcRetx | None:
        """``f``'s first payload that RLC retransmits from ``now`` on (NR), if any."""
        if not f.rlc:
            return None
        return next((r for r in f.rlc if r.due_s <= now + 1e-9 * self.slot_s), None)

    def processes_held(self, link: int, now: float, waiting: dict[int, int]) -> int:
        """HARQ processes of ``link`` held at ``now`` (NR): its blocks awaiting a
        retransmission (``waiting``: each link's, counted once for the slot), and its decoded
        blocks whose feedback is not back yet."""
        held = waiting.get(link, 0)
        acked = self._acked.get(link)
        if acked is None:
            return held
        while acked and acked[0] <= now + 1e-9 * self.slot_s:  # in time order: appended
            acked.popleft()  # at a slot's time + the HARQ round trip
        return held + len(acked)

    def _slot(self, now: float) -> None:
        """Schedule every AP's RBs for one slot, serve the bits, end finished transfers."""
        self._now = now
        flows = self._ready(now)
        if not flows:  # every transfer waits for a HARQ retransmission
            return
        key = self._air_key(flows, now)
        if key is None or self._air is None or self._air[0] != key:
            self._air = (key, self._air_of(flows, now))
        air = self._air[1]
        self._count_usage(flows, air)
        if (
            self.nr is not None
            and air.csi is not None
            and air.csi_piu is not None
            and now >= self._next_csi_s - 1e-12
        ):
            self.nr.measure(now + self.csi_delay_s, air.csi_piu, air.csi)
            periods = math.floor(now / self.csi_period_s + 1e-9) + 1
            self._next_csi_s = periods * self.csi_period_s
        if self.nr is not None:
            self._serve_nr(flows, air, now, key)
        else:
            self._serve_shannon(flows, air, now)

    def _air_key(self, flows: list[_Flow], now: float) -> tuple | None:
        """A key that two slots share when their RBs and SINRs are the same, or None. They
        are while the same transfers (and recipients) have data in the same coherence block
        and no AP chooses: each holds fixed RBs or is its AP's only transfer on the others
        (whatever the policy, it gets them all; a round robin's turn is then the same after
        one slot as after several). Not so where NR uplink PRB caps apply: they follow the
        AP's measurements slot by slot."""
        free = [f.ap for f in flows if f.rbs is None]
        if free and self.nr is not None and not self.downlink:
            return None
        if len(free) != len(set(free)):  # an AP chooses among several
            return None
        block = self._block_of(now)
        return (block, self.channel.moves, tuple((f.serial, f.receivers) for f in flows))

    def _count_usage(self, flows: list[_Flow], air: _Air) -> None:
        """Add this slot's RBs to their APs' counts, by the SINR on each (a multicast's:
        its weakest recipient's)."""
        i, r = np.nonzero(air.chosen)
        if i.size == 0:
            return
        db = 10 * np.log10(np.maximum(air.sinr[i, r], 1e-300))
        b = np.clip(((db - SINR_LOW_DB) / SINR_BIN_DB).astype(np.int64), 0, _N_SINR_BINS - 1)
        ap = np.array([f.ap for f in flows])[i]
        self._usage += np.bincount(ap * _N_SINR_BINS + b, minlength=self._usage.size).reshape(
            self._usage.shape
        )

    def usage(self) -> pd.DataFrame:
        """The RBs this scheduler gave so far: one row per (AP, SINR bin) with any, columns
        :data:`USAGE_COLUMNS`: ``direction``, ``cell`` ("ap3"), ``sinr_db`` (the bin's
        centre; bins :data:`SINR_BIN_DB` wide, the ends open), ``rb_slots`` (RBs x slots
        given at that SINR), and the channel's ``n_rb`` and ``slot_s``, from which an AP's
        RB utilisation over a time span follows (``netsim.analysis.kpis.rb_utilisation``)."""
        import pandas as pd

        a, b = np.nonzero(self._usage)
        return pd.DataFrame(
            {
                "direction": pd.Series(
                    ["downlink" if self.downlink else "uplink"] * len(a), dtype="string"
                ),  # fmt: skip
                "cell": pd.Series([f"ap{k}" for k in a], dtype="string"),
                "sinr_db": SINR_LOW_DB + (b + 0.5) * SINR_BIN_DB,
                "rb_slots": self._usage[a, b],
                "n_rb": self.n_rb,
                "slot_s": self.slot_s,
            },
            columns=USAGE_COLUMNS,
        )

    def _air_of(self, flows: list[_Flow], now: float) -> _Air:
        """Who gets which RB in this slot, and the SINRs there.

        The interference on an RB comes from the transfers scheduled on it, at most one per
        co-channel AP (more only where fixed RBs overlap): the uplink sums, per AP, its
        co-channel APs' owners of each RB through their gains to it (the RBs' owners times
        the APs: cells^2 x RBs a slot, not transfers^2 x RBs); the downlink sums, per
        receiving PIU, the power each co-channel AP radiates on each RB through its gain."""
        ap = np.array([f.ap for f in flows])
        power = np.array([f.power_w for f in flows])
        per_rb = np.array([f.rb_power_w for f in flows])  # power control's target per RB
        noise = self.channel.band.noise_w(self.rb_hz)
        # one row per receiver: flow i's PIU (uplink: its AP), or each PIU of a multicast
        row_flow = np.array([i for i, f in enumerate(flows) for _ in f.receivers])
        row_piu = np.array([k for f in flows for k in f.receivers])
        first = np.searchsorted(row_flow, np.arange(len(flows)))  # each flow's first row
        cells, cell = np.unique(ap, return_inverse=True)  # the APs with transfers; flow's
        small = self._block_rows(row_piu, now)  # their small-scale gains' table rows
        own_rows = self._own_gains(small, row_piu, ap[row_flow])  # (rows, R): to its AP
        own = np.minimum.reduceat(own_rows, first, axis=0)  # a multicast: its weakest's
        # the decision: interference-free rates with the power spread over every RB
        full = np.minimum(power, per_rb * self.n_rb)  # were it granted every RB
        estimate = self.rb_hz * np.log2(1.0 + full[:, None] / self.n_rb * own / noise)
        chosen = np.zeros((len(flows), self.n_rb), dtype=bool)  # flow i has RB r
        caps = None
        if self.nr is not None and not self.downlink:
            caps = self._prb_caps(flows, own, power, per_rb, noise)
        if all(f.rbs is None for f in flows):  # every AP at once
            owner = self.policy.choose_cells(cells, cell, [f.piu for f in flows], estimate)
            chosen[owner, np.arange(self.n_rb)[None, :]] = True
            if caps is not None:
                every = np.arange(len(flows))
                self._within_caps(chosen, every, cell, len(cells), caps, own, estimate)
        else:  # AP by AP: fixed RBs first
            for a in range(len(cells)):
                mine = np.flatnonzero(cell == a).tolist()
                fixed = [(i, f.rbs) for i in mine if (f := flows[i]).rbs is not None]
                for i, (lo, hi) in fixed:
                    chosen[i, lo:hi] = True
                free = np.array([i for i in mine if flows[i].rbs is None], dtype=int)
                if free.size:
                    pius = [flows[i].piu for i in free]
                    owners = free[self.policy.choose(int(cells[a]), pius, estimate[free])]
                    left = ~chosen[[i for i, _ in fixed]].any(axis=0)  # RBs no fixed one holds
                    chosen[owners[left], np.flatnonzero(left)] = True
                    if caps is not None:
                        one_ap = np.zeros(len(free), dtype=int)
                        self._within_caps(chosen, free, one_ap, 1, caps, own, estimate)
        rbs = chosen.sum(axis=1)  # RBs each flow got
        if self.downlink:
            # an AP radiates its power flat over its channel, P / N_RB on each RB it uses,
            # however many of its transfers share them (a base station's constant PSD)
            psd = np.where(rbs > 0, power / self.n_rb, 0.0)
            radiated = psd * rbs
        else:
            # TS 38.213 7.1.1: min(P_max, M_RB x the target per RB), nothing without RBs
            radiated = np.where(rbs > 0, np.minimum(power, per_rb * np.maximum(rbs, 1)), 0.0)
            psd = np.where(rbs > 0, radiated / np.maximum(rbs, 1), 0.0)  # power per RB
        sent = chosen * psd[:, None]  # (n, R): power of flow i on RB r
        n_cells, n_rb = len(cells), self.n_rb
        channel = self.channels[cells]
        # (cell, cell): b's transmissions reach a on the same frequency channel, b != a
        co = (channel[:, None] == channel[None, :]) & ~np.eye(n_cells, dtype=bool)
        # (cell, flow) one-hot: sums over each cell's flows as one product (np.add.at is
        # slow); a sum of one nonzero term and zeros is exact
        member = (cell[None, :] == np.arange(n_cells)[:, None]).astype(float)
        owners = member @ chosen  # transfers on each cell's RB (more than 1: fixed RBs)
        csi = None
        interference: np.ndarray
        receivers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if self.downlink:
            radiating = member @ sent  # power each AP radiates on each RB (W)
            mine = cell[row_flow]  # each row's AP
            # row k's RB r: the other co-channel APs through gain (k's PIU, AP), and its own
            # AP's other transfers on r (only where fixed RBs overlap)
            heard = self._heard(co[mine], radiating, small, row_piu, cells)
            same = np.where(owners[mine] > 1, radiating[mine] - sent[row_flow], 0.0) * own_rows
            rows = heard + same
            on = chosen[row_flow]
            sinr_rows = np.where(on, psd[row_flow, None] * own_rows / (noise + rows), 0.0)
            receivers = (sinr_rows, row_piu, row_flow)
            sinr = np.minimum.reduceat(sinr_rows, first, axis=0)
            counts = np.diff(np.append(first, len(row_flow)))[:, None]
            interference = np.add.reduceat(rows, first, axis=0) / counts
            if self.nr is not None:  # CSI: the own AP on every RB, other APs' downlinks
                signal = power[row_flow, None] / self.n_rb * own_rows
                csi = (row_piu, signal / (noise + heard))
        else:
            # each AP's RB r: the co-channel APs' owners of r, through their gains to it
            j, r = np.nonzero(sent)
            # RBs of a group with the same owners in every cell see the same interference
            # (one gain per group): computed on one RB of each such group
            rep = self._representatives(cell[j], j, r, n_cells, owners)
            keep = rep[r] == r
            j, r = j[keep], r[keep]
            gain = self.channel.gain[row_piu[j]] * self._small[small[j], self._group[r]]
            if n_cells < gain.shape[1]:  # (uplink: a row per flow) to the APs with transfers
                gain = gain[:, cells]
            hit = co[cell[j]] * sent[j, r][:, None] * gain  # (owners, cells)
            index = np.arange(n_cells)[None, :] * n_rb + r[:, None]
            at_cell = np.bincount(index.ravel(), hit.ravel(), minlength=n_cells * n_rb)
            interference = at_cell.reshape(n_cells, n_rb)[:, rep][cell]  # (n, R)
            # the same AP's other transfers on r (only where fixed RBs overlap)
            if (owners > 1).any():
                received = member @ (sent * own)  # own-AP signal power on each RB
                overlap = owners[cell] > 1
                interference = interference + np.where(overlap, received[cell] - sent * own, 0.0)
            sinr = np.where(chosen, psd[:, None] * own / (noise + interference), 0.0)
        held = np.maximum(rbs, 1)  # the means over each flow's RBs (0 without RBs)
        return _Air(
            chosen,
            rbs,
            radiated,
            sinr,
            sinr.sum(axis=1) / held,  # 0 off its RBs
            np.where(chosen, interference, 0.0).sum(axis=1) / held,
            *(csi or (None, None)),
            *(receivers or (None, None, None)),
        )

    def _representatives(
        self,
        owner_cell: np.ndarray,
        j: np.ndarray,
        r: np.ndarray,
        n_cells: int,
        owners: np.ndarray,
    ) -> np.ndarray:
        """(R,) for each RB the RB whose interference it shares: the first RB of its fading
        group where every cell's owner (flow ``j[k]`` of cell ``owner_cell[k]`` holds RB
        ``r[k]``) is the same on each RB of the group, else itself. None shared where fixed
        RBs overlap (``owners`` (cells, R) > 1: a cell with several transfers on an RB)."""
        n_rb, size, g = self.n_rb, self.group_size, self.n_groups
        if (owners > 1).any():
            return np.arange(n_rb)
        held = np.full((n_cells, g * size), -1)  # each cell's flow on each RB, -1: none
        held[owner_cell, r] = j
        held[:, n_rb:] = held[:, n_rb - 1 : n_rb]  # a short last group: its last RB again
        by_group = held.reshape(n_cells, g, size)
        same = (by_group == by_group[:, :, :1]).all(axis=(0, 2))  # (G,)
        first = self._group * size  # each RB's group's first RB
        return np.where(same[self._group], first, np.arange(n_rb))

    def _serve_shannon(self, flows: list[_Flow], air: _Air, now: float) -> None:
        """Shannon rates on every RB; a transfer ends inside the slot of its last bit."""
        rate = self.rb_hz * np.log2(1.0 + air.sinr).sum(axis=1)  # bit/s of each flow
        served = rate * self.slot_s
        for f, r in zip(flows, rate.tolist(), strict=True):
            self.policy.served(f.piu, r)
        on = np.flatnonzero(air.rbs)  # the flows with RBs, their shares as arrays
        take = np.minimum(1.0, np.array([flows[i].left_bits for i in on]) / served[on])
        sinr = (air.mean_sinr[on] * take * self.slot_s).tolist()  # (its slot share)
        interference = (air.mean_interference[on] * take * self.slot_s).tolist()
        energy = (air.radiated[on] * take * self.slot_s).tolist()
        time_s, bits = (take * self.slot_s).tolist(), (take * served[on]).tolist()
        for j, i in enumerate(on.tolist()):
            f = flows[i]
            self.rb_served[f.piu] = self.rb_served.get(f.piu, 0) + int(air.rbs[i])
            f.sinr_time += sinr[j]
            f.interference_time += interference[j]
            f.served_s += time_s[j]
            f.energy_j += energy[j]
            f.left_bits -= bits[j]
            if take[j] < 1.0 or f.left_bits <= 1e-9 * f.bits:  # it needed the share take
                self._finish(f, now + time_s[j])

    def _serve_nr(
        self,
        flows: list[_Flow],
        air: _Air,
        now: float,
        key: tuple | None,
    ) -> None:
        """One transport block per transfer with RBs: a due retransmission first, else new
        data; all of them in one call of the NR abstraction (``key``: the slot's SINRs are
        those of the last slot with the same key, None: not kept)."""
        assert self.nr is not None
        active: list[int] = np.flatnonzero(air.rbs).tolist()
        due = [self._due(flows[i], now) for i in active]
        # new data: RLC retransmissions before new payload (TS 38.322 5.2.3.1.1)
        again = [None if p is not None else self._rlc_due(flows[i], now) for i, p in
                 zip(active, due, strict=True)]  # fmt: skip
        bits_left = [f.left_bits if r is None else r.bits for f, r in
                     zip((flows[i] for i in active), again, strict=True)]  # fmt: skip
        reports = None  # uplink: the AP's own measurements
        if self.downlink:  # the CQIs received by now; a multicast's weakest recipient's
            receivers = [flows[i].receivers for i in active]
            everyone = np.array([k for r in receivers for k in r], dtype=int)
            first = np.cumsum([0, *(len(r) for r in receivers[:-1])])
            heard = self.nr.reports(now, everyone)  # one look at the reports that arrived
            reports = np.minimum.reduceat(heard, first) if active else heard
        result = self.nr.send(
            now,
            np.array([flows[i].link for i in active], dtype=int),
            air.sinr[active],
            reports,
            due,
            np.array(bits_left),
            None if key is None else (key, tuple(active)),
            np.array([0 if r is None else r.count for r in again], dtype=int),
        )
        decoded = dict.fromkeys(range(len(flows)), 0.0)
        # each flow's slot as plain floats (the same products, not one numpy scalar each)
        sinr = (air.mean_sinr * self.slot_s).tolist()
        interference = (air.mean_interference * self.slot_s).tolist()
        energy, rbs = (air.radiated * self.slot_s).tolist(), air.rbs.tolist()
        rlc = self.nr.rlc_max_retx
        for j, i in enumerate(active):
            f, p, ack = flows[i], result.process[j], bool(result.ack[j])
            if p is due[j]:
                f.harq.remove(p)
                f.harq_retx += 1
            else:
                segment = again[j]
                if segment is None:
                    f.left_bits -= p.bits
                else:  # re-segmented to the block's TBS: the rest waits for the next
                    segment.bits -= p.bits
                    if segment.bits <= 1e-9 * f.bits:
                        f.rlc.remove(segment)
                f.tb_count += 1
                f.mcs_sum += p.mcs
                f.first_tx_fail += not ack
            self.rb_served[f.piu] = self.rb_served.get(f.piu, 0) + rbs[i]
            f.sinr_time += sinr[i]
            f.interference_time += interference[i]
            f.served_s += self.slot_s
            f.energy_j += energy[i]
            if ack:
                decoded[i] = p.bits
                # its process is free once the ACK is back, a HARQ round trip on
                self._acked.setdefault(f.link, deque()).append(now + self.nr.harq_rtt_s)
            elif p.sent < self.nr.max_transmissions:
                f.harq.append(p)
            elif (multicast := len(f.receivers) > 1 and rlc > 0) or p.rlc_retx < rlc:
                if multicast:
                    # a multicast block its weakest recipient could not decode (NR MBS, TS
                    # 38.300 16.10: point-to-multipoint with point-to-point retransmission):
                    # that PIU gets the model point-to-point instead, the others this block
                    # again by RLC, no longer held back to its SINR (and with no more than
                    # RLC's count of retransmissions)
                    weakest = self._weakest(air, i)
                    f.receivers = tuple(k for k in f.receivers if k != weakest)
                    f.dropped += (weakest,)
                # RLC sends it again after the receiver's status report
                due_s = now + self.slot_s + self.nr.rlc_status_delay_s
                f.rlc.append(_RlcRetx(p.bits, min(p.rlc_retx + 1, rlc), due_s))
                f.rlc_retx += 1
            else:  # the transfer is lost
                self._finish(f, now + self.slot_s, lost="rlc" if rlc > 0 else "harq")
                continue
            if f.left_bits <= 1e-9 * f.bits and not f.harq and not f.rlc:
                self._finish(f, now + self.slot_s)
        for i, f in enumerate(flows):
            self.policy.served(f.piu, decoded[i] / self.slot_s)

    def _prb_caps(
        self,
        flows: list[_Flow],
        own: np.ndarray,
        power: np.ndarray,
        per_rb: np.ndarray,
        noise: float,
    ) -> np.ndarray:
        """NR uplink: the most PRBs each flow's power can serve (a gNB's use of the power
        headroom report, TS 38.213 7.7 / TS 38.321 5.4.6): the largest M at which its SINR
        per PRB, with its power spread over M PRBs (open-loop control: at most the target
        per PRB), still meets the lowest MCS's need on M PRBs. The SINR at M is scaled from
        the link's last report (measured on its last PUSCH's PRBs, interference included);
        before a report, from its interference-free SNR. At least 1."""
        assert self.nr is not None
        m = np.arange(1, self.n_rb + 1)
        psd = np.minimum(power[:, None], per_rb[:, None] * m[None, :]) / m[None, :]  # (n, M)
        links = np.array([f.link for f in flows])
        report_db = self.nr.report_db[links]
        last = np.maximum(self.nr.report_prb[links], 1)
        psd_last = np.minimum(power, per_rb * last) / last
        clean_db = 10 * np.log10(psd * own.mean(axis=1)[:, None] / noise)
        scaled_db = report_db[:, None] + 10 * np.log10(psd / psd_last[:, None])
        sinr_db = np.where(np.isnan(report_db)[:, None], clean_db, scaled_db)
        ok = sinr_db >= self.nr.floor_db[None, : self.n_rb]
        return np.where(ok.any(axis=1), self.n_rb - np.argmax(ok[:, ::-1], axis=1), 1)

    @staticmethod
    def _within_caps(
        chosen: np.ndarray,
        rows: np.ndarray,
        cell: np.ndarray,
        n_cells: int,
        caps: np.ndarray,
        own: np.ndarray,
        estimate: np.ndarray,
    ) -> None:
        """Hold each flow ``rows[i]`` (of the AP at position ``cell[i]`` < ``n_cells``) to
        its ``caps`` PRBs, its best by gain (of equal gains the lower PRB); the PRBs it gives
        up go, one by one in PRB order, to the flow of the same AP under its cap with the
        best rate estimate there (the first of equal ones); those nobody can use stay empty.
        Every AP at once: each released PRB to the best flow with room at the start, which
        is what giving them one by one does wherever that fills no flow past its cap (a flow
        leaves the running only after its last PRB, and the best of the rest is the same);
        an AP where it would is served one by one."""
        held_rbs = chosen[rows]
        cap = caps[rows]
        over = np.flatnonzero(held_rbs.sum(axis=1) > cap)
        if over.size == 0:
            return
        n_rb = chosen.shape[1]
        mine = held_rbs[over]
        by_gain = np.argsort(np.where(mine, -own[rows[over]], np.inf), axis=1, kind="stable")
        rank = np.argsort(by_gain, axis=1)  # each PRB's place in its flow's order
        drop = mine & (rank >= cap[over][:, None])
        held_rbs[over] = mine & ~drop
        released = np.zeros((n_cells, n_rb), dtype=bool)  # each AP's PRBs given up
        i, r = np.nonzero(drop)
        released[cell[over[i]], r] = True
        held = held_rbs.sum(axis=1)
        metric = np.where((held < cap)[:, None], estimate[rows], -np.inf)
        a, r = np.nonzero(released)
        best = argmax_per_cell(metric, cell, n_cells)[a, r]
        room = np.isfinite(metric[best, r])  # a flow of the AP with room
        a, r, best = a[room], r[room], best[room]
        past = held + np.bincount(best, minlength=len(rows)) > cap
        one_by_one = np.zeros(n_cells, dtype=bool)
        one_by_one[cell[past]] = True
        step = ~one_by_one[a]
        held_rbs[best[step], r[step]] = True
        for c in np.flatnonzero(one_by_one).tolist():
            theirs = np.flatnonzero(cell == c)
            left = held[theirs].copy()
            for prb in np.flatnonzero(released[c]).tolist():
                free = left < cap[theirs]
                if not free.any():
                    break
                k = int(np.argmax(np.where(free, metric[theirs, prb], -np.inf)))
                held_rbs[theirs[k], prb] = True
                left[k] += 1
        chosen[rows] = held_rbs

    @staticmethod
    def _weakest(air: _Air, i: int) -> int:
        """The recipient of multicast flow ``i`` with the lowest mean SINR on its RBs."""
        assert air.receiver_sinr is not None and air.receiver_piu is not None
        assert air.receiver_flow is not None
        rows = np.flatnonzero(air.receiver_flow == i)
        on = air.chosen[i]
        mean = air.receiver_sinr[rows][:, on].mean(axis=1)
        return int(air.receiver_piu[rows[int(np.argmin(mean))]])

    def _finish(self, f: _Flow, at_s: float, lost: str | None = None) -> None:
        """End ``f`` at ``at_s``: delivered, or (NR) lost for reason ``lost`` ("harq",
        "rlc")."""
        self.cancel(f)
        airtime = at_s - f.t_start_s
        nr = self.nr is not None
        delivered = Delivered(
            airtime,
            f.bits / airtime,
            10 * math.log10(f.sinr_time / f.served_s) if f.sinr_time > 0 else -math.inf,
            f.interference_time / f.served_s,
            f.served_s,
            energy_j=f.energy_j if math.isfinite(f.rb_power_w) else math.nan,
            mcs=f.mcs_sum / f.tb_count if nr else math.nan,
            tb_count=f.tb_count if nr else None,
            harq_retx=f.harq_retx if nr else None,
            lost=lost is not None,
            rlc_retx=f.rlc_retx if nr else None,
            reason=lost,
            first_tx_fail=f.first_tx_fail if nr else None,
            dropped=f.dropped,
        )
        timer = self._timeout_at(self._now + (at_s - self._now))  # as a slot's timeout

        def report(_: simpy.Event) -> None:
            f.done.succeed(delivered)

        timer.callbacks.append(report)
