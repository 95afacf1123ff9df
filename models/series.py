"""A small 1-D convolutional network for short time series (FL for wireless: the "snr"
radio task's window of past SNR measurements)."""

from __future__ import annotations

from torch import Tensor, nn


class SeriesCNN(nn.Module):
    """``Conv1d(C, 16, 3) -> ReLU -> Conv1d(16, 16, 3) -> ReLU -> flatten -> Linear(16 W,
    32) -> ReLU -> Linear(32, K)`` over a series of W steps (same padding: the length is
    kept). Convolutions share their weights along the series (a pattern of fades is the
    same wherever it sits in the window) and vmap over clients like any layer.

    Parameters
    ----------
    input_shape: (C, H, W) of one sample: C channels, H rows read as more channels, W steps
        (a radio task's (1, 1, W) window).
    num_classes: K outputs (1 for the SNR regression).
    channels: convolution channels.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, channels: int = 16):
        super().__init__()
        c, h, w = input_shape
        self.steps, self.inputs = w, c * h
        self.net = nn.Sequential(
            nn.Conv1d(c * h, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(channels * w, 32),
            nn.ReLU(),
            nn.Linear(32, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> outputs (B, K)."""
        return self.net(x.reshape(x.shape[0], self.inputs, self.steps))
