"""Wall time of the default scenario and the share of it spent in torch training/evaluation.

    python benchmarks/bench_default.py [--rounds N] [SCENARIO.toml]

Prints build time (data load, model, topology), run time, the time inside the trainer (local
training + test evaluation, i.e. torch arithmetic) and everything else (SimPy, radio, logging).
"""

from __future__ import annotations

import argparse
import time

from netsim import Simulation, load_scenario
from netsim.learn.trainer import Trainer


def time_trainer(trainer: Trainer) -> dict[str, float]:
    """Wrap ``trainer`` so the wall time spent in local training ("train") and test
    evaluation ("evaluate") accumulates in the returned dict (s)."""
    spent = {"train": 0.0, "evaluate": 0.0}
    # _collect: computing a chunk, or waiting for a worker pool's
    for name, method in (
        ("train", "_run_pending"),
        ("train", "_collect"),
        ("evaluate", "evaluate"),
        ("evaluate", "evaluate_positions"),
    ):
        fn = getattr(trainer, method)

        def timed(*args, _fn=fn, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_name] += time.perf_counter() - start

        setattr(trainer, method, timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?")
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    overrides = [f"protocol.rounds={args.rounds}"] if args.rounds else []
    t0 = time.perf_counter()
    scenario = load_scenario(args.scenario, overrides)
    sim = Simulation(scenario)
    build_s = time.perf_counter() - t0

    trainer = sim.trainer
    spent = time_trainer(trainer)
    res = sim.run()
    torch_s = spent["train"] + spent["evaluate"]
    print(
        f"scenario           {scenario.name}: {len(res.rounds)} rounds, "
        f"{len(sim.pius)} PIUs, {trainer.jobs_run} training jobs, {len(res.events)} events"
    )
    print(f"build              {build_s:8.2f} s  (data set, model, topology, entities)")
    print(f"run                {res.wall_time_s:8.2f} s")
    print(f"  local training   {spent['train']:8.2f} s")
    print(f"  test evaluation  {spent['evaluate']:8.2f} s")
    print(f"  everything else  {res.wall_time_s - torch_s:8.2f} s  (SimPy, radio, logging)")
    print(f"torch share of run {torch_s / res.wall_time_s:8.1%}")
    print(f"final accuracy     {res.final_accuracy:8.4f}")
    print(f"simulated time     {res.sim_time_s:8.3f} s")
    print(f"PIU energy         {res.total_energy_j:8.4f} J")


if __name__ == "__main__":
    main()
