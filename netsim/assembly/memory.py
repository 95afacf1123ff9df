"""How much memory a run needs, estimated before anything large is allocated.

A scenario that cannot fit (``topology.num_pius = 1000000000``) is refused with a message
that says how much it needs, instead of dying with a MemoryError minutes into the build.
The estimate counts what grows with the scenario and the data set on top of a fixed base
(the interpreter, torch and the libraries).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from netsim.assembly.learning import dataset_info
from netsim.assembly.streaming import streaming_blocker, uses_streaming
from netsim.learn.batched import WORKING_SET_BYTES
from netsim.scenario import Scenario, ScenarioError
from netsim.scenario.learning import ALGORITHM_CLIENT_STATE

# Measured: the entities, keyed streams and partition of one PIU take 4.7-5.8 KB
# (Simulation of 200 and 5,000 PIUs, RSS difference per PIU); doubled for headroom.
PIU_BYTES = 12 * 1024
EVENT_BYTES = 256  # one event-log record (slotted) with its strings, per PIU and round ...
EVENTS_PER_PIU_ROUND = 8  # ... of which a PIU writes about this many per round
FLOAT32 = 4  # bytes per model weight or pixel
# Interpreter, torch, numpy and scipy: `netsim run` of the default scenario peaks at 625 MB
# (measured with /usr/bin/time -v), 31 MB of it data and 128 MiB the trainer's working set
# (both counted apart, so the base errs on the safe side).
BASE_BYTES = 600 * 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, by what needs them."""

    pius: int
    data_bytes: int
    trainer_bytes: int
    entities_bytes: int
    updates_bytes: int
    piu_state_bytes: int
    log_bytes: int

    @property
    def total_bytes(self) -> int:
        """Everything together, with the fixed base (B)."""
        return (
            BASE_BYTES
            + self.data_bytes
            + self.trainer_bytes
            + self.entities_bytes
            + self.updates_bytes
            + self.piu_state_bytes
            + self.log_bytes
        )


def estimate(scenario: Scenario, num_params: int, n_pius: int, n_aps: int) -> MemoryEstimate:
    """What a run of ``scenario`` with a model of ``num_params`` weights keeps in memory:
    per PIU its entities and gains to every AP (float64); the updates the server holds until
    it aggregates (float32, one per PIU of a round or of the async concurrency); per-PIU
    compressor and algorithm state (error-feedback residuals, differential references,
    SCAFFOLD's and FedDyn's client vectors; float32 per weight) and PIU-side pruning masks
    (1 byte per weight); the event log; the data set (float32, twice while loading); the
    trainer's working set."""
    k, aps = n_pius, n_aps
    p = scenario.protocol
    per_round = (p.clients_per_round if p.mode == "sync" else p.concurrency) or k
    model = num_params * FLOAT32
    c = scenario.compression
    states = int(getattr(c, "error_feedback", False)) + int(c.method in ("laq", "aquila", "dgc"))
    if c.method == "dgc":
        states += 1  # momentum and accumulated gradient
    states += ALGORITHM_CLIENT_STATE.get(scenario.learning.algorithm, 0)
    mask = (
        num_params if scenario.pruning.scope == "piu" and scenario.pruning.method != "none" else 0
    )
    info = dataset_info(scenario)
    return MemoryEstimate(
        pius=k,
        # float32, twice while loading (the loader's array and the normalised copy)
        data_bytes=2 * info.samples * math.prod(info.input_shape) * FLOAT32,
        # the batched trainer's chunks are sized to a bounded working set; a sequential
        # step holds weights, gradient, optimizer state and a temporary (4 per weight)
        trainer_bytes=WORKING_SET_BYTES if scenario.learning.trainer == "batched" else 4 * model,
        entities_bytes=k * (PIU_BYTES + 4 * 8 * aps),  # gain, shadowing, LOS, fading state
        # the deltas held until aggregation; streaming FedAvg holds a float64 sum instead
        updates_bytes=2 * model if uses_streaming(scenario, num_params, k) else per_round * model,
        piu_state_bytes=k * (states * model + mask),
        log_bytes=k * p.rounds * EVENTS_PER_PIU_ROUND * EVENT_BYTES
        if p.mode == "sync"
        else per_round * p.rounds * EVENTS_PER_PIU_ROUND * EVENT_BYTES,
    )


def available_bytes() -> int | None:
    """Memory the OS can give this process now (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def model_size(scenario: Scenario) -> int:
    """Number of weights of the scenario's model (built once on the CPU, then dropped)."""
    import torch

    from netsim.models import MODELS

    info = dataset_info(scenario)
    model = MODELS[scenario.learning.model].build(
        info.input_shape, info.num_classes, torch.Generator().manual_seed(0)
    )
    return sum(p.numel() for p in model.parameters())


def check_memory(
    scenario: Scenario,
    n_pius: int,
    n_aps: int,
    num_params: int | None = None,
    available: int | None = None,
) -> None:
    """Raise :class:`ScenarioError` when a run of ``scenario`` with ``n_pius`` PIUs and
    ``n_aps`` APs cannot fit in the available memory."""
    num_params = model_size(scenario) if num_params is None else num_params
    need = estimate(scenario, num_params, n_pius, n_aps)
    have = available_bytes() if available is None else available
    if have is None or need.total_bytes <= have:
        return
    gb = 1e9
    raise ScenarioError(
        f"this run needs about {need.total_bytes / gb:.3g} GB of memory and "
        f"{have / gb:.3g} GB are available: {need.pius} PIUs x "
        f"{(need.entities_bytes + need.piu_state_bytes) / need.pius / 1e3:.3g} kB of state, "
        f"{need.updates_bytes / gb:.3g} GB of updates per round ({num_params} weights each), "
        f"{need.log_bytes / gb:.3g} GB of event log; reduce topology.num_pius, "
        "protocol.clients_per_round or protocol.rounds" + _streaming_hint(scenario, need)
    )


def _streaming_hint(scenario: Scenario, need: MemoryEstimate) -> str:
    """Why the updates are held (when they are most of the need), or nothing."""
    if need.updates_bytes < need.total_bytes / 4:
        return ""
    blocker = streaming_blocker(scenario)
    if blocker is None:
        return "; or set server.streaming = true (FedAvg without holding the updates)"
    field, value = blocker
    return (
        f"; streaming FedAvg (no updates held) would need every trained update to arrive "
        f"and enter plain FedAvg, which {field} = {value!r} rules out"
    )
