"""[radio], [ota] and [allocation]: channel, path loss, multiple access, over-the-air
aggregation and the cell-free power allocation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import (
    MAX_COUNT,
    MAX_SECONDS,
    MAX_SPEED_MPS,
    Area,
    BitRate,
    Count,
    FilePath,
    GainDb,
    Joules,
    Metres,
    NonNegativeCount,
    NonNegativeScale,
    PowerDbm,
    Scale,
    Seconds,
    Watts,
    _Frozen,
)
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- radio


class LogDistancePathLoss(_Frozen):
    """``PL_dB = ref_loss_db + 10 exponent log10(d / ref_distance_m)``.

    ``ref_loss_db`` defaults to free-space loss at ``ref_distance_m`` and the carrier.
    """

    model: Literal["log_distance"] = "log_distance"
    exponent: float = Field(3.5, ge=1.0, le=8.0)
    """Path-loss exponent."""
    ref_distance_m: Metres = 1.0
    """Reference distance d0."""
    ref_loss_db: float | None = Field(None, ge=-100.0, le=400.0)
    """Loss at d0 (absent: free-space loss at d0 and the carrier)."""


class Macro36814PathLoss(_Frozen):
    """3GPP TR 36.814 macro: ``128.1 + 37.6 log10(d_km)`` dB (2 GHz), shadowing 8 dB."""

    model: Literal["macro_36814"]


class CellFreeBookPathLoss(_Frozen):
    """Demir, Bjornson, Sanguinetti 2021 (cell-free book): ``30.5 + 36.7 log10(d3D)`` dB,
    shadowing 4 dB (2 GHz, AP-UE height difference 10 m)."""

    model: Literal["cellfree_book"]


class Ngo3SlopePathLoss(_Frozen):
    """Ngo et al. 2017 three-slope model (Hata-based ``L`` at the carrier and heights):
    slope 0 below ``d0_m``, 20 dB/decade up to ``d1_m``, 35 beyond; 8 dB shadowing beyond d1."""

    model: Literal["ngo_3slope"]
    d0_m: Metres = 10.0
    """Below this distance the loss is flat."""
    d1_m: Metres = 50.0
    """Beyond this distance the slope is 35 dB/decade (20 between d0 and d1)."""

    @model_validator(mode="after")
    def _order(self) -> Ngo3SlopePathLoss:
        if self.d0_m >= self.d1_m:
            raise ValueError(f"d0_m ({self.d0_m}) must be below d1_m ({self.d1_m})")
        return self


class UMiPathLoss(_Frozen):
    """3GPP TR 38.901 UMi street canyon, LOS (dual slope, breakpoint) / NLOS with the LOS
    probability of the standard; shadowing 4 dB LOS, 7.82 dB NLOS."""

    model: Literal["umi_38901"]


class UMaPathLoss(_Frozen):
    """3GPP TR 38.901 UMa (Table 7.4.1-1, effective environment height 1 m), LOS (dual slope,
    breakpoint) / NLOS with the LOS probability of the standard; shadowing 4 dB LOS, 6 dB
    NLOS. Typical: ISD 500 m, AP height 25 m, PIUs at least 35 m from their site."""

    model: Literal["uma_38901"]


class InFPathLoss(_Frozen):
    """3GPP TR 38.901 Indoor Factory (InF-SL/DL/SH/DH) with its LOS probability."""

    model: Literal["inf_38901"]
    variant: Literal["SL", "DL", "SH", "DH"] = "SL"
    """InF sub-scenario: sparse (S) or dense (D) clutter, low (L) or high (H) base station."""
    clutter_density: float = Field(0.2, gt=0, lt=1)
    """r: fraction of the hall covered by clutter (machines)."""
    clutter_height_m: float = Field(2.0, gt=0, le=1.0e4)
    """h_c: height of the clutter."""
    clutter_size_m: Metres = 10.0
    """d_clutter: typical size of a clutter object."""


class RayTracedPathLoss(_Frozen):
    """Ray-traced radio maps of a 3D scene (``netsim/radio/raytracing.py``, Sionna RT): each
    AP's path gain over a horizontal plane at the PIUs' height, in square cells, read at
    every PIU position (static or moving) by interpolation; the LOS state of each link from
    the scene's geometry; no shadowing (the scene's objects are the shadowing; a
    shadowing_std_db adds log-normal shadowing on top, for what the scene leaves out);
    small-scale fading on top as radio.fading says. Needs the rt extra and LLVM 16 or newer."""

    model: Literal["raytraced"]
    scene: FilePath | None = None
    """A Mitsuba 3 XML scene with ITU radio materials (e.g. exported from Blender);
    relative to the scenario file (absent: the factory hall's topology.building)."""
    cell_m: Metres = 1.0
    """Side of a map cell."""
    rays: int = Field(1_000_000, ge=1_000, le=1_000_000_000)
    """Rays shot per AP (more: less Monte Carlo noise in each cell)."""
    max_depth: int = Field(5, ge=0, le=20)
    """Interactions (reflections, refractions, diffractions) per path."""
    diffraction: bool = True
    """Edge diffraction (UTD) into shadowed cells."""
    area_m: Area | None = None
    """The mapped area [xmin, ymin, xmax, ymax] (absent: a factory hall's floor, else the
    bounding box of the APs and PIUs with 10 % margins)."""
    seed: int = Field(1, ge=0, le=2**31 - 1)
    """The tracer's sampling seed (a map is a property of the scene, not of the run's
    seed: runs with other seeds share it)."""
    maps: FilePath | None = None
    """Maps traced before (``netsim trace SCENARIO --out FILE.npz``), read instead of
    tracing: the same bits on every machine and no LLVM needed; refused unless traced for
    this scene, AP layout and settings. Relative to the scenario file."""


PathLoss = Annotated[
    LogDistancePathLoss
    | Macro36814PathLoss
    | CellFreeBookPathLoss
    | Ngo3SlopePathLoss
    | UMiPathLoss
    | UMaPathLoss
    | InFPathLoss
    | RayTracedPathLoss,
    Field(discriminator="model"),
]


class IndoorConfig(_Frozen):
    """Indoor PIUs with outdoor-to-indoor penetration loss (TR 38.901 7.4.3.1; the UE drop of
    TR 36.873 and TR 38.901 7.8): each PIU is indoors with probability ``fraction``, on a
    floor uniform in a building of 4 to 8 floors (height ``3 (floor - 1) + 1.5`` m), at an
    indoor distance the smaller of two uniform draws on [0, ``max_distance_m``]; its links
    add the low- or high-loss O2I loss with its deviation (4.4 / 6.5 dB), take the LOS
    probability of the outdoor part and the O2I shadowing deviation ``shadowing_std_db``."""

    fraction: float = Field(0.8, ge=0.0, le=1.0)
    """Share of PIUs indoors (TR 38.901 7.8 calibration: 0.8)."""
    high_loss_fraction: float = Field(0.5, ge=0.0, le=1.0)
    """Share of indoor PIUs behind the high-loss model (IRR glass, concrete); the rest low
    loss."""
    max_distance_m: float = Field(25.0, gt=0.0, le=1000.0)
    """Upper end of the indoor 2D distance draws (UMa, UMi: 25 m)."""
    shadowing_std_db: float = Field(7.0, ge=0.0, le=50.0)
    """Shadowing deviation of indoor links (Table 7.5-6, O2I: 7 dB in UMa and UMi)."""


class SectorAntennaConfig(_Frozen):
    """The 3D sector antenna of TR 38.901 (Table 7.3-1 element: vertical and horizontal cuts,
    65 degree beamwidths, 8 dBi, 30 dB limits) on one column of ``rows`` elements with an
    electrical downtilt (Table 7.8-1 calibration: 10 elements, 102 degrees)."""

    rows: int = Field(10, ge=1, le=64)
    """Elements of the column, all on one port."""
    spacing_wavelengths: float = Field(0.5, gt=0.0, le=10.0)
    """Vertical spacing of the elements, in wavelengths."""
    downtilt_deg: float = Field(102.0, ge=0.0, le=180.0)
    """Electrical downtilt as a zenith angle (90: the horizon, 102: 12 degrees down)."""


class PowerControlConfig(_Frozen):
    """Open-loop uplink power control (3GPP TS 38.213 7.1.1): a digital uplink granted
    ``M_RB`` of its channel's ``N_RB`` resource blocks sends at ``min(P_max, p0_dbm +
    10 log10(M_RB / N_RB) + alpha PL)`` dBm, PL the large-scale path loss to its AP (dB):
    the standard's ``min(P_max, P0 + 10 log10(2^mu M_RB) + alpha PL)`` with ``P0 = p0_dbm -
    10 log10(2^mu N_RB)`` per RB. Under the OFDMA scheduler or NR links ``M_RB`` is the
    RBs granted in each slot; otherwise the whole channel (or FDMA sub-band) is one
    allocation (``M_RB = N_RB``). alpha in [0, 1] (1: full compensation, every PIU granted
    the whole channel arrives at ``p0_dbm`` when it can)."""

    p0_dbm: PowerDbm
    """Target received power P0 over the whole channel (full compensation)."""
    alpha: float = Field(1.0, ge=0.0, le=1.0)
    """Fraction of the path loss compensated (0: everyone at min(P_max, p0_dbm + 10 log10(M_RB /
    N_RB)), no compensation; 1: full compensation)."""


class RadioConfig(_Frozen):
    """Wireless access: path loss, shadowing, fading, bandwidth, noise, multiple access,
    shared spectrum, scheduling and the link abstraction (``netsim/radio``; PHYSICS.md)."""

    pathloss: PathLoss = LogDistancePathLoss()
    """The large-scale path-loss model (the LOS state where the model has one)."""
    shadowing_std_db: float | None = Field(None, ge=0.0, le=50.0)
    """Standard deviation of the log-normal shadowing (absent: the path-loss model's own; 8 dB
    for log_distance)."""
    shadowing_decorrelation_m: Metres | None = None
    """Correlate the shadowing of one AP's links to PIUs i and k as 2^(-distance_ik / this) (the
    cell-free book: 9 m)."""
    spatial_consistency_m: Metres | None = None
    """Instead: each AP's shadowing and LOS state are random fields over the plane, the
    shadowing's with autocorrelation exp(-d / this) (TR 38.901 Table 7.5-6: 10 m LOS, 13 m
    NLOS for UMi; 37 / 50 m UMa; 10 m InF): a moving PIU's links change with its place;
    radio data sets need it."""
    los_correlation_m: Metres | None = None
    """With spatial_consistency_m: the LOS state's correlation distance (absent: TR 38.901
    Table 7.6.3.1-2 for the path loss model: 50 m for umi_38901 and uma_38901, half the
    clutter size d_clutter for inf_38901; spatial_consistency_m for the others)."""
    large_scale_per_site: bool = False
    """Draw each PIU's LOS state and shadowing per site, shared by the site's sectors (APs at
    one position), as TR 38.901 draws large-scale parameters (false: per PIU-AP link; the
    draws of the two differ)."""
    indoor: IndoorConfig | None = None
    """Indoor PIUs with outdoor-to-indoor loss (TR 38.901 7.4.3; needs large_scale_per_site and
    the umi_38901 or uma_38901 path loss; absent: every PIU outdoors)."""
    sector_antenna: SectorAntennaConfig | None = None
    """The 3D sector antenna of TR 38.901 with a downtilted column (absent: the horizontal
    pattern alone, 8 dBi at boresight)."""
    fading: Literal["rayleigh", "rician", "none"] = "rayleigh"
    """Small-scale fading: rayleigh, rician (with rician_k_db) or none."""
    rician_k_db: GainDb = 6.0
    """Rician K factor."""
    time_correlation: Literal["block", "gauss_markov", "jakes"] = "block"
    """block (independent per coherence interval), gauss_markov (AR(1) with rho = J0(2 pi f_D
    T_c)) or jakes (sum of sinusoids); the Doppler f_D = speed_mps f_c / c."""
    speed_mps: float = Field(1.0, ge=0, le=MAX_SPEED_MPS)
    """Speed behind the Doppler of time-correlated fading."""
    coherence_time_s: float = Field(0.01, ge=1e-5, le=MAX_SECONDS)
    """Coherence interval T_c: fading is constant within one."""
    carrier_hz: float = Field(2.0e9, ge=1.0e5, le=1.0e12)
    """Carrier frequency f_c."""
    bandwidth_hz: float = Field(1.0e6, ge=1.0e3, le=1.0e11)
    """Bandwidth of each AP (shared by its PIUs under TDMA / FDMA; split into reuse channels)."""
    noise_psd_dbm_hz: float = Field(-174.0, ge=-300.0, le=0.0)
    """Thermal noise power spectral density."""
    noise_figure_db: float = Field(9.0, ge=0.0, le=100.0)
    """Receiver noise figure."""
    access: Literal["tdma", "fdma", "cellfree"] = "tdma"
    """tdma (one PIU at a time on the AP's band), fdma (the band split among the PIUs sending),
    or cellfree (every AP receives every PIU on the whole band; closed-form MR / LSFD rate with
    pilot contamination)."""
    reuse: Literal["orthogonal"] | Annotated[int, Field(ge=1, le=64)] = "orthogonal"
    """orthogonal: every AP has the whole band and hears no other cell; N: the band split into N
    channels, co-channel APs interfering (each transmission's rate follows its SINR on the
    timeline). The plan keeps co-channel APs as far apart as the layout allows (wrap-around
    included), then balances the channels' loads (at most one apart where that distance allows):
    proven for every single-sector hex layout and every 7-site one; 19 sites x 3 sectors and
    layouts of over 64 APs may get less (netsim/radio/spectrum.py says when)."""
    scheduler: Literal["fifo", "rr", "pf", "max_ci"] = "fifo"
    """fifo: the access scheme as it is; rr (round robin), pf (proportional fair) or max_ci:
    OFDMA, each AP giving its resource blocks to its PIUs with data every slot."""
    downlink: Literal["multicast", "unicast"] = "multicast"
    """multicast: one transmission at the weakest recipient's rate; unicast: the model to each
    recipient on its own (through the scheduler, or one after another with fifo)."""
    numerology: int = Field(0, ge=0, le=3)
    """NR numerology mu: subcarriers of 15 x 2^mu kHz, slots of 1 ms / 2^mu (OFDMA scheduler and
    NR link)."""
    rb_group_size: int = Field(4, ge=1, le=275)
    """Resource blocks per frequency-selective fading group."""
    pf_window_slots: float = Field(100.0, ge=1.0, le=1.0e9)
    """pf: window (slots) of the throughput average."""
    power_control: PowerControlConfig | None = None
    """Open-loop uplink power control of digital uplinks (absent: full power)."""
    ap_tx_power_dbm: PowerDbm = 30.0
    """Transmit power of the APs' downlink."""
    target_rate_bps: BitRate | None = None
    """A fixed rate: a packet fails when the capacity drops below it in any coherence interval it
    spans (outage), and is repeated up to max_retransmissions times (absent: each transmission
    adapts to the Shannon rate)."""
    max_retransmissions: int = Field(4, ge=0, le=100)
    """With target_rate_bps: retransmissions before a packet is lost."""
    antennas_per_ap: int = Field(4, ge=1, le=1024)
    """Antennas per AP: N of cell-free access, or the receive antennas of mrc / mmse_irc
    combining."""
    combining: Literal["mr", "lsfd", "mrc", "mmse_irc"] = "mr"
    """cellfree: mr or lsfd (large-scale fading decoding at the CPU); tdma / fdma: mrc or
    mmse_irc give each AP antennas_per_ap receive antennas (mr: one antenna)."""
    link: Literal["shannon", "nr"] = "shannon"
    """shannon: bits at B log2(1 + SINR) (or target_rate_bps); nr: the 3GPP NR link abstraction
    on Sionna (extra sionna): transport blocks per slot, link adaptation, BLER and HARQ."""
    mcs_table: Literal[1, 2] = 1
    """nr: MCS table of TS 38.214, 1 (up to 64QAM) or 2 (up to 256QAM)."""
    bler_target: float = Field(0.1, gt=0.0, lt=1.0)
    """nr: first-transmission block error rate the outer loop steers to."""
    max_transmissions: int = Field(4, ge=1, le=32)
    """nr: transmissions of a block before the upload is lost."""
    harq_rtt_s: Annotated[float, Field(gt=0, le=1.0)] | None = None
    """nr: time between a block's transmissions (absent: 8 slots)."""
    rlc_max_retx: Literal[0, 1, 2, 3, 4, 6, 8, 16, 32] = 8
    """nr: RLC acknowledged mode (TS 38.322 5.3.2): how many times RLC sends again, as new
    transport blocks at the current report's MCS, the payload of a block that failed its last
    HARQ transmission before the transfer is lost (reason rlc); TS 38.331 maxRetxThreshold
    (1, 2, 3, 4, 6, 8, 16, 32); 0: unacknowledged mode (lost after HARQ, reason harq). 8, the
    middle of the allowed values: after 4 HARQ transmissions a block fails with ~1e-2 or less,
    so 8 more tries at a fresh MCS leave a vanishing chance of losing a transfer that its link
    can carry, while a link that cannot carry its lowest MCS still gives up after 9 x
    max_transmissions transmissions (about 0.4 s at the default round trips)."""
    rlc_status_delay_s: float = Field(0.01, ge=0.0, le=1.0)
    """nr: from the end of a block's last failed HARQ transmission to RLC sending its payload
    again (s): the receiver's status report (TS 38.322 5.3.4, a STATUS PDU sent when
    t-Reassembly expires on the gap or when polled) reaching the transmitter; one delay for
    every case (10 ms: the rest of a t-Reassembly of a few tens of ms, started when the gap was
    first seen, plus the report's own transmission)."""
    csi_period_s: float = Field(0.005, ge=1e-4, le=1.0)
    """nr: period of the PIUs' downlink wideband CQI reports (TS 38.214 5.2.2.1; 5 ms, within
    the periodic CSI reporting periods of 4-320 slots)."""
    csi_delay_s: float = Field(0.002, ge=0.0, le=1.0)
    """nr: time from a CQI measurement to its use by the AP (measurement, CSI computation and
    the PUCCH report)."""
    pilot_length: int = Field(10, ge=1, le=10_000)
    """cellfree: pilot length tau_p (symbols); PIUs beyond it share pilots."""
    coherence_symbols: int = Field(200, ge=2, le=MAX_COUNT)
    """cellfree: symbols tau_c per coherence block; the rate's prelog is 1 - tau_p / tau_c."""

    @property
    def los_correlation(self) -> float | None:
        """The LOS state field's correlation distance (m; None without spatial consistency):
        ``los_correlation_m``, else TR 38.901 Table 7.6.3.1-2's for the path loss model."""
        if self.spatial_consistency_m is None:
            return None
        if self.los_correlation_m is not None:
            return self.los_correlation_m
        if self.pathloss.model in ("umi_38901", "uma_38901"):
            return 50.0
        if isinstance(self.pathloss, InFPathLoss):
            return self.pathloss.clutter_size_m / 2
        return self.spatial_consistency_m

    @model_validator(mode="after")
    def _cellfree(self) -> RadioConfig:
        if self.large_scale_per_site and (
            self.spatial_consistency_m is not None or self.shadowing_decorrelation_m is not None
        ):
            raise _FieldError(
                "large_scale_per_site",
                True,
                "false with spatial_consistency_m or shadowing_decorrelation_m (per-site draws "
                "are independent per PIU)",
            )
        if self.indoor is not None and not (
            self.large_scale_per_site and self.pathloss.model in ("umi_38901", "uma_38901")
        ):
            raise _FieldError(
                "indoor",
                self.indoor.model_dump(),
                "unset unless large_scale_per_site = true and pathloss.model is 'umi_38901' or "
                "'uma_38901' (the O2I model of TR 38.901 7.4.3)",
            )
        if isinstance(self.pathloss, RayTracedPathLoss):
            clashes = {
                "spatial_consistency_m": self.spatial_consistency_m,
                "shadowing_decorrelation_m": self.shadowing_decorrelation_m,
                "indoor": self.indoor,
                "sector_antenna": self.sector_antenna,
            }
            for name, value in clashes.items():
                if value is not None:
                    raise _FieldError(
                        name, value, "unset with pathloss.model = 'raytraced' (the scene's "
                        "geometry gives each link's loss and LOS state)",
                    )  # fmt: skip
            if self.large_scale_per_site:
                raise _FieldError("large_scale_per_site", True, "false with a ray-traced path loss")
        if self.los_correlation_m is not None and self.spatial_consistency_m is None:
            raise _FieldError(
                "los_correlation_m",
                self.los_correlation_m,
                "unset without spatial_consistency_m (the LOS state is a field only then)",
            )
        if self.spatial_consistency_m is not None and self.shadowing_decorrelation_m is not None:
            raise _FieldError(
                "shadowing_decorrelation_m",
                self.shadowing_decorrelation_m,
                "unset with spatial_consistency_m (which correlates the shadowing itself)",
            )
        if self.pilot_length >= self.coherence_symbols:
            raise _FieldError(
                "pilot_length",
                self.pilot_length,
                f"fewer than coherence_symbols ({self.coherence_symbols})",
            )
        if self.reuse != "orthogonal" and self.access == "cellfree":
            raise _FieldError(
                "reuse", self.reuse, "'orthogonal' with access = 'cellfree' (one shared band)"
            )
        if self.reuse != "orthogonal" and self.target_rate_bps is not None:
            raise _FieldError(
                "reuse",
                self.reuse,
                "'orthogonal' with a fixed target_rate_bps (rate adaptation on a shared band)",
            )
        if self.combining in ("mrc", "mmse_irc") and self.access == "cellfree":
            raise _FieldError(
                "combining", self.combining, "'mr' or 'lsfd' with access = 'cellfree'"
            )
        if self.combining in ("mrc", "mmse_irc") and self.target_rate_bps is not None:
            raise _FieldError(
                "combining",
                self.combining,
                "'mr' (one antenna) with a fixed target_rate_bps (rate adaptation only)",
            )
        if self.scheduler != "fifo" and self.access == "cellfree":
            raise _FieldError(
                "scheduler", self.scheduler, "'fifo' with access = 'cellfree' (no RBs there)"
            )
        if self.scheduler != "fifo" and (
            self.target_rate_bps is not None or self.combining in ("mrc", "mmse_irc")
        ):
            raise _FieldError(
                "scheduler",
                self.scheduler,
                "'fifo' with a fixed target_rate_bps or receive combining (the OFDMA "
                "scheduler serves one antenna at adaptive rates)",
            )
        if self.link == "nr" and (
            self.access == "cellfree"
            or self.target_rate_bps is not None
            or self.combining in ("mrc", "mmse_irc")
        ):
            raise _FieldError(
                "link",
                self.link,
                "'shannon' with access = 'cellfree', a fixed target_rate_bps or receive "
                "combining (the NR abstraction serves one receive antenna's RBs)",
            )
        if self.scheduler != "fifo" or self.link == "nr":
            # one RB is 12 subcarriers of 15 x 2^mu kHz, in 95 % of the channel (guard bands)
            rb_hz = 12 * 15e3 * 2**self.numerology / 0.95
            channels = 1 if self.reuse == "orthogonal" else self.reuse
            if self.bandwidth_hz / channels < rb_hz:
                raise _FieldError(
                    "bandwidth_hz", self.bandwidth_hz,
                    f"at least one resource block per channel ({rb_hz * channels:g} Hz at "
                    f"numerology {self.numerology} with {channels} reuse channel(s)) for the "
                    "OFDMA scheduler or the NR link",
                )  # fmt: skip
        slot_s = 1e-3 / 2**self.numerology
        if self.harq_rtt_s is not None and self.harq_rtt_s < slot_s:
            raise _FieldError(
                "harq_rtt_s",
                self.harq_rtt_s,
                f"at least one slot ({slot_s:g} s at numerology {self.numerology})",
            )
        if self.power_control is not None and self.access == "cellfree":
            raise _FieldError(
                "power_control",
                self.power_control.model_dump(),
                "unset with access = 'cellfree' (its power is the allocation's)",
            )
        if self.access == "cellfree" and self.target_rate_bps is not None:
            raise _FieldError(
                "target_rate_bps",
                self.target_rate_bps,
                "no fixed rate with access = 'cellfree' (its rate is ergodic)",
            )
        return self


class OTAConfig(_Frozen):
    """Over-the-air aggregation of the uplink (PHYSICS.md section 5; ``netsim/radio/ota.py``).
    The AP starts the transmission when every recipient is ready or declined, or at the
    deadline with those that are ready."""

    enabled: bool = False
    """Over-the-air aggregation: the PIUs an AP serves send their normalised updates at once, one
    real entry per channel use, and the AP forwards the noisy weighted sum."""
    power_control: Literal["zero_forcing", "truncated_inversion"] = "zero_forcing"
    """zero_forcing (receive beamforming over receive_antennas, optional drop_worst) or
    truncated_inversion (one antenna; devices below truncation_threshold stay silent in that
    block)."""
    receive_antennas: int = Field(1, ge=1, le=1024)
    """Receive antennas of the AP (zero_forcing)."""
    drop_worst: NonNegativeCount = 0
    """zero_forcing: the weakest devices left out of each block."""
    truncation_threshold: Scale = 0.1
    """truncated_inversion: small-scale gain g_th below which a device stays silent."""
    snr_db: float | None = Field(None, ge=-200.0, le=200.0)
    """Average receive SNR at full power, P0 mean(beta) / sigma^2 (absent: [radio]'s noise)."""

    @model_validator(mode="after")
    def _single_antenna_inversion(self) -> OTAConfig:
        if self.power_control == "truncated_inversion" and self.receive_antennas != 1:
            raise _FieldError(
                "receive_antennas",
                self.receive_antennas,
                "1 with power_control = 'truncated_inversion'",
            )
        return self


class AllocationConfig(_Frozen):
    """Per-round uplink power and local-iteration allocation in a cell-free network
    (``netsim/radio/allocation.py``; PHYSICS.md section 7, the EMQ paper)."""

    method: Literal[
        "none", "sqp", "full_power", "max_sum_rate", "dinkelbach", "min_max_latency"
    ] = "none"
    """none (full power, no allocation); sqp (minimise w_energy E / E_full + w_latency T / T_full
    by SLSQP, with the local iterations); full_power; max_sum_rate (WMMSE); dinkelbach (max-min
    energy efficiency); min_max_latency."""
    w_energy: NonNegativeScale = 0.5
    """sqp: weight of the energy term."""
    w_latency: NonNegativeScale = 0.5
    """sqp: weight of the latency term."""
    eta_min: float = Field(1e-3, gt=0, le=1)
    """Lowest power coefficient, as a fraction of device.tx_power_dbm."""
    steps_min: Count | None = None
    """sqp: fewest local iterations of a PIU (absent: learning.local_steps)."""
    steps_max: Count | None = None
    """sqp: most local iterations of a PIU (absent: learning.local_steps); the round's total
    stays at least K x local_steps."""
    energy_budget_j: Joules | None = None
    """Energy budget per PIU and round."""
    latency_budget_s: Seconds | None = None
    """Budget of the round's latency (compute and upload)."""
    circuit_power_w: Watts = 0.1
    """dinkelbach: circuit power added to the transmit power."""
