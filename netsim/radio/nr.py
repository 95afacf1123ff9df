"""3GPP NR link abstraction: MCS tables and transport blocks (TS 38.214), on Sionna.

Sionna SYS/PHY (``sionna-no-rt``, PyTorch) is the engine: its MCS decoder (Tables
5.1.3.1-1 .. -4) and transport-block helper (5.1.3.2: TBS, code-block segmentation) are
used as they are, imported lazily (the import takes seconds) only when an NR link is
built, and so are its precomputed LDPC BLER tables and EESM parameters
(:class:`NRLinkAbstraction`, which the OFDMA scheduler calls once per slot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class TransportBlock:
    """One slot's transport block: information bits (TBS), code-block size (bits, CRCs
    included) and count, and the MCS's modulation order (bits per symbol) and code rate."""

    tb_bits: int
    cb_bits: int
    n_cb: int
    modulation_order: int
    code_rate: float


@lru_cache(maxsize=4096)
def transport_block(
    n_prb: int,
    mcs_index: int,
    mcs_table: int = 1,
    layers: int = 1,
    symbols: int = 14,
    dmrs_per_prb: int = 12,
    uplink: bool = True,
) -> TransportBlock:
    """The transport block of ``n_prb`` PRBs at MCS ``mcs_index`` of table ``mcs_table``
    (1: up to 64QAM, 2: 256QAM, ...) with ``layers`` MIMO layers over ``symbols`` OFDM
    symbols, ``dmrs_per_prb`` REs per PRB taken by DMRS (TS 38.214 5.1.3.2 / 6.1.4.2)."""
    from sionna.phy.nr.utils import calculate_tb_size, decode_mcs_index

    order, rate = decode_mcs_index(mcs_index, table_index=mcs_table, is_pusch=uplink)
    tb, cb, n_cb, *_ = calculate_tb_size(
        modulation_order=order,
        target_coderate=rate,
        num_prbs=n_prb,
        num_ofdm_symbols=symbols,
        num_dmrs_per_prb=dmrs_per_prb,
        num_layers=layers,
    )
    return TransportBlock(int(tb), int(cb), int(n_cb), int(order), float(rate))


# TS 38.214 5.1.3.2: N'_RE = 12 x 14 symbols - 12 DMRS REs per PRB (capped at 156 there)
RE_PER_PRB = 156
_OFFSET_DB = (-20.0, 20.0)  # the outer loop's offset bounds (Sionna's defaults)

# TS 38.214 Tables 5.2.2.1-2 (CQI table 1, up to 64QAM) and 5.2.2.1-3 (table 2, 256QAM):
# CQI 1..15 -> (modulation order, code rate x 1024); CQI 0 is "out of range"
CQI_TABLES: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((2, 78), (2, 120), (2, 193), (2, 308), (2, 449), (2, 602), (4, 378), (4, 490),
        (4, 616), (6, 466), (6, 567), (6, 666), (6, 772), (6, 873), (6, 948)),
    2: ((2, 78), (2, 193), (2, 449), (4, 378), (4, 490), (4, 616), (6, 466), (6, 567),
        (6, 666), (6, 772), (6, 873), (8, 711), (8, 797), (8, 885), (8, 948)),
}  # fmt: skip
CQI_BLER = 0.1  # TS 38.214 5.2.2.1: the CQI's transport block error probability (tables 1, 2)


def _grid(values: np.ndarray, lo: np.float32, delta: np.float32, n: int) -> np.ndarray:
    """Index of the nearest of the ``n`` grid points ``lo, lo + delta, ...`` (clamped)."""
    scaled = (np.asarray(values, dtype=np.float32) - lo) / delta
    return np.clip(np.round(scaled), 0, n - 1).astype(np.int64)


def _db32(linear: np.ndarray) -> np.ndarray:
    """``10 log10`` in float32, as Sionna converts an SINR before its table lookup."""
    return (10 * np.log10(np.asarray(linear, dtype=np.float32))).astype(np.float32)


def _grid_of(min_max_delta: tuple[float, float, float]) -> tuple[np.float32, np.float32, int]:
    """(first point, spacing, points) of Sionna's grid ``min, min + delta, ...`` below max."""
    lo, hi, delta = min_max_delta
    return np.float32(lo), np.float32(delta), int(np.arange(lo, hi, delta).size)


# TS 38.321 5.4.2.1 / 5.3.2.1 (TS 38.331 nrofHARQ-ProcessesForPUSCH / -PDSCH, default 16):
# HARQ processes of one link's HARQ entity
HARQ_PROCESSES = 16
# TS 38.331 RLC-Config maxRetxThreshold: the values an AM RLC entity may be configured with
RLC_MAX_RETX = (1, 2, 3, 4, 6, 8, 16, 32)


@dataclass(eq=False)
class HarqProcess:
    """One transport block in flight: the payload bits it carries, its MCS, its code blocks
    (size ``cbs`` bits, ``n_cb`` of them: fixed by the first transmission's PRBs), the
    effective SINR combined over its transmissions (linear, chase combining), the
    transmissions so far and when it may be sent again (s). ``rlc_retx``: how many times
    RLC has already retransmitted the payload it carries (TS 38.322 5.3.2 RETX_COUNT, 0 for
    new data)."""

    bits: float
    mcs: int
    cbs: int
    n_cb: int
    sinr_sum: float = 0.0
    sent: int = 0
    due_s: float = math.inf
    rlc_retx: int = 0


@dataclass(frozen=True)
class SlotResult:
    """What one slot's transport blocks did, per scheduled link (arrays of the call's
    order): ``process`` the block sent (a new one or a retransmission), ``ack`` decoded,
    ``tbler`` its error probability, ``sinr_eff`` the slot's own effective SINR (linear)."""

    process: list[HarqProcess]
    ack: np.ndarray
    tbler: np.ndarray
    sinr_eff: np.ndarray


class NRLinkAbstraction:
    """The NR physical-layer abstraction of one direction's links (PHYSICS.md section 9).

    Every slot, for all links the schedulers gave RBs (all APs at once, vectorised): a new
    transport block's MCS by link adaptation (the highest MCS whose TBLER at the last
    reported effective SINR minus the outer-loop offset is at most ``bler_target``), its
    size from the
    PRBs (TS 38.214 5.1.3.2), the effective SINR over its RBs by EESM, the code-block BLER
    from Sionna's precomputed LDPC tables (looked up as ``PHYAbstraction.get_bler`` does,
    once per slot for every link),
    the transport-block error ``1 - (1 - BLER)^n_cb`` and a Bernoulli draw of the HARQ
    feedback from ``rng``. A failed block is sent again ``harq_rtt_s`` after its
    transmission with chase combining (effective SINRs add, linear) up to
    ``max_transmissions`` times. The outer loop moves a link's offset by ``+delta_up`` dB
    on a NACK of a first transmission and by ``-delta_up * t / (1 - t)`` on an ACK, so the
    long-run first-transmission BLER is the target t (Sionna's ``OuterLoopLinkAdaptation``
    rule; its per-call cost, a millisecond, is too much for every slot, so the loop runs
    here on the same BLER lookup; a test checks both choose the same MCS).

    The reports see the interference present (PHYSICS.md section 9). Uplink: the effective
    SINR the AP measured, interference included, on the link's RBs of its last PUSCH slot
    (its own report, kept here). Downlink: the PIU's wideband CQI (TS 38.214 5.2.2.1,
    :meth:`cqi`) from its SINR on every RB with the co-channel downlinks of the measured
    slot (:meth:`measure`), used from ``csi_delay_s`` after that slot; the scheduler passes
    it to :meth:`send` as the SINR at which the reported CQI just meets its 10 % BLER (a
    multicast: its weakest recipient's). Before a link's first report a block goes at the
    lowest MCS with a BLER table: a blind guess could only be the interference-free SINR
    (the optimistic error this replaces) or a margin below it that no layout bounds, while
    the lowest MCS costs one slot of low rate until the report arrives; such blocks do not
    move the outer loop (it corrects reports, and they had none).

    Above HARQ (the scheduler applies these, :class:`~netsim.radio.scheduler.OFDMAScheduler`):
    at most ``harq_processes`` blocks of a link await their feedback at once (TS 38.321:
    16), and a block that fails its last HARQ transmission is retransmitted by RLC
    acknowledged mode (TS 38.322 5.3.2) ``rlc_status_delay_s`` (s) after the end of that
    slot, as new transport blocks at the MCS of the current report (:meth:`send`'s
    ``rlc_retx``), up to ``rlc_max_retx`` times (0: RLC unacknowledged mode, nothing
    retransmitted above HARQ).

    Parameters
    ----------
    n_links: links (PIUs) whose outer-loop state is kept; max_prb: PRBs of a channel.
    rng: the HARQ feedback draws; mcs_table: 1 (64QAM) or 2 (256QAM), TS 38.214 Table
    5.1.3.1-1 / -2; uplink: PUSCH (else PDSCH) tables.
    """

    def __init__(
        self,
        n_links: int,
        max_prb: int,
        rng: np.random.Generator,
        mcs_table: int = 1,
        bler_target: float = 0.1,
        max_transmissions: int = 4,
        harq_rtt_s: float = 0.008,
        uplink: bool = True,
        delta_up_db: float = 1.0,
        rlc_max_retx: int = 8,
        rlc_status_delay_s: float = 0.01,
        harq_processes: int = HARQ_PROCESSES,
    ) -> None:
        import torch
        from sionna.phy.nr.utils import MCSDecoderNR, TransportBlockNR
        from sionna.sys import EESM, PHYAbstraction

        self.rng = rng
        self.table = mcs_table
        self.category = 0 if uplink else 1  # Sionna: 0 PUSCH, 1 PDSCH
        self.bler_target = bler_target
        self.max_transmissions = max_transmissions
        self.harq_rtt_s = harq_rtt_s
        self.rlc_max_retx = rlc_max_retx
        self.rlc_status_delay_s = rlc_status_delay_s
        self.harq_processes = harq_processes
        self.delta_up = delta_up_db
        self.delta_down = delta_up_db * bler_target / (1 - bler_target)
        self.offset_db = np.zeros(n_links)
        self.report_db = np.full(n_links, np.nan)  # last effective SINR fed back (dB)
        self.report_prb = np.zeros(n_links, dtype=np.int64)  # the PRBs it was measured on
        # per link, the first transmissions link adaptation chose from a report (the outer
        # loop's), those not decoded, and those at an end of the MCS range (no MCS met the
        # target, or the highest any SINR gets on their PRBs did), where it cannot steer
        self.first_blocks = np.zeros(n_links, dtype=np.int64)
        self.first_failed = np.zeros(n_links, dtype=np.int64)
        self.first_at_end = np.zeros(n_links, dtype=np.int64)
        self.uplink = uplink
        self._pending: list[tuple[float, np.ndarray, np.ndarray]] = []  # CQIs on their way
        phy = PHYAbstraction()
        self._cbs_grid = _grid_of(phy.cbs_interp_min_max_delta)
        self._snr_grid = _grid_of(phy.snr_db_interp_min_max_delta)
        # Sionna's BLER tables interpolated on its (code-block size, SINR dB) grid, for this
        # direction and MCS table: (MCS, CBS, SINR); looked up as its get_bler does. Sionna
        # 2.2's PUSCH table-2 data sit six MCS indices off (each MCS would decode below its
        # Shannon limit); there the PDSCH curves of the table stand in (the same LDPC code
        # and modulation without transform precoding)
        self._decode = MCSDecoderNR()
        self._phy = phy
        for category in dict.fromkeys((self.category, 1)):
            self.bler_category = category
            self._table = self._phy_table(category)
            if not self.below_shannon():
                break
        else:
            raise ValueError(f"Sionna's BLER tables for MCS table {mcs_table} beat Shannon")
        self._choices: dict[tuple[int, int], int] = {}  # (SINR grid point, PRBs) -> MCS
        self._eff: tuple[object, dict[tuple[int, int], float]] = (None, {})
        # EESM beta per MCS of the table (category-independent in Sionna's table)
        self.beta = EESM().beta_tensor[mcs_table - 1].double().numpy()
        n_mcs = len(self.beta)
        # the MCSs Sionna has BLER tables for (PUSCH table 1: 3..27)
        probe = self._bler(np.arange(n_mcs), np.full(n_mcs, 1000), np.full(n_mcs, 10.0))
        self.candidates = np.flatnonzero(np.isfinite(probe))
        # TBS, code-block size and count for every (PRBs, candidate MCS): Sionna's helpers
        prb = torch.arange(1, max_prb + 1)[:, None]
        mcs = torch.as_tensor(self.candidates, dtype=torch.int32)[None, :].expand(max_prb, -1)
        qm, rate = self._decode(mcs, mcs_table, self.category, check_index_validity=False)
        coded = (qm * prb * RE_PER_PRB).to(torch.int32)
        tbs, cbs, n_cb = TransportBlockNR().transport_block_size(qm, rate, coded)
        self.tbs, self.cbs, self.n_cb = (t.numpy().astype(np.int64) for t in (tbs, cbs, n_cb))
        self._cqi_setup(max_prb)
        # per PRB count, the position of the highest MCS link adaptation picks at the top
        # of the SINR grid: the upper end of the range the outer loop can steer in
        lo, delta, n = self._snr_grid
        top = np.full((len(self.candidates), max_prb), 10 ** ((lo + delta * (n - 1)) / 10))
        grid = np.broadcast_to(self.candidates[:, None], top.shape)
        self.top_pick = self.choose(self.tbler(grid, self.cbs.T, self.n_cb.T, top))
        # ... and the lowest SINR grid point at which the lowest MCS meets the target (n:
        # none): a report below it leaves link adaptation no MCS that would
        cbs_points = _grid(self.cbs[:, 0], *self._cbs_grid)  # (max_prb,)
        bler = self._table[int(self.candidates[0]), cbs_points, :]  # (max_prb, n)
        ok = 1 - (1 - bler) ** self.n_cb[:, :1] <= self.bler_target
        self.floor_point = np.where(ok.any(axis=1), np.argmax(ok, axis=1), n)
        # ... that grid point in dB, per PRB count (inf: none; Sionna's float32 grid)
        grid_db = lo + delta * np.arange(n, dtype=np.float32)
        floor_db = grid_db[np.minimum(self.floor_point, n - 1)].astype(np.float64)
        self.floor_db = np.where(self.floor_point < n, floor_db, np.inf)

    def _cqi_setup(self, n_prb: int) -> None:
        """Each CQI's MCS of the table (the PDSCH MCS with the CQI's modulation and code
        rate; -1: none with a BLER table) and the lowest effective SINR (dB, on Sionna's
        grid) at which a transport block of the CSI reference resource (all ``n_prb``
        PRBs, TS 38.214 5.2.2.5) at that MCS has a TBLER of at most 10 %."""
        import torch

        index = torch.arange(len(self.beta), dtype=torch.int32)  # the table's MCSs
        qm, rate = self._decode(index, self.table, 1, check_index_validity=False)
        rows = [(int(q), round(float(r) * 1024, 1)) for q, r in zip(qm, rate, strict=True)]
        cqi_mcs = []
        for q, r in CQI_TABLES[self.table]:
            found = [m for m, row in enumerate(rows) if row == (q, float(r))]
            cqi_mcs.append(found[0] if found and found[0] in self.candidates else -1)
        self.cqi_mcs = np.array(cqi_mcs, dtype=np.int64)  # CQI c -> MCS at [c - 1]
        lo, delta, n = self._snr_grid
        grid_db = lo + delta * np.arange(n, dtype=np.float32)
        self.cqi_db = np.full(len(cqi_mcs), np.inf)
        for c, m in enumerate(cqi_mcs):
            if m < 0:
                continue
            k = int(np.flatnonzero(self.candidates == m)[0])
            cbs, n_cb = self.cbs[n_prb - 1, k], self.n_cb[n_prb - 1, k]
            bler = self._table[m, _grid(np.array([cbs]), *self._cbs_grid)[0]]
            ok = np.flatnonzero(1 - (1 - bler) ** n_cb <= CQI_BLER)
            if ok.size:
                self.cqi_db[c] = float(grid_db[ok[0]])
        self._floor_db = float(grid_db[0])

    def lowest_mcs_sinr_db(self, n_prb: int) -> float:
        """The lowest effective SINR (dB, on Sionna's grid) at which a transport block of the
        lowest MCS with a BLER table (the first of :attr:`candidates`: MCS 3 of PUSCH table
        1) on ``n_prb`` PRBs fails with a probability of at most ``bler_target`` (inf: at no
        SINR of the grid)."""
        return float(self.floor_db[n_prb - 1])

    def outer_loop(self) -> dict[str, np.ndarray]:
        """Per link (index: the link), the outer loop's record so far: ``blocks``, the first
        transmissions chosen from a report; ``failed``, those not decoded (``failed /
        blocks`` is what the loop holds at ``bler_target``); ``at_end``, those at an end of the MCS
        range, where the loop cannot move the MCS further: sent at the lowest MCS because
        none met the target at the report less the offset (a link mostly there has a
        first-transmission BLER above the target), or at the highest MCS any SINR gets on
        their PRBs (below the target); ``offset_db``, its current offset."""
        return {
            "blocks": self.first_blocks.copy(),
            "failed": self.first_failed.copy(),
            "at_end": self.first_at_end.copy(),
            "offset_db": self.offset_db.copy(),
        }

    def cqi(self, sinr_rb: np.ndarray) -> np.ndarray:
        """Wideband CQI (TS 38.214 5.2.2.1) of each row of ``sinr_rb`` (n, R), the SINR
        (linear) on every RB of the channel: the highest CQI whose transport block on the
        CSI reference resource would be received with a TBLER of at most 10 % at the rows'
        effective SINR (EESM at the CQI's MCS); 1 where none is (CQI 1 and the CQIs whose
        MCS has no BLER table are not resolved: the lowest MCS serves them)."""
        ok = np.zeros((len(self.cqi_mcs), len(sinr_rb)), dtype=bool)
        parts = _eesm_parts(sinr_rb)  # the same SINRs at every CQI's beta
        for c, m in enumerate(self.cqi_mcs.tolist()):
            if m >= 0 and np.isfinite(self.cqi_db[c]):
                eff = _eesm_at(parts, np.full(len(sinr_rb), self.beta[m]))
                ok[c] = _db32(eff) >= self.cqi_db[c]
        highest = len(ok) - np.argmax(ok[::-1], axis=0)
        return np.where(ok.any(axis=0), highest, 1)

    def cqi_sinr_db(self, cqi: np.ndarray) -> np.ndarray:
        """The effective SINR (dB) a CQI stands for at the base station: the lowest at which
        it meets its 10 % BLER (the floor of Sionna's grid for CQIs not resolved)."""
        at = self.cqi_db[np.asarray(cqi) - 1]
        return np.where(np.isfinite(at), at, self._floor_db)

    def measure(self, usable_s: float, pius: np.ndarray, sinr_rb: np.ndarray) -> None:
        """PIUs ``pius`` measured the SINRs ``sinr_rb`` (n, R; linear, every RB, co-channel
        downlinks included): their CQIs reach the base station at ``usable_s`` (s)."""
        if len(pius):
            sinr = self.cqi_sinr_db(self.cqi(sinr_rb))
            self._pending.append((usable_s, np.asarray(pius), sinr))

    def reports(self, now: float, pius: np.ndarray) -> np.ndarray:
        """The last CQI report (as :meth:`cqi_sinr_db`, dB) of each of ``pius`` that has
        reached the base station by ``now`` (NaN: none yet)."""
        arrived = [r for r in self._pending if r[0] <= now + 1e-12]
        for _, who, sinr in arrived:
            self.report_db[who] = sinr
        self._pending = [r for r in self._pending if r[0] > now + 1e-12]
        return self.report_db[np.asarray(pius, dtype=int)]

    def _phy_table(self, category: int) -> np.ndarray:
        """Sionna's interpolated BLER of (MCS, CBS, SINR) for ``category`` (0 PUSCH, 1 PDSCH)
        and this MCS table."""
        return self._phy.bler_table_interp[category, self.table - 1].double().numpy()

    def below_shannon(self) -> list[int]:
        """The MCSs of the loaded table whose code blocks (of 3,000 bits) decode with a BLER
        at most 10 % below the Shannon limit of their spectral efficiency ``Q_m R`` (by more
        than 0.5 dB, the grid's interpolation): impossible, so a sign of mislabelled data."""
        import torch

        grid = np.arange(-5.0, 30.01, 0.1)
        sinr = np.broadcast_to(10 ** (grid / 10), (len(self._table), grid.size))
        mcs = np.broadcast_to(np.arange(len(self._table))[:, None], sinr.shape)
        ok = self._bler(mcs, np.full(sinr.shape, 3000), sinr) <= 0.1
        index = torch.arange(len(self._table), dtype=torch.int32)
        qm, rate = self._decode(index, self.table, self.category, check_index_validity=False)
        limit_db = 10 * np.log10(2 ** (qm * rate).double().numpy() - 1)
        first = np.where(ok.any(axis=1), grid[ok.argmax(axis=1)], np.inf)
        return np.flatnonzero(first < limit_db - 0.5).tolist()

    def _bler(self, mcs: np.ndarray, cbs: np.ndarray, sinr: np.ndarray) -> np.ndarray:
        """Code-block BLER at effective SINR ``sinr`` (linear) for code blocks of ``cbs``
        bits, from Sionna's interpolated LDPC tables (inf: no table for that MCS): the
        nearest grid point, as ``PHYAbstraction.get_bler`` finds it (in float32 like it; a
        test checks both agree), without its per-call tensor checks (a slot's budget)."""
        return self._table[mcs, _grid(cbs, *self._cbs_grid), _grid(_db32(sinr), *self._snr_grid)]

    def eesm(self, sinr_rb: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Effective SINR (linear) of each row of ``sinr_rb`` (..., n, R) over its RBs with
        SINR > 0, for EESM parameter ``beta`` (..., n): ``-beta ln(mean exp(-SINR / beta))``,
        computed from the smallest SINR up (no underflow), within [-30, 30] dB as Sionna's."""
        return _eesm_at(_eesm_parts(sinr_rb), beta)

    def _effective(self, sinr_rb: np.ndarray, mcs: np.ndarray, same_as: object) -> np.ndarray:
        """EESM of each row at its MCS's beta, remembered while ``same_as`` stays equal."""
        if same_as is None:
            return self.eesm(sinr_rb, self.beta[mcs])
        if self._eff[0] != same_as:
            self._eff = (same_as, {})
        memo = self._eff[1]
        keys = list(enumerate(mcs.tolist()))
        eff = np.array([memo.get(k, np.nan) for k in keys])
        todo = np.flatnonzero(np.isnan(eff))
        if todo.size:
            eff[todo] = self.eesm(sinr_rb[todo], self.beta[mcs[todo]])
            for i in todo.tolist():
                memo[keys[i]] = float(eff[i])
        return eff

    def tbler(
        self, mcs: np.ndarray, cbs: np.ndarray, n_cb: np.ndarray, sinr: np.ndarray
    ) -> np.ndarray:
        """Transport-block error probability ``1 - (1 - BLER)^n_cb`` at effective SINR
        ``sinr`` (linear); inf where Sionna has no table for the MCS."""
        bler = self._bler(mcs, cbs, sinr)
        return np.where(np.isinf(bler), np.inf, 1 - (1 - bler) ** n_cb)

    def choose(self, tbler_by_mcs: np.ndarray) -> np.ndarray:
        """Position in :attr:`candidates` of the highest MCS with TBLER at most the target
        for each column of ``tbler_by_mcs`` (M, n); the lowest where none is."""
        ok = tbler_by_mcs <= self.bler_target
        last = ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0)
        return np.where(ok.any(axis=0), last, 0)

    def adapt(self, links: np.ndarray, n_prb: np.ndarray, report_db: np.ndarray) -> np.ndarray:
        """Link adaptation for new blocks of ``links`` on ``n_prb`` PRBs: the position in
        :attr:`candidates` of the highest MCS whose TBLER at the reported effective SINR
        ``report_db`` (dB) minus the outer-loop offset is at most the target (Sionna's
        ILLA/OLLA rule); the lowest MCS where there is no report yet (NaN)."""
        return self._adapt(links, n_prb, report_db)[0]

    def _adapt(
        self, links: np.ndarray, n_prb: np.ndarray, report_db: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`adapt`'s picks, and the SINR grid point each was chosen at (the report
        less the offset; for no report, that of 0 dB)."""
        cand, m = self.candidates, len(self.candidates)
        select = 10 ** ((report_db - self.offset_db[links]) / 10)
        # the choice depends on the SINR's grid point and the PRBs only: remembered
        reported = ~np.isnan(select)
        point = _grid(_db32(np.where(reported, select, 1.0)), *self._snr_grid)
        keys = list(zip(point.tolist(), n_prb.tolist(), strict=True))
        pick = np.array([self._choices.get(k, -1) for k in keys], dtype=np.int64)
        pick[~reported] = 0  # no report yet: the lowest MCS
        todo = np.flatnonzero(pick < 0)
        if todo.size == 0:
            return pick, point
        level = np.broadcast_to(select[todo], (m, todo.size))
        prb = n_prb[todo] - 1
        grid = np.broadcast_to(cand[:, None], level.shape)
        pick[todo] = self.choose(self.tbler(grid, self.cbs[prb].T, self.n_cb[prb].T, level))
        for i in todo.tolist():
            self._choices[keys[i]] = int(pick[i])
        return pick, point

    def send(
        self,
        now: float,
        links: np.ndarray,
        sinr_rb: np.ndarray,
        report_db: np.ndarray | None,
        again: list[HarqProcess | None],
        bits_left: np.ndarray,
        same_as: object = None,
        rlc_retx: np.ndarray | None = None,
    ) -> SlotResult:
        """One slot: link ``links[i]`` (each at most once) has the RBs where ``sinr_rb[i] > 0``
        (SINR there, linear) and sends the block
        ``again[i]`` again or, if None, a new transport block with up to ``bits_left[i]``
        payload bits (a block not sent yet, ``sent == 0``, is a first transmission at its
        own MCS), chosen from ``report_db[i]`` (dB, NaN: no report yet; None: the links'
        own reports, the SINR the AP measured on their last slot: the uplink).
        ``same_as``: a key equal to the previous call's when the rows' SINRs are
        the same as then (a coherence block on fixed RBs), so their EESM is not redone.
        ``rlc_retx[i]``: a new block carries payload RLC retransmits for the ``rlc_retx[i]``-th
        time (TS 38.322 5.3.2; None or 0: new data); it is chosen like any new block, from
        the current report."""
        n = len(links)
        n_prb = (sinr_rb > 0).sum(axis=1)
        new = np.flatnonzero([p is None for p in again])
        old = np.flatnonzero([p is not None for p in again])
        rows = n_prb[new] - 1
        if report_db is None:
            report_db = self.report_db[links]
        blind = np.isnan(report_db[new])  # no report: the lowest MCS, not the outer loop's
        pick, point = self._adapt(links[new], n_prb[new], report_db[new])
        mcs, cbs, n_cb = (np.empty(n, dtype=np.int64) for _ in range(3))
        mcs[new], cbs[new], n_cb[new] = (
            self.candidates[pick],
            self.cbs[rows, pick],
            self.n_cb[rows, pick],
        )
        blocks = [p for p in again if p is not None]
        mcs[old] = [p.mcs for p in blocks]
        cbs[old] = [p.cbs for p in blocks]
        n_cb[old] = [p.n_cb for p in blocks]
        prior = np.zeros(n)
        prior[old] = [p.sinr_sum for p in blocks]
        eff = self._effective(sinr_rb, mcs, same_as)  # this slot's own effective SINR
        tbler = self.tbler(mcs, cbs, n_cb, prior + eff)  # chase combining: SINRs add
        ack = self.rng.random(n) >= tbler
        # the outer loop learns from first transmissions chosen from a report only
        first = links[new][~blind]
        step = np.where(ack[new][~blind], -self.delta_down, self.delta_up)
        # at an end of the MCS range: no MCS met the target (the lowest went), or the
        # highest reachable one did
        steer = rows[~blind]
        at_end = (point[~blind] < self.floor_point[steer]) | (pick[~blind] == self.top_pick[steer])
        np.add.at(self.first_blocks, first, 1)
        np.add.at(self.first_failed, first, ~ack[new][~blind])
        np.add.at(self.first_at_end, first, at_end)
        self.offset_db[first] = np.clip(self.offset_db[first] + step, *_OFFSET_DB)
        if self.uplink:  # the AP measures the PUSCH it received, interference included
            self.report_db[links] = 10 * np.log10(eff)
            self.report_prb[links] = n_prb
        processes = list(again)
        for j, i in enumerate(new.tolist()):
            k, row = int(pick[j]), int(rows[j])
            size = float(min(self.tbs[row, k], bits_left[i]))
            retx = 0 if rlc_retx is None else int(rlc_retx[i])
            processes[i] = HarqProcess(size, int(mcs[i]), int(cbs[i]), int(n_cb[i]), rlc_retx=retx)
        sent: list[HarqProcess] = []
        for i, p in enumerate(processes):
            assert p is not None
            p.sinr_sum += eff[i]
            p.sent += 1
            p.due_s = math.inf if ack[i] else now + self.harq_rtt_s
            sent.append(p)
        return SlotResult(sent, ack, tbler, eff)


_EESMParts = tuple[tuple[int, ...], tuple[np.ndarray, ...], np.ndarray, np.ndarray, np.ndarray]


def _eesm_parts(sinr_rb: np.ndarray) -> _EESMParts:
    """What EESM needs of ``sinr_rb`` (..., n, R) whatever its beta: its shape, the RBs used
    (SINR > 0, as ``np.nonzero``), their SINR above their row's smallest, that smallest and
    the RBs of each row."""
    used = sinr_rb > 0
    low = np.where(used, sinr_rb, np.inf).min(axis=-1)
    on = np.nonzero(used)
    return sinr_rb.shape, on, sinr_rb[on] - low[on[:-1]], low, used.sum(axis=-1)


def _eesm_at(parts: _EESMParts, beta: np.ndarray) -> np.ndarray:
    """EESM (:meth:`NRLinkAbstraction.eesm`) at ``beta`` from :func:`_eesm_parts`: the
    exponentials of the RBs used only (a slot's flows hold a fraction of the RBs each), 0
    off them."""
    shape, on, gap, low, count = parts
    terms = np.zeros(shape)
    terms[on] = np.exp(-gap / beta[on[:-1]])
    return np.clip(low - beta * np.log(terms.sum(axis=-1) / count), 1e-3, 1e3)
