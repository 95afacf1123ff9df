"""Multi-layer perceptron for flattened images."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """``flatten -> Linear(d, 200) -> ReLU -> Linear(200, 200) -> ReLU -> Linear(200, K)``.

    The two-hidden-layer MLP of McMahan et al. 2017 ("2NN"), FedAvg's MNIST baseline.

    Parameters
    ----------
    input_shape: (C, H, W) of one sample.
    num_classes: K, the number of output logits.
    hidden: width of both hidden layers.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, hidden: int = 200):
        super().__init__()
        c, h, w = input_shape
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * h * w, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> logits (B, K)."""
        return self.net(x)
