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

A new uplink mode is a new subclass here (and its construction in ``netsim.build``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import simpy
from typing_extensions import override

from netsim.radio.access import MultipleAccess
from netsim.radio.channel import RadioChannel, Transfer

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
    note: about the outcome, in words; reason: why it was not delivered ("outage").
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


class _ChannelLink(Uplink):
    """A link over the block-fading :class:`RadioChannel`, planned at its mean-SNR rate."""

    def __init__(
        self, piu: int, ap: int, band: MultipleAccess, max_power_w: float, channel: RadioChannel
    ) -> None:
        super().__init__(piu, ap, band, max_power_w)
        self.channel = channel

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
    ) -> None:
        super().__init__(piu, ap, band, max_power_w, channel)
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
