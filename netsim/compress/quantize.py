"""Quantizers: uniform b-bit (deterministic or stochastic rounding), QSGD, EMQ and its
predecessor, and the innovation quantizers LAQ and AQUILA (COMPRESSION.md)."""

from __future__ import annotations

import math

import torch
from typing_extensions import override

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

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        b = self.bits if fidelity is None else fidelity
        lo, hi = x.min(), x.max()
        steps = 2**b - 1
        span = (hi - lo).clamp_min(torch.finfo(torch.float32).tiny)
        scaled = (x - lo) / span * steps  # in [0, steps]
        if self.stochastic:
            gen = self.streams.torch(Stream.COMPRESSION, piu, round_index)
            q = torch.floor(scaled + torch.rand(scaled.shape, generator=gen))
        else:
            q = torch.round(scaled)
        q = q.clamp(0, steps)
        bits = b * x.numel() + 2 * FLOAT_BITS
        kind = "stochastic" if self.stochastic else "deterministic"
        levels = torch.tensor([float(steps)])  # the receiver knows b: sent with the control
        return Payload(
            (q, lo.reshape(1), span.reshape(1), levels), bits, f"uniform{b}_{kind}", x.numel()
        )

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        q, lo, span, levels = payload.tensors
        return lo + q * (span / levels)

    @override
    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return (self.bits if fidelity is None else fidelity) * n + 2 * FLOAT_BITS


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

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        n = x.numel()
        pad = (-n) % self.bucket
        v = torch.cat([x, x.new_zeros(pad)]).reshape(-1, self.bucket)  # (buckets, d)
        norms = torch.linalg.vector_norm(v, dim=1, keepdim=True)
        safe = torch.where(norms > 0, norms, torch.ones_like(norms))
        s = self.levels if fidelity is None else fidelity
        gen = self.streams.torch(Stream.COMPRESSION, piu, round_index)
        u = torch.rand(v.shape, generator=gen)
        level = torch.floor(s * v.abs() / safe + u).clamp(max=s)
        signed = (torch.sign(v) * level).reshape(-1)[:n]
        levels = torch.tensor([float(s)])  # s travels with the round's control
        return Payload(
            (signed, norms.reshape(-1), levels),
            self.planned_bits(n, s),
            f"qsgd_s{s}_d{self.bucket}",
            n,
        )

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        signed, norms, levels = payload.tensors
        n = payload.length
        scale = norms.repeat_interleave(self.bucket)[:n]
        return signed * scale / levels

    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        """``fidelity`` is the number of levels s (AdaQuantFL adapts it)."""
        s = self.levels if fidelity is None else fidelity
        level_bits = math.ceil(math.log2(s + 1))
        return math.ceil(n / self.bucket) * FLOAT_BITS + n * (1 + level_bits)


def _significance(x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(max |x|, mask of entries with |x| / max|x| >= threshold)."""
    top = x.abs().max()
    if top == 0:
        return top, torch.zeros_like(x, dtype=torch.bool)
    return top, x.abs() >= threshold * top


class EMQ(Compressor):
    """Significance-based adaptive quantization in the style of the EMQ paper (the exact
    layout is not public; this is COMPRESSION.md's documented design).

    Entries with ``|u_i| / ||u||_inf >= threshold`` are significant: each is sent as a sign,
    an exponent relative to the largest entry's (``exponent_bits``, from ``torch.frexp``) and
    an ``m``-bit mantissa. The others send only their sign (reconstructed as
    ``+-threshold ||u||_inf / 2``) or nothing (``insignificant = "drop"``).

    Bits: ``n + d_insig b_insig + |I| (1 + exponent_bits + m) + 32``: a significance bitmap
    (n bits: COMPRESSION.md's formula leaves it out, but without it the receiver cannot tell
    which entries carry mantissas), 1 or 0 bits per insignificant entry, the significant
    fields, and ``||u||_inf`` as float32.
    """

    name = "emq"

    def __init__(
        self,
        threshold: float,
        mantissa_bits: int,
        exponent_bits: int = 4,
        insignificant: str = "sign",
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.mantissa_bits = mantissa_bits
        self.exponent_bits = exponent_bits
        self.insignificant = insignificant

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        top, significant = _significance(x, self.threshold)
        mantissa, exponent = torch.frexp(x)  # x = mantissa 2^exponent, |mantissa| in [0.5, 1)
        top_exp = torch.frexp(top.reshape(1))[1]
        rel = (top_exp - exponent).clamp(0, 2**self.exponent_bits - 1)
        m = self.mantissa_bits if fidelity is None else fidelity
        steps = 2**m
        q = torch.round((mantissa.abs() - 0.5) * 2 * steps).clamp(0, steps - 1)
        n, n_sig = x.numel(), int(significant.sum())
        insig_bits = 1 if self.insignificant == "sign" else 0
        bits = n + (n - n_sig) * insig_bits + n_sig * (1 + self.exponent_bits + m) + FLOAT_BITS
        sign = torch.sign(x)
        steps_t = torch.tensor([float(steps)])  # m travels with the round's control
        return Payload((sign, rel, q, significant, top.reshape(1), steps_t), bits, f"emq_m{m}", n)

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        sign, rel, q, significant, top, steps = payload.tensors
        top_exp = torch.frexp(top)[1]
        magnitude = torch.ldexp(0.5 + q / (2 * steps), top_exp - rel)
        floor = self.threshold * top / 2 if self.insignificant == "sign" else torch.zeros(1)
        return torch.where(significant, sign * magnitude, sign * floor)


class SignificanceQuantizer(Compressor):
    """EMQ's predecessor (Mahmoudi & Bjornson 2024): significant entries get a b-bit uniform
    quantizer of their magnitude on [0, max |u_I|] plus a sign; the others send a sign and
    are reconstructed as ``+-x_min / 2`` with ``x_min = threshold ||u||_inf``.
    Bits: ``n`` (significance bitmap) ``+ d_insig + |I| (1 + b) + 32``.
    """

    name = "significance"

    def __init__(self, threshold: float, bits: int) -> None:
        self.threshold = threshold
        self.bits = bits

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        top, significant = _significance(x, self.threshold)
        steps = 2**self.bits - 1
        q = torch.round(x.abs() / top.clamp_min(torch.finfo(torch.float32).tiny) * steps)
        n, n_sig = x.numel(), int(significant.sum())
        bits = n + (n - n_sig) + n_sig * (1 + self.bits) + FLOAT_BITS
        return Payload(
            (torch.sign(x), q, significant, top.reshape(1)), bits, f"significance_b{self.bits}", n
        )

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        sign, q, significant, top = payload.tensors
        magnitude = q * top / (2**self.bits - 1)
        return torch.where(significant, sign * magnitude, sign * self.threshold * top / 2)


class LAQ(Compressor):
    """Lazily aggregated quantization (Sun et al. 2019), without the lazy skipping rule:
    each PIU sends its *innovation* ``y = x - x_ref`` quantized with b bits, where ``x_ref``
    is the PIU's previous update as the server decoded it (both sides hold it).

    Levels ``-R + 2 R q / (2^b - 1)``, q in 0..2^b-1, deterministic rounding, radius
    ``R = ||y||_inf``; the decoded update ``x_ref + Q(y)`` becomes the new reference. Bits:
    ``b n + 32`` (the levels and R). A lost payload is undone (the reference stays), and
    the reference restarts from zero when the update length changes (a new pruning mask).
    """

    stateful_decoder = True

    name = "laq"
    header_bits = FLOAT_BITS  # R

    def __init__(self, bits: int) -> None:
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {bits}")
        self.bits = bits
        self.reference: dict[int, torch.Tensor] = {}
        self._previous: dict[int, tuple[int, torch.Tensor | None]] = {}

    def bits_for(self, innovation: torch.Tensor, fidelity: int | None) -> int:
        """Bits per entry of this payload (fixed for LAQ)."""
        return self.bits if fidelity is None else fidelity

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        ref = self.reference.get(piu)
        if ref is None or ref.numel() != x.numel():
            ref = torch.zeros_like(x)
        y = x - ref
        b = self.bits_for(y, fidelity)
        steps = 2**b - 1
        radius = y.abs().max().clamp_min(torch.finfo(torch.float32).tiny)
        q = torch.round((y + radius) / (2 * radius) * steps).clamp(0, steps)
        payload = Payload(
            (q, radius.reshape(1), torch.tensor([float(steps)]), ref),
            b * x.numel() + self.header_bits,
            f"{self.name}_b{b}",
            x.numel(),
        )
        self._previous[piu] = (round_index, self.reference.get(piu))
        self.reference[piu] = self.decompress(payload)
        return payload

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        # ``ref`` travels in the payload for the simulator's convenience only: the server
        # holds the same reference (the PIU's last decoded update), so it is not counted.
        q, radius, steps, ref = payload.tensors
        return ref + q * (2 * radius / steps) - radius

    @override
    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return (self.bits if fidelity is None else fidelity) * n + self.header_bits

    @override
    def undo(self, piu: int, round_index: int) -> None:
        previous = self._previous.get(piu)
        if previous is None or previous[0] != round_index:
            return
        del self._previous[piu]
        if previous[1] is None:
            self.reference.pop(piu, None)
        else:
            self.reference[piu] = previous[1]


class AQUILA(LAQ):
    """AQUILA's adaptive quantization (Zhao et al. 2023), without its device-selection
    (skipping) rule: LAQ's innovation quantizer with the bits chosen per PIU and round as
    ``b = floor(log2(1 + R sqrt(n) / ||y||_2))`` (COMPRESSION.md), R = ||y||_inf, clamped to
    1..``max_bits``. b travels in an 8-bit header: bits ``b n + 32 + 8``.
    """

    name = "aquila"
    header_bits = FLOAT_BITS + 8  # R and b

    def __init__(self, max_bits: int = 16) -> None:
        super().__init__(max_bits)
        self.max_bits = max_bits

    @override
    def bits_for(self, innovation: torch.Tensor, fidelity: int | None) -> int:
        norm = float(torch.linalg.vector_norm(innovation.double()))
        if norm == 0.0:
            return 1
        radius = float(innovation.abs().max())
        b = math.floor(math.log2(1 + radius * math.sqrt(innovation.numel()) / norm))
        return min(max(b, 1), self.max_bits)

    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        """Upper bound: ``R sqrt(n) / ||y||_2 <= sqrt(n)``."""
        b = min(max(math.floor(math.log2(1 + math.sqrt(n))), 1), self.max_bits)
        return b * n + self.header_bits
