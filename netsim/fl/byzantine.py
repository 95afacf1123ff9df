"""Byzantine PIUs: simple corrupted updates to test the robust aggregation rules against
(Blanchard et al. 2017; Xie et al. 2019 "Fall of empires" for the scaled and noise ones).

A Byzantine PIU trains as usual and then sends, instead of its delta ``d`` (P,):

* "sign_flip": ``-scale d`` (gradient ascent);
* "gaussian": ``N(0, scale^2)`` noise per entry (its delta thrown away), drawn from its
  keyed stream per (PIU, round);
* "scaled": ``scale d`` (a boosted update).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BYZANTINE_KINDS = ("sign_flip", "gaussian", "scaled")


@dataclass(frozen=True)
class ByzantineUpdate:
    """A Byzantine PIU's corruption: ``kind`` (see the module docstring) and ``scale``."""

    kind: str
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in BYZANTINE_KINDS:
            raise ValueError(f"unknown Byzantine behaviour {self.kind!r}; {BYZANTINE_KINDS}")

    def corrupt(self, delta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """What is sent instead of ``delta`` (P,), same shape and dtype."""
        if self.kind == "sign_flip":
            return -self.scale * delta
        if self.kind == "scaled":
            return self.scale * delta
        noise = torch.randn(delta.shape, generator=gen, dtype=torch.float32)
        return (self.scale * noise).to(delta.dtype)
