"""The attacker entity: captures what it can observe on the timeline, then attacks it.

Every attack is an :class:`Attack`: a :class:`netsim.messages.Tap` that the entities it is
wired into call as messages pass, with one :meth:`Attack.report` after the run that gives
the ``attacks`` table (:class:`AttackReport`). Two implement it: the gradient-inversion
:class:`Attacker` below and the GAN of a malicious PIU (:mod:`netsim.privacy.gan`).

An :class:`Attacker` sits at the server (honest but curious: every update the server
decodes) or at one access point (an eavesdropper: the uplinks that reach that AP, decoded
with the public decoder, and for over-the-air rounds only the superposition the AP
receives). It records the round's global model when it passes, and a :class:`Capture` of
each chosen PIU's upload in each chosen round at the simulated time it arrives. After the
run it attacks every capture (:mod:`netsim.privacy.inversion`) and scores the
reconstructions against the samples the PIU really trained on in that round: per
reconstructed sample MSE, PSNR, SSIM and whether the label is right (the
``attacks`` table), plus images (originals above, reconstructions below).

Attacking costs no simulated time: the attacker works offline on its recordings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from typing_extensions import override

from netsim.compress.base import Compressor
from netsim.learn.datasets import Dataset
from netsim.learn.trainer import Trainer
from netsim.messages import GlobalModel, OTAAggregate, Tap, Update
from netsim.privacy.inversion import AttackSettings, GradientInversion, Observation
from netsim.privacy.metrics import image_scores


@dataclass(frozen=True)
class Capture:
    """One observed upload.

    piu: the attacked PIU; round; time_s: simulated arrival time at the attacker;
    observation: what the attack works on; bits: payload size on the air; contributors: the
    PIUs whose updates the observation mixes (over the air: all of the AP's, else the PIU).
    """

    piu: int
    round: int
    time_s: float
    observation: Observation
    bits: int
    contributors: tuple[int, ...]


@dataclass
class AttackReport:
    """rows: the ``attacks`` table (one row per reconstructed sample); images: per attacked
    capture name, (originals, reconstructions) as pixel tensors (n, C, H, W) in [0, 1]."""

    rows: pd.DataFrame
    images: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


class Attack(Tap, ABC):
    """An attack: a tap on the timeline (what it observes or injects while the run goes on,
    :class:`netsim.messages.Tap`) and, after the run, its report."""

    @abstractmethod
    def report(
        self,
        trainer: Trainer,
        partitions: list[np.ndarray],
        data: Dataset,
        weights: torch.Tensor,
    ) -> AttackReport:
        """Attack what was captured and score it (after the run; no simulated time).

        trainer: the run's trainer (its model and training set, the samples each PIU drew);
        partitions: each PIU's training-set indices; data: the training
        :class:`~netsim.learn.datasets.Dataset` (normalisation, classes); weights: the final
        global model, flat float32 (P,). Returns the ``attacks`` table and its images."""


class Attacker(Attack):
    """Observes uploads at ``position`` ("server" or "ap" with index ``ap``) for the PIUs
    ``pius`` in ``rounds``; ``compressor`` is the public decoder; ``settings`` the attack;
    ``batch_size``, ``lr``, ``momentum``, ``weight_decay``: the public local-SGD protocol."""

    def __init__(
        self,
        settings: AttackSettings,
        position: str,
        ap: int | None,
        pius: tuple[int, ...],
        rounds: tuple[int, ...],
        compressor: Compressor,
        batch_size: int,
        sgd: tuple[float, float, float],
    ) -> None:
        self.settings = settings
        self.position = position
        self.ap = ap
        self.pius, self.rounds = set(pius), set(rounds)
        self.compressor = compressor
        self.batch_size = batch_size
        self.lr, self.momentum, self.weight_decay = sgd
        self.models: dict[int, GlobalModel] = {}
        self.captures: list[Capture] = []
        # progress of the attacks after the run: called with (captures done, captures)
        self.on_progress: Callable[[int, int], None] | None = None

    @property
    def where(self) -> str:
        """Where it listens: "server" or "apN"."""
        return "server" if self.position == "server" else f"ap{self.ap}"

    # ------------------------------------------------------------------ on the timeline

    @override
    def see_model(self, msg: GlobalModel) -> None:
        """The round's global model passes by (downlink broadcast)."""
        if msg.round in self.rounds:
            self.models.setdefault(msg.round, msg)

    @override
    def see_update(self, now: float, update: Update, delta: torch.Tensor | None = None) -> None:
        """A digital upload reaches the attacker; ``delta`` (P,): the receiver's decoding,
        if the attacker is that receiver (else it decodes the payload itself)."""
        if update.piu not in self.pius or update.round not in self.models:
            return
        model = self.models[update.round]
        mask = update.mask if update.mask is not None else model.mask
        if delta is None:
            delta = self.compressor.decompress(update.payload)
            if mask is not None:
                delta = torch.zeros(mask.numel()).masked_scatter(mask, delta)
        sent = self.compressor.sent_entries(update.payload)
        if mask is not None:  # pruned entries are known zeros, not sent
            if sent is None:  # a dense payload of the kept entries
                sent = mask.clone()
            else:  # the payload's own entries, scattered back to the unpruned positions
                sent = torch.zeros(mask.numel(), dtype=torch.bool).masked_scatter(mask, sent)
        obs = self._observation(model, update.piu, delta, sent, update.num_samples)
        self.captures.append(
            Capture(update.piu, update.round, now, obs, update.payload.bits, (update.piu,))
        )

    @override
    def see_aggregate(self, now: float, agg: OTAAggregate) -> None:
        """An over-the-air superposition: each chosen PIU in it is attacked through the mix
        (the attacker cannot separate the contributions)."""
        model = self.models.get(agg.round)
        if model is None:
            return
        # under DP over the air the sum has equal weights: its mean is the attacker's best
        # model of one update
        delta = agg.delta if agg.noise_var is None else agg.delta / len(agg.contributors)
        for piu in sorted(self.pius & set(agg.contributors)):
            obs = self._observation(model, piu, delta, model.mask, agg.weight)
            self.captures.append(Capture(piu, agg.round, now, obs, agg.bits, agg.contributors))

    def _observation(
        self,
        model: GlobalModel,
        piu: int,
        delta: torch.Tensor,
        sent: torch.Tensor | None,
        num_samples: int,
    ) -> Observation:
        link = model.links.get(piu) if model.links else None
        steps = link.local_steps if link is not None else model.local_steps
        return Observation(
            model.weights,
            delta,
            sent,
            steps,
            self.batch_size,
            num_samples,
            self.lr,
            self.momentum,
            self.weight_decay,
        )

    # ------------------------------------------------------------------ after the run

    @override
    def report(
        self,
        trainer: Trainer,
        partitions: list[np.ndarray],
        data: Dataset,
        weights: torch.Tensor,
    ) -> AttackReport:
        """Attack every capture; score against the samples PIU k trained on in the round.

        data: the training :class:`~netsim.learn.datasets.Dataset` (its normalisation gives
        the pixel range and the box of the attack); weights: unused (each capture carries
        the global model of its own round)."""
        mean, std = torch.tensor(data.mean), torch.tensor(data.std)
        box = ((0.0 - mean) / std, (1.0 - mean) / std)
        shape = tuple(trainer.train_x.shape[1:])
        num_classes = data.info.num_classes
        inversion = GradientInversion(trainer.model, shape, num_classes, box)  # type: ignore[arg-type]
        rows: list[dict[str, object]] = []
        images: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for done, cap in enumerate(self.captures):
            if self.on_progress is not None:
                self.on_progress(done, len(self.captures))
            obs = cap.observation
            used = trainer.batch_indices(cap.piu, cap.round, partitions[cap.piu], obs.local_steps)
            truth_x = data.pixels(trainer.train_x[used].cpu())
            truth_y = trainer.train_y[used].cpu()
            settings = self.settings
            rec = inversion.attack(obs, settings)
            rec_x = data.pixels(rec.x)
            # pair each reconstruction with its closest original (pixel MSE, one-to-one)
            cost = ((rec_x[:, None] - truth_x[None]) ** 2).flatten(2).mean(dim=2)
            from scipy.optimize import linear_sum_assignment  # heavy: only when attacking

            rec_i, truth_i = linear_sum_assignment(cost.numpy())
            scores = image_scores(rec_x[rec_i], truth_x[truth_i])
            name = f"piu{cap.piu}_round{cap.round}_{settings.method}_{self.where}"
            images[name] = (truth_x[truth_i], rec_x[rec_i])
            for j, (ri, ti) in enumerate(zip(rec_i, truth_i, strict=True)):
                rows.append(
                    {
                        "piu": cap.piu,
                        "round": cap.round,
                        "method": settings.method,
                        "position": self.where,
                        "captured_at_s": cap.time_s,
                        "bits": cap.bits,
                        "contributors": len(cap.contributors),
                        "local_steps": obs.local_steps,
                        "sample": int(used[ti]),
                        "true_label": int(truth_y[ti]),
                        "label": int(rec.labels[ri]),
                        "label_correct": bool(int(rec.labels[ri]) == int(truth_y[ti])),
                        "mse": float(scores["mse"][j]),
                        "psnr_db": float(scores["psnr_db"][j]),
                        "ssim": float(scores["ssim"][j]),
                        "match_loss": rec.match_loss,
                        "restarts": rec.restarts,
                        "iterations": rec.iterations,
                        "attack_wall_s": rec.wall_s,
                        "image": name,
                    }
                )
        if self.on_progress is not None:
            self.on_progress(len(self.captures), len(self.captures))
        return AttackReport(pd.DataFrame(rows, columns=ATTACK_COLUMNS), images)


def image_grid(originals: torch.Tensor, reconstructions: torch.Tensor, pad: int = 1) -> np.ndarray:
    """Originals (n, C, H, W) in the top row, reconstructions below, ``pad`` white pixels
    between: (2 (H + pad) + pad, n (W + pad) + pad, C) float in [0, 1]."""
    n, c, h, w = originals.shape
    grid = np.ones((2 * (h + pad) + pad, n * (w + pad) + pad, c))
    for row, images in enumerate((originals, reconstructions)):
        for i in range(n):
            top, left = pad + row * (h + pad), pad + i * (w + pad)
            grid[top : top + h, left : left + w] = images[i].permute(1, 2, 0).numpy()
    return grid


def write_attacks(report: AttackReport, folder: Path) -> None:
    """``folder/attacks.parquet`` (rows appended to any earlier attacks there, an attack of
    the same capture, method and position replaced) and one PNG grid per capture."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "attacks.parquet"
    rows = report.rows
    if table.exists():
        old = pd.read_parquet(table)
        rows = pd.concat([old[~old["image"].isin(set(rows["image"]))], rows], ignore_index=True)
    tmp = folder / ".attacks.parquet.partial"
    rows.to_parquet(tmp, index=False)
    tmp.replace(table)  # atomic: never a half-written table
    for name, (originals, reconstructions) in report.images.items():
        grid = image_grid(originals, reconstructions)
        png = folder / f"{name}.png"
        tmp_png = folder / f".{name}.png.partial"
        if grid.shape[2] == 1:
            plt.imsave(tmp_png, grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            plt.imsave(tmp_png, grid, format="png")
        tmp_png.replace(png)


ATTACK_COLUMNS = [
    "piu",
    "round",
    "method",
    "position",
    "captured_at_s",
    "bits",
    "contributors",
    "local_steps",
    "sample",
    "true_label",
    "label",
    "label_correct",
    "mse",
    "psnr_db",
    "ssim",
    "match_loss",
    "restarts",
    "iterations",
    "attack_wall_s",
    "image",
]
