"""Heterogeneous devices: which class each PIU belongs to, and its drawn parameters.

Assignment, in this order: a class's explicit ``pius``; the ``device_class`` attribute of the
PIU's node in a topology file; then shares, filled from a keyed random permutation
(``DEVICE_CLASS`` stream) of the PIUs still unassigned, class by class in the order they are
declared, ``round(share K)`` PIUs each (never more than are left); whoever is left is in
class "default" (the ``[device]`` values). Drawn values come from keyed streams
``(DEVICE, piu, field)``, so a PIU's device does not depend on the others' nor on which other
fields are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netsim.rng import Stream, Streams
from netsim.scenario import (
    ChoiceValue,
    DeviceClass,
    DeviceConfig,
    LogNormalValue,
    ScenarioError,
    Straggler,
    UniformValue,
    Value,
)

DEFAULT = "default"
_FIELDS = ("cpu_hz", "cycles_per_sample", "kappa", "tx_power_dbm", "battery_j")


@dataclass(frozen=True)
class DeviceSpec:
    """One PIU's device: its class and CPU frequency (Hz), cycles per sample, switched
    capacitance kappa (J / (cycle Hz^2)), transmit power (dBm), battery capacity (J) and
    straggler distribution."""

    klass: str
    cpu_hz: float
    cycles_per_sample: float
    kappa: float
    tx_power_dbm: float
    battery_j: float
    straggler: Straggler


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
        specs.append(DeviceSpec(name, straggler=straggler, **values))
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
