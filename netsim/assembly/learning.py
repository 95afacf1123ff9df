"""``[learning]``, ``[compression]``, ``[control]``, ``[pruning]`` and ``[attack]`` -> the
data, the trainer, the compressor, the adaptive controller, the pruning schedule and the
attacker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from netsim.assembly.errors import field_error
from netsim.assembly.radio_data import radio_dataset
from netsim.compress import (
    AQUILA,
    DGC,
    EMQ,
    LAQ,
    QSGD,
    Compressor,
    ErrorFeedback,
    IdentityCompressor,
    RandomK,
    SignificanceQuantizer,
    Threshold,
    TopK,
    UniformQuantizer,
)
from netsim.compress.pruning import PruningSchedule
from netsim.fl.controllers import ADACOMM, AFCFL, AdaQuantFL, Controller
from netsim.learn.batched import BatchedTrainer
from netsim.learn.datasets import (
    DATASETS,
    Dataset,
    DatasetError,
    DatasetInfo,
    load_dataset,
    train_test_split,
)
from netsim.learn.partition import (
    partition_dirichlet,
    partition_iid,
    partition_quantity,
    partition_sampled,
    partition_shards,
)
from netsim.learn.pool import ProcessPool, RayPool, default_workers, recipe_of, usable_cores
from netsim.learn.radio_tasks import RadioDataError, RadioTask, radio_task
from netsim.learn.tables import Table, TableError, read_table
from netsim.learn.trainer import OptimizerSpec, Trainer
from netsim.models import MODELS
from netsim.privacy.attacker import Attacker
from netsim.privacy.gan import GANAttack
from netsim.privacy.inversion import AttackSettings
from netsim.rng import Stream, Streams
from netsim.scenario import (
    AQUILACompression,
    AttackConfig,
    Compression,
    ControlConfig,
    DGCCompression,
    DirichletPartition,
    EMQCompression,
    LAQCompression,
    LearningConfig,
    PruningConfig,
    QSGDCompression,
    QuantityPartition,
    RandomKCompression,
    Scenario,
    ScenarioError,
    ShardPartition,
    SignificanceCompression,
    ThresholdCompression,
    TopKCompression,
    UniformCompression,
)


def dataset_info(s: Scenario) -> DatasetInfo:
    """The facts of the scenario's data set: a registered one's, a user's file's or a radio
    data set's (read or generated now: its features and labels decide the model's input and
    output sizes)."""
    cfg = s.learning
    if cfg.dataset == "radio":
        task = radio_task_of(s)
        n, features = len(task.y), task.x.shape[-1]
        return DatasetInfo(
            "radio", (1, 1, features), task.outputs, lambda _: (task.x, task.y), False,
            (0.0,), (1.0,), n,
        )  # fmt: skip
    if cfg.dataset != "file":
        return DATASETS[cfg.dataset]
    table = _table(cfg)
    n, features = len(table.y), table.x.shape[-1]
    classes = 1 if cfg.task == "regression" else len(table.classes)
    return DatasetInfo(
        "file", (1, 1, features), classes, lambda _: (table.x, table.y), True, (0.0,), (1.0,), n
    )


_RADIO_TASKS: dict[str, RadioTask] = {}  # by data file time and scenario TOML


def radio_frame(s: Scenario) -> pd.DataFrame:
    """The scenario's radio data set: the file at ``learning.data_path`` (written by
    ``netsim dataset radio``) or generated from the scenario's own radio."""
    path = s.learning.data_path
    if path is None:
        return radio_dataset(s)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise field_error("learning.data_path", str(path), problem=str(exc)) from None
    raise field_error(
        "learning.data_path", str(path), "a .parquet or .csv file written by netsim dataset"
    )


def radio_task_of(s: Scenario) -> RadioTask:
    """The scenario's radio task (its arrays and standardisation) on its radio data set
    (:func:`radio_frame`), built once per scenario and data file."""
    path = s.learning.data_path
    stamp = path.stat().st_mtime_ns if path is not None and path.is_file() else 0
    key = f"{stamp}\n{s.to_toml()}"
    if key in _RADIO_TASKS:
        return _RADIO_TASKS[key]
    cfg = s.learning
    frame = radio_frame(s)
    try:
        task = radio_task(frame, cfg.task, cfg.radio_data.snr_window)
    except RadioDataError as exc:
        raise field_error("learning.data_path", str(cfg.data_path), problem=str(exc)) from None
    if len(_RADIO_TASKS) >= 4:
        _RADIO_TASKS.pop(next(iter(_RADIO_TASKS)))
    _RADIO_TASKS[key] = task
    return task


def _table(cfg: LearningConfig) -> Table:
    """The user's data file of ``learning.data_path``, or a named error."""
    assert cfg.data_path is not None  # the schema requires it with dataset = "file"
    try:
        return read_table(cfg.data_path, cfg.label, cfg.client_id, cfg.task)
    except TableError as exc:
        raise field_error("learning.data_path", str(cfg.data_path), problem=str(exc)) from None


def _path_problem(path: Path, folder: bool) -> str | None:
    """What is wrong with ``path`` as the data folder (``folder``) or data file, in words; None
    when it is one. OS errors (a name too long, no permission) become the reason."""
    want = "a folder" if folder else "a file"
    try:
        if folder and path.is_dir() or not folder and path.is_file():
            return None
        if path.is_dir():
            return f"is a folder; expected {want}"
        if path.exists():
            return f"is not {want}"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return f"does not exist; expected {want}"


def check_learning(s: Scenario) -> None:
    """What the schema cannot know without the registries and the file system: the data
    folder (or file) exists, and the model accepts the data set's images."""
    cfg = s.learning
    folder = cfg.dataset not in ("file", "radio") and DATASETS[cfg.dataset].needs_path
    if cfg.data_path is not None:
        problem = _path_problem(cfg.data_path, folder)
        if problem:
            raise field_error("learning.data_path", str(cfg.data_path), problem=problem)
    info, spec = dataset_info(s), MODELS[cfg.model]
    if min(info.input_shape[1:]) < spec.min_input_side:
        raise field_error(
            "learning.model",
            cfg.model,
            f"a model that accepts {info.name}'s {info.input_shape[1]}x{info.input_shape[2]}"
            f" images ({cfg.model} needs at least {spec.min_input_side}x"
            f"{spec.min_input_side})",
        )


def data(s: Scenario, streams: Streams) -> tuple[Dataset, Dataset]:
    """(train, test) split of the data set (``DATA_SPLIT`` stream; a radio data set's own
    split)."""
    check_learning(s)
    cfg = s.learning
    if cfg.dataset == "radio":
        task, info = radio_task_of(s), dataset_info(s)
        x, y = torch.from_numpy(task.x), torch.from_numpy(task.y)
        dataset = Dataset(info, x, y, (0.0,), (1.0,), torch.from_numpy(task.groups))
        return dataset.subset(np.flatnonzero(~task.test)), dataset.subset(np.flatnonzero(task.test))
    if cfg.dataset == "file":
        table, info = _table(cfg), dataset_info(s)
        groups = None if table.groups is None else torch.from_numpy(table.groups)
        x, y = torch.from_numpy(table.x), torch.from_numpy(table.y)
        dataset = Dataset(info, x, y, info.mean or (0.0,), info.std or (1.0,), groups)
    else:
        try:
            dataset = load_dataset(cfg.dataset, cfg.data_path)
        except DatasetError as exc:
            raise ScenarioError(f"learning.data_path = '{cfg.data_path}': {exc}") from None
    train_idx, test_idx = train_test_split(
        len(dataset), cfg.test_fraction, streams.numpy(Stream.DATA_SPLIT)
    )
    return dataset.subset(train_idx), dataset.subset(test_idx)


def partitions(
    cfg: LearningConfig,
    labels: np.ndarray,
    n_pius: int,
    streams: Streams,
    groups: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Each PIU's training sample indices (``PARTITION`` stream); with ``groups`` (N,) (a
    data file's client ids) the natural partition: PIU k holds client k's samples."""
    if groups is not None:
        return _natural(cfg, groups, n_pius)
    rng = streams.numpy(Stream.PARTITION)
    part = cfg.partition
    try:
        if isinstance(part, ShardPartition):
            return partition_shards(labels, n_pius, part.classes_per_piu, rng)
        if isinstance(part, DirichletPartition):
            return partition_dirichlet(labels, n_pius, part.alpha, rng, part.size_beta)
        if isinstance(part, QuantityPartition):
            return partition_quantity(len(labels), n_pius, part.exponent, rng)
        if part.samples_per_piu is not None:
            return partition_sampled(len(labels), n_pius, part.samples_per_piu, rng)
        return partition_iid(len(labels), n_pius, rng)
    except ValueError as exc:
        raise ScenarioError(f"learning.partition = {part.model_dump()}: {exc}") from None


_POOL_ALLOWED: ContextVar[bool] = ContextVar("netsim_auto_pool", default=True)


@contextmanager
def training_in_process() -> Iterator[None]:
    """Within it, ``learning.backend = "auto"`` trains in process: for the runs of a sweep,
    which already runs several at once (a pool per run would only add processes)."""
    token = _POOL_ALLOWED.set(False)
    try:
        yield
    finally:
        _POOL_ALLOWED.reset(token)


# PIU-rounds of training from which "auto" starts a pool. Its start (a fork server importing
# torch, each worker building its replica: about 2 s of CPU) runs beside the first rounds,
# which train in process meanwhile, but a run that ends sooner waits for it. The flower
# benchmark's 500 PIU-rounds (100 PIUs of LeNet-5, 5 rounds) took 5.4 s end to end on the
# pool against 5.4-6.0 s in process, its warm rounds 0.38-0.51 s against 0.67 s
AUTO_POOL_MIN_PIU_ROUNDS = 500


def auto_pool(trainer: Trainer, per_round: int, rounds: int, device: str) -> bool:
    """Whether ``learning.backend = "auto"`` trains on a local pool: on a CPU with at least
    two usable cores, when a round of ``per_round`` PIUs splits into at least two chunks
    (:meth:`Trainer.plan`: one a job, or the batched trainer's chunks of ``chunk_size``), so
    that the workers have something to share, and the run trains at least
    :data:`AUTO_POOL_MIN_PIU_ROUNDS` PIU-rounds (``rounds`` of ``per_round``), so that the
    pool's start is repaid. Never within :func:`training_in_process`, nor in a daemonic
    process (a ``multiprocessing.Pool``'s worker), which may not start processes."""
    if not _POOL_ALLOWED.get() or device != "cpu" or usable_cores() < 2 or _daemonic():
        return False
    chunk = trainer.chunk_size if isinstance(trainer, BatchedTrainer) else 1
    return -(-per_round // chunk) >= 2 and per_round * rounds >= AUTO_POOL_MIN_PIU_ROUNDS


def _daemonic() -> bool:
    """Whether this process is daemonic, and so may not start worker processes."""
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def trainer(
    cfg: LearningConfig,
    train: Dataset,
    test: Dataset,
    streams: Streams,
    position_scale: float | None,
    per_round: int = 1,
    rounds: int = 1,
) -> Trainer:
    """The local trainer (sequential, or batched over clients) of a freshly built model
    (``MODEL_INIT`` stream), with its worker pool (``learning.backend``; ``"auto"``:
    :func:`auto_pool` for ``rounds`` rounds of ``per_round`` PIUs) and threads;
    ``position_scale``: metres per unit of a localization task's targets."""
    model = MODELS[cfg.model].build(
        train.info.input_shape, train.info.num_classes, streams.torch(Stream.MODEL_INIT)
    )
    opt = cfg.optimizer
    spec = OptimizerSpec(opt.name, opt.lr, opt.momentum, opt.weight_decay)
    task = _LOSS_OF_TASK.get(cfg.task, cfg.task)
    settings: dict[str, Any] = {
        "device": cfg.device,
        "task": task,
        "threads": cfg.threads_per_worker,
        "position_scale": position_scale,
    }
    local: Trainer
    if cfg.trainer == "batched":
        chunk_size = None if cfg.batch_clients == "auto" else cfg.batch_clients
        local = BatchedTrainer(
            model, train, test, cfg.batch_size, spec, streams, chunk_size=chunk_size, **settings
        )
    else:
        local = Trainer(model, train, test, cfg.batch_size, spec, streams, **settings)
    device = torch.device(cfg.device).type
    if cfg.backend == "processes" and _daemonic():
        raise field_error(
            "learning.backend",
            cfg.backend,
            problem="this process is a daemonic worker (of a multiprocessing.Pool), which may "
            'not start processes; use "inprocess" or "auto" here',
        )
    if cfg.backend in ("processes", "ray") or (
        cfg.backend == "auto" and auto_pool(local, per_round, rounds, device)
    ):
        local.pool = pool(cfg, local)  # a replica of the finished trainer
    return local


def pool(cfg: LearningConfig, trainer: Trainer) -> ProcessPool | RayPool:
    """The worker pool of ``learning.backend`` (processes or Ray; auto: processes) for
    ``trainer``."""
    recipe = recipe_of(trainer, trainer.replica_kwargs())
    if cfg.backend in ("processes", "auto"):
        device = torch.device(cfg.device).type
        return ProcessPool(recipe, cfg.workers or default_workers(cfg.threads_per_worker, device))
    return RayPool(recipe, cfg.workers, cfg.ray_address)


# radio tasks train as a regression (MSE) or a classification (cross-entropy)
_LOSS_OF_TASK = {"localization": "regression", "snr": "regression", "los": "classification"}


def position_scale(s: Scenario) -> float | None:
    """Metres per unit of the standardised position targets (localization), else None."""
    if s.learning.dataset != "radio" or s.learning.task != "localization":
        return None
    return radio_task_of(s).target_scale


def compressor(cfg: Compression, streams: Streams) -> Compressor:
    """The compressor of ``[compression]`` (wrapped in error feedback if asked)."""
    inner: Compressor
    if isinstance(cfg, UniformCompression):
        inner = UniformQuantizer(cfg.bits, cfg.stochastic, streams)
    elif isinstance(cfg, QSGDCompression):
        inner = QSGD(cfg.levels, cfg.bucket, streams)
    elif isinstance(cfg, TopKCompression):
        inner = TopK(cfg.ratio)
    elif isinstance(cfg, RandomKCompression):
        inner = RandomK(cfg.ratio, streams)
    elif isinstance(cfg, EMQCompression):
        inner = EMQ(cfg.threshold, cfg.mantissa_bits, cfg.exponent_bits, cfg.insignificant)
    elif isinstance(cfg, SignificanceCompression):
        inner = SignificanceQuantizer(cfg.threshold, cfg.bits)
    elif isinstance(cfg, DGCCompression):
        inner = DGC(cfg.ratio, cfg.momentum, cfg.warmup_rounds, cfg.warmup_ratio)
    elif isinstance(cfg, LAQCompression):
        inner = LAQ(cfg.bits)
    elif isinstance(cfg, AQUILACompression):
        inner = AQUILA(cfg.max_bits)
    elif isinstance(cfg, ThresholdCompression):
        inner = Threshold(cfg.threshold)
    else:
        inner = IdentityCompressor()
    return ErrorFeedback(inner) if getattr(cfg, "error_feedback", False) else inner


def pruning_schedule(cfg: PruningConfig) -> PruningSchedule | None:
    """The magnitude-pruning schedule (None without pruning)."""
    if cfg.method == "none":
        return None
    return PruningSchedule(
        cfg.method, cfg.start_round, cfg.amount, cfg.rate, cfg.levels, cfg.rounds_per_level
    )


def controller(control: ControlConfig, local_steps: int) -> Controller | None:
    """The adaptive controller of ``[control]`` (None: fixed steps and fidelity)."""
    if control.kind == "afcfl":
        return AFCFL(local_steps, control.c0, control.c_min, control.d)
    if control.kind == "adacomm":
        return ADACOMM(local_steps)
    if control.kind == "adaquantfl":
        return AdaQuantFL(local_steps, control.c0)
    return None


def adversary_data(
    a: AttackConfig, partitions: list[np.ndarray], train: Dataset
) -> list[np.ndarray]:
    """Partitions with a GAN adversary's victim-class samples removed (Hitaj's adversary
    holds none of the class it imitates) unless it keeps them."""
    if a.method != "gan":
        return partitions
    classes = train.info.num_classes
    for name in ("victim_class", "fake_class"):
        if getattr(a, name) >= classes:
            raise ScenarioError(
                f"attack.{name} = {getattr(a, name)}: a class of the data set (0 to {classes - 1})"
            )
    if a.keep_victim_class:
        return partitions
    k = a.pius[0]
    own = partitions[k]
    kept = own[train.y[own].numpy() != a.victim_class]
    if len(kept) == 0:
        raise ScenarioError(
            f"attack.pius = [{k}]: the adversary holds only victim-class samples, so none "
            "are left once they are removed (set attack.keep_victim_class = true or pick "
            "another PIU)"
        )
    return [kept if i == k else p for i, p in enumerate(partitions)]


def gan_attack(
    a: AttackConfig,
    trainer: Trainer,
    train: Dataset,
    partitions: list[np.ndarray],
    streams: Streams,
) -> GANAttack | None:
    """A malicious PIU's GAN (Hitaj et al. 2017), or None."""
    if a.method != "gan":
        return None
    return GANAttack(
        trainer.model,
        train,
        a.pius[0],
        a.victim_class,  # type: ignore[arg-type]  # checked by the scenario
        a.fake_class,  # type: ignore[arg-type]
        a.attacked_rounds,
        a.max_samples,
        a.iterations,
        a.lr or 1e-3,
        streams,
        own=train.pixels(trainer.train_x[partitions[a.pius[0]]].cpu()) if a.critic else None,
    )


def eavesdropper(
    a: AttackConfig,
    learning: LearningConfig,
    seed: int,
    compressor: Compressor,
    n_aps: int,
) -> Attacker | None:
    """A gradient-inversion attacker listening at the server or at one AP, or None."""
    if a.method in ("none", "gan"):
        return None
    if a.position == "ap" and a.ap >= n_aps:
        raise ScenarioError(f"attack.ap = {a.ap}: an access point index below {n_aps}")
    if a.position == "ap" and compressor.stateful_decoder:
        raise ScenarioError(
            f"attack.position = 'ap': an eavesdropper cannot decode {compressor.name} "
            "payloads (differential: only the server holds the reference); use 'server'"
        )
    opt = learning.optimizer
    settings = AttackSettings(
        a.method, a.restarts, a.iterations, a.time_budget_s, a.lr, a.tv_weight,
        a.max_samples, seed, a.mask_aware,
    )  # fmt: skip
    return Attacker(
        settings,
        a.position,
        a.ap if a.position == "ap" else None,
        a.pius,
        a.attacked_rounds or (),
        compressor,
        learning.batch_size,
        (opt.lr, opt.momentum, opt.weight_decay),
    )


def _natural(cfg: LearningConfig, groups: np.ndarray, n_pius: int) -> list[np.ndarray]:
    """PIU k's training samples: those of the file's k-th client id (sorted order)."""
    clients = int(groups.max()) + 1 if len(groups) else 0
    if clients != n_pius:
        # a radio data set's clients are its PIUs (column piu), a table's its client_id column
        radio = cfg.dataset == "radio"
        field, value = (
            ("learning.data_path", str(cfg.data_path))
            if radio
            else ("learning.client_id", cfg.client_id)
        )
        what = "PIUs (column piu)" if radio else f"clients (column {cfg.client_id!r})"
        raise field_error(
            field, value,
            problem=f"the file's training split has {clients} {what}, the topology "
            f"{n_pius} PIUs; they must match (one PIU per client)",
        )  # fmt: skip
    parts = [np.flatnonzero(groups == k) for k in range(n_pius)]
    empty = [k for k, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise field_error(
            "learning.test_fraction", cfg.test_fraction,
            problem=f"client {empty[0]} has no training samples left after the split",
        )  # fmt: skip
    return parts


def holdouts(
    cfg: LearningConfig, parts: list[np.ndarray], streams: Streams
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each PIU's (training samples, held-out samples) for per-PIU evaluation: a keyed
    random ``holdout_fraction`` of its samples (rounded, at least one when it has two or
    more) is held out; without ``eval_every`` nothing is."""
    if cfg.eval_every is None:
        return parts, [np.empty(0, dtype=np.int64) for _ in parts]
    train, held = [], []
    for k, part in enumerate(parts):
        n_out = min(max(round(cfg.holdout_fraction * len(part)), 1), len(part) - 1)
        order = streams.numpy(Stream.HOLDOUT, k).permutation(len(part))
        held.append(np.sort(part[order[:n_out]]))
        train.append(np.sort(part[order[n_out:]]))
    return train, held


@dataclass(frozen=True)
class Learning:
    """The data, the trainer, the compressor and the attackers."""

    train: Dataset
    partitions: list[np.ndarray]
    trainer: Trainer
    compressor: Compressor
    gan: GANAttack | None
    eavesdropper: Attacker | None
    holdouts: list[np.ndarray]  # per PIU: its held-out samples (per-PIU evaluation)

    @classmethod
    def build(cls, s: Scenario, streams: Streams, n_pius: int, n_aps: int) -> Learning:
        """Everything of ``[learning]``, ``[compression]`` and ``[attack]`` for ``n_pius``
        PIUs under ``n_aps`` APs."""
        train, test = data(s, streams)
        groups = None if train.groups is None else train.groups.numpy()
        parts = partitions(s.learning, train.y.numpy(), n_pius, streams, groups)
        parts, held = holdouts(s.learning, parts, streams)
        parts = adversary_data(s.attack, parts, train)
        scale = position_scale(s)
        per_round = s.protocol.clients_per_round or n_pius
        per_round = min(per_round, n_pius)
        local = trainer(s.learning, train, test, streams, scale, per_round, s.protocol.rounds)
        encoder = compressor(s.compression, streams)
        gan = gan_attack(s.attack, local, train, parts, streams)
        spy = eavesdropper(s.attack, s.learning, s.seed, encoder, n_aps)
        return cls(train, parts, local, encoder, gan, spy, held)
