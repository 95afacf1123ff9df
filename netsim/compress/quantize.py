"""Quantizers: uniform b-bit (deterministic or stochastic rounding) and QSGD."""

from __future__ import annotations

import math

import torch

from netsim.compress.base import FLOAT_BITS, Compressor, Payload
from netsim.rng import Stream, Streams


class UniformQuantizer(Compressor):
    """b-bit uniform quantization over [min, max] of the update.

    Levels ``min + q (max - min) / (2^b - 1)``, q in 0..2^b-1; stochastic rounding (unbiased)
    rounds up with probability equal to the fractional part, keyed by (PIU, round).
    Bits: ``b n + 2 x 32`` (the levels and the two float32 scales).
    """

    name = "uniform"

    def __init__(self, bits: int, stochastic: bool, streams: Streams) -> None:
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {bits}")
        self.bits = bits
        self.stochastic = stochastic
        self.streams = streams

    def compress(self, update: torch.Tensor, piu: int = 0, round: int = 0) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        lo, hi = x.min(), x.max()
        steps = 2**self.bits - 1
        span = (hi - lo).clamp_min(torch.finfo(torch.float32).tiny)
        scaled = (x - lo) / span * steps  # in [0, steps]
        if self.stochastic:
            gen = self.streams.torch(Stream.COMPRESSION, piu, round)
            q = torch.floor(scaled + torch.rand(scaled.shape, generator=gen))
        else:
            q = torch.round(scaled)
        q = q.clamp(0, steps)
        bits = self.bits * x.numel() + 2 * FLOAT_BITS
        kind = "stochastic" if self.stochastic else "deterministic"
        return Payload(
            (q, lo.reshape(1), span.reshape(1)), bits, f"uniform{self.bits}_{kind}", x.numel()
        )

    def decompress(self, payload: Payload) -> torch.Tensor:
        q, lo, span = payload.tensors
        return lo + q * (span / (2**self.bits - 1))

    def planned_bits(self, n: int) -> int:
        return self.bits * n + 2 * FLOAT_BITS


class QSGD(Compressor):
    """QSGD (Alistarh et al. 2017) with s levels and buckets of d entries.

    Per bucket v: the L2 norm (one float32); per entry a sign bit and a level
    ``l = floor(s |v_i| / ||v|| + u)``, u ~ U(0, 1) (stochastic rounding: unbiased), decoded as
    ``||v|| sign(v_i) l / s``. Bits (convention of COMPRESSION.md, levels 0..s stored in
    fixed width, no Elias coding): ``ceil(n/d) 32 + n (1 + ceil(log2(s + 1)))``.
    """

    name = "qsgd"

    def __init__(self, levels: int, bucket: int, streams: Streams) -> None:
        if levels < 1 or bucket < 1:
            raise ValueError(f"QSGD needs levels >= 1 and bucket >= 1, got {levels}, {bucket}")
        self.levels = levels
        self.bucket = bucket
        self.streams = streams

    def compress(self, update: torch.Tensor, piu: int = 0, round: int = 0) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        n = x.numel()
        pad = (-n) % self.bucket
        v = torch.cat([x, x.new_zeros(pad)]).reshape(-1, self.bucket)  # (buckets, d)
        norms = torch.linalg.vector_norm(v, dim=1, keepdim=True)
        safe = torch.where(norms > 0, norms, torch.ones_like(norms))
        gen = self.streams.torch(Stream.COMPRESSION, piu, round)
        u = torch.rand(v.shape, generator=gen)
        level = torch.floor(self.levels * v.abs() / safe + u).clamp(max=self.levels)
        signed = (torch.sign(v) * level).reshape(-1)[:n]
        return Payload(
            (signed, norms.reshape(-1)),
            self.planned_bits(n),
            f"qsgd_s{self.levels}_d{self.bucket}",
            n,
        )

    def decompress(self, payload: Payload) -> torch.Tensor:
        signed, norms = payload.tensors
        n = payload.length
        scale = norms.repeat_interleave(self.bucket)[:n]
        return signed * scale / self.levels

    def planned_bits(self, n: int) -> int:
        level_bits = math.ceil(math.log2(self.levels + 1))
        return math.ceil(n / self.bucket) * FLOAT_BITS + n * (1 + level_bits)
