"""Partitioners, the lazy trainer, and the bundled default scenario really learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from netsim.models import MODELS

from netsim import Simulation, load_scenario
from netsim.learn.datasets import load_dataset
from netsim.learn.partition import (
    partition_dirichlet,
    partition_iid,
    partition_quantity,
    partition_sampled,
    partition_shards,
)
from netsim.learn.trainer import OptimizerSpec, Trainer, TrainJob
from netsim.rng import Stream, Streams


def _labels():
    return np.repeat(np.arange(10), 50)  # 500 samples, 50 per class


def _is_partition(parts, n):
    joined = np.concatenate(parts)
    return len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))


def test_iid_partition_sizes_differ_by_at_most_one():
    parts = partition_iid(503, 10, np.random.default_rng(0))
    assert _is_partition(parts, 503)
    assert {len(p) for p in parts} == {50, 51}


def test_sampled_partition_draws_distinct_uniform_samples_per_piu():
    n, pius, m = 400, 2000, 20
    parts = partition_sampled(n, pius, m, np.random.default_rng(0))
    assert len(parts) == pius
    assert all(len(np.unique(p)) == m and p.min() >= 0 and p.max() < n for p in parts)
    # each sample is in each PIU's draw with probability m/n, independently across PIUs:
    # its count is Binomial(pius, m/n); all 400 counts lie within 5 sd of the mean
    counts = np.bincount(np.concatenate(parts), minlength=n)
    mean, sd = pius * m / n, np.sqrt(pius * m / n * (1 - m / n))
    assert np.abs(counts - mean).max() < 5 * sd
    with pytest.raises(ValueError, match="samples_per_piu must be in"):
        partition_sampled(10, 2, 11, np.random.default_rng(0))


def test_one_class_per_piu_shards():
    labels = _labels()
    parts = partition_shards(labels, 10, 1, np.random.default_rng(0))
    assert _is_partition(parts, 500)
    assert sorted(int(np.unique(labels[p]).item()) for p in parts) == list(range(10))


def test_dirichlet_partition_is_a_partition_and_skews_labels():
    labels = _labels()
    parts = partition_dirichlet(labels, 5, 0.1, np.random.default_rng(0))
    assert _is_partition(parts, 500) and min(len(p) for p in parts) > 0
    # alpha = 0.1: each PIU is dominated by few classes.
    top_share = [np.bincount(labels[p]).max() / len(p) for p in parts]
    assert np.mean(top_share) > 0.4


def test_too_many_parts_is_an_error():
    with pytest.raises(ValueError, match="cannot split 5 samples into 6"):
        partition_iid(5, 6, np.random.default_rng(0))


def _trainer():
    data = load_dataset("digits")
    model = MODELS["mlp"].build((1, 8, 8), 10, torch.Generator().manual_seed(0))
    return Trainer(model, data, data, 8, OptimizerSpec("sgd", 0.1), Streams(0))


def test_trainer_runs_jobs_lazily_and_skips_cancelled_ones():
    trainer = _trainer()
    w = trainer.initial_weights()
    jobs = [trainer.submit(TrainJob(k, 0, w, np.arange(k * 10, k * 10 + 10), 3)) for k in range(4)]
    assert trainer.jobs_run == 0  # nothing computed at submission
    jobs[1].cancel()
    res = jobs[0].result()
    assert trainer.jobs_run == 1  # the chunk asked for (one job a chunk here), no other
    assert res.samples == 3 * 8 and not torch.equal(res.weights, w)
    with pytest.raises(RuntimeError, match="cancelled"):
        jobs[1].result()
    assert torch.equal(jobs[2].result().weights, jobs[2].result().weights)
    assert trainer.jobs_run == 2  # the cancelled job's chunk was never computed
    jobs[3].cancel()
    assert not trainer._queued  # nothing left planned


def test_training_is_a_function_of_its_inputs_only():
    a, b = _trainer(), _trainer()
    w = a.initial_weights()
    job = TrainJob(4, 2, w, np.arange(40), 5)
    b.submit(TrainJob(9, 9, w, np.arange(100), 7)).result()  # other work first
    assert torch.equal(a.submit(job).result().weights, b.submit(job).result().weights)


def test_minibatches_come_from_the_pius_own_samples():
    trainer = _trainer()
    local = np.array([3, 7, 11, 19, 23])
    batches = trainer._batches(TrainJob(0, 0, trainer.initial_weights(), local, 4))
    assert all(len(b) == 5 and set(b.tolist()) == set(local.tolist()) for b in batches)


def test_initial_model_depends_only_on_the_seed():
    g1, g2 = Streams(3).torch(Stream.MODEL_INIT), Streams(3).torch(Stream.MODEL_INIT)
    m1 = MODELS["lenet5"].build((1, 28, 28), 10, g1)
    m2 = MODELS["lenet5"].build((1, 28, 28), 10, g2)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    assert sum(p.numel() for p in m1.parameters()) == 61_706  # the classic LeNet-5


@pytest.mark.slow
def test_default_scenario_learns():
    """The bundled default (MNIST-5k, 10 PIUs, IID, LeNet-5): >= 85 % test accuracy."""
    scenario = load_scenario()
    assert (scenario.learning.dataset, scenario.topology.n_pius) == ("mnist5k", 10)
    res = Simulation(scenario).run()
    assert len(res.rounds) == scenario.protocol.rounds
    assert res.final_accuracy >= 0.85
    assert res.rounds["test_accuracy"].iloc[-1] > res.rounds["test_accuracy"].iloc[0] - 0.05


def test_training_never_modifies_the_global_model_it_started_from():
    trainer = _trainer()
    w = trainer.initial_weights()
    before = w.clone()
    trainer.submit(TrainJob(0, 0, w, np.arange(50), 5)).result()
    assert torch.equal(w, before)


def test_quantity_skew_sizes_by_hand():
    # Zipf shares 1, 1/2, 1/3, 1/4 over 25/12: 0.48, 0.24, 0.16, 0.12 of 100 samples
    parts = partition_quantity(100, 4, 1.0, np.random.default_rng(0))
    assert sorted(len(p) for p in parts) == [12, 16, 24, 48]
    everything = np.concatenate(parts)
    assert len(everything) == 100 and len(np.unique(everything)) == 100  # a partition
    # rounding: 10 samples, shares 0.48 .. 0.12 -> 4, 2, 1, 1 plus the 2 left to the top two
    assert sorted(len(p) for p in partition_quantity(10, 4, 1.0, np.random.default_rng(1))) == [
        1, 1, 3, 5,
    ]  # fmt: skip


def test_dirichlet_over_labels_and_sizes_is_a_partition_with_unequal_sizes():
    labels = np.repeat(np.arange(10), 100)
    rng = np.random.default_rng(2)
    parts = partition_dirichlet(labels, 8, 100.0, rng, size_beta=0.5)
    everything = np.concatenate(parts)
    assert len(everything) == 1000 and len(np.unique(everything)) == 1000
    sizes = np.array([len(p) for p in parts])
    # IID sizes would be 125 +- 1; Dirichlet(0.5) shares spread them far apart
    assert sizes.max() > 2 * sizes.min()
    # large alpha: every PIU's label mix stays near uniform
    for p in parts:
        if len(p) >= 100:
            counts = np.bincount(labels[p], minlength=10) / len(p)
            assert np.abs(counts - 0.1).max() < 0.08


def test_a_convolutional_model_is_evaluated_channels_last_with_the_same_outputs():
    """LeNet-5 on the CPU is evaluated by a channels-last copy (oneDNN's fast path): the
    outputs are the training layout's up to float32 rounding, the accuracy the same on
    MNIST-5k, and the training model keeps its layout."""
    data = load_dataset("mnist5k")
    model = MODELS["lenet5"].build((1, 28, 28), 10, torch.Generator().manual_seed(0))
    trainer = Trainer(model, data, data, 8, OptimizerSpec("sgd", 0.1), Streams(0))
    start = trainer.initial_weights()
    some = np.random.default_rng(0).choice(len(trainer.train_y), 1000, replace=False)
    w = trainer.submit(TrainJob(0, 0, start, some, 100)).result().weights
    with torch.no_grad():
        trainer._load(w)
        reference = model.eval()(trainer.test_x)
    outputs = trainer.predict(w, trainer.test_x)
    assert trainer._eval_model is not model
    # each output sums at most 400 float32 products (16 x 5 x 5 at the second convolution,
    # 400 at the first linear layer) in another order: a few units in the last place of the
    # largest partial sum
    scale = reference.abs().max().item()
    np.testing.assert_allclose(outputs, reference, rtol=0, atol=400 * 2**-24 * max(scale, 1))
    loss, accuracy = trainer.evaluate(w)
    expected = torch.nn.functional.cross_entropy(reference, trainer.test_y).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == int((reference.argmax(1) == trainer.test_y).sum()) / len(trainer.test_y)
    assert accuracy > 0.2  # twice chance: outputs whose argmax varies, not a constant class
    assert all(p.is_contiguous() for p in model.parameters())


def test_an_mlp_is_evaluated_by_the_training_model():
    trainer = _trainer()
    trainer.evaluate(trainer.initial_weights())
    assert trainer._eval_model is trainer.model


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-3)])
def test_sgd_steps_are_torch_optim_sgds_to_the_bit(momentum, decay):
    """OptimizerSpec("sgd") steps through torch's functional SGD without building a
    torch.optim.Optimizer: the same parameters as torch.optim.SGD after every step, also
    when a parameter has no gradient in some step."""
    gen = torch.Generator().manual_seed(3)
    start = [torch.randn(4, 3, generator=gen), torch.randn(5, generator=gen)]
    ours = [p.clone() for p in start]
    theirs = [p.clone().requires_grad_(False) for p in start]
    opt = OptimizerSpec("sgd", lr=0.05, momentum=momentum, weight_decay=decay).make(ours)
    ref = torch.optim.SGD(theirs, lr=0.05, momentum=momentum, weight_decay=decay)
    for step in range(6):
        grads = [torch.randn(p.shape, generator=gen) for p in start]
        for k, (a, b, g) in enumerate(zip(ours, theirs, grads, strict=True)):
            skip = step == 2 and k == 1  # no gradient for this parameter in this step
            a.grad, b.grad = (None, None) if skip else (g.clone(), g.clone())
        opt.step()
        ref.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), f"step {step}"
