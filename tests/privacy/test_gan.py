"""The GAN attack of a malicious PIU (Hitaj et al. 2017): its injected samples really enter
its local training, its generator really trains against each round's global model, and its
scores are the nearest victim-class image's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netsim import Simulation
from netsim.learn.cache import TrainingCache
from netsim.learn.trainer import TrainJob
from netsim.privacy.gan import _nearest
from netsim.privacy.metrics import mse, ssim
from netsim.scenario import ScenarioError
from tests.conftest import tiny

GAN = {"method": "gan", "pius": [1], "victim_class": 3, "fake_class": 5, "iterations": 30}


def _gan(rounds: int = 3, **attack):
    return tiny(protocol={"rounds": rounds}, attack={**GAN, **attack})


def test_the_adversary_injects_every_round_and_holds_no_victim_samples():
    sim = Simulation(_gan(max_samples=6))
    honest = Simulation(tiny(protocol={"rounds": 3}))
    res = sim.run()
    inject = res.events[res.events.event == "gan_inject"]
    assert list(inject["round"]) == [0, 1, 2] and set(inject.node) == {"piu1"}
    assert inject.detail.str.startswith("6 samples labelled 5").all()
    labels = sim.trainer.train_y.numpy()
    assert not (labels[sim.partitions[1]] == 3).any()
    # the adversary's own samples are its honest partition less the victim class
    own = honest.partitions[1]
    assert np.array_equal(sim.partitions[1], own[labels[own] != 3])
    for k in (0, 2):
        assert np.array_equal(sim.partitions[k], honest.partitions[k])
    assert res.attacks.rows.method.eq("gan").all() and len(res.attacks.rows) == 6


def test_injected_samples_are_trained_on_with_the_fake_label(tiny_scenario):
    trainer = Simulation(tiny_scenario).trainer
    n = len(trainer.train_y)
    extra_x = torch.randn(5, *trainer.train_x.shape[1:])
    extra_y = torch.full((5,), 5)
    job = TrainJob(0, 0, trainer.initial_weights(), np.arange(3), 4, extra=(extra_x, extra_y))
    batches = torch.cat(trainer._batches(job))
    assert set(batches.tolist()) == {0, 1, 2, n, n + 1, n + 2, n + 3, n + 4}
    idx = torch.tensor([n + 4, 1, n])
    x, y = trainer._gather(job, idx)
    assert torch.equal(x[0], extra_x[4]) and torch.equal(x[2], extra_x[0])
    assert torch.equal(x[1], trainer.train_x[1])
    assert y.tolist() == [5, int(trainer.train_y[1]), 5]
    # and they change the update: the same job without them trains to other weights
    plain = TrainJob(0, 0, job.weights, job.indices, 4)
    assert not torch.equal(trainer._train(job).weights, trainer._train(plain).weights)


def test_the_cache_tells_injected_samples_apart(tmp_path, tiny_scenario):
    trainer = Simulation(tiny_scenario).trainer
    cache = TrainingCache(tmp_path)
    w, idx = trainer.initial_weights(), np.arange(4)
    x = torch.zeros(2, *trainer.train_x.shape[1:])
    keys = {
        cache.key("f", TrainJob(0, 0, w, idx, 1)),
        cache.key("f", TrainJob(0, 0, w, idx, 1, extra=(x, torch.tensor([5, 5])))),
        cache.key("f", TrainJob(0, 0, w, idx, 1, extra=(x + 1, torch.tensor([5, 5])))),
        cache.key("f", TrainJob(0, 0, w, idx, 1, extra=(x, torch.tensor([5, 6])))),
    }
    assert len(keys) == 4


def test_the_generator_learns_to_fool_the_global_model():
    sim = Simulation(_gan())
    gan, weights = sim.attacker, sim.trainer.initial_weights()
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(0))
    target = torch.full((64,), 3)
    with torch.no_grad():  # the untrained generator's images, under the same model
        before = torch.nn.functional.cross_entropy(
            gan._logits(weights, gan._normalise(gan.generator.eval()(z))), target
        )
    _, y, loss, fooled = gan.inject(0, 0.0, weights)
    assert y.tolist() == [5] * 8  # injected with the fake label
    # an untrained MLP has small logits: its cross-entropy stays near log 10 = 2.30 for any
    # input, so a drop of 0.25 is the generator finding what the model most takes for a 3
    assert loss < float(before) - 0.25
    assert fooled >= 0.75  # most of its samples now pass for a 3


def test_a_gan_run_is_reproducible():
    a, b = Simulation(_gan(critic=True)).run(), Simulation(_gan(critic=True)).run()
    assert a.events.equals(b.events)
    assert a.attacks.rows.drop(columns="attack_wall_s").equals(
        b.attacks.rows.drop(columns="attack_wall_s")
    )


def test_nearest_victim_image_scores_by_hand():
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(5, 1, 8, 8, generator=gen)
    fake = torch.stack([truth[3], truth[1] * 0.5])
    best_ssim, best_mse, nearest = _nearest(fake, truth, chunk=2)  # chunks: 2, 2, 1
    assert nearest[0] == 3 and best_ssim[0] == pytest.approx(1.0) and best_mse[0] == 0.0
    all_ssim = ssim(fake[1].expand_as(truth), truth)
    all_mse = mse(fake[1].expand_as(truth), truth)
    assert nearest[1] == int(all_ssim.argmax())
    assert best_ssim[1] == pytest.approx(float(all_ssim.max()), abs=1e-12)
    assert best_mse[1] == pytest.approx(float(all_mse.min()), abs=1e-12)  # minimised on its own
    nan_ssim, _, none = _nearest(fake, truth[:0])
    assert torch.isnan(nan_ssim).all() and (none == -1).all()


@pytest.mark.parametrize(
    ("attack", "field"),
    [
        ({"victim_class": None}, "attack.victim_class"),
        ({"fake_class": 3}, "attack.fake_class"),
        ({"pius": [0, 1]}, "attack.pius"),
        ({"victim_class": 10}, "attack.victim_class"),
    ],
)
def test_bad_gan_settings_are_named(attack, field):
    settings = {k: v for k, v in {**GAN, **attack}.items() if v is not None}
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        Simulation(tiny(protocol={"rounds": 2}, attack=settings))
