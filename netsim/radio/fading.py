"""Small-scale block fading: power gains |h|^2 (mean 1) per coherence block.

Block ``n`` covers simulated time ``[n T_c, (n + 1) T_c)``. Gains are stateless functions of
(seed, PIU, block): blocks are drawn in chunks from the keyed stream ``(FADING, piu, chunk)``,
so the channel a PIU sees at time t does not depend on who asked before, and adding a PIU
changes nobody else's channel.
"""

from __future__ import annotations

import numpy as np

from netsim.rng import Stream, Streams


class BlockFading:
    """Interface: ``gains(piu, first_block, n_blocks) -> (n_blocks, n_aps)`` power gains."""

    static = False

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        raise NotImplementedError


class NoFading(BlockFading):
    """|h|^2 = 1 always (a static, deterministic channel)."""

    static = True

    def __init__(self, n_aps: int) -> None:
        self.n_aps = n_aps

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        return np.ones((n_blocks, self.n_aps))


class RayleighBlockFading(BlockFading):
    """Rayleigh block fading: ``h ~ CN(0, 1)`` so ``|h|^2 ~ Exp(1)``, i.i.d. across blocks
    and links (PHYSICS.md section 2)."""

    CHUNK = 256  # blocks per keyed draw

    def __init__(self, streams: Streams, n_aps: int) -> None:
        self.streams = streams
        self.n_aps = n_aps
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def _chunk(self, piu: int, chunk: int) -> np.ndarray:
        key = (piu, chunk)
        block = self._cache.get(key)
        if block is None:
            if len(self._cache) > 4096:  # bound memory; chunks are cheap to redraw
                self._cache.clear()
            rng = self.streams.numpy(Stream.FADING, piu, chunk)
            block = rng.standard_exponential((self.CHUNK, self.n_aps))
            self._cache[key] = block
        return block

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        first_chunk, last_chunk = (
            first_block // self.CHUNK,
            (first_block + n_blocks - 1) // self.CHUNK,
        )
        stacked = np.concatenate([self._chunk(piu, c) for c in range(first_chunk, last_chunk + 1)])
        offset = first_block - first_chunk * self.CHUNK
        return stacked[offset : offset + n_blocks]
