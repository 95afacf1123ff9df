"""Messages that entities put into each other's ``simpy.Store`` inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from netsim.compress.base import Payload


@dataclass(frozen=True)
class GlobalModel:
    """Server -> AP -> PIUs: the model of round ``round`` and what to do with it.

    weights: flat float32 (P,); bits: size on the air (dense fp32); recipients: PIU indices
    served by the receiving AP; local_steps: local mini-batch steps this round.
    """

    round: int
    weights: torch.Tensor
    bits: int
    recipients: tuple[int, ...]
    local_steps: int


@dataclass(frozen=True)
class Update:
    """PIU -> AP -> server: a compressed local update (the delta to the round's model)."""

    round: int
    piu: int
    payload: Payload
    num_samples: int  # |D_k|, the FedAvg weight numerator
    loss: float  # mean local training loss


@dataclass(frozen=True)
class Notice:
    """PIU -> server control message (signalling, no airtime): it will not send an update
    this round. ``kind``: "skip" (not enough energy), "left" (battery empty, gone) or "lost"
    (every transmission attempt failed)."""

    round: int
    piu: int
    kind: Literal["skip", "left", "lost"]
