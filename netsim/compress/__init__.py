"""Compression of model updates with exact payload bit accounting (COMPRESSION.md)."""

from __future__ import annotations

from netsim.compress.base import Compressor, IdentityCompressor, Payload, dense_bits, sparse_bits
from netsim.compress.feedback import ErrorFeedback
from netsim.compress.quantize import (
    AQUILA,
    EMQ,
    LAQ,
    QSGD,
    SignificanceQuantizer,
    UniformQuantizer,
)
from netsim.compress.sparsify import DGC, RandomK, Threshold, TopK
from netsim.rng import Streams
from netsim.scenario import (
    AQUILACompression,
    DGCCompression,
    EMQCompression,
    LAQCompression,
    QSGDCompression,
    RandomKCompression,
    SignificanceCompression,
    ThresholdCompression,
    TopKCompression,
    UniformCompression,
)

__all__ = [
    "AQUILA",
    "LAQ",
    "DGC",
    "EMQ",
    "QSGD",
    "Compressor",
    "ErrorFeedback",
    "IdentityCompressor",
    "Payload",
    "RandomK",
    "SignificanceQuantizer",
    "Threshold",
    "TopK",
    "UniformQuantizer",
    "build_compressor",
    "dense_bits",
    "sparse_bits",
]


def build_compressor(cfg: object, streams: Streams) -> Compressor:
    """The compressor of a scenario's ``[compression]`` table (wrapped in error feedback if
    asked)."""
    inner: Compressor
    if isinstance(cfg, UniformCompression):
        inner = UniformQuantizer(cfg.bits, cfg.stochastic, streams)
    elif isinstance(cfg, QSGDCompression):
        inner = QSGD(cfg.levels, cfg.bucket, streams)
    elif isinstance(cfg, TopKCompression):
        inner = TopK(cfg.ratio)
    elif isinstance(cfg, RandomKCompression):
        inner = RandomK(cfg.ratio, streams)
    elif isinstance(cfg, EMQCompression):
        inner = EMQ(cfg.threshold, cfg.mantissa_bits, cfg.exponent_bits, cfg.insignificant)
    elif isinstance(cfg, SignificanceCompression):
        inner = SignificanceQuantizer(cfg.threshold, cfg.bits)
    elif isinstance(cfg, DGCCompression):
        inner = DGC(cfg.ratio, cfg.momentum, cfg.warmup_rounds, cfg.warmup_ratio)
    elif isinstance(cfg, LAQCompression):
        inner = LAQ(cfg.bits)
    elif isinstance(cfg, AQUILACompression):
        inner = AQUILA(cfg.max_bits)
    elif isinstance(cfg, ThresholdCompression):
        inner = Threshold(cfg.threshold)
    else:
        inner = IdentityCompressor()
    return ErrorFeedback(inner) if getattr(cfg, "error_feedback", False) else inner
