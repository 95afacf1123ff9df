"""What entities send one another, and the tap through which an observer is shown it.

The messages are what the entities (``netsim.nodes``) put into each other's ``simpy.Store``
inboxes. A :class:`Tap` is the one interface an observer of the timeline implements: the
entities call it where a message passes (an AP, the server) or where a PIU is about to
train, and an adversary (``netsim.privacy``) records or acts there. This module sits below
both, so neither imports the other: the entities call a tap without knowing who listens,
and the attacks implement it without knowing the entities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import simpy
import torch

from netsim.compress.base import Payload
from netsim.fl.aggregation import StreamingFedAvg
from netsim.radio.links import Grant


@dataclass(frozen=True)
class GlobalModel:
    """Server -> AP -> PIUs: the model of round ``round`` and what to do with it.

    weights: flat float32 (P,); bits: size on the air (dense fp32); recipients: PIU indices
    served by the receiving AP; local_steps: local mini-batch steps this round;
    deadline_at_s: absolute simulated time of the round's deadline (None: no deadline).
    """

    round: int
    weights: torch.Tensor
    bits: int
    recipients: tuple[int, ...]
    local_steps: int
    deadline_at_s: float | None = None
    fidelity: int | None = None  # compression fidelity of the round (AFC-FL), if controlled
    mask: torch.Tensor | None = None  # (P,) bool shared pruning mask; pruned entries not sent
    links: dict[int, RoundLink] | None = None  # per PIU: this round's allocated uplink
    server_state: torch.Tensor | None = None  # (P,) the algorithm's (SCAFFOLD's c)
    # streaming FedAvg: the server's running sum, which takes the update when it is trained
    # (every trained update of such a round arrives); the upload then carries its size only
    stream: StreamingFedAvg | None = None


@dataclass(frozen=True)
class RoundLink:
    """A PIU's uplink for one round from the server (cell-free): its grant (power, ergodic
    rate and SINR) and its local iterations."""

    grant: Grant
    local_steps: int


@dataclass(frozen=True)
class Update:
    """PIU -> AP -> server: a compressed local update (the delta to the round's model)."""

    round: int
    piu: int
    payload: Payload
    num_samples: int  # |D_k|, the FedAvg weight numerator
    loss: float  # mean local training loss
    mask: torch.Tensor | None = None  # (P,) bool: the PIU's own pruning mask (scope "piu")
    local_steps: int = 0  # the local steps it ran (FedNova normalises by them)


@dataclass(frozen=True)
class Notice:
    """PIU -> server control message (signalling, no airtime): it will not send an update
    this round. ``kind``: "skip" (not enough energy), "left" (battery empty, gone), "lost"
    (every transmission attempt failed, or the AP's NR downlink lost the model; then the AP
    sends it) or "offline" (became unavailable)."""

    round: int
    piu: int
    kind: Literal["skip", "left", "lost", "offline"]


@dataclass(frozen=True)
class OTAReady:
    """PIU -> AP: a trained update waiting for the over-the-air slot (``slot`` is succeeded
    with a :class:`netsim.radio.links.AnalogSlot`). Over the air the payload is the dense
    float32 update (no compression)."""

    update: Update
    slot: simpy.Event = field(compare=False)

    @property
    def round(self) -> int:
        """The round of the update."""
        return self.update.round

    @property
    def piu(self) -> int:
        """The PIU that trained it."""
        return self.update.piu

    @property
    def delta(self) -> torch.Tensor:
        """(P_sent,) the entries sent (the unpruned ones under a shared mask)."""
        return self.update.payload.tensors[0]

    @property
    def num_samples(self) -> int:
        """|D_k|, its weight in the sum."""
        return self.update.num_samples

    @property
    def loss(self) -> float:
        """Its mean local training loss."""
        return self.update.loss


@dataclass(frozen=True)
class OTAAggregate:
    """AP -> server: the noisy weighted sum received over the air.

    delta: estimate of ``sum_k phi_k delta_k`` with ``phi_k = |D_k| / weight`` over
    ``contributors`` (P,); weight: sum of their |D_k|; late: recipients not ready at the
    deadline; loss: the contributors' |D|-weighted train loss; bits: fronthaul payload.
    noise_var: under client-level DP only: then delta estimates the plain sum of the
    contributors' clipped updates, and noise_var (P,) float64 is its receiver-noise
    variance per entry.
    """

    round: int
    ap: int
    delta: torch.Tensor
    weight: int
    contributors: tuple[int, ...]
    late: tuple[int, ...]
    loss: float
    bits: int
    noise_var: torch.Tensor | None = None


@dataclass(frozen=True)
class EdgeModel:
    """Edge server -> cloud (hierarchical FL): the edge model after its edge rounds on the
    cloud model of round ``round``.

    weights: flat float32 (P,); weight: n_e, the |D_k| of the distinct PIUs whose updates
    went into it (0: none, the cloud ignores it); pius: those PIUs; loss: their
    |D|-weighted train loss of the edge's last round that aggregated any; bits: its size on
    the backhaul (dense float32).
    """

    round: int
    edge: int
    weights: torch.Tensor
    weight: int
    pius: tuple[int, ...]
    loss: float
    bits: int


@dataclass(frozen=True)
class Injection:
    """Samples a tapped PIU adds to its training data of one round (a malicious
    participant's): x (n, C, H, W) normalised as the data set, y (n,) their labels; loss: the
    adversary's own figure of merit and detail: its description, both for the PIU's
    ``gan_inject`` event."""

    x: torch.Tensor
    y: torch.Tensor
    loss: float
    detail: str


class Tap:
    """What an observer of the timeline is shown, and where it may act.

    An entity built with a tap calls it as messages pass: the server and an AP call
    :meth:`see_model`, :meth:`see_update` and :meth:`see_aggregate`; a PIU calls
    :meth:`before_training`. Each method here does nothing (and injects nothing), so an
    adversary overrides only what it observes. A tap takes no simulated time and must not
    change a message (the frozen dataclasses above are shared with the entities).
    """

    def see_model(self, msg: GlobalModel) -> None:
        """The round's global model passes by (the server sends it, an AP relays it)."""

    def see_update(self, now: float, update: Update, delta: torch.Tensor | None = None) -> None:
        """A digital upload reaches the tap at simulated time ``now`` (s); ``delta`` (P,):
        the receiver's decoding (at the server), None where only the payload is heard."""

    def see_aggregate(self, now: float, agg: OTAAggregate) -> None:
        """An over-the-air superposition of several PIUs' updates arrives at time ``now``."""

    def before_training(self, now: float, msg: GlobalModel) -> Injection | None:
        """The tapped PIU is about to train on ``msg``'s model at time ``now``: samples to
        add to its training data of the round, or None (an honest round)."""
        return None
