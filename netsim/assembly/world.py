"""A validated scenario -> the wired entities of one simulation on one SimPy timeline.

Every entity gets all its collaborators in its constructor; nothing is patched afterwards.
Entities are built first and their processes started afterwards, server first, then the
APs, the PIUs and the movers, so that the order of events at t = 0 is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import simpy

from netsim.assembly import devices as build_devices
from netsim.assembly import learning as build_learning
from netsim.assembly import protocols as build_protocols
from netsim.assembly import radio as build_radio
from netsim.assembly.checks import preflight
from netsim.assembly.hierarchy import edge_plan
from netsim.assembly.radio import Air
from netsim.assembly.radio_data import radio_meter
from netsim.assembly.topology import background, backhaul_graph
from netsim.backhaul.hop import WiredHop
from netsim.backhaul.routing import RoutedBackhaul
from netsim.compress import Compressor
from netsim.device.availability import Switch
from netsim.device.battery import Battery
from netsim.device.classes import DeviceSpec
from netsim.device.compute import ComputeModel
from netsim.device.mobility import Trajectory
from netsim.fl.algorithms import Algorithm
from netsim.fl.byzantine import ByzantineUpdate
from netsim.fl.dp import PrivateOTA
from netsim.learn.datasets import Dataset
from netsim.learn.trainer import Trainer
from netsim.log import Event, EventLog, RoundRecord
from netsim.messages import OTAReady
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.edge import EdgeServer
from netsim.nodes.forecast import SNRForecast
from netsim.nodes.link import Backhaul, RoutedLink, WiredLink
from netsim.nodes.mobility import Mobility
from netsim.nodes.piu import PIU, ClientKit, DeviceKit
from netsim.nodes.server import Scoring, Server, ServerServices, UplinkPlanning
from netsim.nodes.signalling import Signalling
from netsim.privacy.attacker import Attack, Attacker
from netsim.privacy.gan import GANAttack
from netsim.radio.access import MultipleAccess
from netsim.radio.allocation import CellFreeUplink, RoundAllocator
from netsim.radio.band import Band
from netsim.radio.channel import RadioChannel
from netsim.radio.largescale import LargeScaleGains
from netsim.radio.links import (
    AdaptiveRateLink,
    CellFreeLink,
    FixedRateLink,
    Grant,
    OpenLoopPowerControl,
    OverTheAirLink,
    ScheduledLink,
    SharedSpectrumLink,
    Uplink,
)
from netsim.radio.medium import CoChannelMedium
from netsim.radio.pathloss import dbm_to_w
from netsim.radio.scheduler import OFDMAScheduler
from netsim.rng import Stream, Streams
from netsim.scenario import RadioConfig, Scenario, ScenarioError

_MAX_PLANNED_AIRTIME_S = 86_400.0  # one day for one model upload: the link budget is broken
# fading blocks one upload may span: each is a step of the timeline (a SimPy event on a
# shared band), so 1e6 of them take seconds to minutes of the simulator's own time
_MAX_PLANNED_BLOCKS = 1.0e6


@dataclass
class World:
    """The entities of one simulation and what they were built from.

    gains: the links' large-scale gains (K, A); serving_ap: (K,) each PIU's first AP (the
    strongest average link); cellfree: the cell-free uplink (None for other access
    schemes); train_data, partitions: the training set and each PIU's sample indices;
    attacker: the attack of ``[attack]`` (None without one); backhaul: the routed backhaul
    network of ``[backhaul] kind`` (None: the star of private AP links); edges: the edge
    servers of hierarchical FL (none: flat FL).
    """

    env: simpy.Environment
    log: EventLog
    streams: Streams
    topology: nx.Graph
    gains: LargeScaleGains
    serving_ap: np.ndarray
    channel: RadioChannel
    trainer: Trainer
    train_data: Dataset
    partitions: list[np.ndarray]
    devices: list[DeviceSpec]
    cellfree: CellFreeUplink | None
    server: Server
    aps: list[AccessPoint]
    pius: list[PIU]
    movers: list[Mobility]
    attacker: Attack | None
    backhaul: RoutedBackhaul | None = None
    edges: list[EdgeServer] = field(default_factory=list)


def build_world(scenario: Scenario, on_round: Callable[[RoundRecord], None] | None = None) -> World:
    """Build every entity of ``scenario``, wire them and start their processes (nothing
    has happened yet: the clock is at 0). Raises :class:`ScenarioError` for what only the
    build can find (files, data, a broken link budget)."""
    s = scenario
    n_pius, n_aps = preflight(s)
    streams = Streams(s.seed)
    env, log = simpy.Environment(), EventLog()
    air = Air.build(s, streams)
    data = _Learning.build(s, streams, n_pius, n_aps)
    attributes = [air.topology.nodes[f"piu{k}"].get("device_class") for k in range(n_pius)]
    classes = build_devices.assign_classes(s.device, n_pius, attributes, streams)
    devices = build_devices.device_specs(s.device, classes, streams)
    max_power = np.array([dbm_to_w(d.tx_power_dbm) for d in devices])  # (K,) W
    computes = [ComputeModel(d.cpu_hz, d.cycles_per_sample, d.kappa) for d in devices]
    cellfree = (
        build_radio.cellfree_uplink(s.radio, air.gains.gain, air.band, max_power)
        if s.radio.access == "cellfree"
        else None
    )
    server_inbox = simpy.Store(env)
    signalling = Signalling()
    plan = _Spectrum.build(s, air, env, streams)
    graph = backhaul_graph(s.backhaul, n_aps, streams, s.topology)
    given = {(p[0], p[-1]): tuple(p) for p in s.backhaul.paths}
    routed = None if graph is None else RoutedBackhaul(env, graph, given)
    traffic = [] if routed is None else background(s.backhaul, routed, env, streams)
    tiers = _Tiers.build(s, env, graph, n_aps, server_inbox)
    star = WiredHop(s.backhaul.capacity_bps, s.backhaul.latency_s)  # each AP's private link
    wiring = _Wiring(s, env, log, streams, air, data, tiers, signalling, plan, routed, star)
    aps = _access_points(wiring)
    grants = _cellfree_grants(cellfree, s.radio.combining, max_power)
    schedules = build_devices.availability(s.device, n_pius, streams)
    samples = sum(len(p) for p in data.partitions)
    # one algorithm object for the server and every PIU (its client state per PIU); edge
    # servers run their own, of algorithms without state (the scenario refuses the others)
    algorithm = build_protocols.algorithm(s, samples)
    pius = [
        _piu(wiring, k, aps[int(air.serving_ap[k])], devices[k], schedules[k], grants, algorithm)
        for k in range(n_pius)
    ]
    allocator = None if cellfree is None else _allocator(s, cellfree, computes, devices, data)
    edges = _edge_servers(wiring, tiers, aps, pius, on_round)
    m = s.mobility
    paths = build_devices.trajectories(m, air.piu_xy, air.gains.ap_xy, streams)
    forecast = _forecast(s, air, paths, data.trainer)
    protocol = (
        build_protocols.server_protocol(
            s, algorithm, data.trainer, streams, forecast=forecast, n_pius=n_pius
        )
        if not edges
        else build_protocols.cloud_protocol(s, edges)
    )
    server = Server(
        env,
        log,
        inbox=server_inbox,
        weights=data.trainer.initial_weights(),
        downlinks=_server_downlinks(env, star, routed, aps, edges),
        pius=pius,
        protocol=protocol,
        local_steps=s.learning.local_steps,
        aggregation_s=s.server.aggregation_s,
        services=ServerServices(
            data.trainer,
            data.compressor,
            streams,
            signalling,
            on_round,
            data.eavesdropper if s.attack.position == "server" else None,
        ),
        # without an allocation the server grants full-power cell-free links
        planning=UplinkPlanning(
            allocator, (cellfree, s.radio.combining) if cellfree and not allocator else None
        ),
        scoring=Scoring(
            (data.holdouts, s.learning.eval_every) if s.learning.eval_every else None,
            s.protocol.target_accuracy,
        ),
    )
    movers = [
        Mobility(
            env, pius[k], path, air.gains.gain_at, air.channel, aps, m.update_s, m.hysteresis_db
        )
        for k, path in paths.items()
    ]
    _check_link_budgets(pius, aps, server.model_bits, s.radio)
    _start(s, [server, *edges], aps, pius, devices, movers)
    for flow in traffic:  # after the entities: their events at t = 0 keep their order
        flow.start()
    if routed is not None:
        _outages(s, routed, env, log, streams)
    return World(
        env, log, streams, air.topology, air.gains, air.serving_ap, air.channel, data.trainer,
        data.train, data.partitions, devices, cellfree, server, aps, pius, movers,
        data.gan if data.gan is not None else data.eavesdropper, routed, edges,
    )  # fmt: skip


@dataclass(frozen=True)
class _Wiring:
    """What the entities are wired to: the scenario, the timeline, the log, the streams,
    the radio world, the learning, the aggregation tiers and the signalling."""

    s: Scenario
    env: simpy.Environment
    log: EventLog
    streams: Streams
    air: Air
    data: _Learning
    tiers: _Tiers
    signalling: Signalling
    spectrum: _Spectrum
    backhaul: RoutedBackhaul | None  # None: the star of private AP links
    star: WiredHop  # each AP's private link where there is no routed backhaul


@dataclass(frozen=True)
class _Spectrum:
    """How the links share the band (``Air.band``: the frequency plan, the widths): with
    reuse, the co-channel medium every digital uplink transmits on, and each PIU's FDMA
    sub-band (its rank among the PIUs its first AP serves)."""

    medium: CoChannelMedium | None
    slots: np.ndarray
    power_control: OpenLoopPowerControl | None
    scheduler: OFDMAScheduler | None = None
    downlink_scheduler: OFDMAScheduler | None = None
    downlink_medium: CoChannelMedium | None = None

    @classmethod
    def build(cls, s: Scenario, air: Air, env: simpy.Environment, streams: Streams) -> _Spectrum:
        serving = air.serving_ap
        slots = np.zeros(len(serving), dtype=int)
        for a in np.unique(serving):
            mine = np.flatnonzero(serving == a)
            slots[mine] = np.arange(len(mine))
        pc = s.radio.power_control
        control = None if pc is None else OpenLoopPowerControl(dbm_to_w(pc.p0_dbm), pc.alpha)
        n_aps = air.gains.gain.shape[1]
        # co-channel downlinks interfere too (those the OFDMA scheduler does not carry)
        down = None
        if s.radio.reuse != "orthogonal":
            down = CoChannelMedium(env, air.channel, downlink=True)
        if s.radio.scheduler != "fifo" or s.radio.link == "nr":
            scheduler = build_radio.ofdma_scheduler(s.radio, air.channel, env, streams)
            downlink = None
            if s.radio.downlink == "unicast" or s.radio.link == "nr":
                downlink = build_radio.ofdma_scheduler(
                    s.radio, air.channel, env, streams, downlink=True
                )
            return cls(None, slots, control, scheduler, downlink, down)
        medium = build_radio.medium(s.radio, air.channel, n_aps, env, streams)
        return cls(medium, slots, control, None, None, down)


@dataclass(frozen=True)
class _Tiers:
    """Who aggregates each AP's PIUs: the server's inbox; per AP (A,) the aggregator's
    backhaul node name and inbox (the server's in flat FL); in hierarchical FL each edge
    server's name, APs and inbox."""

    server: simpy.Store
    names: list[str]
    inboxes: list[simpy.Store]
    edges: list[tuple[str, list[int], simpy.Store]]

    @classmethod
    def build(
        cls,
        s: Scenario,
        env: simpy.Environment,
        graph: nx.Graph | None,
        n_aps: int,
        server_inbox: simpy.Store,
    ) -> _Tiers:
        names, inboxes = ["server"] * n_aps, [server_inbox] * n_aps
        if s.hierarchy is None or graph is None:
            return cls(server_inbox, names, inboxes, [])
        edges = []
        for name, served in edge_plan(s.hierarchy, graph, n_aps):
            inbox = simpy.Store(env)
            edges.append((name, served, inbox))
            for a in served:
                names[a], inboxes[a] = name, inbox
        return cls(server_inbox, names, inboxes, edges)


def _edge_servers(
    w: _Wiring,
    tiers: _Tiers,
    aps: list[AccessPoint],
    pius: list[PIU],
    on_round: Callable[[RoundRecord], None] | None,
) -> list[EdgeServer]:
    """The edge servers of hierarchical FL (none in flat FL), each running ``[protocol]``'s
    synchronous rounds over its APs' PIUs with k1 local rounds of steps."""
    s, routed = w.s, w.backhaul
    if s.hierarchy is None or routed is None:
        return []
    data = w.data
    samples = {k: len(part) for k, part in enumerate(data.partitions)}
    return [
        EdgeServer(
            w.env,
            w.log,
            i,
            cloud=(RoutedLink(routed, name, "server"), w.tiers.server),
            k2=s.hierarchy.k2,
            samples=samples,
            name=name,
            serves=frozenset(served),
            inbox=inbox,
            weights=data.trainer.initial_weights(),
            downlinks={a: (RoutedLink(routed, name, f"ap{a}"), aps[a].inbox) for a in served},
            pius=pius,
            protocol=build_protocols.server_protocol(
                s,
                build_protocols.algorithm(s, sum(samples.values())),
                data.trainer,
                w.streams,
                makes_global=False,
            ),
            local_steps=s.hierarchy.k1 * s.learning.local_steps,
            aggregation_s=s.server.aggregation_s,
            services=ServerServices(
                data.trainer, data.compressor, w.streams, w.signalling, on_round
            ),
        )  # fmt: skip
        for i, (name, served, inbox) in enumerate(tiers.edges)
    ]


def _server_downlinks(
    env: simpy.Environment,
    star: WiredHop,
    routed: RoutedBackhaul | None,
    aps: list[AccessPoint],
    edges: list[EdgeServer],
) -> dict[int, tuple[Backhaul, simpy.Store]]:
    """The server's links and the inboxes at their far ends: to each edge server (by its
    index; hierarchical FL) or to each AP."""
    if edges:
        assert routed is not None  # edge servers live on a routed backhaul
        return {
            i: (RoutedLink(routed, "server", e.name), e.from_cloud) for i, e in enumerate(edges)
        }
    return {
        a: (_backhaul(env, star, routed, a, "server", up=False), ap.inbox)
        for a, ap in enumerate(aps)
    }


def _piu(
    w: _Wiring,
    k: int,
    ap: AccessPoint,
    device: DeviceSpec,
    schedule: Iterable[Switch] | None,
    grants: list[Grant] | None,
    algorithm: Algorithm,
) -> PIU:
    """PIU ``k`` with its device, data, availability ``schedule``, harvester and pruning
    (own scope), and its uplink to ``ap``, which serves it from now."""
    s = w.s
    kit = DeviceKit(
        ComputeModel(device.cpu_hz, device.cycles_per_sample, device.kappa),
        device.slowdown,
        Battery(device.battery_j),
        build_devices.harvester(s.device, k, w.streams),
        schedule,
        s.device.reserve_j,
    )
    client = ClientKit(
        w.data.trainer,
        w.data.partitions[k],
        w.data.compressor,
        algorithm,
        build_learning.pruning_schedule(s.pruning) if s.pruning.scope == "piu" else None,
        None
        if device.byzantine is None
        else ByzantineUpdate(device.byzantine, device.byzantine_scale),
        w.data.gan if w.data.gan is not None and k == s.attack.pius[0] else None,
    )
    piu = PIU(
        w.env,
        w.log,
        k,
        ap_inbox=ap.inbox,
        server_inbox=w.tiers.inboxes[ap.index],
        link=_uplink(w, k, ap, dbm_to_w(device.tx_power_dbm), grants),
        device=kit,
        client=client,
        streams=w.streams,
        signalling=w.signalling,
    )
    ap.attach(k, piu.inbox)
    return piu


@dataclass(frozen=True)
class _Learning:
    """The data, the trainer, the compressor and the attackers."""

    train: Dataset
    partitions: list[np.ndarray]
    trainer: Trainer
    compressor: Compressor
    gan: GANAttack | None
    eavesdropper: Attacker | None
    holdouts: list[np.ndarray]  # per PIU: its held-out samples (per-PIU evaluation)

    @classmethod
    def build(cls, s: Scenario, streams: Streams, n_pius: int, n_aps: int) -> _Learning:
        train, test = build_learning.data(s, streams)
        groups = None if train.groups is None else train.groups.numpy()
        parts = build_learning.partitions(s.learning, train.y.numpy(), n_pius, streams, groups)
        parts, held = build_learning.holdouts(s.learning, parts, streams)
        parts = build_learning.adversary_data(s.attack, parts, train)
        scale = build_learning.position_scale(s)
        trainer = build_learning.trainer(s.learning, train, test, streams, scale)
        compressor = build_learning.compressor(s.compression, streams)
        gan = build_learning.gan_attack(s.attack, trainer, train, parts, streams)
        spy = build_learning.eavesdropper(s.attack, s.learning, s.seed, compressor, n_aps)
        return cls(train, parts, trainer, compressor, gan, spy, held)


def _outages(
    s: Scenario, routed: RoutedBackhaul, env: simpy.Environment, log: EventLog, streams: Streams
) -> None:
    """Schedule ``[backhaul]``'s scheduled outages and random failures (each link's from
    its own keyed stream)."""
    for o in s.backhaul.outages:
        u, v = o.link
        routed.outage(u, v, o.start_s, o.duration_s, _link_note(env, log, u, v))
    f = s.backhaul.failures
    if f is None:
        return
    every = sorted(tuple(sorted((str(u), str(v)))) for u, v in routed.graph.edges)
    for i, (u, v) in enumerate(f.links or every):
        rng = streams.numpy(Stream.BACKHAUL, 2, i)
        routed.random_outages(u, v, f.mtbf_s, f.mttr_s, rng, _link_note(env, log, u, v))


def _link_note(env: simpy.Environment, log: EventLog, u: str, v: str) -> Callable[[str], None]:
    """Log a backhaul link's ``link_down`` / ``link_up`` (node ``u-v``, role ``backhaul``)."""

    def note(event: str) -> None:
        log.emit(Event(float(env.now), -1, f"{u}-{v}", "backhaul", event))

    return note


def _backhaul(
    env: simpy.Environment,
    star: WiredHop,
    routed: RoutedBackhaul | None,
    ap: int,
    far: str,
    up: bool,
) -> Backhaul:
    """One direction of AP ``ap``'s backhaul to its aggregator ``far`` (the server, or its
    edge server; ``up``: towards it): its private ``star`` link, or the route through the
    routed backhaul."""
    if routed is not None:
        src, dst = (f"ap{ap}", far) if up else (far, f"ap{ap}")
        return RoutedLink(routed, src, dst)
    return WiredLink(env, star.capacity_bps, star.latency_s, far if up else f"ap{ap}")


def _check_fdma_rbs(s: Scenario, band: Band, served: np.ndarray) -> None:
    """FDMA on NR links splits a channel's RBs among an AP's PIUs: each needs at least one
    (else its sub-band is empty and its uploads never end); a :class:`ScenarioError`
    naming the bandwidth otherwise."""
    if s.radio.access != "fdma" or s.radio.link != "nr" or s.radio.scheduler != "fifo":
        return
    n_rb = band.n_rb
    most = int(served.max()) if len(served) else 0
    if most > n_rb:
        raise ScenarioError(
            f"invalid scenario:\n  radio.bandwidth_hz = {s.radio.bandwidth_hz:g}: too narrow "
            f"for FDMA on NR links: an AP serves {most} PIUs and its channel holds {n_rb} "
            f"resource blocks at numerology {s.radio.numerology} (one each at least); widen "
            "the band, or use radio.scheduler = 'pf' / 'rr' to share RBs over time"
        )


def _access_points(w: _Wiring) -> list[AccessPoint]:
    """The APs, each with its uplink band, backhaul and (over the air) receiver."""
    s, air = w.s, w.air
    _check_fdma_rbs(s, air.band, np.bincount(air.serving_ap))
    p0_w = dbm_to_w(s.device.tx_power_dbm)
    ota = build_radio.ota_receiver(
        s.ota, s.radio, air.gains.gain, air.serving_ap, air.band, p0_w, w.streams
    )
    spy = w.data.eavesdropper if s.attack.position == "ap" else None
    private = None
    if ota is not None and s.dp.level == "client":
        dp, serving = s.dp, len(np.unique(air.serving_ap))
        share = (dp.noise_multiplier * dp.clip_norm) ** 2 / serving  # each AP's z^2 C^2 / A
        private = PrivateOTA(dp.clip_norm, share if dp.ota_power == "private" else None)
    return [
        AccessPoint(
            w.env,
            w.log,
            a,
            access=MultipleAccess(
                w.env,
                "ofdma" if s.radio.scheduler != "fifo" else s.radio.access,
                air.band,
                int((air.serving_ap == a).sum()),
                a,
            ),
            uplink=_backhaul(w.env, w.star, w.backhaul, a, w.tiers.names[a], up=True),
            server_inbox=w.tiers.inboxes[a],
            tx_power_w=dbm_to_w(s.radio.ap_tx_power_dbm),
            downlink=build_radio.downlink(
                s.radio,
                w.env,
                air.channel,
                int(air.band.channels[a]),
                w.spectrum.downlink_scheduler,
                w.spectrum.downlink_medium,
            ),
            ota=ota,
            private=private,
            tap=spy if s.attack.ap == a else None,
        )
        for a in range(air.gains.gain.shape[1])
    ]


def _allocator(
    s: Scenario,
    cellfree: CellFreeUplink,
    computes: list[ComputeModel],
    devices: list[DeviceSpec],
    data: _Learning,
) -> RoundAllocator | None:
    """The cell-free round allocator, costed per local step at the mean slowdown."""
    samples = [data.trainer.samples_per_round(len(p), 1) for p in data.partitions]
    step_s = [
        c.time_s(n, d.slowdown.mean) for c, d, n in zip(computes, devices, samples, strict=True)
    ]
    step_j = [c.energy_j(n) for c, n in zip(computes, samples, strict=True)]
    return build_radio.round_allocator(
        s.allocation, s.learning.local_steps, cellfree, np.array(step_s), np.array(step_j)
    )


def _start(
    s: Scenario,
    servers: list[Server],
    aps: list[AccessPoint],
    pius: list[PIU],
    devices: list[DeviceSpec],
    movers: list[Mobility],
) -> None:
    """Start every process in a fixed order (server, edge servers, APs, PIUs, movers): it
    fixes the order of the events at t = 0. With device classes each PIU logs its drawn
    device."""
    for server in servers:
        server.start()
    for ap in aps:
        ap.start()
    for piu, d in zip(pius, devices, strict=True):
        piu.start()
        if s.device.classes:
            piu.emit(
                "device",
                -1,
                battery_j=d.battery_j,
                power_w=dbm_to_w(d.tx_power_dbm),
                detail=f"class={d.klass} cpu_hz={d.cpu_hz:.6g} "
                f"cycles_per_sample={d.cycles_per_sample:.6g} kappa={d.kappa:.6g}"
                + ("" if d.byzantine is None else f" byzantine={d.byzantine}"),
            )
    for mover in movers:
        mover.start()


def _forecast(
    s: Scenario, air: Air, paths: dict[int, Trajectory], trainer: Trainer
) -> SNRForecast | None:
    """The SNR forecast of predictive selection (None for other policies): the PIUs'
    measurements from the run's maps and fading, along their paths."""
    p, radio_data = s.protocol, s.learning.radio_data
    if p.selection != "predictive":
        return None

    def position(k: int, t: float) -> np.ndarray:
        return paths[k].position(t) if k in paths else air.piu_xy[k]

    learned = p.predictor == "model"
    return SNRForecast(
        radio_meter(s, air), position, radio_data.interval_s, radio_data.snr_window,
        p.predictor, air.band.bandwidth_hz, s.radio.target_rate_bps,
        trainer if learned else None, build_learning.radio_task_of(s) if learned else None,
    )  # fmt: skip


def _cellfree_grants(
    cellfree: CellFreeUplink | None, combining: str, max_power_w: np.ndarray
) -> list[Grant] | None:
    """Each PIU's cell-free link with every PIU sending data at full power (before the
    server's first grant), or None for other access schemes."""
    if cellfree is None:
        return None
    rate, sinr = cellfree.full_power(np.arange(len(max_power_w)), combining)
    return [
        Grant(float(p), float(r), float(10 * np.log10(g)))
        for p, r, g in zip(max_power_w, rate, sinr, strict=True)
    ]


def _uplink(
    w: _Wiring, k: int, ap: AccessPoint, max_power_w: float, cellfree: list[Grant] | None
) -> Uplink:
    """PIU ``k``'s uplink to ``ap`` in the scenario's uplink mode."""
    s, channel, env, spectrum = w.s, w.air.channel, w.env, w.spectrum
    if cellfree is not None:
        return CellFreeLink(k, ap.index, ap.access, max_power_w, cellfree[k])
    if s.ota.enabled:

        def submit(update: Any, slot: simpy.Event) -> None:
            ap.inbox.put(OTAReady(update, slot))

        return OverTheAirLink(k, ap.index, ap.access, max_power_w, channel, submit, env)
    control = spectrum.power_control
    if spectrum.scheduler is not None:
        slot = int(spectrum.slots[k])
        return ScheduledLink(
            k, ap.index, ap.access, max_power_w, channel, spectrum.scheduler, env, control, slot
        )
    if spectrum.medium is not None:
        slot = int(spectrum.slots[k])
        return SharedSpectrumLink(
            k, ap.index, ap.access, max_power_w, channel, spectrum.medium, slot, env, control
        )
    if s.radio.target_rate_bps is not None:
        return FixedRateLink(
            k, ap.index, ap.access, max_power_w, channel,
            s.radio.target_rate_bps, s.radio.max_retransmissions, control,
        )  # fmt: skip
    return AdaptiveRateLink(k, ap.index, ap.access, max_power_w, channel, control)


def _check_link_budgets(
    pius: list[PIU], aps: list[AccessPoint], model_bits: int, radio: RadioConfig
) -> None:
    """Refuse a scenario in which one model download or upload would take more than a day,
    or would span so many fading blocks that simulating it would take hours (each coherence
    block of a transfer is a step of the timeline)."""
    for piu in pius:
        airtime = piu.link.planned_airtime_s(model_bits)
        if airtime > _MAX_PLANNED_AIRTIME_S:
            snr = piu.link.mean_snr()
            raise ScenarioError(
                f"{piu.name}'s uplink is unusable: mean SNR "
                f"{10 * np.log10(snr) if snr > 0 else -np.inf:.1f} dB at "
                f"its AP (ap{piu.ap_index}), so one {model_bits}-bit update would take "
                f"{airtime:.3g} s; check topology distances, radio.pathloss, "
                "radio.bandwidth_hz and device.tx_power_dbm"
            )
        _check_fading_blocks(airtime, f"{piu.name}'s update", radio)
        ap = aps[piu.ap_index]
        down = ap.downlink.planned_airtime_s(ap.index, piu.index, model_bits, ap.tx_power_w)
        if down > _MAX_PLANNED_AIRTIME_S:
            raise ScenarioError(
                f"invalid scenario:\n  radio.ap_tx_power_dbm = {radio.ap_tx_power_dbm:g}: the "
                f"model's download from ap{ap.index} to {piu.name} would take about {down:.3g} "
                "s (more than a day); check radio.ap_tx_power_dbm, radio.bandwidth_hz, "
                "radio.pathloss and the distances"
            )
        _check_fading_blocks(down, f"the model's download from ap{ap.index} to {piu.name}", radio)


def _check_fading_blocks(airtime_s: float, what: str, radio: RadioConfig) -> None:
    """Refuse a transfer of ``airtime_s`` that spans more fading blocks than the timeline
    steps through in reasonable time."""
    blocks = airtime_s / radio.coherence_time_s if radio.fading != "none" else 0.0
    if blocks > _MAX_PLANNED_BLOCKS:
        raise ScenarioError(
            f"invalid scenario:\n  radio.coherence_time_s = {radio.coherence_time_s:g}: {what} "
            f"would take about {airtime_s:.3g} s, {blocks:.3g} fading blocks (at most "
            f"{_MAX_PLANNED_BLOCKS:g} per transfer are simulated); raise the coherence time, "
            "or shorten the transfer (radio.bandwidth_hz, the transmit powers, compression)"
        )
