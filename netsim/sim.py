"""Simulation: builds the entities of a scenario on one SimPy timeline and runs it."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import simpy
import torch

from netsim.compress import build_compressor
from netsim.compress.base import Compressor
from netsim.compress.pruning import PruningSchedule
from netsim.device.availability import Switch, exponential_on_off, read_trace_dir
from netsim.device.battery import Battery
from netsim.device.classes import DeviceSpec, assign_classes, device_specs
from netsim.device.compute import ComputeModel, SlowdownDistribution, slowdown_distribution
from netsim.device.harvesting import Harvester
from netsim.device.mobility import Trajectory, along_path, random_waypoint
from netsim.fl.aggregation import AggregationRule
from netsim.fl.controllers import ADACOMM, AFCFL, AdaQuantFL, Controller
from netsim.learn.batched import BatchedTrainer
from netsim.learn.cache import TrainingCache
from netsim.learn.datasets import DatasetError, load_dataset, train_test_split
from netsim.learn.partition import (
    partition_dirichlet,
    partition_iid,
    partition_sampled,
    partition_shards,
)
from netsim.learn.trainer import OptimizerSpec, Trainer
from netsim.log import EventLog, RoundRecord, events_frame, rounds_frame
from netsim.memory import check_memory
from netsim.models import MODELS
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.async_server import AsyncServer
from netsim.nodes.link import WiredLink
from netsim.nodes.mobility import Mobility
from netsim.nodes.piu import PIU
from netsim.nodes.server import Server
from netsim.privacy.attacker import Attacker, AttackReport
from netsim.privacy.gan import GANAttack
from netsim.privacy.inversion import AttackSettings
from netsim.radio.access import MultipleAccess
from netsim.radio.allocation import AllocationSettings, CellFreeUplink, RoundAllocator
from netsim.radio.cellfree import (
    assign_pilots,
    estimation_quality,
    lsfd_sinr,
    mr_sinr,
    uplink_rate_bps,
)
from netsim.radio.channel import RadioChannel
from netsim.radio.fading import (
    BlockFading,
    GaussMarkovFading,
    IIDBlockFading,
    JakesFading,
    NoFading,
    doppler_hz,
    gauss_markov_rho,
)
from netsim.radio.ota import OTAReceiver
from netsim.radio.pathloss import db_to_linear, dbm_to_w, link_loss
from netsim.rng import Stream, Streams
from netsim.scenario import (
    DirichletPartition,
    ExponentialAvailability,
    GridTopology,
    Scenario,
    ScenarioError,
    ShardPartition,
    TraceAvailability,
)
from netsim.topologies import build_topology, positions

_MAX_PLANNED_AIRTIME_S = 86_400.0  # one day for one model upload: the link budget is broken


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def _after_each_round(
    on_round: Callable[[RoundRecord], None] | None,
) -> Callable[[RoundRecord], None]:
    """The server's end-of-round hook: give memory freed in the round back to the OS, then
    call the user's callback.

    A round allocates and frees one model-sized tensor per update (0.8 MB for the MLP, 1,000
    per round at scale). glibc then raises its mmap threshold and serves them from the heap,
    which fragments and never shrinks: the 10,000-PIU scale benchmark grew to 6.1 GB.
    ``malloc_trim`` after each round keeps it at 2.8 GB for about 15 ms (measured; forcing
    mmap instead made the run 1.7x slower).
    """

    def after(record: RoundRecord) -> None:
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
        if on_round is not None:
            on_round(record)

    return after


@dataclass
class SimulationResult:
    """What a run produced.

    Attributes
    ----------
    events: the event log (one row per event, DESIGN.md columns).
    rounds: one row per completed round.
    weights: final global model, flat float32 (P,).
    state_dict: final global model as a ``state_dict``.
    wall_time_s: wall-clock duration of :meth:`Simulation.run`.
    initial_battery_j, final_battery_j: battery level of each PIU (by node name) before and
        after the run, in J; harvested_j: energy each PIU harvested and stored, in J.
    training_jobs_run, training_cache_hits: local updates computed / read from the cache.
    diagnostics: wall-clock figures of the run (allocation solve times), machine-dependent,
        so kept out of the event log and written to the manifest.
    attacks: the attacks of ``[attack]``, gradient inversion or GAN (None: no attacker).
    """

    scenario: Scenario
    events: pd.DataFrame
    rounds: pd.DataFrame
    weights: torch.Tensor
    state_dict: dict[str, torch.Tensor]
    wall_time_s: float
    initial_battery_j: dict[str, float] = field(default_factory=dict)
    final_battery_j: dict[str, float] = field(default_factory=dict)
    harvested_j: dict[str, float] = field(default_factory=dict)
    training_jobs_run: int = 0
    training_cache_hits: int = 0
    attacks: AttackReport | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)

    @property
    def sim_time_s(self) -> float:
        return float(self.rounds["t_end_s"].max()) if len(self.rounds) else 0.0

    @property
    def final_accuracy(self) -> float:
        return float(self.rounds["test_accuracy"].iloc[-1]) if len(self.rounds) else math.nan

    @property
    def total_energy_j(self) -> float:
        """Energy the PIUs spent (J); harvested energy is not subtracted."""
        e = self.events
        return float(e.loc[(e["role"] == "piu") & (e["event"] != "harvest"), "energy_j"].sum())

    def save(self, out_dir: str | Path, *, command: str | None = None) -> Path:
        """Write the run directory atomically (see :func:`netsim.rundir.write_run`)."""
        from netsim.rundir import write_run

        return write_run(self, Path(out_dir), command=command)


class Simulation:
    """One simulation of a scenario.

    >>> res = Simulation(load_scenario()).run()   # doctest: +SKIP
    >>> res.rounds[["round", "t_end_s", "test_accuracy"]]   # doctest: +SKIP

    Parameters
    ----------
    scenario: a validated :class:`Scenario`.
    on_round: optional callback with each finished :class:`RoundRecord` (e.g. a progress bar).
    cache_dir: optional training-result cache (:class:`TrainingCache`): updates whose inputs
        match a stored one are read instead of computed (exact), new ones are stored. Resumes
        an interrupted run and speeds up what-if runs that change only timing, radio or energy.
    """

    def __init__(
        self,
        scenario: Scenario,
        on_round: Callable[[RoundRecord], None] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise TypeError(
                f"Simulation(scenario): a Scenario, not {type(scenario).__name__} "
                f"{scenario!r:.60}; load one with netsim.load_scenario('default') or "
                "load_scenario('my.toml', ['protocol.rounds=5'])"
            )
        self.scenario = scenario
        self.streams = Streams(scenario.seed)
        self.env = simpy.Environment()
        self.log = EventLog()
        s = scenario
        if s.learning.device.startswith("cuda") and not torch.cuda.is_available():
            raise ScenarioError(
                f"learning.device = {s.learning.device!r}: torch has no CUDA device here; use 'cpu'"
            )
        check_memory(s)  # before anything grows with the number of PIUs

        self.topology = build_topology(s.topology, s.backhaul, self.streams)
        ap_xy, ap_h = positions(self.topology, "ap")
        piu_xy, piu_h = positions(self.topology, "piu")
        self.gain = self._large_scale_gain(ap_xy, ap_h, piu_xy, piu_h)  # (K, A)
        self.serving_ap = self.gain.argmax(axis=1)  # strongest average link
        n_pius, n_aps = self.gain.shape
        fading = self._fading(n_aps)
        noise_psd = dbm_to_w(s.radio.noise_psd_dbm_hz + s.radio.noise_figure_db)  # W/Hz
        self.channel = RadioChannel(self.gain, fading, s.radio.coherence_time_s, noise_psd)

        self.trainer, partitions = self._learning(n_pius)
        partitions = self._adversary_data(partitions)
        self.cache: TrainingCache | None = None
        if cache_dir is not None:
            self.enable_cache(cache_dir)
        weights = self.trainer.initial_weights()
        compressor = build_compressor(s.compression, self.streams)

        server: type[Server] = Server if s.protocol.mode == "sync" else AsyncServer
        self.server = server(
            self.env,
            self.log,
            weights=weights,
            trainer=self.trainer,
            compressor=compressor,
            downlinks=[],
            protocol=s.protocol,
            local_steps=s.learning.local_steps,
            aggregation_s=s.server.aggregation_s,
            streams=self.streams,
            on_round=_after_each_round(on_round),
            over_the_air=s.ota.enabled,
            controller=self._controller(),
            pruning=self._pruning_schedule() if s.pruning.scope == "server" else None,
            rewind=s.pruning.rewind,
            rule=AggregationRule(s.server.aggregation, s.server.trim_fraction, s.server.clip_norm),
            probe_indices=self.streams.numpy(Stream.PROBE).permutation(len(self.trainer.train_y))[
                : s.control.probe_samples
            ],
        )
        ota = self._ota_receiver(n_aps)
        self.aps: list[AccessPoint] = []
        for a in range(n_aps):
            served = int((self.serving_ap == a).sum())
            # The fronthaul/backhaul of each AP is an edge of the topology graph.
            edge = self.topology.edges["server", f"ap{a}"]
            up = WiredLink(self.env, edge["capacity_bps"], edge["latency_s"])
            down = WiredLink(self.env, edge["capacity_bps"], edge["latency_s"])
            ap = AccessPoint(
                self.env,
                self.log,
                a,
                channel=self.channel,
                access=MultipleAccess(self.env, s.radio.access, s.radio.bandwidth_hz, served),
                uplink=up,
                server_inbox=self.server.inbox,
                tx_power_w=dbm_to_w(s.radio.ap_tx_power_dbm),
                downlink_bandwidth_hz=s.radio.bandwidth_hz,
                ota=ota,
            )
            self.aps.append(ap)
            self.server.downlinks.append((down, ap.inbox))

        self.devices = self._devices(n_pius)
        self.cellfree_sinr, ergodic_rate = self._cellfree_uplink()
        computes = [ComputeModel(d.cpu_hz, d.cycles_per_sample, d.kappa) for d in self.devices]
        slowdowns = [slowdown_distribution(d.straggler) for d in self.devices]
        if s.allocation.method != "none":
            self.server.allocator = self._allocator(computes, slowdowns, partitions)
        elif s.radio.access == "cellfree":
            self.server.cellfree = (self.cellfree_uplink, s.radio.combining)
        self.pius: list[PIU] = []
        schedules = self._availability(n_pius)
        for k in range(n_pius):
            ap = self.aps[int(self.serving_ap[k])]
            piu = PIU(
                self.env,
                self.log,
                k,
                ap_index=ap.index,
                ap_inbox=ap.inbox,
                access=ap.access,
                server_inbox=self.server.inbox,
                channel=self.channel,
                compute=computes[k],
                slowdown=slowdowns[k],
                battery=Battery(self.devices[k].battery_j),
                tx_power_w=dbm_to_w(self.devices[k].tx_power_dbm),
                trainer=self.trainer,
                compressor=compressor,
                indices=partitions[k],
                streams=self.streams,
                over_the_air=s.ota.enabled,
                target_rate_bps=s.radio.target_rate_bps,
                ergodic_link=None
                if ergodic_rate is None or self.cellfree_sinr is None
                else (float(ergodic_rate[k]), float(10 * np.log10(self.cellfree_sinr[k]))),
                max_retransmissions=s.radio.max_retransmissions,
                pruning=self._pruning_schedule() if s.pruning.scope == "piu" else None,
                availability=schedules[k],
                harvester=self._harvester(k),
                reserve_j=s.device.reserve_j,
            )
            piu.on_online = self.server.piu_online
            if s.device.classes:
                d = self.devices[k]
                piu.emit(
                    "device",
                    -1,
                    battery_j=d.battery_j,
                    power_w=dbm_to_w(d.tx_power_dbm),
                    detail=f"class={d.klass} cpu_hz={d.cpu_hz:.6g} "
                    f"cycles_per_sample={d.cycles_per_sample:.6g} kappa={d.kappa:.6g}",
                )
            ap.attach(k, piu.inbox)
            self.pius.append(piu)
        self.server.pius = list(self.pius)
        self.movers = self._mobility(piu_xy)
        self.partitions = partitions
        self.attacker = self._attacker(compressor, n_aps)
        self._check_link_budgets(self.server.model_bits)

    def _mobility(self, piu_xy: np.ndarray) -> list[Mobility]:
        """A :class:`Mobility` process per moving PIU."""
        m = self.scenario.mobility
        if m.model == "none":
            return []
        movers = []
        everyone = np.vstack([piu_xy, self._ap_xy])
        area = m.area_m or (*everyone.min(axis=0), *everyone.max(axis=0))
        for k in m.pius if m.pius is not None else range(len(self.pius)):
            if m.model == "path":
                assert m.path_m is not None
                legs = along_path(m.path_m, m.speed_mps)
            else:
                rng = self.streams.numpy(Stream.MOBILITY, k)
                low = m.speed_min_mps or m.speed_mps
                legs = random_waypoint(piu_xy[k], area, low, m.speed_mps, m.pause_s, rng)
            movers.append(
                Mobility(
                    self.env,
                    self.pius[k],
                    Trajectory(legs),
                    self.gain_at,
                    self.channel,
                    self.aps,
                    m.update_s,
                    m.hysteresis_db,
                )
            )
        return movers

    def _harvester(self, piu: int) -> Harvester | None:
        h = self.scenario.device.harvesting
        if h.kind == "none":
            return None
        return Harvester(h.kind, h.power_w, h.interval_s, h.period_s, self.streams, piu)

    def _availability(self, n_pius: int) -> list[Iterable[Switch] | None]:
        """Each PIU's on/off schedule (None: always available)."""
        av = self.scenario.device.availability
        if isinstance(av, ExponentialAvailability):
            return [
                exponential_on_off(
                    av.mean_on_s, av.mean_off_s, self.streams.numpy(Stream.AVAILABILITY, k)
                )
                for k in range(n_pius)
            ]
        if isinstance(av, TraceAvailability):
            traces = read_trace_dir(av.dir, n_pius)  # validated with the scenario
            return [traces.get(k) for k in range(n_pius)]
        return [None] * n_pius

    def _adversary_data(self, partitions: list[np.ndarray]) -> list[np.ndarray]:
        """Partitions with a GAN adversary's victim-class samples removed (Hitaj's
        adversary holds none of the class it imitates) unless it keeps them."""
        a = self.scenario.attack
        if a.method != "gan":
            return partitions
        classes = self.train_data.info.num_classes
        for name in ("victim_class", "fake_class"):
            if getattr(a, name) >= classes:
                raise ScenarioError(
                    f"attack.{name} = {getattr(a, name)}: a class of the data set "
                    f"(0 to {classes - 1})"
                )
        if a.keep_victim_class:
            return partitions
        k = a.pius[0]
        own = partitions[k]
        kept = own[self.trainer.train_y[own].cpu().numpy() != a.victim_class]
        if len(kept) == 0:
            raise ScenarioError(
                f"attack.pius = [{k}]: the adversary holds only victim-class samples, so none "
                "are left once they are removed (set attack.keep_victim_class = true or pick "
                "another PIU)"
            )
        return [kept if i == k else p for i, p in enumerate(partitions)]

    def _attacker(self, compressor: Compressor, n_aps: int) -> Attacker | GANAttack | None:
        """The scenario's attacker: listening at the server or at one AP, or a malicious
        PIU's GAN (or None)."""
        a = self.scenario.attack
        if a.method == "none":
            return None
        if a.method == "gan":
            gan = GANAttack(
                self.trainer.model,
                self.train_data,
                a.pius[0],
                a.victim_class,  # type: ignore[arg-type]  # checked by the scenario
                a.fake_class,  # type: ignore[arg-type]
                a.attacked_rounds,
                a.max_samples,
                a.iterations,
                a.lr or 1e-3,
                self.streams,
                own=self.train_data.pixels(self.trainer.train_x[self.partitions[a.pius[0]]].cpu())
                if a.critic
                else None,
            )
            self.pius[a.pius[0]].gan = gan
            return gan
        if a.position == "ap" and a.ap >= n_aps:
            raise ScenarioError(f"attack.ap = {a.ap}: an access point index below {n_aps}")
        if a.position == "ap" and compressor.stateful_decoder:
            raise ScenarioError(
                f"attack.position = 'ap': an eavesdropper cannot decode {compressor.name} "
                "payloads (differential: only the server holds the reference); use 'server'"
            )
        opt = self.scenario.learning.optimizer
        settings = AttackSettings(
            a.method, a.restarts, a.iterations, a.time_budget_s, a.lr, a.tv_weight,
            a.max_samples, self.scenario.seed, a.mask_aware,
        )  # fmt: skip
        attacker = Attacker(
            settings,
            a.position,
            a.ap if a.position == "ap" else None,
            a.pius,
            a.attacked_rounds or (),
            compressor,
            self.scenario.learning.batch_size,
            (opt.lr, opt.momentum, opt.weight_decay),
        )
        if a.position == "ap":
            self.aps[a.ap].attacker = attacker
        else:
            self.server.attacker = attacker
        return attacker

    def _devices(self, n_pius: int) -> list[DeviceSpec]:
        """Each PIU's device class and drawn parameters (``netsim.device.classes``)."""
        device = self.scenario.device
        attributes = [self.topology.nodes[f"piu{k}"].get("device_class") for k in range(n_pius)]
        names = assign_classes(device, n_pius, attributes, self.streams)
        return device_specs(device, names, self.streams)

    def _allocator(
        self,
        computes: list[ComputeModel],
        slowdowns: list[SlowdownDistribution],
        partitions: list[np.ndarray],
    ) -> RoundAllocator:
        """The server's per-round power / local-iteration allocation (cell-free MR model)."""
        s, a = self.scenario, self.scenario.allocation
        samples = np.array([self.trainer.samples_per_round(len(p), 1) for p in partitions])
        steps = s.learning.local_steps
        settings = AllocationSettings(
            method=a.method,
            w_energy=a.w_energy,
            w_latency=a.w_latency,
            eta_min=a.eta_min,
            steps=steps,
            steps_min=a.steps_min or steps,
            steps_max=a.steps_max or steps,
            energy_budget_j=a.energy_budget_j,
            latency_budget_s=a.latency_budget_s,
            circuit_power_w=a.circuit_power_w,
        )
        return RoundAllocator(
            self.cellfree_uplink,
            settings,
            np.array(
                [
                    c.time_s(int(n), d.mean)
                    for c, d, n in zip(computes, slowdowns, samples, strict=True)
                ]
            ),
            np.array([c.energy_j(int(n)) for c, n in zip(computes, samples, strict=True)]),
            np.array([dbm_to_w(d.tx_power_dbm) for d in self.devices]),
        )

    def _pruning_schedule(self) -> PruningSchedule | None:
        p = self.scenario.pruning
        if p.method == "none":
            return None
        return PruningSchedule(
            p.method, p.start_round, p.amount, p.rate, p.levels, p.rounds_per_level
        )

    def _controller(self) -> Controller | None:
        control, steps = self.scenario.control, self.scenario.learning.local_steps
        if control.kind == "afcfl":
            return AFCFL(steps, control.c0, control.c_min, control.d)
        if control.kind == "adacomm":
            return ADACOMM(steps)
        if control.kind == "adaquantfl":
            return AdaQuantFL(steps, control.c0)
        return None

    def _ota_receiver(self, n_aps: int) -> OTAReceiver | None:
        """The APs' over-the-air receiver, or None for digital uplinks. The receive noise is
        that of ``[radio]`` over the band, or set by ``ota.snr_db`` as the mean receive SNR
        at full power over the PIUs' serving links."""
        ota, radio = self.scenario.ota, self.scenario.radio
        if not ota.enabled:
            return None
        p0 = dbm_to_w(self.scenario.device.tx_power_dbm)
        noise_w = self.channel.noise_psd_w_hz * radio.bandwidth_hz
        if ota.snr_db is not None:
            serving = self.gain[np.arange(len(self.gain)), self.serving_ap]
            noise_w = p0 * float(serving.mean()) / float(db_to_linear(ota.snr_db))
        return OTAReceiver(
            fading=self._fading(n_aps * ota.receive_antennas),
            antennas=ota.receive_antennas,
            beta=self.gain,
            coherence_s=radio.coherence_time_s,
            bandwidth_hz=radio.bandwidth_hz,
            p0_w=p0,
            noise_w=noise_w,
            power_control=ota.power_control,
            drop_worst=ota.drop_worst,
            truncation_threshold=ota.truncation_threshold,
            streams=self.streams,
        )

    def _cellfree_uplink(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(SINR (K,), rate bit/s (K,)) of the cell-free MR uplink with full power (eta = 1),
        or (None, None) for other access schemes."""
        radio = self.scenario.radio
        if radio.access != "cellfree":
            return None, None
        noise_w = self.channel.noise_psd_w_hz * radio.bandwidth_hz
        beta = self.gain / noise_w  # gains over noise: rho is then the transmit power in W
        rho = np.array([dbm_to_w(d.tx_power_dbm) for d in self.devices])
        pilots = assign_pilots(beta, radio.pilot_length)
        gamma = estimation_quality(beta, pilots, rho, radio.pilot_length)
        eta = np.ones(len(beta))  # full power (power control: the allocation step)
        if radio.combining == "lsfd":
            sinr, _ = lsfd_sinr(beta, gamma, pilots, rho, eta, radio.antennas_per_ap)
        else:
            sinr = mr_sinr(beta, gamma, pilots, rho, eta, radio.antennas_per_ap)
        rate = uplink_rate_bps(
            sinr, radio.bandwidth_hz, radio.pilot_length, radio.coherence_symbols
        )
        self.pilots = pilots
        self.cellfree_uplink = CellFreeUplink(
            beta,
            gamma,
            pilots,
            rho,
            radio.antennas_per_ap,
            radio.bandwidth_hz,
            radio.pilot_length,
            radio.coherence_symbols,
        )
        return sinr, rate

    def _fading(self, n_links: int) -> BlockFading:
        """Small-scale fading of the scenario over ``n_links`` links per PIU."""
        radio = self.scenario.radio
        if radio.fading == "none":
            return NoFading(n_links)
        k = db_to_linear(radio.rician_k_db).item() if radio.fading == "rician" else 0.0
        if radio.time_correlation == "gauss_markov":
            rho = gauss_markov_rho(radio.speed_mps, radio.carrier_hz, radio.coherence_time_s)
            return GaussMarkovFading(self.streams, n_links, rho, k)
        if radio.time_correlation == "jakes":
            f_d = doppler_hz(radio.speed_mps, radio.carrier_hz)
            return JakesFading(self.streams, n_links, f_d, radio.coherence_time_s, k)
        return IIDBlockFading(self.streams, n_links, k)

    def enable_cache(self, cache_dir: str | Path) -> None:
        """Use a training-result cache in ``cache_dir`` (see ``cache_dir`` above)."""
        self.cache = TrainingCache(cache_dir)
        self.trainer.use_cache(self.cache)

    def cache_bytes_upper_bound(self) -> int:
        """Disk a cache of every local update of this run may take: P x 4 B x PIUs x rounds."""
        n_pius, rounds = len(self.pius), self.scenario.protocol.rounds
        return self.trainer.num_params * 4 * n_pius * rounds  # float32: 4 bytes per weight

    def _check_link_budgets(self, model_bits: int) -> None:
        """Refuse a scenario in which one model upload would take more than a day."""
        for piu in self.pius:
            bandwidth = piu.access.bandwidth_hz
            airtime = piu.planned_airtime_s(model_bits, bandwidth)
            if airtime > _MAX_PLANNED_AIRTIME_S:
                snr = self.channel.mean_snr(piu.index, piu.ap_index, piu.tx_power_w, bandwidth)
                raise ScenarioError(
                    f"{piu.name}'s uplink is unusable: mean SNR {10 * np.log10(snr):.1f} dB at "
                    f"its AP (ap{piu.ap_index}), so one {model_bits}-bit update would take "
                    f"{airtime:.3g} s; check topology distances, radio.pathloss, "
                    "radio.bandwidth_hz and device.tx_power_dbm"
                )

    def _large_scale_gain(
        self, ap_xy: np.ndarray, ap_h: np.ndarray, piu_xy: np.ndarray, piu_h: np.ndarray
    ) -> np.ndarray:
        """beta (K, A), linear: path loss of each link's LOS/NLOS state at its 3D distance,
        plus log-normal shadowing. LOS states and shadowing are drawn per PIU from the keyed
        streams ``(LOS, piu)`` and ``(SHADOWING, piu)``, or per AP over all PIUs
        (``SHADOWING_FIELD``) when shadowing is spatially correlated."""
        radio = self.scenario.radio
        self._ap_xy, self._ap_h, self._piu_h = ap_xy, ap_h, piu_h
        stats = self._link_stats(piu_xy, piu_h)
        n_pius, n_aps = stats.loss_los_db.shape
        u = np.stack([self.streams.numpy(Stream.LOS, k).uniform(size=n_aps) for k in range(n_pius)])
        los = u < stats.p_los
        loss_db = np.where(los, stats.loss_los_db, stats.loss_nlos_db)
        sigma_db = np.where(los, stats.sigma_los_db, stats.sigma_nlos_db)
        if radio.shadowing_std_db is not None:
            sigma_db = np.full_like(loss_db, radio.shadowing_std_db)
        self.los = los
        self._shadow_db = sigma_db * self._shadowing_normals(piu_xy, n_aps)  # (K, A)
        return db_to_linear(-(loss_db + self._shadow_db))

    def _link_stats(self, piu_xy: np.ndarray, piu_h: np.ndarray):
        """Path-loss statistics of PIUs at ``piu_xy`` (K, 2) to every AP."""
        delta = np.abs(piu_xy[:, None, :] - self._ap_xy[None, :, :])  # (K, A, 2)
        topo = self.scenario.topology
        if isinstance(topo, GridTopology) and topo.wrap_around:
            delta = np.minimum(delta, topo.side_m - delta)  # shortest way round the torus
        d2d = np.linalg.norm(delta, axis=-1)  # (K, A)
        ap_h = self._ap_h[None, :]
        d3d = np.sqrt(d2d**2 + (ap_h - piu_h[:, None]) ** 2)
        radio = self.scenario.radio
        return link_loss(radio.pathloss, d2d, d3d, radio.carrier_hz, ap_h, piu_h[:, None])

    def gain_at(self, piu: int, xy: np.ndarray) -> np.ndarray:
        """beta (A,) of PIU ``piu`` moved to ``xy`` (m): path loss at the new distances, its
        links' LOS states and shadowing kept (mobility)."""
        stats = self._link_stats(np.asarray(xy, dtype=float)[None, :], self._piu_h[[piu]])
        los = self.los[piu]
        loss_db = np.where(los, stats.loss_los_db[0], stats.loss_nlos_db[0])
        return db_to_linear(-(loss_db + self._shadow_db[piu]))

    def _shadowing_normals(self, piu_xy: np.ndarray, n_aps: int) -> np.ndarray:
        """Standard normal shadowing variates (K, A), correlated across PIUs if configured."""
        decorrelation = self.scenario.radio.shadowing_decorrelation_m
        n_pius = len(piu_xy)
        if decorrelation is None:
            return np.stack(
                [
                    self.streams.numpy(Stream.SHADOWING, k).standard_normal(n_aps)
                    for k in range(n_pius)
                ]
            )
        # E[F_i F_k] = 2^(-|x_i - x_k| / d_dec) (cell-free book, d_dec = 9 m), per AP.
        dist = np.linalg.norm(piu_xy[:, None, :] - piu_xy[None, :, :], axis=-1)
        chol = np.linalg.cholesky(2.0 ** (-dist / decorrelation) + 1e-10 * np.eye(n_pius))
        return np.stack(
            [
                chol @ self.streams.numpy(Stream.SHADOWING_FIELD, a).standard_normal(n_pius)
                for a in range(n_aps)
            ],
            axis=1,
        )

    def _learning(self, n_pius: int) -> tuple[Trainer, list[np.ndarray]]:
        cfg = self.scenario.learning
        try:
            data = load_dataset(cfg.dataset, cfg.data_path)
        except DatasetError as exc:
            raise ScenarioError(f"learning.data_path = '{cfg.data_path}': {exc}") from None
        train_idx, test_idx = train_test_split(
            len(data), cfg.test_fraction, self.streams.numpy(Stream.DATA_SPLIT)
        )
        train, test = data.subset(train_idx), data.subset(test_idx)
        self.train_data = train
        rng = self.streams.numpy(Stream.PARTITION)
        labels = train.y.numpy()
        part = cfg.partition
        try:
            if isinstance(part, ShardPartition):
                partitions = partition_shards(labels, n_pius, part.classes_per_piu, rng)
            elif isinstance(part, DirichletPartition):
                partitions = partition_dirichlet(labels, n_pius, part.alpha, rng)
            elif part.samples_per_piu is not None:
                partitions = partition_sampled(len(labels), n_pius, part.samples_per_piu, rng)
            else:
                partitions = partition_iid(len(labels), n_pius, rng)
        except ValueError as exc:
            raise ScenarioError(f"learning.partition = {part.model_dump()}: {exc}") from None
        model = MODELS[cfg.model].build(
            data.info.input_shape, data.info.num_classes, self.streams.torch(Stream.MODEL_INIT)
        )
        opt = cfg.optimizer
        spec = OptimizerSpec(opt.name, opt.lr, opt.momentum, opt.weight_decay)
        if cfg.trainer == "batched":
            trainer: Trainer = BatchedTrainer(
                model,
                train,
                test,
                cfg.batch_size,
                spec,
                self.streams,
                device=cfg.device,
                chunk_size=None if cfg.batch_clients == "auto" else cfg.batch_clients,
            )
        else:
            trainer = Trainer(
                model, train, test, cfg.batch_size, spec, self.streams, device=cfg.device
            )
        return trainer, partitions

    def run(self) -> SimulationResult:
        """Run all rounds; return the event log, the rounds table and the final model."""
        wall_start = time.perf_counter()  # wall clock only measures the run, never drives it
        try:
            self.env.run(until=self.server.process)
        except RuntimeError:  # SimPy: nothing is scheduled any more, the server still waits
            if self.env.peek() != math.inf:
                raise
            # e.g. every PIU offline for good after the end of its trace
            self.server.emit("stop", -1, detail="nothing left to happen: no PIU will come back")
        events = events_frame(self.log.records)
        rounds = self._rounds_with_totals(events)
        weights = self.server.weights
        attacks = None
        if isinstance(self.attacker, GANAttack):
            attacks = self.attacker.report(self.trainer, self.partitions, weights)
        elif self.attacker is not None:
            attacks = self.attacker.attack_all(self.trainer, self.partitions, self.train_data)
        return SimulationResult(
            scenario=self.scenario,
            events=events,
            rounds=rounds,
            weights=weights,
            state_dict=self.trainer.state_dict(weights),
            wall_time_s=time.perf_counter() - wall_start,
            initial_battery_j={p.name: p.battery.capacity_j for p in self.pius},
            final_battery_j={p.name: p.battery.level_j for p in self.pius},
            harvested_j={p.name: p.battery.harvested_j for p in self.pius},
            training_jobs_run=self.trainer.jobs_run,
            training_cache_hits=self.cache.hits if self.cache is not None else 0,
            attacks=attacks,
            diagnostics=self._diagnostics(),
        )

    def _diagnostics(self) -> dict[str, float]:
        solves = self.server.solve_times_s
        if not solves:
            return {}
        return {
            "allocation_solves": len(solves),
            "allocation_solve_mean_s": float(np.mean(solves)),
            "allocation_solve_max_s": float(np.max(solves)),
        }

    def _rounds_with_totals(self, events: pd.DataFrame) -> pd.DataFrame:
        rounds = rounds_frame(self.server.records)
        piu_rows = events[events["role"] == "piu"]
        energy = piu_rows.groupby("round")["energy_j"].sum(min_count=1)
        bits = piu_rows[piu_rows["event"] == "tx_end"].groupby("round")["bits"].sum()
        rounds["energy_j"] = rounds["round"].map(energy).fillna(0.0).astype(float)
        rounds["uplink_bits"] = rounds["round"].map(bits).fillna(0.0).astype(float)
        return rounds
