"""Scenario schema: TOML -> validated, frozen configuration.

A scenario file is TOML (stdlib ``tomllib``). It is validated into frozen pydantic models; every
bad value raises one :class:`ScenarioError` whose message names the field path, the value and
what is allowed, before anything is simulated or written. ``--set a.b=c`` overrides go through
the same validation.

Units: SI in the fields (s, Hz, m, J, bit/s); dB and dBm only where the field name says so
(``tx_power_dbm``, ``noise_figure_db``, ``shadowing_std_db``).
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from netsim.device.availability import TraceError, read_trace_dir
from netsim.learn.datasets import DATASETS
from netsim.models import MODELS
from netsim.topologies.graphml import Placement, TopologyFileError, read_placement

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Physical bounds wide enough for any real system, narrow enough that dB -> linear and
# distances stay finite in float64 (10 ** (1e6 / 10) overflows).
PowerDbm = Annotated[float, Field(ge=-150.0, le=100.0)]  # 1e-18 mW .. 10 MW
GainDb = Annotated[float, Field(ge=-100.0, le=100.0)]
Coordinate = Annotated[float, Field(ge=-1e7, le=1e7)]  # m: 10,000 km either way
# Scalars are strict (see _Frozen); these few take TOML's form of them: a path from a string,
# a tuple from an array (their items stay strict).
FilePath = Annotated[Path, Strict(False)]
Position = Annotated[tuple[Coordinate, Coordinate], Strict(False)]


class ScenarioError(ValueError):
    """A scenario (file, dict or override) is invalid; the message says where and why."""


class _Frozen(BaseModel):
    """A frozen section: unknown keys, NaN and infinities (unless a field gives them a
    meaning) are errors, and scalars are strict (pydantic's strict mode): ``true`` is not
    the integer 1, ``2.5`` or ``1e9`` not an integer, ``"5"`` not a number, ``1`` not a
    boolean."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _untagged_sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {name: _with_default_tag(cls, name, value) for name, value in data.items()}


# --------------------------------------------------------------------------- topology


class _TopologyBase(_Frozen):
    ap_height_m: NonNegativeFloat = 10.0
    piu_height_m: NonNegativeFloat = 1.5


class SingleCellTopology(_TopologyBase):
    """One AP at the centre of a disc; PIUs uniform in the annulus [min_distance_m, radius_m]."""

    kind: Literal["single_cell"] = "single_cell"
    num_pius: int = Field(10, ge=1)
    radius_m: PositiveFloat = 250.0
    min_distance_m: NonNegativeFloat = 10.0

    @model_validator(mode="after")
    def _annulus(self) -> SingleCellTopology:
        if self.min_distance_m >= self.radius_m:
            raise ValueError(
                f"min_distance_m ({self.min_distance_m}) must be below radius_m ({self.radius_m})"
            )
        return self

    @property
    def n_pius(self) -> int:
        return self.num_pius

    @property
    def n_aps(self) -> int:
        return 1


class GridTopology(_TopologyBase):
    """``aps_per_side**2`` APs on a regular grid in a square; PIUs uniform in the square
    (the cell-free layout with ``wrap_around``)."""

    kind: Literal["grid"]
    num_pius: int = Field(20, ge=1)
    aps_per_side: int = Field(2, ge=1)
    side_m: PositiveFloat = 500.0
    wrap_around: bool = False  # distances on a torus (cell-free book): no edge effects
    ap_perturbation_m: NonNegativeFloat = 0.0  # each AP moved uniformly within +-this in x, y

    @property
    def n_pius(self) -> int:
        return self.num_pius

    @property
    def n_aps(self) -> int:
        return self.aps_per_side**2


class FactoryHallTopology(_TopologyBase):
    """IIoT factory hall (3GPP InF geometry): APs on a regular grid under the ceiling, PIUs
    on machines (``machine_spacing_m`` grid spots inside the hall, drawn without
    replacement)."""

    kind: Literal["factory_hall"]
    num_pius: int = Field(100, ge=1)
    length_m: PositiveFloat = 120.0
    width_m: PositiveFloat = 60.0
    aps_along_length: int = Field(2, ge=1)
    aps_along_width: int = Field(1, ge=1)
    machine_spacing_m: PositiveFloat = 4.0
    ap_height_m: NonNegativeFloat = 8.0  # ceiling-mounted

    @model_validator(mode="after")
    def _room_for_machines(self) -> FactoryHallTopology:
        spots = self.machine_spots()
        if self.num_pius > spots:
            raise _FieldError(
                "num_pius",
                self.num_pius,
                f"at most the {spots} machine spots of a {self.length_m} x {self.width_m} m "
                f"hall at machine_spacing_m = {self.machine_spacing_m}",
            )
        return self

    def machine_spots(self) -> int:
        return int(self.length_m // self.machine_spacing_m) * int(
            self.width_m // self.machine_spacing_m
        )

    @property
    def n_pius(self) -> int:
        return self.num_pius

    @property
    def n_aps(self) -> int:
        return self.aps_along_length * self.aps_along_width


class ExplicitTopology(_TopologyBase):
    """Nodes at given (x, y) positions in metres."""

    kind: Literal["explicit"]
    ap_positions_m: list[Position] = Field(min_length=1)
    piu_positions_m: list[Position] = Field(min_length=1)

    @property
    def n_pius(self) -> int:
        return len(self.piu_positions_m)

    @property
    def n_aps(self) -> int:
        return len(self.ap_positions_m)


class FileTopology(_TopologyBase):
    """APs and PIUs placed by a GraphML/GML file (see ``topologies/graphml.py``); a relative
    ``path`` is relative to the scenario file. ``ap_height_m`` / ``piu_height_m`` apply to
    nodes without a ``height_m`` attribute."""

    kind: Literal["file"]
    path: FilePath

    @model_validator(mode="after")
    def _readable(self) -> FileTopology:
        try:
            self.placement()
        except TopologyFileError as exc:
            problem = str(exc)
            for shown in (str(self.path.resolve()), str(self.path)):
                problem = problem.removeprefix(f"'{shown}'")
            problem = problem.lstrip(": ")
            raise _FieldError("path", str(self.path), "", problem=problem) from None
        return self

    def placement(self) -> Placement:
        return read_placement(self.path, self.ap_height_m, self.piu_height_m)

    @property
    def n_pius(self) -> int:
        return len(self.placement().piu_xy)

    @property
    def n_aps(self) -> int:
        return len(self.placement().ap_xy)


Topology = Annotated[
    SingleCellTopology | GridTopology | FactoryHallTopology | ExplicitTopology | FileTopology,
    Field(discriminator="kind"),
]


class BackhaulConfig(_Frozen):
    """AP <-> server link (fronthaul in cell-free terms): serialisation + fixed latency."""

    capacity_bps: PositiveFloat = 1e9
    latency_s: NonNegativeFloat = 1e-3


# --------------------------------------------------------------------------- radio


class LogDistancePathLoss(_Frozen):
    """``PL_dB = ref_loss_db + 10 exponent log10(d / ref_distance_m)``.

    ``ref_loss_db`` defaults to free-space loss at ``ref_distance_m`` and the carrier.
    """

    model: Literal["log_distance"] = "log_distance"
    exponent: float = Field(3.5, ge=1.0, le=8.0)
    ref_distance_m: PositiveFloat = 1.0
    ref_loss_db: float | None = Field(None, ge=-100.0, le=400.0)


class Macro36814PathLoss(_Frozen):
    """3GPP TR 36.814 macro: ``128.1 + 37.6 log10(d_km)`` dB (2 GHz), shadowing 8 dB."""

    model: Literal["macro_36814"]


class CellFreeBookPathLoss(_Frozen):
    """Demir, Bjornson, Sanguinetti 2021 (cell-free book): ``30.5 + 36.7 log10(d3D)`` dB,
    shadowing 4 dB (2 GHz, AP-UE height difference 10 m)."""

    model: Literal["cellfree_book"]


class Ngo3SlopePathLoss(_Frozen):
    """Ngo et al. 2017 three-slope model (Hata-based ``L`` at the carrier and heights):
    slope 0 below ``d0_m``, 20 dB/decade up to ``d1_m``, 35 beyond; 8 dB shadowing beyond d1."""

    model: Literal["ngo_3slope"]
    d0_m: PositiveFloat = 10.0
    d1_m: PositiveFloat = 50.0

    @model_validator(mode="after")
    def _order(self) -> Ngo3SlopePathLoss:
        if self.d0_m >= self.d1_m:
            raise ValueError(f"d0_m ({self.d0_m}) must be below d1_m ({self.d1_m})")
        return self


class UMiPathLoss(_Frozen):
    """3GPP TR 38.901 UMi street canyon, LOS (dual slope, breakpoint) / NLOS with the LOS
    probability of the standard; shadowing 4 dB LOS, 7.82 dB NLOS."""

    model: Literal["umi_38901"]


class InFPathLoss(_Frozen):
    """3GPP TR 38.901 Indoor Factory (InF-SL/DL/SH/DH) with its LOS probability.

    clutter_density: r, the fraction of the hall covered by clutter (machines).
    clutter_height_m: h_c. clutter_size_m: d_clutter, typical clutter size.
    """

    model: Literal["inf_38901"]
    variant: Literal["SL", "DL", "SH", "DH"] = "SL"
    clutter_density: float = Field(0.2, gt=0, lt=1)
    clutter_height_m: PositiveFloat = 2.0
    clutter_size_m: PositiveFloat = 10.0


PathLoss = Annotated[
    LogDistancePathLoss
    | Macro36814PathLoss
    | CellFreeBookPathLoss
    | Ngo3SlopePathLoss
    | UMiPathLoss
    | InFPathLoss,
    Field(discriminator="model"),
]


class RadioConfig(_Frozen):
    """Wireless access: path loss, shadowing, fading, bandwidth, noise, multiple access.

    shadowing_std_db: log-normal shadowing; absent: the path-loss model's own value (8 dB for
        log_distance). shadowing_decorrelation_m: if set, shadowing of one AP's links to
        PIUs i and k is correlated as ``2^(-distance_ik / decorrelation)`` (cell-free book: 9 m).
    fading: small-scale fading; "rician" with ``rician_k_db``.
    time_correlation: "block" (i.i.d. per coherence interval), "gauss_markov" (AR(1) with
        ``rho = J0(2 pi f_D T_c)``) or "jakes" (sum of sinusoids), ``f_D = speed_mps f_c / c``.
    target_rate_bps: absent: each transmission adapts to the Shannon rate (no errors); set: it
        runs at this fixed rate and fails when the channel's capacity drops below it in any
        coherence interval it spans (outage), then is repeated up to ``max_retransmissions``.
    access: "tdma" / "fdma" on each AP's band, or "cellfree": every AP (``antennas_per_ap``
        antennas) receives every PIU at once on the whole band; the rate is the closed-form
        MR rate with pilot contamination, ``B (1 - tau_p/tau_c) log2(1 + SINR)``.
    """

    pathloss: PathLoss = LogDistancePathLoss()
    shadowing_std_db: float | None = Field(None, ge=0.0, le=50.0)
    shadowing_decorrelation_m: PositiveFloat | None = None
    fading: Literal["rayleigh", "rician", "none"] = "rayleigh"
    rician_k_db: GainDb = 6.0
    time_correlation: Literal["block", "gauss_markov", "jakes"] = "block"
    speed_mps: NonNegativeFloat = 1.0
    coherence_time_s: PositiveFloat = 0.01
    carrier_hz: PositiveFloat = 2.0e9
    bandwidth_hz: PositiveFloat = 1.0e6
    noise_psd_dbm_hz: float = Field(-174.0, ge=-300.0, le=0.0)
    noise_figure_db: float = Field(9.0, ge=0.0, le=100.0)
    access: Literal["tdma", "fdma", "cellfree"] = "tdma"
    ap_tx_power_dbm: PowerDbm = 30.0
    target_rate_bps: PositiveFloat | None = None
    max_retransmissions: int = Field(4, ge=0)
    antennas_per_ap: int = Field(4, ge=1)  # cellfree: N
    combining: Literal["mr", "lsfd"] = "mr"  # cellfree: CPU combining of the APs' MR estimates
    pilot_length: int = Field(10, ge=1)  # cellfree: tau_p
    coherence_symbols: int = Field(200, ge=2)  # cellfree: tau_c

    @model_validator(mode="after")
    def _cellfree(self) -> RadioConfig:
        if self.pilot_length >= self.coherence_symbols:
            raise _FieldError(
                "pilot_length",
                self.pilot_length,
                f"fewer than coherence_symbols ({self.coherence_symbols})",
            )
        if self.access == "cellfree" and self.target_rate_bps is not None:
            raise _FieldError(
                "target_rate_bps",
                self.target_rate_bps,
                "no fixed rate with access = 'cellfree' (its rate is ergodic)",
            )
        return self


# --------------------------------------------------------------------------- device


class NoStraggler(_Frozen):
    """Slowdown factor 1 every round."""

    dist: Literal["none"] = "none"


class ConstantStraggler(_Frozen):
    """Slowdown factor ``factor`` every round."""

    dist: Literal["constant"]
    factor: float = Field(gt=0, allow_inf_nan=False)


class LogNormalStraggler(_Frozen):
    """Slowdown ``exp(N(0, sigma^2))`` (median 1, mean ``exp(sigma^2 / 2)``)."""

    dist: Literal["lognormal"]
    sigma: PositiveFloat = 0.5


class ShiftedExponentialStraggler(_Frozen):
    """Slowdown ``1 + Exp(mean=scale)`` (never faster than nominal)."""

    dist: Literal["shifted_exponential"]
    scale: PositiveFloat = 0.5


class ParetoStraggler(_Frozen):
    """Heavy-tailed slowdown: Pareto I with minimum 1 and tail index ``shape`` (> 1, so the
    mean ``shape / (shape - 1)`` is finite; the variance is infinite for shape <= 2)."""

    dist: Literal["pareto"]
    shape: float = Field(1.5, gt=1, allow_inf_nan=False)


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
    mean_on_s: PositiveFloat
    mean_off_s: PositiveFloat


class TraceAvailability(_Frozen):
    """Per-PIU trace files ``piu<k>.csv`` (columns time_s, available[, cpu_hz]) in ``dir``
    (relative to the scenario file); PIUs without a file are always available."""

    kind: Literal["trace"]
    dir: FilePath


Availability = Annotated[
    AlwaysAvailable | ExponentialAvailability | TraceAvailability,
    Field(discriminator="kind"),
]


class HarvestingConfig(_Frozen):
    """Energy harvesting into the battery (``netsim/device/harvesting.py``): kind "none",
    "constant" (``power_w``), "periodic" (``power_w`` peak of a half-sine day of
    ``period_s``) or "random" (exponential energy per interval, mean ``power_w``); credited
    every ``interval_s``."""

    kind: Literal["none", "constant", "periodic", "random"] = "none"
    power_w: NonNegativeFloat = 0.0
    period_s: PositiveFloat = 86_400.0
    interval_s: PositiveFloat = 1.0


class UniformValue(_Frozen):
    """A per-PIU value drawn uniformly in [low, high]."""

    dist: Literal["uniform"]
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> UniformValue:
        if self.low > self.high:
            raise _FieldError("low", self.low, f"at most high ({self.high})")
        return self


class LogNormalValue(_Frozen):
    """A per-PIU value ``median exp(N(0, sigma^2))``."""

    dist: Literal["lognormal"]
    median: PositiveFloat
    sigma: PositiveFloat


class ChoiceValue(_Frozen):
    """A per-PIU value drawn uniformly from ``values``."""

    dist: Literal["choice"]
    values: list[float] = Field(min_length=1)


Drawn = Annotated[UniformValue | LogNormalValue | ChoiceValue, Field(discriminator="dist")]
Value = float | Drawn

_POSITIVE_DEVICE_FIELDS = ("cpu_hz", "cycles_per_sample", "kappa", "battery_j")


class DeviceClass(_Frozen):
    """A kind of device (sensor, gateway, camera...) with its own compute, radio and battery.

    PIUs join a class by ``pius`` (indices), by the ``device_class`` attribute of their node
    in a topology file, or by ``share`` (a fraction of all PIUs, filled from a keyed random
    permutation of the PIUs not yet assigned). Each of cpu_hz, cycles_per_sample, kappa,
    tx_power_dbm and battery_j is a number, a distribution drawn once per PIU (``{dist =
    "uniform", low, high}``, ``{dist = "lognormal", median, sigma}``, ``{dist = "choice",
    values}``) or absent (the ``[device]`` value); ``straggler`` likewise.
    """

    name: str = Field(min_length=1)
    share: float | None = Field(None, gt=0, le=1)
    pius: list[int] | None = None
    cpu_hz: Value | None = None
    cycles_per_sample: Value | None = None
    kappa: Value | None = None
    tx_power_dbm: Value | None = None
    battery_j: Annotated[float, Field(allow_inf_nan=True)] | Drawn | None = None
    straggler: Straggler | None = None

    @model_validator(mode="after")
    def _positive(self) -> DeviceClass:
        for name in _POSITIVE_DEVICE_FIELDS:
            value = getattr(self, name)
            if value is not None and not _bounds(value)[0] > 0:
                raise _FieldError(name, _bounds(value)[0], "values > 0")
        power = self.tx_power_dbm
        if power is not None and not -150.0 <= _bounds(power)[0] <= _bounds(power)[1] <= 100.0:
            raise _FieldError("tx_power_dbm", list(_bounds(power)), "values in [-150, 100] dBm")
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
    """Every PIU's compute, radio and battery (heterogeneous device classes come later).

    availability: on/off process or traces; going offline interrupts the current activity.
    harvesting: energy harvested into the battery; reserve_j: energy-aware participation, a
    PIU takes a round only if it can pay the round's predicted energy and keep reserve_j.
    classes: heterogeneous device classes (``[[device.classes]]``, see :class:`DeviceClass`);
    PIUs in no class take the values above (class "default").
    """

    cpu_hz: PositiveFloat = 1.0e9
    cycles_per_sample: PositiveFloat = 2.0e4
    kappa: PositiveFloat = 1e-28  # effective switched capacitance, J / (cycle Hz^2)
    tx_power_dbm: PowerDbm = 20.0
    battery_j: float = Field(math.inf, gt=0, allow_inf_nan=True)  # inf: mains powered
    straggler: Straggler = NoStraggler()
    availability: Availability = AlwaysAvailable()
    harvesting: HarvestingConfig = HarvestingConfig()
    reserve_j: NonNegativeFloat = 0.0
    classes: list[DeviceClass] = Field(default_factory=list)

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
    """Moving PIUs (``netsim/device/mobility.py``): model "none", "random_waypoint" (speed
    uniform in [speed_min_mps, speed_mps], pause_s at each waypoint, inside ``area_m`` =
    [xmin, ymin, xmax, ymax]; None: the bounding box of the APs and PIUs) or "path" (along
    ``path_m`` and back at ``speed_mps``). ``pius``: which move (None: all). Their gains are
    recomputed every ``update_s``; a PIU hands over to an AP stronger by ``hysteresis_db``."""

    model: Literal["none", "random_waypoint", "path"] = "none"
    pius: list[int] | None = None
    speed_mps: PositiveFloat = 1.0
    speed_min_mps: PositiveFloat | None = None
    pause_s: NonNegativeFloat = 0.0
    area_m: Annotated[tuple[float, float, float, float], Strict(False)] | None = None
    path_m: list[Position] | None = None
    update_s: PositiveFloat = 0.1
    hysteresis_db: float = Field(3.0, ge=0.0, le=100.0)

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


# --------------------------------------------------------------------------- server, protocol


class ServerConfig(_Frozen):
    """aggregation_s: simulated time to aggregate one round. aggregation: "fedavg", or a
    robust rule against corrupted updates (``netsim/fl/aggregation.py``): "median"
    (coordinate-wise), "trimmed_mean" (``trim_fraction`` of the values cut at each end of
    every coordinate), "norm_clip" (FedAvg of deltas clipped to L2 norm ``clip_norm``)."""

    aggregation_s: NonNegativeFloat = 0.005
    aggregation: Literal["fedavg", "median", "trimmed_mean", "norm_clip"] = "fedavg"
    trim_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    clip_norm: PositiveFloat = 1.0


class StalenessConfig(_Frozen):
    """How much a stale update counts, s(tau) for staleness tau = server version now - the
    version the PIU trained on (Xie et al. 2019, FedAsync): "constant" 1; "polynomial"
    ``(1 + tau)^-a``; "hinge" 1 for tau <= b, else ``1 / (a (tau - b) + 1)``."""

    function: Literal["constant", "polynomial", "hinge"] = "polynomial"
    a: NonNegativeFloat = 0.5
    b: NonNegativeFloat = 4.0


class ProtocolConfig(_Frozen):
    """How the server runs the federation.

    mode "sync": rounds of FedAvg; wait for every selected PIU, until ``deadline_s``, or, with
    ``target_updates`` (over-commitment: select ``clients_per_round`` > target), for the first
    ``target_updates`` arrivals, aborting the rest.
    mode "fedasync" (Xie et al. 2019): every arriving update is mixed in at once,
    ``x <- (1 - alpha_t) x + alpha_t x_k`` with ``alpha_t = mixing * s(tau)``.
    mode "fedbuff" (Nguyen et al. 2022): arriving deltas, weighted by s(tau), are buffered;
    every ``buffer_size`` arrivals ``x <- x + server_lr * mean(buffer)``.
    In both asynchronous modes ``rounds`` counts server model versions, ``concurrency`` PIUs
    (None: all) train at a time, and a PIU gets the current model as soon as its update is
    in (or when it comes back online).
    """

    mode: Literal["sync", "fedasync", "fedbuff"] = "sync"
    rounds: int = Field(20, ge=1)
    deadline_s: PositiveFloat | None = None  # after the round start (broadcast); None: no limit
    clients_per_round: int | None = Field(None, ge=1)  # None: every active PIU
    # which clients_per_round PIUs (netsim/fl/selection.py): uniform at random, a rotating
    # window, or the best expected uplink rate / most battery / earliest predicted finish
    selection: Literal["random", "round_robin", "channel", "energy", "deadline"] = "random"
    target_updates: int | None = Field(None, ge=1)
    staleness: StalenessConfig = StalenessConfig()
    mixing: float = Field(0.6, gt=0, le=1)
    buffer_size: int = Field(10, ge=1)
    server_lr: PositiveFloat = 1.0
    concurrency: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _mode_fields(self) -> ProtocolConfig:
        if self.mode != "sync":
            for name in ("deadline_s", "clients_per_round", "target_updates"):
                if getattr(self, name) is not None:
                    raise _FieldError(
                        name, getattr(self, name), f"unset with mode = {self.mode!r} (sync only)"
                    )
        t, k = self.target_updates, self.clients_per_round
        if t is not None and k is not None and t > k:
            raise _FieldError("target_updates", t, f"at most clients_per_round ({k})")
        return self


class _CompressionBase(_Frozen):
    error_feedback: bool = False  # keep each PIU's compression error and add it next round


class NoCompression(_CompressionBase):
    """Dense float32 updates (32 bits per entry)."""

    method: Literal["none"] = "none"


class UniformCompression(_CompressionBase):
    """b-bit uniform quantization; stochastic rounding makes it unbiased."""

    method: Literal["uniform"]
    bits: int = Field(8, ge=1, le=16)
    stochastic: bool = True


class QSGDCompression(_CompressionBase):
    """QSGD with ``levels`` quantization levels per sign and L2-norm buckets of ``bucket``."""

    method: Literal["qsgd"]
    levels: int = Field(15, ge=1)
    bucket: int = Field(512, ge=1)


class TopKCompression(_CompressionBase):
    """Keep the ``ratio`` fraction of entries with the largest magnitude."""

    method: Literal["topk"]
    ratio: float = Field(0.1, gt=0, le=1)


class RandomKCompression(_CompressionBase):
    """Keep a random ``ratio`` fraction of entries (indices from a shared seed: not sent)."""

    method: Literal["randomk"]
    ratio: float = Field(0.1, gt=0, le=1)


class DGCCompression(_CompressionBase):
    """Deep Gradient Compression: momentum correction, factor masking and a warm-up of the
    kept ``ratio`` from ``warmup_ratio`` over ``warmup_rounds`` rounds."""

    method: Literal["dgc"]
    ratio: float = Field(0.001, gt=0, le=1)
    momentum: float = Field(0.9, ge=0, lt=1)
    warmup_rounds: int = Field(4, ge=0)
    warmup_ratio: float = Field(0.25, gt=0, le=1)


class ThresholdCompression(_CompressionBase):
    """Keep the entries with magnitude at least ``threshold``."""

    method: Literal["threshold"]
    threshold: PositiveFloat = 1e-3


class EMQCompression(_CompressionBase):
    """EMQ-style significance-based quantization: entries above ``threshold`` (lambda) of the
    largest get sign + exponent (``exponent_bits``) + ``mantissa_bits`` mantissa; the others
    a sign or nothing (``insignificant``)."""

    method: Literal["emq"]
    threshold: float = Field(0.01, gt=0, le=1)
    mantissa_bits: int = Field(4, ge=0, le=23)
    exponent_bits: int = Field(4, ge=1, le=8)
    insignificant: Literal["sign", "drop"] = "sign"


class SignificanceCompression(_CompressionBase):
    """EMQ's predecessor: b-bit magnitudes for significant entries, signs for the others."""

    method: Literal["significance"]
    threshold: float = Field(0.01, gt=0, le=1)
    bits: int = Field(4, ge=1, le=16)


class LAQCompression(_CompressionBase):
    """LAQ: b-bit uniform quantization of the innovation (update minus the PIU's last
    decoded update)."""

    method: Literal["laq"]
    bits: int = Field(4, ge=1, le=16)


class AQUILACompression(_CompressionBase):
    """AQUILA: LAQ's innovation quantizer with ``b = floor(log2(1 + R sqrt(n) / ||y||_2))``
    bits chosen per PIU and round (at most ``max_bits``)."""

    method: Literal["aquila"]
    max_bits: int = Field(16, ge=1, le=16)


Compression = Annotated[
    NoCompression
    | LAQCompression
    | AQUILACompression
    | EMQCompression
    | SignificanceCompression
    | UniformCompression
    | QSGDCompression
    | TopKCompression
    | RandomKCompression
    | DGCCompression
    | ThresholdCompression,
    Field(discriminator="method"),
]


class PruningConfig(_Frozen):
    """Magnitude pruning (``compress/pruning.py``).

    scope: "server" prunes the global model with one shared mask; "piu" lets each PIU prune
    its own trained model with its own mask and send only its kept entries (the server
    averages each entry over the PIUs that kept it).

    method: "none", "oneshot" (remove ``amount`` of the conv/linear weights at
    ``start_round``) or "imp" (remove ``rate`` of the remaining ones every
    ``rounds_per_level`` rounds for ``levels`` levels, from ``start_round``; ``rewind``: reset
    the survivors to their initial values at each level).
    """

    method: Literal["none", "oneshot", "imp"] = "none"
    scope: Literal["server", "piu"] = "server"
    start_round: int = Field(1, ge=0)
    amount: float = Field(0.7, gt=0, lt=1)
    rate: float = Field(0.2, gt=0, lt=1)
    levels: int = Field(5, ge=1)
    rounds_per_level: int = Field(2, ge=1)
    rewind: bool = False

    @model_validator(mode="after")
    def _rewind_at_the_server(self) -> PruningConfig:
        if self.rewind and self.scope == "piu":
            raise _FieldError(
                "rewind",
                True,
                "false with scope = 'piu' (a PIU starts each round from the global model)",
            )
        return self


class ControlConfig(_Frozen):
    """Adaptive control the server runs every round (``netsim/fl/controllers.py``).

    kind: "none", "adacomm" (local steps from the loss ratio), "afcfl" (local steps and
    compression fidelity C: ``compression.bits`` for "uniform"/"laq", mantissa bits for
    "emq", kept percentage for "topk"/"randomk") or "adaquantfl" (QSGD levels
    ``s = ceil(sqrt(F_0 / F) c0)``, needs ``compression.method = "qsgd"``).
    f_0 / tau_0 is ``learning.local_steps``.
    The loss is the global model's on ``probe_samples`` fixed training samples.
    """

    kind: Literal["none", "adacomm", "afcfl", "adaquantfl"] = "none"
    c0: int = Field(8, ge=1)
    c_min: int = Field(2, ge=1)
    d: NonNegativeFloat = 0.5
    probe_samples: int = Field(500, ge=1)

    @model_validator(mode="after")
    def _order(self) -> ControlConfig:
        if self.c_min > self.c0:
            raise _FieldError("c_min", self.c_min, f"at most c0 ({self.c0})")
        return self


class OTAConfig(_Frozen):
    """Over-the-air aggregation of the uplink (PHYSICS.md section 5; ``netsim/radio/ota.py``).

    With ``enabled``, the PIUs an AP serves send their normalised updates at once, one real
    entry per channel use (airtime ``entries / bandwidth_hz``), and the AP forwards the
    noisy weighted sum. The AP starts the transmission when every recipient is ready or
    declined, or at the deadline with those that are ready.
    power_control: "zero_forcing" (receive beamforming over ``receive_antennas``, optional
        ``drop_worst`` device selection) or "truncated_inversion" (single antenna, devices
        with small-scale gain below ``truncation_threshold`` stay silent in that block).
    snr_db: average receive SNR at full power, ``P0 mean_k(beta_k) / sigma2``; absent: the
        noise of ``[radio]`` (``noise_psd_dbm_hz``, ``noise_figure_db``, ``bandwidth_hz``).
    """

    enabled: bool = False
    power_control: Literal["zero_forcing", "truncated_inversion"] = "zero_forcing"
    receive_antennas: int = Field(1, ge=1)
    drop_worst: int = Field(0, ge=0)
    truncation_threshold: PositiveFloat = 0.1
    snr_db: float | None = Field(None, ge=-200.0, le=200.0)

    @model_validator(mode="after")
    def _single_antenna_inversion(self) -> OTAConfig:
        if self.power_control == "truncated_inversion" and self.receive_antennas != 1:
            raise _FieldError(
                "receive_antennas",
                self.receive_antennas,
                "1 with power_control = 'truncated_inversion'",
            )
        return self


class AllocationConfig(_Frozen):
    """Per-round uplink power and local-iteration allocation in a cell-free network
    (``netsim/radio/allocation.py``; PHYSICS.md section 7, the EMQ paper).

    method: "none" (full power, no allocation step), "sqp" (minimise
        ``w_energy E / E_full + w_latency T / T_full`` by SLSQP), "full_power",
        "max_sum_rate" (WMMSE), "dinkelbach" (max-min energy efficiency with circuit power
        ``circuit_power_w``) or "min_max_latency" (bisection on the common latency).
    eta_min: lower bound of the power coefficients (fraction of ``device.tx_power_dbm``).
    steps_min, steps_max: range of each PIU's local iterations for "sqp" (default: exactly
        ``learning.local_steps``); the round's total stays at least K x local_steps.
    energy_budget_j: per PIU and round; latency_budget_s: round latency (compute + upload).
    """

    method: Literal[
        "none", "sqp", "full_power", "max_sum_rate", "dinkelbach", "min_max_latency"
    ] = "none"
    w_energy: NonNegativeFloat = 0.5
    w_latency: NonNegativeFloat = 0.5
    eta_min: float = Field(1e-3, gt=0, le=1)
    steps_min: int | None = Field(None, ge=1)
    steps_max: int | None = Field(None, ge=1)
    energy_budget_j: PositiveFloat | None = None
    latency_budget_s: PositiveFloat | None = None
    circuit_power_w: NonNegativeFloat = 0.1


# --------------------------------------------------------------------------- learning


class IIDPartition(_Frozen):
    """Shuffle and split the training set evenly; with ``samples_per_piu`` each PIU instead
    draws that many samples of its own (PIUs may share samples: cohorts larger than the data
    set)."""

    kind: Literal["iid"] = "iid"
    samples_per_piu: int | None = Field(None, ge=1)


class ShardPartition(_Frozen):
    """Each PIU gets samples of ``classes_per_piu`` classes (AFC-FL: one class per PIU)."""

    kind: Literal["shards"]
    classes_per_piu: int = Field(1, ge=1)


class DirichletPartition(_Frozen):
    """Label proportions per PIU ~ Dirichlet(alpha); small alpha = strongly non-IID."""

    kind: Literal["dirichlet"]
    alpha: PositiveFloat = 0.5


Partition = Annotated[
    IIDPartition | ShardPartition | DirichletPartition, Field(discriminator="kind")
]


class OptimizerConfig(_Frozen):
    """Local optimizer of every PIU; its state is fresh each round."""

    name: Literal["sgd", "adam", "adadelta", "rmsprop"] = "sgd"
    lr: PositiveFloat = 0.05
    momentum: NonNegativeFloat = 0.0  # sgd and rmsprop
    weight_decay: NonNegativeFloat = 0.0


class LearningConfig(_Frozen):
    dataset: str = "mnist5k"
    data_path: FilePath | None = None  # folder of "mnist" (IDX) or "cifar10" (pickle) files
    test_fraction: float = Field(0.2, gt=0, lt=1)
    model: str = "lenet5"
    partition: Partition = IIDPartition()
    optimizer: OptimizerConfig = OptimizerConfig()
    local_steps: int = Field(20, ge=1)  # mini-batch steps per round
    batch_size: int = Field(32, ge=1)
    device: str = "cpu"
    # "sequential": one job after another; "batched": vmap over up to batch_clients clients
    # (faster for many PIUs with small mini-batches; same weights up to float32 rounding);
    # "auto": as many as fit a bounded working set (netsim.learn.batched.auto_chunk_size).
    trainer: Literal["sequential", "batched"] = "sequential"
    batch_clients: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _known_names(self) -> LearningConfig:
        if self.dataset not in DATASETS:
            raise _FieldError("dataset", self.dataset, f"one of {sorted(DATASETS)}")
        if self.model not in MODELS:
            raise _FieldError("model", self.model, f"one of {sorted(MODELS)}")
        info, spec = DATASETS[self.dataset], MODELS[self.model]
        if info.needs_path and self.data_path is None:
            raise _FieldError("data_path", None, f"the folder holding the {self.dataset} files")
        if info.needs_path and self.data_path is not None and not self.data_path.is_dir():
            raise _FieldError("data_path", str(self.data_path), "", problem="is not a folder")
        if min(info.input_shape[1:]) < spec.min_input_side:
            raise _FieldError(
                "model",
                self.model,
                f"a model that accepts {info.name}'s {info.input_shape[1]}x{info.input_shape[2]}"
                f" images ({self.model} needs at least {spec.min_input_side}x"
                f"{spec.min_input_side})",
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise _FieldError("device", self.device, "'cpu', 'cuda' or 'cuda:N'")
        return self


class AttackConfig(_Frozen):
    """An attacker in the run (``netsim/privacy/``).

    method: "none"; a gradient inversion of observed uploads: "dlg", "idlg" or "ig"
    (Inverting Gradients); or "gan": a malicious PIU's GAN attack (Hitaj et al. 2017).

    Gradient inversion: position "server" (an honest-but-curious server: sees every decoded
    update) or "ap" (an eavesdropper at access point ``ap``: sees the uplinks that reach
    it, and only the superposition over the air). pius, rounds: whose uploads in which
    rounds are captured and attacked (rounds default [0]). restarts, iterations (optimizer
    steps per restart), time_budget_s (wall clock per restart), lr (None: the method's
    own), tv_weight (IG), max_samples (reconstructed per update), mask_aware (match only the
    entries a sparse payload carried).

    GAN: pius = [the malicious PIU]; rounds: the rounds it attacks in (default: all);
    victim_class, fake_class: the imitated class and the label of the injected samples;
    iterations: generator steps per round; lr: their Adam step (None: 1e-3); max_samples:
    samples injected per round (and scored); keep_victim_class: leave the adversary its own
    samples of the victim class (Hitaj's adversary has none: false); critic: also train a
    real/fake critic on the adversary's own samples (mGAN-AI's multitask discriminator,
    Wang et al. 2019; false: Hitaj's global model as the only discriminator). position is
    unused.
    """

    method: Literal["none", "dlg", "idlg", "ig", "gan"] = "none"
    position: Literal["server", "ap"] = "server"
    ap: int = Field(0, ge=0)
    pius: Annotated[tuple[int, ...], Strict(False)] = (0,)
    rounds: Annotated[tuple[int, ...], Strict(False)] | None = None
    restarts: int = Field(3, ge=1)
    iterations: int = Field(100, ge=1)
    time_budget_s: PositiveFloat = 60.0
    lr: PositiveFloat | None = None
    tv_weight: NonNegativeFloat = 1e-4
    max_samples: int = Field(8, ge=1)
    mask_aware: bool = True
    victim_class: int | None = Field(None, ge=0)
    fake_class: int | None = Field(None, ge=0)
    keep_victim_class: bool = False
    critic: bool = False

    @property
    def attacked_rounds(self) -> tuple[int, ...] | None:
        """Rounds attacked: as given, else round 0 for an inversion and all for the GAN."""
        if self.rounds is not None or self.method == "gan":
            return self.rounds
        return (0,)


# --------------------------------------------------------------------------- scenario


class Scenario(_Frozen):
    """A whole simulation setting. Build it with :func:`load_scenario` or :meth:`from_dict`."""

    # used in run-directory names: no path separators, no leading dot
    name: str = Field("scenario", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_ .+=-]{0,99}$")
    seed: int = Field(0, ge=0)
    topology: Topology = SingleCellTopology()
    backhaul: BackhaulConfig = BackhaulConfig()
    radio: RadioConfig = RadioConfig()
    device: DeviceConfig = DeviceConfig()
    server: ServerConfig = ServerConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    ota: OTAConfig = OTAConfig()
    compression: Compression = NoCompression()
    control: ControlConfig = ControlConfig()
    pruning: PruningConfig = PruningConfig()
    allocation: AllocationConfig = AllocationConfig()
    learning: LearningConfig = LearningConfig()
    attack: AttackConfig = AttackConfig()
    mobility: MobilityConfig = MobilityConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if self.ota.enabled and (
            self.radio.access == "cellfree" or self.radio.target_rate_bps is not None
        ):
            raise _FieldError(
                "ota.enabled", True, "false with radio.access = 'cellfree' or radio.target_rate_bps"
            )
        if self.ota.enabled and self.compression.method != "none":
            raise _FieldError(
                "compression.method",
                self.compression.method,
                "'none' with ota.enabled (analog uplinks send real values)",
            )
        if self.ota.enabled and self.pruning.method != "none" and self.pruning.scope == "piu":
            raise _FieldError(
                "pruning.scope",
                "piu",
                "'server' with ota.enabled (superposed entries need one shared mask)",
            )
        if self.server.aggregation != "fedavg" and self.ota.enabled:
            raise _FieldError(
                "server.aggregation",
                self.server.aggregation,
                "'fedavg' with ota.enabled (the server receives only the APs' superpositions)",
            )
        if (
            self.server.aggregation != "fedavg"
            and self.pruning.method != "none"
            and self.pruning.scope == "piu"
        ):
            raise _FieldError(
                "server.aggregation",
                self.server.aggregation,
                "'fedavg' with pruning.scope = 'piu' (sub-models are averaged per entry)",
            )
        if self.allocation.method != "none" and self.radio.access != "cellfree":
            raise _FieldError(
                "allocation.method",
                self.allocation.method,
                "'none' unless radio.access = 'cellfree'",
            )
        if self.allocation.method != "none" and self.radio.combining != "mr":
            raise _FieldError(
                "radio.combining",
                self.radio.combining,
                "'mr' with an allocation (its SINR model is the MR closed form)",
            )
        steps = self.learning.local_steps
        lo, hi = self.allocation.steps_min, self.allocation.steps_max
        if (lo is not None and lo > steps) or (hi is not None and hi < steps):
            raise _FieldError(
                "allocation.steps_min",
                lo,
                f"steps_min <= learning.local_steps ({steps}) <= steps_max ({hi})",
            )
        fidelity_methods = ("uniform", "emq", "topk", "randomk", "laq")
        if self.control.kind == "afcfl" and self.compression.method not in fidelity_methods:
            raise _FieldError(
                "control.kind",
                "afcfl",
                f"a compression.method with a fidelity knob: {fidelity_methods}",
            )
        if self.control.kind == "adaquantfl" and self.compression.method != "qsgd":
            raise _FieldError("control.kind", "adaquantfl", "used with compression.method = 'qsgd'")
        self._check_attack()
        n = self.topology.n_pius
        for name in ("clients_per_round", "target_updates", "concurrency"):
            k = getattr(self.protocol, name)
            if k is not None and k > n:
                raise _FieldError(f"protocol.{name}", k, f"at most the number of PIUs ({n})")
        self._check_protocol()
        self._check_availability()
        self._check_mobility()
        self._check_device_classes()
        return self

    def _check_device_classes(self) -> None:
        classes, n = self.device.classes, self.topology.n_pius
        for c in classes:
            if c.pius is not None and any(not 0 <= k < n for k in c.pius):
                raise _FieldError(f"device.classes.{c.name}.pius", c.pius, f"indices below {n}")
        powers = {c.tx_power_dbm for c in classes if c.tx_power_dbm is not None}
        varies = bool(powers - {self.device.tx_power_dbm})
        # one full power for the over-the-air power control (the allocation handles each
        # PIU's own full power)
        for name, used in (("ota.enabled", self.ota.enabled),):
            if used and varies:
                raise _FieldError(
                    "device.classes",
                    "tx_power_dbm",
                    f"the same tx_power_dbm for every class with {name} (one full power)",
                )

    def _check_mobility(self) -> None:
        m = self.mobility
        if m.model == "none":
            return
        n = self.topology.n_pius
        if m.pius is not None and any(not 0 <= k < n for k in m.pius):
            raise _FieldError("mobility.pius", m.pius, f"PIU indices from 0 to {n - 1}")
        static = {
            "radio.access = 'cellfree'": self.radio.access == "cellfree",
            "ota.enabled": self.ota.enabled,
        }
        for name, clash in static.items():
            if clash:
                raise _FieldError(
                    "mobility.model",
                    m.model,
                    f"'none' with {name} (its links are computed once, for fixed positions)",
                )

    def _check_protocol(self) -> None:
        p = self.protocol
        if p.target_updates is not None and self.ota.enabled:
            raise _FieldError(
                "protocol.target_updates",
                p.target_updates,
                "unset with ota.enabled (an over-the-air sum cannot keep the first K)",
            )
        if p.mode == "sync":
            return
        clashes = {
            "ota.enabled": self.ota.enabled,
            "allocation.method": self.allocation.method != "none",
            "control.kind": self.control.kind != "none",
            "pruning.method": self.pruning.method != "none",
            "attack.method": self.attack.method != "none",
        }
        for name, clash in clashes.items():
            if clash:
                raise _FieldError(
                    "protocol.mode",
                    p.mode,
                    f"'sync' with {name} set (round-based: there are no rounds in {p.mode})",
                )
        if p.mode == "fedbuff" and p.buffer_size > (p.concurrency or self.topology.n_pius):
            raise _FieldError(
                "protocol.buffer_size",
                p.buffer_size,
                "at most the PIUs training at a time (concurrency or the number of PIUs)",
            )

    def _check_availability(self) -> None:
        av = self.device.availability
        if isinstance(av, TraceAvailability):
            try:
                read_trace_dir(av.dir, self.topology.n_pius)
            except TraceError as err:
                raise _FieldError("device.availability.dir", str(av.dir), "", str(err)) from None

    def _check_attack(self) -> None:
        a = self.attack
        if a.method == "none":
            return
        if a.method != "gan" and self.learning.optimizer.name != "sgd":
            raise _FieldError(
                "learning.optimizer.name",
                self.learning.optimizer.name,
                "'sgd' with an attack (the attacker unrolls the local SGD steps)",
            )
        n, rounds = self.topology.n_pius, self.protocol.rounds
        if any(k >= n for k in a.pius):
            raise _FieldError("attack.pius", list(a.pius), f"PIU indices below {n}")
        if any(r >= rounds for r in a.attacked_rounds or ()):
            raise _FieldError(
                "attack.rounds", list(a.rounds or ()), f"rounds below protocol.rounds ({rounds})"
            )
        if a.method != "gan":
            return
        if len(a.pius) != 1:
            raise _FieldError("attack.pius", list(a.pius), "one PIU (the GAN adversary)")
        for name in ("victim_class", "fake_class"):
            if getattr(a, name) is None:
                raise _FieldError(f"attack.{name}", None, "a class index with method = 'gan'")
        if a.victim_class == a.fake_class:
            raise _FieldError(
                "attack.fake_class",
                a.fake_class,
                f"a class other than victim_class ({a.victim_class})",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scenario") -> Scenario:
        """Validate a nested dict (as read from TOML); raise :class:`ScenarioError`."""
        if not isinstance(data, Mapping):
            raise ScenarioError(
                f"invalid {source}: expected a table (dict) of sections such as "
                f"{{'protocol': {{'rounds': 5}}}}, got {type(data).__name__} {data!r:.60}"
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ScenarioError(_format_errors(exc, data, source)) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, None fields left out (TOML has no null)."""
        return _strip_none(self.model_dump(mode="python"))

    def to_toml(self) -> str:
        """The resolved scenario as TOML; loading it gives an equal scenario."""
        return tomli_w.dumps(self.to_dict())

    def with_overrides(self, overrides: Iterable[str]) -> Scenario:
        """A copy with ``a.b=c`` overrides applied and validated again."""
        data = self.to_dict()
        apply_overrides(data, overrides)
        return Scenario.from_dict(data, source="scenario with --set overrides")


def default_scenario_path() -> Path:
    """The bundled default scenario (``topologies/default.toml``)."""
    return Path(str(resources.files("netsim.topologies") / "default.toml"))


def bundled_scenarios() -> list[str]:
    """Names of the scenarios bundled in ``topologies/`` (usable instead of a path)."""
    return sorted(p.stem for p in default_scenario_path().parent.glob("*.toml"))


def _bundled_or_path(path: str | Path) -> Path:
    """``path``, or the bundled scenario of that name when no such file exists."""
    path = Path(path)
    if not path.exists() and path.parent == Path(".") and path.stem in bundled_scenarios():
        return default_scenario_path().parent / f"{path.stem}.toml"
    return path


def load_scenario(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Parameters
    ----------
    path:
        A TOML scenario file, or the name of a bundled one (``"iiot_ota"``: see
        :func:`bundled_scenarios`); ``None`` loads the bundled default scenario.
    overrides:
        ``"a.b=c"`` strings; the value is parsed as TOML (``5``, ``1.5``, ``"x"``, ``[1, 2]``),
        and taken as a plain string when it is not valid TOML.
    """
    if path is not None and not isinstance(path, str | Path):
        raise TypeError(
            f"load_scenario(path): a scenario file path or bundled name (str or Path) or None, "
            f"not {type(path).__name__} {path!r:.60}"
        )
    overrides = _override_list(overrides)
    path = default_scenario_path() if path is None else _bundled_or_path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        names = ", ".join(bundled_scenarios())
        raise ScenarioError(f"scenario file '{path}' {what} (bundled scenarios: {names})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario file '{path}' is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"scenario file '{path}' is not UTF-8 text") from None
    topology = data.get("topology")
    if isinstance(topology, dict) and isinstance(topology.get("path"), str):
        # A topology file next to the scenario file: make the path independent of the cwd.
        topology["path"] = str((path.parent / topology["path"]).resolve())
    device = data.get("device")
    availability = device.get("availability") if isinstance(device, dict) else None
    if isinstance(availability, dict) and isinstance(availability.get("dir"), str):
        availability["dir"] = str((path.parent / availability["dir"]).resolve())
    learning = data.get("learning")
    if isinstance(learning, dict) and isinstance(learning.get("data_path"), str):
        learning["data_path"] = str((path.parent / learning["data_path"]).resolve())
    apply_overrides(data, overrides)
    source = f"scenario file '{path}'" + (" with --set overrides" if overrides else "")
    return Scenario.from_dict(data, source=source)


def _override_list(overrides: Iterable[str]) -> list[str]:
    """``overrides`` as a list, refusing one string (iterated, it would be characters)."""
    if isinstance(overrides, str | bytes):
        raise TypeError(
            f"overrides: a list of 'KEY=VALUE' strings, not one string; pass [{overrides!r}]"
        )
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"overrides: each one is a 'KEY=VALUE' string such as 'protocol.rounds=5', "
                f"not {type(item).__name__} {item!r:.60}"
            )
    return items


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> None:
    """Apply ``a.b.c=value`` strings to a nested dict in place (validation happens later)."""
    for item in _override_list(overrides):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ScenarioError(
                f"--set '{item}': expected KEY=VALUE with a dotted key, e.g. radio.bandwidth_hz=2e6"
            )
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ScenarioError(f"--set '{item}': '{where}' is a value, not a table")
            node = child
        node[parts[-1]] = _parse_value(item, raw.strip())


def _parse_value(item: str, raw: str) -> Any:
    """The TOML value of ``raw``; a bare word (``tdma``) is taken as a string, but a value
    that starts like TOML (a table, array or quoted string) must be valid TOML."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw[:1] in "{[\"'" or not raw:
            raise ScenarioError(
                f"--set '{item}': the value is not valid TOML ({exc}); e.g. "
                "'compression={method = \"topk\", ratio = 0.1}', '[1, 2]' or '\"text\"'"
            ) from None
        return raw


# --------------------------------------------------------------------------- error messages


def _with_default_tag(cls: type[BaseModel], name: Any, value: Any) -> Any:
    """A section of a tagged union written without its tag (``compression.error_feedback =
    true``) takes the member whose tag has a default (``method = "none"``), as if the
    section were absent, instead of failing with "method is missing"."""
    info = cls.model_fields.get(name) if isinstance(name, str) else None
    tag = getattr(info, "discriminator", None)
    if info is None or not isinstance(tag, str) or not isinstance(value, Mapping) or tag in value:
        return value
    for member in _members(info.annotation):
        field = getattr(member, "model_fields", {}).get(tag)
        if field is not None and not field.is_required():
            return {tag: field.default, **value}
    return value


class _FieldError(ValueError):
    """Raised inside validators to report a sub-field with its own path and allowed values."""

    def __init__(self, field: str, value: Any, allowed: str, problem: str | None = None) -> None:
        if problem is not None:
            super().__init__(f"{field} = {value!r}: {problem}")
        else:
            super().__init__(f"{field} = {value!r} is not allowed; expected {allowed}")


def _format_errors(exc: ValidationError, data: Mapping[str, Any], source: str) -> str:
    lines = [f"invalid {source}:"]
    for err in exc.errors():
        lines.append("  " + _format_one(err, data))
    return "\n".join(lines)


def _format_one(err: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    loc, parent_cls = _user_path(err["loc"], data)
    path = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in loc)
    path = path or "(top level)"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), _FieldError):
        prefix = f"{path}." if path != "(top level)" else ""
        return prefix + str(ctx["error"])
    if kind == "extra_forbidden":
        allowed = sorted(parent_cls.model_fields) if parent_cls else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"{path}: unknown field{did_you_mean}; allowed fields here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx.get("discriminator", "").strip("'")
        expected = ctx.get("expected_tags") or _tags_of(parent_cls, loc)
        value = f" = {ctx['tag']!r}" if "tag" in ctx else " is missing"
        return f"{path}.{key}{value}: expected one of {expected}"
    if kind in _STRICT_TYPES:  # what strict mode refused to coerce
        value, expected = err["input"], _STRICT_TYPES[kind]
        if isinstance(value, bool) and kind != "bool_type":
            expected += ", not true/false"
        elif isinstance(value, float) and kind == "int_type":
            expected += " (no decimal point or exponent)"
        return f"{path} = {value!r} is not allowed; expected {expected}"
    return f"{path} = {err['input']!r}: {err['msg']}"


_STRICT_TYPES = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false"}


def _user_path(loc: tuple[Any, ...], data: Any) -> tuple[list[Any], type[BaseModel] | None]:
    """Drop pydantic's union-tag components from ``loc``; also return the model owning the leaf."""
    kept: list[Any] = []
    node: Any = data
    cls: type[BaseModel] | None = Scenario
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            owner = cls
            kept.append(part)
            node = node[part]
            cls = _field_model(cls, part, node)
            if last:
                cls = owner
        elif isinstance(node, list) and isinstance(part, int):
            kept.append(part)
            node = node[part] if part < len(node) else None
            cls = None
        elif last and isinstance(node, dict) and (cls is None or part in cls.model_fields):
            kept.append(part)  # e.g. a required field the user left out
        # else: a union tag inserted by pydantic; the user never wrote it
    return kept, cls


def _field_model(cls: type[BaseModel] | None, name: Any, value: Any) -> type[BaseModel] | None:
    """The model class validating field ``name`` of ``cls`` for the given input value."""
    if cls is None or name not in cls.model_fields:
        return None
    ann = cls.model_fields[name].annotation
    models = [m for m in _members(ann) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) == 1:
        return models[0]  # a plain section: no tag to match
    for member in models:
        tag_fields = [
            f
            for f, info in member.model_fields.items()
            if typing.get_origin(info.annotation) is Literal
        ]
        if not tag_fields or not isinstance(value, dict):
            return member
        tag = tag_fields[0]
        if value.get(tag) in typing.get_args(member.model_fields[tag].annotation):
            return member
        if tag not in value and not member.model_fields[tag].is_required():
            return member  # the member an untagged section stands for (_with_default_tag)
    return None


def _members(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _members(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(ann) for m in _members(arg)]
    return [ann]


def _tags_of(cls: type[BaseModel] | None, loc: list[Any]) -> str:
    if cls is None or not loc or loc[-1] not in cls.model_fields:
        return "?"
    tags: list[str] = []
    for member in _members(cls.model_fields[loc[-1]].annotation):
        for info in getattr(member, "model_fields", {}).values():
            if typing.get_origin(info.annotation) is Literal:
                tags.extend(repr(t) for t in typing.get_args(info.annotation))
                break
    return ", ".join(tags)


def _strip_none(value: Any) -> Any:
    """``value`` without None entries, paths as strings (TOML has neither null nor paths)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_strip_none(v) for v in value]
    return copy.copy(value)
