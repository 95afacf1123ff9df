"""Sparsifiers: top-k, random-k (shared seed, no index cost) and threshold."""

from __future__ import annotations

import torch
from typing_extensions import override

from netsim.compress.base import FLOAT_BITS, Compressor, Payload, sparse_bits
from netsim.rng import Stream, Streams


def _keep_count(n: int, ratio: float) -> int:
    return min(n, max(1, round(ratio * n)))


def _ratio(ratio: float, fidelity: int | None) -> float:
    """The kept fraction: a fidelity is a kept percentage."""
    return ratio if fidelity is None else fidelity / 100.0


class _Sparse(Compressor):
    """Values (float32) at indices; the decoder scatters them into zeros."""

    def decompress(self, payload: Payload) -> torch.Tensor:
        values, indices = payload.tensors
        out = torch.zeros(payload.length, dtype=torch.float32)
        out[indices] = values
        return out

    def sent_entries(self, payload: Payload) -> torch.Tensor:
        sent = torch.zeros(payload.length, dtype=torch.bool)
        sent[payload.tensors[1]] = True
        return sent


class TopK(_Sparse):
    """The k = round(ratio n) entries of largest magnitude; bits from the cheapest sparse
    encoding (bitmap, int32 or log2 n indices, or dense)."""

    name = "topk"

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        k = _keep_count(x.numel(), _ratio(self.ratio, fidelity))
        indices = torch.topk(x.abs(), k, sorted=False).indices.sort().values
        bits, encoding = sparse_bits(x.numel(), k)
        return Payload((x[indices], indices), bits, f"topk_{encoding}", x.numel())

    @override
    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return sparse_bits(n, _keep_count(n, _ratio(self.ratio, fidelity)))[0]


class RandomK(_Sparse):
    """k = round(ratio n) entries chosen uniformly from a seed shared by PIU and server,
    keyed by (PIU, round): the receiver regenerates the indices, so only the values are
    sent, ``32 k`` bits."""

    name = "randomk"

    def __init__(self, ratio: float, streams: Streams) -> None:
        self.ratio = ratio
        self.streams = streams

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        k = _keep_count(x.numel(), _ratio(self.ratio, fidelity))
        gen = self.streams.torch(Stream.COMPRESSION, piu, round_index)
        indices = torch.randperm(x.numel(), generator=gen)[:k].sort().values
        return Payload((x[indices], indices), FLOAT_BITS * k, "randomk_shared_seed", x.numel())

    @override
    def planned_bits(self, n: int, fidelity: int | None = None) -> int:
        return FLOAT_BITS * _keep_count(n, _ratio(self.ratio, fidelity))


class Threshold(_Sparse):
    """Entries with ``|x| >= threshold`` (at least one: the largest); cheapest sparse
    encoding."""

    name = "threshold"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        indices = torch.nonzero(x.abs() >= self.threshold).reshape(-1)
        if indices.numel() == 0:
            indices = x.abs().argmax().reshape(1)
        bits, encoding = sparse_bits(x.numel(), indices.numel())
        return Payload((x[indices], indices), bits, f"threshold_{encoding}", x.numel())


class DGC(_Sparse):
    """Deep Gradient Compression (Lin et al. 2018) applied to each PIU's round update.

    Per PIU: momentum correction ``u <- m u + delta``, accumulation ``v <- v + u``; the top
    ``ratio`` entries of v are sent; momentum factor masking clears u and v where sent. The
    kept ratio warms up exponentially from ``warmup_ratio`` to ``ratio`` over the first
    ``warmup_rounds`` rounds (DGC's 25 % -> 0.1 % schedule). Bits: cheapest sparse encoding.
    """

    name = "dgc"

    def __init__(
        self, ratio: float, momentum: float, warmup_rounds: int, warmup_ratio: float
    ) -> None:
        self.ratio = ratio
        self.momentum = momentum
        self.warmup_rounds = warmup_rounds
        self.warmup_ratio = warmup_ratio
        self.u: dict[int, torch.Tensor] = {}
        self.v: dict[int, torch.Tensor] = {}
        self._unmasked: dict[int, tuple[int, torch.Tensor, torch.Tensor]] = {}

    def ratio_at(self, round_index: int) -> float:
        """Kept fraction in ``round``: geometric from warmup_ratio to ratio, then ratio."""
        if round_index >= self.warmup_rounds:
            return self.ratio
        return self.warmup_ratio * (self.ratio / self.warmup_ratio) ** (
            round_index / self.warmup_rounds
        )

    @override
    def compress(
        self, update: torch.Tensor, piu: int = 0, round_index: int = 0, fidelity: int | None = None
    ) -> Payload:
        x = update.detach().reshape(-1).to(torch.float32)
        u = self.momentum * self.u.get(piu, torch.zeros_like(x)) + x
        v = self.v.get(piu, torch.zeros_like(x)) + u
        k = _keep_count(x.numel(), _ratio(self.ratio_at(round_index), fidelity))
        indices = torch.topk(v.abs(), k, sorted=False).indices.sort().values
        values = v[indices].clone()
        self._unmasked[piu] = (round_index, u.clone(), v.clone())
        u[indices] = 0.0  # momentum factor masking
        v[indices] = 0.0
        self.u[piu], self.v[piu] = u, v
        bits, encoding = sparse_bits(x.numel(), k)
        return Payload((values, indices), bits, f"dgc_{encoding}", x.numel())

    def undo(self, piu: int, round_index: int) -> None:
        """Nothing arrived: keep accumulating the entries that were to be sent."""
        unmasked = self._unmasked.get(piu)
        if unmasked is not None and unmasked[0] == round_index:
            self.u[piu], self.v[piu] = unmasked[1], unmasked[2]
            del self._unmasked[piu]
