"""Aggregation server: runs the synchronous FedAvg protocol with an optional deadline."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy
import torch

from netsim.compress.base import Compressor, dense_bits
from netsim.compress.pruning import PruningSchedule, prune_level
from netsim.fl.aggregation import AggregationRule, fedavg_weights, masked_fedavg
from netsim.fl.controllers import Controller, RoundControl
from netsim.fl.protocols import Asynchronous, Synchronous
from netsim.fl.selection import SelectionReport, select_best, select_round_robin, select_uniform
from netsim.learn.trainer import Trainer
from netsim.log import EventLog, RoundRecord
from netsim.nodes.base import Deadline, Node
from netsim.nodes.link import WiredLink
from netsim.nodes.messages import GlobalModel, Notice, OTAAggregate, RoundLink, Update
from netsim.nodes.signalling import Signalling
from netsim.radio.allocation import CellFreeUplink, RoundAllocator
from netsim.radio.links import Grant
from netsim.rng import Stream, Streams

if TYPE_CHECKING:
    from netsim.privacy.attacker import Attacker


class _Abortable(Protocol):
    """What the server knows of a PIU: its index, serving AP, whether it is online; it can
    abort its round and report its state for client selection."""

    index: int
    online: bool

    @property
    def ap_index(self) -> int: ...

    def abort(self, round: int) -> None: ...

    def report(self, bits: int, local_steps: int) -> SelectionReport: ...


class Server(Node):
    """The aggregation server.

    Each round: select PIUs among those still in the federation and online (if every one is
    offline, wait until one comes back: ``wait``); send the global model to
    their APs over the backhaul (serialisation + latency), from where it is multicast; wait
    until every selected PIU has delivered or declined, or the deadline (from the round
    start) fires, or (over-commitment) the first ``target_updates`` updates are in; abort the
    others (``deadline_miss`` / ``cut``); aggregate the updates received (FedAvg weights
    |D_k| / sum |D|, or a robust rule; ``aggregation_s`` of simulated time); evaluate the new
    global model on the test set (measurement: takes no simulated time).

    Parameters
    ----------
    weights: initial global model, flat float32 (P,).
    protocol: the scenario's protocol settings: rounds, deadline, clients per round and
        their selection policy, over-commitment target (the asynchronous subclass reads its
        own settings from it too).
    downlinks: per AP, the server -> AP link and that AP's inbox.
    controller, probe_indices: optional adaptive controller (AFC-FL, ADACOMM, AdaQuantFL)
        and the training samples its loss is measured on.
    pruning, rewind: optional magnitude-pruning schedule of the global model (shared mask;
        ``rewind`` resets survivors to the initial weights at each level).
    allocator: optional cell-free power / local-iteration allocation run at each round
        start for the selected PIUs (expected payload: each PIU's last received size, else
        the compressor's plan); logged as ``allocate`` or ``allocation_fallback``.
    cellfree: without an allocator, the cell-free uplink and its combining ("mr" or
        "lsfd"): each round's selected PIUs get their full-power links with only the
        selected PIUs sending data (everyone sends pilots).
    rule: how digital updates are combined (FedAvg, or a robust rule: median, trimmed
        mean, norm clipping); sub-models of own-scope pruning always use masked FedAvg.
    on_round: called with each finished :class:`RoundRecord` (progress reporting).
    """

    role = "server"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        *,
        inbox: simpy.Store,
        weights: torch.Tensor,
        trainer: Trainer,
        compressor: Compressor,
        downlinks: Sequence[tuple[WiredLink, simpy.Store]],
        pius: Sequence[_Abortable],
        protocol: Synchronous | Asynchronous,
        local_steps: int,
        aggregation_s: float,
        streams: Streams,
        signalling: Signalling | None = None,
        on_round: Callable[[RoundRecord], None] | None = None,
        over_the_air: bool = False,
        controller: Controller | None = None,
        probe_indices: np.ndarray | None = None,
        pruning: PruningSchedule | None = None,
        rewind: bool = False,
        allocator: RoundAllocator | None = None,
        rule: AggregationRule | None = None,
        cellfree: tuple[CellFreeUplink, str] | None = None,
        attacker: Attacker | None = None,
    ) -> None:
        super().__init__(env, "server", log)
        self.inbox = inbox
        self.weights = weights
        self.trainer = trainer
        self.compressor = compressor
        self.downlinks = list(downlinks)
        self.pius = list(pius)
        self.protocol = protocol
        self.rounds = protocol.rounds
        self.local_steps = local_steps
        self.aggregation_s = aggregation_s
        self.streams = streams
        self.on_round = on_round
        self.over_the_air = over_the_air
        self.controller = controller
        self.pruning = pruning
        self.rewind = rewind
        self.rule = rule or AggregationRule()
        self._wake: simpy.Event | None = None  # succeeded when an offline PIU comes back
        self.mask: torch.Tensor | None = None
        self.allocator = allocator
        self.cellfree = cellfree
        self.attacker = attacker  # an honest-but-curious server's other half
        self.solve_times_s: list[float] = []  # wall clock of each allocation (diagnostics)
        self.last_bits: dict[int, int] = {}  # each PIU's last received payload size
        self.initial_weights = weights.clone()
        self.probe_indices = probe_indices if probe_indices is not None else np.arange(0)
        self.departed: set[int] = set()
        self.records: list[RoundRecord] = []
        self.model_bits = dense_bits(weights.numel())  # the broadcast is uncompressed float32
        if signalling is not None:
            signalling.on_online(self.piu_online)

    def start(self) -> None:
        """Start the server's process (the federation's first round begins at once)."""
        self.process = self.env.process(self.run())

    @property
    def _sync(self) -> Synchronous:
        assert isinstance(self.protocol, Synchronous)
        return self.protocol

    def run(self) -> Generator[simpy.Event, object, None]:
        r = 0
        while r < self.rounds:
            members = self._members()
            if not members:
                self.emit("stop", r, detail="no PIU left in the federation")
                return
            active = [p.index for p in members if p.online]
            if not active:
                self.emit("wait", r, detail="every PIU is offline")
                self._wake = self.env.event()
                yield self._wake
                continue
            yield from self._round(r, active)
            r += 1

    def _members(self) -> list[_Abortable]:
        """The PIUs still in the federation (online or not)."""
        return [p for p in self.pius if p.index not in self.departed]

    def piu_online(self, piu: int) -> None:
        """A PIU came back online (signalling): resume a server waiting for one."""
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _round(self, r: int, active: list[int]) -> Generator[simpy.Event, object, None]:
        t_start = self.env.now
        selected = self._select(r, active)
        by_ap: dict[int, list[int]] = {}
        for k in selected:
            by_ap.setdefault(self.pius[k].ap_index, []).append(k)
        deadline_s = self._sync.deadline_s
        deadline_at = t_start + deadline_s if deadline_s is not None else None
        control = self._control(r)
        mask_changed = self._prune(r)
        model_bits = self._model_bits(mask_changed)
        links: dict[int, RoundLink] | None
        if self.allocator is not None:
            links = self._allocate(r, selected, control)
        else:
            links = self.full_power_links(selected, control.local_steps)
        self.emit("broadcast", r, bits=model_bits, detail=f"{len(selected)} PIUs")
        for ap, recipients in sorted(by_ap.items()):
            msg = GlobalModel(
                r,
                self.weights,
                model_bits,
                tuple(recipients),
                control.local_steps,
                deadline_at,
                control.fidelity,
                self.mask,
                links,
            )
            if self.attacker is not None:
                self.attacker.see_model(msg)
            self.env.process(self._send(ap, msg))

        if self.over_the_air:
            parts, notices, late = yield from self._collect_over_the_air(r, set(by_ap))
        else:
            parts, notices = yield from self._collect(r, set(selected))
            late = sorted(set(selected) - set().union(*notices.values()) - _pius_of(parts))
        target = self._sync.target_updates
        enough = target is not None and len(_pius_of(parts)) >= target
        for k in late:
            if enough:
                first = f"the first {target} updates are in"
                self.emit("cut", r, detail=f"piu{k}: {first}")
            else:
                self.emit("deadline_miss", r, detail=f"piu{k}")
            self.pius[k].abort(r)

        yield self.env.timeout(self.aggregation_s)
        parts = [p for p in parts if p.weight > 0]
        sizes = [p.weight for p in parts]
        if any(p.mask is not None for p in parts):  # sub-models: average what each carries
            everything = torch.ones_like(self.weights, dtype=torch.bool)
            masks = [everything if p.mask is None else p.mask for p in parts]
            self.weights = masked_fedavg(self.weights, [p.delta for p in parts], sizes, masks)
            rule = "fedavg"
        else:
            self.weights, rule = self.rule.apply(self.weights, [p.delta for p in parts], sizes)
        train_loss = (
            float(np.dot(fedavg_weights(sizes), [p.loss for p in parts])) if parts else math.nan
        )
        n_updates = sum(len(p.pius) for p in parts)
        self.emit(
            "aggregate",
            r,
            duration_s=self.aggregation_s,
            loss=train_loss,
            detail=f"{n_updates} updates" + ("" if rule == "fedavg" else f", {rule}"),
        )
        self._conclude(r, t_start, len(selected), n_updates, len(late), notices, train_loss)

    def _conclude(
        self,
        r: int,
        t_start: float,
        selected: int,
        aggregated: int,
        dropped: int,
        notices: dict[str, set[int]],
        train_loss: float,
    ) -> None:
        """Evaluate model version ``r`` (measurement: no simulated time) and record it."""
        test_loss, accuracy = self.trainer.evaluate(self.weights)
        self.emit("evaluate", r, loss=test_loss, accuracy=accuracy)
        record = RoundRecord(
            round=r,
            t_start_s=t_start,
            t_end_s=float(self.env.now),
            selected=selected,
            aggregated=aggregated,
            dropped=dropped,
            skipped=len(notices["skip"]),
            left=len(notices["left"]),
            lost=len(notices["lost"]),
            offline=len(notices["offline"]),
            uplink_bits=math.nan,
            energy_j=math.nan,
            train_loss=train_loss,
            test_loss=test_loss,
            test_accuracy=accuracy,
        )
        self.records.append(record)
        if self.on_round is not None:
            self.on_round(record)

    def _select(self, r: int, active: list[int]) -> list[int]:
        """The round's PIUs under the selection policy; a ranking policy logs every
        candidate's report (``candidate`` events: rate, predicted time, battery)."""
        k, selection = self._sync.clients_per_round, self._sync.selection
        if selection == "random":
            return select_uniform(active, k, self.streams.numpy(Stream.SELECTION, r))
        if selection == "round_robin":
            return select_round_robin(active, k, r)
        reports = {
            i: self.pius[i].report(self.last_bits.get(i, self.model_bits), self.local_steps)
            for i in active
        }
        selected = select_best(reports, k, selection)
        chosen = set(selected)
        for i, rep in reports.items():
            self.emit(
                "candidate",
                r,
                duration_s=rep.finish_s,
                rate_bps=rep.rate_bps,
                battery_j=rep.battery_j,
                detail=f"piu{i} {'selected' if i in chosen else 'passed'} ({selection})",
            )
        return selected

    def _prune(self, r: int) -> bool:
        """Prune the global model if the schedule says so this round; True if it did."""
        due = self.pruning.fraction_at(r) if self.pruning is not None else None
        if due is None:
            return False
        level, fraction = due
        self.mask, size_bits, detail = prune_level(
            self.weights, self.trainer.prunable(), self.mask, fraction, level
        )
        base = self.initial_weights if self.rewind else self.weights
        self.weights = base * self.mask
        self.emit("prune", r, bits=size_bits, detail=detail)
        return True

    def _allocate(self, r: int, selected: list[int], control: RoundControl) -> dict[int, RoundLink]:
        """Run the allocation for the selected PIUs (no simulated time passes: the server
        solves while the model is on its way). The wall-clock solve time goes to
        ``solve_times_s`` (the manifest's diagnostics), never into the event log, which
        must be the same on every machine."""
        assert self.allocator is not None
        entries = self.weights.numel() if self.mask is None else int(self.mask.sum())
        planned = self.compressor.planned_bits(entries, control.fidelity)
        bits = np.array([self.last_bits.get(k, planned) for k in selected], dtype=float)
        result, rate, sinr = self.allocator.allocate(selected, bits, control.local_steps)
        p_max = self.allocator.max_power_w  # (K,) W
        self.solve_times_s.append(result.solve_s)
        detail = (
            f"method={result.method} "
            f"mean_eta={float(result.eta.mean()):.4g} steps={int(result.steps.sum())}"
        )
        if result.status == "ok":
            self.emit("allocate", r, detail=detail)
        else:
            self.emit("allocation_fallback", r, detail=f"{detail} full power: {result.reason}")
        return {
            k: RoundLink(
                Grant(
                    float(p_max[k] * result.eta[i]), float(rate[i]), float(10 * np.log10(sinr[i]))
                ),
                int(result.steps[i]),
            )
            for i, k in enumerate(selected)
        }

    def full_power_links(self, sending: list[int], steps: int) -> dict[int, RoundLink] | None:
        """Cell-free links at full power of the PIUs ``sending`` data at the same time (None
        for other access schemes: their PIUs know their own links)."""
        if self.cellfree is None or not sending:
            return None
        uplink, combining = self.cellfree
        keep = np.asarray(sorted(sending))
        rate, sinr = uplink.full_power(keep, combining)
        return {
            int(k): RoundLink(
                Grant(float(uplink.rho[k]), float(rate[i]), float(10 * np.log10(sinr[i]))), steps
            )
            for i, k in enumerate(keep)
        }

    def _model_bits(self, with_mask: bool) -> int:
        """Broadcast size: 32 bits per kept weight, plus an n-bit mask when it changed."""
        if self.mask is None:
            return self.model_bits
        return 32 * int(self.mask.sum()) + (self.mask.numel() if with_mask else 0)

    def _control(self, r: int) -> RoundControl:
        """This round's local steps and compression fidelity (fixed, or from the adaptive
        controller fed with the global model's probe loss; computing it takes no simulated
        time)."""
        if self.controller is None:
            return RoundControl(self.local_steps)
        loss = self.trainer.train_loss(self.weights, self.probe_indices)
        control = self.controller.update(loss)
        fidelity = "" if control.fidelity is None else f" C={control.fidelity}"
        self.emit("control", r, loss=loss, detail=f"local_steps={control.local_steps}{fidelity}")
        return control

    def _send(self, ap: int, msg: GlobalModel) -> Generator[simpy.Event, object, None]:
        link, ap_inbox = self.downlinks[ap]
        yield from link.transfer(msg.bits)
        ap_inbox.put(msg)

    def _collect(
        self, r: int, pending: set[int]
    ) -> Generator[simpy.Event, object, tuple[list[_Part], dict[str, set[int]]]]:
        """Receive digital updates until nothing is pending, the deadline fires or the first
        ``target_updates`` have arrived."""
        received: list[_Part] = []
        notices = _no_notices()
        limit_s = self._sync.deadline_s
        deadline = Deadline(self.env, limit_s) if limit_s is not None else None
        target = self._sync.target_updates or math.inf
        while pending and len(received) < target:
            get = self.inbox.get()
            yield get if deadline is None else (get | deadline)
            if not get.triggered:
                get.cancel()
                break
            msg = get.value
            if isinstance(msg, Notice):
                if self._note(msg, r, notices):
                    pending.discard(msg.piu)
            elif isinstance(msg, Update):
                if msg.round != r:
                    self.compressor.undo(msg.piu, msg.round)  # the PIU is told: not received
                    self.emit(
                        "discard",
                        r,
                        bits=msg.payload.bits,
                        detail=f"piu{msg.piu} update of round {msg.round}",
                    )
                    continue
                delta = self.compressor.decompress(msg.payload)
                mask = self.mask if msg.mask is None else msg.mask
                if mask is not None:  # scatter the unpruned entries back
                    delta = torch.zeros(mask.numel(), dtype=delta.dtype).masked_scatter(mask, delta)
                received.append(_Part(msg.num_samples, delta, msg.loss, (msg.piu,), msg.mask))
                if self.attacker is not None:
                    self.attacker.see_update(self.env.now, msg, delta)
                self.last_bits[msg.piu] = msg.payload.bits
                pending.discard(msg.piu)
                self.emit("rx_update", r, bits=msg.payload.bits, detail=f"piu{msg.piu}")
        return sorted(received, key=lambda p: p.pius), notices

    def _collect_over_the_air(
        self, r: int, aps: set[int]
    ) -> Generator[simpy.Event, object, tuple[list[_Part], dict[str, set[int]], list[int]]]:
        """Receive one over-the-air aggregate from every AP of the round (the APs enforce the
        deadline: they transmit with whoever is ready by then)."""
        parts: list[_Part] = []
        notices = _no_notices()
        late: list[int] = []
        while aps:
            msg = yield self.inbox.get()
            if isinstance(msg, Notice):
                self._note(msg, r, notices)
            elif isinstance(msg, OTAAggregate) and msg.round == r:
                aps.discard(msg.ap)
                if self.attacker is not None:
                    self.attacker.see_aggregate(self.env.now, msg)
                parts.append(_Part(msg.weight, msg.delta, msg.loss, msg.contributors))
                late.extend(msg.late)
                self.emit(
                    "rx_update",
                    r,
                    bits=msg.bits,
                    detail=f"ap{msg.ap} over the air: {len(msg.contributors)} PIUs",
                )
        return sorted(parts, key=lambda p: p.pius), notices, sorted(late)

    def _note(self, msg: Notice, r: int, notices: dict[str, set[int]]) -> bool:
        """Record a PIU's notice; True if it concerns round r."""
        if msg.kind == "left":
            self.departed.add(msg.piu)
        if msg.round != r:
            return False
        notices[msg.kind].add(msg.piu)
        return True


@dataclass(frozen=True)
class _Part:
    """One input of the aggregation: a PIU's update (digital) or an AP's over-the-air sum.

    weight: |D| behind it; delta: (P,) the (weighted-average) update; loss: its train loss;
    pius: the PIUs it contains; mask: the entries it carries if not all (own-scope pruning).
    """

    weight: int
    delta: torch.Tensor
    loss: float
    pius: tuple[int, ...]
    mask: torch.Tensor | None = None  # (P,) bool: entries it carries (a PIU's own pruning)


def _no_notices() -> dict[str, set[int]]:
    return {"skip": set(), "left": set(), "lost": set(), "offline": set()}


def _pius_of(parts: list[_Part]) -> set[int]:
    return {k for p in parts for k in p.pius}
