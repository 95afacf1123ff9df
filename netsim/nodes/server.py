"""Aggregation server: a generic process that runs an FL protocol object."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy
import torch

from netsim.compress.base import Compressor, dense_bits
from netsim.fl.selection import SelectionReport
from netsim.learn.trainer import Trainer
from netsim.log import EventLog, RoundRecord
from netsim.messages import GlobalModel, RoundLink, Tap
from netsim.nodes.base import Node
from netsim.nodes.link import Backhaul, RoutedLink
from netsim.nodes.signalling import Signalling
from netsim.radio.allocation import CellFreeUplink, RoundAllocator
from netsim.radio.links import Grant
from netsim.rng import Streams

if TYPE_CHECKING:
    from netsim.nodes.protocols import Outcome, ServerProtocol


@dataclass(frozen=True)
class ServerServices:
    """What a server works with besides its protocol.

    trainer: evaluates its models (and the controller's probe loss); compressor: decodes
    the updates; streams: the keyed random streams; signalling: where PIUs say they are
    back online (None: its own); on_round: called with each finished
    :class:`RoundRecord` (progress reporting); tap: an honest-but-curious server's other
    half (:class:`netsim.messages.Tap`: shown every model it sends and every update or
    over-the-air sum it receives), or None.
    """

    trainer: Trainer
    compressor: Compressor
    streams: Streams
    signalling: Signalling | None = None
    on_round: Callable[[RoundRecord], None] | None = None
    tap: Tap | None = None


@dataclass(frozen=True)
class UplinkPlanning:
    """The uplink grants of a cell-free network: an ``allocator`` (power and local
    iterations per round, see :meth:`Server.allocate`), or without one the ``cellfree``
    uplink and its combining ("mr" or "lsfd") at full power (see
    :meth:`Server.full_power_links`); neither: the links plan themselves."""

    allocator: RoundAllocator | None = None
    cellfree: tuple[CellFreeUplink, str] | None = None


@dataclass(frozen=True)
class Scoring:
    """What a server measures besides the test set and when it stops early.

    piu_eval: each PIU's held-out training-set indices and every how many versions to score
    the model on them (``piu_scores``; measurement, no time); target_accuracy: stop after
    the first version whose test accuracy reaches it (None: run every round); plateau:
    (patience, min_delta): stop once the validation loss, the held-out shares' sample-weighted
    mean loss, has not fallen below (1 - min_delta) x its best in ``patience`` evaluations
    (early stopping on a validation criterion; needs ``piu_eval``).
    """

    piu_eval: tuple[Sequence[np.ndarray], int] | None = None
    target_accuracy: float | None = None
    plateau: tuple[int, float] | None = None


@dataclass(frozen=True)
class Tier:
    """Where a server sits: ``name`` in the log; ``serves``: the APs whose PIUs it
    aggregates (None: all); ``stream_key``: appended to its keyed random streams' keys
    (edge servers: their own draws); ``tier``: its rows' tier in the rounds table
    ("global" or "edge")."""

    name: str = "server"
    serves: frozenset[int] | None = None
    stream_key: tuple[int, ...] = ()
    tier: str = "global"


class PIUHandle(Protocol):
    """What the server knows of a PIU: its index, serving AP, whether it is online; it can
    abort its round and report its state for client selection (signalling: no time)."""

    index: int
    online: bool

    @property
    def ap_index(self) -> int:
        """The PIU's serving AP."""

    def abort(self, round_index: int) -> None:
        """Stop the PIU's work on ``round`` (deadline or cut)."""

    def report(self, bits: int, local_steps: int) -> SelectionReport:
        """The PIU's state for client selection (rate, predicted finish, battery)."""


class Server(Node):
    """The aggregation server: one process, the same for every FL protocol.

    It asks its protocol (:mod:`netsim.nodes.protocols`) whom to send the model now
    (``dispatch``: which may also say wait for a PIU to come online, or stop), then takes
    its inbox's messages one at a time, until the protocol's deadline if it has one, and
    hands each to the protocol (``receive``); when the protocol says it is ready, it closes
    the round (``close``: e.g. aborting the late PIUs), spends ``aggregation_s`` of
    simulated time, lets the protocol aggregate (``aggregate``), evaluates the new global
    model on the test set (measurement: takes no simulated time) and records it, until
    ``protocol.rounds`` model versions exist.

    The server's services to its protocol: the global model (``weights``), the PIUs
    (``pius``, :meth:`members`), sending a model to the APs (:meth:`send_model`), the
    uplink grants of a cell-free network (:meth:`full_power_links`, :meth:`allocate`), the
    trainer, the compressor and the event log (:meth:`emit`).

    Parameters
    ----------
    inbox: where APs and PIUs put messages for the server.
    weights: initial global model, flat float32 (P,).
    downlinks: per AP index, the server -> AP link and that AP's inbox (an edge server: its
        own APs; the cloud of hierarchical FL: none, its protocol sends to the edges).
    pius: the federation's PIUs, by index.
    protocol: the FL protocol.
    local_steps: local mini-batch steps a PIU runs on a model (unless the protocol's
        controller or the allocation changes them).
    aggregation_s: simulated time of one aggregation (s).
    services: what it works with besides its protocol (:class:`ServerServices`).
    planning: the cell-free uplink planning (:class:`UplinkPlanning`; default none).
    scoring: what it measures and stops at (:class:`Scoring`; default nothing extra).
    place: where it sits among the tiers (:class:`Tier`; default the global server).
    """

    role = "server"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        *,
        inbox: simpy.Store,
        weights: torch.Tensor,
        downlinks: Mapping[int, tuple[Backhaul, simpy.Store]],
        pius: Sequence[PIUHandle],
        protocol: ServerProtocol,
        local_steps: int,
        aggregation_s: float,
        services: ServerServices,
        planning: UplinkPlanning | None = None,
        scoring: Scoring | None = None,
        place: Tier | None = None,
    ) -> None:
        place = place or Tier()
        planning = planning or UplinkPlanning()
        scoring = scoring or Scoring()
        super().__init__(env, place.name, log)
        self.target_accuracy = scoring.target_accuracy
        self.plateau = scoring.plateau
        self._best: tuple[float, int, int] | None = None  # validation loss, round, evaluations
        self.serves = place.serves
        self.stream_key = place.stream_key
        self.tier = place.tier
        self.piu_eval = scoring.piu_eval
        self.piu_scores: list[tuple[int, int, int, float, float]] = []  # round, piu, n, loss, acc
        self.inbox = inbox
        self.weights = weights
        self.initial_weights = weights.clone()
        self.trainer = services.trainer
        self.compressor = services.compressor
        self.downlinks = dict(downlinks)
        self.pius = list(pius)
        self.protocol = protocol
        self.local_steps = local_steps
        self.aggregation_s = aggregation_s
        self.streams = services.streams
        self.on_round = services.on_round
        self.allocator = planning.allocator
        self.cellfree = planning.cellfree
        self.tap = services.tap
        self.version = 0  # model versions made (rounds)
        self.departed: set[int] = set()  # PIUs that left the federation (battery empty)
        self.last_bits: dict[int, int] = {}  # each PIU's last received payload size
        self.records: list[RoundRecord] = []
        self.solve_times_s: list[float] = []  # wall clock of each allocation (diagnostics)
        self.model_bits = dense_bits(weights.numel())  # the broadcast is uncompressed float32
        self._wake: simpy.Event | None = None  # succeeded when an offline PIU comes back
        self._spent_until = (0.0, 0.0)  # the log's (PIU energy, uplink bits) at the last row
        self.signalling = services.signalling or Signalling()
        self.signalling.on_online(self.piu_online)

    @property
    def rounds(self) -> int:
        """Model versions to make."""
        return self.protocol.rounds

    @property
    def mask(self) -> torch.Tensor | None:
        """(P,) bool: the global model's pruning mask, if the protocol prunes it."""
        return self.protocol.mask

    def start(self) -> None:
        """Start the server's process (the federation's first round begins at once)."""
        self.process = self.env.process(self.run())

    def run(self) -> Generator[simpy.Event, object, None]:
        """The server's process (see the class docstring)."""
        while self.version < self.protocol.rounds:
            made = yield from self.make_version()
            if not made or self._reached_target() or self._plateaued():
                return

    def _reached_target(self) -> bool:
        """Whether the version just made reaches ``target_accuracy`` (logged as a stop). Its
        evaluation runs now: the decision needs it."""
        if self.target_accuracy is None:
            return False
        self.trainer.finish_deferred()
        accuracy = self.records[-1].test_accuracy
        if not accuracy >= self.target_accuracy:
            return False
        self.emit(
            "stop", self.version - 1, accuracy=accuracy, reason="target_accuracy",
            detail=f"test accuracy {accuracy:.4g} >= target {self.target_accuracy:g}",
        )  # fmt: skip
        return True

    def validation_loss(self, r: int) -> float:
        """Version ``r``'s validation loss: the sample-weighted mean loss over the PIUs'
        held-out shares (NaN where it was not scored)."""
        scored = []
        for rr, _, n, loss, _ in reversed(self.piu_scores):  # appended round by round
            if rr < r:
                break
            if rr == r:
                scored.append((n, loss))
        scored.reverse()  # summed in the order the PIUs were scored
        total = sum(n for n, _ in scored)
        return sum(n * loss for n, loss in scored) / total if total else math.nan

    def _plateaued(self) -> bool:
        """Whether the validation loss has stopped improving (``plateau``; logged as a stop
        with the loss). Its evaluation runs now: the decision needs it."""
        if self.plateau is None:
            return False
        patience, min_delta = self.plateau
        self.trainer.finish_deferred()
        r = self.version - 1
        loss = self.validation_loss(r)
        if math.isnan(loss):  # not an evaluation round
            return False
        if self._best is None or loss < (1.0 - min_delta) * self._best[0]:
            self._best = (loss, r, 0)
            return False
        best, best_round, since = self._best
        self._best = (best, best_round, since + 1)
        if since + 1 < patience:
            return False
        self.emit(
            "stop", r, loss=loss, reason="plateau",
            detail=f"validation loss {loss:.4g}: none below {(1 - min_delta) * best:.4g} "
            f"(best {best:.4g} at round {best_round}) in {patience} evaluations",
        )  # fmt: skip
        return True

    def make_version(self) -> Generator[simpy.Event, object, bool]:
        """Run the protocol until it makes the next model version (True) or stops (False)."""
        p = self.protocol
        while True:
            step = p.dispatch(self)
            if step == "stop":
                return False
            if step == "wait":  # until a PIU comes back online
                self._wake = self.env.event()
                yield self._wake
                continue
            get = self.inbox.get()
            deadline = p.deadline
            yield get if deadline is None else (get | deadline)
            if get.triggered:
                ready = p.receive(self, get.value)
            else:
                get.cancel()
                ready = p.time_up(self)
            if not ready:
                continue
            p.close(self)
            yield self.env.timeout(self.aggregation_s)
            self._conclude(p.aggregate(self))
            self.version += 1
            p.next_version(self)
            return True

    def members(self) -> list[PIUHandle]:
        """The PIUs still in the federation (online or not) that this server aggregates."""
        return [
            p
            for p in self.pius
            if p.index not in self.departed and (self.serves is None or p.ap_index in self.serves)
        ]

    def piu_online(self, piu: int) -> None:
        """A PIU came back online (signalling): tell the protocol, resume a waiting server."""
        self.protocol.online(self, piu)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def depart(self, piu: int) -> None:
        """PIU ``piu`` left the federation for good."""
        self.departed.add(piu)

    def send_model(self, msg: GlobalModel, ap: int) -> None:
        """Send ``msg`` to AP ``ap`` over its backhaul, from where it is multicast to
        ``msg.recipients``."""
        if self.tap is not None:
            self.tap.see_model(msg)
        link, inbox = self.downlinks[ap]
        self.env.process(self.transfer(link, inbox, msg, msg.round, msg.bits, f"ap{ap}"))

    def transfer(
        self, link: Backhaul, inbox: simpy.Store, msg: object, r: int, bits: int, peer: str
    ) -> Generator[simpy.Event, object, None]:
        """Process: put ``msg`` (``bits``) into ``inbox`` at the far end of ``link``; on a
        routed backhaul the transfer is logged (``send_start`` / ``send_end`` with its
        route; the star's private links keep their logs as they were)."""
        routed = isinstance(link, RoutedLink)
        if routed:
            self.emit("send_start", r, bits=bits, peer=peer, route=link.route(), detail=peer)
        start = self.env.now
        yield from link.transfer(bits)
        if routed:
            self.emit(
                "send_end", r, bits=bits, duration_s=self.env.now - start, peer=peer,
                route=link.last_route, detail=peer,
            )  # fmt: skip
        inbox.put(msg)

    def spent(self) -> tuple[float, float]:
        """(energy J, uplink bits) the PIUs it aggregates have spent and delivered so far."""
        return (self._log.piu_energy_j, self._log.uplink_bits)

    def _conclude(self, outcome: Outcome) -> None:
        """Record model version ``self.version`` with what the PIUs spent and delivered
        since the previous record, and have it evaluated (:meth:`_evaluate`): at once in
        process, or with a worker pool while the pool trains the next round (the timeline
        never waits for an evaluation; its row and ``evaluate`` event keep their place and
        get the values when computed)."""
        r = self.version
        event_index = len(self._log)
        self.emit("evaluate", r)  # loss and accuracy filled in by _evaluate
        notices = outcome.notices
        spent = self.spent()
        energy_j, uplink_bits = (now - before for now, before in zip(spent, self._spent_until))
        self._spent_until = spent
        record = RoundRecord(
            round=r,
            t_start_s=outcome.t_start_s,
            t_end_s=float(self.env.now),
            selected=outcome.selected,
            aggregated=outcome.aggregated,
            dropped=outcome.dropped,
            skipped=len(notices["skip"]),
            left=len(notices["left"]),
            lost=len(notices["lost"]),
            offline=len(notices["offline"]),
            uplink_bits=uplink_bits,
            energy_j=energy_j,
            train_loss=outcome.train_loss,
            test_loss=math.nan,
            test_accuracy=math.nan,
            tier=self.tier,
            node=self.name,
            epsilon=outcome.epsilon,
        )
        self.records.append(record)
        slot = len(self.records) - 1
        weights = self.weights.clone()  # the version evaluated, whatever happens to it later
        self.trainer.defer(lambda: self._evaluate(weights, event_index, slot))

    def _evaluate(self, weights: torch.Tensor, event_index: int, slot: int) -> None:
        """Score ``weights`` (the version of ``self.records[slot]``) on the test set (and
        the PIUs' held-out shares), fill the values into the round's row and its evaluate
        event (``event_index`` in the log), then hand the row to ``on_round``."""
        record = self.records[slot]
        median_m = p90_m = math.nan
        if self.trainer.position_scale is not None:  # localization: errors in metres
            test_loss, errors = self.trainer.evaluate_positions(weights)
            accuracy = math.nan
            median_m, p90_m = (float(v) for v in np.percentile(errors, [50, 90]))
        else:
            test_loss, accuracy = self.trainer.evaluate(weights)
        self._score_pius(record.round, weights)
        self._log.amend(event_index, loss=test_loss, accuracy=accuracy)
        record = self.records[slot] = replace(
            record, test_loss=test_loss, test_accuracy=accuracy,
            test_median_error_m=median_m, test_p90_error_m=p90_m,
        )  # fmt: skip
        if self.on_round is not None:
            self.on_round(record)

    def _score_pius(self, r: int, weights: torch.Tensor) -> None:
        """Score version ``r`` (``weights``) on every PIU's held-out share, every
        ``eval_every`` versions and at the last."""
        if self.piu_eval is None:
            return
        held, every = self.piu_eval
        if (r + 1) % every and r + 1 < self.protocol.rounds:
            return
        for k, idx in enumerate(held):
            if len(idx):
                loss, accuracy = self.trainer.score(weights, idx)
                self.piu_scores.append((r, k, len(idx), loss, accuracy))

    def allocate(
        self, r: int, selected: list[int], bits: np.ndarray, steps: int
    ) -> dict[int, RoundLink]:
        """Run the allocation for the ``selected`` PIUs sending ``bits`` (n,) each after
        ``steps`` local steps (no simulated time passes: the server solves while the model
        is on its way). The wall-clock solve time goes to ``solve_times_s`` (the manifest's
        diagnostics), never into the event log, which must be the same on every machine."""
        assert self.allocator is not None
        result, rate, sinr = self.allocator.allocate(selected, bits, steps)
        p_max = self.allocator.max_power_w  # (K,) W
        self.solve_times_s.append(result.solve_s)
        detail = (
            f"method={result.method} "
            f"mean_eta={float(result.eta.mean()):.4g} steps={int(result.steps.sum())}"
        )
        if result.status == "ok":
            self.emit("allocate", r, method=result.method, detail=detail)
        else:
            self.emit(
                "allocation_fallback",
                r,
                method=result.method,
                reason="no_solution",
                detail=f"{detail} full power: {result.reason}",
            )
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
        for other access schemes: their PIUs know their own links). Convention: everyone
        sends pilots; the interference counts only the PIUs that send data."""
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
