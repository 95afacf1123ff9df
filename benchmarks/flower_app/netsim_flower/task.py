"""The model and data of the workload: netsim's LeNet-5 (models/lenet.py, 61,706 weights)
written out in plain torch, and the partitions the harness saved."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Net(nn.Module):
    """Conv(6, 5x5, pad 2) -> pool -> Conv(16, 5x5) -> pool -> FC 120 -> FC 84 -> FC 10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@cache
def load(data_dir: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, 1, 28, 28) normalised, y (N,)) of ``name`` ("test" or "part<k>")."""
    arrays = np.load(Path(data_dir) / f"{name}.npz")
    return torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])
