"""Error feedback (Strom 2015; Karimireddy et al. 2019) around any compressor.

Per PIU: ``t = residual + update``; send ``compress(t)``; ``residual = t - decompress(sent)``.
So the sum of what a PIU sent plus its residual equals the sum of its true updates; a
payload that never arrives is undone (its whole target stays in the residual), so the
identity holds over what was *delivered*.
"""

from __future__ import annotations

import torch
from typing_extensions import override

from netsim.compress.base import Compressor, Payload


class ErrorFeedback(Compressor):
    """Wraps ``inner``; keeps one residual per PIU across rounds."""

    def __init__(self, inner: Compressor) -> None:
        self.inner = inner
        self.name = f"{inner.name}+ef"
        self.stateful_decoder = inner.stateful_decoder
        self.residuals: dict[int, torch.Tensor] = {}
        self._sent: dict[int, tuple[int, torch.Tensor]] = {}  # piu -> (round, target)

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        flat = update.detach().reshape(-1).to(torch.float32)
        target = flat + self.residuals.get(piu, torch.zeros_like(flat))
        payload = self.inner.compress(target, piu, round_index, fidelity)
        self.residuals[piu] = target - self.inner.decompress(payload)
        self._sent[piu] = (round_index, target)
        return payload

    def undo(self, piu: int, round_index: int) -> None:
        """Nothing arrived: the whole target (residual + update) stays to be sent."""
        sent = self._sent.get(piu)
        if sent is not None and sent[0] == round_index:
            self.residuals[piu] = sent[1]
            del self._sent[piu]
        self.inner.undo(piu, round_index)

    @override
    def decompress(self, payload: Payload) -> torch.Tensor:
        return self.inner.decompress(payload)

    @override
    def sent_entries(self, payload: Payload) -> torch.Tensor | None:
        return self.inner.sent_entries(payload)

    @override
    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return self.inner.planned_bits(n, fidelity)
