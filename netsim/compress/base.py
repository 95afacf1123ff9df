"""Compressor contract (COMPRESSION.md): ``compress(update, piu, round) -> Payload``,
``decompress(payload) -> update``; ``Payload.bits`` is the exact size on the air, computed
from an explicit encoding model (never from tensor storage sizes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from typing_extensions import override

FLOAT_BITS = 32  # one float32 value or scale: 4 bytes = 32 bits


@dataclass(frozen=True)
class Payload:
    """What a PIU transmits.

    Attributes
    ----------
    tensors: the decoder's input (values, indices, scales). Indices derived from a shared
        seed travel here for the simulator's convenience but are not counted in ``bits``.
    bits: exact payload size in bits, from the encoding model (drives airtime and energy).
    encoding: name of the encoding used, logged with the transmission.
    length: n, the number of entries of the decoded update.
    """

    tensors: tuple[torch.Tensor, ...]
    bits: int
    encoding: str
    length: int


class Compressor:
    """Base class of update compressors (one instance per simulation, shared by the PIUs)."""

    name = "base"
    #: the decoder keeps per-PIU state (a reference it adds the payload to): only the
    #: intended receiver, which has seen every earlier payload, can decode one
    stateful_decoder = False

    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        """Encode a flat float32 update (n,) of PIU ``piu`` in ``round`` (keys any shared or
        stochastic randomness). ``fidelity`` overrides the compressor's own fidelity knob for
        this payload (bits, kept percentage or mantissa bits; see :mod:`netsim.fl.controllers`);
        compressors without one ignore it."""
        raise NotImplementedError

    def decompress(self, payload: Payload) -> torch.Tensor:
        """The flat float32 update (n,) the receiver reconstructs."""
        raise NotImplementedError

    def sent_entries(self, payload: Payload) -> torch.Tensor | None:
        """(n,) bool: the entries whose values the payload carries (a sparse payload's
        indices, known to any receiver); None: every entry (dense payloads)."""
        return None

    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        """Payload size to plan a round's energy with (exact where the size does not depend
        on the data, an upper bound otherwise)."""
        return dense_bits(n)

    def undo(self, piu: int, round_index: int) -> None:
        """PIU ``piu``'s payload of ``round`` never reached the server (every attempt lost,
        aborted at the deadline, or discarded as late): restore the per-PIU state that
        compressing it changed (error-feedback residual, DGC accumulators, LAQ reference),
        so that nothing of that update is forgotten and sender and receiver stay in step.
        Only the PIU's latest payload can be undone; stateless compressors do nothing."""


def dense_bits(n: int, value_bits: int = FLOAT_BITS) -> int:
    """A dense vector of n values: ``value_bits n``."""
    return value_bits * n


def sparse_bits(n: int, k: int, value_bits: int = FLOAT_BITS) -> tuple[int, str]:
    """Cheapest encoding of k of n entries with ``value_bits`` per value (COMPRESSION.md):
    ``min(32 n dense, n + k v bitmap, k (v + 32) int32 index, k (v + ceil(log2 n)) index)``.
    Returns (bits, encoding name)."""
    index_bits = max(1, math.ceil(math.log2(n))) if n > 1 else 1
    options = [
        (dense_bits(n), "dense_fp32"),
        (n + k * value_bits, "bitmap"),
        (k * (value_bits + 32), "int32_index"),
        (k * (value_bits + index_bits), "log2n_index"),
    ]
    return min(options, key=lambda o: o[0])


class IdentityCompressor(Compressor):
    """No compression: the float32 update, ``32 n`` bits."""

    name = "identity"

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        flat = update.detach().reshape(-1).to(torch.float32)
        return Payload((flat,), dense_bits(flat.numel()), "dense_fp32", flat.numel())

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        return payload.tensors[0]
