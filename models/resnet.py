"""CIFAR-style ResNet-18 (He et al. 2016), the IMP paper's model, with GroupNorm.

3x3 stem (no max-pool), four stages of two BasicBlocks (64, 128, 256, 512 channels, stride 2
from the second stage), global average pooling, linear classifier: about 11.2 M parameters
for 10 classes. GroupNorm (32 groups) replaces BatchNorm: it has no running statistics, so a
model is entirely its parameters, as federated averaging (and netsim's flat parameter
vectors) assume; BatchNorm statistics would leak between PIUs and need separate handling.
"""

from __future__ import annotations

from torch import Tensor, nn
from typing_extensions import override


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels), channels)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (1x1 projection when shapes change)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            _norm(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            _norm(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), _norm(out_channels)
            )
        self.relu = nn.ReLU()

    @override
    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images.

    Parameters
    ----------
    input_shape: (C, H, W) of one sample (CIFAR-10: (3, 32, 32)).
    num_classes: K.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels = input_shape[0]
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 64, 3, 1, 1, bias=False), _norm(64), nn.ReLU()
        )
        stages = []
        width = 64
        for out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(width, out, stride), BasicBlock(out, out, 1)]
            width = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> logits (B, K)."""
        return self.head(self.stages(self.stem(x)))
