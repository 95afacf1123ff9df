"""Compression of model updates with exact payload bit accounting."""

from netsim.compress.base import Compressor, IdentityCompressor, Payload

__all__ = ["Compressor", "IdentityCompressor", "Payload"]
