"""Aggregation server of the asynchronous protocols: FedAsync and FedBuff."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
import torch

from netsim.fl.asynchronous import fedasync_mix, fedbuff_step, staleness_weight
from netsim.fl.protocols import Asynchronous
from netsim.fl.selection import select_uniform
from netsim.nodes.messages import GlobalModel, Notice, Update
from netsim.nodes.server import Server, _no_notices
from netsim.rng import Stream


class AsyncServer(Server):
    """The server of FedAsync (``mode = "fedasync"``) or FedBuff (``"fedbuff"``).

    No rounds: ``rounds`` counts model versions. At the start and whenever a PIU frees up,
    PIUs that are online, in the federation and not training get the current model (drawn
    uniformly, keyed by (version, dispatch), until ``concurrency`` train at once; those served
    by one AP share one multicast). An arriving update of a PIU that trained on version v is
    ``tau = version - v`` stale (``rx_update`` event, ``staleness`` column). FedAsync mixes each
    one in at once; FedBuff buffers them and steps every ``buffer_size`` arrivals (see
    :mod:`netsim.fl.asynchronous`); each step takes ``aggregation_s``, then the version is
    evaluated and recorded as a row of the rounds table. A PIU that declines (battery, lost,
    offline) is not asked again before the next version (else it would decline at once, again
    and again); when nobody trains and nobody can be asked, the server waits for a PIU to come
    online, or stops when none is offline.

    Events are ordered deterministically: updates are handled in arrival order, and SimPy
    breaks ties at one instant by scheduling order, which the keyed streams fix.
    """

    def __init__(self, *args: Any, protocol: Asynchronous, **kwargs: Any) -> None:
        super().__init__(*args, protocol=protocol, **kwargs)
        self.mode = protocol.mode
        self.mixing = protocol.mixing
        self.buffer_size = protocol.buffer_size
        self.server_lr = protocol.server_lr
        self.concurrency = protocol.concurrency
        self.version = 0
        self.training: dict[int, int] = {}  # PIU -> the version it trains on
        self.resting: set[int] = set()  # declined since the current version
        self._models: dict[int, torch.Tensor] = {}  # versions that PIUs still train on
        self._dispatches = 0

    def run(self) -> Generator[simpy.Event, object, None]:
        buffer: list[tuple[torch.Tensor, float, float, int]] = []  # delta, s(tau), loss, |D|
        notices = _no_notices()
        t_start = 0.0
        while self.version < self.rounds:
            self._dispatch()
            if not self.training:
                if not any(not p.online for p in self._members()):
                    self.emit("stop", self.version, detail="no PIU can take part")
                    return
                self.emit("wait", self.version, detail="every available PIU declined or is offline")
                self._wake = self.env.event()
                yield self._wake
                continue
            msg = yield self.inbox.get()
            if isinstance(msg, Notice):
                self._decline(msg, notices)
                continue
            assert isinstance(msg, Update)
            base = self.training.pop(msg.piu, None)
            if base is None:  # it declined this model meanwhile (e.g. offline after sending)
                self.emit("discard", self.version, bits=msg.payload.bits, detail=f"piu{msg.piu}")
                continue
            tau = self.version - base
            p = self.protocol
            assert isinstance(p, Asynchronous)
            s = staleness_weight(p.staleness_function, tau, p.staleness_a, p.staleness_b)
            delta = self.compressor.decompress(msg.payload)
            self.last_bits[msg.piu] = msg.payload.bits
            self.emit(
                "rx_update",
                self.version,
                bits=msg.payload.bits,
                staleness=float(tau),
                detail=f"piu{msg.piu} trained on version {base}, s={s:.6g}",
            )
            if self.mode == "fedasync":
                alpha = self.mixing * s
                local = self._models[base] + delta
                yield self.env.timeout(self.aggregation_s)
                self.weights = fedasync_mix(self.weights, local, alpha)
                detail, losses = f"fedasync alpha={alpha:.6g}", [msg.loss]
            else:
                buffer.append((delta, s, msg.loss, msg.num_samples))
                if len(buffer) < self.buffer_size:
                    continue
                yield self.env.timeout(self.aggregation_s)
                self.weights = fedbuff_step(
                    self.weights, [b[0] for b in buffer], [b[1] for b in buffer], self.server_lr
                )
                detail, losses = f"fedbuff K={len(buffer)}", [b[2] for b in buffer]
                buffer.clear()
            loss = sum(losses) / len(losses)
            self.emit(
                "aggregate", self.version, duration_s=self.aggregation_s, loss=loss, detail=detail
            )
            self._conclude(self.version, t_start, len(self.training), len(losses), 0, notices, loss)
            self.version += 1
            t_start, notices = float(self.env.now), _no_notices()
            self.resting.clear()
            self._forget_unused()

    def piu_online(self, piu: int) -> None:
        """A PIU came back: it may be asked again (and a waiting server resumes)."""
        self.resting.discard(piu)
        self._dispatch()
        super().piu_online(piu)

    def _decline(self, msg: Notice, notices: dict[str, set[int]]) -> None:
        """A PIU will not send an update for the model it was given (a notice about another
        model, e.g. one it declined while offline, changes nothing)."""
        if self._note(msg, self.training.get(msg.piu, -1), notices):
            del self.training[msg.piu]
            self.resting.add(msg.piu)
        self._forget_unused()

    def _dispatch(self) -> None:
        """Send the current model to free PIUs until ``concurrency`` are training."""
        limit = len(self.pius) if self.concurrency is None else self.concurrency
        free = [
            p.index
            for p in self._members()
            if p.online and p.index not in self.training and p.index not in self.resting
        ]
        n = min(limit - len(self.training), len(free))
        if n <= 0:
            return
        rng = self.streams.numpy(Stream.SELECTION, self.version, self._dispatches)
        self._dispatches += 1
        chosen = select_uniform(free, n, rng)
        self._models[self.version] = self.weights
        by_ap: dict[int, list[int]] = {}
        for k in chosen:
            self.training[k] = self.version
            by_ap.setdefault(self.pius[k].ap_index, []).append(k)
        self.emit("broadcast", self.version, bits=self.model_bits, detail=f"{n} PIUs")
        # cell-free: the links of the new ones, with every PIU now training sending data
        links = self.full_power_links(list(self.training), self.local_steps)
        for ap, recipients in sorted(by_ap.items()):
            msg = GlobalModel(
                self.version,
                self.weights,
                self.model_bits,
                tuple(recipients),
                self.local_steps,
                links=links,
            )
            self.env.process(self._send(ap, msg))

    def _forget_unused(self) -> None:
        """Drop stored model versions that no PIU trains on any more."""
        used = set(self.training.values()) | {self.version}
        for v in [v for v in self._models if v not in used]:
            del self._models[v]
