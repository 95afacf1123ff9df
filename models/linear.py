"""A linear model: multinomial logistic regression (classification) or least squares
(regression, one output)."""

from __future__ import annotations

from torch import Tensor, nn


class LinearModel(nn.Module):
    """``flatten -> Linear(d, K)``: logits of a multinomial logistic regression, or with
    K = 1 the prediction of a linear least-squares fit (convex: FL algorithms' baselines
    have a global optimum to compare with).

    Parameters
    ----------
    input_shape: (C, H, W) of one sample; num_classes: K outputs.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = input_shape
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> outputs (B, K)."""
        return self.net(x)
