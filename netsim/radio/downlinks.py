"""Downlinks: how an AP's global model reaches its PIUs, mirroring the uplink's link classes
(``netsim/radio/links.py``).

A downlink turns "these PIUs need ``bits``" into transmissions: one multicast at the weakest
recipient's rate, or one unicast per recipient (``radio.downlink``). Each transmission runs
on what carries the AP's downlink band:

* :class:`ChannelDownlink`: the AP's own band, at the Shannon rate of each coherence block
  (the weakest recipient's, for a multicast); the airtime is known when it starts;
* :class:`MediumDownlink`: the co-channel medium of frequency reuse, whose rate follows the
  SINR as other APs' downlinks start and stop;
* :class:`ScheduledDownlink`: the OFDMA slot scheduler (or the NR link abstraction), where
  a multicast is served on each RB at its weakest recipient's SINR and NR blocks can be lost.

The AP (``netsim/nodes/access_point.py``) logs each transmission's start and end and hands
the model on; it does not know which kind it drives.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import simpy
from typing_extensions import override

from netsim.radio.channel import RadioChannel
from netsim.radio.medium import CoChannelMedium, Delivered
from netsim.radio.scheduler import OFDMAScheduler


@dataclass(frozen=True)
class DownlinkTx:
    """One downlink transmission under way: to ``recipients`` (one PIU for a unicast), its
    airtime (s) where known at the start (NaN where it follows the air), and ``done``, an
    event succeeded with a :class:`~netsim.radio.medium.Delivered` when it ends (``lost``:
    an NR block failed its last HARQ transmission)."""

    recipients: tuple[int, ...]
    airtime_s: float
    done: simpy.Event


class Downlink(ABC):
    """An AP's downlink: the transmissions that carry a model to its recipients.

    ``unicast``: one transmission per recipient (in PIU order) instead of one multicast.
    The AP sends on its whole frequency channel (the band's ``channel_hz``, Hz).
    ``concurrent``: the unicasts all start at once (they share the RBs of an OFDMA
    scheduler); else each starts when the one before it ends.
    """

    def __init__(self, unicast: bool, channel: RadioChannel) -> None:
        self.unicast = unicast
        self.channel = channel
        self.bandwidth_hz = channel.band.channel_hz

    def planned_airtime_s(self, ap: int, piu: int, bits: int, power_w: float) -> float:
        """Airtime (s) of ``bits`` from AP ``ap`` to ``piu`` at the rate of its mean SNR over
        the AP's band, without interference: a planning estimate (inf: an SNR of 0)."""
        return self.channel.expected_airtime_s(piu, ap, bits, power_w, self.bandwidth_hz)

    @property
    def concurrent(self) -> bool:
        """Whether the transmissions of one model run at the same time."""
        return False

    def groups(self, recipients: Sequence[int]) -> list[tuple[int, ...]]:
        """The recipients of each transmission, in the order they start."""
        if self.unicast:
            return [(k,) for k in sorted(recipients)]
        return [tuple(recipients)]

    @abstractmethod
    def start(self, ap: int, recipients: tuple[int, ...], bits: int, power_w: float) -> DownlinkTx:
        """Start sending ``bits`` from AP ``ap`` to ``recipients`` at ``power_w`` (W) now."""


class ChannelDownlink(Downlink):
    """On the AP's own band through ``channel``: the Shannon rate of each coherence block at
    the weakest recipient's SNR (PHYSICS.md section 3)."""

    def __init__(self, env: simpy.Environment, channel: RadioChannel, unicast: bool) -> None:
        super().__init__(unicast, channel)
        self.env = env

    @override
    def start(self, ap: int, recipients: tuple[int, ...], bits: int, power_w: float) -> DownlinkTx:
        now = self.env.now
        t = self.channel.multicast(list(recipients), ap, bits, now, power_w, self.bandwidth_hz)
        # no other transmitter shares the band: no interference (NaN: not measured)
        delivered = Delivered(t.airtime_s, t.rate_bps, t.snr_db, math.nan, t.airtime_s)
        return DownlinkTx(recipients, t.airtime_s, self.env.timeout(t.airtime_s, delivered))


class MediumDownlink(Downlink):
    """On frequency channel ``frequency`` (of the reuse plan) of the downlinks' co-channel
    ``medium``, over the whole channel."""

    def __init__(self, medium: CoChannelMedium, frequency: int, unicast: bool) -> None:
        super().__init__(unicast, medium.channel)
        self.medium = medium
        self.frequency = frequency

    @override
    def start(self, ap: int, recipients: tuple[int, ...], bits: int, power_w: float) -> DownlinkTx:
        tx = self.medium.start(
            -1, ap, self.frequency, 0.0, self.bandwidth_hz, power_w, bits, recipients
        )
        return DownlinkTx(recipients, math.nan, tx.done)


class ScheduledDownlink(Downlink):
    """Through the downlink slot ``scheduler``. With ``ofdma`` (``radio.scheduler`` other
    than fifo) the AP's transfers share its RBs slot by slot, so unicasts run at once; else
    (NR on a TDMA / FDMA band) each transmission holds every RB, one after another."""

    def __init__(self, scheduler: OFDMAScheduler, ofdma: bool, unicast: bool) -> None:
        super().__init__(unicast, scheduler.channel)
        self.scheduler = scheduler
        self.ofdma = ofdma

    @property
    @override
    def concurrent(self) -> bool:
        return self.unicast and self.ofdma

    @override
    def start(self, ap: int, recipients: tuple[int, ...], bits: int, power_w: float) -> DownlinkTx:
        rbs = None if self.ofdma else (0, self.scheduler.n_rb)
        if self.unicast:
            flow = self.scheduler.submit(recipients[0], ap, power_w, bits, rbs)
        else:  # one flow, on each RB at its weakest recipient's SINR
            flow = self.scheduler.submit(recipients[0], ap, power_w, bits, rbs, recipients)
        return DownlinkTx(recipients, math.nan, flow.done)

    def point_to_point(self, ap: int, piu: int, bits: int, power_w: float) -> DownlinkTx:
        """A unicast of ``bits`` to ``piu`` at its own SINR and CQI (its own link adaptation):
        an NR multicast's recipient that could not decode it (NR MBS point-to-point
        retransmission)."""
        rbs = None if self.ofdma else (0, self.scheduler.n_rb)
        flow = self.scheduler.submit(piu, ap, power_w, bits, rbs)
        return DownlinkTx((piu,), math.nan, flow.done)
