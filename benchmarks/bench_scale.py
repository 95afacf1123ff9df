"""The scale scenario of ``python -m benchmarks scale``: the bundled cell-free scenario grown
to thousands of PIUs. In a module of its own so that spawned worker processes can import it.
"""

from __future__ import annotations

import resource
import time

from netsim import Simulation, load_scenario

SCALE_OVERRIDES = [
    "topology.aps_per_side=10",
    "radio.pilot_length=100",
    "radio.coherence_symbols=1000",
    'learning.partition={kind="iid", samples_per_piu=50}',
    "learning.local_steps=5",
    "learning.batch_size=10",
]


def scale_overrides(n_pius: int, per_round: int) -> list[str]:
    """The scale scenario: bundled ``cellfree`` with these overrides."""
    picked = [f"protocol.clients_per_round={per_round}"] if per_round < n_pius else []
    return [f"topology.num_pius={n_pius}", *SCALE_OVERRIDES, *picked]


def run_point(n_pius: int, per_round: int, rounds: int) -> dict[str, float]:
    """One scale point, in a process of its own (its peak memory is the point's)."""
    overrides = [f"protocol.rounds={rounds}", *scale_overrides(n_pius, per_round)]
    scenario = load_scenario("cellfree", overrides)
    t0 = time.perf_counter()
    sim = Simulation(scenario)
    t1 = time.perf_counter()
    res = sim.run()
    t2 = time.perf_counter()
    return {
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "events": len(res.events),
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        "accuracy": float(res.rounds["test_accuracy"].iloc[-1]),
        "updates": int(res.rounds["aggregated"].sum()),
    }
