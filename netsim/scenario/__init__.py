"""Scenario schema: TOML -> validated, frozen configuration, one module per section.

A scenario file is TOML (stdlib ``tomllib``). It is validated into frozen pydantic models; every
bad value raises one :class:`ScenarioError` whose message names the field path, the value and
what is allowed, before anything is simulated or written. ``--set a.b=c`` overrides go through
the same validation.

The schema validates values only: it imports no implementation and reads no data file.
Checks that need one (a topology file, availability traces, a data folder, whether a model
fits a data set) run when the world is built (:mod:`netsim.build`), with messages of the
same form.

Units: SI in the fields (s, Hz, m, J, bit/s); dB and dBm only where the field name says so
(``tx_power_dbm``, ``noise_figure_db``, ``shadowing_std_db``).
"""

from __future__ import annotations

from netsim.scenario.base import (
    Coordinate,
    FilePath,
    GainDb,
    NonNegativeFloat,
    Position,
    PositiveFloat,
    PowerDbm,
    ScenarioError,
)
from netsim.scenario.compression import (
    AQUILACompression,
    Compression,
    ControlConfig,
    DGCCompression,
    EMQCompression,
    LAQCompression,
    NoCompression,
    PruningConfig,
    QSGDCompression,
    RandomKCompression,
    SignificanceCompression,
    ThresholdCompression,
    TopKCompression,
    UniformCompression,
)
from netsim.scenario.device import (
    AlwaysAvailable,
    Availability,
    ChoiceValue,
    ConstantStraggler,
    DeviceClass,
    DeviceConfig,
    Drawn,
    ExponentialAvailability,
    HarvestingConfig,
    LogNormalStraggler,
    LogNormalValue,
    MobilityConfig,
    NoStraggler,
    ParetoStraggler,
    ShiftedExponentialStraggler,
    Straggler,
    TraceAvailability,
    UniformValue,
    Value,
)
from netsim.scenario.errors import _FieldError, _members
from netsim.scenario.learning import (
    DATASET_NAMES,
    DATASETS_READ_FROM_PATH,
    MODEL_NAMES,
    AttackConfig,
    DirichletPartition,
    IIDPartition,
    LearningConfig,
    OptimizerConfig,
    Partition,
    ShardPartition,
)
from netsim.scenario.loading import bundled_scenarios, default_scenario_path, load_scenario
from netsim.scenario.overrides import apply_overrides
from netsim.scenario.protocol import (
    HierarchyConfig,
    ProtocolConfig,
    ServerConfig,
    StalenessConfig,
)
from netsim.scenario.radio import (
    AllocationConfig,
    CellFreeBookPathLoss,
    InFPathLoss,
    LogDistancePathLoss,
    Macro36814PathLoss,
    Ngo3SlopePathLoss,
    OTAConfig,
    PathLoss,
    PowerControlConfig,
    RadioConfig,
    UMiPathLoss,
)
from netsim.scenario.schema import Scenario
from netsim.scenario.topology import (
    BackgroundFlow,
    BackhaulConfig,
    ExplicitTopology,
    FactoryHallTopology,
    FileTopology,
    GridTopology,
    HexTopology,
    LinkOutage,
    SingleCellTopology,
    Topology,
)

__all__ = [
    "AQUILACompression",
    "AllocationConfig",
    "AlwaysAvailable",
    "AttackConfig",
    "Availability",
    "BackgroundFlow",
    "LinkOutage",
    "BackhaulConfig",
    "CellFreeBookPathLoss",
    "ChoiceValue",
    "Compression",
    "ConstantStraggler",
    "ControlConfig",
    "Coordinate",
    "DATASETS_READ_FROM_PATH",
    "DATASET_NAMES",
    "DGCCompression",
    "DeviceClass",
    "DeviceConfig",
    "DirichletPartition",
    "Drawn",
    "EMQCompression",
    "ExplicitTopology",
    "ExponentialAvailability",
    "FactoryHallTopology",
    "FilePath",
    "FileTopology",
    "HexTopology",
    "HierarchyConfig",
    "GainDb",
    "GridTopology",
    "HarvestingConfig",
    "IIDPartition",
    "InFPathLoss",
    "LAQCompression",
    "LearningConfig",
    "LogDistancePathLoss",
    "LogNormalStraggler",
    "LogNormalValue",
    "MODEL_NAMES",
    "Macro36814PathLoss",
    "MobilityConfig",
    "Ngo3SlopePathLoss",
    "NoCompression",
    "NoStraggler",
    "NonNegativeFloat",
    "OTAConfig",
    "PowerControlConfig",
    "OptimizerConfig",
    "ParetoStraggler",
    "Partition",
    "PathLoss",
    "Position",
    "PositiveFloat",
    "PowerDbm",
    "ProtocolConfig",
    "PruningConfig",
    "QSGDCompression",
    "RadioConfig",
    "RandomKCompression",
    "Scenario",
    "ScenarioError",
    "ServerConfig",
    "ShardPartition",
    "ShiftedExponentialStraggler",
    "SignificanceCompression",
    "SingleCellTopology",
    "StalenessConfig",
    "Straggler",
    "ThresholdCompression",
    "TopKCompression",
    "Topology",
    "TraceAvailability",
    "UMiPathLoss",
    "UniformCompression",
    "UniformValue",
    "Value",
    "_FieldError",
    "_members",
    "apply_overrides",
    "bundled_scenarios",
    "default_scenario_path",
    "load_scenario",
]
