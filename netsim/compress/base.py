"""Compressor contract (COMPRESSION.md): ``compress(update) -> Payload``,
``decompress(payload) -> update``; ``Payload.bits`` is the exact size on the air."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Payload:
    """What a PIU transmits.

    Attributes
    ----------
    tensors: the encoded content (decoder input).
    bits: exact payload size in bits, from the encoding model (drives airtime and energy).
    encoding: name of the encoding used, logged with the transmission.
    """

    tensors: tuple[torch.Tensor, ...]
    bits: int
    encoding: str


class Compressor:
    """Base class. ``dense_bits(n)`` is the size of an uncompressed float32 vector of n."""

    name = "base"

    def compress(self, update: torch.Tensor) -> Payload:
        raise NotImplementedError

    def decompress(self, payload: Payload) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def dense_bits(n: int) -> int:
        return 32 * n  # float32: 4 bytes = 32 bits per entry


class IdentityCompressor(Compressor):
    """No compression: the float32 update, ``32 n`` bits."""

    name = "identity"

    def compress(self, update: torch.Tensor) -> Payload:
        flat = update.detach().reshape(-1).to(torch.float32)
        return Payload((flat,), self.dense_bits(flat.numel()), "dense_fp32")

    def decompress(self, payload: Payload) -> torch.Tensor:
        return payload.tensors[0]
