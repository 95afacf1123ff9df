"""Small-scale fading: power gains |h|^2 (mean 1) per coherence block (PHYSICS.md section 2).

Block ``n`` covers simulated time ``[n T_c, (n + 1) T_c)``. A gain is a function of (seed,
PIU, block) only: coefficients are drawn in chunks of blocks from the keyed stream
``(FADING, piu, chunk)``, so the channel a PIU sees at time t does not depend on who asked
before, and adding a PIU changes nobody else's channel.

``h = sqrt(K/(K+1)) e^{j theta} + sqrt(1/(K+1)) g`` with the diffuse part g ~ CN(0, 1)
(Rayleigh for K = 0) and a fixed LOS phase theta per link. The diffuse part is i.i.d. across
blocks (block fading), an AR(1) Gauss-Markov process ``g[n] = rho g[n-1] + sqrt(1 - rho^2)
w[n]`` with ``rho = J0(2 pi f_D T_c)`` (matches Clarke's autocorrelation at lag 1 only), or a
sum of sinusoids (Jakes spectrum at every lag).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from typing_extensions import override

from netsim.radio.pathloss import SPEED_OF_LIGHT_M_S
from netsim.rng import Stream, Streams


def doppler_hz(speed_mps: float, carrier_hz: float) -> float:
    """Maximum Doppler shift ``f_D = v f_c / c``."""
    return speed_mps * carrier_hz / SPEED_OF_LIGHT_M_S


class BlockFading:
    """Interface: ``gains(piu, first_block, n_blocks) -> (n_blocks, n_aps)`` power gains."""

    static = False

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        """|h|^2 (n_blocks, A) of PIU ``piu`` from coherence block ``first_block`` on (mean 1)."""
        raise NotImplementedError

    def coefficients(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        """Complex coefficients h (n_blocks, n_aps) with E|h|^2 = 1."""
        raise NotImplementedError

    def hold(self, n_pius: int, max_bytes: int) -> None:
        """Keep what ``n_pius`` PIUs read at once cached (up to ``max_bytes``): a reader
        that visits them in turn, every coherence block, would otherwise draw each again.
        Only speed depends on it, never a value."""


class NoFading(BlockFading):
    """|h|^2 = 1 always (a static, deterministic channel)."""

    static = True

    def __init__(self, n_aps: int) -> None:
        self.n_aps = n_aps

    @override
    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        return np.ones((n_blocks, self.n_aps))

    @override
    def coefficients(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        return np.ones((n_blocks, self.n_aps), dtype=complex)


class _ChunkedFading(BlockFading):
    """Complex coefficients generated ``chunk`` blocks at a time and cached.

    ``per_rb``: the per-RB-group fading of a slot scheduler (``n_aps`` is then APs x RB
    groups, 1,539 columns at 57 APs): drawn from streams of its own (never the wideband
    fading's numbers again), in float32 (a fading coefficient needs no more), in chunks of
    at most :data:`PER_RB_CHUNK_VALUES` coefficients (42 blocks at 1,539 columns): a slot
    scheduler reads the blocks its transfers span, and a chunk of 256 blocks drew 1.7 times
    the coefficients a 1.5 s round of 5 ms blocks used."""

    CHUNK = 256  # blocks per chunk of the wideband fading
    PER_RB_CHUNK_VALUES = 2**16
    # cached chunks take CHUNK x n_aps x 16 bytes each (400 kB with 100 APs; an unbounded
    # cache took 1.6 GB at 10,000 PIUs), so the cache is bounded in bytes and drops the
    # least recently used chunk. The bound holds the chunks of 1,000 PIUs in flight at 57
    # APs (230 MB): a smaller one made every re-evaluation of a shared medium with that
    # many receivers redraw them all (181 s of a 231 s round at 20,000 PIUs)
    _MAX_CACHED_BYTES = 512 * 2**20

    def __init__(self, streams: Streams, n_aps: int, k_factor: float, per_rb: bool = False) -> None:
        self.streams = streams
        self.n_aps = n_aps
        self.k_factor = k_factor
        self.chunk = max(1, self.PER_RB_CHUNK_VALUES // n_aps) if per_rb else self.CHUNK
        self.stream = Stream.FADING_RB if per_rb else Stream.FADING
        self.phase_stream = Stream.FADING_RB_PHASE if per_rb else Stream.FADING_LOS_PHASE
        self.dtype = np.float32 if per_rb else np.float64  # of the draws
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._los: dict[int, np.ndarray] = {}
        self._max_cached = max(1, self._MAX_CACHED_BYTES // self._chunk_bytes())

    _VALUES = 2  # floats a cached value takes (a complex coefficient: 2)

    def _chunk_bytes(self) -> int:
        return self.chunk * self.n_aps * self._VALUES * np.dtype(self.dtype).itemsize

    def _diffuse_chunk(self, piu: int, chunk: int) -> np.ndarray:
        """(chunk, n_aps) complex diffuse coefficients, CN(0, 1) marginally."""
        raise NotImplementedError

    @override
    def hold(self, n_pius: int, max_bytes: int) -> None:
        """Raise the cache's bound to one chunk of each of ``n_pius`` PIUs and a few more
        (they all cross into their next chunk in the same coherence block), at most
        ``max_bytes``. A slot scheduler's per-RB fading reads every PIU with data each
        block: when the bound held fewer chunks (81 of 285 PIUs once), every read drew a
        whole chunk again (87 % of a 19-site PF run)."""
        wanted = n_pius + n_pius // 8 + 1
        self._max_cached = max(self._max_cached, min(wanted, max_bytes // self._chunk_bytes()))

    def _chunk(self, piu: int, chunk: int) -> np.ndarray:
        key = (piu, chunk)
        block = self._cache.get(key)
        if block is None:
            if len(self._cache) >= self._max_cached:
                self._cache.popitem(last=False)
            block = self._diffuse_chunk(piu, chunk)
            self._cache[key] = block
        else:
            self._cache.move_to_end(key)
        return block

    def _blocks(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        """(n_blocks, n_aps) cached values of blocks ``first_block`` on."""
        first, last = first_block // self.chunk, (first_block + n_blocks - 1) // self.chunk
        if first == last:  # the usual case: a view into one cached chunk, no copy
            stacked = self._chunk(piu, first)
        else:
            stacked = np.concatenate([self._chunk(piu, c) for c in range(first, last + 1)])
        offset = first_block - first * self.chunk
        return stacked[offset : offset + n_blocks]

    def coefficients(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        """Complex h (n_blocks, n_aps), including the Rician LOS part."""
        diffuse = self._blocks(piu, first_block, n_blocks)
        if self.k_factor == 0:
            return diffuse
        k = self.k_factor
        return math.sqrt(k / (k + 1)) * self._los_phasor(piu) + math.sqrt(1 / (k + 1)) * diffuse

    def _los_phasor(self, piu: int) -> np.ndarray:
        phasor = self._los.get(piu)
        if phasor is None:
            theta = self.streams.numpy(self.phase_stream, piu).uniform(0, 2 * np.pi, self.n_aps)
            phasor = self._los[piu] = np.exp(1j * theta)
        return phasor

    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        h = self.coefficients(piu, first_block, n_blocks)
        return h.real**2 + h.imag**2


def _complex_normal(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: type = np.float64
) -> np.ndarray:
    """CN(0, 1): real and imaginary parts N(0, 1/2), drawn in ``dtype`` (float32: complex64
    out)."""
    if dtype == np.float64:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * math.sqrt(0.5)
    out = np.empty(shape, dtype=np.complex64)
    out.real = rng.standard_normal(shape, dtype=np.float32)
    out.imag = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(math.sqrt(0.5))
    return out


class IIDBlockFading(_ChunkedFading):
    """Rayleigh (K = 0) or Rician block fading, i.i.d. across coherence blocks and links."""

    def _diffuse_chunk(self, piu: int, chunk: int) -> np.ndarray:
        rng = self.streams.numpy(self.stream, piu, chunk)
        return _complex_normal(rng, (self.chunk, self.n_aps), self.dtype)


class RayleighPowerFading(_ChunkedFading):
    """i.i.d. Rayleigh block fading of a slot scheduler's RBs, kept as power gains only:
    ``|h|^2 ~ Exp(1)`` drawn directly (float32, numpy's ziggurat), i.i.d. across blocks, APs
    and RB groups. The same distribution as ``|g|^2`` of ``g ~ CN(0, 1)`` at a seventh of the
    cost (0.28 against 1.9 ms per 65,536 gains: one exponential against two normals and
    their squares); a scheduler reads only power gains, so :meth:`coefficients` (whose
    phases nobody draws) is not offered."""

    _VALUES = 1

    def __init__(self, streams: Streams, n_aps: int) -> None:
        super().__init__(streams, n_aps, k_factor=0.0, per_rb=True)

    def _diffuse_chunk(self, piu: int, chunk: int) -> np.ndarray:
        rng = self.streams.numpy(self.stream, piu, chunk)
        return rng.standard_exponential((self.chunk, self.n_aps), dtype=np.float32)

    @override
    def coefficients(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        raise NotImplementedError("per-RB Rayleigh fading keeps power gains |h|^2 only")

    @override
    def gains(self, piu: int, first_block: int, n_blocks: int) -> np.ndarray:
        return self._blocks(piu, first_block, n_blocks)


class RayleighBlockFading(IIDBlockFading):
    """i.i.d. Rayleigh block fading: ``|h|^2 ~ Exp(1)``."""

    def __init__(self, streams: Streams, n_aps: int) -> None:
        super().__init__(streams, n_aps, k_factor=0.0)


class GaussMarkovFading(_ChunkedFading):
    """First-order Gauss-Markov (AR(1)) diffuse fading across blocks.

    ``g[0] ~ CN(0, 1)``, ``g[n] = rho g[n-1] + sqrt(1 - rho^2) w[n]``; stationary CN(0, 1).
    Chunk c continues from the last coefficient of chunk c-1, so chunks are generated in order
    (from chunk 0 again if an old one was evicted from the cache).
    """

    def __init__(
        self, streams: Streams, n_aps: int, rho: float, k_factor: float = 0.0, per_rb: bool = False
    ) -> None:
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"AR(1) coefficient must be in [-1, 1], got {rho}")
        super().__init__(streams, n_aps, k_factor, per_rb)
        self.rho = rho

    def _diffuse_chunk(self, piu: int, chunk: int) -> np.ndarray:
        from scipy.signal import lfilter  # importing scipy.signal takes 1.1 s: only when used

        start = chunk
        while start > 0 and (piu, start - 1) not in self._cache:
            start -= 1
        block = None
        for c in range(start, chunk + 1):
            rng = self.streams.numpy(self.stream, piu, c)
            w = _complex_normal(rng, (self.chunk, self.n_aps), self.dtype)
            if c == 0:
                first = w[0]
            else:
                prev = self._cache[(piu, c - 1)][-1]
                first = self.rho * prev + math.sqrt(1 - self.rho**2) * w[0]
            # g[n] = rho g[n-1] + s w[n] for n >= 1: an IIR filter along the block axis.
            rest, _ = lfilter(
                [math.sqrt(1 - self.rho**2)],
                [1.0, -self.rho],
                w[1:],
                axis=0,
                zi=(self.rho * first)[None, :],
            )
            block = np.concatenate([first[None, :], rest])
            if c < chunk:
                self._cache[(piu, c)] = block
        assert block is not None
        return block


class JakesFading(_ChunkedFading):
    """Sum-of-sinusoids (random-phase Jakes/Clarke) fading evaluated at each block start.

    ``g(t) = M^(-1/2) sum_m exp(j (2 pi f_D t cos(alpha_m) + phi_m))`` with alpha_m, phi_m
    uniform per link from the keyed stream ``(FADING_LOS_PHASE, piu, 1)``; its autocorrelation
    approaches ``J0(2 pi f_D tau)`` (averaged over links) at every lag.
    """

    def __init__(
        self,
        streams: Streams,
        n_aps: int,
        doppler_hz: float,
        coherence_s: float,
        k_factor: float = 0.0,
        n_sinusoids: int = 32,
        per_rb: bool = False,
    ) -> None:
        super().__init__(streams, n_aps, k_factor, per_rb)
        self.doppler_hz = doppler_hz
        self.coherence_s = coherence_s
        self.n_sinusoids = n_sinusoids
        self._angles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _sinusoids(self, piu: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._angles.get(piu)
        if found is None:
            rng = self.streams.numpy(self.phase_stream, piu, 1)
            shape = (self.n_aps, self.n_sinusoids)
            found = self._angles[piu] = (
                rng.uniform(0, 2 * np.pi, shape),
                rng.uniform(0, 2 * np.pi, shape),
            )
        return found

    def _diffuse_chunk(self, piu: int, chunk: int) -> np.ndarray:
        alpha, phi = self._sinusoids(piu)  # (A, M)
        t = (chunk * self.chunk + np.arange(self.chunk)) * self.coherence_s  # block starts, s
        phase = 2 * np.pi * self.doppler_hz * t[:, None, None] * np.cos(alpha)[None] + phi[None]
        return np.exp(1j * phase).sum(axis=2) / math.sqrt(self.n_sinusoids)


def gauss_markov_rho(speed_mps: float, carrier_hz: float, coherence_s: float) -> float:
    """``rho = J0(2 pi f_D T_c)`` (Clarke's autocorrelation one block apart)."""
    from scipy.special import j0  # scipy.special takes 0.25 s to import: only when used

    return float(j0(2 * np.pi * doppler_hz(speed_mps, carrier_hz) * coherence_s))
