"""GAN attack by a malicious participant (Hitaj, Ateniese and Perez-Cruz, "Deep Models Under
the GAN: Information Leakage from Collaborative Deep Learning", CCS 2017); the first threat of
the AFC-FL paper (Li et al., "An Adaptive Communication-Efficient Federated Learning to
Resist Gradient-Based Reconstruction Attacks", Security and Communication Networks 2021,
doi:10.1155/2021/9919030, Tables 3 and 5).

The adversary is one PIU that follows the protocol, except that in each attacking round:

1. it takes the downloaded global model as a fixed discriminator and trains its own
   generator G for ``steps`` Adam steps so that the global model classifies G(z) as the
   victim class v (cross-entropy towards v, fresh latent batch each step);
2. it generates ``samples`` images and adds them, labelled as another class c (the *fake*
   class), to its training data of the round. Its update teaches the federation that
   images like G(z) are c, so the victims' updates must carry more of what makes v v: the
   active part of the attack, which the paper's frequency and compression counter.

In Hitaj's threat model the adversary holds no data of class v; the simulation removes its
victim-class samples unless told otherwise (``attack.keep_victim_class``). Generating costs
no simulated time (the adversary's own extra hardware); the injected samples are trained on
in the PIU's local steps like its own, and its compute time and energy count them.

Scoring (after the run): images generated from a fixed latent batch, each against the
victim-class training images held by the other PIUs: the nearest one by SSIM (max) and by
MSE (min), and the final global model's class of the generated image (``label_correct``:
classified as v).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from typing_extensions import override

from netsim.learn.datasets import Dataset
from netsim.learn.trainer import Trainer
from netsim.messages import GlobalModel, Injection
from netsim.models import init_parameters
from netsim.privacy.attacker import ATTACK_COLUMNS, Attack, AttackReport
from netsim.privacy.metrics import SSIMCandidates, mse
from netsim.rng import Stream, Streams

LATENT_DIM = 100  # Hitaj et al. / DCGAN's latent size
_GEN_BATCH = 64  # latent samples per generator step
_INIT, _ROUND, _SCORE = 0, 1, 2  # sub-keys of the adversary's Stream.ATTACK draws


class Generator(nn.Module):
    """Latent z (n, 100) -> images (n, C, H, W) in pixel values [0, 1].

    DCGAN's shape (Radford et al. 2016, the generator of Hitaj et al.) at two upsamplings:
    linear to 128 x ceil(H/4) x ceil(W/4), then two stride-2 transposed convolutions
    (128 -> 64 -> C, batch norm and ReLU between, sigmoid out), cropped to H x W. The
    convolutions' spatial prior keeps the images smooth, where a fully connected generator
    drifts to adversarial noise that fools the classifier without looking like the class."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        c, h, w = shape
        self.h4, self.w4 = -(-h // 4), -(-w // 4)
        self.project = nn.Sequential(
            nn.Linear(LATENT_DIM, 128 * self.h4 * self.w4),
            nn.BatchNorm1d(128 * self.h4 * self.w4),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, c, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    @override
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.up(self.project(z).reshape(len(z), 128, self.h4, self.w4))
        return x[:, :, : self.shape[1], : self.shape[2]]


class Critic(nn.Module):
    """Real/fake discriminator on pixel images (n, C, H, W) -> logit (n,): two stride-2
    convolutions (C -> 32 -> 64, leaky ReLU 0.2) and a linear read-out (DCGAN's shape)."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 32, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), 1),  # two halvings (floor) of h and w
        )

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)


class GANAttack(Attack):
    """The malicious PIU's generator and its injections: the tap of PIU ``piu``, which asks
    it before each training (:meth:`before_training`).

    Parameters
    ----------
    model: the federation's architecture (structure only; weights come per round).
    data: the training data set (shape, normalisation, classes).
    piu: the adversary's PIU index.
    victim_class, fake_class: v (imitated) and c (the label of the injected samples).
    rounds: the rounds it injects in (None: every round).
    samples: generated samples injected per round (and scored at the end).
    steps, lr: generator Adam steps per round and their step size.
    streams: keyed random streams (generator init and latent draws, ``Stream.ATTACK``).
    own: the adversary's own training images in pixels (N, C, H, W) for a real/fake critic
        trained beside the global model (the multitask discriminator of mGAN-AI, Wang et
        al. 2019): the generator must then also look like the data, not only be classified
        as v. None: Hitaj's attack, the global model is the only discriminator.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        piu: int,
        victim_class: int,
        fake_class: int,
        rounds: tuple[int, ...] | None,
        samples: int,
        steps: int,
        lr: float,
        streams: Streams,
        own: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.piu = piu
        self.victim_class, self.fake_class = victim_class, fake_class
        self.rounds = None if rounds is None else set(rounds)
        self.samples, self.steps, self.lr = samples, steps, lr
        self.streams = streams
        self.shape: tuple[int, int, int] = tuple(data.x.shape[1:])  # type: ignore[assignment]
        named = list(model.named_parameters())
        self._names = [n for n, _ in named]
        self._shapes = [p.shape for _, p in named]
        self._sizes = [p.numel() for _, p in named]
        gen = streams.torch(Stream.ATTACK, piu, _INIT)
        self.generator = Generator(self.shape)
        init_parameters(self.generator, gen)  # keyed: the run's seed decides the attack
        self.critic = None if own is None else Critic(self.shape)
        if self.critic is not None:
            init_parameters(self.critic, gen)
        betas = (0.5, 0.999)  # DCGAN's Adam
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas)
        self.own = own
        if self.critic is not None:
            self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=betas)
        self.last_round = -1
        self.last_time_s = float("nan")
        self.steps_run = 0
        self.wall_s = 0.0
        self.last_loss = float("nan")

    # ------------------------------------------------------------------ on the timeline

    def attacks_in(self, round_index: int) -> bool:
        """Whether the adversary injects samples in ``round``."""
        return self.rounds is None or round_index in self.rounds

    @override
    def before_training(self, now: float, msg: GlobalModel) -> Injection | None:
        """In an attacking round, the samples of :meth:`inject` against ``msg``'s model,
        labelled as the fake class; None in another round."""
        if not self.attacks_in(msg.round):
            return None
        x, y, loss, fooled = self.inject(msg.round, now, msg.weights)
        detail = (
            f"{len(y)} samples labelled {self.fake_class}, "
            f"{fooled:.3f} classified {self.victim_class}"
        )
        return Injection(x, y, loss, detail)

    def _normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.data.mean, dtype=pixels.dtype)[:, None, None]
        std = torch.tensor(self.data.std, dtype=pixels.dtype)[:, None, None]
        return (pixels - mean) / std

    def _logits(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The global model ``weights`` (P,) applied to normalised x (n, C, H, W)."""
        params = [
            t.reshape(s).detach()
            for t, s in zip(weights.split(self._sizes), self._shapes, strict=True)
        ]
        return functional_call(self.model, dict(zip(self._names, params, strict=True)), (x,))

    def inject(
        self, round_index: int, now_s: float, weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        """Train the generator against the global model ``weights`` (P,) of ``round``; return
        the samples to inject, normalised (samples, C, H, W), their fake labels (samples,),
        the generator's last cross-entropy towards v (the critic's term left out) and the
        fraction of the injected samples that the global model classifies as v."""
        start = time.perf_counter()
        gen = self.streams.torch(Stream.ATTACK, self.piu, _ROUND, round_index)
        target = torch.full((_GEN_BATCH,), self.victim_class, dtype=torch.long)
        self.generator.train()
        loss = torch.tensor(float("nan"))
        for _ in range(self.steps):
            z = torch.randn(_GEN_BATCH, LATENT_DIM, generator=gen)
            fake = self.generator(z)
            loss = F.cross_entropy(self._logits(weights, self._normalise(fake)), target)
            total = loss if self.critic is None else loss + self._critic_step(fake, gen)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
        with torch.no_grad():
            z = torch.randn(self.samples, LATENT_DIM, generator=gen)
            x = self._normalise(self.generator(z))
            fooled = float((self._logits(weights, x).argmax(1) == self.victim_class).float().mean())
        self.steps_run += self.steps
        self.last_round, self.last_time_s = round_index, now_s
        self.last_loss = float(loss.detach())
        self.wall_s += time.perf_counter() - start
        y = torch.full((self.samples,), self.fake_class, dtype=torch.long)
        return x, y, self.last_loss, fooled

    def _critic_step(self, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One critic update (own images real, ``fake`` fake); returns the generator's
        adversarial loss (fakes taken for real), differentiable in ``fake``."""
        assert self.critic is not None and self.own is not None
        real = self.own[torch.randint(len(self.own), (len(fake),), generator=gen)]
        ones, zeros = torch.ones(len(fake)), torch.zeros(len(fake))
        critic_loss = F.binary_cross_entropy_with_logits(
            self.critic(real), ones
        ) + F.binary_cross_entropy_with_logits(self.critic(fake.detach()), zeros)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        return F.binary_cross_entropy_with_logits(self.critic(fake), ones)

    # ------------------------------------------------------------------ after the run

    @override
    @torch.no_grad()
    def report(
        self,
        trainer: Trainer,
        partitions: list[np.ndarray],
        data: Dataset,
        weights: torch.Tensor,
    ) -> AttackReport:
        """Score ``samples`` images generated from a fixed latent batch against the victim
        class's images held by the other PIUs; ``weights``: the final global model; ``data``:
        unused (the generator works in the pixels of the data set it was built with)."""
        self.generator.eval()
        z = torch.randn(
            self.samples, LATENT_DIM, generator=self.streams.torch(Stream.ATTACK, self.piu, _SCORE)
        )
        fake = self.generator(z)  # pixels (n, C, H, W)
        others = np.concatenate([p for k, p in enumerate(partitions) if k != self.piu])
        labels = trainer.train_y.cpu()
        victims = np.sort(others[labels[others].numpy() == self.victim_class])
        truth = self.data.pixels(trainer.train_x[victims].cpu())  # (M, C, H, W)
        predicted = self._logits(weights, self._normalise(fake)).argmax(1)
        best_ssim, best_mse, nearest = _nearest(fake, truth)
        name = f"piu{self.piu}_gan_victim{self.victim_class}"
        rows = [
            {
                "piu": self.piu,
                "round": self.last_round,
                "method": "gan",
                "position": f"piu{self.piu}",
                "captured_at_s": self.last_time_s,
                "bits": 0,
                "contributors": 1,
                "local_steps": 0,  # not an observed upload
                "sample": int(victims[nearest[i]]) if len(victims) else -1,
                "true_label": self.victim_class,
                "label": int(predicted[i]),
                "label_correct": bool(int(predicted[i]) == self.victim_class),
                "mse": float(best_mse[i]),
                "psnr_db": float(10.0 * torch.log10(1.0 / best_mse[i])),
                "ssim": float(best_ssim[i]),
                "match_loss": self.last_loss,
                "restarts": 1,
                "iterations": self.steps_run,
                "attack_wall_s": self.wall_s,
                "image": name,
            }
            for i in range(self.samples)
        ]
        images = {name: (truth[nearest] if len(victims) else fake, fake)}
        return AttackReport(pd.DataFrame(rows, columns=ATTACK_COLUMNS), images)


def _nearest(
    fake: torch.Tensor, truth: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per generated image (n,): the highest SSIM and the lowest MSE over the candidate
    images ``truth`` (M, C, H, W) (each minimised separately), and the index of the
    highest-SSIM candidate. No candidates: NaN scores, index -1."""
    n, m = len(fake), len(truth)
    if m == 0:
        nan = torch.full((n,), float("nan"), dtype=torch.float64)
        return nan, nan.clone(), torch.full((n,), -1, dtype=torch.long)
    best_ssim = torch.empty(n, dtype=torch.float64)
    best_mse = torch.empty(n, dtype=torch.float64)
    nearest = torch.empty(n, dtype=torch.long)
    candidates = SSIMCandidates(truth)  # their statistics filtered once
    for i in range(n):
        s = torch.cat([candidates.ssim(fake[i], j, j + chunk) for j in range(0, m, chunk)])
        nearest[i] = int(s.argmax())
        best_ssim[i] = s[nearest[i]]
        best_mse[i] = mse(fake[i].expand_as(truth), truth).min()
    return best_ssim, best_mse, nearest
