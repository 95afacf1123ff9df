"""[radio], [ota] and [allocation]: channel, path loss, multiple access, over-the-air
aggregation and the cell-free power allocation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from netsim.scenario.base import GainDb, NonNegativeFloat, PositiveFloat, PowerDbm, _Frozen
from netsim.scenario.errors import _FieldError

# --------------------------------------------------------------------------- radio


class LogDistancePathLoss(_Frozen):
    """``PL_dB = ref_loss_db + 10 exponent log10(d / ref_distance_m)``.

    ``ref_loss_db`` defaults to free-space loss at ``ref_distance_m`` and the carrier.
    """

    model: Literal["log_distance"] = "log_distance"
    exponent: float = Field(3.5, ge=1.0, le=8.0)
    ref_distance_m: PositiveFloat = 1.0
    ref_loss_db: float | None = Field(None, ge=-100.0, le=400.0)


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
    d0_m: PositiveFloat = 10.0
    d1_m: PositiveFloat = 50.0

    @model_validator(mode="after")
    def _order(self) -> Ngo3SlopePathLoss:
        if self.d0_m >= self.d1_m:
            raise ValueError(f"d0_m ({self.d0_m}) must be below d1_m ({self.d1_m})")
        return self


class UMiPathLoss(_Frozen):
    """3GPP TR 38.901 UMi street canyon, LOS (dual slope, breakpoint) / NLOS with the LOS
    probability of the standard; shadowing 4 dB LOS, 7.82 dB NLOS."""

    model: Literal["umi_38901"]


class InFPathLoss(_Frozen):
    """3GPP TR 38.901 Indoor Factory (InF-SL/DL/SH/DH) with its LOS probability.

    clutter_density: r, the fraction of the hall covered by clutter (machines).
    clutter_height_m: h_c. clutter_size_m: d_clutter, typical clutter size.
    """

    model: Literal["inf_38901"]
    variant: Literal["SL", "DL", "SH", "DH"] = "SL"
    clutter_density: float = Field(0.2, gt=0, lt=1)
    clutter_height_m: PositiveFloat = 2.0
    clutter_size_m: PositiveFloat = 10.0


PathLoss = Annotated[
    LogDistancePathLoss
    | Macro36814PathLoss
    | CellFreeBookPathLoss
    | Ngo3SlopePathLoss
    | UMiPathLoss
    | InFPathLoss,
    Field(discriminator="model"),
]


class PowerControlConfig(_Frozen):
    """Open-loop uplink power control (3GPP TS 38.213 7.1.1): every digital uplink sends at
    ``min(P_max, p0_dbm + alpha PL)`` dBm, PL the large-scale path loss to its AP (dB);
    alpha in [0, 1] (1: full compensation, every PIU arrives at ``p0_dbm`` when it can)."""

    p0_dbm: PowerDbm
    alpha: float = Field(1.0, ge=0.0, le=1.0)


class RadioConfig(_Frozen):
    """Wireless access: path loss, shadowing, fading, bandwidth, noise, multiple access.

    shadowing_std_db: log-normal shadowing; absent: the path-loss model's own value (8 dB for
        log_distance). shadowing_decorrelation_m: if set, shadowing of one AP's links to
        PIUs i and k is correlated as ``2^(-distance_ik / decorrelation)`` (cell-free book: 9 m).
    spatial_consistency_m: if set instead, each AP's shadowing and LOS state are random fields
        over the plane with autocorrelation ``exp(-d / spatial_consistency_m)`` (3GPP TR
        38.901 section 7.6.3; e.g. 10 m for UMi and InF): a PIU's links depend on where it
        is and change as it moves (``netsim/radio/spatial.py``); radio data sets need it.
    fading: small-scale fading; "rician" with ``rician_k_db``.
    time_correlation: "block" (i.i.d. per coherence interval), "gauss_markov" (AR(1) with
        ``rho = J0(2 pi f_D T_c)``) or "jakes" (sum of sinusoids), ``f_D = speed_mps f_c / c``.
    target_rate_bps: absent: each transmission adapts to the Shannon rate (no errors); set: it
        runs at this fixed rate and fails when the channel's capacity drops below it in any
        coherence interval it spans (outage), then is repeated up to ``max_retransmissions``.
    access: "tdma" / "fdma" on each AP's band, or "cellfree": every AP (``antennas_per_ap``
        antennas) receives every PIU at once on the whole band; the rate is the closed-form
        MR rate with pilot contamination, ``B (1 - tau_p/tau_c) log2(1 + SINR)``.
    reuse: "orthogonal" (every AP has the whole band ``bandwidth_hz`` to itself and hears no
        other cell: the default, today's assumption) or N: the band is split into N
        channels of ``bandwidth_hz / N``, assigned so that co-channel APs are far apart
        (``netsim/radio/spectrum.py``); uplinks on one channel interfere, and each
        transmission's rate follows its SINR on the timeline (``netsim/radio/medium.py``).
    power_control: open-loop uplink power control of digital uplinks (absent: full power).
    scheduler: "fifo" (default: the access scheme as it is, TDMA's queue or FDMA's split) or
        OFDMA with a per-AP scheduler every slot: "rr" (round robin), "pf" (proportional
        fair, throughput averaged over ``pf_window_slots``) or "max_ci"; ``numerology`` mu
        sets the subcarrier spacing 15 x 2^mu kHz and slot 1 ms / 2^mu, RBs of 12
        subcarriers, fading per group of ``rb_group_size`` RBs (``netsim/radio/scheduler.py``).
    downlink: "multicast" (default: one transmission at the weakest recipient's rate) or
        "unicast": the model to each recipient on its own, through the scheduler (OFDMA on
        the downlink band, co-channel APs interfering) or, with "fifo", one after another.
    combining: with access "tdma" / "fdma", "mrc" or "mmse_irc" gives every AP
        ``antennas_per_ap`` receive antennas, combined by maximum ratio or by MMSE with
        interference rejection (``netsim/radio/medium.py``); the default "mr" keeps one
        receive antenna there. With "cellfree": "mr" or "lsfd".
    link: how a digital link's bits are served. "shannon" (default): at ``B log2(1 + SINR)``
        (or the fixed ``target_rate_bps``). "nr": the 3GPP NR link abstraction on Sionna
        (``pip install 'netsim[sionna]'``; ``netsim/radio/nr.py``): every slot of numerology
        ``numerology`` each scheduled PIU sends one transport block of TS 38.214 (MCS table
        ``mcs_table``: 1 up to 64QAM, 2 up to 256QAM) whose MCS link adaptation picks (the
        outer loop steers the first-transmission block error rate to ``bler_target``); a
        failed block is sent again ``harq_rtt_s`` later (default 8 slots), chase combined,
        up to ``max_transmissions`` times, after which the upload is lost. TDMA gives the
        PIU holding the band every RB, FDMA its sub-band's RBs, a scheduler shares them.
        Downlinks use it too (a multicast on each RB at its weakest recipient's SINR); a
        lost downlink block loses the model for its recipients (``dl_fail``), who count as
        lost updates.
    """

    pathloss: PathLoss = LogDistancePathLoss()
    shadowing_std_db: float | None = Field(None, ge=0.0, le=50.0)
    shadowing_decorrelation_m: PositiveFloat | None = None
    spatial_consistency_m: PositiveFloat | None = None
    fading: Literal["rayleigh", "rician", "none"] = "rayleigh"
    rician_k_db: GainDb = 6.0
    time_correlation: Literal["block", "gauss_markov", "jakes"] = "block"
    speed_mps: NonNegativeFloat = 1.0
    coherence_time_s: PositiveFloat = 0.01
    carrier_hz: PositiveFloat = 2.0e9
    bandwidth_hz: PositiveFloat = 1.0e6
    noise_psd_dbm_hz: float = Field(-174.0, ge=-300.0, le=0.0)
    noise_figure_db: float = Field(9.0, ge=0.0, le=100.0)
    access: Literal["tdma", "fdma", "cellfree"] = "tdma"
    reuse: Literal["orthogonal"] | Annotated[int, Field(ge=1, le=64)] = "orthogonal"
    scheduler: Literal["fifo", "rr", "pf", "max_ci"] = "fifo"
    downlink: Literal["multicast", "unicast"] = "multicast"
    numerology: int = Field(0, ge=0, le=3)
    rb_group_size: int = Field(4, ge=1)  # RBs per frequency-selective fading group
    pf_window_slots: float = Field(100.0, ge=1.0)  # t_c of the PF throughput average
    power_control: PowerControlConfig | None = None
    ap_tx_power_dbm: PowerDbm = 30.0
    target_rate_bps: PositiveFloat | None = None
    max_retransmissions: int = Field(4, ge=0)
    antennas_per_ap: int = Field(4, ge=1)  # cellfree: N
    # cellfree: "mr" / "lsfd" (CPU combining of the APs' MR estimates); tdma / fdma: "mrc" /
    # "mmse_irc" give each AP antennas_per_ap receive antennas (default "mr": one antenna)
    combining: Literal["mr", "lsfd", "mrc", "mmse_irc"] = "mr"
    link: Literal["shannon", "nr"] = "shannon"
    mcs_table: Literal[1, 2] = 1
    bler_target: float = Field(0.1, gt=0.0, lt=1.0)
    max_transmissions: int = Field(4, ge=1, le=32)
    harq_rtt_s: PositiveFloat | None = None  # None: 8 slots
    pilot_length: int = Field(10, ge=1)  # cellfree: tau_p
    coherence_symbols: int = Field(200, ge=2)  # cellfree: tau_c

    @model_validator(mode="after")
    def _cellfree(self) -> RadioConfig:
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

    With ``enabled``, the PIUs an AP serves send their normalised updates at once, one real
    entry per channel use (airtime ``entries / bandwidth_hz``), and the AP forwards the
    noisy weighted sum. The AP starts the transmission when every recipient is ready or
    declined, or at the deadline with those that are ready.
    power_control: "zero_forcing" (receive beamforming over ``receive_antennas``, optional
        ``drop_worst`` device selection) or "truncated_inversion" (single antenna, devices
        with small-scale gain below ``truncation_threshold`` stay silent in that block).
    snr_db: average receive SNR at full power, ``P0 mean_k(beta_k) / sigma2``; absent: the
        noise of ``[radio]`` (``noise_psd_dbm_hz``, ``noise_figure_db``, ``bandwidth_hz``).
    """

    enabled: bool = False
    power_control: Literal["zero_forcing", "truncated_inversion"] = "zero_forcing"
    receive_antennas: int = Field(1, ge=1)
    drop_worst: int = Field(0, ge=0)
    truncation_threshold: PositiveFloat = 0.1
    snr_db: float | None = Field(None, ge=-200.0, le=200.0)

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
    (``netsim/radio/allocation.py``; PHYSICS.md section 7, the EMQ paper).

    method: "none" (full power, no allocation step), "sqp" (minimise
        ``w_energy E / E_full + w_latency T / T_full`` by SLSQP), "full_power",
        "max_sum_rate" (WMMSE), "dinkelbach" (max-min energy efficiency with circuit power
        ``circuit_power_w``) or "min_max_latency" (bisection on the common latency).
    eta_min: lower bound of the power coefficients (fraction of ``device.tx_power_dbm``).
    steps_min, steps_max: range of each PIU's local iterations for "sqp" (default: exactly
        ``learning.local_steps``); the round's total stays at least K x local_steps.
    energy_budget_j: per PIU and round; latency_budget_s: round latency (compute + upload).
    """

    method: Literal[
        "none", "sqp", "full_power", "max_sum_rate", "dinkelbach", "min_max_latency"
    ] = "none"
    w_energy: NonNegativeFloat = 0.5
    w_latency: NonNegativeFloat = 0.5
    eta_min: float = Field(1e-3, gt=0, le=1)
    steps_min: int | None = Field(None, ge=1)
    steps_max: int | None = Field(None, ge=1)
    energy_budget_j: PositiveFloat | None = None
    latency_budget_s: PositiveFloat | None = None
    circuit_power_w: NonNegativeFloat = 0.1
