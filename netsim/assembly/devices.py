"""``[device]`` and ``[mobility]`` -> each PIU's device, availability schedule, harvester
and trajectory.

Device classes, in this order: a class's explicit ``pius``; the ``device_class`` attribute of
the PIU's node in a topology file; then shares, filled from a keyed random permutation
(``DEVICE_CLASS`` stream) of the PIUs still unassigned, class by class in the order they are
declared, ``round(share K)`` PIUs each (never more than are left); whoever is left is in
class "default" (the ``[device]`` values). Drawn values come from keyed streams
``(DEVICE, piu, field)``, so a PIU's device does not depend on the others' nor on which other
fields are drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from netsim.assembly.errors import field_error
from netsim.device.availability import Switch, TraceError, exponential_on_off, read_trace_dir
from netsim.device.classes import DEFAULT, DeviceSpec
from netsim.device.compute import (
    ConstantSlowdown,
    LogNormalSlowdown,
    ParetoSlowdown,
    ShiftedExponentialSlowdown,
    SlowdownDistribution,
)
from netsim.device.harvesting import Harvester
from netsim.device.mobility import Trajectory, along_path, random_waypoint
from netsim.rng import Stream, Streams
from netsim.scenario import (
    ChoiceValue,
    ConstantStraggler,
    DeviceClass,
    DeviceConfig,
    ExponentialAvailability,
    FactoryHallTopology,
    LogNormalStraggler,
    LogNormalValue,
    MobilityConfig,
    ParetoStraggler,
    ScenarioError,
    ShiftedExponentialStraggler,
    Straggler,
    Topology,
    TraceAvailability,
    UniformValue,
    Value,
)

_FIELDS = ("cpu_hz", "cycles_per_sample", "kappa", "tx_power_dbm", "battery_j")


def assign_classes(
    device: DeviceConfig, n_pius: int, attributes: Sequence[str | None], streams: Streams
) -> list[str]:
    """Class name of each PIU (``attributes``: the topology's ``device_class`` per PIU)."""
    names: list[str | None] = [None] * n_pius
    for c in device.classes:
        for k in c.pius or ():
            names[k] = c.name
    known = {c.name for c in device.classes}
    for k, attr in enumerate(attributes):
        if attr is None or names[k] is not None:
            continue
        if attr not in known:
            raise ScenarioError(
                f"topology: piu{k} has device_class = {attr!r}; expected one of the "
                f"[[device.classes]] names {sorted(known)}"
            )
        names[k] = attr
    free = [k for k in streams.numpy(Stream.DEVICE_CLASS).permutation(n_pius) if names[k] is None]
    for c in device.classes:
        if c.share is None:
            continue
        take = min(round(c.share * n_pius), len(free))
        for k in free[:take]:
            names[k] = c.name
        free = free[take:]
    return [DEFAULT if n is None else n for n in names]


def device_specs(
    device: DeviceConfig, classes: Sequence[str], streams: Streams
) -> list[DeviceSpec]:
    """Each PIU's drawn device parameters."""
    by_name: dict[str, DeviceClass] = {c.name: c for c in device.classes}
    specs = []
    for k, name in enumerate(classes):
        c = by_name.get(name)
        values = {}
        for i, field in enumerate(_FIELDS):
            own = None if c is None else getattr(c, field)
            rng = streams.numpy(Stream.DEVICE, k, i)
            values[field] = _draw(getattr(device, field) if own is None else own, rng)
        straggler = device.straggler if c is None or c.straggler is None else c.straggler
        specs.append(
            DeviceSpec(
                name, slowdown=slowdown_distribution(straggler), **values,
                byzantine=None if c is None else c.byzantine,
                byzantine_scale=1.0 if c is None else c.byzantine_scale,
            )
        )  # fmt: skip
    return specs


def _draw(value: Value, rng: np.random.Generator) -> float:
    """A number as it is, or one draw of a distribution."""
    if isinstance(value, UniformValue):
        return float(rng.uniform(value.low, value.high))
    if isinstance(value, LogNormalValue):
        return float(value.median * np.exp(value.sigma * rng.standard_normal()))
    if isinstance(value, ChoiceValue):
        return float(value.values[int(rng.integers(len(value.values)))])
    return float(value)


def slowdown_distribution(cfg: Straggler) -> SlowdownDistribution:
    """The distribution object of a ``device.straggler`` table."""
    if isinstance(cfg, ConstantStraggler):
        return ConstantSlowdown(cfg.factor)
    if isinstance(cfg, LogNormalStraggler):
        return LogNormalSlowdown(cfg.sigma)
    if isinstance(cfg, ShiftedExponentialStraggler):
        return ShiftedExponentialSlowdown(cfg.scale)
    if isinstance(cfg, ParetoStraggler):
        return ParetoSlowdown(cfg.shape)
    return ConstantSlowdown(1.0)


def read_traces(av: TraceAvailability, n_pius: int) -> dict[int, list[Switch]]:
    """The availability traces of ``av.dir``; a broken one is a field error."""
    try:
        return read_trace_dir(av.dir, n_pius)
    except TraceError as err:
        raise field_error("device.availability.dir", str(av.dir), problem=str(err)) from None


def availability(
    device: DeviceConfig, n_pius: int, streams: Streams
) -> list[Iterable[Switch] | None]:
    """Each PIU's on/off schedule (None: always available)."""
    av = device.availability
    if isinstance(av, ExponentialAvailability):
        return [
            exponential_on_off(av.mean_on_s, av.mean_off_s, streams.numpy(Stream.AVAILABILITY, k))
            for k in range(n_pius)
        ]
    if isinstance(av, TraceAvailability):
        traces = read_traces(av, n_pius)
        return [traces.get(k) for k in range(n_pius)]
    return [None] * n_pius


def harvester(device: DeviceConfig, piu: int, streams: Streams) -> Harvester | None:
    """PIU ``piu``'s energy harvester (None without harvesting)."""
    h = device.harvesting
    if h.kind == "none":
        return None
    return Harvester(h.kind, h.power_w, h.interval_s, h.period_s, streams, piu)


def floor_of(topology: Topology) -> tuple[float, float, float, float] | None:
    """The floor PIUs roam by default (m, [xmin, ymin, xmax, ymax]): a factory hall's
    whole floor, so that AGVs cross it wall to wall (the bounding box of the APs and the
    drawn machine spots leaves strips along the walls that nobody visits); None elsewhere."""
    if isinstance(topology, FactoryHallTopology):
        return (0.0, 0.0, topology.length_m, topology.width_m)
    return None


def trajectories(
    mobility: MobilityConfig,
    piu_xy: np.ndarray,
    ap_xy: np.ndarray,
    streams: Streams,
    floor_m: tuple[float, float, float, float] | None = None,
) -> dict[int, Trajectory]:
    """The trajectory of every moving PIU (random waypoint in the area, or a path). The
    random waypoints' area: ``mobility.area_m``, else the topology's ``floor_m`` [xmin,
    ymin, xmax, ymax] (m; a factory hall's floor), else the bounding box of the APs and
    PIUs."""
    m = mobility
    if m.model == "none":
        return {}
    everyone = np.vstack([piu_xy, ap_xy])
    area = m.area_m or floor_m or (*everyone.min(axis=0), *everyone.max(axis=0))
    moving = {}
    for k in m.pius if m.pius is not None else range(len(piu_xy)):
        if m.model == "path":
            assert m.path_m is not None
            legs = along_path(m.path_m, m.speed_mps)
        else:
            rng = streams.numpy(Stream.MOBILITY, k)
            low = m.speed_min_mps or m.speed_mps
            legs = random_waypoint(piu_xy[k], area, low, m.speed_mps, m.pause_s, rng)
        moving[k] = Trajectory(legs)
    return moving
