"""LeNet-5 (LeCun et al. 1998) for 28x28 (or larger) images."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn


class LeNet5(nn.Module):
    """Conv(6, 5x5, pad 2) -> pool -> Conv(16, 5x5) -> pool -> FC 120 -> FC 84 -> FC K.

    With 28x28 inputs this is the classic 61,706-parameter LeNet-5 for MNIST. The sigmoid
    variant is the smooth network gradient-inversion attacks (DLG) are demonstrated on.

    Parameters
    ----------
    input_shape: (C, H, W) of one sample, H and W >= 28.
    num_classes: K.
    activation: "relu" (default) or "sigmoid".
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        activation: Literal["relu", "sigmoid"] = "relu",
    ):
        super().__init__()
        c, h, w = input_shape
        act: type[nn.Module] = nn.ReLU if activation == "relu" else nn.Sigmoid
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, kernel_size=5, padding=2),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            act(),
            nn.MaxPool2d(2),
        )
        out_h, out_w = (h // 2 - 4) // 2, (w // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * out_h * out_w, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> logits (B, K)."""
        return self.classifier(self.features(x))


class DLGLeNet(nn.Module):
    """The "LeNet" of Deep Leakage from Gradients (Zhu et al. 2019), the network
    gradient-inversion attacks are usually demonstrated on: three 5x5 sigmoid convolutions
    of 12 channels (padding 2, strides 2, 2, 1), then one linear layer. Smooth (no pooling,
    no ReLU), so the gradient determines the input well. Registered as ``lenet_dlg`` with
    DLG's initialisation, every parameter ~ U(-0.5, 0.5).

    Parameters
    ----------
    input_shape: (C, H, W) of one sample.
    num_classes: K.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 12, kernel_size=5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, padding=2, stride=1),
            nn.Sigmoid(),
            nn.Flatten(),
        )
        out_h, out_w = (h + 1) // 2, (w + 1) // 2
        out_h, out_w = (out_h + 1) // 2, (out_w + 1) // 2
        self.classifier = nn.Linear(12 * out_h * out_w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> logits (B, K)."""
        return self.classifier(self.features(x))
