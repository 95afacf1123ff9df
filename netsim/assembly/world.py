"""A validated scenario -> the wired entities of one simulation on one SimPy timeline.

Every entity gets all its collaborators in its constructor; nothing is patched afterwards.
Entities are built first and their processes started afterwards, server first, then the
APs, the PIUs and the movers, so that the order of events at t = 0 is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import simpy

from netsim.assembly import devices as build_devices
from netsim.assembly import learning as build_learning
from netsim.assembly import protocols as build_protocols
from netsim.assembly import radio as build_radio
from netsim.assembly.checks import check_link_budgets, preflight
from netsim.assembly.learning import Learning
from netsim.assembly.radio import Air
from netsim.assembly.radio_data import radio_meter
from netsim.assembly.spectrum import Spectrum, cellfree_grants, check_fdma_rbs, uplink
from netsim.assembly.tiers import Tiers, backhaul_link, outages
from netsim.assembly.topology import background, backhaul_graph
from netsim.backhaul.hop import WiredHop
from netsim.backhaul.routing import RoutedBackhaul
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
from netsim.log import EventLog, RoundRecord
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.edge import EdgeServer
from netsim.nodes.forecast import SNRForecast
from netsim.nodes.link import Backhaul, RoutedLink
from netsim.nodes.mobility import Mobility
from netsim.nodes.piu import PIU, ClientKit, DeviceKit
from netsim.nodes.server import Scoring, Server, ServerServices, UplinkPlanning
from netsim.nodes.signalling import Signalling
from netsim.privacy.attacker import Attack
from netsim.radio.access import MultipleAccess
from netsim.radio.allocation import CellFreeUplink, RoundAllocator
from netsim.radio.channel import RadioChannel
from netsim.radio.largescale import LargeScaleGains
from netsim.radio.links import (
    Grant,
)
from netsim.radio.pathloss import dbm_to_w
from netsim.rng import Streams
from netsim.scenario import Scenario


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
    spectrum: Spectrum | None = None  # how the links share the band (schedulers, media)


def build_world(scenario: Scenario, on_round: Callable[[RoundRecord], None] | None = None) -> World:
    """Build every entity of ``scenario``, wire them and start their processes (nothing
    has happened yet: the clock is at 0). Raises :class:`ScenarioError` for what only the
    build can find (files, data, a broken link budget)."""
    s = scenario
    n_pius, n_aps = preflight(s)
    streams = Streams(s.seed)
    env, log = simpy.Environment(), EventLog()
    air = Air.build(s, streams)
    data = Learning.build(s, streams, n_pius, n_aps)
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
    plan = Spectrum.build(s, air, env, streams)
    graph = backhaul_graph(s.backhaul, n_aps, streams, s.topology)
    given = {(p[0], p[-1]): tuple(p) for p in s.backhaul.paths}
    routed = None if graph is None else RoutedBackhaul(env, graph, given)
    traffic = [] if routed is None else background(s.backhaul, routed, env, streams)
    tiers = Tiers.build(s, env, graph, n_aps, server_inbox)
    star = WiredHop(s.backhaul.capacity_bps, s.backhaul.latency_s)  # each AP's private link
    wiring = _Wiring(s, env, log, streams, air, data, tiers, signalling, plan, routed, star)
    aps = _access_points(wiring)
    grants = cellfree_grants(cellfree, s.radio.combining, max_power)
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
    paths = build_devices.trajectories(
        m, air.piu_xy, air.gains.ap_xy, streams, build_devices.floor_of(s.topology)
    )
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
            None if s.protocol.patience is None else (s.protocol.patience, s.protocol.min_delta),
        ),
    )
    movers = [
        Mobility(
            env, pius[k], path, air.gains.gain_at, air.channel, aps, m.update_s, m.hysteresis_db
        )
        for k, path in paths.items()
    ]
    check_link_budgets(pius, aps, server.model_bits, s.radio)
    _start(s, [server, *edges], aps, pius, devices, movers)
    for flow in traffic:  # after the entities: their events at t = 0 keep their order
        flow.start()
    if routed is not None:
        outages(s, routed, env, log, streams)
    return World(
        env, log, streams, air.topology, air.gains, air.serving_ap, air.channel, data.trainer,
        data.train, data.partitions, devices, cellfree, server, aps, pius, movers,
        data.gan if data.gan is not None else data.eavesdropper, routed, edges, plan,
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
    data: Learning
    tiers: Tiers
    signalling: Signalling
    spectrum: Spectrum
    backhaul: RoutedBackhaul | None  # None: the star of private AP links
    star: WiredHop  # each AP's private link where there is no routed backhaul


def _edge_servers(
    w: _Wiring,
    tiers: Tiers,
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
        a: (backhaul_link(env, star, routed, a, "server", up=False), ap.inbox)
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
    max_power_w = dbm_to_w(device.tx_power_dbm)
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
        link=uplink(s, w.spectrum, w.air.channel, w.env, k, ap, max_power_w, grants),
        device=kit,
        client=client,
        streams=w.streams,
        signalling=w.signalling,
    )
    ap.attach(k, piu.inbox)
    return piu


def _access_points(w: _Wiring) -> list[AccessPoint]:
    """The APs, each with its uplink band, backhaul and (over the air) receiver."""
    s, air = w.s, w.air
    check_fdma_rbs(s, air.band, np.bincount(air.serving_ap))
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
            uplink=backhaul_link(w.env, w.star, w.backhaul, a, w.tiers.names[a], up=True),
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
    data: Learning,
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
