"""PIU (peripheral intelligence unit): an edge device that trains and uploads updates."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import simpy
import torch

from netsim.compress.base import Compressor
from netsim.compress.pruning import PruningSchedule, prune_level
from netsim.device.availability import Switch
from netsim.device.battery import Battery
from netsim.device.compute import ComputeModel, SlowdownDistribution
from netsim.device.harvesting import Harvester
from netsim.fl.algorithms import Algorithm
from netsim.fl.byzantine import ByzantineUpdate
from netsim.fl.selection import SelectionReport
from netsim.learn.trainer import Trainer, TrainHandle, TrainJob, job_stream_ids
from netsim.log import EventLog
from netsim.messages import GlobalModel, Notice, Tap, Update
from netsim.nodes.base import Node
from netsim.nodes.signalling import Signalling
from netsim.radio.access import MultipleAccess
from netsim.radio.links import Attempt, Uplink
from netsim.rng import Stream, Streams

OFFLINE = "offline"  # interrupt cause when the PIU becomes unavailable (else: the round)


class _BatteryEmpty(Exception):
    """The battery ran dry during an activity; the PIU leaves the federation."""


@dataclass
class _Activity:
    """What the PIU is doing now, so an interruption can charge the energy used so far."""

    kind: str  # "train", "queue" or "tx"
    t_start_s: float
    duration_s: float  # NaN while a transmission on a shared medium runs
    energy_j: float
    power_w: float | None = None  # a transmission of open duration draws this
    cancel: Callable[[], None] | None = None  # withdraws it from the shared medium


@dataclass(frozen=True)
class DeviceKit:
    """A PIU's device (``netsim/device/``, SI units).

    compute: time and energy per processed sample; slowdown: the straggler factor drawn per
    round; battery: its energy store (J); harvester: energy harvesting (None: none);
    availability: on/off switches in time order (None: always available); reserve_j: the
    energy (J) it keeps: it skips a round that would leave less.
    """

    compute: ComputeModel
    slowdown: SlowdownDistribution
    battery: Battery
    harvester: Harvester | None = None
    availability: Iterable[Switch] | None = None
    reserve_j: float = 0.0


@dataclass(frozen=True)
class ClientKit:
    """What a PIU learns with.

    trainer: the (shared) local trainer; indices: its training samples (|D_k| =
    len(indices)); compressor: how its updates are encoded; algorithm: the FL algorithm
    (``netsim.fl.algorithms``) whose client half shapes its training and upload; pruning:
    its own magnitude-pruning schedule (``pruning.scope = "piu"``: after training in a round
    where a level is due it prunes its trained model, keeps the mask for the rounds after,
    and sends only its kept entries; its mask, n bits, rides along until one upload with it
    has arrived); byzantine: a Byzantine PIU's corruption of its updates (None: honest);
    tap: a malicious participant's :class:`netsim.messages.Tap` (the GAN attack's), asked
    before each training for samples to add to it (None: honest).
    """

    trainer: Trainer
    indices: np.ndarray
    compressor: Compressor
    algorithm: Algorithm = field(default_factory=Algorithm)
    pruning: PruningSchedule | None = None
    byzantine: ByzantineUpdate | None = None
    tap: Tap | None = None


class PIU(Node):
    """An edge device: receives the global model, trains, compresses, transmits.

    Timing assumptions (one round):
      * local training takes ``t_cmp = S C / f * slowdown`` (S samples processed), with energy
        ``kappa C S f^2``; the slowdown is drawn per round from the keyed stream
        ``(STRAGGLER, piu, round)``;
      * the upload waits for a slot of its AP's multiple access (TDMA: FIFO queue, no energy),
        then takes the airtime of ``payload_bits`` over the block-fading channel (rate redrawn
        each coherence interval), at energy ``p * airtime``; with a fixed ``target_rate_bps``
        a packet in outage is logged ``tx_fail`` (energy charged) and sent again, holding the
        slot, up to ``max_retransmissions`` times, after which the update is lost;
      * before training, a PIU whose battery cannot cover the predicted round energy (compute +
        transmission at the mean-SNR rate) plus ``reserve_j`` skips the round; if the battery
        empties during an activity, the activity stops there, the PIU logs ``battery_empty``
        and leaves (with harvesting it stays and skips until it can pay again);
      * with a harvester, every ``interval_s`` the harvested energy is stored (``harvest``
        event, round -1, ``energy_j`` = minus the stored energy, so initial - sum(energy_j)
        = final still holds); a running activity pays at its end, and whether the battery
        lasts through it is judged from the level at its start (conservative);
      * the server may abort the round (deadline): the current activity stops, its energy so
        far is charged, and nothing is sent;
      * with an availability schedule, going offline interrupts the current activity the
        same way (logged ``offline``, then ``abort``; the server is told at once); a model
        that arrives while offline is declined (``skip``); a trace may also change the CPU
        frequency, which applies to trainings that start afterwards.

    Parameters
    ----------
    index: PIU index k (keys its random streams).
    ap_inbox: where its uplink messages go (its serving AP); server_inbox: where its control
        notices go (signalling takes no simulated time).
    link: its uplink (``netsim.radio.links``: the access, the rate or the link abstraction,
        its power and energy per attempt).
    device: its device (:class:`DeviceKit`); client: what it learns with (:class:`ClientKit`).
    streams: the keyed random streams; signalling: where it says it is back online.
    """

    role = "piu"

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        index: int,
        *,
        ap_inbox: simpy.Store,
        server_inbox: simpy.Store,
        link: Uplink,
        device: DeviceKit,
        client: ClientKit,
        streams: Streams,
        signalling: Signalling | None = None,
    ) -> None:
        super().__init__(env, f"piu{index}", log)
        self.index = index
        self.ap_inbox = ap_inbox
        self.server_inbox = server_inbox
        self.link = link
        self.compute = device.compute
        self.slowdown = device.slowdown
        self.battery = device.battery
        self.availability = device.availability
        self.harvester = device.harvester
        self.reserve_j = device.reserve_j
        self.trainer = client.trainer
        self.compressor = client.compressor
        self.indices = client.indices
        self.algorithm = client.algorithm  # the FL algorithm's client half
        self.pruning = client.pruning
        self.tap = client.tap  # a malicious PIU's tap (netsim.privacy.gan's GAN)
        self.byzantine = client.byzantine  # a Byzantine PIU's corruption of its updates
        self.streams = streams
        self.signalling = signalling
        self.inbox = simpy.Store(env)
        self.active = True
        self._round: int | None = None
        self._aborted_upto = -1  # rounds <= this were aborted by the server
        self._activity: _Activity | None = None
        self._job: TrainHandle | None = None
        self._jobs_on_version: dict[int, int] = {}  # jobs run per model version received
        self._unsent: int | None = None  # round of a compressed payload not yet handed over
        self.mask: torch.Tensor | None = None  # own pruning mask (P,) bool (scope "piu")
        self.prune_level = 0
        self._mask_delivered = True  # has the server received the current mask?
        self.online = True
        self._interrupted = False  # an interrupt is on its way (never throw two)
        if signalling is not None:
            signalling.on_discarded(index, self._discarded)

    def start(self) -> None:
        """Start the PIU's processes: its main loop, its availability schedule (the state
        at t = 0 holds at once) and its harvester."""
        self.process = self.env.process(self.run())
        if self.availability is not None:
            switches = iter(self.availability)
            first = next(switches, None)
            if first is not None and first.t_s == 0.0:
                self._switch(first)  # the state at t = 0 holds before anyone looks at it
            elif first is not None:
                switches = itertools.chain([first], switches)  # may be endless: no list
            self.env.process(self._replay(switches))
        if self.harvester is not None:
            self.env.process(self._harvest(self.harvester))

    def _discarded(self, round_index: int) -> None:
        """The server discarded this PIU's update of ``round_index``: undo what sending it
        did to the compressor's state (error feedback, references), as for a lost one."""
        self.compressor.undo(self.index, round_index)

    @property
    def ap_index(self) -> int:
        """The serving AP."""
        return self.link.ap

    def hand_over(
        self, ap: int, ap_inbox: simpy.Store, band: MultipleAccess, margin_db: float
    ) -> None:
        """Mobility: from now on PIU is served by AP ``ap`` (its inbox, its uplink band); an
        upload under way finishes on the old band. ``margin_db``: the new AP's gain over the
        old one's."""
        old = self.link.ap
        self.link.move(ap, band)
        self.ap_inbox = ap_inbox
        self.emit(
            "handover",
            self.current_round,
            snr_db=margin_db,
            peer=f"ap{ap}",
            detail=f"ap{old} -> ap{ap}",
        )

    @property
    def num_samples(self) -> int:
        """|D_k|, the PIU's training samples."""
        return len(self.indices)

    @property
    def current_round(self) -> int:
        """The round being worked on, -1 when idle."""
        return self._round if self._round is not None else -1

    def abort(self, round_index: int) -> None:
        """Server-side deadline: stop the work of ``round`` if it is still in progress (a model
        of that round that has not arrived yet is ignored when it does)."""
        self._aborted_upto = max(self._aborted_upto, round_index)
        if self._round == round_index:
            self._interrupt(round_index)

    def _interrupt(self, cause: object) -> None:
        """Stop the round in progress (one interrupt at a time: a second one would hit the
        idle loop)."""
        if self._round is not None and self.process.is_alive and not self._interrupted:
            self._interrupted = True
            self.process.interrupt(cause)

    def _replay(self, switches: Iterable[Switch]) -> Generator[simpy.Event, object, None]:
        """Apply the availability schedule on the timeline."""
        for switch in switches:
            if switch.t_s > self.env.now:
                yield self.env.timeout(switch.t_s - self.env.now)
            self._switch(switch)

    def _harvest(self, harvester: Harvester) -> Generator[simpy.Event, object, None]:
        """Store the harvested energy at the end of every ledger interval."""
        interval = 0
        while True:
            yield self.env.timeout(harvester.interval_s)
            energy = harvester.energy_j(interval)
            stored = self.battery.charge(energy)
            self.emit(
                "harvest",
                -1,
                duration_s=harvester.interval_s,
                energy_j=-stored,
                battery_j=self.battery.level_j,
                method=harvester.kind,
                detail=f"{harvester.kind}: {energy:.6g} J, {energy - stored:.6g} J overflow",
            )
            interval += 1

    def _switch(self, switch: Switch) -> None:
        current = self.current_round
        if switch.cpu_hz is not None and switch.cpu_hz != self.compute.cpu_hz:
            self.compute = replace(self.compute, cpu_hz=switch.cpu_hz)
            self.emit("cpu_change", current, detail=f"cpu_hz={switch.cpu_hz:.6g}")
        if switch.available == self.online:
            return
        self.online = switch.available
        self.emit("online" if self.online else "offline", current, battery_j=self.battery.level_j)
        if not self.online:
            self._interrupt(OFFLINE)
        elif self.signalling is not None:
            self.signalling.online(self.index)

    def run(self) -> Generator[simpy.Event, object, None]:
        """The PIU's process: take each model that arrives and take part in its round."""
        while self.active:
            msg = yield self.inbox.get()
            assert isinstance(msg, GlobalModel)
            if msg.round <= self._aborted_upto:
                self.emit(
                    "abort",
                    msg.round,
                    duration_s=0.0,
                    energy_j=0.0,
                    battery_j=self.battery.level_j,
                    reason="late_model",
                    detail="model arrived after the deadline",
                )
                continue
            if not self.online:
                self.emit(
                    "skip",
                    msg.round,
                    energy_j=0.0,
                    battery_j=self.battery.level_j,
                    reason="offline",
                    detail="offline",
                )
                self._notify(msg.round, "offline")
                continue
            self._round = msg.round
            try:
                yield from self._participate(msg)
            except simpy.Interrupt as stop:
                offline = stop.cause == OFFLINE
                self._charge_interrupted(msg.round, offline)
                if self._unsent == msg.round:
                    self.compressor.undo(self.index, msg.round)
                if offline:
                    self._notify(msg.round, "offline")
            except _BatteryEmpty:
                if self.harvester is None:
                    self.active = False
                self._notify(msg.round, "left" if self.harvester is None else "skip")
            finally:
                self._round, self._activity, self._job, self._unsent = None, None, None, None
                self._interrupted = False

    def _participate(self, msg: GlobalModel) -> Generator[simpy.Event, object, None]:
        r = msg.round
        self.emit("rx_model", r, bits=msg.bits)
        steps = self._use_grant(msg)
        extra = self._inject(msg)
        n_local = self.num_samples + (0 if extra is None else len(extra[1]))
        samples = self.trainer.samples_per_round(n_local, steps)
        repeat = self._jobs_on_version.get(r, 0)  # async: the same version again
        ids = job_stream_ids(r, repeat)
        slowdown = self.slowdown.sample(self.streams.numpy(Stream.STRAGGLER, self.index, *ids))
        compute_s = self.compute.time_s(samples, slowdown)
        compute_j = self.compute.energy_j(samples)
        mask = msg.mask if self.mask is None else self.mask
        planned_tx_j = self._planned_tx_j(msg, mask)
        if not self.battery.can_afford(compute_j + planned_tx_j + self.reserve_j):
            reserve = f" + {self.reserve_j:.6g} J reserve" if self.reserve_j else ""
            self.emit(
                "skip",
                r,
                battery_j=self.battery.level_j,
                energy_j=0.0,
                reason="energy",
                detail=f"needs {compute_j + planned_tx_j:.6g} J{reserve}",
            )
            self._notify(r, "skip")
            return

        start = msg.weights if self.mask is None else msg.weights * self.mask
        rules = self.algorithm.local_rules(self.index, msg.server_state)
        job = TrainJob(self.index, r, start, self.indices, steps, mask, extra, repeat, rules)
        self._jobs_on_version[r] = repeat + 1
        self._job = self.trainer.submit(job)
        self.emit("train_start", r, duration_s=compute_s, detail=f"slowdown={slowdown:.6g}")
        yield from self._spend("train", compute_s, compute_j)
        result = self._job.result()
        self._job = None  # done: nothing left to cancel
        loss = result.loss
        self.emit(
            "train_end",
            r,
            duration_s=compute_s,
            energy_j=compute_j,
            battery_j=self.battery.level_j,
            loss=loss,
        )

        local = self._prune(r, result.weights)
        mask = msg.mask if self.mask is None else self.mask
        delta = local - msg.weights
        side = self.algorithm.client_update(self.index, delta, msg.server_state, steps)
        if self.byzantine is not None:  # it sends a corrupted update instead
            gen = self.streams.torch(Stream.BYZANTINE, self.index, *ids)
            delta = self.byzantine.corrupt(delta, gen)
        # only the update travels on: free the trained weights now, not when the upload ends
        # (with 1,000 PIUs in flight they are 0.8 GB of MLP weights)
        del result, local
        if mask is not None:  # pruned entries are known to be zero: only the rest is sent
            delta = delta[mask]
        if side is not None:  # the algorithm's side payload rides after the delta
            delta = torch.cat([delta, side])
        payload = self.compressor.compress(delta, self.index, r, msg.fidelity)
        if msg.stream is not None:  # streaming FedAvg: the sum takes it now, the air its bits
            msg.stream.add(self.index, self.num_samples, delta)
            payload = replace(payload, tensors=())
            del delta
        if self.pruning is not None and not self._mask_delivered:
            payload = replace(
                payload,
                bits=payload.bits + msg.weights.numel(),
                encoding=f"{payload.encoding}+mask",
            )
        update = Update(
            r, self.index, payload, self.num_samples, loss, mask=self.mask, local_steps=steps
        )
        self._unsent = r  # an interruption before the hand-over undoes the compression state
        delivered = yield from self._transmit(update)
        self._unsent = None
        if not delivered:  # every attempt failed: the update is lost
            self.compressor.undo(self.index, r)
            self._notify(r, "lost")
            return
        self._mask_delivered = True
        self.algorithm.delivered(self.index)
        if self.link.delivers:
            self.ap_inbox.put(update)

    def _planned_tx_j(self, msg: GlobalModel, mask: torch.Tensor | None) -> float:
        """Energy (J) the round's upload is planned to take: the compressor's planned size
        of the entries sent (plus the mask bitmap when it rides along) at the link's
        planned airtime and this round's power."""
        sent_entries = msg.weights.numel() if mask is None else int(mask.sum())
        sent_entries += self.algorithm.side_entries(msg.weights.numel())
        planned_bits = self.compressor.planned_bits(sent_entries, msg.fidelity)
        if self.pruning is not None and (
            not self._mask_delivered or self.pruning.fraction_between(self.prune_level, msg.round)
        ):
            planned_bits += msg.weights.numel()  # the mask bitmap rides along
        return self.link.power_w * self.link.planned_airtime_s(planned_bits)

    def _transmit(self, update: Update) -> Generator[simpy.Event, object, bool]:
        """Wait for a slot on the uplink, then send ``update`` attempt by attempt (holding
        the slot) until one is delivered; True if one was."""
        r, bits = update.round, update.payload.bits
        with self.link.request(update) as slot:
            self._activity = _Activity("queue", self.env.now, math.nan, 0.0)
            yield slot
            for attempt in self.link.attempts(bits, lambda: self.env.now, update.payload.encoding):
                both = {
                    "duration_s": attempt.airtime_s,
                    "bits": attempt.bits,
                    "power_w": attempt.power_w,
                    "peer": f"ap{self.link.ap}",
                    "method": attempt.label,
                }
                self.emit("tx_start", r, **both, detail=attempt.label)
                if attempt.done is None:
                    yield from self._spend("tx", attempt.airtime_s, attempt.energy_j)
                else:  # on a shared medium the airtime is known at the end
                    attempt = yield from self._send_open(attempt)
                    both["duration_s"] = attempt.airtime_s
                self.emit(
                    "tx_end" if attempt.delivered else "tx_fail",
                    r,
                    **both,
                    energy_j=attempt.energy_j,
                    battery_j=self.battery.level_j,
                    rate_bps=attempt.rate_bps,
                    snr_db=attempt.snr_db,
                    interference_w=attempt.interference_w,
                    mcs=attempt.mcs,
                    tb_count=attempt.tb_count,
                    harq_retx=attempt.harq_retx,
                    rlc_retx=attempt.rlc_retx,
                    first_tx_fail=attempt.first_tx_fail,
                    reason=attempt.reason,
                    detail=attempt.note,
                )
                if attempt.delivered:
                    return True
        return False

    def report(self, bits: int, local_steps: int) -> SelectionReport:
        """This PIU's state for client selection, for a payload of ``bits`` after
        ``local_steps`` steps (signalling: takes no simulated time)."""
        samples = self.trainer.samples_per_round(self.num_samples, local_steps)
        airtime = self.link.planned_airtime_s(bits)
        return SelectionReport(
            bits / airtime, self.compute.time_s(samples) + airtime, self.battery.level_j,
            self.link.power_w, self.link.bandwidth_hz,
        )  # fmt: skip

    def _inject(self, msg: GlobalModel) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A malicious PIU's tap: samples made against this round's global model (the GAN
        attack's, labelled as its fake class), to be trained on with the PIU's own (None for
        an honest PIU or round)."""
        injection = None if self.tap is None else self.tap.before_training(self.env.now, msg)
        if injection is None:
            return None
        self.emit("gan_inject", msg.round, loss=injection.loss, detail=injection.detail)
        return injection.x, injection.y

    def _use_grant(self, msg: GlobalModel) -> int:
        """This round's uplink and local steps: the server's allocation for this PIU if it
        sent one, else full power and the broadcast steps."""
        grant = None if msg.links is None else msg.links.get(self.index)
        self.link.use(None if grant is None else grant.grant)
        return msg.local_steps if grant is None else grant.local_steps

    def _prune(self, r: int, weights: torch.Tensor) -> torch.Tensor:
        """Own-scope pruning: the trained model, pruned if a level is due this round."""
        due = None if self.pruning is None else self.pruning.fraction_between(self.prune_level, r)
        if due is None:
            return weights
        level, fraction = due
        self.mask, size_bits, detail = prune_level(
            weights, self.trainer.prunable(), self.mask, fraction, level
        )
        self.prune_level = level
        self._mask_delivered = False
        self.emit("prune", r, bits=size_bits, detail=detail)
        return weights * self.mask

    def _notify(self, round_index: int, kind: Literal["skip", "left", "lost", "offline"]) -> None:
        """Tell the server and the AP (over the air, it may be waiting for this PIU) that no
        update will come this round."""
        notice = Notice(round_index, self.index, kind)
        self.server_inbox.put(notice)
        self.ap_inbox.put(notice)

    def _send_open(self, attempt: Attempt) -> Generator[simpy.Event, object, Attempt]:
        """Transmit at ``attempt.power_w`` until the medium says the last bit is in
        (``attempt.done``), drawing the energy at the end; if the battery cannot last that
        long, stop where it empties (withdrawing the transmission)."""
        assert attempt.done is not None and attempt.cancel is not None
        power = attempt.power_w
        start = self.env.now
        self._activity = _Activity("tx", start, math.nan, math.nan, power, attempt.cancel)
        lasts_s = self.battery.level_j / power if power > 0 else math.inf
        if math.isinf(lasts_s):
            yield attempt.done
        else:
            yield attempt.done | self.env.timeout(lasts_s)
        if attempt.done.triggered:
            finished = attempt.done.value
            assert isinstance(finished, Attempt)
            self.battery.draw(finished.energy_j)
            self._activity = None
            return finished
        attempt.cancel()
        drawn = self.battery.draw(self.battery.level_j)
        self._activity = None
        self._battery_empty("tx", self.env.now - start, drawn)
        raise _BatteryEmpty

    def _spend(
        self, kind: str, duration_s: float, energy_j: float
    ) -> Generator[simpy.Event, object, None]:
        """Hold for ``duration_s`` drawing ``energy_j`` evenly; stop early if the battery
        empties."""
        self._activity = _Activity(kind, self.env.now, duration_s, energy_j)
        if self.battery.can_afford(energy_j):
            yield self.env.timeout(duration_s)
            self.battery.draw(energy_j)
            self._activity = None
            return
        # Constant power over the activity: the battery lasts level / power seconds.
        lasts_s = duration_s * self.battery.level_j / energy_j
        yield self.env.timeout(lasts_s)
        drawn = self.battery.draw(self.battery.level_j)
        self._activity = None
        self._battery_empty(kind, lasts_s, drawn)
        raise _BatteryEmpty

    def _battery_empty(self, kind: str, lasted_s: float, drawn_j: float) -> None:
        """Log the battery running dry ``lasted_s`` into activity ``kind``."""
        if self._job is not None:
            self._job.cancel()
        self.emit(
            "battery_empty",
            self._round if self._round is not None else -1,
            duration_s=lasted_s,
            energy_j=drawn_j,
            battery_j=self.battery.level_j,
            activity=kind,
            detail=kind,
        )

    def _charge_interrupted(self, round_index: int, offline: bool = False) -> None:
        """Charge the interrupted activity's energy up to now and log the abort (the work
        done so far, ``duration_s``, is lost)."""
        act, drawn, done_s = self._activity, 0.0, 0.0
        if act is not None and act.cancel is not None:
            act.cancel()  # off the shared medium: the others' rates change now
        if act is not None and act.power_w is not None:
            done_s = self.env.now - act.t_start_s
            drawn = self.battery.draw(act.power_w * done_s)
        elif act is not None and act.kind != "queue":
            done_s = self.env.now - act.t_start_s
            fraction = done_s / act.duration_s if act.duration_s > 0 else 1.0
            drawn = self.battery.draw(act.energy_j * fraction)
        if self._job is not None:
            self._job.cancel()
        self.emit(
            "abort",
            round_index,
            duration_s=done_s,
            energy_j=drawn,
            battery_j=self.battery.level_j,
            activity=act.kind if act else None,
            reason="offline" if offline else "server",
            detail=(act.kind if act else "") + (" (offline)" if offline else ""),
        )
