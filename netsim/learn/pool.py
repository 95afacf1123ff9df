"""Worker pools that compute a trainer's chunks of jobs away from the timeline.

The trainer plans its pending jobs into chunks (one vmapped group of the batched trainer, or
one job of the sequential one: :meth:`Trainer.plan`) exactly as it does in its own process,
and a pool runs each chunk on a *replica*: the same architecture, training set, optimizer,
batch size, seed and chunking, built once per worker. A chunk's result is a pure function of
its jobs and the replica, so every backend gives the same updates as the in-process trainer
as long as the workers use the same torch intra-op thread count (CPU kernels sum in a
thread-count-dependent order; ``learning.threads_per_worker``).

Backends (``learning.backend``):

* :class:`ProcessPool` ("processes"): a local pool of ``workers`` processes, started by
  ``forkserver`` where the platform has it (a clean process that never ran torch's thread
  pool forks each worker with torch already imported) and ``spawn`` elsewhere; never
  ``fork`` from a process whose OpenMP threads are running.
* :class:`RayPool` ("ray"): one Ray actor per worker on a Ray cluster (``ray_address``:
  "local" starts one in this process, "auto" or an address joins a running one).

With ``learning.device = "cuda"`` each worker takes one GPU (processes: worker i uses
``cuda:i``; Ray: an actor per GPU, ``num_gpus = 1``).

Jobs and results cross the process boundary as plain pickles (tensors by value, the chunk's
shared global model once per chunk), not as torch shared-memory handles: a chunk is one
message each way, and nothing outlives it in /dev/shm.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netsim.learn.cluster import connect_ray, worker_setup
from netsim.learn.datasets import Dataset, DatasetInfo

if TYPE_CHECKING:
    from netsim.learn.trainer import Trainer, TrainJob


def _no_loader(_path: object) -> tuple[np.ndarray, np.ndarray]:
    raise RuntimeError("a worker's replica of the training set has no loader")


@dataclass(frozen=True)
class TrainerRecipe:
    """What a worker needs to build a replica of a trainer (picklable).

    kind: the trainer class; model: the architecture (CPU); train: the training set (CPU,
    x (N, C, H, W) float32, y (N,)); kwargs: the rest of the constructor's arguments (batch
    size, optimizer, seed, task, chunk size); threads: torch intra-op threads of the worker.
    """

    kind: type
    model: torch.nn.Module
    train: Dataset
    kwargs: dict[str, Any]
    threads: int | None
    device: str = "cpu"

    def build(self, device: str | None = None) -> Trainer:
        """The replica, on ``device`` (default: the recipe's)."""
        from netsim.rng import Streams

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        kwargs = dict(self.kwargs)
        streams = Streams(kwargs.pop("seed"))
        empty = self.train.subset(np.arange(0))
        trainer: Trainer = self.kind(
            self.model, self.train, empty, streams=streams, device=device or self.device, **kwargs
        )
        trainer.threads = self.threads
        return trainer


def recipe_of(trainer: Trainer, kwargs: dict[str, Any]) -> TrainerRecipe:
    """The recipe of ``trainer`` (whose constructor took ``kwargs`` besides model, data,
    streams and device)."""
    import copy

    shape = tuple(trainer.train_x.shape[1:])
    info = DatasetInfo("replica", shape, 0, _no_loader)  # type: ignore[arg-type]
    train = Dataset(info, trainer.train_x.cpu(), trainer.train_y.cpu(), (0.0,), (1.0,))
    model = copy.deepcopy(trainer.model).cpu()
    return TrainerRecipe(
        type(trainer),
        model,
        train,
        {**kwargs, "seed": trainer.streams.seed},
        trainer.threads,
        trainer.device.type,
    )


@dataclass
class ChunkResult:
    """The result of one chunk: weights (G, P) float32, and per job its mean loss and the
    samples it processed."""

    weights: np.ndarray
    losses: list[float]
    samples: list[int]


def run_chunk(trainer: Trainer, grouped: bool, jobs: list[TrainJob]) -> ChunkResult:
    """Compute one chunk on ``trainer`` (a replica, or the trainer itself)."""
    results = trainer.run_chunk(grouped, jobs)
    weights = torch.stack([r.weights for r in results]).numpy()
    return ChunkResult(weights, [r.loss for r in results], [r.samples for r in results])


# ---------------------------------------------------------------- local process pool

_REPLICA: Trainer | None = None  # a pool worker's trainer


def _init_worker(recipe_bytes: bytes, counter: Any) -> None:
    """Pool-worker initializer: build the replica once (GPU i for the i-th worker when the
    recipe's device is CUDA), end with the parent and leave Ctrl-C to it
    (:func:`worker_setup`)."""
    global _REPLICA
    worker_setup()
    recipe: TrainerRecipe = pickle.loads(recipe_bytes)
    device = recipe.device
    if device == "cuda":
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        device = f"cuda:{index}"
    _REPLICA = recipe.build(device)


def _noop() -> None:
    """A task that does nothing: submitting it makes the pool start a worker."""


def _run_in_worker(payload: bytes) -> ChunkResult:
    grouped, jobs = pickle.loads(payload)
    assert _REPLICA is not None, "the pool worker was not initialised"
    return run_chunk(_REPLICA, grouped, jobs)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without the caller's main module: multiprocessing would run a script's
    top level again in every new worker (a script without ``if __name__ == "__main__"``
    would start its simulation again there). Nothing a worker receives lives in ``__main__``
    (the recipe holds a bundled model and tensors; jobs hold tensors and arrays)."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


@dataclass
class ProcessPool:
    """``workers`` local processes, each holding one replica (``learning.backend =
    "processes"``); started on the first chunk."""

    recipe: TrainerRecipe
    workers: int
    _executor: Any = field(default=None, repr=False)
    _starting: threading.Thread | None = field(default=None, repr=False)
    _warming: list[Future[None]] = field(default_factory=list, repr=False)

    @property
    def size(self) -> int:
        """Workers."""
        return self.workers

    @property
    def ready(self) -> bool:
        """Whether the pool is up: its start ran and its first tasks, which a worker runs
        once it has built its replica, are done (a chunk sent now starts at once). Until
        then the trainer computes in process what it needs (the same results): a pool's
        start, a fork server importing torch and each worker building its replica, takes
        seconds that a short run would otherwise wait out."""
        if self._executor is None or (self._starting is not None and self._starting.is_alive()):
            return False
        return all(f.done() for f in self._warming)

    def start(self) -> None:
        """Start the workers without waiting for them: a thread starts the fork server
        (which imports torch once) and the workers, which build their replicas, while the
        timeline runs up to the first result it needs."""
        if self._executor is None and self._starting is None:
            self._starting = threading.Thread(target=self._start, daemon=True)
            self._starting.start()

    def _ready(self) -> Any:
        """The executor, started now if need be."""
        self.start()
        self._join()
        return self._executor

    def _join(self) -> None:
        """Wait for a start under way, if any."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    def submit(self, grouped: bool, jobs: list[TrainJob]) -> Future[ChunkResult]:
        """Queue one chunk; the future holds its :class:`ChunkResult`."""
        executor = self._ready()
        payload = pickle.dumps((grouped, jobs), protocol=pickle.HIGHEST_PROTOCOL)
        with _main_module_hidden():  # submit starts the workers it lacks
            future: Future[ChunkResult] = executor.submit(_run_in_worker, payload)
        return future

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            # torch imported once, in the server, and torch._dynamo, which functorch's grad
            # imports on a worker's first chunk (0.8 s: a worker's first round took 1.3 s
            # against 0.4 s for the next)
            context.set_forkserver_preload([__name__, "torch._dynamo"])
        recipe = pickle.dumps(self.recipe, protocol=pickle.HIGHEST_PROTOCOL)
        counter = context.Value("i", 0)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(recipe, counter),
        )
        with _main_module_hidden():
            # each submit starts a worker while none is idle; done once it built its replica
            self._warming = [executor.submit(_noop) for _ in range(self.workers)]
        self._executor = executor

    def close(self) -> None:
        """Stop the workers (a later chunk starts them again); a pool never started stays
        so (no workers are started only to be stopped). Queued chunks are cancelled; the
        chunks under way are waited for (a chunk is short), never terminated: a worker
        killed while it sends its result would leave the pool's reader of results waiting
        for the rest of the message forever. After a Ctrl-C too, as the workers ignore it
        (:func:`worker_setup`)."""
        self._join()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._warming = []


# ---------------------------------------------------------------- Ray actors


class RayWorker:
    """A Ray actor holding one replica (``learning.backend = "ray"``)."""

    def __init__(self, recipe: TrainerRecipe) -> None:
        self.trainer = recipe.build()

    def run(self, grouped: bool, jobs: list[TrainJob]) -> ChunkResult:
        """Compute one chunk."""
        return run_chunk(self.trainer, grouped, jobs)


@dataclass
class RayPool:
    """One :class:`RayWorker` actor per worker on a Ray cluster; chunks go to the actors in
    turn. ``address``: "local" starts Ray here, "auto" or "ray://..." / "host:port" joins a
    running cluster; ``workers`` None: the cluster's CPUs (GPUs for CUDA) over the threads
    per worker."""

    recipe: TrainerRecipe
    workers: int | None
    address: str = "local"
    setting: str = "learning.ray_address"  # what an error names
    _actors: list[Any] = field(default_factory=list, repr=False)
    _started_ray: bool = False
    _next: int = 0

    @property
    def size(self) -> int:
        """Actors (before the start: the asked-for count, or 1)."""
        return len(self._actors) or self.workers or 1

    @property
    def ready(self) -> bool:
        """Always: chunks go to the actors, which queue them while they start."""
        return True

    def start(self) -> None:
        """Connect to Ray and create the actors (they build their replicas meanwhile)."""
        if not self._actors:
            self._start()

    def submit(self, grouped: bool, jobs: list[TrainJob]) -> Future[ChunkResult]:
        """Queue one chunk on the next actor; the future holds its :class:`ChunkResult`."""
        self.start()
        actor = self._actors[self._next % len(self._actors)]
        self._next += 1
        future: Future[ChunkResult] = actor.run.remote(grouped, jobs).future()
        return future

    def _start(self) -> None:
        import ray

        if not ray.is_initialized():
            self._started_ray = connect_ray(self.address, self.setting)
        threads = self.recipe.threads or 1
        gpu = self.recipe.device == "cuda"
        workers = self.workers
        if workers is None:
            resources = ray.cluster_resources()
            workers = int(resources.get("GPU", 0)) if gpu else int(resources["CPU"]) // threads
        actor = ray.remote(num_cpus=threads, num_gpus=1 if gpu else 0)(RayWorker)
        recipe = ray.put(self.recipe)
        self._actors = [actor.remote(recipe) for _ in range(max(1, workers))]

    def close(self) -> None:
        """Release the actors (and Ray, when this pool started it)."""
        if not self._actors:
            return
        import ray

        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def default_workers(threads: int | None, device: str) -> int:
    """Workers of a local pool when ``learning.workers`` is unset: one per GPU for CUDA,
    else the usable cores over the threads per worker."""
    if device == "cuda":
        return max(1, torch.cuda.device_count())
    return max(1, usable_cores() // (threads or 1))


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1
