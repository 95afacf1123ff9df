"""Base of every scenario section, and the value types the sections share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from netsim.scenario.errors import _with_default_tag

# Every number a scenario holds is bounded on both sides: below by what the physics allows,
# above by what any real system reaches with a wide margin, so that every derived quantity
# (airtime, energy, fading blocks, dB -> linear, counts of events) stays finite in float64 and
# a slip such as 1e308 is refused with the field's name instead of overflowing deep in a model
# (tests/scenario/test_bounds.py walks the JSON Schema and holds every field to this).
MAX_SECONDS = 1.0e9  # simulated time: about 32 years
MAX_METRES = 1.0e7  # 10,000 km
MAX_COUNT = 1_000_000  # rounds, steps, samples, PIUs...: far beyond what a run can afford
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
NonNegativeSeconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
Metres = Annotated[float, Field(gt=0, le=MAX_METRES)]
NonNegativeMetres = Annotated[float, Field(ge=0, le=MAX_METRES)]
Height = Annotated[float, Field(ge=0, le=1.0e4)]  # m above the floor: 10 km
BitRate = Annotated[float, Field(ge=1.0, le=1.0e15)]  # bit/s: 1 bit/s to 1 Pbit/s
Joules = Annotated[float, Field(gt=0, le=1.0e12)]
Watts = Annotated[float, Field(ge=0, le=1.0e6)]
Scale = Annotated[float, Field(gt=0, le=1.0e6)]  # a positive dimensionless factor
NonNegativeScale = Annotated[float, Field(ge=0, le=1.0e6)]
LearningRate = Annotated[float, Field(gt=0, le=1.0e3)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
NonNegativeCount = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Index = Annotated[int, Field(ge=0, le=MAX_COUNT)]  # of a PIU, an AP, a round, a class
MAX_PIUS = 100_000
MAX_SPEED_MPS = 1.0e4  # m/s: beyond any vehicle (a LEO satellite moves at 7.8 km/s)
# Physical bounds wide enough for any real system, narrow enough that dB -> linear and
# distances stay finite in float64 (10 ** (1e6 / 10) overflows).
PowerDbm = Annotated[float, Field(ge=-150.0, le=100.0)]  # 1e-18 mW .. 10 MW
GainDb = Annotated[float, Field(ge=-100.0, le=100.0)]
Coordinate = Annotated[float, Field(ge=-1e7, le=1e7)]  # m: 10,000 km either way
# Scalars are strict (see _Frozen); these few take TOML's form of them: a path from a string,
# a tuple from an array (their items stay strict).
FilePath = Annotated[Path, Strict(False)]
Position = Annotated[tuple[Coordinate, Coordinate], Strict(False)]
Area = Annotated[tuple[Coordinate, Coordinate, Coordinate, Coordinate], Strict(False)]


class ScenarioError(ValueError):
    """A scenario (file, dict or override) is invalid; the message says where and why.

    ``unknown_fields``: the dotted paths of keys that name no field of the schema (a
    misspelt key), apart from values that are out of range.
    """

    def __init__(self, message: str, unknown_fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unknown_fields = unknown_fields


class _Frozen(BaseModel):
    """A frozen section: unknown keys, NaN and infinities (unless a field gives them a
    meaning) are errors, and scalars are strict (pydantic's strict mode): ``true`` is not
    the integer 1, ``2.5`` or ``1e9`` not an integer, ``"5"`` not a number, ``1`` not a
    boolean."""

    # use_attribute_docstrings: the string under a field is its description (JSON Schema,
    # the generated reference, editors' hover text)
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _untagged_sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {name: _with_default_tag(cls, name, value) for name, value in data.items()}
