"""netsim against Flower on the same federated workload (issues 8 and 24).

    python -m benchmarks flower [--rounds 5] [--repeats 3] [--flwr PATH]

Workload: 100 clients with 50 MNIST-5k samples each, LeNet-5, one local epoch of batch 10
(5 SGD steps, lr 0.05, momentum 0.9), FedAvg over all clients, the global model evaluated on
the test split after every round.

* netsim runs the bundled default scenario grown to 100 PIUs (simulated radio, energy and
  event log included) with ``netsim run``'s Python API in a fresh interpreter, with the
  default backend (``learning.backend = "auto"``: here a local pool of one worker per core,
  which trains in process until its workers are up) and in process at one thread
  (``"inprocess"``).
* Flower runs ``benchmarks/flower_app``, a Flower app with the same model, partitions, test
  split and initial weights (the harness saves them from netsim's build, untimed), the way
  Flower's quickstart runs one: ``flwr run <app> --stream`` against a local simulation
  federation of 100 supernodes, once per ``--flower-cpus`` value: the CPUs each client
  takes (``client_resources_num_cpus``; Flower's default is 2, so on 2 cores one
  client trains at a time; 1 lets two train at once). Flower at its best is the fastest of
  them. Each run gets a fresh ``FLWR_HOME``, so it starts its own local SuperLink, as a
  user's first run does, which the harness stops afterwards.

After an untimed warm-up run of each (Flower 1.42's ``flwr run`` installs the app's
dependencies into a fresh environment for every run, from uv's cache once it is warm), each
side runs in a fresh process, the sides alternating, ``--repeats`` times; the best of each
is reported: end-to-end (process start to exit: interpreter, imports, data, start-up, all
rounds), per warm round (median of rounds 2..R: round 1 includes warm-up) and per PIU-round
(a warm round over the 100 clients); then each once beside one busy process (a pure-Python
spin loop). Issue 24's targets: end-to-end >= 5x, per warm round >= 3x, per
PIU-round <= 5.5 ms, contended <= 1.5x the unloaded round.

Flower is not a dependency of netsim: install it where ``flwr`` runs (its simulation pins
its own Ray), e.g. ``python -m venv ~/flower && ~/flower/bin/pip install torch==2.13.0
'flwr[simulation]==1.42.0'`` and pass ``--flwr ~/flower/bin/flwr``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from netsim.scenario import Scenario

WORKLOAD = [
    "topology.num_pius=100",
    'learning.partition={kind="iid", samples_per_piu=50}',
    "learning.local_steps=5",
    "learning.batch_size=10",
]
APP = Path(__file__).resolve().parent / "flower_app"
_SPIN = "import time\nt = time.time()\nwhile time.time() - t < 3600: pass\n"


def _scenario(rounds: int, backend: str = "default") -> Scenario:
    from netsim import load_scenario  # imported in the child: part of what is timed

    sets = [f"protocol.rounds={rounds}", *WORKLOAD]
    if backend != "default":
        sets.append(f"learning.backend={backend}")
    return load_scenario("default", sets)


def run_netsim(rounds: int, backend: str) -> dict[str, list[float]]:
    """netsim's wall-clock time at the end of each round and the accuracy after it."""
    from netsim import Simulation

    ends: list[float] = []
    start = time.perf_counter()
    scenario = _scenario(rounds, backend)
    sim = Simulation(scenario, on_round=lambda _record: ends.append(time.perf_counter()))
    res = sim.run()
    return {
        "round_s": list(np.diff([start, *ends])),
        "accuracy": [float(a) for a in res.rounds["test_accuracy"]],
    }


def save_workload(folder: Path) -> None:
    """The Flower app's data: each PIU's samples (``part<k>.npz``), the test split
    (``test.npz``) and the initial model (``initial.pt``) of netsim's build."""
    import torch

    from netsim import Simulation

    sim = Simulation(_scenario(1, "inprocess"))
    trainer = sim.trainer
    for k, part in enumerate(sim.partitions):
        idx = torch.as_tensor(part)
        np.savez(
            folder / f"part{k}.npz", x=trainer.train_x[idx].numpy(), y=trainer.train_y[idx].numpy()
        )
    np.savez(folder / "test.npz", x=trainer.test_x.numpy(), y=trainer.test_y.numpy())
    torch.save(trainer.state_dict(sim.server.weights), folder / "initial.pt")


def _netsim_child(rounds: int, backend: str) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_flower", "netsim", str(rounds), backend],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    return wall, json.loads(out.stdout.strip().splitlines()[-1])["round_s"]


def _flower_child(
    flwr: str, data: Path, rounds: int, cpus: float | None = None
) -> tuple[float, list[float]]:
    """One ``flwr run`` with its own FLWR_HOME (a fresh local SuperLink, stopped after);
    ``cpus``: each client's CPUs (None: Flower's default)."""
    home = Path(tempfile.mkdtemp(prefix="flwr-home-"))
    times = home / "times.json"
    config = f'num-server-rounds={rounds} data-dir="{data}" times-file="{times}"'
    # flwr starts `flower-superlink` from PATH: Flower's environment first, as activated
    path = f"{Path(flwr).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "FLWR_HOME": str(home), "PATH": path}
    federation = "num-supernodes=100"
    if cpus is not None:
        federation += f" client_resources_num_cpus={cpus:g}"
    cmd = [
        flwr, "run", str(APP), "--stream", "--federation-config", federation,
        "--run-config", config,
    ]  # fmt: skip
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        if out.returncode != 0 or not times.exists():
            raise SystemExit(
                f"flower: `flwr run` failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
            )
    finally:
        _stop_superlink(home)
    recorded = json.loads(times.read_text())
    round_s = list(np.diff([recorded["start"], *recorded["ends"]]))
    shutil.rmtree(home, ignore_errors=True)
    return wall, round_s


def _stop_superlink(home: Path) -> None:
    """Stop the local SuperLink (and the simulation it runs) that ``flwr run`` started with
    FLWR_HOME ``home``: every process with that environment."""
    mark = f"FLWR_HOME={home}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def _best(runs: list[tuple[float, list[float]]]) -> tuple[float, float]:
    """(best end-to-end, best median warm round) of repeated runs."""
    return min(w for w, _ in runs), min(statistics.median(r[1:]) for _, r in runs)


def flower(
    rounds: int, repeats: int = 3, flwr: str | None = None, flower_cpus: tuple[float, ...] = (2, 1)
) -> None:
    flwr = flwr or shutil.which("flwr")
    if flwr is None:
        raise SystemExit(
            "flower: Flower's `flwr` was not found; install Flower in an environment of its "
            "own (see benchmarks/bench_flower.py) and pass --flwr PATH"
        )
    netsim_sides = {"netsim default": "default", "netsim in process": "inprocess"}
    flower_sides = {f"Flower, {c:g} CPU a client": c for c in flower_cpus}
    sides = [*netsim_sides, *flower_sides]
    results: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        save_workload(data)
        # untimed warm-up: uv's package cache (flwr run installs the app's dependencies into
        # a fresh environment for every run), Ray's and torch's files in the page cache
        _flower_child(flwr, data, 1)
        _netsim_child(1, "processes")
        for load, times in (("alone", repeats), ("one busy process", 1)):
            spin = subprocess.Popen([sys.executable, "-c", _SPIN]) if load != "alone" else None
            try:
                runs: dict[str, list[tuple[float, list[float]]]] = {s: [] for s in sides}
                for _ in range(times):  # alternating: drift on the machine hits all sides
                    for side, backend in netsim_sides.items():
                        runs[side].append(_netsim_child(rounds, backend))
                    for side, cpus in flower_sides.items():
                        runs[side].append(_flower_child(flwr, data, rounds, cpus))
            finally:
                if spin is not None:
                    spin.kill()
                    spin.wait()
            for side in sides:
                results[(side, load)] = _best(runs[side])
    print(
        f"workload: 100 clients x 50 MNIST samples, LeNet-5, 1 epoch of batch 10, {rounds} "
        f"rounds; alone best of {repeats}, contended one run, alternating, each run a fresh "
        "process"
    )
    print(
        f"{'':26} {'load':>17} {'end-to-end s':>13} {'warm round s':>13} {'ms/PIU-round':>13} "
        f"{'/ alone':>8}"
    )
    for (side, load), (wall, warm) in results.items():
        alone = results[(side, "alone")][1]
        print(
            f"{side:26} {load:>17} {wall:13.2f} {warm:13.3f} {warm * 1e3 / 100:13.2f} "
            f"{warm / alone:8.2f}"
        )
    # Flower at its best: its fastest configuration, end to end and per warm round apart
    flower_wall = min(results[(s, "alone")][0] for s in flower_sides)
    flower_warm = min(results[(s, "alone")][1] for s in flower_sides)
    for side in netsim_sides:
        wall, warm = results[(side, "alone")]
        print(
            f"{side}: end-to-end {flower_wall / wall:.1f}x the speed of Flower at its best, "
            f"per warm round {flower_warm / warm:.1f}x"
        )


if __name__ == "__main__":
    framework, n_rounds = sys.argv[1], int(sys.argv[2])
    print(json.dumps(run_netsim(n_rounds, sys.argv[3] if len(sys.argv) > 3 else "default")))
