"""A PIU's uplink as an object: one class per uplink mode behind one interface.

The PIU asks its link for a slot (:meth:`Uplink.request`), then for transmission attempts
(:meth:`Uplink.attempts`) until one is delivered or none is left, and plans its energy with
:meth:`Uplink.planned_airtime_s`; it never knows which mode it uses. Each link owns its
band (bandwidth, multiple access), its transmit power and the physics of its rate:

* :class:`AdaptiveRateLink`: rate adaptation to the block-fading SNR (Shannon rate, never
  in error), on a TDMA or FDMA band;
* :class:`FixedRateLink`: packets at a fixed rate that fail in outage, resent up to
  ``max_retransmissions`` times while holding the slot (ARQ);
* :class:`CellFreeLink`: the cell-free massive-MIMO ergodic rate (fading averaged out) at
  the power and SINR of the server's allocation for the round;
* :class:`OverTheAirLink`: the PIU's analog transmission in the common slot its AP
  schedules (the AP's receiver sets airtime and energy through power control).

A new uplink mode is a new subclass here (and its construction in ``netsim.assembly``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import simpy
from typing_extensions import override

from netsim.radio.access import MultipleAccess
from netsim.radio.channel import RadioChannel, Transfer
from netsim.radio.medium import CoChannelMedium, Delivered
from netsim.radio.scheduler import OFDMAScheduler

NAN = math.nan


@dataclass(frozen=True)
class Grant:
    """The server's allocation of one PIU's uplink for one round (cell-free): transmit
    power (W), the resulting ergodic rate (bit/s) and SINR (dB)."""

    power_w: float
    rate_bps: float
    sinr_db: float


@dataclass(frozen=True)
class Attempt:
    """One transmission attempt: what it takes and whether it got through.

    airtime_s: duration (s); energy_j: transmit energy (J); power_w: mean transmit power
    (W); delivered: decoded (else an outage: the attempt is lost); rate_bps: bits over
    airtime (NaN where no bits are sent, over the air); snr_db: the SNR or SINR it saw;
    bits: payload size (NaN over the air); label: what was sent (the payload's encoding);
    note: about the outcome, in words; reason: why it was not delivered ("outage", "harq":
    a transport block failed its last HARQ transmission, "rlc": it did so after the last
    RLC retransmission); interference_w: mean co-channel interference power (W) on a shared
    medium; mcs, tb_count, harq_retx, rlc_retx, first_tx_fail: the NR link abstraction's
    mean MCS index, transport blocks, HARQ retransmissions, blocks whose payload RLC
    retransmitted and blocks whose first transmission failed.

    An attempt on a shared medium does not know its airtime when it starts (it depends on
    who else transmits): ``done`` is then an event succeeded with the finished
    :class:`Attempt`, and ``cancel()`` withdraws the transmission if the PIU stops early;
    ``airtime_s`` and ``energy_j`` are NaN until then.
    """

    airtime_s: float
    energy_j: float
    power_w: float
    delivered: bool = True
    rate_bps: float = NAN
    snr_db: float = NAN
    bits: float = NAN
    label: str = ""
    note: str = ""
    reason: str | None = None
    interference_w: float = NAN
    mcs: float = NAN
    tb_count: int | None = None
    harq_retx: int | None = None
    rlc_retx: int | None = None
    first_tx_fail: int | None = None
    done: simpy.Event | None = field(default=None, compare=False)
    cancel: Callable[[], None] | None = field(default=None, compare=False)


class Uplink(ABC):
    """A PIU's uplink to its serving AP.

    Parameters
    ----------
    piu: the PIU's index k; ap: its serving AP's index.
    band: the AP's uplink band (its multiple access: where the PIU waits for a slot).
    max_power_w: the PIU's full transmit power (W).
    """

    delivers: ClassVar[bool] = True  # a decoded payload goes on to the AP

    def __init__(self, piu: int, ap: int, band: MultipleAccess, max_power_w: float) -> None:
        self.piu = piu
        self.ap = ap
        self.band = band
        self.slot_band = band  # the band of the upload under way: it finishes there
        self.max_power_w = max_power_w
        self.power_w = max_power_w  # this round's

    @property
    def bandwidth_hz(self) -> float:
        """The bandwidth the PIU transmits on (Hz): the band's share of one slot."""
        return self.band.bandwidth_hz

    def use(self, grant: Grant | None) -> None:
        """This round's allocation from the server (None: full power)."""
        self.power_w = self.max_power_w if grant is None else grant.power_w

    def request(self, update: Any) -> SlotRequest:
        """The PIU's request for a slot (use as ``with link.request(u) as req: yield req``);
        ``update`` is what will be sent (an analog link hands it to its AP)."""
        self.slot_band = self.band
        return self.band.request()

    def move(self, ap: int, band: MultipleAccess) -> None:
        """Handover: transmit to AP ``ap`` on its band from now on (an upload under way
        keeps the band its slot is on)."""
        self.ap, self.band = ap, band

    @abstractmethod
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        """The attempts to send ``bits`` (``label``: the payload's encoding), each started
        at ``now()`` when it is drawn, until one is delivered or none is left."""

    @abstractmethod
    def planned_airtime_s(self, bits: int) -> float:
        """Airtime of one successful attempt at this round's power (the energy plan)."""

    @abstractmethod
    def mean_snr(self) -> float:
        """SNR (linear) with the fading averaged out, at this round's power."""


@dataclass(frozen=True)
class OpenLoopPowerControl:
    """Open-loop uplink power control (3GPP TS 38.213 7.1.1, PUSCH without the closed-loop
    term): ``P = min(P_max, P0_RB + 10 log10(2^mu M_RB) + alpha PL)`` dBm, with ``M_RB``
    the RBs granted, ``P0_RB`` the target per RB of 15 kHz subcarriers and PL the
    large-scale path loss (dB) to the serving AP.

    ``p0_w`` is the target for the whole channel of ``N_RB`` RBs, ``P0_RB + 10 log10(2^mu
    N_RB)`` (W): ``P = min(P_max, p0_w (M_RB / N_RB) / beta^alpha)`` W. Without OFDMA the
    whole channel (or sub-band) is one allocation and gets ``min(p_max, p0_w /
    beta^alpha)`` (:meth:`power_w`); the OFDMA scheduler applies :meth:`rb_power_w` to the
    RBs it grants in each slot.

    p0_w: P0 of the channel (W); alpha: fractional path-loss compensation in [0, 1] (0:
    everyone at ``min(P_max, P0 + 10 log10(2^mu M_RB))``, no compensation).
    """

    p0_w: float
    alpha: float

    def power_w(self, max_w: float, gain: float) -> float:
        """The transmit power (W) on the whole channel for a large-scale gain ``gain``
        (linear), capped at ``max_w``."""
        return min(max_w, self.p0_w * gain ** (-self.alpha))

    def rb_power_w(self, gain: float, n_rb: int) -> float:
        """The target's power per granted RB (W) on a channel of ``n_rb`` RBs, uncapped:
        ``P0_RB + 10 log10(2^mu) + alpha PL`` dBm; ``M_RB`` RBs then get ``min(P_max, M_RB
        x this)`` (TS 38.213 7.1.1)."""
        return self.p0_w * gain ** (-self.alpha) / n_rb


class _ChannelLink(Uplink):
    """A link over the block-fading :class:`RadioChannel`, planned at its mean-SNR rate,
    at full power or under open-loop ``power_control`` (re-evaluated every round at the
    link's current gain, so it follows a moving PIU)."""

    def __init__(
        self,
        piu: int,
        ap: int,
        band: MultipleAccess,
        max_power_w: float,
        channel: RadioChannel,
        power_control: OpenLoopPowerControl | None = None,
    ) -> None:
        super().__init__(piu, ap, band, max_power_w)
        self.channel = channel
        self.power_control = power_control
        self.use(None)

    @override
    def use(self, grant: Grant | None) -> None:
        if self.power_control is None or grant is not None:
            super().use(grant)
            return
        gain = float(self.channel.gain[self.piu, self.ap])
        self.power_w = self.power_control.power_w(self.max_power_w, gain)

    @override
    def planned_airtime_s(self, bits: int) -> float:
        return self.channel.expected_airtime_s(
            self.piu, self.ap, bits, self.power_w, self.bandwidth_hz
        )

    @override
    def mean_snr(self) -> float:
        return self.channel.mean_snr(self.piu, self.ap, self.power_w, self.bandwidth_hz)


class AdaptiveRateLink(_ChannelLink):
    """Rate adaptation to the block-fading channel: the Shannon rate of each coherence
    block, integrated over the transmission; always decoded (PHYSICS.md sections 2-3)."""

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        bandwidth = self.slot_band.bandwidth_hz
        t = self.channel.uplink(self.piu, self.ap, bits, now(), self.power_w, bandwidth)
        yield self._attempt(t, bits, label, True)

    def _attempt(self, t: Transfer, bits: int, label: str, delivered: bool) -> Attempt:
        return Attempt(
            t.airtime_s,
            self.power_w * t.airtime_s,
            self.power_w,
            delivered,
            t.rate_bps,
            t.snr_db,
            bits,
            label,
        )


class FixedRateLink(AdaptiveRateLink):
    """Packets at ``rate_bps``: decoded only if the capacity is at least the rate in every
    coherence block a packet overlaps, else lost (outage, energy spent) and sent again,
    holding the slot, up to ``max_retransmissions`` times."""

    def __init__(
        self,
        piu: int,
        ap: int,
        band: MultipleAccess,
        max_power_w: float,
        channel: RadioChannel,
        rate_bps: float,
        max_retransmissions: int,
        power_control: OpenLoopPowerControl | None = None,
    ) -> None:
        super().__init__(piu, ap, band, max_power_w, channel, power_control)
        self.rate_bps = rate_bps
        self.max_retransmissions = max_retransmissions

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        tries = self.max_retransmissions + 1
        for attempt in range(tries):
            t, ok = self.channel.fixed_rate_uplink(
                self.piu,
                self.ap,
                bits,
                now(),
                self.power_w,
                self.slot_band.bandwidth_hz,
                self.rate_bps,
            )
            sent = self._attempt(t, bits, label, ok)
            if ok:
                yield sent
                return
            why = f"outage, attempt {attempt + 1} of {tries}"
            yield replace(sent, note=why, reason="outage")

    @override
    def planned_airtime_s(self, bits: int) -> float:
        return bits / self.rate_bps


class SharedSpectrumLink(_ChannelLink):
    """A digital uplink on a frequency channel shared with other cells: its rate follows
    the SINR on the :class:`~netsim.radio.medium.CoChannelMedium` as co-channel
    transmissions start and stop and the fading changes, so its airtime is known only when
    its last bit is delivered. TDMA sends on the whole channel; FDMA on sub-band ``slot``
    of its AP's channel. Planning uses the mean SNR without interference (optimistic)."""

    def __init__(
        self,
        piu: int,
        ap: int,
        band: MultipleAccess,
        max_power_w: float,
        channel: RadioChannel,
        medium: CoChannelMedium,
        slot: int,
        env: simpy.Environment,
        power_control: OpenLoopPowerControl | None = None,
    ) -> None:
        super().__init__(piu, ap, band, max_power_w, channel, power_control)
        self.medium = medium
        self.slot = slot
        self._env = env

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        band, power = self.slot_band, self.power_w
        lo, hi = band.subband(self.slot)
        tx = self.medium.start(self.piu, self.ap, band.channel, lo, hi, power, bits)
        yield _open_attempt(self._env, tx.done, power, bits, label, lambda: self.medium.stop(tx))


class ScheduledLink(_ChannelLink):
    """A digital uplink whose bits the AP's slot scheduler serves RB by RB, slot by slot
    (:class:`~netsim.radio.scheduler.OFDMAScheduler`), at Shannon rates or through the NR
    link abstraction. On an "ofdma" band nobody waits for a slot of the band: the
    scheduler shares the RBs among the PIUs with data; on a "tdma" band the PIU holding the
    slot gets every RB, on an "fdma" band the RBs of sub-band ``slot``. The transmitter
    draws its power in the slots in which it has RBs. Planning uses the mean SNR."""

    def __init__(
        self,
        piu: int,
        ap: int,
        band: MultipleAccess,
        max_power_w: float,
        channel: RadioChannel,
        scheduler: OFDMAScheduler,
        env: simpy.Environment,
        power_control: OpenLoopPowerControl | None = None,
        slot: int = 0,
    ) -> None:
        super().__init__(piu, ap, band, max_power_w, channel, power_control)
        self.scheduler = scheduler
        self._env = env
        self.slot = slot

    def resource_blocks(self) -> tuple[int, int] | None:
        """The RBs ``[lo, hi)`` the slot of its band holds (None: the scheduler's choice)."""
        return self.slot_band.resource_blocks(self.slot)

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        power, per_rb = self.power_w, math.inf
        if self.power_control is not None:
            gain = float(self.channel.gain[self.piu, self.ap])
            power = self.max_power_w  # the cap; the slot's grant sets the power under it
            per_rb = self.power_control.rb_power_w(gain, self.scheduler.n_rb)
        flow = self.scheduler.submit(
            self.piu, self.ap, power, bits, self.resource_blocks(), rb_power_w=per_rb
        )
        cancel = lambda: self.scheduler.cancel(flow)  # noqa: E731
        # until it ends: the full-channel power (the energy plan's); then the mean radiated
        yield _open_attempt(self._env, flow.done, self.power_w, bits, label, cancel)


def _lost_note(d: Delivered) -> str:
    """Why an NR transfer was lost, in words ("" if it was not)."""
    if not d.lost:
        return ""
    if d.reason == "rlc":
        return "a transport block failed its last HARQ transmission after its last RLC retx"
    return "a transport block failed its last HARQ transmission"


def _open_attempt(
    env: simpy.Environment,
    done: simpy.Event,
    power_w: float,
    bits: int,
    label: str,
    cancel: Callable[[], None],
) -> Attempt:
    """An attempt whose airtime the medium or scheduler decides: its ``done`` is succeeded
    with the finished :class:`Attempt` when ``done`` reports the :class:`Delivered`, the
    energy being the power over the time the transmitter was on (or, where the power
    changed from slot to slot, the energy radiated, ``power_w`` then its mean)."""
    finished = env.event()

    def report(event: simpy.Event) -> None:
        d = event.value
        assert isinstance(d, Delivered)
        energy, power = power_w * d.active_s, power_w
        if not math.isnan(d.energy_j):
            energy = d.energy_j
            power = energy / d.active_s if d.active_s > 0 else 0.0
        finished.succeed(
            Attempt(
                d.airtime_s,
                energy,
                power,
                not d.lost,
                d.rate_bps if not d.lost else NAN,
                d.sinr_db,
                bits,
                label,
                note=_lost_note(d),
                reason=(d.reason or "harq") if d.lost else None,
                interference_w=d.interference_w,
                mcs=d.mcs,
                tb_count=d.tb_count,
                harq_retx=d.harq_retx,
                rlc_retx=d.rlc_retx,
                first_tx_fail=d.first_tx_fail,
            )  # fmt: skip
        )

    done.callbacks.append(report)
    return Attempt(NAN, NAN, power_w, True, bits=bits, label=label, done=finished, cancel=cancel)


class CellFreeLink(Uplink):
    """The cell-free uplink's ergodic rate (closed form, fading averaged out: PHYSICS.md
    section 4). The rate and SINR are the server's for the round (:meth:`use`), which knows
    who sends at the same time; before any, those of ``default`` (everyone at full power).
    The rate itself is computed in one place, :class:`netsim.radio.allocation.CellFreeUplink`.
    """

    def __init__(
        self, piu: int, ap: int, band: MultipleAccess, max_power_w: float, default: Grant
    ) -> None:
        super().__init__(piu, ap, band, max_power_w)
        self.default = default
        self.grant = default

    @override
    def use(self, grant: Grant | None) -> None:
        self.grant = self.default if grant is None else grant
        self.power_w = self.grant.power_w

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        g = self.grant
        airtime = bits / g.rate_bps
        yield Attempt(
            airtime, self.power_w * airtime, self.power_w, True, g.rate_bps, g.sinr_db, bits, label
        )

    @override
    def planned_airtime_s(self, bits: int) -> float:
        return bits / self.grant.rate_bps

    @override
    def mean_snr(self) -> float:
        return 10 ** (self.grant.sinr_db / 10)


@dataclass(frozen=True)
class AnalogSlot:
    """The AP's answer to an over-the-air request: airtime (s, all PIUs of the AP at once),
    this PIU's energy (J) from its power-control scalars, mean transmit power (W) and mean
    receive SNR of its channel over the airtime (dB)."""

    airtime_s: float
    energy_j: float
    power_w: float
    snr_db: float


class OverTheAirLink(_ChannelLink):
    """Over-the-air computation: the PIU hands its update to the AP (``submit(update,
    slot)``) and transmits in the common analog slot the AP then schedules: ``slot`` is
    succeeded with an :class:`AnalogSlot`. The AP receives the superposition, so nothing is
    delivered afterwards (:attr:`delivers` is False)."""

    delivers: ClassVar[bool] = False

    def __init__(
        self,
        piu: int,
        ap: int,
        band: MultipleAccess,
        max_power_w: float,
        channel: RadioChannel,
        submit: Callable[[Any, simpy.Event], None],
        env: simpy.Environment,
    ) -> None:
        super().__init__(piu, ap, band, max_power_w, channel)
        self._submit = submit
        self._env = env
        self._slot: AnalogSlot | None = None

    @override
    def request(self, update: Any) -> SlotRequest:
        slot = _SlotEvent(self._env, self)
        self._submit(update, slot)
        return slot

    @override
    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        s = self._slot
        assert s is not None, "attempts() before the AP assigned the slot"
        self._slot = None
        what = "over the air"
        yield Attempt(s.airtime_s, s.energy_j, s.power_w, snr_db=s.snr_db, label=what, note=what)


class _SlotEvent(simpy.Event):
    """The analog slot's event, usable like a resource request in a ``with`` block; its
    value (an :class:`AnalogSlot`) is kept by the link for :meth:`OverTheAirLink.attempts`."""

    def __init__(self, env: simpy.Environment, link: OverTheAirLink) -> None:
        super().__init__(env)
        self._link = link
        self.callbacks.append(self._keep)

    def _keep(self, event: simpy.Event) -> None:
        self._link._slot = event.value if event.ok else None

    def __enter__(self) -> _SlotEvent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# A slot request: an event to wait for, and a context manager that gives the slot back.
SlotRequest = simpy.resources.resource.Request | _SlotEvent
