"""The scale scenarios of ``python -m benchmarks scale``: the bundled cell-free scenario, or
a 57-cell UMi layout, grown to thousands of PIUs. In a module of its own so that spawned
worker processes can import it.
"""

from __future__ import annotations

import resource
import time

from netsim import Simulation, load_scenario

WORKLOAD = [
    'learning.partition={kind="iid", samples_per_piu=50}',
    "learning.local_steps=5",
    "learning.batch_size=10",
]
# per layout: the bundled scenario and its overrides
LAYOUTS = {
    # cell-free: 100 APs x 4 antennas, 100 pilots; every registered PIU sends pilots
    "cellfree": ("cellfree", ["topology.aps_per_side=10", "radio.pilot_length=100",
                              "radio.coherence_symbols=1000"]),
    # cellular: 19 sites x 3 sectors of UMi (57 cells), TDMA, reuse 1 (co-channel
    # interference on the shared medium), the MLP
    "hex": ("hex_umi", ["topology.sites=19", "learning.model=mlp",
                        "learning.trainer=batched"]),
}  # fmt: skip


def scale_overrides(n_pius: int, per_round: int, layout: str = "cellfree") -> list[str]:
    """The scale scenario of ``layout``: the bundled scenario's overrides."""
    picked = [f"protocol.clients_per_round={per_round}"] if per_round < n_pius else []
    return [f"topology.num_pius={n_pius}", *LAYOUTS[layout][1], *WORKLOAD, *picked]


def run_point(n_pius: int, per_round: int, rounds: int, layout: str = "cellfree") -> dict:
    """One scale point, in a process of its own (its peak memory is the point's)."""
    overrides = [f"protocol.rounds={rounds}", *scale_overrides(n_pius, per_round, layout)]
    scenario = load_scenario(LAYOUTS[layout][0], overrides)
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
