"""Edge server of hierarchical FL (HierFAVG, Liu et al. 2020): aggregates the PIUs of its
APs between the cloud's rounds."""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import simpy

from netsim.log import EventLog
from netsim.messages import EdgeModel, GlobalModel
from netsim.nodes.link import Backhaul
from netsim.nodes.protocols import Outcome
from netsim.nodes.server import Server, Tier


class EdgeServer(Server):
    """An edge server: the server process over the PIUs of its APs, ``k2`` edge rounds per
    cloud model.

    It waits for a model from the cloud (``from_cloud``; if newer ones arrived while it
    worked, the newest), runs ``k2`` rounds of its protocol (synchronous FedAvg rounds over
    its own PIUs, each a row of tier "edge" in the rounds table, its model versions counted
    on from one cloud model to the next), then sends its model to the cloud as an
    :class:`EdgeModel` weighted by n_e, the samples of the distinct PIUs whose updates went
    into it (``samples``: |D_k| per PIU), and waits for the next cloud model. Every
    transfer crosses the routed backhaul (``send_start`` / ``send_end``).

    Parameters
    ----------
    index: e, the edge server's number (its models' ``edge``, its streams' key).
    cloud: the edge -> cloud link and the cloud's inbox.
    k2: edge rounds per cloud round.
    samples: |D_k| of every PIU, by index.
    name: its node name; serves: its APs.
    server_args: the other :class:`Server` arguments (``downlinks`` to its APs,
        ``local_steps``: k1 local rounds of steps).
    """

    role = "edge"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        index: int,
        *,
        cloud: tuple[Backhaul, simpy.Store],
        k2: int,
        samples: Mapping[int, int],
        name: str,
        serves: frozenset[int],
        **server_args: Any,
    ) -> None:
        place = Tier(name, serves, stream_key=(index + 1,), tier="edge")
        super().__init__(env, log, place=place, **server_args)
        self.index = index
        self.cloud = cloud
        self.k2 = k2
        self.samples = dict(samples)
        self.from_cloud = simpy.Store(env)
        self._joined: set[int] = set()  # PIUs in the edge model since the cloud model
        self._loss = math.nan

    def run(self) -> Generator[simpy.Event, object, None]:
        """The edge server's process (see the class docstring)."""
        while True:
            model = yield self.from_cloud.get()
            while self.from_cloud.items:  # it was late: newer cloud models wait
                model = yield self.from_cloud.get()
            assert isinstance(model, GlobalModel)
            self.emit("rx_model", model.round, bits=model.bits, peer="server", detail="cloud")
            self.weights = model.weights
            self._joined, self._loss = set(), math.nan
            for _ in range(self.k2):
                made = yield from self.make_version()
                if not made:  # no PIU left: the edge model is the cloud's, weight 0
                    break
            joined = tuple(sorted(self._joined))
            msg = EdgeModel(
                model.round, self.index, self.weights, sum(self.samples[k] for k in joined),
                joined, self._loss, self.model_bits,
            )  # fmt: skip
            link, inbox = self.cloud
            yield from self.transfer(link, inbox, msg, model.round, msg.bits, "server")

    def _conclude(self, outcome: Outcome) -> None:
        super()._conclude(outcome)
        self._joined |= outcome.contributors
        if outcome.contributors:
            self._loss = outcome.train_loss

    def spent(self) -> tuple[float, float]:
        """(energy J, uplink bits) of the PIUs of its APs so far."""
        energy_j = bits = 0.0
        for p in self.pius:
            if self.serves is None or p.ap_index in self.serves:
                e, b = self._log.spent.get(f"piu{p.index}", (0.0, 0.0))
                energy_j, bits = energy_j + e, bits + b
        return energy_j, bits
