"""How a round's time degrades when another process competes for the CPU (issue 24).

    python -m benchmarks contention [--rounds 5]

The Flower-comparison workload (``benchmarks/bench_flower.py``: the default scenario with
100 PIUs of 50 MNIST samples, LeNet-5, 5 steps of batch 10) runs in a fresh process per
case: with the default backend (``learning.backend = "auto"``), in process with
``learning.threads_per_worker`` = 1 and = the core count, and on a local process pool (one
single-threaded worker per core), first alone, then beside one busy process (a pure-Python
spin loop, one core's worth of work). Prints each case's median warm
round (rounds 2..R), its ratio to its own unloaded time and to the fastest unloaded case
(issue 24's target: <= 1.5 with one competing process).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from netsim import Simulation, load_scenario
from benchmarks.bench_flower import WORKLOAD
ends = []
sets = [*WORKLOAD, f"protocol.rounds={sys.argv[1]}", f"learning.threads_per_worker={sys.argv[2]}"]
if sys.argv[3] != "default":
    sets.append(f"learning.backend={sys.argv[3]}")
if __name__ == "__main__":  # (the pool's workers import this main module)
    scenario = load_scenario("default", sets)
    sim = Simulation(scenario, on_round=lambda r: ends.append(time.perf_counter()))
    t0 = time.perf_counter()
    sim.run()
    print(json.dumps([b - a for a, b in zip([t0, *ends[:-1]], ends)]))
"""
_SPIN = "import time\nt = time.time()\nwhile time.time() - t < 600: pass\n"


def _warm_round_s(rounds: int, threads: int, backend: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(rounds), str(threads), backend],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return statistics.median(times[1:])


def contention(rounds: int = 5) -> None:
    """Print the table (module docstring)."""
    cores = os.cpu_count() or 1
    cases = [("default", 1)] + [("inprocess", t) for t in sorted({1, cores})]
    cases += [("processes", 1)]
    results = {}
    for backend, threads in cases:
        results[(backend, threads, "alone")] = _warm_round_s(rounds, threads, backend)
        spin = subprocess.Popen([sys.executable, "-c", _SPIN])
        try:
            busy = _warm_round_s(rounds, threads, backend)
            results[(backend, threads, "one busy process")] = busy
        finally:
            spin.kill()
            spin.wait()
    best = min(v for (*_, load), v in results.items() if load == "alone")
    print(
        f"{'backend':>10} {'threads':>8} {'load':>17} {'warm round s':>13} {'/ alone':>8} "
        f"{'/ best alone':>13}"
    )
    for (backend, threads, load), t in results.items():
        alone = results[(backend, threads, "alone")]
        print(
            f"{backend:>10} {threads:>8} {load:>17} {t:>13.3f} {t / alone:>8.2f} {t / best:>13.2f}"
        )
