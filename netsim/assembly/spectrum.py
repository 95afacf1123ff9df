"""Air and spectrum: how the links share the band (the co-channel medium, the OFDMA
schedulers, the FDMA sub-bands, open-loop power control) and each PIU's uplink in the
scenario's uplink mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from netsim.assembly import radio as build_radio
from netsim.assembly.radio import Air
from netsim.messages import OTAReady
from netsim.nodes.access_point import AccessPoint
from netsim.radio.allocation import CellFreeUplink
from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.links import (
    AdaptiveRateLink,
    CellFreeLink,
    FixedRateLink,
    Grant,
    OpenLoopPowerControl,
    OverTheAirLink,
    ScheduledLink,
    SharedSpectrumLink,
    Uplink,
)
from netsim.radio.medium import CoChannelMedium
from netsim.radio.pathloss import dbm_to_w
from netsim.radio.scheduler import OFDMAScheduler
from netsim.rng import Streams
from netsim.scenario import Scenario, ScenarioError


@dataclass(frozen=True)
class Spectrum:
    """How the links share the band (``Air.band``: the frequency plan, the widths): the
    co-channel medium every digital uplink transmits on (with reuse, or with receive
    combining across antennas), or the OFDMA schedulers of a slot-level scheduler or NR
    links; the open-loop power control; and each PIU's FDMA sub-band (its rank among the
    PIUs its first AP serves; after a handover the new AP's split applies)."""

    medium: CoChannelMedium | None
    slots: np.ndarray
    power_control: OpenLoopPowerControl | None
    scheduler: OFDMAScheduler | None = None
    downlink_scheduler: OFDMAScheduler | None = None
    downlink_medium: CoChannelMedium | None = None

    @property
    def schedulers(self) -> list[OFDMAScheduler]:
        """The slot schedulers there are: the uplink's, then the downlink's."""
        return [x for x in (self.scheduler, self.downlink_scheduler) if x is not None]

    @classmethod
    def build(cls, s: Scenario, air: Air, env: simpy.Environment, streams: Streams) -> Spectrum:
        """The sharing of ``[radio]``'s band over ``air`` (one of each medium/scheduler)."""
        serving = air.serving_ap
        slots = np.zeros(len(serving), dtype=int)
        for a in np.unique(serving):
            mine = np.flatnonzero(serving == a)
            slots[mine] = np.arange(len(mine))
        pc = s.radio.power_control
        control = None if pc is None else OpenLoopPowerControl(dbm_to_w(pc.p0_dbm), pc.alpha)
        n_aps = air.gains.gain.shape[1]
        # co-channel downlinks interfere too (those the OFDMA scheduler does not carry)
        down = None
        if s.radio.reuse != "orthogonal":
            down = CoChannelMedium(env, air.channel, downlink=True)
        if s.radio.scheduler != "fifo" or s.radio.link == "nr":
            scheduler = build_radio.ofdma_scheduler(s.radio, air.channel, env, streams)
            downlink = None
            if s.radio.downlink == "unicast" or s.radio.link == "nr":
                downlink = build_radio.ofdma_scheduler(
                    s.radio, air.channel, env, streams, downlink=True, per_rb=scheduler.fading
                )
            return cls(None, slots, control, scheduler, downlink, down)
        medium = build_radio.medium(s.radio, air.channel, n_aps, env, streams)
        return cls(medium, slots, control, None, None, down)


def check_fdma_rbs(s: Scenario, band: Band, served: np.ndarray) -> None:
    """FDMA on NR links splits a channel's RBs among an AP's PIUs: each needs at least one
    (else its sub-band is empty and its uploads never end); a :class:`ScenarioError`
    naming the bandwidth otherwise."""
    if s.radio.access != "fdma" or s.radio.link != "nr" or s.radio.scheduler != "fifo":
        return
    n_rb = band.n_rb
    most = int(served.max()) if len(served) else 0
    if most > n_rb:
        raise ScenarioError(
            f"invalid scenario:\n  radio.bandwidth_hz = {s.radio.bandwidth_hz:g}: too narrow "
            f"for FDMA on NR links: an AP serves {most} PIUs and its channel holds {n_rb} "
            f"resource blocks at numerology {s.radio.numerology} (one each at least); widen "
            "the band, or use radio.scheduler = 'pf' / 'rr' to share RBs over time"
        )


def cellfree_grants(
    cellfree: CellFreeUplink | None, combining: str, max_power_w: np.ndarray
) -> list[Grant] | None:
    """Each PIU's cell-free link with every PIU sending data at full power (before the
    server's first grant), or None for other access schemes."""
    if cellfree is None:
        return None
    rate, sinr = cellfree.full_power(np.arange(len(max_power_w)), combining)
    return [
        Grant(float(p), float(r), float(10 * np.log10(g)))
        for p, r, g in zip(max_power_w, rate, sinr, strict=True)
    ]


def uplink(
    s: Scenario,
    spectrum: Spectrum,
    channel: RadioChannel,
    env: simpy.Environment,
    k: int,
    ap: AccessPoint,
    max_power_w: float,
    cellfree: list[Grant] | None,
) -> Uplink:
    """PIU ``k``'s uplink to ``ap`` in the scenario's uplink mode: cell-free, over the air,
    scheduled (OFDMA), on a shared co-channel band, at a fixed rate, or rate-adaptive."""
    if cellfree is not None:
        return CellFreeLink(k, ap.index, ap.access, max_power_w, cellfree[k])
    if s.ota.enabled:

        def submit(update: Any, slot: simpy.Event) -> None:
            ap.inbox.put(OTAReady(update, slot))

        return OverTheAirLink(k, ap.index, ap.access, max_power_w, channel, submit, env)
    control = spectrum.power_control
    if spectrum.scheduler is not None:
        slot = int(spectrum.slots[k])
        return ScheduledLink(
            k, ap.index, ap.access, max_power_w, channel, spectrum.scheduler, env, control, slot
        )
    if spectrum.medium is not None:
        slot = int(spectrum.slots[k])
        return SharedSpectrumLink(
            k, ap.index, ap.access, max_power_w, channel, spectrum.medium, slot, env, control
        )
    if s.radio.target_rate_bps is not None:
        return FixedRateLink(
            k, ap.index, ap.access, max_power_w, channel,
            s.radio.target_rate_bps, s.radio.max_retransmissions, control,
        )  # fmt: skip
    return AdaptiveRateLink(k, ap.index, ap.access, max_power_w, channel, control)
