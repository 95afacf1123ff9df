"""A PIU's device: its class and drawn parameters (see :mod:`netsim.assembly.devices` for how
classes are assigned and values drawn from the scenario's ``[device]`` table)."""

from __future__ import annotations

from dataclasses import dataclass

from netsim.device.compute import SlowdownDistribution

DEFAULT = "default"  # the class of PIUs no ``[[device.classes]]`` entry claims


@dataclass(frozen=True)
class DeviceSpec:
    """One PIU's device: its class and CPU frequency (Hz), cycles per sample, switched
    capacitance kappa (J / (cycle Hz^2)), transmit power (dBm), battery capacity (J),
    straggler slowdown distribution and, for a Byzantine PIU, how it corrupts its updates
    (``netsim.fl.byzantine``: its kind and scale)."""

    klass: str
    cpu_hz: float
    cycles_per_sample: float
    kappa: float
    tx_power_dbm: float
    battery_j: float
    slowdown: SlowdownDistribution
    byzantine: str | None = None
    byzantine_scale: float = 1.0
