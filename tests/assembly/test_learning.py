"""netsim/assembly/learning.py: ``Learning.build`` partitions the training set over the
PIUs, holds out each PIU's evaluation share, and builds the trainer of ``learning.trainer``
with the worker pool of ``learning.backend``."""

from __future__ import annotations

import numpy as np
import pytest

from netsim.assembly.learning import Learning
from netsim.learn.batched import BatchedTrainer
from netsim.learn.pool import ProcessPool
from netsim.learn.trainer import Trainer
from netsim.rng import Streams
from tests.conftest import tiny

K = 10  # PIUs


def _build(n_pius=K, **sections) -> Learning:
    s = tiny(**sections)
    return Learning.build(s, Streams(s.seed), n_pius, 1)


def _learning(**fields):
    return {**tiny().learning.model_dump(exclude_none=True), **fields}


def _disjoint(parts, n_train):
    every = np.concatenate(parts)
    assert len(every) == len(np.unique(every)), "a sample is held by two PIUs"
    assert every.min() >= 0 and every.max() < n_train


@pytest.mark.parametrize(
    "partition",
    [
        {"kind": "iid"},
        {"kind": "shards", "classes_per_piu": 2},
        {"kind": "dirichlet", "alpha": 0.3},
        {"kind": "dirichlet", "alpha": 0.3, "size_beta": 0.5},
        {"kind": "quantity", "exponent": 1.5},
    ],
)
def test_every_training_sample_goes_to_at_most_one_piu(partition):
    data = _build(learning=_learning(partition=partition))
    assert len(data.partitions) == K
    assert all(len(p) > 0 for p in data.partitions)
    _disjoint(data.partitions, len(data.train))
    assert data.trainer.train_y.shape[0] == len(data.train)


def test_an_iid_split_covers_the_training_set_evenly():
    data = _build()
    sizes = [len(p) for p in data.partitions]
    assert sum(sizes) == len(data.train)
    assert max(sizes) - min(sizes) <= 1


def test_without_eval_every_nothing_is_held_out():
    data = _build()
    assert len(data.holdouts) == K
    assert all(len(h) == 0 for h in data.holdouts)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_eval_every_holds_out_the_holdout_fraction_of_each_pius_samples(fraction):
    whole = _build().partitions
    data = _build(learning=_learning(eval_every=2, holdout_fraction=fraction))
    assert len(data.holdouts) == K
    for own, kept, held in zip(whole, data.partitions, data.holdouts, strict=True):
        assert len(held) == round(fraction * len(own))
        assert len(np.intersect1d(kept, held)) == 0
        np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), own)
    _disjoint(data.partitions + data.holdouts, len(data.train))


def test_a_piu_with_two_samples_holds_out_one_and_keeps_one():
    # 1438 training digits over 700 PIUs: parts of 2 or 3 samples; 20 % of 2 rounds to 0
    whole = _build(n_pius=700).partitions
    assert {len(p) for p in whole} == {2, 3}
    data = _build(n_pius=700, learning=_learning(eval_every=1, holdout_fraction=0.2))
    for kept, held in zip(data.partitions, data.holdouts, strict=True):
        assert (len(kept), len(held)) in {(1, 1), (2, 1)}


def test_the_sequential_trainer_is_the_default():
    data = _build()
    assert type(data.trainer) is Trainer
    assert data.trainer.pool is None


@pytest.mark.parametrize(("clients", "chunk"), [(3, 3), (7, 7)])
def test_the_batched_trainer_for_learning_trainer_batched(clients, chunk):
    data = _build(learning=_learning(trainer="batched", batch_clients=clients))
    assert type(data.trainer) is BatchedTrainer
    assert data.trainer.chunk_size == chunk
    assert data.trainer.pool is None


def test_the_batched_trainer_sizes_its_chunks_itself_on_auto():
    data = _build(learning=_learning(trainer="batched"))
    assert isinstance(data.trainer, BatchedTrainer)
    assert data.trainer.chunk_size >= 1


def test_a_process_pool_replicates_the_batched_trainers_chunk_size():
    learning = _learning(trainer="batched", batch_clients=4, backend="processes", workers=2)
    trainer = _build(learning=learning).trainer
    pool = trainer.pool
    try:
        assert type(pool) is ProcessPool
        assert pool.workers == pool.size == 2
        recipe = pool.recipe
        assert recipe.kind is BatchedTrainer
        assert recipe.kwargs["chunk_size"] == trainer.chunk_size == 4
        assert recipe.kwargs["batch_size"] == trainer.batch_size
        assert recipe.kwargs["seed"] == 7
        assert recipe.threads == trainer.threads == 1
        assert pool._executor is None and pool._starting is None  # no worker started
        replica = recipe.build()  # what a worker builds, here in process
        assert type(replica) is BatchedTrainer
        assert replica.chunk_size == 4
        assert replica.num_params == trainer.num_params
    finally:
        trainer.close()
    assert pool._executor is None  # closing a pool never started starts nothing


def test_a_process_pool_of_the_sequential_trainer_replicates_it():
    trainer = _build(learning=_learning(backend="processes", workers=1)).trainer
    try:
        assert type(trainer.pool) is ProcessPool
        assert trainer.pool.recipe.kind is Trainer
        assert "chunk_size" not in trainer.pool.recipe.kwargs
    finally:
        trainer.close()
