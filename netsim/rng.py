"""Stable keyed random streams.

Every entity and purpose draws from its own generator derived from the run's root seed and a
**stable key** ``(purpose, *ids)``, never from creation order. Adding a PIU therefore leaves
every other PIU's draws unchanged (common random numbers across what-if runs), and a stream
keyed by round or coherence block is stateless, so any round can be recomputed on its own.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import torch


class Stream(IntEnum):
    """Purposes of random draws; the value is part of the key, so never renumber."""

    TOPOLOGY = 1  # node placement
    SHADOWING = 2  # log-normal shadowing per (PIU, AP) link
    FADING = 3  # small-scale fading per (PIU, block chunk)
    STRAGGLER = 4  # per-round compute slowdown of a PIU
    PARTITION = 5  # assignment of training samples to PIUs
    BATCHES = 6  # mini-batch order of a PIU's local training
    SELECTION = 7  # client selection by the server
    MODEL_INIT = 8  # initial global model
    DATA_SPLIT = 9  # train/test split of the data set
    LOS = 10  # line-of-sight state per (PIU, AP) link
    SHADOWING_FIELD = 11  # spatially correlated shadowing, per AP over all PIUs
    FADING_LOS_PHASE = 12  # phase of the Rician LOS component / sinusoids per PIU
    OTA_NOISE = 13  # receiver noise of an over-the-air aggregation, per (AP, round)
    COMPRESSION = 14  # stochastic rounding / shared random-k indices, per (PIU, round)
    PROBE = 15  # the fixed probe samples of adaptive controllers
    ATTACK = 16  # a GAN attacker's generator init and latent draws, per (PIU, round)
    AVAILABILITY = 17  # on/off periods of a PIU
    HARVEST = 18  # random harvested energy per (PIU, ledger interval)
    MOBILITY = 19  # random waypoints and speeds of a moving PIU
    DEVICE_CLASS = 20  # assignment of PIUs to device classes by share
    DEVICE = 21  # a PIU's drawn device parameters, per (PIU, field)
    HARQ = 22  # transport-block decoding draws of the NR link abstraction, per direction
    BACKHAUL = 23  # a random backhaul graph (small-world mesh)
    BYZANTINE = 24  # a Byzantine PIU's noise update, per (PIU, round)
    DP = 25  # the Gaussian noise of differentially private aggregation, per round
    DP_SGD = 26  # DP-SGD's gradient noise in local training, per (PIU, round)
    HOLDOUT = 27  # a PIU's held-out samples for per-PIU evaluation
    SHADOWING_MAP = 28  # spatially consistent shadowing: one field over the plane per AP
    LOS_MAP = 29  # spatially consistent LOS state: one field over the plane per AP
    RADIO_DATA = 30  # a radio data set's sample positions and split, per PIU
    LOS_SITE = 31  # line-of-sight state per (PIU, site), shared by co-sited sectors
    SHADOWING_SITE = 32  # shadowing (and O2I loss deviation) per (PIU, site)
    INDOOR = 33  # a PIU's indoor state, floor, indoor distance and O2I loss model
    FADING_RB = 34  # a slot scheduler's per-RB-group fading per (PIU, block chunk)
    FADING_RB_PHASE = 35  # its Rician LOS phases / sinusoids per PIU


class Streams:
    """Factory of keyed generators for one run.

    Parameters
    ----------
    seed:
        Root seed of the run (non-negative int).
    """

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed

    def _sequence(self, purpose: Stream, ids: tuple[int, ...]) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed, spawn_key=(int(purpose), *map(int, ids)))

    def numpy(self, purpose: Stream, *ids: int) -> np.random.Generator:
        """A fresh numpy generator for ``(purpose, *ids)``: same key, same draws."""
        return np.random.Generator(np.random.PCG64(self._sequence(purpose, ids)))

    def torch(self, purpose: Stream, *ids: int) -> torch.Generator:
        """A fresh CPU torch generator for ``(purpose, *ids)``."""
        state = self._sequence(purpose, ids).generate_state(2, dtype=np.uint32)
        seed = (int(state[0]) << 32 | int(state[1])) & ((1 << 63) - 1)
        return torch.Generator().manual_seed(seed)
