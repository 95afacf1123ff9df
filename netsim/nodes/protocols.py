"""FL protocols as objects the generic server process runs (in the spirit of Flower's
Strategy): synchronous rounds (deadline, over-commitment, over the air), FedAsync and
FedBuff.

The interface (:class:`ServerProtocol`), called by :class:`netsim.nodes.server.Server`:

* ``dispatch(server)``: send the current model to whom it should go now; return "go", or
  "wait" (nobody can take part until a PIU comes back online) or "stop";
* ``deadline``: an event after which the protocol wants to stop waiting (or None);
* ``receive(server, msg)``: take one message from the inbox (an update, a notice, an
  over-the-air sum); True when it is time to aggregate; ``time_up(server)``: the deadline
  fired (True: aggregate now);
* ``close(server)``: the aggregation is about to start (abort those still working);
* ``aggregate(server)``: after ``aggregation_s``: set ``server.weights``, log the
  ``aggregate`` event and return the :class:`Outcome` the server records after evaluating;
* ``next_version(server)`` and ``online(server, piu)``: bookkeeping hooks.

:class:`CloudRounds` is the cloud's protocol of hierarchical FL: its participants are edge
servers (:class:`netsim.nodes.edge.EdgeServer`), each running :class:`SyncRounds` over
its own PIUs.

A new FL algorithm (a local rule, a combination, server or client state) is an
:class:`netsim.fl.algorithms.Algorithm`, which :class:`SyncRounds` runs; a new round
structure (asynchronous, tiered, ...) is a protocol here, or a subclass of one that
overrides what it changes (typically ``aggregate``); the server process does not change.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import simpy
import torch
from typing_extensions import override

from netsim.compress.base import dense_bits
from netsim.compress.pruning import PruningSchedule, prune_level
from netsim.fl.aggregation import StreamingFedAvg, fedavg, fedavg_weights
from netsim.fl.algorithms import Algorithm, Part, RoundFacts
from netsim.fl.asynchronous import fedasync_mix, fedbuff_step, staleness_weight
from netsim.fl.controllers import Controller, RoundControl
from netsim.fl.protocols import Asynchronous, Synchronous
from netsim.fl.selection import (
    SelectionReport,
    select_best,
    select_round_robin,
    select_uniform,
)
from netsim.fl.server_optimizers import ServerOptimizer
from netsim.messages import EdgeModel, GlobalModel, Notice, OTAAggregate, RoundLink, Update
from netsim.nodes.base import Deadline
from netsim.nodes.forecast import SNRForecast
from netsim.rng import Stream

if TYPE_CHECKING:
    from netsim.nodes.edge import EdgeServer
    from netsim.nodes.server import Server

Step = Literal["go", "wait", "stop"]
NoticeKind = Literal["skip", "left", "lost", "offline"]


@dataclass(frozen=True)
class Outcome:
    """What one aggregation made of a round (or of a version, asynchronously): its start
    time (s), PIUs selected, updates aggregated, PIUs dropped (deadline or cut), the PIUs'
    notices by kind, the aggregated updates' |D|-weighted train loss and the PIUs whose
    updates it aggregated (synchronous rounds)."""

    t_start_s: float
    selected: int
    aggregated: int
    dropped: int
    notices: dict[str, set[int]]
    train_loss: float
    contributors: frozenset[int] = frozenset()
    epsilon: float = math.nan  # differential privacy spent so far (DP-FedAvg), at its delta


class ServerProtocol(ABC):
    """An FL protocol run by the server (see the module docstring for the interface).

    rounds: model versions to make.
    """

    rounds: int
    mask: torch.Tensor | None = None  # (P,) bool: the global model's pruning mask, if any

    @property
    def deadline(self) -> simpy.Event | None:
        """An event after which the server stops waiting for messages (None: no deadline)."""
        return None

    @abstractmethod
    def dispatch(self, server: Server) -> Step:
        """Send the current model to whom it should go now; "go", "wait" or "stop"."""

    @abstractmethod
    def receive(self, server: Server, msg: object) -> bool:
        """Take one message of the server's inbox; True when it is time to aggregate."""

    def time_up(self, server: Server) -> bool:
        """The deadline fired; True to aggregate now."""
        return True

    def close(self, server: Server) -> None:
        """The aggregation is about to start (abort whoever is still working)."""
        return None

    @abstractmethod
    def aggregate(self, server: Server) -> Outcome:
        """After ``aggregation_s``: set ``server.weights``, log ``aggregate``, say what it made."""

    def next_version(self, server: Server) -> None:
        """The new version is recorded (bookkeeping before the next dispatch)."""
        return None

    def online(self, server: Server, piu: int) -> None:
        """PIU ``piu`` came back online (signalling)."""
        return None


_STREAMED = torch.empty(0)  # a Part's delta under streaming FedAvg: already in the sum


def _no_notices() -> dict[str, set[int]]:
    return {"skip": set(), "left": set(), "lost": set(), "offline": set()}


def _pius_of(parts: Iterable[Part]) -> set[int]:
    return {k for p in parts for k in p.pius}


def note(server: Server, msg: Notice, about: int, notices: dict[str, set[int]]) -> bool:
    """Record a PIU's notice (one that left is gone for good); True if it concerns model
    version ``about``."""
    if msg.kind == "left":
        server.depart(msg.piu)
    if msg.round != about:
        return False
    notices[msg.kind].add(msg.piu)
    return True


@dataclass
class _Round:
    """The state of one synchronous round."""

    t_start_s: float
    selected: list[int]
    pending: set[int]  # digital: PIUs still expected; over the air: APs still expected
    deadline: Deadline | None
    parts: list[Part] = field(default_factory=list)
    notices: dict[str, set[int]] = field(default_factory=_no_notices)
    late: list[int] = field(default_factory=list)
    population: int = 0  # PIUs in the federation at the start (DP's sampling rate)


class SyncRounds(ServerProtocol):
    """Synchronous rounds of FedAvg (McMahan et al. 2017), with their options.

    Each round: select PIUs among those still in the federation and online (if every one is
    offline, wait until one comes back: ``wait``); send the global model to their APs; wait
    until every selected PIU has delivered or declined, or the deadline (from the round
    start) fires, or (over-commitment) the first ``target_updates`` updates are in; abort
    the others (``deadline_miss`` / ``cut``); aggregate the updates received (FedAvg
    weights |D_k| / sum |D|, or a robust rule). Over the air, the server receives one sum
    per AP of the round (the APs enforce the deadline).

    Parameters
    ----------
    settings: rounds, deadline, clients per round, selection policy, over-commitment.
    algorithm: the FL algorithm's server half (``netsim.fl.algorithms``: FedAvg with its
        aggregation rule, FedProx, FedNova, SCAFFOLD, FedDyn, DP around any of them): what
        goes down with the model, how an upload unpacks, how the round's updates combine,
        the state after the round and the privacy spent (into the round's record). The
        PIUs it aggregates hold the same object (its client half).
    optimizer: the server optimiser applied to the combined update (FedAvgM, FedAdagrad,
        FedAdam, FedYogi; default plain FedAvg).
    over_the_air: the APs aggregate over the air.
    controller, probe_indices: optional adaptive controller (AFC-FL, ADACOMM, AdaQuantFL)
        and the training samples its loss is measured on.
    pruning, rewind: optional magnitude-pruning schedule of the global model (shared mask;
        ``rewind`` resets survivors to the initial weights at each level).
    """

    def __init__(
        self,
        settings: Synchronous,
        *,
        algorithm: Algorithm | None = None,
        optimizer: ServerOptimizer | None = None,
        over_the_air: bool = False,
        controller: Controller | None = None,
        probe_indices: np.ndarray | None = None,
        pruning: PruningSchedule | None = None,
        rewind: bool = False,
        forecast: SNRForecast | None = None,
        streaming: bool = False,
    ) -> None:
        self.settings = settings
        self.streaming = streaming  # FedAvg by a running sum (StreamingFedAvg)
        self._stream: StreamingFedAvg | None = None  # the round's
        self.forecast = forecast  # selection "predictive": the SNR forecast
        self._predicted_limit_s: float | None = None  # the next round's predicted deadline
        self.rounds = settings.rounds
        self.algorithm = algorithm or Algorithm()
        self.optimizer = optimizer or ServerOptimizer()
        self.over_the_air = over_the_air
        self.controller = controller
        self.probe_indices = probe_indices if probe_indices is not None else np.arange(0)
        self.pruning = pruning
        self.rewind = rewind
        self.mask = None
        self._round: _Round | None = None

    @override
    @property
    def deadline(self) -> simpy.Event | None:
        return None if self._round is None else self._round.deadline

    @override
    def dispatch(self, server: Server) -> Step:
        if self._round is not None:  # the round is under way
            return "go"
        r = server.version
        members = server.members()
        if not members:
            server.emit("stop", r, reason="no_members", detail="no PIU left in the federation")
            return "stop"
        active = [p.index for p in members if p.online]
        if not active:
            server.emit("wait", r, reason="offline", detail="every PIU is offline")
            return "wait"
        self._start(server, r, active)
        return "go"

    def _start(self, server: Server, r: int, active: list[int]) -> None:
        """Decide the round's local steps and fidelity (once: the selection ranks, the
        allocation plans and the PIUs train by them), select the round's PIUs and send them
        the model."""
        t_start = server.env.now
        state = self.algorithm.server_state(server.weights)
        control = self._control(server, r)
        selected = self._select(server, r, active, control.local_steps)
        by_ap: dict[int, list[int]] = {}
        for k in selected:
            by_ap.setdefault(server.pius[k].ap_index, []).append(k)
        limit_s = self.settings.deadline_s
        if self._predicted_limit_s is not None:  # predictive: the forecast's own deadline
            limit_s = min(limit_s or math.inf, self._predicted_limit_s)
            self._predicted_limit_s = None
            server.emit("deadline", r, duration_s=limit_s, method="predictive",
                        detail=f"{limit_s:.4g} s from the predicted finishes")  # fmt: skip
        deadline_at = t_start + limit_s if limit_s is not None else None
        mask_changed = self._prune(server, r)
        model_bits = self._model_bits(server, mask_changed, state)
        links: dict[int, RoundLink] | None
        if server.allocator is not None:
            entries = server.weights.numel() if self.mask is None else int(self.mask.sum())
            planned = server.compressor.planned_bits(entries, control.fidelity)
            bits = np.array([server.last_bits.get(k, planned) for k in selected], dtype=float)
            links = server.allocate(r, selected, bits, control.local_steps)
        else:
            links = server.full_power_links(selected, control.local_steps)
        server.emit("broadcast", r, bits=model_bits, detail=f"{len(selected)} PIUs")
        self._stream = StreamingFedAvg(server.weights) if self.streaming else None
        for ap, recipients in sorted(by_ap.items()):
            msg = GlobalModel(
                r,
                server.weights,
                model_bits,
                tuple(recipients),
                control.local_steps,
                deadline_at,
                control.fidelity,
                self.mask,
                links,
                state,
                self._stream,
            )
            server.send_model(msg, ap)
        # the server enforces the deadline of digital uplinks; over the air, the APs do
        deadline = None
        if limit_s is not None and not self.over_the_air:
            deadline = Deadline(server.env, limit_s)
        pending = set(by_ap) if self.over_the_air else set(selected)
        self._round = _Round(t_start, selected, pending, deadline, population=len(server.members()))

    @override
    def receive(self, server: Server, msg: object) -> bool:
        rd = self._round
        assert rd is not None
        r = server.version
        if isinstance(msg, Notice):
            if note(server, msg, r, rd.notices) and not self.over_the_air:
                rd.pending.discard(msg.piu)
        elif isinstance(msg, OTAAggregate):
            if msg.round == r:
                self._receive_sum(server, msg)
        elif isinstance(msg, Update):
            self._receive_update(server, msg)
        target = self.settings.target_updates or math.inf
        return not rd.pending or len(rd.parts) >= target

    def _receive_update(self, server: Server, msg: Update) -> None:
        rd, r = self._round, server.version
        assert rd is not None
        if msg.round != r:
            server.signalling.discarded(msg.piu, msg.round)  # for the PIU: not delivered
            server.emit(
                "discard",
                r,
                bits=msg.payload.bits,
                peer=f"piu{msg.piu}",
                reason="stale",
                detail=f"piu{msg.piu} update of round {msg.round}",
            )
            return
        # streaming: the round's sum took the update when it was trained
        delta = _STREAMED if self._stream is not None else server.compressor.decompress(msg.payload)
        delta, side = self.algorithm.unpack(delta)
        mask = self.mask if msg.mask is None else msg.mask
        if mask is not None:  # scatter the unpruned entries back
            delta = torch.zeros(mask.numel(), dtype=delta.dtype).masked_scatter(mask, delta)
        rd.parts.append(
            Part(msg.num_samples, delta, msg.loss, (msg.piu,), msg.mask, msg.local_steps, side)
        )
        if server.tap is not None:
            server.tap.see_update(server.env.now, msg, delta)
        server.last_bits[msg.piu] = msg.payload.bits
        rd.pending.discard(msg.piu)
        server.emit(
            "rx_update", r, bits=msg.payload.bits, peer=f"piu{msg.piu}", detail=f"piu{msg.piu}"
        )

    def _receive_sum(self, server: Server, msg: OTAAggregate) -> None:
        rd = self._round
        assert rd is not None
        rd.pending.discard(msg.ap)
        if server.tap is not None:
            server.tap.see_aggregate(server.env.now, msg)
        rd.parts.append(
            Part(msg.weight, msg.delta, msg.loss, msg.contributors, noise_var=msg.noise_var)
        )
        rd.late.extend(msg.late)
        server.emit(
            "rx_update",
            server.version,
            bits=msg.bits,
            peer=f"ap{msg.ap}",
            method="ota",
            detail=f"ap{msg.ap} over the air: {len(msg.contributors)} PIUs",
        )

    def close(self, server: Server) -> None:
        """Abort the PIUs that are still working: past the deadline, or cut once the first
        ``target_updates`` are in."""
        rd, r = self._round, server.version
        assert rd is not None
        rd.parts.sort(key=lambda p: p.pius)
        if self.over_the_air:
            rd.late = sorted(rd.late)
        else:
            declined = set().union(*rd.notices.values())
            rd.late = sorted(set(rd.selected) - declined - _pius_of(rd.parts))
        target = self.settings.target_updates
        enough = target is not None and len(_pius_of(rd.parts)) >= target
        for k in rd.late:
            if enough:
                first = f"piu{k}: the first {target} updates are in"
                server.emit("cut", r, peer=f"piu{k}", reason="target_reached", detail=first)
            else:
                server.emit("deadline_miss", r, peer=f"piu{k}", reason="deadline", detail=f"piu{k}")
            server.pius[k].abort(r)

    @override
    def aggregate(self, server: Server) -> Outcome:
        rd, r = self._round, server.version
        assert rd is not None
        parts = [p for p in rd.parts if p.weight > 0]
        sizes = [p.weight for p in parts]
        aggregated, method, rule = self._combine(server, rd, parts)
        self.algorithm.after_round(parts)
        epsilon = self.algorithm.epsilon()
        if parts and not self.optimizer.is_identity:
            aggregated = self.optimizer.step(server.weights, aggregated)
            if self.mask is not None:  # pruned weights stay zero whatever the moments say
                aggregated = aggregated * self.mask
            rule += f", server {self.optimizer.name} lr={self.optimizer.lr:g}"
        server.weights = aggregated
        train_loss = (
            float(np.dot(fedavg_weights(sizes), [p.loss for p in parts])) if parts else math.nan
        )
        n_updates = sum(len(p.pius) for p in parts)
        server.emit(
            "aggregate",
            r,
            duration_s=server.aggregation_s,
            loss=train_loss,
            method=method,
            detail=f"{n_updates} updates" + ("" if rule == "fedavg" else f", {rule}"),
        )
        self._round = None
        return Outcome(
            rd.t_start_s, len(rd.selected), n_updates, len(rd.late), rd.notices, train_loss,
            frozenset(_pius_of(parts)), epsilon,
        )  # fmt: skip

    def _combine(
        self, server: Server, rd: _Round, parts: list[Part]
    ) -> tuple[torch.Tensor, str, str]:
        """The round's new model before the server optimiser, the ``method`` and the note
        of the aggregate event: the round's running sum (streaming), else the algorithm's."""
        if self._stream is not None:  # the updates are in the round's sum already
            aggregated = self._stream.result(_pius_of(parts))
            self._stream = None
            return aggregated, "fedavg", "fedavg by a running sum"
        facts = RoundFacts(
            server.weights,
            len(rd.selected),
            rd.population,
            self.over_the_air,
            lambda: server.streams.torch(Stream.DP, server.version, *server.stream_key),
        )
        combined = self.algorithm.combine(facts, parts)
        return combined.weights, combined.method, combined.note

    def _select(self, server: Server, r: int, active: list[int], steps: int) -> list[int]:
        """The round's PIUs under the selection policy; a ranking policy logs every
        candidate's report at the round's ``steps`` local steps (``candidate`` events: rate,
        predicted time, battery)."""
        k, selection = self.settings.clients_per_round, self.settings.selection
        if selection == "random":
            rng = server.streams.numpy(Stream.SELECTION, r, *server.stream_key)
            return select_uniform(active, k, rng)
        if selection == "round_robin":
            return select_round_robin(active, k, r)
        if selection == "predictive":
            return self._select_predictive(server, r, active, steps)
        reports = {
            i: server.pius[i].report(server.last_bits.get(i, server.model_bits), steps)
            for i in active
        }
        selected = select_best(reports, k, selection)
        chosen = set(selected)
        for i, rep in reports.items():
            server.emit(
                "candidate",
                r,
                duration_s=rep.finish_s,
                rate_bps=rep.rate_bps,
                battery_j=rep.battery_j,
                peer=f"piu{i}",
                method=selection,
                reason="selected" if i in chosen else "passed",
                detail=f"piu{i} {'selected' if i in chosen else 'passed'} ({selection})",
            )
        return selected

    def _select_predictive(
        self, server: Server, r: int, active: list[int], steps: int
    ) -> list[int]:
        """The closed loop (netsim/nodes/forecast.py): the earliest predicted finishes at
        the forecast SNR; on fixed-rate links a uniform draw among the PIUs not forecast to
        be in outage (among all if every one is). Each candidate's ``candidate`` event
        holds the forecast SNR and rate, the predicted finish, and the decision with the
        SNR that came true."""
        forecast, k = self.forecast, self.settings.clients_per_round
        assert forecast is not None
        now = server.env.now
        snr_db = forecast.predict(active, now, server.weights)
        target = forecast.target_rate_bps
        predicted: dict[int, SelectionReport] = {}  # each report at the forecast rate
        for i, snr in zip(active, snr_db, strict=True):
            bits = server.last_bits.get(i, server.model_bits)
            rep = server.pius[i].report(bits, steps)
            rate = forecast.rate_bps(float(snr), rep.power_w, rep.bandwidth_hz)
            sent_at = rate if target is None else target
            finish = rep.finish_s - bits / rep.rate_bps + bits / max(sent_at, 1e-300)
            predicted[i] = replace(rep, rate_bps=rate, finish_s=finish)
        outage = {i for i, rep in predicted.items() if target is not None and rep.rate_bps < target}
        candidates = [i for i in active if i not in outage] or list(active)
        if target is not None:
            # fixed-rate uploads finish together unless in outage: a uniform draw among the
            # rest (ranking would pick the same PIUs, and only their data, every round)
            rng = server.streams.numpy(Stream.SELECTION, r, *server.stream_key)
            selected = select_uniform(candidates, k, rng)
        else:
            selected = select_best({i: predicted[i] for i in candidates}, k, "deadline")
        chosen = set(selected)
        factor = self.settings.predictive_deadline
        if factor is not None and selected:  # wait as long as the slowest is predicted to take
            self._predicted_limit_s = factor * max(predicted[i].finish_s for i in selected)
        for i, snr in zip(active, snr_db, strict=True):
            reason = "selected" if i in chosen else "outage" if i in outage else "passed"
            rep = predicted[i]
            server.emit(
                "candidate", r, duration_s=rep.finish_s, rate_bps=rep.rate_bps, snr_db=float(snr),
                peer=f"piu{i}", method="predictive", reason=reason,
                detail=f"piu{i} {reason} ({forecast.predictor}: {snr:.2f} dB forecast, "
                f"{forecast.truth(i, now):.2f} dB true)",
            )  # fmt: skip
        return selected

    def _control(self, server: Server, r: int) -> RoundControl:
        """This round's local steps and compression fidelity (fixed, or from the adaptive
        controller fed with the global model's probe loss; computing it takes no simulated
        time)."""
        if self.controller is None:
            return RoundControl(server.local_steps)
        loss = server.trainer.train_loss(server.weights, self.probe_indices)
        control = self.controller.update(loss)
        fidelity = "" if control.fidelity is None else f" C={control.fidelity}"
        server.emit("control", r, loss=loss, detail=f"local_steps={control.local_steps}{fidelity}")
        return control

    def _prune(self, server: Server, r: int) -> bool:
        """Prune the global model if the schedule says so this round; True if it did."""
        due = self.pruning.fraction_at(r) if self.pruning is not None else None
        if due is None:
            return False
        level, fraction = due
        self.mask, size_bits, detail = prune_level(
            server.weights, server.trainer.prunable(), self.mask, fraction, level
        )
        base = server.initial_weights if self.rewind else server.weights
        server.weights = base * self.mask
        server.emit("prune", r, bits=size_bits, detail=detail)
        return True

    def _model_bits(self, server: Server, with_mask: bool, state: torch.Tensor | None) -> int:
        """Broadcast size: 32 bits per kept weight, plus an n-bit mask when it changed, plus
        32 bits per entry of the algorithm's server state (SCAFFOLD's c)."""
        extra = 0 if state is None else dense_bits(state.numel())
        if self.mask is None:
            return server.model_bits + extra
        return 32 * int(self.mask.sum()) + (self.mask.numel() if with_mask else 0) + extra


class _Asynchronous(ServerProtocol):
    """What FedAsync and FedBuff share: no rounds (``rounds`` counts model versions).

    At the start and whenever a PIU frees up, PIUs that are online, in the federation and
    not training get the current model (drawn uniformly, keyed by (version, dispatch),
    until ``concurrency`` train at once; those served by one AP share one multicast). An
    arriving update of a PIU that trained on version v is ``tau = version - v`` stale
    (``rx_update`` event, ``staleness`` column). A PIU that declines (battery, lost,
    offline) is not asked again before the next version (else it would decline at once,
    again and again); when nobody trains and nobody can be asked, the server waits for a
    PIU to come online, or stops when none is offline.

    Events are ordered deterministically: updates are handled in arrival order, and SimPy
    breaks ties at one instant by scheduling order, which the keyed streams fix.
    """

    def __init__(self, settings: Asynchronous) -> None:
        self.settings = settings
        self.rounds = settings.rounds
        self.training: dict[int, int] = {}  # PIU -> the version it trains on
        self.resting: set[int] = set()  # declined since the current version
        self._models: dict[int, torch.Tensor] = {}  # versions that PIUs still train on
        self._dispatches = 0
        self._t_start = 0.0
        self._notices = _no_notices()

    def dispatch(self, server: Server) -> Step:
        self._dispatch(server)
        if self.training:
            return "go"
        if not any(not p.online for p in server.members()):
            server.emit("stop", server.version, reason="none_can", detail="no PIU can take part")
            return "stop"
        server.emit(
            "wait",
            server.version,
            reason="declined_or_offline",
            detail="every available PIU declined or is offline",
        )
        return "wait"

    def online(self, server: Server, piu: int) -> None:
        """A PIU came back: it may be asked again."""
        self.resting.discard(piu)
        self._dispatch(server)

    def receive(self, server: Server, msg: object) -> bool:
        if isinstance(msg, Notice):
            self._decline(server, msg)
            return False
        assert isinstance(msg, Update)
        base = self.training.pop(msg.piu, None)
        if base is None:  # it declined this model meanwhile (e.g. offline after sending)
            server.emit(
                "discard",
                server.version,
                bits=msg.payload.bits,
                peer=f"piu{msg.piu}",
                reason="declined",
                detail=f"piu{msg.piu}",
            )
            return False
        tau = server.version - base
        st = self.settings
        s = staleness_weight(st.staleness_function, tau, st.staleness_a, st.staleness_b)
        delta = server.compressor.decompress(msg.payload)
        server.last_bits[msg.piu] = msg.payload.bits
        server.emit(
            "rx_update",
            server.version,
            bits=msg.payload.bits,
            staleness=float(tau),
            peer=f"piu{msg.piu}",
            detail=f"piu{msg.piu} trained on version {base}, s={s:.6g}",
        )
        return self._accept(msg, base, delta, s)

    @abstractmethod
    def _accept(self, msg: Update, base: int, delta: torch.Tensor, s: float) -> bool:
        """Take an update (trained on version ``base``, staleness weight ``s``); True when
        it is time to aggregate."""

    def _conclude(self, server: Server, losses: list[float], detail: str) -> Outcome:
        """Log the aggregation of the updates with train ``losses`` and say what it made."""
        loss = sum(losses) / len(losses)
        server.emit(
            "aggregate",
            server.version,
            duration_s=server.aggregation_s,
            loss=loss,
            method=self.settings.mode,
            detail=detail,
        )
        return Outcome(self._t_start, len(self.training), len(losses), 0, self._notices, loss)

    def next_version(self, server: Server) -> None:
        self._t_start, self._notices = float(server.env.now), _no_notices()
        self.resting.clear()
        self._forget_unused(server)

    def _decline(self, server: Server, msg: Notice) -> None:
        """A PIU will not send an update for the model it was given (a notice about another
        model, e.g. one it declined while offline, changes nothing)."""
        if note(server, msg, self.training.get(msg.piu, -1), self._notices):
            del self.training[msg.piu]
            self.resting.add(msg.piu)
        self._forget_unused(server)

    def _dispatch(self, server: Server) -> None:
        """Send the current model to free PIUs until ``concurrency`` are training."""
        concurrency = self.settings.concurrency
        limit = len(server.pius) if concurrency is None else concurrency
        free = [
            p.index
            for p in server.members()
            if p.online and p.index not in self.training and p.index not in self.resting
        ]
        n = min(limit - len(self.training), len(free))
        if n <= 0:
            return
        v = server.version
        rng = server.streams.numpy(Stream.SELECTION, v, self._dispatches)
        self._dispatches += 1
        chosen = select_uniform(free, n, rng)
        self._models[v] = server.weights
        by_ap: dict[int, list[int]] = {}
        for k in chosen:
            self.training[k] = v
            by_ap.setdefault(server.pius[k].ap_index, []).append(k)
        server.emit("broadcast", v, bits=server.model_bits, detail=f"{n} PIUs")
        # cell-free: the links of the new ones, with every PIU now training sending data
        links = server.full_power_links(list(self.training), server.local_steps)
        for ap, recipients in sorted(by_ap.items()):
            msg = GlobalModel(
                v, server.weights, server.model_bits, tuple(recipients), server.local_steps,
                links=links,
            )  # fmt: skip
            server.send_model(msg, ap)

    def _forget_unused(self, server: Server) -> None:
        """Drop stored model versions that no PIU trains on any more."""
        used = set(self.training.values()) | {server.version}
        for v in [v for v in self._models if v not in used]:
            del self._models[v]


class FedAsync(_Asynchronous):
    """FedAsync (Xie, Koyejo, Gupta 2019): every arriving local model is mixed in at once,
    ``x <- (1 - alpha_t) x + alpha_t x_k`` with ``alpha_t = mixing * s(tau)``."""

    def _accept(self, msg: Update, base: int, delta: torch.Tensor, s: float) -> bool:
        self._alpha = self.settings.mixing * s
        self._local = self._models[base] + delta
        self._loss = msg.loss
        return True

    @override
    def aggregate(self, server: Server) -> Outcome:
        server.weights = fedasync_mix(server.weights, self._local, self._alpha)
        del self._local
        return self._conclude(server, [self._loss], f"fedasync alpha={self._alpha:.6g}")


class FedBuff(_Asynchronous):
    """FedBuff (Nguyen et al. 2022): arriving deltas, weighted by s(tau), are buffered;
    every ``buffer_size`` arrivals ``x <- x + server_lr * mean(buffer)``."""

    def __init__(self, settings: Asynchronous) -> None:
        super().__init__(settings)
        self._buffer: list[tuple[torch.Tensor, float, float]] = []  # delta, s(tau), loss

    def _accept(self, msg: Update, base: int, delta: torch.Tensor, s: float) -> bool:
        self._buffer.append((delta, s, msg.loss))
        return len(self._buffer) >= self.settings.buffer_size

    @override
    def aggregate(self, server: Server) -> Outcome:
        buffer = self._buffer
        server.weights = fedbuff_step(
            server.weights, [b[0] for b in buffer], [b[1] for b in buffer], self.settings.server_lr
        )
        losses = [b[2] for b in buffer]
        detail = f"fedbuff K={len(buffer)}"
        self._buffer = []
        return self._conclude(server, losses, detail)


@dataclass
class _CloudRound:
    """The state of one cloud round: its start, the edge servers sent the model, those
    still expected, the edge models in, its deadline."""

    t_start_s: float
    edges: list[EdgeServer]
    pending: set[int]
    deadline: Deadline | None
    models: list[EdgeModel] = field(default_factory=list)


class CloudRounds(ServerProtocol):
    """The cloud tier of hierarchical FL (HierFAVG, Liu et al. 2020).

    Each cloud round: send the global model to every edge server that still has PIUs (over
    the routed backhaul); wait for their edge models, until ``deadline_s`` after the
    broadcast or (over-commitment) the first ``target_edges``; log the late ones
    (``deadline_miss`` / ``cut``, peer the edge: it carries on, and its model is discarded
    when it arrives); average the edge models in, ``w = sum_e (n_e / n) w_e`` (edge models
    of weight 0, with no PIU's update, are left out; with none the model is unchanged).

    The cloud's row of the rounds table counts PIUs: ``selected`` those of the edge servers
    sent the model, ``aggregated`` those in the averaged edge models, ``dropped`` those of
    late edges; the edge servers' rows hold their PIUs' notices.

    Parameters
    ----------
    rounds: cloud rounds; edges: the edge servers (the cloud's ``downlinks`` are keyed by
    their index); deadline_s, target_edges: the cloud tier's deadline and over-commitment;
    optimizer: the server optimiser applied to the averaged edge models (default: none).
    """

    def __init__(
        self,
        rounds: int,
        edges: Iterable[EdgeServer],
        deadline_s: float | None = None,
        target_edges: int | None = None,
        optimizer: ServerOptimizer | None = None,
    ) -> None:
        self.rounds = rounds
        self.edges = list(edges)
        self.deadline_s = deadline_s
        self.target_edges = target_edges
        self.optimizer = optimizer or ServerOptimizer()
        self._round: _CloudRound | None = None

    @override
    @property
    def deadline(self) -> simpy.Event | None:
        return None if self._round is None else self._round.deadline

    @override
    def dispatch(self, server: Server) -> Step:
        if self._round is not None:
            return "go"
        r = server.version
        edges = [e for e in self.edges if e.members()]
        if not edges:
            server.emit("stop", r, reason="no_members", detail="no PIU left in the federation")
            return "stop"
        if not any(p.online for e in edges for p in e.members()):
            server.emit("wait", r, reason="offline", detail="every PIU is offline")
            return "wait"
        msg = GlobalModel(r, server.weights, server.model_bits, (), server.local_steps)
        server.emit("broadcast", r, bits=server.model_bits, detail=f"{len(edges)} edge servers")
        for e in edges:
            link, inbox = server.downlinks[e.index]
            server.env.process(server.transfer(link, inbox, msg, r, msg.bits, e.name))
        limit = self.deadline_s
        deadline = None if limit is None else Deadline(server.env, limit)
        self._round = _CloudRound(float(server.env.now), edges, {e.index for e in edges}, deadline)
        return "go"

    @override
    def receive(self, server: Server, msg: object) -> bool:
        rd, r = self._round, server.version
        assert rd is not None and isinstance(msg, EdgeModel)
        peer = self.edges[msg.edge].name
        if msg.round != r:  # a late edge's model of an earlier round
            server.emit(
                "discard", r, bits=msg.bits, peer=peer, reason="stale",
                detail=f"{peer} model of round {msg.round}",
            )  # fmt: skip
            return False
        rd.models.append(msg)
        rd.pending.discard(msg.edge)
        server.emit(
            "rx_update", r, bits=msg.bits, peer=peer, detail=f"{peer}: {len(msg.pius)} PIUs"
        )
        return not rd.pending or len(rd.models) >= (self.target_edges or math.inf)

    @override
    def close(self, server: Server) -> None:
        rd, r = self._round, server.version
        assert rd is not None
        enough = self.target_edges is not None and len(rd.models) >= self.target_edges
        for e in sorted(rd.pending):
            peer = self.edges[e].name
            if enough:
                first = f"{peer}: the first {self.target_edges} edge models are in"
                server.emit("cut", r, peer=peer, reason="target_reached", detail=first)
            else:
                server.emit("deadline_miss", r, peer=peer, reason="deadline", detail=peer)

    @override
    def aggregate(self, server: Server) -> Outcome:
        rd, r = self._round, server.version
        assert rd is not None
        models = sorted((m for m in rd.models if m.weight > 0), key=lambda m: m.edge)
        sizes = [m.weight for m in models]
        averaged = fedavg(server.weights, [m.weights - server.weights for m in models], sizes)
        server.weights = self.optimizer.step(server.weights, averaged) if models else averaged
        loss = (
            float(np.dot(fedavg_weights(sizes), [m.loss for m in models])) if models else math.nan
        )
        pius = sum(len(m.pius) for m in models)
        server.emit(
            "aggregate", r, duration_s=server.aggregation_s, loss=loss, method="hierfavg",
            detail=f"{len(models)} edge models, {pius} PIUs",
        )  # fmt: skip
        self._round = None
        late = [self.edges[e] for e in rd.pending]
        return Outcome(
            rd.t_start_s, sum(len(e.members()) for e in rd.edges), pius,
            sum(len(e.members()) for e in late), _no_notices(), loss,
            frozenset(k for m in models for k in m.pius),
        )  # fmt: skip
