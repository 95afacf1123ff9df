"""[device] and [mobility]: compute, stragglers, batteries, availability, harvesting,
device classes and movement."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import (
    MAX_SECONDS,
    MAX_SPEED_MPS,
    Area,
    FilePath,
    Index,
    NonNegativeSeconds,
    Position,
    PowerDbm,
    Scale,
    Seconds,
    Watts,
    _Frozen,
)
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- device


class NoStraggler(_Frozen):
    """Slowdown factor 1 every round."""

    dist: Literal["none"] = "none"


class ConstantStraggler(_Frozen):
    """Slowdown factor ``factor`` every round."""

    dist: Literal["constant"]
    factor: Scale
    """The slowdown factor: local training takes factor x its nominal time."""


class LogNormalStraggler(_Frozen):
    """Slowdown ``exp(N(0, sigma^2))`` (median 1, mean ``exp(sigma^2 / 2)``)."""

    dist: Literal["lognormal"]
    sigma: float = Field(0.5, gt=0, le=5.0)
    """Standard deviation of the slowdown's logarithm."""


class ShiftedExponentialStraggler(_Frozen):
    """Slowdown ``1 + Exp(mean=scale)`` (never faster than nominal)."""

    dist: Literal["shifted_exponential"]
    scale: Scale = 0.5
    """Mean of the exponential part of the slowdown."""


class ParetoStraggler(_Frozen):
    """Heavy-tailed slowdown: Pareto I with minimum 1 and tail index ``shape`` (> 1, so the
    mean ``shape / (shape - 1)`` is finite; the variance is infinite for shape <= 2)."""

    dist: Literal["pareto"]
    shape: float = Field(1.5, gt=1, le=1000.0)
    """Tail index (> 1); the smaller, the heavier the tail (mean 3 at 1.5)."""


Straggler = Annotated[
    NoStraggler
    | ConstantStraggler
    | LogNormalStraggler
    | ShiftedExponentialStraggler
    | ParetoStraggler,
    Field(discriminator="dist"),
]


class AlwaysAvailable(_Frozen):
    """Every PIU is reachable throughout the run."""

    kind: Literal["always"] = "always"


class ExponentialAvailability(_Frozen):
    """On/off churn: on periods ~ Exp(mean ``mean_on_s``), off ~ Exp(mean ``mean_off_s``),
    independent per PIU (``netsim/device/availability.py``)."""

    kind: Literal["exponential"]
    mean_on_s: Seconds
    """Mean time a PIU stays online."""
    mean_off_s: Seconds
    """Mean time a PIU stays offline."""


class TraceAvailability(_Frozen):
    """Per-PIU trace files ``piu<k>.csv`` (columns time_s, available[, cpu_hz]) in ``dir``
    (relative to the scenario file); PIUs without a file are always available."""

    kind: Literal["trace"]
    dir: FilePath
    """Folder of the trace files piu<k>.csv (columns time_s, available[, cpu_hz]); relative to
    the scenario file."""


Availability = Annotated[
    AlwaysAvailable | ExponentialAvailability | TraceAvailability,
    Field(discriminator="kind"),
]


class HarvestingConfig(_Frozen):
    """Energy harvesting into the battery (``netsim/device/harvesting.py``)."""

    kind: Literal["none", "constant", "periodic", "random"] = "none"
    """none; constant (power_w); periodic (a half-sine day of peak power_w and period period_s);
    random (exponential energy per interval of mean power_w x interval_s)."""
    power_w: Watts = 0.0
    """Harvested power: the constant, the peak or the mean, by kind."""
    period_s: Seconds = 86_400.0
    """periodic: length of the harvesting day."""
    interval_s: Seconds = 1.0
    """Energy is credited to the battery every interval_s (logged as harvest)."""


# Bound of the numbers in a distribution: wider than every device value's own range
# (_DEVICE_RANGES), which DeviceClass checks.
DRAWN_LIMIT = 1.0e18


class UniformValue(_Frozen):
    """A per-PIU value drawn uniformly in [low, high]."""

    dist: Literal["uniform"]
    low: float = Field(ge=-DRAWN_LIMIT, le=DRAWN_LIMIT)
    """Smallest value."""
    high: float = Field(ge=-DRAWN_LIMIT, le=DRAWN_LIMIT)
    """Largest value."""

    @model_validator(mode="after")
    def _ordered(self) -> UniformValue:
        if self.low > self.high:
            raise _FieldError("low", self.low, f"at most high ({self.high})")
        return self


class LogNormalValue(_Frozen):
    """A per-PIU value ``median exp(N(0, sigma^2))``."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0, le=DRAWN_LIMIT)
    """Median of the values."""
    sigma: float = Field(gt=0, le=5.0)
    """Standard deviation of their logarithm."""


class ChoiceValue(_Frozen):
    """A per-PIU value drawn uniformly from ``values``."""

    dist: Literal["choice"]
    values: list[Annotated[float, Field(ge=-DRAWN_LIMIT, le=DRAWN_LIMIT)]] = Field(min_length=1)
    """The values to choose from, with equal probability."""


Drawn = Annotated[UniformValue | LogNormalValue | ChoiceValue, Field(discriminator="dist")]
Value = float | Drawn

# The range of each per-PIU device value (a number, or every value a distribution can take
# but a log-normal's upper tail), as (low, high, units, whether low itself is allowed):
# from a 1 kHz microcontroller to a 1 PHz accelerator, one cycle to 1e15 a sample.
_DEVICE_RANGES: dict[str, tuple[float, float, str, bool]] = {
    "cpu_hz": (1.0e3, 1.0e15, "Hz", True),
    "cycles_per_sample": (1.0, 1.0e15, "cycles", True),
    "kappa": (0.0, 1.0e-10, "J per cycle Hz^2", False),
    "tx_power_dbm": (-150.0, 100.0, "dBm", True),
    "battery_j": (0.0, math.inf, "J", False),
}
CpuHz = Annotated[float, Field(ge=1.0e3, le=1.0e15)]
CyclesPerSample = Annotated[float, Field(ge=1.0, le=1.0e15)]
Kappa = Annotated[float, Field(gt=0, le=1.0e-10)]


class DeviceClass(_Frozen):
    """A kind of device (sensor, gateway, camera...) with its own compute, radio and battery.

    PIUs join a class by ``pius``, by the ``device_class`` attribute of their node in a
    topology file, or by ``share``. A per-PIU value is a number, a distribution drawn once per
    PIU (``{dist = "uniform", low, high}``, ``{dist = "lognormal", median, sigma}``,
    ``{dist = "choice", values}``) or absent (the ``[device]`` value). Corrupted updates:
    ``netsim/fl/byzantine.py``."""

    name: str = Field(min_length=1)
    """The class's name (logged in each PIU's device event); not 'default'."""
    share: float | None = Field(None, gt=0, le=1)
    """Fraction of all PIUs in this class, taken from a keyed random permutation of those not yet
    assigned."""
    pius: list[Index] | None = None
    """Indices of the PIUs in this class (instead of share)."""
    cpu_hz: CpuHz | Drawn | None = None
    """CPU frequency: a number or a per-PIU distribution (absent: [device]'s)."""
    cycles_per_sample: CyclesPerSample | Drawn | None = None
    """CPU cycles per training sample: a number or a distribution."""
    kappa: Kappa | Drawn | None = None
    """Effective switched capacitance (J per cycle Hz^2): a number or a distribution."""
    tx_power_dbm: PowerDbm | Drawn | None = None
    """Transmit power: a number or a distribution."""
    battery_j: Annotated[float, Field(gt=0, allow_inf_nan=True)] | Drawn | None = None
    """Battery capacity (inf: mains powered): a number or a distribution."""
    straggler: Straggler | None = None
    """Slowdown law of this class (absent: [device]'s)."""
    byzantine: Literal["sign_flip", "gaussian", "scaled"] | None = None
    """The class's PIUs corrupt every update they send: sign_flip (-byzantine_scale x the
    update), gaussian (noise of standard deviation byzantine_scale instead) or scaled
    (byzantine_scale x the update)."""
    byzantine_scale: Scale = 1.0
    """Scale of the corruption."""

    @model_validator(mode="after")
    def _in_range(self) -> DeviceClass:
        for name, (low, high, units, closed) in _DEVICE_RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            smallest, largest = _bounds(value)
            above = smallest >= low if closed else smallest > low
            if not (above and (largest <= high or isinstance(value, LogNormalValue))):
                bracket = "[" if closed else "("
                raise _FieldError(
                    name, [smallest, largest], f"values in {bracket}{low:g}, {high:g}] {units}"
                )
        return self


def _bounds(value: Value) -> tuple[float, float]:
    """(smallest, largest) value a per-PIU value can take; a log-normal one is always > 0
    and unbounded above: (median, inf)."""
    if isinstance(value, UniformValue):
        return value.low, value.high
    if isinstance(value, ChoiceValue):
        return min(value.values), max(value.values)
    if isinstance(value, LogNormalValue):
        return value.median, math.inf
    return value, value


class DeviceConfig(_Frozen):
    """Every PIU's compute, radio and battery, with stragglers, availability, harvesting
    and heterogeneous device classes (``netsim/device``)."""

    cpu_hz: CpuHz = 1.0e9
    """CPU frequency f of every PIU; local training takes S C / f x the slowdown."""
    cycles_per_sample: CyclesPerSample = 2.0e4
    """CPU cycles C to train on one sample."""
    kappa: Kappa = 1e-28
    """Effective switched capacitance (J per cycle Hz^2): training energy kappa C S f^2."""
    tx_power_dbm: PowerDbm = 20.0
    """Uplink transmit power (the maximum, with power control or allocation)."""
    battery_j: float = Field(math.inf, gt=0, allow_inf_nan=True)
    """Battery capacity at the start (inf: mains powered)."""
    straggler: Straggler = NoStraggler()
    """Per-round slowdown of local training, drawn per PIU and round."""
    availability: Availability = AlwaysAvailable()
    """On/off process or traces; going offline interrupts the current activity."""
    harvesting: HarvestingConfig = HarvestingConfig()
    """Energy harvested into the battery."""
    reserve_j: float = Field(0.0, ge=0, le=1.0e12)
    """Energy-aware participation: a PIU takes a round only if it can pay the round's predicted
    energy and keep this much."""
    classes: list[DeviceClass] = Field(default_factory=list)
    """Heterogeneous device classes ([[device.classes]]); PIUs in no class take the values above."""

    @model_validator(mode="after")
    def _classes(self) -> DeviceConfig:
        names = [c.name for c in self.classes]
        for name in names:
            if names.count(name) > 1 or name == "default":
                raise _FieldError("classes", name, "distinct class names other than 'default'")
        total = sum(c.share or 0.0 for c in self.classes)
        if total > 1 + 1e-9:
            raise _FieldError("classes", total, "shares that add up to at most 1")
        claimed = [k for c in self.classes for k in c.pius or ()]
        if len(claimed) != len(set(claimed)):
            twice = sorted({k for k in claimed if claimed.count(k) > 1})
            raise _FieldError("classes", twice, "each PIU in at most one class's pius")
        return self

    @model_validator(mode="after")
    def _finite_battery_to_harvest(self) -> DeviceConfig:
        if self.harvesting.kind != "none" and math.isinf(self.battery_j):
            raise _FieldError(
                "harvesting.kind",
                self.harvesting.kind,
                "'none' with an unlimited battery (set battery_j to the capacity in J)",
            )
        return self


# --------------------------------------------------------------------------- mobility


class MobilityConfig(_Frozen):
    """Moving PIUs (``netsim/device/mobility.py``): their gains follow their position and
    they hand over to a stronger AP."""

    model: Literal["none", "random_waypoint", "path"] = "none"
    """none; random_waypoint (waypoints in area_m, speeds uniform in [speed_min_mps, speed_mps],
    pause_s at each); path (along path_m and back at speed_mps)."""
    pius: list[Index] | None = None
    """Indices of the PIUs that move (absent: all)."""
    speed_mps: float = Field(1.0, gt=0, le=MAX_SPEED_MPS)
    """Speed (random_waypoint: the largest)."""
    speed_min_mps: Annotated[float, Field(gt=0, le=MAX_SPEED_MPS)] | None = None
    """random_waypoint: the smallest speed (absent: speed_mps)."""
    pause_s: NonNegativeSeconds = 0.0
    """random_waypoint: pause at each waypoint."""
    area_m: Area | None = None
    """random_waypoint: [xmin, ymin, xmax, ymax] (absent: a factory hall's whole floor, else the
    bounding box of the APs and PIUs)."""
    path_m: list[Position] | None = None
    """path: the [x, y] points to follow, at least two distinct."""
    update_s: float = Field(0.1, ge=1e-3, le=MAX_SECONDS)
    """Gains and the serving AP are recomputed this often while a PIU moves."""
    hysteresis_db: float = Field(3.0, ge=0.0, le=100.0)
    """A PIU hands over to an AP stronger than its serving AP by at least this."""

    @model_validator(mode="after")
    def _complete(self) -> MobilityConfig:
        if self.model == "path":
            path = self.path_m or []
            if len(path) < 2 or all(p == path[0] for p in path):
                raise _FieldError("path_m", path, "at least two distinct [x, y] points (m)")
        lo = self.speed_min_mps
        if lo is not None and lo > self.speed_mps:
            raise _FieldError("speed_min_mps", lo, f"at most speed_mps ({self.speed_mps})")
        a = self.area_m
        if a is not None and not (a[0] < a[2] and a[1] < a[3]):
            raise _FieldError(
                "area_m", list(a), "[xmin, ymin, xmax, ymax] with xmin < xmax, ymin < ymax"
            )
        return self
