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
    "dense_bits",
    "sparse_bits",
]
