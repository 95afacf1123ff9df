"""Aggregation server: runs the synchronous FedAvg protocol with an optional deadline."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Protocol

import numpy as np
import simpy
import torch

from netsim.compress.base import Compressor
from netsim.fl.aggregation import fedavg, fedavg_weights
from netsim.fl.selection import select_uniform
from netsim.learn.trainer import Trainer
from netsim.log import EventLog, RoundRecord
from netsim.nodes.base import Node
from netsim.nodes.link import WiredLink
from netsim.nodes.messages import GlobalModel, Notice, Update
from netsim.rng import Stream, Streams

# Deadline events sort after every ordinary event at the same instant (SimPy orders by
# (time, priority, id); URGENT = 0, NORMAL = 1), so an update that arrives exactly at the
# deadline is on time.
_AFTER_NORMAL = simpy.events.EventPriority(simpy.events.NORMAL + 1)


class _Deadline(simpy.Event):
    """A timeout that fires after all ordinary events scheduled for the same time."""

    def __init__(self, env: simpy.Environment, delay_s: float) -> None:
        super().__init__(env)
        self._ok = True  # a pre-triggered event, as simpy.Timeout does it
        self._value = None
        env.schedule(self, _AFTER_NORMAL, delay_s)


class _Abortable(Protocol):
    index: int
    ap_index: int

    def abort(self, round: int) -> None: ...


class Server(Node):
    """The aggregation server.

    Each round: select PIUs among those still in the federation; send the global model to
    their APs over the backhaul (serialisation + latency), from where it is multicast; wait
    until every selected PIU has delivered or declined, or the deadline (from the round
    start) fires; abort the late PIUs; aggregate with FedAvg weights |D_k| / sum |D| over the
    updates received (``aggregation_s`` of simulated time); evaluate the new global model on
    the test set (measurement: takes no simulated time).

    Parameters
    ----------
    weights: initial global model, flat float32 (P,).
    downlinks: per AP, the server -> AP link and that AP's inbox.
    on_round: called with each finished :class:`RoundRecord` (progress reporting).
    """

    role = "server"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        *,
        weights: torch.Tensor,
        trainer: Trainer,
        compressor: Compressor,
        downlinks: list[tuple[WiredLink, simpy.Store]],
        rounds: int,
        deadline_s: float | None,
        clients_per_round: int | None,
        local_steps: int,
        aggregation_s: float,
        streams: Streams,
        on_round: Callable[[RoundRecord], None] | None = None,
    ) -> None:
        super().__init__(env, "server", log)
        self.weights = weights
        self.trainer = trainer
        self.compressor = compressor
        self.downlinks = downlinks
        self.rounds = rounds
        self.deadline_s = deadline_s
        self.clients_per_round = clients_per_round
        self.local_steps = local_steps
        self.aggregation_s = aggregation_s
        self.streams = streams
        self.on_round = on_round
        self.inbox = simpy.Store(env)
        self.pius: list[_Abortable] = []
        self.departed: set[int] = set()
        self.records: list[RoundRecord] = []
        self.model_bits = compressor.dense_bits(weights.numel())
        self.process = env.process(self.run())

    def run(self) -> Generator[simpy.Event, object, None]:
        for r in range(self.rounds):
            active = [p.index for p in self.pius if p.index not in self.departed]
            if not active:
                self.emit("stop", r, detail="no PIU left in the federation")
                return
            yield from self._round(r, active)

    def _round(self, r: int, active: list[int]) -> Generator[simpy.Event, object, None]:
        t_start = self.env.now
        selected = select_uniform(
            active, self.clients_per_round, self.streams.numpy(Stream.SELECTION, r)
        )
        self.emit("broadcast", r, bits=self.model_bits, detail=f"{len(selected)} PIUs")
        by_ap: dict[int, list[int]] = {}
        for k in selected:
            by_ap.setdefault(self.pius[k].ap_index, []).append(k)
        for ap, recipients in sorted(by_ap.items()):
            msg = GlobalModel(r, self.weights, self.model_bits, tuple(recipients), self.local_steps)
            self.env.process(self._send(ap, msg))

        received, notices = yield from self._collect(r, set(selected))
        late = sorted(set(selected) - set(received) - set().union(*notices.values()))
        for k in late:
            self.emit("deadline_miss", r, detail=f"piu{k}")
            self.pius[k].abort(r)

        yield self.env.timeout(self.aggregation_s)
        updates = [received[k] for k in sorted(received)]
        sizes = [u.num_samples for u in updates]
        deltas = [self.compressor.decompress(u.payload) for u in updates]
        self.weights = fedavg(self.weights, deltas, sizes)
        train_loss = (
            float(np.dot(fedavg_weights(sizes), [u.loss for u in updates])) if updates else math.nan
        )
        self.emit(
            "aggregate",
            r,
            duration_s=self.aggregation_s,
            loss=train_loss,
            detail=f"{len(updates)} updates",
        )
        test_loss, accuracy = self.trainer.evaluate(self.weights)
        self.emit("evaluate", r, loss=test_loss, accuracy=accuracy)
        record = RoundRecord(
            round=r,
            t_start_s=t_start,
            t_end_s=float(self.env.now),
            selected=len(selected),
            aggregated=len(updates),
            dropped=len(late),
            skipped=len(notices["skip"]),
            left=len(notices["left"]),
            lost=len(notices["lost"]),
            uplink_bits=math.nan,
            energy_j=math.nan,
            train_loss=train_loss,
            test_loss=test_loss,
            test_accuracy=accuracy,
        )
        self.records.append(record)
        if self.on_round is not None:
            self.on_round(record)

    def _send(self, ap: int, msg: GlobalModel) -> Generator[simpy.Event, object, None]:
        link, ap_inbox = self.downlinks[ap]
        yield from link.transfer(msg.bits)
        ap_inbox.put(msg)

    def _collect(
        self, r: int, pending: set[int]
    ) -> Generator[simpy.Event, object, tuple[dict[int, Update], dict[str, set[int]]]]:
        """Receive until nothing is pending or the deadline fires."""
        received: dict[int, Update] = {}
        notices: dict[str, set[int]] = {"skip": set(), "left": set(), "lost": set()}
        deadline = _Deadline(self.env, self.deadline_s) if self.deadline_s is not None else None
        while pending:
            get = self.inbox.get()
            yield get if deadline is None else (get | deadline)
            if not get.triggered:
                get.cancel()
                break
            msg = get.value
            if isinstance(msg, Notice):
                if msg.kind == "left":
                    self.departed.add(msg.piu)
                if msg.round == r:
                    notices[msg.kind].add(msg.piu)
                    pending.discard(msg.piu)
            elif isinstance(msg, Update):
                if msg.round != r:
                    self.emit(
                        "discard",
                        r,
                        bits=msg.payload.bits,
                        detail=f"piu{msg.piu} update of round {msg.round}",
                    )
                    continue
                received[msg.piu] = msg
                pending.discard(msg.piu)
                self.emit("rx_update", r, bits=msg.payload.bits, detail=f"piu{msg.piu}")
        return received, notices
