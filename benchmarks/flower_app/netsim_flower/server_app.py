"""ServerApp: FedAvg over every client each round, the global model evaluated on the test
split after each round (centralised); each round's end time and accuracy go to
``times-file``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from netsim_flower.task import Net, load

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    data_dir = str(cfg["data-dir"])
    model = Net()
    model.load_state_dict(torch.load(Path(data_dir) / "initial.pt"))
    test_x, test_y = load(data_dir, "test")
    ends: list[float] = []
    accuracy: list[float] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model.load_state_dict(arrays.to_torch_state_dict())
        model.eval()
        with torch.no_grad():
            logits = model(test_x)
        acc = float((logits.argmax(1) == test_y).float().mean())
        if server_round > 0:  # round 0: the initial model
            ends.append(time.time())
            accuracy.append(acc)
        return MetricRecord({"accuracy": acc})

    n = int(cfg["num-clients"])
    strategy = FedAvg(
        fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=n
    )
    start = time.time()
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=int(cfg["num-server-rounds"]),
        train_config=ConfigRecord({}),
        evaluate_fn=evaluate,
    )
    times = {"start": start, "ends": ends, "accuracy": accuracy}
    Path(str(cfg["times-file"])).write_text(json.dumps(times))
