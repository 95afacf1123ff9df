"""Where a moving PIU is: piecewise-linear trajectories (random waypoint, or a fixed path).

A trajectory is a lazily extended list of legs; each leg moves at constant velocity from
``start`` to ``end`` (m) during ``[t0_s, t1_s]`` (a pause is a leg with start == end).

* Random waypoint (Johnson & Maltz 1996; the standard ad-hoc mobility model): pick a
  destination uniformly in the area and a speed uniformly in ``[speed_min, speed_max]``
  (m/s), walk there in a straight line, pause ``pause_s``, repeat.
* Path: walk a polyline of waypoints at constant speed, then back, and so on (a patrol
  route, an AGV's track in a factory hall).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Leg:
    """Constant-velocity motion from ``start`` to ``end`` (m, (2,)) during [t0_s, t1_s]."""

    t0_s: float
    t1_s: float
    start: tuple[float, float]
    end: tuple[float, float]


class Trajectory:
    """Position over simulated time of one PIU (legs drawn as time advances)."""

    def __init__(self, legs: Iterator[Leg]) -> None:
        self._legs = legs
        self._known: list[Leg] = []
        self._ends: list[float] = []

    def position(self, t_s: float) -> np.ndarray:
        """(x, y) in m at time ``t_s`` >= 0."""
        while not self._ends or self._ends[-1] < t_s:
            leg = next(self._legs)
            self._known.append(leg)
            self._ends.append(leg.t1_s)
        leg = self._known[bisect.bisect_left(self._ends, t_s)]
        span = leg.t1_s - leg.t0_s
        f = 0.0 if span <= 0 else (t_s - leg.t0_s) / span
        start, end = np.asarray(leg.start), np.asarray(leg.end)
        return start + f * (end - start)


def random_waypoint(
    start: Sequence[float],
    area: tuple[float, float, float, float],
    speed_min_mps: float,
    speed_max_mps: float,
    pause_s: float,
    rng: np.random.Generator,
) -> Iterator[Leg]:
    """Endless random-waypoint legs from ``start`` inside ``area`` = (xmin, ymin, xmax, ymax)."""
    x0, y0, x1, y1 = area
    here = (float(start[0]), float(start[1]))
    t = 0.0
    while True:
        there = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
        speed = float(rng.uniform(speed_min_mps, speed_max_mps))
        walk = math.dist(here, there) / speed
        yield Leg(t, t + walk, here, there)
        t += walk
        if pause_s > 0:
            yield Leg(t, t + pause_s, there, there)
            t += pause_s
        here = there


def along_path(waypoints: Sequence[Sequence[float]], speed_mps: float) -> Iterator[Leg]:
    """Endless legs along the polyline ``waypoints`` (m) and back, at ``speed_mps``."""
    points = [(float(x), float(y)) for x, y in waypoints]
    t = 0.0
    while True:
        for a, b in zip(points, points[1:], strict=False):
            walk = math.dist(a, b) / speed_mps
            yield Leg(t, t + walk, a, b)
            t += walk
        points.reverse()
