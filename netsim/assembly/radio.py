"""``[radio]``, ``[ota]`` and ``[allocation]`` -> path-loss model, large-scale gains,
fading, the cell-free uplink, the over-the-air receiver and the round allocator."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import simpy

from netsim.assembly.devices import floor_of
from netsim.assembly.errors import field_error
from netsim.assembly.topology import build_topology, hall_of
from netsim.radio.allocation import AllocationSettings, CellFreeUplink, RoundAllocator
from netsim.radio.antenna import SectorAntenna
from netsim.radio.band import Band
from netsim.radio.cellfree import assign_pilots, estimation_quality
from netsim.radio.channel import RadioChannel
from netsim.radio.downlinks import ChannelDownlink, Downlink, MediumDownlink, ScheduledDownlink
from netsim.radio.fading import (
    BlockFading,
    GaussMarkovFading,
    IIDBlockFading,
    JakesFading,
    NoFading,
    RayleighPowerFading,
    doppler_hz,
    gauss_markov_rho,
)
from netsim.radio.largescale import LargeScaleGains, LossModel, draw_indoor, site_ids
from netsim.radio.medium import CoChannelMedium
from netsim.radio.nr import NRLinkAbstraction
from netsim.radio.ota import OTAReceiver
from netsim.radio.pathloss import (
    LinkLoss,
    cellfree_book_db,
    db_to_linear,
    dbm_to_w,
    free_space_db,
    inf_38901,
    log_distance_db,
    macro_36814_db,
    ngo_3slope_db,
    single_state,
    uma_38901,
    umi_38901,
)
from netsim.radio.policies import scheduling_policy
from netsim.radio.raytracing import (
    MapSpec,
    RadioMaps,
    RayTracingUnavailable,
    radio_maps,
    scene_files,
)
from netsim.radio.scheduler import OFDMAScheduler
from netsim.radio.spectrum import assign_channels
from netsim.rng import Stream, Streams
from netsim.scenario import (
    AllocationConfig,
    CellFreeBookPathLoss,
    GridTopology,
    HexTopology,
    LogDistancePathLoss,
    Macro36814PathLoss,
    Ngo3SlopePathLoss,
    OTAConfig,
    PathLoss,
    RadioConfig,
    RayTracedPathLoss,
    Scenario,
    Topology,
    UMaPathLoss,
    UMiPathLoss,
)
from netsim.topologies.builders import azimuths, hex_rings, hex_wrap_offsets, positions


def loss_model(model: PathLoss, carrier_hz: float) -> LossModel:
    """The path-loss model of ``radio.pathloss`` at the carrier, as a function of the links'
    2D and 3D distances (m) and heights (m)."""

    def loss(d2d: np.ndarray, d3d: np.ndarray, ap_h: np.ndarray, ut_h: np.ndarray) -> LinkLoss:
        d3 = np.asarray(d3d, dtype=float)
        if isinstance(model, LogDistancePathLoss):
            ref = model.ref_loss_db
            if ref is None:
                ref = float(free_space_db(model.ref_distance_m, carrier_hz))
            return single_state(log_distance_db(d3, model.exponent, model.ref_distance_m, ref), 8.0)
        if isinstance(model, Macro36814PathLoss):
            return single_state(macro_36814_db(d3), 8.0)
        if isinstance(model, CellFreeBookPathLoss):
            return single_state(cellfree_book_db(d3), 4.0)
        if isinstance(model, Ngo3SlopePathLoss):
            db = ngo_3slope_db(d3, carrier_hz, ap_h, ut_h, model.d0_m, model.d1_m)
            return single_state(db, np.where(d3 > model.d1_m, 8.0, 0.0))
        if isinstance(model, UMiPathLoss):
            return umi_38901(d2d, d3, carrier_hz, ap_h, ut_h)
        if isinstance(model, UMaPathLoss):
            return uma_38901(d2d, d3, carrier_hz, ap_h, ut_h)
        if isinstance(model, RayTracedPathLoss):  # LargeScaleGains reads its maps instead
            raise ValueError("a ray-traced path loss is read from its maps, not distances")
        return inf_38901(
            d2d,
            d3,
            carrier_hz,
            ap_h,
            ut_h,
            model.variant,
            model.clutter_density,
            model.clutter_height_m,
            model.clutter_size_m,
        )

    return loss


def large_scale_gains(
    radio: RadioConfig,
    topology: Topology,
    ap: tuple[np.ndarray, np.ndarray],
    piu: tuple[np.ndarray, np.ndarray],
    streams: Streams,
    ap_azimuth_deg: np.ndarray | None = None,
) -> LargeScaleGains:
    """The links' large-scale gains for APs and PIUs at ``(xy (n, 2), height (n,))``, with
    sector APs facing ``ap_azimuth_deg`` (A,) (NaN: omnidirectional); per-site draws, indoor
    PIUs and the 3D sector antenna where ``radio`` asks for them."""
    torus = topology.side_m if isinstance(topology, GridTopology) and topology.wrap_around else None
    indoor = None
    if radio.indoor is not None:
        i = radio.indoor
        indoor = draw_indoor(
            piu[1], i.fraction, i.high_loss_fraction, i.max_distance_m, radio.carrier_hz,
            streams, i.shadowing_std_db,
        )  # fmt: skip
    a = radio.sector_antenna
    antenna = None if a is None else SectorAntenna(a.rows, a.spacing_wavelengths, a.downtilt_deg)
    maps = traced_maps(radio, topology, ap, piu, ap_azimuth_deg)
    return LargeScaleGains(
        *ap,
        *piu,
        loss_model(radio.pathloss, radio.carrier_hz),
        streams,
        shadowing_std_db=radio.shadowing_std_db,
        decorrelation_m=radio.shadowing_decorrelation_m,
        torus_side_m=torus,
        wrap_offsets_m=_hex_images(topology),
        ap_azimuth_deg=ap_azimuth_deg,
        consistency_m=radio.spatial_consistency_m,
        los_consistency_m=radio.los_correlation,
        ap_site=site_ids(ap[0]) if radio.large_scale_per_site else None,
        indoor=indoor,
        sector_antenna=antenna,
        radio_maps=maps,
    )


RADIO_MAP_MARGIN = 0.1  # of the layout's extent, on each side of a map without an area


def radio_maps_cache() -> Path:
    """Where traced radio maps are kept between runs: ``$NETSIM_RADIO_MAPS``, else
    ``$XDG_CACHE_HOME/netsim/radio_maps`` (``~/.cache`` without it)."""
    given = os.environ.get("NETSIM_RADIO_MAPS")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "netsim" / "radio_maps"


def traced_maps(
    radio: RadioConfig,
    topology: Topology,
    ap: tuple[np.ndarray, np.ndarray],
    piu: tuple[np.ndarray, np.ndarray],
    ap_azimuth_deg: np.ndarray | None = None,
    trace: bool = False,
) -> RadioMaps | None:
    """The ray-traced maps of ``radio.pathloss = {model = "raytraced"}`` for the APs at
    ``ap`` (xy (A, 2), heights (A,)) over the area the PIUs ``piu`` roam, at their height:
    the scenario's stored ``maps`` (unless ``trace``), else from the cache
    (:func:`radio_maps_cache`) or traced now; None for other models."""
    model = radio.pathloss
    if not isinstance(model, RayTracedPathLoss):
        return None
    field = "radio.pathloss.model"
    if ap_azimuth_deg is not None and not np.isnan(ap_azimuth_deg).all():
        sectors = "needs omnidirectional APs (the maps are traced from isotropic antennas)"
        raise field_error(field, "raytraced", problem=f"{sectors}; this topology has sectors")
    heights = np.unique(piu[1])
    if len(heights) != 1:
        plane = "needs one PIU height (the maps are one plane)"
        raise field_error(field, "raytraced", problem=f"{plane}; the PIUs have {len(heights)}")
    spec = _spec(model, radio, topology, ap, piu)
    if model.maps is not None and not trace:
        return _stored_maps(model.maps, spec)
    try:
        return radio_maps(spec, radio_maps_cache())
    except RayTracingUnavailable as exc:
        raise field_error(field, "raytraced", problem=str(exc)) from None
    except (FileNotFoundError, RuntimeError) as exc:  # a missing mesh, a scene Mitsuba refuses
        raise field_error("radio.pathloss.scene", str(spec.scene), problem=str(exc)) from None


def _spec(
    model: RayTracedPathLoss,
    radio: RadioConfig,
    topology: Topology,
    ap: tuple[np.ndarray, np.ndarray],
    piu: tuple[np.ndarray, np.ndarray],
) -> MapSpec:
    """What the maps of APs ``ap`` over PIUs ``piu`` (xy, heights) depend on: the scene
    (the building's, written on first use), the area (``area_m``, a hall's floor, or the
    layout's box with margins), the PIUs' height and the solver's settings."""
    if model.scene is not None:
        check_scene(model.scene)
    scene = model.scene or building_scene(topology, radio_maps_cache())
    area = model.area_m or floor_of(topology)
    if area is None:
        everyone = np.vstack([ap[0], piu[0]])
        low, high = everyone.min(axis=0), everyone.max(axis=0)
        pad = RADIO_MAP_MARGIN * np.maximum(high - low, model.cell_m)
        area = (*(low - pad), *(high + pad))
    x0, y0, x1, y1 = (float(v) for v in area)
    return MapSpec(
        scene,
        tuple((float(x), float(y), float(h)) for (x, y), h in zip(ap[0], ap[1], strict=True)),
        radio.carrier_hz, (x0, y0, x1, y1), float(piu[1][0]), model.cell_m,
        model.rays, model.max_depth, model.diffraction, model.seed,
    )  # fmt: skip


def check_scene(scene: Path) -> None:
    """Refuse a scene file that is missing or references a mesh that is (or one outside its
    folder), naming ``radio.pathloss.scene``."""
    if not scene.is_file():
        raise field_error("radio.pathloss.scene", str(scene), problem="no such file")
    try:
        scene_files(scene)  # every mesh it references is there
    except FileNotFoundError as exc:
        raise field_error("radio.pathloss.scene", str(scene), problem=str(exc)) from None


def _stored_maps(path: Path, spec: MapSpec) -> RadioMaps:
    """The maps stored at ``path``, checked to be ``spec``'s (its geometry key)."""
    field = "radio.pathloss.maps"
    try:
        maps = RadioMaps.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise field_error(field, str(path), problem=f"not readable as maps ({exc})") from None
    expected = spec.geometry_key()
    if maps.geometry != expected:
        raise field_error(field, str(path), problem=(
            f"traced for another scene, AP layout or settings (geometry {maps.geometry or '?'}, "
            f"this scenario's {expected}); trace them again: netsim trace SCENARIO --out "
            f"{path}"))  # fmt: skip
    return maps


def traced_maps_file(s: Scenario) -> Path | None:
    """Where the map cache holds scenario ``s``'s traced maps (None: not ray-traced, read
    from stored ``maps``, or not traced yet), without tracing: a run directory keeps a
    copy, so that a repeat reads the very bits the run used."""
    model = s.radio.pathloss
    if not isinstance(model, RayTracedPathLoss) or model.maps is not None:
        return None
    topology = build_topology(s.topology, s.backhaul, Streams(s.seed))
    ap, piu = positions(topology, "ap"), positions(topology, "piu")
    path = radio_maps_cache() / f"{_spec(model, s.radio, s.topology, ap, piu).key()}.npz"
    return path if path.is_file() else None


def scenario_maps(s: Scenario) -> RadioMaps:
    """Trace (or take from the cache) the maps of scenario ``s``'s ray-traced path loss,
    whatever its ``maps`` holds (``netsim trace``)."""
    if not isinstance(s.radio.pathloss, RayTracedPathLoss):
        raise field_error("radio.pathloss.model", s.radio.pathloss.model,
                          allowed="'raytraced' to trace maps")  # fmt: skip
    topology = build_topology(s.topology, s.backhaul, Streams(s.seed))
    ap, piu = positions(topology, "ap"), positions(topology, "piu")
    maps = traced_maps(s.radio, s.topology, ap, piu, azimuths(topology), trace=True)
    assert maps is not None
    return maps


def building_scene(topology: Topology, folder: Path) -> Path:
    """The Mitsuba XML of a factory hall's ``topology.building`` (:func:`hall_of`), written
    once into ``folder`` under a name from its content (the same building, the same file)."""
    hall = hall_of(topology)
    assert hall is not None  # the schema asks for a building where there is no scene
    text = hall.xml()
    name = f"hall-{hashlib.sha256(text.encode()).hexdigest()[:16]}.xml"
    for place in (folder, Path(tempfile.gettempdir()) / "netsim-scenes"):  # read-only cache
        path = place / name
        try:
            if not path.exists():
                place.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile("w", dir=place, suffix=".xml",
                                                 delete=False) as f:  # fmt: skip
                    f.write(text)
                os.replace(f.name, path)  # atomic: a concurrent run reads all or none
            return path
        except OSError:
            continue
    raise field_error("topology.building", "...", problem=f"cannot write its scene into {folder}")


def band(radio: RadioConfig, topology: Topology, ap_xy: np.ndarray) -> Band:
    """The run's band, built once: ``radio.bandwidth_hz``, the noise PSD with the noise
    figure (dBm/Hz + dB -> W/Hz), the numerology, and with reuse N the frequency plan of the
    APs at ``ap_xy`` (A, 2) m (:mod:`netsim.radio.spectrum`: the largest co-channel distance,
    then balanced loads, proven on every single-sector hexagonal layout), distances with
    wrap-around measured to the nearest image (hexagonal layouts and the grid's torus);
    orthogonal cells each on a channel of their own."""
    noise_psd = dbm_to_w(radio.noise_psd_dbm_hz + radio.noise_figure_db)  # W/Hz
    if radio.reuse == "orthogonal":
        return Band.orthogonal(radio.bandwidth_hz, noise_psd, len(ap_xy), radio.numerology)
    channels = assign_channels(ap_xy, radio.reuse, _plan_images(topology))
    return Band.reused(radio.bandwidth_hz, noise_psd, channels, radio.reuse, radio.numerology)


def _plan_images(topology: Topology) -> np.ndarray | None:
    """(S, 2) shifts (m) of a layout's wrap-around images for the frequency plan: a
    hexagonal layout's seven, or the grid torus's nine (distances the shortest way round,
    as the gains measure them); None without wrap-around."""
    if isinstance(topology, GridTopology) and topology.wrap_around:
        steps = (-topology.side_m, 0.0, topology.side_m)
        return np.array([(x, y) for x in steps for y in steps])
    return _hex_images(topology)


def _hex_images(topology: Topology) -> np.ndarray | None:
    """(7, 2) shifts (m) of a hexagonal layout's wrap-around images, or None."""
    if isinstance(topology, HexTopology) and topology.wrap_around:
        return hex_wrap_offsets(hex_rings(topology.sites), topology.isd_m)
    return None


def medium(
    radio: RadioConfig,
    channel: RadioChannel,
    n_aps: int,
    env: simpy.Environment,
    streams: Streams,
) -> CoChannelMedium | None:
    """The medium digital uplinks share when channels are reused or APs have several
    receive antennas (``combining`` "mrc" / "mmse_irc"); None otherwise (orthogonal,
    one antenna: every link on its own)."""
    combining = radio.combining in ("mrc", "mmse_irc")
    if radio.reuse == "orthogonal" and not combining:
        return None
    if not combining:
        return CoChannelMedium(env, channel)
    n = radio.antennas_per_ap
    per_antenna = fading(radio, streams, n_aps * n) if n > 1 else None
    return CoChannelMedium(env, channel, n, per_antenna, radio.combining)


def ofdma_scheduler(
    radio: RadioConfig,
    channel: RadioChannel,
    env: simpy.Environment,
    streams: Streams,
    downlink: bool = False,
    per_rb: BlockFading | None = None,
) -> OFDMAScheduler:
    """The APs' slot schedulers of ``radio.scheduler`` on the channels of ``channel``'s band,
    with frequency-selective fading (one coefficient per group of ``rb_group_size`` RBs), at
    Shannon rates or through the NR link abstraction (``radio.link``). With "fifo" the
    transfers hold fixed RBs (TDMA's band, FDMA's sub-band): the policy is not used.
    ``per_rb``: that fading, shared with the other direction's scheduler (TDD reciprocity:
    the same coefficients either way, drawn and cached once); None: drawn here."""
    n_rb = channel.band.n_rb
    groups = math.ceil(n_rb / radio.rb_group_size)
    n_piu, n_aps = channel.gain.shape
    nr = None
    if radio.link == "nr":
        slot_s = channel.band.slot_s
        nr = NRLinkAbstraction(
            n_piu + n_aps if downlink else n_piu,  # and each AP's multicast
            n_rb,
            streams.numpy(Stream.HARQ, int(downlink)),
            radio.mcs_table,
            radio.bler_target,
            radio.max_transmissions,
            radio.harq_rtt_s if radio.harq_rtt_s is not None else 8 * slot_s,
            uplink=not downlink,
            rlc_max_retx=radio.rlc_max_retx,
            rlc_status_delay_s=radio.rlc_status_delay_s,
        )
    from netsim.assembly.memory import available_bytes  # (it imports the learning side)

    if per_rb is None:
        per_rb = fading(radio, streams, n_aps * groups, per_rb=True)
        # every slot reads each PIU with data: keep them all cached, within a quarter of the
        # memory free now
        per_rb.hold(n_piu, (available_bytes() or 2**32) // 4)
    return OFDMAScheduler(
        env,
        channel,
        per_rb,
        scheduling_policy(
            "rr" if radio.scheduler == "fifo" else radio.scheduler, radio.pf_window_slots
        ),
        radio.rb_group_size,
        downlink,
        nr,
        radio.csi_period_s,
        radio.csi_delay_s,
    )


def downlink(
    radio: RadioConfig,
    env: simpy.Environment,
    channel: RadioChannel,
    frequency_channel: int,
    scheduler: OFDMAScheduler | None,
    medium: CoChannelMedium | None,
) -> Downlink:
    """An AP's downlink on its channel of the band (frequency ``frequency_channel`` of the
    reuse plan): through the downlink ``scheduler`` where there is one (OFDMA or NR), else on
    the co-channel ``medium`` (frequency reuse), else on its own band through ``channel``;
    a unicast per recipient with ``radio.downlink = "unicast"``."""
    unicast = radio.downlink == "unicast"
    if scheduler is not None:
        return ScheduledDownlink(scheduler, radio.scheduler != "fifo", unicast)
    if medium is not None:
        return MediumDownlink(medium, frequency_channel, unicast)
    return ChannelDownlink(env, channel, unicast)


def fading(radio: RadioConfig, streams: Streams, n_links: int, per_rb: bool = False) -> BlockFading:
    """Small-scale fading of the scenario over ``n_links`` links per PIU (``per_rb``: a slot
    scheduler's, per AP and RB group, from streams of its own)."""
    if radio.fading == "none":
        return NoFading(n_links)
    k = db_to_linear(radio.rician_k_db).item() if radio.fading == "rician" else 0.0
    if radio.time_correlation == "gauss_markov":
        rho = gauss_markov_rho(radio.speed_mps, radio.carrier_hz, radio.coherence_time_s)
        return GaussMarkovFading(streams, n_links, rho, k, per_rb=per_rb)
    if radio.time_correlation == "jakes":
        f_d = doppler_hz(radio.speed_mps, radio.carrier_hz)
        return JakesFading(streams, n_links, f_d, radio.coherence_time_s, k, per_rb=per_rb)
    if per_rb and k == 0.0:  # a scheduler reads power gains only: drawn as such
        return RayleighPowerFading(streams, n_links)
    return IIDBlockFading(streams, n_links, k, per_rb=per_rb)


def cellfree_uplink(
    radio: RadioConfig, gain: np.ndarray, band: Band, max_power_w: np.ndarray
) -> CellFreeUplink:
    """The cell-free MR/LSFD uplink of gains ``gain`` (K, A) on the whole ``band`` with
    pilots assigned and channel estimates' quality for full-power pilots ``max_power_w``
    (K,) W."""
    beta = gain / band.band_noise_w  # gains over noise: rho is then the transmit power in W
    pilots = assign_pilots(beta, radio.pilot_length)
    gamma = estimation_quality(beta, pilots, max_power_w, radio.pilot_length)
    return CellFreeUplink(
        beta,
        gamma,
        pilots,
        max_power_w,
        radio.antennas_per_ap,
        band.bandwidth_hz,
        radio.pilot_length,
        radio.coherence_symbols,
    )


def ota_receiver(
    ota: OTAConfig,
    radio: RadioConfig,
    gain: np.ndarray,
    serving_ap: np.ndarray,
    band: Band,
    p0_w: float,
    streams: Streams,
) -> OTAReceiver | None:
    """The APs' over-the-air receiver, or None for digital uplinks. The receive noise is
    the ``band``'s over the whole band, or set by ``ota.snr_db`` as the mean receive SNR at
    full power ``p0_w`` over the PIUs' serving links."""
    if not ota.enabled:
        return None
    noise_w = band.band_noise_w
    if ota.snr_db is not None:
        serving = gain[np.arange(len(gain)), serving_ap]
        noise_w = p0_w * float(serving.mean()) / float(db_to_linear(ota.snr_db))
    return OTAReceiver(
        fading=fading(radio, streams, gain.shape[1] * ota.receive_antennas),
        antennas=ota.receive_antennas,
        beta=gain,
        coherence_s=radio.coherence_time_s,
        bandwidth_hz=band.bandwidth_hz,
        p0_w=p0_w,
        noise_w=noise_w,
        power_control=ota.power_control,
        drop_worst=ota.drop_worst,
        truncation_threshold=ota.truncation_threshold,
        streams=streams,
    )


def round_allocator(
    allocation: AllocationConfig,
    local_steps: int,
    uplink: CellFreeUplink,
    compute_s: np.ndarray,
    compute_j: np.ndarray,
) -> RoundAllocator | None:
    """The server's per-round power / local-iteration allocation (cell-free MR model), for
    PIUs whose round of ``local_steps`` steps takes ``compute_s`` (K,) s (mean slowdown)
    and ``compute_j`` (K,) J; None without ``[allocation]``."""
    a = allocation
    if a.method == "none":
        return None
    settings = AllocationSettings(
        method=a.method,
        w_energy=a.w_energy,
        w_latency=a.w_latency,
        eta_min=a.eta_min,
        steps=local_steps,
        steps_min=a.steps_min or local_steps,
        steps_max=a.steps_max or local_steps,
        energy_budget_j=a.energy_budget_j,
        latency_budget_s=a.latency_budget_s,
        circuit_power_w=a.circuit_power_w,
    )
    return RoundAllocator(uplink, settings, compute_s, compute_j, uplink.rho)


@dataclass(frozen=True)
class Air:
    """The radio world: placement, large-scale gains (K, A), each PIU's first AP (the
    strongest average link) and the channel on the run's band. The simulation and
    the radio data sets (``netsim/assembly/radio_data.py``) build it the same way, so a data
    set's measurements are the run's own channel."""

    topology: nx.Graph
    piu_xy: np.ndarray
    gains: LargeScaleGains
    serving_ap: np.ndarray
    channel: RadioChannel

    @property
    def band(self) -> Band:
        """The run's band (the channel's)."""
        return self.channel.band

    @classmethod
    def build(cls, s: Scenario, streams: Streams) -> Air:
        """The scenario's placement, gains and channel from its keyed streams."""
        topology = build_topology(s.topology, s.backhaul, streams)
        ap, piu = positions(topology, "ap"), positions(topology, "piu")
        gains = large_scale_gains(s.radio, s.topology, ap, piu, streams, azimuths(topology))
        small = fading(s.radio, streams, len(ap[0]))
        spectrum = band(s.radio, s.topology, gains.ap_xy)
        channel = RadioChannel(gains.gain, small, s.radio.coherence_time_s, spectrum)
        return cls(topology, piu[0], gains, gains.gain.argmax(axis=1), channel)
