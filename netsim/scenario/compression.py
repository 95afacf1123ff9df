"""[compression], [pruning] and [control]: what the uplink carries, and the adaptive
controllers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import Count, Index, NonNegativeCount, NonNegativeScale, Scale, _Frozen
from netsim.scenario.errors import _FieldError


class _CompressionBase(_Frozen):
    error_feedback: bool = False
    """Keep each PIU's compression error and add it to its next update (error feedback)."""


class NoCompression(_CompressionBase):
    """Dense float32 updates (32 bits per entry)."""

    method: Literal["none"] = "none"


class UniformCompression(_CompressionBase):
    """b-bit uniform quantization; stochastic rounding makes it unbiased."""

    method: Literal["uniform"]
    bits: int = Field(8, ge=1, le=16)
    """Bits per entry."""
    stochastic: bool = True
    """Stochastic rounding (unbiased); false: to the nearest level."""


class QSGDCompression(_CompressionBase):
    """QSGD with ``levels`` quantization levels per sign and L2-norm buckets of ``bucket``."""

    method: Literal["qsgd"]
    levels: int = Field(15, ge=1, le=65_535)
    """Quantization levels per sign."""
    bucket: Count = 512
    """Entries per bucket, each scaled by its own L2 norm."""


class TopKCompression(_CompressionBase):
    """Keep the ``ratio`` fraction of entries with the largest magnitude."""

    method: Literal["topk"]
    ratio: float = Field(0.1, gt=0, le=1)
    """Fraction of the entries kept (the largest in magnitude); their indices are sent too."""


class RandomKCompression(_CompressionBase):
    """Keep a random ``ratio`` fraction of entries (indices from a shared seed: not sent)."""

    method: Literal["randomk"]
    ratio: float = Field(0.1, gt=0, le=1)
    """Fraction of the entries kept, at random indices from a shared seed (not sent)."""


class DGCCompression(_CompressionBase):
    """Deep Gradient Compression: momentum correction, factor masking and a warm-up of the
    kept ``ratio`` from ``warmup_ratio`` over ``warmup_rounds`` rounds."""

    method: Literal["dgc"]
    ratio: float = Field(0.001, gt=0, le=1)
    """Fraction of the entries kept after the warm-up."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """Momentum of the momentum correction."""
    warmup_rounds: NonNegativeCount = 4
    """Rounds over which the kept fraction falls from warmup_ratio to ratio."""
    warmup_ratio: float = Field(0.25, gt=0, le=1)
    """Kept fraction at the start of the warm-up."""


class ThresholdCompression(_CompressionBase):
    """Keep the entries with magnitude at least ``threshold``."""

    method: Literal["threshold"]
    threshold: Scale = 1e-3
    """Entries of at least this magnitude are kept."""


class EMQCompression(_CompressionBase):
    """EMQ-style significance-based quantization: entries above ``threshold`` (lambda) of the
    largest get sign + exponent (``exponent_bits``) + ``mantissa_bits`` mantissa; the others
    a sign or nothing (``insignificant``)."""

    method: Literal["emq"]
    threshold: float = Field(0.01, gt=0, le=1)
    """lambda: an entry is significant above this fraction of the largest magnitude."""
    mantissa_bits: int = Field(4, ge=0, le=23)
    """Mantissa bits of a significant entry."""
    exponent_bits: int = Field(4, ge=1, le=8)
    """Exponent bits of a significant entry."""
    insignificant: Literal["sign", "drop"] = "sign"
    """What an insignificant entry costs: its sign (1 bit) or nothing (drop)."""


class SignificanceCompression(_CompressionBase):
    """EMQ's predecessor: b-bit magnitudes for significant entries, signs for the others."""

    method: Literal["significance"]
    threshold: float = Field(0.01, gt=0, le=1)
    """An entry is significant above this fraction of the largest magnitude."""
    bits: int = Field(4, ge=1, le=16)
    """Magnitude bits of a significant entry."""


class LAQCompression(_CompressionBase):
    """LAQ: b-bit uniform quantization of the innovation (update minus the PIU's last
    decoded update)."""

    method: Literal["laq"]
    bits: int = Field(4, ge=1, le=16)
    """Bits per entry of the quantized innovation."""


class AQUILACompression(_CompressionBase):
    """AQUILA: LAQ's innovation quantizer with ``b = floor(log2(1 + R sqrt(n) / ||y||_2))``
    bits chosen per PIU and round (at most ``max_bits``)."""

    method: Literal["aquila"]
    max_bits: int = Field(16, ge=1, le=16)
    """Most bits per entry the adaptive choice may take."""


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
    """Magnitude pruning of the model's conv/linear weights (``compress/pruning.py``): one
    shot or iterative (IMP), at the server or at each PIU."""

    method: Literal["none", "oneshot", "imp"] = "none"
    """none; oneshot (remove amount of the conv/linear weights at start_round); imp, iterative
    magnitude pruning (remove rate of the remaining weights every rounds_per_level rounds for
    levels levels, from start_round)."""
    scope: Literal["server", "piu"] = "server"
    """server: the global model pruned with one shared mask; piu: each PIU prunes its own trained
    model and sends only its kept entries (the server averages each entry over the PIUs that kept
    it)."""
    start_round: Index = 1
    """Round of the (first) pruning."""
    amount: float = Field(0.7, gt=0, lt=1)
    """oneshot: fraction of the weights removed."""
    rate: float = Field(0.2, gt=0, lt=1)
    """imp: fraction of the remaining weights removed per level (levels L reach 1 - (1 -
    rate)^L)."""
    levels: int = Field(5, ge=1, le=1000)
    """imp: number of pruning levels."""
    rounds_per_level: Count = 2
    """imp: rounds between levels."""
    rewind: bool = False
    """imp: reset the surviving weights to their initial values at each level (lottery-ticket
    rewinding)."""

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
    """Adaptive control the server runs every round from the global model's loss ratio
    (``netsim/fl/controllers.py``): local steps and compression fidelity."""

    kind: Literal["none", "adacomm", "afcfl", "adaquantfl"] = "none"
    """none; adacomm (local steps from the loss ratio); afcfl (local steps F and compression
    fidelity C together); adaquantfl (QSGD levels s = ceil(sqrt(F_0 / F) c0), with
    compression.method = qsgd). The initial local steps are learning.local_steps."""
    c0: Count = 8
    """Initial fidelity C: bits (uniform, laq), mantissa bits (emq), kept percentage (topk,
    randomk) or QSGD levels (adaquantfl)."""
    c_min: Count = 2
    """afcfl: the lowest fidelity; C = max(c_min, c0 - floor(F d))."""
    d: NonNegativeScale = 0.5
    """afcfl: fidelity given up per local step, D."""
    probe_samples: Count = 500
    """The loss ratio is the global model's loss on this many fixed training samples over its
    loss at the start."""

    @model_validator(mode="after")
    def _order(self) -> ControlConfig:
        if self.c_min > self.c0:
            raise _FieldError("c_min", self.c_min, f"at most c0 ({self.c0})")
        return self
