"""ClientApp: one local epoch of SGD (batch 10, momentum) on the client's partition."""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from netsim_flower.task import Net, load

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    cfg = context.run_config
    k = int(context.node_config["partition-id"])
    x, y = load(str(cfg["data-dir"]), f"part{k}")
    model = Net()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    server_round = int(msg.content["config"].get("server-round", 0))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1000 * server_round + k))
    batch = int(cfg["batch-size"])
    model.train()
    losses = []
    for b in range(0, len(order), batch):  # one epoch
        idx = order[b : b + batch]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    metrics = MetricRecord({"train_loss": sum(losses) / len(losses), "num-examples": len(y)})
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)
