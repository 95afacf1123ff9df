"""netsim against a Flower simulation of the same federated workload (issue 8).

    python -m benchmarks flower [--rounds 5]

Workload: 100 clients with 50 MNIST-5k samples each, LeNet-5, one local epoch of batch 10
(5 SGD steps, lr 0.05, momentum 0.9), FedAvg over all clients, the global model evaluated on
the same test split after every round. netsim runs the bundled default scenario grown to 100
PIUs (simulated radio, energy and event log included); Flower runs the same partitions, the
same initial model and the same test set with its Ray simulation engine (legacy
``start_simulation``, one CPU per virtual client, centralised evaluation), each client training
with a plain torch loop. Each framework runs in a fresh interpreter, so end-to-end time is
what a user waits for: interpreter and imports, data, start-up (Ray for Flower) and all rounds.
Per warm round is the median of rounds 2..R (round 1 includes torch's and Ray's warm-up).

Needs ``flwr[simulation]`` (the optional extra ``flower``); without it the benchmark says so.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from netsim.scenario import Scenario

WORKLOAD = [
    "topology.num_pius=100",
    'learning.partition={kind="iid", samples_per_piu=50}',
    "learning.local_steps=5",
    "learning.batch_size=10",
]


def _scenario(rounds: int) -> Scenario:
    from netsim import load_scenario  # imported in the child: part of what is timed

    return load_scenario("default", [f"protocol.rounds={rounds}", *WORKLOAD])


def run_netsim(rounds: int) -> dict[str, list[float]]:
    """netsim's wall-clock time at the end of each round and the accuracy after it."""
    from netsim import Simulation

    ends: list[float] = []
    start = time.perf_counter()
    sim = Simulation(_scenario(rounds), on_round=lambda _record: ends.append(time.perf_counter()))
    res = sim.run()
    return {
        "round_s": list(np.diff([start, *ends])),
        "accuracy": [float(a) for a in res.rounds["test_accuracy"]],
    }


def run_flower(rounds: int) -> dict[str, list[float]]:
    """The same rounds with Flower's Ray simulation engine."""
    import flwr
    from flwr.client import NumPyClient
    from flwr.common import Context, ndarrays_to_parameters
    from flwr.server import ServerConfig
    from flwr.server.strategy import FedAvg

    from netsim import Simulation

    start = time.perf_counter()
    sim = Simulation(_scenario(rounds))  # only for its data partitions, test set and model
    trainer, parts = sim.trainer, sim.partitions
    model = trainer.model
    names = [name for name, _ in model.named_parameters()]
    initial = trainer.state_dict(sim.server.weights)
    train_x, train_y = trainer.train_x, trainer.train_y
    test_x, test_y = trainer.test_x, trainer.test_y
    lr, momentum = sim.scenario.learning.optimizer.lr, sim.scenario.learning.optimizer.momentum
    batch = sim.scenario.learning.batch_size

    def load(params: list[np.ndarray]) -> None:
        with torch.no_grad():
            for p, value in zip(model.parameters(), params, strict=True):
                p.copy_(torch.from_numpy(value))

    class Client(NumPyClient):
        def __init__(self, k: int) -> None:
            self.k = k

        def fit(self, parameters: list[np.ndarray], config: dict) -> tuple:
            torch.set_num_threads(1)  # one CPU per virtual client (client_resources)
            load(parameters)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            idx = torch.as_tensor(parts[self.k])
            seed = 1000 * int(config["round"]) + self.k  # a fresh order per client and round
            order = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]
            model.train()
            for b in range(0, len(order), batch):  # one epoch
                x, y = train_x[order[b : b + batch]], train_y[order[b : b + batch]]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            return [p.detach().numpy().copy() for p in model.parameters()], len(idx), {}

    def client_fn(context: Context) -> flwr.client.Client:
        return Client(int(context.node_config["partition-id"])).to_client()

    ends: list[float] = []
    accuracy: list[float] = []

    def evaluate(server_round: int, params: list[np.ndarray], config: dict) -> tuple:
        load(params)
        model.eval()
        with torch.no_grad():
            logits = model(test_x)
        acc = float((logits.argmax(1) == test_y).float().mean())
        if server_round > 0:  # round 0: the initial model
            ends.append(time.perf_counter())
            accuracy.append(acc)
        return float(torch.nn.functional.cross_entropy(logits, test_y)), {"accuracy": acc}

    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=len(parts),
        min_available_clients=len(parts),
        evaluate_fn=evaluate,
        on_fit_config_fn=lambda server_round: {"round": server_round},
        initial_parameters=ndarrays_to_parameters([initial[n].numpy() for n in names]),
    )
    flwr.simulation.start_simulation(
        client_fn=client_fn,
        num_clients=len(parts),
        config=ServerConfig(num_rounds=rounds),
        strategy=strategy,
        client_resources={"num_cpus": 1},
        ray_init_args={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
    )
    return {"round_s": list(np.diff([start, *ends])), "accuracy": accuracy}


def _child(framework: str, rounds: int) -> tuple[float, dict[str, list[float]]]:
    """Run one framework in a fresh interpreter; (its wall time, its per-round figures)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_flower", framework, str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def flower(rounds: int) -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise SystemExit(
            "flower: Flower is not installed; pip install torch==2.13.0 -e '.[flower]'"
        ) from None
    netsim_s, ours = _child("netsim", rounds)
    flower_s, theirs = _child("flower", rounds)
    warm_ours = statistics.median(ours["round_s"][1:])
    warm_theirs = statistics.median(theirs["round_s"][1:])
    print(f"workload        100 clients x 50 MNIST samples, LeNet-5, 1 epoch, {rounds} rounds")
    print(
        f"end-to-end      netsim {netsim_s:7.2f} s   Flower {flower_s:7.2f} s   "
        f"ratio {flower_s / netsim_s:5.1f}x"
    )
    print(
        f"per warm round  netsim {warm_ours:7.2f} s   Flower {warm_theirs:7.2f} s   "
        f"ratio {warm_theirs / warm_ours:5.1f}x   (median of rounds 2..{rounds})"
    )
    print("accuracy        round  netsim  Flower")
    for r, (a, b) in enumerate(zip(ours["accuracy"], theirs["accuracy"], strict=True), 1):
        print(f"                {r:5d}  {a:6.3f}  {b:6.3f}")


if __name__ == "__main__":
    framework, n_rounds = sys.argv[1], int(sys.argv[2])
    run = run_netsim if framework == "netsim" else run_flower
    print(json.dumps(run(n_rounds)))
