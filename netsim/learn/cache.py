"""Training-result cache: reuse local updates whose inputs are identical.

A local update is a pure function of (architecture, training set, optimizer, batch size,
device and trainer kind: the trainer's *fingerprint*) and of the job (PIU, round, local steps,
the PIU's sample indices, the exact bytes of the starting global model, its pruning mask and
any injected samples). The round and PIU key the mini-batch stream, so they are part of the
job key. Two runs that share a key would compute bit-identical results, so reusing one is
exact; any difference in any input gives another key (no stale reuse).

Uses: resuming an interrupted run (the timeline is replayed deterministically and every
update trained before the interruption is read back), and what-if runs that change only
timing, radio or energy parameters.

Storage: one ``<key>.pt`` file per result (weights float32 (P,), loss, samples), written
atomically (temporary name, then rename).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from netsim.learn.trainer import TrainJob, TrainResult


class TrainingCache:
    """A directory of training results keyed by content.

    Parameters
    ----------
    directory: where results are stored (created if missing).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(
                f"training cache '{self.directory}' is a file; expected a folder (new, or "
                "one an earlier run cached into)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def key(self, fingerprint: str, job: TrainJob) -> str:
        """Content key of ``job`` under a trainer ``fingerprint`` (hex SHA-256)."""
        h = hashlib.sha256()
        h.update(fingerprint.encode())
        h.update(np.asarray([job.piu, job.round, job.local_steps], dtype=np.int64).tobytes())
        if job.repeat:  # (only then, so that the keys of round-based jobs stay as they were)
            h.update(np.asarray([job.repeat], dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(job.indices, dtype=np.int64).tobytes())
        h.update(job.weights.detach().cpu().contiguous().numpy().tobytes())
        if job.mask is not None:
            h.update(job.mask.cpu().numpy().tobytes())
        for rule in job.rules:  # the algorithm's changes to local training, in order
            h.update(rule.key())
        if job.extra is not None:  # injected samples, by content
            for t in job.extra:
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def get(self, key: str) -> TrainResult | None:
        """The stored result of the job with ``key``, or None."""
        path = self.directory / f"{key}.pt"
        if not path.is_file():
            self.misses += 1
            return None
        saved = torch.load(path, weights_only=True)
        self.hits += 1
        return TrainResult(saved["weights"], float(saved["loss"]), int(saved["samples"]))

    def put(self, key: str, result: TrainResult) -> None:
        """Store ``result`` under ``key`` (atomically: a crash leaves no half-written entry)."""
        path = self.directory / f"{key}.pt"
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        # clone: the weights may be a row of a batched chunk, and torch.save writes a view's
        # whole storage
        weights = result.weights.clone()
        try:
            torch.save({"weights": weights, "loss": result.loss, "samples": result.samples}, tmp)
        except (OSError, RuntimeError) as exc:
            from netsim.storage import disk_full

            tmp.unlink(missing_ok=True)
            full = disk_full(exc, tmp)
            if full is None:
                raise
            raise full from None
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.pt"))
