"""Mobility of one PIU on the timeline: its links follow its position, with handover."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence

import numpy as np
import simpy

from netsim.device.mobility import Trajectory
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.piu import PIU
from netsim.radio.channel import RadioChannel


class Mobility:
    """Moves ``piu`` along ``trajectory``.

    Every ``update_s`` (from t = 0) the PIU's large-scale gains to every AP are recomputed
    at its position (``gain_at(piu, xy) -> (A,)`` linear: path loss at the new distances, the
    link's LOS state and shadowing kept from its start) and written into the channel; a
    transmission already under way keeps the gains it started with. When another AP's gain
    exceeds the serving AP's by more than ``hysteresis_db``, the PIU hands over to it
    (``handover`` event, detail "apX -> apY", ``snr_db`` the gain ratio in dB): models and
    uploads after that go through the new AP and its uplink band. A model that was on its
    way to the PIU through the old AP when it left is forwarded to the new AP
    (``dl_forward``, see :meth:`AccessPoint._forward_model`); an upload under way finishes
    on the old AP's band and is relayed by the new AP.
    """

    def __init__(
        self,
        env: simpy.Environment,
        piu: PIU,
        trajectory: Trajectory,
        gain_at: Callable[[int, np.ndarray], np.ndarray],
        channel: RadioChannel,
        aps: Sequence[AccessPoint],
        update_s: float,
        hysteresis_db: float,
    ) -> None:
        self.env = env
        self.piu = piu
        self.trajectory = trajectory
        self.gain_at = gain_at
        self.channel = channel
        self.aps = aps
        self.update_s = update_s
        self.hysteresis = 10 ** (hysteresis_db / 10)

    def start(self) -> None:
        """Start moving (the first position update is at t = 0)."""
        self.process = self.env.process(self.run())

    def run(self) -> Generator[simpy.Event, object, None]:
        """Update the PIU's position every ``update_s``, from t = 0."""
        step = 0
        while True:
            self._update()
            step += 1
            # multiples of update_s, not a running sum: no drift over long runs
            yield self.env.timeout(step * self.update_s - self.env.now)

    def _update(self) -> None:
        k = self.piu.index
        gain = self.gain_at(k, self.trajectory.position(self.env.now))
        self.channel.move(k, gain)
        old, best = self.piu.ap_index, int(np.argmax(gain))
        if best != old and gain[best] > self.hysteresis * gain[old]:
            self._hand_over(old, best, 10 * math.log10(gain[best] / gain[old]))

    def _hand_over(self, old: int, new: int, margin_db: float) -> None:
        ap = self.aps[new]
        self.aps[old].hand_over(self.piu.index, ap)
        self.piu.hand_over(new, ap.inbox, ap.access, margin_db)
