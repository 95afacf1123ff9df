"""[compression], [pruning] and [control]: what the uplink carries, and the adaptive
controllers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import NonNegativeFloat, PositiveFloat, _Frozen
from netsim.scenario.errors import _FieldError


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
