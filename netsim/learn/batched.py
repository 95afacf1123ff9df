"""Batched local training: many PIUs' jobs as one vectorised computation.

DESIGN.md's central idea. Pending jobs with the same number of local steps and the same
mini-batch size are stacked along a leading client axis G and trained together with
``torch.func.vmap(grad_and_value(loss))`` over ``functional_call`` of the shared architecture.
SGD (with momentum), Adam, AdaDelta and RMSprop update every entry independently, so one stock
``torch.optim`` optimizer over the stacked (G, ...) tensors is exactly a per-client optimizer.
Each client's mini-batches come from its own keyed stream, as in the sequential trainer, so
both give the same weights up to float32 summation order (about 1e-8 per step; training that
is itself unstable, e.g. a large learning rate with momentum on a hard shard, amplifies that
difference exponentially, as it would amplify any perturbation).

Large cohorts are cut into chunks of at most ``chunk_size`` clients. A vmapped step streams
every client's weights, gradients, optimizer state and activations through memory; once a
chunk's working set outgrows the caches the step becomes memory-bound and a 1000-client call is
slower than a plain loop. Measured on 2 CPU cores (``benchmarks/bench_trainer.py``, 1000
clients, batch 10, 3 SGD-momentum steps): the MLP (0.8 MB of weights) is fastest at 32 clients
per call (2.0 s vs 3.8-4.8 s at 64-256), LeNet-5 at 64-128 (5.5 s vs 9.6 s at 256). The
automatic size (:func:`auto_chunk_size`) keeps the estimated working set of a chunk within
``WORKING_SET_BYTES`` (128 MiB): 39 clients for the MLP, 59 for LeNet-5, near both optima. The
size depends on the model, batch size and optimizer only, never on the machine, so a scenario
gives the same event log everywhere. Chunking changes a result by float32 round-off at most
(torch may pick another kernel for another batch size: measured up to 1.5e-8 on the 8x8-digits
MLP, 0 on MNIST).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from netsim.learn.datasets import Dataset
from netsim.learn.trainer import OptimizerSpec, Trainer, TrainJob, TrainResult
from netsim.rng import Streams

WORKING_SET_BYTES = 128 * 2**20  # per vectorised call; see the module docstring
MAX_CHUNK = 256
# per optimizer: float32 state tensors per parameter, besides weights and gradients
_STATE_TENSORS = {"sgd": 1, "adam": 2, "adadelta": 2, "rmsprop": 2}


def working_set_bytes(model: nn.Module, sample: torch.Tensor, batch_size: int, opt: str) -> int:
    """Estimated bytes one client occupies in a vmapped training step.

    Weights, gradient, optimizer state and one temporary per parameter (float32), plus the
    activations of a mini-batch, saved for the backward pass and their gradients: the outputs
    of every leaf module for ``sample`` (one input, shape (1, C, H, W)) counted twice, times
    ``batch_size``.
    """
    params = sum(p.numel() for p in model.parameters())
    outputs = 0

    def count(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal outputs
        outputs += output.numel()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in hooks:
            h.remove()
    per_param = 3 + _STATE_TENSORS.get(opt, 2)
    return 4 * (per_param * params + 2 * batch_size * (outputs + sample.numel()))


def auto_chunk_size(model: nn.Module, sample: torch.Tensor, batch_size: int, opt: str) -> int:
    """Clients per vectorised call: as many as fit in ``WORKING_SET_BYTES`` (1 to
    ``MAX_CHUNK``). MNIST, batch 10, SGD: MLP 2NN 39, LeNet-5 59."""
    per_client = working_set_bytes(model, sample, batch_size, opt)
    return max(1, min(MAX_CHUNK, WORKING_SET_BYTES // per_client))


class BatchedTrainer(Trainer):
    """A :class:`Trainer` that executes pending jobs in vmapped groups.

    Parameters (besides :class:`Trainer`'s)
    ----------
    chunk_size: at most this many clients per vectorised call; None: :func:`auto_chunk_size`.

    Models with buffers (e.g. BatchNorm running statistics) are not supported yet.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Dataset,
        test: Dataset,
        batch_size: int,
        optimizer: OptimizerSpec,
        streams: Streams,
        device: str = "cpu",
        task: str = "classification",
        *,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if any(True for _ in model.buffers()):
            raise ValueError("the batched trainer does not support models with buffers yet")
        if chunk_size is None:
            chunk_size = auto_chunk_size(model, train.x[:1], batch_size, optimizer.name)
        self.chunk_size = chunk_size  # before the base: a worker pool copies it
        super().__init__(model, train, test, batch_size, optimizer, streams, device, task, **kwargs)
        self._names = [name for name, _ in self.model.named_parameters()]
        model = self.model

        def loss(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.loss(functional_call(model, params, (x,)), y)

        self._step = vmap(grad_and_value(loss))

    def plan(self, jobs: list[TrainJob]) -> list[tuple[bool, list[int]]]:
        """Jobs with injected samples or a local rule that is not groupable (DP-SGD's
        per-sample clipping, a per-PIU shift inside a vmap) one a chunk; the rest grouped by
        (local steps, mini-batch size, masked or not, their rules' keys), each group in the
        fewest chunks of at most ``chunk_size`` jobs, of equal sizes."""
        chunks: list[tuple[bool, list[int]]] = []
        groups: dict[tuple[int, int, bool, tuple[bytes, ...]], list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            if job.extra is not None or not all(r.groupable for r in job.rules):
                chunks.append((False, [i]))
                continue
            shape = (
                job.local_steps, min(self.batch_size, len(job.indices)), job.mask is None,
                tuple(r.key() for r in job.rules),
            )  # fmt: skip
            groups[shape].append(i)
        for members in groups.values():
            # as few chunks as chunk_size allows, of equal sizes (+-1): 100 jobs at 59 a
            # chunk are two of 50, which two workers finish together
            count = -(-len(members) // self.chunk_size)
            bounds = [round(i * len(members) / count) for i in range(count + 1)]
            for start, stop in itertools.pairwise(bounds):
                chunks.append((True, members[start:stop]))
        return chunks

    def run_chunk(self, grouped: bool, jobs: list[TrainJob]) -> list[TrainResult]:
        """A grouped chunk in one vmapped computation, else one job after another."""
        return self._train_group(jobs) if grouped else super().run_chunk(grouped, jobs)

    def replica_kwargs(self) -> dict[str, Any]:
        """The sequential trainer's, and the chunk size (the chunks must be the same)."""
        return {**super().replica_kwargs(), "chunk_size": self.chunk_size}

    def _train_group(self, jobs: list[TrainJob]) -> list[TrainResult]:
        """Train G jobs with equal step counts and batch sizes together."""
        self.model.train()
        start = jobs[0].weights
        if all(job.weights is start for job in jobs):  # the usual case: one global model
            stacked = start.to(self.device).expand(len(jobs), -1)  # (G, P), no copy
        else:
            stacked = torch.stack([job.weights for job in jobs]).to(self.device)
        anchor = self._per_parameter(stacked)  # (G, *shape) each: the start (local rules)
        leaves = [t.clone() for t in anchor]
        params = dict(zip(self._names, leaves, strict=True))
        masks = None  # a group has masks for all its jobs or for none (see plan)
        if jobs[0].mask is not None:  # shared or per-PIU pruning masks, (G, *shape) each
            stacked_masks = torch.stack([job.mask for job in jobs if job.mask is not None])
            masks = self._per_parameter(stacked_masks.to(self.device, torch.float32))
        opt = self.optimizer.make(leaves)  # element-wise: one optimizer per client, stacked
        batches = [self._batches(job) for job in jobs]  # per job: steps x (b,)
        losses = []
        for step in range(jobs[0].local_steps):
            idx = torch.stack([b[step] for b in batches])  # (G, b)
            grads, loss = self._step(params, self.train_x[idx], self.train_y[idx])
            stacked_grads = [grads[name] for name in self._names]
            with torch.no_grad():
                for rule in jobs[0].rules:  # a group shares them (see plan)
                    rule.adjust(leaves, stacked_grads, anchor)
            for leaf, g in zip(leaves, stacked_grads, strict=True):
                leaf.grad = g
            opt.step()
            if masks is not None:
                with torch.no_grad():
                    for leaf, m in zip(leaves, masks, strict=True):
                        leaf.mul_(m)
            losses.append(loss)
        weights = torch.cat([leaf.reshape(len(jobs), -1) for leaf in leaves], dim=1).cpu()
        mean_loss = torch.stack(losses).mean(0)  # (G,)
        samples = jobs[0].local_steps * len(batches[0][0])
        # rows are views of one (G, P) tensor, freed when the last of them is dropped
        return [
            TrainResult(row, float(loss), samples)
            for row, loss in zip(weights.unbind(0), mean_loss.tolist(), strict=True)
        ]
