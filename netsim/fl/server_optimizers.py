"""Server optimisers of adaptive federated optimisation (Reddi et al. 2021, "Adaptive
Federated Optimization", Algorithm 2) and server momentum (FedAvgM, Hsu et al. 2019).

The server treats the round's aggregated update ``Delta_t = w_agg - w_t`` (the FedAvg, or
robust, combination of the PIUs' deltas) as a pseudo-gradient:

* "sgd": ``w_{t+1} = w_t + lr Delta_t`` (lr = 1: plain FedAvg);
* "avgm": ``m_t = beta1 m_{t-1} + Delta_t``, ``w_{t+1} = w_t + lr m_t``;
* "adagrad": ``v_t = v_{t-1} + Delta_t^2``;
* "adam": ``v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2``;
* "yogi": ``v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2)``;

and for the last three ``m_t = beta1 m_{t-1} + (1 - beta1) Delta_t``,
``w_{t+1} = w_t + lr m_t / (sqrt(v_t) + tau)``, with ``m_{-1} = 0`` and ``v_{-1} = tau^2``
(the paper's initialisation; no bias correction). Element-wise, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

SERVER_OPTIMIZERS = ("sgd", "avgm", "adagrad", "adam", "yogi")


@dataclass
class ServerOptimizer:
    """One of :data:`SERVER_OPTIMIZERS` with its state (the moments m and v, (P,) float64).

    Parameters
    ----------
    name: the rule (see the module docstring); lr: server learning rate eta; beta1, beta2:
    moment decay rates; tau: adaptivity (the smallest denominator).
    """

    name: str = "sgd"
    lr: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    m: torch.Tensor | None = field(default=None, repr=False)
    v: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name not in SERVER_OPTIMIZERS:
            raise ValueError(f"unknown server optimizer {self.name!r}; {SERVER_OPTIMIZERS}")

    @property
    def is_identity(self) -> bool:
        """True for plain FedAvg (sgd with lr 1): the aggregate is the new model."""
        return self.name == "sgd" and self.lr == 1.0

    def step(self, weights: torch.Tensor, aggregated: torch.Tensor) -> torch.Tensor:
        """The new global model (P,) from the current one and the round's aggregate."""
        if self.is_identity:
            return aggregated
        w = weights.to(torch.float64)
        delta = aggregated.to(torch.float64) - w
        if self.name == "sgd":
            return (w + self.lr * delta).to(weights.dtype)
        m = torch.zeros_like(delta) if self.m is None else self.m
        if self.name == "avgm":
            self.m = self.beta1 * m + delta
            return (w + self.lr * self.m).to(weights.dtype)
        self.m = self.beta1 * m + (1 - self.beta1) * delta
        v = torch.full_like(delta, self.tau**2) if self.v is None else self.v
        square = delta * delta
        if self.name == "adagrad":
            self.v = v + square
        elif self.name == "adam":
            self.v = self.beta2 * v + (1 - self.beta2) * square
        else:  # yogi
            self.v = v - (1 - self.beta2) * square * torch.sign(v - square)
        return (w + self.lr * self.m / (self.v.sqrt() + self.tau)).to(weights.dtype)
