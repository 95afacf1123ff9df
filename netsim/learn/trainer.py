"""Local training of PIUs behind a *submit now, result later* interface.

A PIU process submits a :class:`TrainJob` when its local computation starts, waits the
simulated compute time, and only then asks its :class:`TrainHandle` for the result. The
trainer keeps jobs pending until the first result is needed and then plans every pending job
into chunks (:meth:`Trainer.plan`: one job each here, vmapped groups in the batched trainer).
In process a chunk is computed when one of its jobs is first asked for (a round holds one
chunk of results at a time); with a worker pool (``netsim.learn.pool``) the chunks are sent
to the workers and a handle waits only for its own chunk, so the timeline runs on while the
rest compute. This version trains the jobs of a chunk one after another.

Work whose result the timeline never waits for (the evaluation of a finished round) can be
:meth:`Trainer.defer`-red: with a worker pool it runs while the main process would wait for
a chunk, so the workers train the next round meanwhile.

Models are exchanged as flat float32 parameter vectors (P,) in ``model.parameters()`` order.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector

from netsim.learn.datasets import Dataset
from netsim.rng import Stream, Streams

if TYPE_CHECKING:
    from netsim.learn.cache import TrainingCache
    from netsim.learn.pool import ChunkResult
    from netsim.local_rules import LocalRule


class SGD:
    """SGD with momentum and weight decay over ``params``: ``torch.optim.SGD``'s step (its
    functional form, ``torch.optim.sgd.sgd``, the same arithmetic in the same order) without
    constructing a ``torch.optim.Optimizer``, whose first construction imports
    ``torch._dynamo`` (0.8 s, an eighth of a 5-round, 100-PIU run end to end)."""

    def __init__(self, params: list[torch.Tensor], lr: float, momentum: float, decay: float):
        self.params, self.lr, self.momentum, self.decay = params, lr, momentum, decay
        self.buffers: list[torch.Tensor | None] = [None] * len(params)  # momentum, per param

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (as ``Optimizer.zero_grad``: set to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One step on the parameters that have a gradient."""
        from torch.optim.sgd import sgd

        with_grad = [i for i, p in enumerate(self.params) if p.grad is not None]
        buffers = [self.buffers[i] for i in with_grad]
        sgd(
            [self.params[i] for i in with_grad],
            [self.params[i].grad for i in with_grad],  # type: ignore[misc]
            buffers,
            weight_decay=self.decay, momentum=self.momentum, lr=self.lr, dampening=0.0,
            nesterov=False, maximize=False,
        )  # fmt: skip
        for i, buffer in zip(with_grad, buffers, strict=True):
            self.buffers[i] = buffer


@dataclass(frozen=True)
class OptimizerSpec:
    """Local optimizer; a fresh instance (no state carried over) every round."""

    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0

    def make(self, params: list[torch.Tensor]) -> torch.optim.Optimizer | SGD:
        """A torch optimizer of this kind over ``params`` (SGD: :class:`SGD`, torch's own
        SGD arithmetic)."""
        if self.name == "sgd":
            return SGD(params, self.lr, self.momentum, self.weight_decay)
        if self.name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "adadelta":
            return torch.optim.Adadelta(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "rmsprop":
            return torch.optim.RMSprop(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        raise ValueError(f"unknown optimizer {self.name!r}")


@dataclass(frozen=True)
class TrainJob:
    """One PIU's local update in one round.

    Attributes
    ----------
    piu, round: identify the job and key its mini-batch stream ``(BATCHES, piu, round)``.
    repeat: how many jobs this PIU already ran on the same model version (asynchronous
        FL sends a PIU the same version again when no other update came in between); a
        repeat keys its own stream ``(BATCHES, piu, round, repeat)``, so no two jobs of a
        PIU share mini-batches (round-based jobs have repeat 0 and keep their keys).
    weights: global model the PIU starts from, float32 (P,).
    indices: the PIU's training samples (indices into the trainer's training set).
    local_steps: mini-batch SGD steps.
    mask: shared pruning mask, re-applied after every optimizer step.
    extra: samples the PIU adds to its own for this round, (x normalised (E, C, H, W),
        y (E,)) on the CPU: a malicious PIU's injected samples (netsim.privacy.gan).
    rules: how the FL algorithm changes plain mini-batch training at every step
        (:mod:`netsim.local_rules`: FedProx's proximal term, SCAFFOLD's correction, DP-SGD's
        gradients, ...), in the order the algorithm gave them; empty: plain SGD.
    """

    piu: int
    round: int
    weights: torch.Tensor
    indices: np.ndarray
    local_steps: int
    mask: torch.Tensor | None = None  # (P,) bool: pruned weights (False) stay zero
    extra: tuple[torch.Tensor, torch.Tensor] | None = None
    repeat: int = 0
    rules: tuple[LocalRule, ...] = ()

    @property
    def stream_ids(self) -> tuple[int, ...]:
        """The keys of this job's random streams after the PIU (:func:`job_stream_ids`)."""
        return job_stream_ids(self.round, self.repeat)


def job_stream_ids(round_index: int, repeat: int) -> tuple[int, ...]:
    """Keys after the PIU of the random streams of its job on model version ``round``, the
    ``repeat``-th on that version: (round,) for the first, so round-based keys are kept."""
    return (round_index, repeat) if repeat else (round_index,)


@dataclass(frozen=True)
class TrainResult:
    """weights: local model after training (P,); loss: mean mini-batch loss over the steps;
    samples: samples processed (``local_steps * batch``), what the compute model charges for."""

    weights: torch.Tensor
    loss: float
    samples: int


@dataclass(eq=False)
class TrainHandle:
    """Claim on a submitted job's result."""

    job: TrainJob
    trainer: Trainer
    _result: TrainResult | None = field(default=None, repr=False)
    cancelled: bool = False
    _chunk: _Chunk | None = field(default=None, repr=False)  # planned, not yet collected

    def result(self) -> TrainResult:
        """The result; runs (or sends to the pool) every pending job of the trainer on first
        use, and then waits for this job's chunk only."""
        if self.cancelled:
            raise RuntimeError(
                f"training job of PIU {self.job.piu} round {self.job.round} was cancelled"
            )
        if self._result is None and self._chunk is None:
            self.trainer._run_pending()
        if self._result is None:
            assert self._chunk is not None
            self.trainer._collect(self._chunk)
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Drop the job (its PIU was interrupted); it is not computed if still pending, nor
        is its chunk once every job of the chunk is dropped."""
        self.cancelled = True
        if self._chunk is not None and self._chunk.dropped:
            self.trainer._drop(self._chunk)


@dataclass(eq=False)
class _Chunk:
    """A chunk of planned jobs (:meth:`Trainer.plan`): the handles it answers (with their
    cache keys), and once sent to a worker pool its future."""

    grouped: bool
    handles: list[TrainHandle]
    keys: list[str | None]
    future: Future[ChunkResult] | None = None

    @property
    def dropped(self) -> bool:
        """Every job of the chunk was cancelled."""
        return all(h.cancelled for h in self.handles)

    @property
    def jobs(self) -> list[TrainJob]:
        """The chunk's jobs, in plan order."""
        return [h.job for h in self.handles]

    def deliver(self, results: list[TrainResult], cache: TrainingCache | None) -> None:
        """Hand every job of the chunk its result (and cache it if asked)."""
        for handle, key, result in zip(self.handles, self.keys, results, strict=True):
            handle._result, handle._chunk = result, None
            if cache is not None and key is not None:
                cache.put(key, result)


def _results(chunk: ChunkResult) -> list[TrainResult]:
    rows = chunk.weights  # (G, P); read-only when it comes from Ray's object store
    weights = torch.from_numpy(rows if rows.flags.writeable else rows.copy())
    return [
        TrainResult(weights[i], loss, samples)
        for i, (loss, samples) in enumerate(zip(chunk.losses, chunk.samples, strict=True))
    ]


class Trainer:
    """Runs local training jobs one after another and evaluates global models.

    Parameters
    ----------
    model: the architecture (its current parameters are overwritten per job).
    train, test: data sets; ``TrainJob.indices`` index ``train``.
    batch_size: mini-batch size B (a PIU with fewer samples uses all of them per step).
    optimizer: local optimizer spec.
    streams: keyed random streams (mini-batch order).
    device: torch device of the arithmetic.
    task: "classification" (cross-entropy, accuracy) or "regression" (mean squared error of
        the model's single output; no accuracy: NaN).
    threads: the torch intra-op threads its runs use (None: torch's default); part of the
        arithmetic (a reduction's order), so the pool's replicas use it too.
    position_scale: localization: metres per unit of the standardised (x, y) targets, for
        the errors in metres (None: not a localization task).
    pool: makes the worker pool that computes the chunks (``netsim.learn.pool``) from the
        trainer itself (its recipe); None: chunks are computed in this process.
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
        threads: int | None = None,
        position_scale: float | None = None,
        pool: Callable[[Trainer], Any] | None = None,
    ) -> None:
        self.task = task
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.train_x, self.train_y = train.x.to(self.device), train.y.to(self.device)
        self.test_x, self.test_y = test.x.to(self.device), test.y.to(self.device)
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.streams = streams
        self._sizes = [p.numel() for p in self.model.parameters()]
        self._pending: list[TrainHandle] = []
        self.jobs_run = 0  # jobs computed or sent to a pool (not read from the cache)
        self.cache: TrainingCache | None = None
        self._fingerprint = ""
        self.position_scale = position_scale
        self.threads = threads
        # planned chunks not yet computed or sent, in plan order (a dict: an ordered set)
        self._queued: dict[_Chunk, None] = {}
        self._out: set[_Chunk] = set()  # chunks sent to the pool, not yet collected
        self._deferred: deque[Callable[[], None]] = deque()  # see defer
        self._eval_model: nn.Module | None = None  # see _evaluator
        # last: a pool copies the finished trainer (a subclass sets what it adds before)
        self.pool: Any = None if pool is None else pool(self)

    def use_cache(self, cache: TrainingCache) -> None:
        """Read results from / write them to ``cache`` (exact reuse; see TrainingCache)."""
        self.cache = cache
        self._fingerprint = self.fingerprint()

    @property
    def num_params(self) -> int:
        """P, the number of model weights."""
        return sum(p.numel() for p in self.model.parameters())

    def prunable(self) -> torch.Tensor:
        """(P,) bool: the entries of conv/linear weight tensors (biases are not pruned)."""
        return torch.cat(
            [
                torch.full((p.numel(),), name.endswith("weight") and p.dim() > 1)
                for name, p in self.model.named_parameters()
            ]
        )

    def initial_weights(self) -> torch.Tensor:
        """The model's current parameters as a flat CPU float32 vector (P,)."""
        return parameters_to_vector(self.model.parameters()).detach().cpu().clone()

    def samples_per_round(self, n_local: int, local_steps: int) -> int:
        """Samples processed by ``local_steps`` steps on ``n_local`` samples."""
        return local_steps * min(self.batch_size, n_local)

    def submit(self, job: TrainJob) -> TrainHandle:
        """Queue ``job``; its result is computed (with the other pending jobs) when first
        asked for."""
        handle = TrainHandle(job, self)
        self._pending.append(handle)
        return handle

    @torch.no_grad()
    def _load(self, weights: torch.Tensor, model: nn.Module | None = None) -> None:
        """Copy a flat vector into the parameter storage of ``model`` (default: the
        trainer's), keeping its layout. (torch's ``vector_to_parameters`` would make the
        parameters views of ``weights``, and training would then overwrite the caller's
        global model in place.)"""
        target = self.model if model is None else model
        for p, w in zip(target.parameters(), self._per_parameter(weights), strict=True):
            p.copy_(w)

    def _per_parameter(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Split the last axis of ``flat`` (..., P) into views shaped like the model's
        parameters (..., *shape), in ``model.parameters()`` order."""
        lead = flat.shape[:-1]
        return [
            t.reshape(*lead, *p.shape)
            for t, p in zip(flat.split(self._sizes, dim=-1), self.model.parameters(), strict=True)
        ]

    def fingerprint(self) -> str:
        """Everything besides the job that determines a local update (see TrainingCache)."""
        h = hashlib.sha256()
        # repr(model) lists every layer with its sizes and activation: the architecture.
        h.update(
            repr(
                (
                    type(self).__name__,
                    repr(self.model),
                    self.batch_size,
                    self.optimizer,
                    self.streams.seed,
                    self.device.type,
                    self.threads,  # intra-op threads sum in another order
                )
            ).encode()
        )
        h.update(self.train_x.cpu().numpy().tobytes())
        h.update(self.train_y.cpu().numpy().tobytes())
        return h.hexdigest()

    def _run_pending(self) -> None:
        pending, self._pending = self._pending, []
        live = [h for h in pending if not h.cancelled]
        todo = live
        keys: dict[int, str] = {}
        if self.cache is not None:
            keys = {id(h): self.cache.key(self._fingerprint, h.job) for h in live}
            todo = []
            for handle in live:
                handle._result = self.cache.get(keys[id(handle)])
                if handle._result is None:
                    todo.append(handle)
        for grouped, members in self.plan([h.job for h in todo]):
            handles = [todo[i] for i in members]
            chunk = _Chunk(grouped, handles, [keys.get(id(h)) for h in handles])
            for handle in handles:
                handle._chunk = chunk
            self._queued[chunk] = None
        self._top_up()

    def _top_up(self) -> None:
        """Keep a worker pool busy: send queued chunks, in plan order, until ``2 x
        workers`` are out (computed results wait in memory until their jobs ask for
        them, so the pool works at most that far ahead)."""
        if self.pool is None or not self.pool.ready:
            return
        while self._queued and len(self._out) < 2 * self.pool.size:
            chunk = next(iter(self._queued))  # the first in plan order
            del self._queued[chunk]
            self._send(chunk)

    def _send(self, chunk: _Chunk) -> None:
        chunk.future = self.pool.submit(chunk.grouped, chunk.jobs)
        self._out.add(chunk)
        self.jobs_run += len(chunk.handles)

    def _drop(self, chunk: _Chunk) -> None:
        """Forget a chunk whose jobs were all cancelled: unsent, it is never computed; sent,
        it no longer counts against the pool's window."""
        if chunk.future is None:
            self._queued.pop(chunk, None)
        else:
            chunk.future.cancel()
            self._out.discard(chunk)

    def _collect(self, chunk: _Chunk) -> None:
        """Compute or wait for ``chunk`` (the timeline stands still meanwhile). In process
        a chunk is computed when one of its jobs is first asked for, so no more than the
        chunks in use are held in memory; a pool computes ahead (:meth:`_top_up`)."""
        if self.pool is None or (chunk.future is None and not self.pool.ready):
            # in process (also while a pool starts: its workers would not begin sooner)
            del self._queued[chunk]
            self.jobs_run += len(chunk.handles)
            chunk.deliver(self.run_chunk(chunk.grouped, chunk.jobs), self.cache)
            self._top_up()
            return
        if chunk.future is None:  # needed before its turn
            del self._queued[chunk]
            self._send(chunk)
        assert chunk.future is not None
        while self._deferred and not chunk.future.done():  # the wait, put to use
            self._deferred.popleft()()
        results = _results(chunk.future.result())
        self._out.discard(chunk)
        chunk.deliver(results, self.cache)
        self._top_up()

    # deferred work waiting at most: each holds a model (a hierarchy's edges conclude a few
    # rounds at once; one flat server never has more than one waiting)
    MAX_DEFERRED = 4

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` (e.g. a finished round's evaluation, which nothing in the timeline
        waits for) now in process; with a worker pool when the main process would otherwise
        wait for a chunk (the pool trains the next round meanwhile), or when more than
        :attr:`MAX_DEFERRED` wait. Work runs in the order deferred, in this thread, with this
        process's torch threads: its results are those it gives run at once.
        :meth:`finish_deferred` runs whatever still waits."""
        if self.pool is None:
            work()
            return
        self._deferred.append(work)
        while len(self._deferred) > self.MAX_DEFERRED:
            self._deferred.popleft()()

    def finish_deferred(self) -> None:
        """Run every deferred work still waiting, in order."""
        while self._deferred:
            self._deferred.popleft()()

    def plan(self, jobs: list[TrainJob]) -> list[tuple[bool, list[int]]]:
        """The chunks ``jobs`` are computed in: (grouped, indices into ``jobs``) each, in
        order; grouped chunks are trained together (:meth:`run_chunk`). Depends on the jobs
        and the trainer's settings only, never on the backend, so every backend computes the
        same chunks. This trainer: one job a chunk."""
        return [(False, [i]) for i in range(len(jobs))]

    def run_chunk(self, grouped: bool, jobs: list[TrainJob]) -> list[TrainResult]:
        """Compute one chunk of :meth:`plan` (here: one job after another)."""
        return [self._train(job) for job in jobs]

    def replica_kwargs(self) -> dict[str, Any]:
        """Constructor arguments besides (model, train, test, streams, device) that build a
        replica of this trainer in a pool worker (netsim.learn.pool.recipe_of)."""
        return {"batch_size": self.batch_size, "optimizer": self.optimizer, "task": self.task}

    def close(self) -> None:
        """Stop the worker pool's workers, if any (a later chunk starts them again), and
        forget deferred work (a run that failed leaves some)."""
        self._deferred.clear()
        if self.pool is not None:
            self.pool.close()

    def _train(self, job: TrainJob) -> TrainResult:
        model = self.model
        self._load(job.weights)
        model.train()
        opt = self.optimizer.make(list(model.parameters()))
        batches = self._batches(job)
        masks = None if job.mask is None else self._per_parameter(job.mask.to(self.device))
        start = self._per_parameter(job.weights.to(self.device))
        computes = [r for r in job.rules if r.computes_gradients]
        gens = {
            r.stream: self.streams.torch(r.stream, job.piu, *job.stream_ids)
            for r in job.rules
            if r.stream is not None
        }
        losses = []
        for idx in batches:
            opt.zero_grad(set_to_none=True)
            x, y = self._gather(job, idx)
            if computes:  # e.g. DP-SGD's clipped per-sample gradients
                rule = computes[0]
                gen = None if rule.stream is None else gens[rule.stream]
                loss = rule.gradients(model, self.loss, x, y, gen)
            else:
                loss = self.loss(model(x), y)
                loss.backward()
            if job.rules:
                params = list(model.parameters())
                grads = [p.grad for p in params]
                assert all(g is not None for g in grads)  # every parameter is in the loss
                with torch.no_grad():
                    for rule in job.rules:
                        rule.adjust(params, grads, start)  # type: ignore[arg-type]
            opt.step()
            if masks is not None:  # pruned weights stay zero
                with torch.no_grad():
                    for p, m in zip(model.parameters(), masks, strict=True):
                        p.mul_(m)
            losses.append(loss.detach())
        weights = parameters_to_vector(model.parameters()).detach().cpu().clone()
        return TrainResult(weights, float(torch.stack(losses).mean()), sum(len(b) for b in batches))

    def _batches(self, job: TrainJob) -> list[torch.Tensor]:
        """Mini-batches of the PIU's samples, keyed by (PIU, round): successive slices of a
        random permutation (without replacement within a pass; a last partial slice is
        dropped and a new permutation drawn), each of ``min(batch_size, n)`` samples.
        Training-set indices; a job's injected sample e is index ``N + e`` (N training
        samples), see :meth:`_gather`."""
        local = torch.as_tensor(job.indices, dtype=torch.long)
        if job.extra is not None:
            n_train = len(self.train_y)
            local = torch.cat([local, torch.arange(n_train, n_train + len(job.extra[1]))])
        n = len(local)
        b = min(self.batch_size, n)
        gen = self.streams.torch(Stream.BATCHES, job.piu, *job.stream_ids)
        order = torch.empty(0, dtype=torch.long)
        batches = []
        for _ in range(job.local_steps):
            if len(order) < b:
                order = torch.randperm(n, generator=gen)
            batches.append(local[order[:b]].to(self.device))
            order = order[b:]
        return batches

    def _gather(self, job: TrainJob, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples (x, y) of a mini-batch ``idx`` of :meth:`_batches`, in order."""
        if job.extra is None:
            return self.train_x[idx], self.train_y[idx]
        n_train = len(self.train_y)
        own = idx < n_train
        extra_x, extra_y = (t.to(self.device) for t in job.extra)
        x = torch.empty((len(idx), *self.train_x.shape[1:]), device=self.device)
        y = torch.empty(len(idx), dtype=torch.long, device=self.device)
        x[own], y[own] = self.train_x[idx[own]], self.train_y[idx[own]]
        x[~own], y[~own] = extra_x[idx[~own] - n_train], extra_y[idx[~own] - n_train]
        return x, y

    def batch_indices(
        self, piu: int, round_index: int, indices: np.ndarray, local_steps: int
    ) -> np.ndarray:
        """Training-set indices PIU ``piu`` trains on in ``round`` (its mini-batches of
        :meth:`_batches`), each once, in order of first use."""
        job = TrainJob(piu, round_index, torch.empty(0), indices, local_steps)
        seen = torch.cat(self._batches(job)).cpu().numpy()
        _, first = np.unique(seen, return_index=True)
        return seen[np.sort(first)]

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The task's loss of model outputs ``out`` (B, K) against ``y`` (B,): cross-entropy,
        or for regression the squared error of the single output."""
        if self.task == "regression":
            return F.mse_loss(out.squeeze(-1), y, reduction=reduction)
        return F.cross_entropy(out, y, reduction=reduction)

    def evaluate(self, weights: torch.Tensor) -> tuple[float, float]:
        """(mean loss, accuracy in [0, 1]; regression: NaN) of ``weights`` on the test set."""
        return self._score(weights, self.test_x, self.test_y)

    def score(self, weights: torch.Tensor, indices: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy; regression: NaN) of ``weights`` on the training samples
        ``indices`` (a PIU's held-out share)."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.device)
        return self._score(weights, self.train_x[idx], self.train_y[idx])

    def train_loss(self, weights: torch.Tensor, indices: np.ndarray) -> float:
        """Mean cross-entropy of ``weights`` on the training samples ``indices`` (the probe
        set of adaptive controllers)."""
        return self.score(weights, indices)[0]

    @torch.no_grad()
    def predict(self, weights: torch.Tensor, x: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
        """The outputs (n, K) of the model holding ``weights`` on inputs x (n, C, H, W), on
        the trainer's device (``chunk`` samples at a time)."""
        model = self._evaluator(weights)
        x = x.to(self.device)
        return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    def _evaluator(self, weights: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The model holding ``weights``, in eval mode, as a function of a batch of inputs.

        A convolutional model without buffers on the CPU is evaluated by a copy whose
        weights and inputs are channels-last (NHWC): oneDNN's fast path, 2.2x (LeNet-5 on
        1,000 MNIST images, one core: 33 ms against 74 ms); outputs differ from the
        training layout's by float32 rounding only. Training keeps ``self.model`` as it is.
        """
        if self._eval_model is None:
            convolutional = any(p.dim() == 4 for p in self.model.parameters())
            buffers = any(True for _ in self.model.buffers())
            if self.device.type == "cpu" and convolutional and not buffers:
                # Module.to takes memory_format (torch's docs); its type stubs do not say so
                model = copy.deepcopy(self.model)
                self._eval_model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            else:
                self._eval_model = self.model
        model = self._eval_model
        self._load(weights, model)
        model.eval()
        if model is self.model:
            return model

        def run(x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            return model(x)

        return run

    def position_errors(self, weights: torch.Tensor) -> np.ndarray:
        """(N_test,) Euclidean errors (m) of the positions ``weights`` predicts on the test
        set (localization: two standardised outputs, ``position_scale`` m per unit)."""
        return self._errors(self.predict(weights, self.test_x))

    def evaluate_positions(self, weights: torch.Tensor) -> tuple[float, np.ndarray]:
        """(mean test loss, :meth:`position_errors`) from one pass over the test set."""
        outputs: list[torch.Tensor] = []
        loss, _ = self._score(weights, self.test_x, self.test_y, keep=outputs)
        return loss, self._errors(torch.cat(outputs))

    def _errors(self, predicted: torch.Tensor) -> np.ndarray:
        assert self.position_scale is not None
        errors = torch.linalg.vector_norm(predicted - self.test_y, dim=1)
        return errors.double().cpu().numpy() * self.position_scale

    @torch.no_grad()
    def _score(
        self,
        weights: torch.Tensor,
        xs: torch.Tensor,
        ys: torch.Tensor,
        chunk: int = 2048,
        keep: list[torch.Tensor] | None = None,
    ) -> tuple[float, float]:
        """(mean loss, accuracy) of ``weights`` on (xs, ys), ``chunk`` samples at a time;
        ``keep``: a list the model's outputs are appended to."""
        model = self._evaluator(weights)
        total_loss, correct = 0.0, 0
        for start in range(0, len(ys), chunk):
            x, y = xs[start : start + chunk], ys[start : start + chunk]
            logits = model(x)
            if keep is not None:
                keep.append(logits)
            total_loss += float(self.loss(logits, y, reduction="sum"))
            if self.task != "regression":
                correct += int((logits.argmax(1) == y).sum())
        n = len(ys)
        return total_loss / n, correct / n if self.task != "regression" else math.nan

    def state_dict(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """A CPU ``state_dict`` of the architecture holding ``weights``."""
        self._load(weights)
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
