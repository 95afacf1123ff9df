"""Batched (vmap) and sequential training give the same weights, losses and event log."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from netsim.models import MODELS

from netsim import Simulation
from netsim.learn.batched import WORKING_SET_BYTES, BatchedTrainer, working_set_bytes
from netsim.learn.datasets import load_dataset
from netsim.learn.trainer import OptimizerSpec, Trainer, TrainJob
from netsim.rng import Streams
from tests.conftest import tiny, training_roundoff


def _pair(
    opt: OptimizerSpec,
    model: str = "mlp",
    dataset: str = "digits",
    chunk: int = 3,
    dtype: torch.dtype = torch.float32,
):
    data = load_dataset(dataset)
    if dtype != data.x.dtype:
        data = dataclasses.replace(data, x=data.x.to(dtype))
    shape = data.info.input_shape

    def build():
        return MODELS[model].build(shape, 10, torch.Generator().manual_seed(1)).to(dtype)

    seq = Trainer(build(), data, data, 8, opt, Streams(4))
    bat = BatchedTrainer(build(), data, data, 8, opt, Streams(4), chunk_size=chunk)
    return seq, bat


# The digits MLP: 64 inputs, hidden layers of 200; a gradient entry sums over the batch of 8
# and over at most 200 units.
MLP_SUMMANDS = 8 * 200
# the optimisers' eps (torch defaults): the smallest denominator of an adaptive step
ADAPTIVE_EPS = {"adam": 1e-8, "rmsprop": 1e-8, "adadelta": 1e-6}


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
    """The same arithmetic in another summation order (vmap over clients), in float64 so that
    the round-off bound is far below any real difference (a wrong mini-batch, step count or
    optimizer state moves weights by ~lr)."""
    seq, bat = _pair(opt, dtype=torch.float64)
    w = seq.initial_weights()
    jobs = _jobs(w)
    a = [seq.submit(j) for j in jobs]
    b = [bat.submit(j) for j in jobs]
    for job, ha, hb in zip(jobs, a, b, strict=True):
        ra, rb = ha.result(), hb.result()
        atol = training_roundoff(
            torch.float64,
            job.local_steps,
            opt.lr,
            MLP_SUMMANDS,
            adaptive_eps=ADAPTIVE_EPS.get(opt.name),
            momentum=opt.momentum,
        )
        assert atol < 1e-3 * opt.lr  # the bound is far below one step's movement
        torch.testing.assert_close(ra.weights, rb.weights, rtol=0, atol=atol)
        assert rb.loss == pytest.approx(ra.loss, rel=MLP_SUMMANDS * torch.finfo(torch.float64).eps)
        assert ra.samples == rb.samples
    assert bat.jobs_run == len(jobs)


def test_batched_lenet_equals_sequential():
    seq, bat = _pair(OptimizerSpec("sgd", 0.05, momentum=0.9), "lenet5", "mnist5k", chunk=4)
    w = seq.initial_weights()
    jobs = [TrainJob(k, 0, w, np.arange(50 * k, 50 * k + 50), 3) for k in range(5)]
    # float32 SGD with momentum 0.9: a conv gradient sums over the batch of 8 and at most
    # 16 x 5 x 5 = 400 inputs of a unit, the first linear layer over 256; |terms| <= 1 here
    atol = training_roundoff(torch.float32, 3, 0.05, 8 * 400, momentum=0.9)
    for j in jobs:
        ra, rb = seq.submit(j).result(), bat.submit(j).result()
        torch.testing.assert_close(ra.weights, rb.weights, rtol=0, atol=atol)


def test_batched_series_cnn_equals_sequential():
    # the 1-D CNN of the "snr" radio task, on the 8x8 digits read as 8 channels x 8 steps
    seq, bat = _pair(OptimizerSpec("sgd", 0.05, momentum=0.9), "series_cnn", dtype=torch.float64)
    w = seq.initial_weights()
    jobs = [TrainJob(k, 0, w, np.arange(40 * k, 40 * k + 40), 3) for k in range(4)]
    # a conv gradient sums over the batch of 8, 8 steps and 16 x 3 inputs of a unit
    atol = training_roundoff(torch.float64, 3, 0.05, 8 * 8 * 16 * 3, momentum=0.9)
    for j in jobs:
        ra, rb = seq.submit(j).result(), bat.submit(j).result()
        torch.testing.assert_close(ra.weights, rb.weights, rtol=0, atol=atol)
        assert not torch.equal(ra.weights, w)  # it trained


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
    # another batch size, so the two differ by float32 round-off at most (measured 7e-9)
    atol = training_roundoff(torch.float32, 4, 0.05, MLP_SUMMANDS, momentum=0.9)
    for ha, hb in zip(a, b, strict=True):
        torch.testing.assert_close(ha.result().weights, hb.result().weights, rtol=0, atol=atol)
        eps32 = torch.finfo(torch.float32).eps
        assert ha.result().loss == pytest.approx(hb.result().loss, rel=MLP_SUMMANDS * eps32)


def test_automatic_chunk_size_by_hand():
    data = load_dataset("mnist5k")
    model = MODELS["mlp"].build((1, 28, 28), 10, torch.Generator().manual_seed(0))
    # 199,210 parameters x (weights, gradient, momentum, temporary); leaf outputs per sample:
    # flatten 784 + 200 + 200 + 200 + 200 + 10 = 1594, input 784; activations x 2 x batch 10
    per_client = 4 * (4 * 199_210 + 2 * 10 * (1594 + 784))
    assert working_set_bytes(model, data.x[:1], 10, "sgd") == per_client
    bat = BatchedTrainer(model, data, data, 10, OptimizerSpec("sgd", 0.05), Streams(0))
    assert bat.chunk_size == WORKING_SET_BYTES // per_client == 39
