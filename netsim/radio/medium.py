"""Shared spectrum on the timeline: co-channel uplink transmissions interfere, and every
transmission's rate follows its SINR as others start and stop (PHYSICS.md section 8).

The medium knows every digital uplink transmission in progress: its PIU, its AP, the
frequency channel and the part of it it occupies ``[lo_hz, hi_hz)``, its power and the
bits it still has to deliver. PIU k's SINR at its AP a,

    SINR_k = p_k beta_ka h_ka / (N0 W_k + sum_j (p_j / W_j) overlap_kj beta_ja h_ja),

counts every other transmission j on the same channel at its actual power, spread evenly
over its own band ``W_j``, by the bandwidth ``overlap_kj`` it shares with k, through its
gain to k's AP (large-scale beta times the block's fading h). With N receive antennas per
AP (channel vectors h_ka, N entries), the AP combines with MRC (``w = h_ka``) or MMSE-IRC
(``w = R^-1 h_ka``, ``R = sum_j q_kj h_ja h_ja^H + N0 W_k I``, q_kj the power of j in k's
band), which suppresses co-channel interference:

    SINR_MRC = p_k ||h_ka||^4 / (sum_j q_kj |h_ka^H h_ja|^2 + N0 W_k ||h_ka||^2),
    SINR_IRC = p_k h_ka^H R^-1 h_ka  (>= SINR_MRC; equal without interference).

The rate ``W_k log2(1 + SINR_k)`` is piecewise constant: it changes only when a
transmission starts or ends or a fading block ends, so the bits delivered integrate exactly
and a transmission ends at the instant its last bit is delivered. All rates are recomputed
together with numpy over the active transmissions (no loop over pairs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from netsim.radio.channel import RadioChannel
from netsim.radio.fading import BlockFading


@dataclass(frozen=True)
class Delivered:
    """What a transmission took: airtime (s), mean rate bits / airtime (bit/s),
    time-averaged SINR (dB), time-averaged interference power (W), and the time its
    transmitter was on (s: the airtime, or the slots with RBs under OFDMA). Under the NR
    link abstraction also the mean MCS index of its transport blocks, their count, the
    HARQ retransmissions, whether the payload did not arrive (``lost``) and why
    (``reason``: "harq", a block failed its last HARQ transmission without RLC
    retransmissions; "rlc", it did so after the most RLC retransmissions), and the blocks
    whose payload RLC retransmitted (``rlc_retx``), the blocks whose first transmission
    failed (``first_tx_fail``); an NR multicast's recipients it handed to point-to-point
    delivery (``dropped``: its blocks failed at their SINR). ``energy_j``: the energy
    radiated (J) where the power changed from slot to slot (per-RB power control under
    OFDMA); NaN: the transmit power times ``active_s``."""

    airtime_s: float
    rate_bps: float
    sinr_db: float
    interference_w: float
    active_s: float
    energy_j: float = math.nan
    mcs: float = math.nan
    tb_count: int | None = None
    harq_retx: int | None = None
    lost: bool = False
    rlc_retx: int | None = None
    reason: str | None = None
    first_tx_fail: int | None = None
    dropped: tuple[int, ...] = ()


@dataclass(eq=False)
class Transmission:
    """One transmission in progress; ``done`` is succeeded with a :class:`Delivered` when
    its last bit arrives. On a downlink medium ``ap`` sends to ``receivers`` (a multicast
    at the rate of the weakest)."""

    piu: int
    ap: int
    channel: int
    lo_hz: float
    hi_hz: float
    power_w: float
    bits: float
    t_start_s: float
    done: simpy.Event
    left_bits: float = 0.0
    t_last_s: float = 0.0
    rate_bps: float = 0.0
    sinr: float = 0.0
    interference_w: float = 0.0
    sinr_time: float = 0.0  # integral of SINR over time (s)
    interference_time: float = 0.0  # integral of interference power over time (J)
    ended: bool = field(default=False)
    receivers: tuple[int, ...] = ()


class CoChannelMedium:
    """The uplink transmissions of every AP on a shared frequency plan.

    Parameters
    ----------
    env: the timeline.
    channel: the PIU-AP channels (large-scale gains, block fading, the band's noise).
    antennas: N receive antennas per AP; with more than one, ``fading`` gives each PIU's
        small-scale coefficients to every antenna (AP a owns columns a N .. a N + N - 1).
    combining: "mrc" or "mmse_irc" (the same with one antenna).
    downlink: the APs transmit (one receive antenna at the PIUs): a transmission's SINR is
        its weakest receiver's, whose interference comes from the other co-channel APs'
        downlinks through the reciprocal links (PIU, other AP).
    """

    def __init__(
        self,
        env: simpy.Environment,
        channel: RadioChannel,
        antennas: int = 1,
        fading: BlockFading | None = None,
        combining: str = "mrc",
        downlink: bool = False,
    ) -> None:
        if antennas > 1 and fading is None:
            raise ValueError("antennas > 1 needs the per-antenna fading")
        if combining not in ("mrc", "mmse_irc"):
            raise ValueError(f"unknown combining {combining!r}")
        self.env = env
        self.channel = channel
        self.antennas = antennas
        self.fading = fading if fading is not None else channel.fading
        self.combining = combining
        self.downlink = downlink
        self.active: list[Transmission] = []
        self._generation = 0  # timers of older generations are stale

    def start(
        self,
        piu: int,
        ap: int,
        channel: int,
        lo_hz: float,
        hi_hz: float,
        power_w: float,
        bits: float,
        receivers: tuple[int, ...] = (),
    ) -> Transmission:
        """Start sending ``bits`` from ``piu`` to ``ap`` (downlink: from ``ap`` to
        ``receivers``) on ``[lo_hz, hi_hz)`` of frequency ``channel`` at ``power_w`` now;
        the others' rates change at once."""
        now = float(self.env.now)
        self._advance(now)
        tx = Transmission(piu, ap, channel, lo_hz, hi_hz, power_w, bits, now, self.env.event())
        tx.receivers = tuple(receivers)
        tx.left_bits, tx.t_last_s = float(bits), now
        self.active.append(tx)
        self._update(now)
        return tx

    def stop(self, tx: Transmission) -> None:
        """Stop ``tx`` before its end (its PIU was interrupted); the others' rates change."""
        if tx.ended:
            return
        now = float(self.env.now)
        self._advance(now)
        tx.ended = True
        self.active.remove(tx)
        self._update(now)

    def _advance(self, now: float) -> None:
        """Deliver bits at the current rates up to ``now``."""
        for tx in self.active:
            dt = now - tx.t_last_s
            if dt > 0:
                tx.left_bits -= tx.rate_bps * dt
                tx.sinr_time += tx.sinr * dt
                tx.interference_time += tx.interference_w * dt
                tx.t_last_s = now

    def _update(self, now: float) -> None:
        """Recompute every active transmission's rate and set the timer to the next
        change: the first end of a transmission or of the fading block."""
        self._generation += 1
        if not self.active:
            return
        self._rates(now)
        ends = np.array([now + tx.left_bits / tx.rate_bps for tx in self.active])
        first = float(ends.min())
        due = [tx for tx, end in zip(self.active, ends, strict=True) if end == first]
        if not self.fading.static:
            boundary = (self._block(now) + 1) * self.channel.coherence_s
            if boundary < first:
                first, due = boundary, []
        timer = self.env.timeout(max(0.0, first - now))
        generation = self._generation
        timer.callbacks.append(lambda _: self._on_timer(generation, due))

    def _on_timer(self, generation: int, due: list[Transmission]) -> None:
        if generation != self._generation:
            return  # something started or stopped since: a newer timer stands
        now = float(self.env.now)
        self._advance(now)
        finished = [tx for tx in due if not tx.ended]
        for tx in finished:
            tx.ended, tx.left_bits = True, 0.0
            self.active.remove(tx)
        self._update(now)
        for tx in finished:
            airtime = now - tx.t_start_s
            tx.done.succeed(
                Delivered(
                    airtime,
                    tx.bits / airtime,
                    _db(tx.sinr_time / airtime),
                    tx.interference_time / airtime,
                    airtime,
                )
            )

    def _block(self, now: float) -> int:
        """The fading block of ``now`` (a time on a boundary starts the new block)."""
        tc = self.channel.coherence_s
        block = math.floor(now / tc)
        if (block + 1) * tc - now <= 1e-12 * tc:
            block += 1
        return block

    def _rates(self, now: float) -> None:
        """Store every active transmission's rate, SINR and interference in this block."""
        rate, sinr, interference = self.evaluate(self.active, now)
        for tx, r, s, i in zip(self.active, rate, sinr, interference, strict=True):
            tx.rate_bps, tx.sinr, tx.interference_w = float(r), float(s), float(i)

    def evaluate(
        self, txs: list[Transmission], now: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rate bit/s, SINR, interference W) (n,) of transmissions ``txs`` sending together
        at time ``now`` (its fading block); the interference is the mean per antenna."""
        piu = np.array([tx.piu for tx in txs])
        ap = np.array([tx.ap for tx in txs])
        chan = np.array([tx.channel for tx in txs])
        lo = np.array([tx.lo_hz for tx in txs])
        hi = np.array([tx.hi_hz for tx in txs])
        power = np.array([tx.power_w for tx in txs])
        width = hi - lo
        block = self._block(now)
        overlap = np.clip(
            np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :]), 0.0, None
        )  # (n, n)
        overlap *= chan[:, None] == chan[None, :]
        np.fill_diagonal(overlap, 0.0)
        q = overlap * (power / width)[None, :]  # (n, n): power of j in i's band
        noise = self.channel.band.noise_w(width)  # (n,)
        if self.downlink:
            sinr, interference = self._downlink(txs, ap, block, q, power, noise)
            return width * np.log2(1.0 + sinr), sinr, interference
        beta = self.channel.gain[piu][:, ap]  # (n_from, n_to): from j to i's AP
        if self.antennas == 1:
            gain = beta * np.stack([self.fading.gains(int(k), block, 1)[0] for k in piu])[:, ap]
            interference = np.einsum("ij,ji->i", q, gain)
            sinr = power * np.diagonal(gain) / (noise + interference)
        else:
            sinr, interference = self._combined(piu, ap, block, beta, q, power, noise)
        return width * np.log2(1.0 + sinr), sinr, interference

    def _downlink(
        self,
        txs: list[Transmission],
        ap: np.ndarray,
        block: int,
        q: np.ndarray,
        power: np.ndarray,
        noise: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """SINR and interference (n,) of downlink multicasts at their weakest receivers."""
        owner = np.concatenate([np.full(len(tx.receivers), i) for i, tx in enumerate(txs)])
        rx = np.concatenate([np.array(tx.receivers, dtype=int) for tx in txs])
        h = np.stack([self.fading.gains(int(k), block, 1)[0] for k in rx])  # (m, A)
        gain = self.channel.gain[rx] * h  # (m, A): each receiver from every AP
        from_tx = gain[:, ap]  # (m, n): receiver m hears transmission j
        signal = power[owner] * from_tx[np.arange(len(rx)), owner]
        interference_m = np.einsum("mj,mj->m", q[owner], from_tx)
        sinr_m = signal / (noise[owner] + interference_m)
        sinr = np.full(len(txs), np.inf)
        np.minimum.at(sinr, owner, sinr_m)
        worst = np.array(
            [np.flatnonzero(owner == i)[np.argmin(sinr_m[owner == i])] for i in range(len(txs))]
        )
        return sinr, interference_m[worst]

    def _combined(
        self,
        piu: np.ndarray,
        ap: np.ndarray,
        block: int,
        beta: np.ndarray,
        q: np.ndarray,
        power: np.ndarray,
        noise: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """SINR and per-antenna interference (n,) with N antennas and MRC or MMSE-IRC."""
        n_ant = self.antennas
        coef = np.stack([self.fading.coefficients(int(k), block, 1)[0] for k in piu])
        coef = coef.reshape(len(piu), -1, n_ant)[:, ap, :]  # (n_from, n_to, N)
        h = np.sqrt(beta)[:, :, None] * coef  # channel of j at i's AP
        own = np.einsum("iin->in", h)  # (n, N)
        interference = np.einsum("ij,jin->i", q, np.abs(h) ** 2) / n_ant
        if self.combining == "mrc":
            norm2 = np.sum(np.abs(own) ** 2, axis=1)
            cross = np.abs(np.einsum("in,jin->ij", own.conj(), h)) ** 2  # |h_i^H h_ji|^2
            np.fill_diagonal(cross, 0.0)
            sinr = power * norm2**2 / (np.einsum("ij,ij->i", q, cross) + noise * norm2)
            return sinr, interference
        cov = np.einsum("ij,jin,jim->inm", q, h, h.conj())  # (n, N, N)
        cov += noise[:, None, None] * np.eye(n_ant)[None, :, :]
        solved = np.linalg.solve(cov, own[:, :, None])[:, :, 0]  # R^-1 h_i
        sinr = power * np.real(np.einsum("in,in->i", own.conj(), solved))
        return sinr, interference


def _db(x: float) -> float:
    return 10.0 * math.log10(x) if x > 0 else -math.inf
