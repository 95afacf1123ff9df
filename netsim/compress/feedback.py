"""Error feedback (Strom 2015; Karimireddy et al. 2019) around any compressor.

Per PIU: ``t = residual + update``; send ``compress(t)``; ``residual = t - decompress(sent)``.
So the sum of what a PIU sent plus its residual equals the sum of its true updates.
"""

from __future__ import annotations

import torch

from netsim.compress.base import Compressor, Payload


class ErrorFeedback(Compressor):
    """Wraps ``inner``; keeps one residual per PIU across rounds."""

    def __init__(self, inner: Compressor) -> None:
        self.inner = inner
        self.name = f"{inner.name}+ef"
        self.residuals: dict[int, torch.Tensor] = {}

    def compress(
        self, update: torch.Tensor, piu: int = 0, round: int = 0, fidelity: int | None = None
    ) -> Payload:
        flat = update.detach().reshape(-1).to(torch.float32)
        target = flat + self.residuals.get(piu, torch.zeros_like(flat))
        payload = self.inner.compress(target, piu, round, fidelity)
        self.residuals[piu] = target - self.inner.decompress(payload)
        return payload

    def decompress(self, payload: Payload) -> torch.Tensor:
        return self.inner.decompress(payload)

    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return self.inner.planned_bits(n, fidelity)
