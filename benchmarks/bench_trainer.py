"""Sequential vs batched (vmap) local training on one round of many PIUs.

    python benchmarks/bench_trainer.py [--pius 100] [--samples 40] [--batch 10] [--steps 4]

Workload of issue 8: each PIU holds ``--samples`` MNIST-5k images and runs ``--steps``
mini-batch steps of LeNet-5 (SGD + momentum). Prints seconds per round for the sequential
trainer and for the batched trainer at several chunk sizes, and the largest weight difference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from netsim.models import MODELS

from netsim.learn.batched import BatchedTrainer
from netsim.learn.datasets import load_dataset
from netsim.learn.trainer import OptimizerSpec, Trainer, TrainJob
from netsim.rng import Streams


def _round(trainer: Trainer, jobs: list[TrainJob]) -> tuple[float, list[torch.Tensor]]:
    start = time.perf_counter()
    handles = [trainer.submit(j) for j in jobs]
    weights = [h.result().weights for h in handles]
    return time.perf_counter() - start, weights


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pius", type=int, default=100)
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    p.add_argument("--chunks", default="10,25,50,100,200", help="comma-separated chunk sizes")
    p.add_argument("--no-sequential", action="store_true", help="skip the sequential trainer")
    args = p.parse_args()
    data = load_dataset("mnist5k")
    opt = OptimizerSpec("sgd", 0.05, momentum=0.9)

    def model():
        return MODELS[args.model].build((1, 28, 28), 10, torch.Generator().manual_seed(0))

    seq = Trainer(model(), data, data, args.batch, opt, Streams(0))
    w = seq.initial_weights()
    jobs = [
        TrainJob(
            k, 0, w, np.arange(k * args.samples, (k + 1) * args.samples) % len(data), args.steps
        )
        for k in range(args.pius)
    ]
    print(f"{args.pius} PIUs x {args.steps} steps x batch {args.batch}, {args.model}")
    ref, t_seq = None, None
    if not args.no_sequential:
        _round(seq, jobs[:2])  # warm-up (lazy torch imports)
        t_seq, ref = min((_round(seq, jobs) for _ in range(args.repeat)), key=lambda r: r[0])
        print(f"sequential          {t_seq:7.3f} s/round")
    for chunk in [int(c) for c in args.chunks.split(",")]:
        bat = BatchedTrainer(model(), data, data, args.batch, opt, Streams(0), chunk_size=chunk)
        _round(bat, jobs[:2])
        t, got = min((_round(bat, jobs) for _ in range(args.repeat)), key=lambda r: r[0])
        ref = got if ref is None else ref
        diff = max(float((a - b).abs().max()) for a, b in zip(ref, got, strict=True))
        speed = f"x{t_seq / t:4.2f}" if t_seq else ""
        print(f"batched chunk {chunk:4d}  {t:7.3f} s/round  {speed}  max |dw| {diff:.1e}")


if __name__ == "__main__":
    main()
