"""Checks of a scenario that need more than its values: files, registries, the machine.

The schema (:mod:`netsim.scenario`) validates values only. What needs a file (a topology
file, availability traces, a data folder), an implementation's registry (does the model
accept the data set's images?) or the machine (CUDA, memory) is checked here, before
anything large is built, with messages in the schema's form.
"""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import torch

from netsim.assembly.devices import read_traces
from netsim.assembly.errors import field_error
from netsim.assembly.learning import check_learning
from netsim.assembly.memory import available_bytes, check_memory
from netsim.assembly.topology import backhaul_graph, check_background, population
from netsim.learn.pool import usable_cores
from netsim.nodes.access_point import AccessPoint
from netsim.nodes.piu import PIU
from netsim.radio.downlinks import ScheduledDownlink
from netsim.radio.links import ScheduledLink
from netsim.radio.scheduler import OFDMAScheduler
from netsim.rng import Streams
from netsim.scenario import (
    FileTopology,
    RadioConfig,
    RayTracedPathLoss,
    Scenario,
    ScenarioError,
    TraceAvailability,
)


def _check_raytracing(s: Scenario) -> None:
    """A ray-traced path loss: its scene exists, Sionna RT is installed and an LLVM it can
    use is found (cheap: nothing is imported or traced), so ``netsim validate`` says what
    to install before a run starts."""
    from netsim.assembly.radio import check_scene
    from netsim.radio.raytracing import RayTracingUnavailable, prepare_llvm

    model = s.radio.pathloss
    if not isinstance(model, RayTracedPathLoss):
        return
    if model.scene is not None:
        check_scene(model.scene)
    if model.maps is not None:  # read, not traced: nothing to install
        if not model.maps.is_file():
            raise field_error("radio.pathloss.maps", str(model.maps), problem="no such file")
        return
    if find_spec("mitsuba") is None or find_spec("drjit") is None:
        raise field_error("radio.pathloss.model", "raytraced", problem="Sionna RT is not "
                          "installed; pip install 'netsim[rt]'")  # fmt: skip
    try:
        prepare_llvm()
    except RayTracingUnavailable as exc:
        raise field_error("radio.pathloss.model", "raytraced", problem=str(exc)) from None


def preflight(scenario: Scenario) -> tuple[int, int]:
    """Check what the schema could not; return (PIUs, APs). Raises :class:`ScenarioError`."""
    s = scenario
    n_pius, n_aps = population(s.topology)
    if isinstance(s.topology, FileTopology):  # the counts are known only now
        s.check_population(n_pius)
        s.check_aps(n_aps)
    if isinstance(s.device.availability, TraceAvailability):
        read_traces(s.device.availability, n_pius)
    check_learning(s)
    if s.learning.device.startswith("cuda") and not torch.cuda.is_available():
        raise ScenarioError(
            f"learning.device = {s.learning.device!r}: torch has no CUDA device here; use 'cpu'"
        )
    if s.radio.link == "nr" and find_spec("sionna") is None:
        raise ScenarioError(
            "radio.link = 'nr': the NR link abstraction runs on Sionna, which is not "
            "installed; pip install 'netsim[sionna]' (or use radio.link = 'shannon')"
        )
    _check_raytracing(s)
    if s.learning.backend == "ray" and find_spec("ray") is None:
        raise ScenarioError(
            "learning.backend = 'ray': Ray is not installed; pip install 'netsim[ray]' (or "
            "use backend = 'processes' on this machine)"
        )
    if s.dp.level != "none" and find_spec("opacus") is None:
        raise ScenarioError(
            f"dp.level = {s.dp.level!r}: the privacy accounting runs on Opacus, which is not "
            "installed; pip install 'netsim[dp]'"
        )
    _check_workers(s)
    graph = backhaul_graph(s.backhaul, n_aps, Streams(s.seed), s.topology)
    if graph is not None:
        check_background(s.backhaul, graph)
        edges = sum(1 for _, role in graph.nodes(data="role") if role == "edge")
        target = s.hierarchy.target_edges if s.hierarchy is not None else None
        if target is not None and edges and target > edges:
            raise ScenarioError(
                f"invalid scenario:\n  hierarchy.target_edges = {target}: at most the edge "
                f"servers of the backhaul ({edges})"
            )
    check_memory(s, n_pius, n_aps)  # before anything grows with the number of PIUs
    return n_pius, n_aps


# Each worker of a local pool holds its own interpreter, torch and the data set: 46 workers
# took 11.7 GB (issue 36), about 250 MB each.
WORKER_BYTES = 250 * 2**20
OVERSUBSCRIPTION = 4  # workers per usable core beyond which a pool only adds processes


def _check_workers(s: Scenario) -> None:
    """A local pool of more workers than the machine can run (``learning.workers`` on a
    CPU) is refused before any is started: beyond a few per core they only queue for the
    cores, and each holds a few hundred MB."""
    cfg = s.learning
    if (
        cfg.backend not in ("processes", "auto")
        or cfg.workers is None
        or cfg.device.startswith("cuda")
    ):
        return
    cores = usable_cores()
    limit = OVERSUBSCRIPTION * cores
    have = available_bytes()
    if have is not None:
        limit = min(limit, max(1, have // WORKER_BYTES))
    if cfg.workers > limit:
        raise ScenarioError(
            f"invalid scenario:\n  learning.workers = {cfg.workers}: at most {limit} on this "
            f"machine ({cores} usable cores, {OVERSUBSCRIPTION} workers per core at most, "
            f"about {WORKER_BYTES // 2**20} MB each); unset it for one per core"
        )


_MAX_PLANNED_AIRTIME_S = 86_400.0  # one day for one model upload: the link budget is broken
# fading blocks one upload may span: each is a step of the timeline (a SimPy event on a
# shared band), so 1e6 of them take seconds to minutes of the simulator's own time
_MAX_PLANNED_BLOCKS = 1.0e6


def check_link_budgets(
    pius: list[PIU], aps: list[AccessPoint], model_bits: int, radio: RadioConfig
) -> None:
    """Refuse a scenario in which one model download or upload would take more than a day,
    or would span so many fading blocks that simulating it would take hours (each coherence
    block of a transfer is a step of the timeline), or (NR links) whose PIU no MCS can
    serve (:func:`check_nr_reach`)."""
    check_nr_reach(pius, aps, radio)
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


def check_nr_reach(pius: list[PIU], aps: list[AccessPoint], radio: RadioConfig) -> None:
    """NR links: refuse a PIU that no transport block could reach, naming it, before the run
    (a link budget against the lowest MCS) instead of losing its updates silently.

    The bound tested, per direction: the interference-free SNR per RB (mean large-scale
    gain, fading averaged out) with the transmitter at full power spread over the RBs it
    would hold alone (the PIU's fixed RBs under TDMA / FDMA; else every RB of the channel,
    as the scheduler gives a PIU left alone with data, and as the AP's flat PSD gives every
    downlink), raised by chase combining over ``radio.max_transmissions`` HARQ
    transmissions (SINRs add), against the SINR at which a block of the lowest MCS with a
    BLER table (MCS 3 of table 1) on those RBs fails with at most ``radio.bler_target``.
    Interference and unlucky fading only lower the SINR a block meets, so a PIU below this
    bound cannot be served by any MCS, report or retransmission; one above it may still be
    by interference (the run logs those losses with their reason). Positions at t = 0."""
    if radio.link != "nr":
        return
    for piu in pius:
        ap = aps[piu.ap_index]
        ways: list[tuple[str, OFDMAScheduler, float, tuple[int, int] | None, str]] = []
        if isinstance(piu.link, ScheduledLink):
            ways.append(("uplink", piu.link.scheduler, piu.link.max_power_w,
                         piu.link.resource_blocks(), "device.tx_power_dbm"))  # fmt: skip
        if isinstance(ap.downlink, ScheduledDownlink):
            ways.append(("downlink", ap.downlink.scheduler, ap.tx_power_w, None,
                         "radio.ap_tx_power_dbm"))  # fmt: skip
        for direction, sched, power_w, fixed, power_field in ways:
            nr = sched.nr
            if nr is None:
                continue
            n_rb = sched.n_rb if fixed is None else fixed[1] - fixed[0]
            gain = float(sched.channel.gain[piu.index, ap.index])
            noise = sched.channel.band.noise_w(sched.rb_hz)
            snr = power_w / n_rb * gain / noise
            snr_db = 10 * np.log10(snr) if snr > 0 else -np.inf
            combined_db = snr_db + 10 * np.log10(nr.max_transmissions)
            need_db = nr.lowest_mcs_sinr_db(n_rb)
            if combined_db < need_db:
                raise ScenarioError(
                    f"invalid scenario:\n  {piu.name}'s NR {direction} cannot be served: at "
                    f"full power ({10 * np.log10(power_w / 1e-3):.1f} dBm over {n_rb} RBs, no "
                    f"interference) its mean SNR from ap{ap.index} is {snr_db:.1f} dB per RB, "
                    f"{combined_db:.1f} dB with {nr.max_transmissions} HARQ transmissions "
                    f"combined, below the {need_db:.1f} dB the lowest MCS "
                    f"({int(nr.candidates[0])} of table {nr.table}) needs for a block error "
                    f"rate of {nr.bler_target:g}; move it closer to its AP (topology), raise "
                    f"{power_field}, narrow radio.bandwidth_hz (more power per RB), or use "
                    "radio.link = 'shannon'"
                )
