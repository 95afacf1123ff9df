"""Torch networks and their registry by name.

``MODELS[name].build(input_shape, num_classes, generator)`` returns a freshly initialised
``nn.Module``; initialisation draws only from the given ``torch.Generator`` (no global RNG).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from netsim.models.lenet import DLGLeNet, LeNet5
from netsim.models.linear import LinearModel
from netsim.models.mlp import MLP
from netsim.models.resnet import ResNet18
from netsim.models.series import SeriesCNN
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes
    ----------
    name: registry key used in scenarios (``learning.model``).
    factory: ``(input_shape (C, H, W), num_classes) -> nn.Module``.
    min_input_side: smallest image side (pixels) the architecture accepts.
    init: ``(model, generator)`` initialisation (default: torch's, keyed).
    """

    name: str
    factory: Callable[[tuple[int, int, int], int], nn.Module]
    min_input_side: int = 1
    init: Callable[[nn.Module, torch.Generator], None] | None = None

    def build(
        self, input_shape: tuple[int, int, int], num_classes: int, generator: torch.Generator
    ) -> nn.Module:
        """A freshly initialised network for inputs of ``input_shape`` (C, H, W) and
        ``num_classes`` outputs, its weights drawn from ``generator``."""
        model = self.factory(input_shape, num_classes)
        (self.init or init_parameters)(model, generator)
        return model


def init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every Linear/Conv/ConvTranspose layer with torch's default distribution,
    keyed.

    Weights ~ kaiming_uniform(a=sqrt(5)) and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as
    ``nn.Linear.reset_parameters`` does, but drawn from ``generator`` so the initial global
    model depends only on the run's seed.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d | nn.Conv1d | nn.ConvTranspose2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def init_uniform_half(model: nn.Module, generator: torch.Generator) -> None:
    """Every parameter ~ U(-0.5, 0.5), keyed: DLG's initialisation (Zhu et al. 2019)."""
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5, generator=generator)


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", lambda shape, k: MLP(shape, k)),
    "linear": ModelSpec("linear", lambda shape, k: LinearModel(shape, k)),
    "series_cnn": ModelSpec("series_cnn", lambda shape, k: SeriesCNN(shape, k), min_input_side=1),
    "lenet5": ModelSpec("lenet5", lambda shape, k: LeNet5(shape, k), min_input_side=28),
    "lenet5_sigmoid": ModelSpec(
        "lenet5_sigmoid", lambda shape, k: LeNet5(shape, k, activation="sigmoid"), min_input_side=28
    ),
    "lenet_dlg": ModelSpec(
        "lenet_dlg", lambda shape, k: DLGLeNet(shape, k), min_input_side=4, init=init_uniform_half
    ),
    "resnet18": ModelSpec("resnet18", lambda shape, k: ResNet18(shape, k), min_input_side=8),
}
