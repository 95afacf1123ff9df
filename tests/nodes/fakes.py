"""Fakes for testing one entity on its own SimPy environment: a trainer without a model
and an uplink of fixed rate. They stand in for the collaborators, never for the entity
under test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import simpy
import torch

from netsim.compress import IdentityCompressor
from netsim.device.availability import Switch
from netsim.device.battery import Battery
from netsim.device.compute import ComputeModel, ConstantSlowdown
from netsim.fl.selection import SelectionReport
from netsim.learn.trainer import TrainJob, TrainResult
from netsim.log import EventLog, events_frame
from netsim.nodes.piu import PIU, ClientKit, DeviceKit
from netsim.nodes.signalling import Signalling
from netsim.radio.access import MultipleAccess
from netsim.radio.band import Band
from netsim.radio.links import Attempt, Uplink
from netsim.rng import Streams

P = 8  # weights of the fake model
STEP = 0.5  # what a fake local update adds to every weight
BATCH = 4


@dataclass
class FakeHandle:
    job: TrainJob
    value: TrainResult
    cancelled: bool = False

    def result(self) -> TrainResult:
        assert not self.cancelled, "result of a cancelled job"
        return self.value

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeTrainer:
    """Local training adds ``STEP`` to every weight (loss 1 / (round + 1)); evaluation
    reports the mean weight as the loss and accuracy 0.5."""

    jobs: list[FakeHandle] = field(default_factory=list)
    position_scale: float | None = None  # not a localization task

    def samples_per_round(self, n_local: int, local_steps: int) -> int:
        return local_steps * min(BATCH, n_local)

    def submit(self, job: TrainJob) -> FakeHandle:
        samples = self.samples_per_round(len(job.indices), job.local_steps)
        result = TrainResult(job.weights + STEP, 1.0 / (job.round + 1), samples)
        self.jobs.append(FakeHandle(job, result))
        return self.jobs[-1]

    def evaluate(self, weights: torch.Tensor) -> tuple[float, float]:
        return float(weights.mean()), 0.5

    def defer(self, work: Callable[[], None]) -> None:  # in process: at once
        work()

    def finish_deferred(self) -> None:
        pass

    def train_loss(self, weights: torch.Tensor, indices: np.ndarray) -> float:
        return float(weights.mean())

    def prunable(self) -> torch.Tensor:
        return torch.ones(P, dtype=torch.bool)


class FixedLink(Uplink):
    """An uplink of ``rate_bps`` whose first ``failures`` attempts are lost (outage), each
    re-sent up to ``retries`` times; SNR 10 dB. Energy plans use ``planned_rate_bps``
    (default: the rate)."""

    def __init__(
        self,
        env: simpy.Environment,
        rate_bps: float,
        power_w: float,
        failures: int = 0,
        retries: int = 0,
        planned_rate_bps: float | None = None,
    ) -> None:
        band = Band.orthogonal(1e6, 1e-20, 1)  # the rate is given: the band's values are unused
        super().__init__(0, 0, MultipleAccess(env, "tdma", band, 1), power_w)
        self.rate_bps, self.failures, self.retries = rate_bps, failures, retries
        self.planned_rate_bps = planned_rate_bps or rate_bps

    def attempts(self, bits: int, now: Callable[[], float], label: str) -> Iterator[Attempt]:
        airtime = bits / self.rate_bps
        for attempt in range(self.retries + 1):
            ok = self.failures <= 0
            self.failures -= 1
            yield Attempt(
                airtime,
                self.power_w * airtime,
                self.power_w,
                ok,
                self.rate_bps,
                10.0,
                bits,
                label,
                "" if ok else f"outage {attempt}",
                None if ok else "outage",
            )

    def planned_airtime_s(self, bits: int) -> float:
        return bits / self.planned_rate_bps

    def mean_snr(self) -> float:
        return 10.0


@dataclass
class FakePIU:
    """What the server knows of a PIU (see ``netsim.nodes.server.PIUHandle``)."""

    index: int
    online: bool = True
    ap: int = 0
    aborted: list[int] = field(default_factory=list)

    @property
    def ap_index(self) -> int:
        return self.ap

    def abort(self, round_index: int) -> None:
        self.aborted.append(round_index)

    def report(self, bits: int, local_steps: int) -> SelectionReport:
        return SelectionReport(1e6 / (self.index + 1), 0.1 * (self.index + 1), 1.0)


# Compute of every fake PIU: 1 GHz, 1e7 cycles per sample, kappa 1e-28; 2 local steps of
# batch 4 = 8 samples: 0.08 s and 8e-3 J.
COMPUTE = ComputeModel(1e9, 1e7, 1e-28)
T_TRAIN, E_TRAIN = 0.08, 8e-3


def make_piu(
    env: simpy.Environment,
    log: EventLog,
    link: Uplink,
    *,
    battery_j: float = 10.0,
    availability: list[Switch] | None = None,
    signalling: Signalling | None = None,
) -> tuple[PIU, simpy.Store, simpy.Store, FakeTrainer]:
    """PIU 0 with the fakes; returns it with its AP's and the server's inboxes."""
    ap_inbox, server_inbox, trainer = simpy.Store(env), simpy.Store(env), FakeTrainer()
    device = DeviceKit(COMPUTE, ConstantSlowdown(1.0), Battery(battery_j), None, availability)
    client = ClientKit(trainer, np.arange(10), IdentityCompressor())  # type: ignore[arg-type]
    piu = PIU(
        env,
        log,
        0,
        ap_inbox=ap_inbox,
        server_inbox=server_inbox,
        link=link,
        device=device,
        client=client,
        streams=Streams(0),
        signalling=signalling,
    )
    piu.start()
    return piu, ap_inbox, server_inbox, trainer


def timeline(log: EventLog) -> list[tuple[float, str, str]]:
    """(time, node, event) of every row, in order."""
    return [(e.t_s, e.node, e.event) for e in log.records]


def frame(log: EventLog):
    return events_frame(log.records)
