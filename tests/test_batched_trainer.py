"""Batched (vmap) and sequential training give the same weights, losses and event log."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import MODELS
from netsim import Simulation
from netsim.learn.batched import WORKING_SET_BYTES, BatchedTrainer, working_set_bytes
from netsim.learn.datasets import load_dataset
from netsim.learn.trainer import OptimizerSpec, Trainer, TrainJob
from netsim.rng import Streams
from tests.conftest import tiny


def _pair(opt: OptimizerSpec, model: str = "mlp", dataset: str = "digits", chunk: int = 3):
    data = load_dataset(dataset)
    shape = data.info.input_shape

    def build():
        return MODELS[model].build(shape, 10, torch.Generator().manual_seed(1))

    seq = Trainer(build(), data, data, 8, opt, Streams(4))
    bat = BatchedTrainer(build(), data, data, 8, opt, Streams(4), chunk_size=chunk)
    return seq, bat


def _jobs(w):
    # Mixed step counts and PIUs smaller than the batch: several groups and chunks.
    sizes = [40, 40, 5, 40, 40, 40, 3, 40]
    steps = [4, 4, 4, 6, 4, 4, 6, 4]
    jobs, start = [], 0
    for k, (n, s) in enumerate(zip(sizes, steps, strict=True)):
        jobs.append(TrainJob(k, 2, w, np.arange(start, start + n), s))
        start += n
    return jobs


@pytest.mark.parametrize(
    "opt",
    [
        OptimizerSpec("sgd", 0.1),
        OptimizerSpec("sgd", 0.05, momentum=0.9, weight_decay=1e-3),
        OptimizerSpec("adam", 1e-3),
        OptimizerSpec("adadelta", 1.0),
        OptimizerSpec("rmsprop", 1e-3, momentum=0.5),
    ],
    ids=lambda o: f"{o.name}-m{o.momentum}",
)
def test_batched_equals_sequential(opt):
    seq, bat = _pair(opt)
    w = seq.initial_weights()
    jobs = _jobs(w)
    a = [seq.submit(j) for j in jobs]
    b = [bat.submit(j) for j in jobs]
    # RMSprop's first steps are ~ lr g / (sqrt(1 - alpha) |g| + eps), nearly sign(g) x 10 lr,
    # so float32 round-off in tiny gradients (different summation order under vmap) moves
    # weights by up to ~1e-5 (measured 3.8e-5 with momentum); the others stay within 1e-6.
    atol = 1e-4 if opt.name == "rmsprop" else 1e-6
    for ha, hb in zip(a, b, strict=True):
        ra, rb = ha.result(), hb.result()
        assert torch.allclose(ra.weights, rb.weights, rtol=0, atol=atol)
        assert rb.loss == pytest.approx(ra.loss, rel=1e-5)
        assert ra.samples == rb.samples
    assert bat.jobs_run == len(jobs)


def test_batched_lenet_equals_sequential():
    seq, bat = _pair(OptimizerSpec("sgd", 0.05, momentum=0.9), "lenet5", "mnist5k", chunk=4)
    w = seq.initial_weights()
    jobs = [TrainJob(k, 0, w, np.arange(50 * k, 50 * k + 50), 3) for k in range(5)]
    for j in jobs:
        ra, rb = seq.submit(j).result(), bat.submit(j).result()
        assert torch.allclose(ra.weights, rb.weights, rtol=0, atol=1e-6)


def test_batched_simulation_has_the_same_timeline():
    base = tiny(protocol={"rounds": 2})
    batched = tiny(
        protocol={"rounds": 2}, learning={**base.learning.model_dump(), "trainer": "batched"}
    )
    a, b = Simulation(base).run().events, Simulation(batched).run().events
    cols = ["t_s", "round", "node", "event", "bits", "energy_j"]
    assert a[cols].equals(b[cols])
    assert np.allclose(a["loss"], b["loss"], rtol=1e-5, equal_nan=True)
    assert np.allclose(a["accuracy"], b["accuracy"], atol=1e-3, equal_nan=True)


def test_chunking_gives_the_same_result_as_one_batch():
    opt = OptimizerSpec("sgd", 0.05, momentum=0.9)
    _, one = _pair(opt, chunk=100)
    _, chunked = _pair(opt, chunk=3)
    w = one.initial_weights()
    jobs = [TrainJob(k, 0, w, np.arange(30 * k, 30 * k + 30), 4) for k in range(10)]
    a = [one.submit(j) for j in jobs]
    b = [chunked.submit(j) for j in jobs]
    # a client's arithmetic does not see its neighbours; torch may choose another kernel for
    # another batch size (float32 round-off: measured 7e-9 here)
    for ha, hb in zip(a, b, strict=True):
        assert torch.allclose(ha.result().weights, hb.result().weights, rtol=0, atol=1e-6)
        assert ha.result().loss == pytest.approx(hb.result().loss, rel=1e-6)


def test_automatic_chunk_size_by_hand():
    data = load_dataset("mnist5k")
    model = MODELS["mlp"].build((1, 28, 28), 10, torch.Generator().manual_seed(0))
    # 199,210 parameters x (weights, gradient, momentum, temporary); leaf outputs per sample:
    # flatten 784 + 200 + 200 + 200 + 200 + 10 = 1594, input 784; activations x 2 x batch 10
    per_client = 4 * (4 * 199_210 + 2 * 10 * (1594 + 784))
    assert working_set_bytes(model, data.x[:1], 10, "sgd") == per_client
    bat = BatchedTrainer(model, data, data, 10, OptimizerSpec("sgd", 0.05), Streams(0))
    assert bat.chunk_size == WORKING_SET_BYTES // per_client == 39
