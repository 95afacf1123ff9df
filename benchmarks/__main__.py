"""Benchmarks of netsim's own cost, each printing the ratio it measures in one run.

    python -m benchmarks overhead [--rounds 10] [SCENARIO]
    python -m benchmarks replay   [--rounds 10] [SCENARIO]
    python -m benchmarks scale    [--rounds 10] [--pius 1000,10000] [--per-round 1000]
                                  [--layout cellfree|hex]
    python -m benchmarks flower   [--rounds 5] [--repeats 3] [--flwr PATH] [--flower-cpus 2,1]
                                  (Flower installed apart)
    python -m benchmarks contention [--rounds 5]
    python -m benchmarks spectrum [--rounds 10] [SCENARIO]
    python -m benchmarks nr       [--rounds 10] [SCENARIO]
    python -m benchmarks calibration [--drops 10] [--out DIR]
    python -m benchmarks nr_acceptance [--rounds 5]
    python -m benchmarks network  [--png FILE] [--sites 7,19] [--per-sector 5,10,20]
                                  [--modes fifo,rr,pf,pf-nr]
    python -m benchmarks profile  [--rounds 10] [--top 5] [SCENARIO] [--set KEY=VALUE ...]
                                  [--scale-pius N [--per-round 1000]]

* ``overhead``: netsim end-to-end (SimPy timeline, radio, energy, event log, evaluation each
  round) against a tight loop that computes the same client updates with the same trainer
  (the same batched kernels and mini-batch streams), FedAvg and the same per-round
  evaluation, with no simulator. The two final models must be identical; the ratio is
  netsim / reference (issue 8's target: <= 1.15). On a shared machine the two timings vary
  by +-20 % from run to run, so it also prints netsim's own time measured inside the same
  run: the run minus the time spent in the trainer.
* ``replay``: a what-if run that changes only radio parameters (bandwidth / 2), with a
  training-result cache filled by the base run, against the same what-if without the cache
  (target: >= 10x faster).

* ``scale``: the bundled cell-free scenario grown to 1,000 and 10,000 PIUs (100 APs x 4
  antennas, 100 pilots, the MLP, 50 own MNIST samples per PIU, 5 local steps of batch 10),
  ``--per-round`` of them selected each round; each size runs in a fresh process, which
  reports wall time (build and run), peak resident memory and simulated events per second
  (issue 8's target: 10,000 PIUs in under 3 minutes and 4 GB; issue 24's: 10,000 PIUs all
  training every round in under 10 minutes and 8 GB, ``--per-round 10000``). ``--layout
  hex``: 19 UMi sites x 3 sectors, TDMA with reuse 1, the MLP (issue 24: 100,000 registered
  PIUs with 1,000 a round in under 5 minutes).
* ``flower``: netsim against Flower (``flwr run`` on a local simulation federation) on the
  same workload, alone and beside one busy process (see ``benchmarks/bench_flower.py``;
  targets: >= 5x end-to-end, >= 3x per warm round, <= 5.5 ms per PIU-round).
* ``contention``: the flower workload's warm round in process at 1 thread and at one per
  core, and on a process pool, alone and beside one busy process (see
  ``benchmarks/bench_contention.py``; issue 24's target: <= 1.5x the unloaded round).
* ``spectrum``: a shared-spectrum run (``radio.reuse = 1``: every co-channel upload on the
  interference medium) against the same scenario with orthogonal channels (default
  ``hex_umi``); prints both run times, their ratio (issue 19's target: <= 1.5) and the
  time outside the trainer of each.
* ``nr``: the NR link abstraction (``radio.link = "nr"``: a transport block per slot
  through Sionna's tables, HARQ, link adaptation) against Shannon rates on the same scenario
  (default: the default scenario); prints both run times, their ratio (issue 20's target:
  <= 1.5) and the time outside the trainer of each.
* ``network``: the cost of the slot-level schedulers as the network grows: hex UMi with 7
  and 19 sites x 3 sectors, 5, 10, 20 PIUs a sector all training, FIFO, RR, PF and PF over
  NR; wall time per point (each in a fresh process), per simulated second, and the fitted
  exponent of run time in PIUs at fixed cells (``benchmarks/bench_network.py``; issue 39).
* ``nr_acceptance``: FL over NR on hex_umi at reuse 1 and 3, round robin and PF, MCS tables
  1 and 2, against Shannon links: the share of model transfers lost and why, the worst
  first-transmission BLER, HARQ and RLC retransmissions, throughput against Shannon, round
  time and energy (``benchmarks/bench_nr_acceptance.py``; issue 38's acceptance run).
* ``calibration``: the TR 38.901 7.8 large-scale calibration (19 sites x 3 sectors with
  wrap-around, UMi and UMa at 6 GHz, outdoor and 80 % indoor): percentiles 5/50/95 of
  coupling gain and geometry, netsim against Sionna's TR 38.901 model on the same drops
  (see ``benchmarks/bench_calibration.py``); ``--out`` writes the table and figures.
* ``profile``: cProfile of one run (of SCENARIO, or of the scale scenario with
  ``--scale-pius``); prints the top functions by own time.

All build the simulation before timing (data set, model, topology), warm torch up with a
one-round run (the first vmap call and thread pool start-up cost seconds) and time ``run``
only.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import pstats
import tempfile
import time

import torch

from benchmarks.bench_calibration import calibration
from benchmarks.bench_contention import contention
from benchmarks.bench_default import time_trainer
from benchmarks.bench_flower import flower
from benchmarks.bench_network import network
from benchmarks.bench_nr_acceptance import nr_acceptance
from benchmarks.bench_scale import run_point, scale_overrides
from netsim import Simulation, load_scenario
from netsim.fl.aggregation import fedavg
from netsim.learn.trainer import TrainJob


def _reference(ref: Simulation, rounds: int) -> tuple[torch.Tensor, list]:
    """The same client updates, FedAvg and evaluations as a plain loop, with the trainer and
    data partition of ``ref`` (a fresh simulation of the same scenario, built but not run)."""
    trainer, parts = ref.trainer, ref.partitions
    weights = ref.server.weights
    steps = ref.scenario.learning.local_steps
    for r in range(rounds):
        handles = [trainer.submit(TrainJob(k, r, weights, p, steps)) for k, p in enumerate(parts)]
        deltas = [h.result().weights - weights for h in handles]
        weights = fedavg(weights, deltas, [len(p) for p in parts])
        trainer.evaluate(weights)
    return weights, parts


def overhead(scenario_path: str | None, rounds: int, repeats: int = 2) -> None:
    scenario = load_scenario(scenario_path, [f"protocol.rounds={rounds}"])
    if scenario.protocol.clients_per_round is not None or scenario.control.kind != "none":
        raise SystemExit("overhead: use a scenario where every PIU trains every round")
    Simulation(scenario.with_overrides(["protocol.rounds=1"])).run()  # warm-up (vmap, threads)
    netsim_s, reference_s, torch_s = [], [], []
    for _ in range(repeats):  # alternate, keep the best of each: less noise from the machine
        sim = Simulation(scenario)
        inside = time_trainer(sim.trainer)
        t0 = time.perf_counter()
        res = sim.run()
        netsim_s.append(time.perf_counter() - t0)
        torch_s.append(sum(inside.values()))
        ref = Simulation(scenario)
        t0 = time.perf_counter()
        weights, parts = _reference(ref, rounds)
        reference_s.append(time.perf_counter() - t0)
    same = torch.equal(weights, res.weights)
    print(f"scenario        {scenario.name}: {rounds} rounds, {len(parts)} PIUs")
    n, ref = min(netsim_s), min(reference_s)
    print(f"netsim run      {n:8.2f} s   ({len(res.events)} events; best of {repeats})")
    print(f"reference loop  {ref:8.2f} s   (same trainer, FedAvg, evaluation; best of {repeats})")
    print(f"ratio           {n / ref:8.3f}   (netsim / reference)")
    own = min(a - b for a, b in zip(netsim_s, torch_s, strict=True))
    print(
        f"netsim's own    {own:8.2f} s   (run minus the time inside the trainer: SimPy, radio, "
        f"energy, log; {own / n:.1%} of the run)"
    )
    print(f"same model      {same}")


def replay(scenario_path: str | None, rounds: int) -> None:
    base = load_scenario(scenario_path, [f"protocol.rounds={rounds}"])
    Simulation(base.with_overrides(["protocol.rounds=1"])).run()  # warm-up
    what_if = base.with_overrides([f"radio.bandwidth_hz={base.radio.bandwidth_hz / 2}"])
    with tempfile.TemporaryDirectory() as cache:
        Simulation(base, cache_dir=cache).run()  # fills the cache
        cached_sim = Simulation(what_if, cache_dir=cache)
        t0 = time.perf_counter()
        cached = cached_sim.run()
        cached_s = time.perf_counter() - t0
    plain_sim = Simulation(what_if)
    t0 = time.perf_counter()
    plain = plain_sim.run()
    plain_s = time.perf_counter() - t0
    same = torch.equal(cached.weights, plain.weights)
    print(
        f"what-if         {what_if.name}: bandwidth {base.radio.bandwidth_hz:.3g} -> "
        f"{what_if.radio.bandwidth_hz:.3g} Hz, {rounds} rounds"
    )
    print(f"without cache   {plain_s:8.2f} s   ({plain.training_jobs_run} updates trained)")
    print(
        f"with cache      {cached_s:8.2f} s   ({cached.training_cache_hits} updates reused, "
        f"{cached.training_jobs_run} trained)"
    )
    print(f"speed-up        {plain_s / cached_s:8.1f}x")
    print(f"same model      {same}")


def scale(sizes: list[int], per_round: int, rounds: int, layout: str) -> None:
    print(f"{layout}, MLP, {rounds} rounds, at most {per_round} PIUs selected per round")
    print("   PIUs  updates   build s     run s   total s   peak GB   events   events/s  accuracy")
    ctx = multiprocessing.get_context("spawn")
    for n in sizes:
        with ctx.Pool(1) as pool:
            r = pool.apply(run_point, (n, per_round, rounds, layout))
        total = r["build_s"] + r["run_s"]
        print(
            f"{n:7d} {r['updates']:8.0f} {r['build_s']:9.1f} {r['run_s']:9.1f} {total:9.1f} "
            f"{r['peak_gb']:9.2f} {r['events']:8.0f} {r['events'] / r['run_s']:10.0f} "
            f"{r['accuracy']:9.3f}"
        )


def profile(scenario_path: str | None, rounds: int, overrides: list[str], top: int) -> None:
    scenario = load_scenario(scenario_path, [f"protocol.rounds={rounds}", *overrides])
    Simulation(scenario.with_overrides(["protocol.rounds=1"])).run()  # warm-up
    sim = Simulation(scenario)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    sim.run()
    profiler.disable()
    print(f"{scenario.name}: run {time.perf_counter() - t0:.2f} s under cProfile")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def _versus(scenario: str, rounds: int, variants: dict[str, list[str]]) -> dict[str, float]:
    """Run ``scenario`` once per variant (label: overrides), after a warm-up of each (torch's
    threads, Sionna's import); print and return each run's wall time."""
    base = load_scenario(scenario, [f"protocol.rounds={rounds}"])
    for sets in variants.values():
        Simulation(base.with_overrides([*sets, "protocol.rounds=1"])).run()
    times = {}
    for label, sets in variants.items():
        sim = Simulation(base.with_overrides(sets))
        spent = time_trainer(sim.trainer)
        res = sim.run()
        torch_s = spent["train"] + spent["evaluate"]
        times[label] = res.wall_time_s
        print(
            f"{label:>18}: run {res.wall_time_s:6.2f} s, outside the trainer "
            f"{res.wall_time_s - torch_s:6.2f} s, {len(res.events)} events"
        )
    return times


def spectrum(scenario_path: str | None, rounds: int) -> None:
    variants = {"reuse orthogonal": ["radio.reuse=orthogonal"], "reuse 1": ["radio.reuse=1"]}
    times = _versus(scenario_path or "hex_umi", rounds, variants)
    print(f"shared / orthogonal wall time: {times['reuse 1'] / times['reuse orthogonal']:.2f}")


def nr(scenario_path: str | None, rounds: int) -> None:
    variants = {"shannon": ["radio.link=shannon"], "nr": ["radio.link=nr"]}
    times = _versus(scenario_path or "default", rounds, variants)
    print(f"nr / shannon wall time: {times['nr'] / times['shannon']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "benchmark",
        choices=(
            "overhead",
            "replay",
            "scale",
            "flower",
            "contention",
            "profile",
            "spectrum",
            "nr",
            "calibration",
            "nr_acceptance",
            "network",
        ),  # fmt: skip
    )
    parser.add_argument("scenario", nargs="?", help="scenario file or bundled name")
    parser.add_argument("--rounds", type=int, help="rounds (default 10; flower, contention: 5)")
    parser.add_argument("--pius", default="1000,10000", help="scale: PIU counts")
    parser.add_argument("--per-round", type=int, default=1000, help="scale: PIUs per round")
    parser.add_argument("--layout", choices=("cellfree", "hex"), default="cellfree", help="scale")
    parser.add_argument("--set", action="append", default=[], help="profile: overrides")
    parser.add_argument("--top", type=int, default=5, help="profile: functions shown")
    parser.add_argument("--repeats", type=int, default=3, help="flower: runs of each side")
    parser.add_argument("--flwr", help="flower: Flower's flwr executable (default: on PATH)")
    parser.add_argument(
        "--flower-cpus", default="2,1", help="flower: each client's CPUs, one Flower run each"
    )
    parser.add_argument("--scale-pius", type=int, help="profile: the scale scenario")
    parser.add_argument("--drops", type=int, default=10, help="calibration: drops per set-up")
    parser.add_argument("--out", help="calibration: folder for the table and figures")
    parser.add_argument("--png", help="network: write the log-log figure here")
    parser.add_argument("--sites", default="7,19", help="network: hex sites (x 3 sectors)")
    parser.add_argument("--per-sector", default="5,10,20", help="network: PIUs per sector")
    parser.add_argument("--modes", default="fifo,rr,pf,pf-nr", help="network: schedulers")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 5 if args.benchmark in ("flower", "contention", "nr_acceptance") else 10
    if args.benchmark == "calibration":
        calibration(args.drops, args.out)
    elif args.benchmark == "nr_acceptance":
        nr_acceptance(args.rounds)
    elif args.benchmark == "network":
        network(
            [int(n) for n in args.sites.split(",")],
            [int(n) for n in args.per_sector.split(",")],
            args.modes.split(","),
            png=args.png,
        )
    elif args.benchmark == "flower":
        cpus = tuple(float(c) for c in args.flower_cpus.split(","))
        flower(args.rounds, args.repeats, args.flwr, cpus)
    elif args.benchmark == "contention":
        contention(args.rounds)
    elif args.benchmark == "scale":
        scale([int(n) for n in args.pius.split(",")], args.per_round, args.rounds, args.layout)
    elif args.benchmark == "profile":
        if args.scale_pius is not None:
            args.scenario = "cellfree"
            args.set = [*scale_overrides(args.scale_pius, args.per_round), *args.set]
        profile(args.scenario, args.rounds, args.set, args.top)
    else:
        run = {"overhead": overhead, "replay": replay, "spectrum": spectrum, "nr": nr}[
            args.benchmark
        ]
        run(args.scenario, args.rounds)


if __name__ == "__main__":
    main()
