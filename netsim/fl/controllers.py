"""Per-round adaptive control run by the server and broadcast with the model.

* ADACOMM (Wang & Joshi 2019): local steps ``tau_l = ceil(sqrt(F(x_l) / F(x_0)) tau_0)``.
* AFC-FL (Li et al., Security and Communication Networks 2021, doi:10.1155/2021/9919030;
  COMPRESSION.md): local iterations ``f_l = ceil(sqrt(F(X_l) / F(X_0)) f_0)`` and
  compression fidelity
  ``C_l = max(C_min, C_0 - floor(f_l D))`` (C is a fidelity knob: more = less compression).

* AdaQuantFL (Jhunjhunwala et al. 2021): quantization levels grow as the loss falls,
  ``s_l = ceil(sqrt(F(x_0) / F(x_l)) s_0)`` (the fidelity of a QSGD compressor).

F is the weighted training loss of the global model on a fixed probe set, F(X_0) the value
at round 0. Guards: F(X_0) must be > 0 (else the controller keeps the initial settings); if F
grows (ratio > 1) f is capped at f_0; a NaN loss keeps the previous f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RoundControl:
    """What the server broadcasts: local steps and (if any) compression fidelity."""

    local_steps: int
    fidelity: int | None = None


class _LossRatioController:
    """Shared guards: F(X_0) is the first loss seen; a NaN loss or an unusable F(X_0)
    (<= 0, NaN, inf) keeps the previous control. Subclasses map (F, F_0) to a control, or
    to None to keep the previous one."""

    def __init__(self, initial: RoundControl) -> None:
        self.initial_loss: float | None = None
        self.previous = initial

    def update(self, loss: float) -> RoundControl:
        """Control for the next round from the current global model's probe loss."""
        if self.initial_loss is None:
            self.initial_loss = loss
        f0_loss = self.initial_loss
        if math.isnan(loss) or not (f0_loss > 0 and math.isfinite(f0_loss)):
            return self.previous
        control = self._control(loss, f0_loss)
        if control is not None:
            self.previous = control
        return self.previous

    def _control(self, loss: float, f0_loss: float) -> RoundControl | None:
        raise NotImplementedError


class AFCFL(_LossRatioController):
    """AFC-FL adaptive frequency and compression (worked example in COMPRESSION.md:
    f0 = 10, C0 = 8, Cmin = 2, D = 0.5 gives (10, 3), (5, 6), (1, 8) at loss ratios 1, 0.25,
    0.01)."""

    def __init__(self, f0: int, c0: int, c_min: int, d: float) -> None:
        if f0 < 1 or c_min > c0 or d < 0:
            raise ValueError(
                f"AFC-FL needs f0 >= 1, c_min <= c0, d >= 0; got {f0}, {c_min}, {c0}, {d}"
            )
        self.f0, self.c0, self.c_min, self.d = f0, c0, c_min, d
        super().__init__(RoundControl(f0, self.fidelity_for(f0)))

    def fidelity_for(self, f: int) -> int:
        """The compression fidelity C for local steps ``f`` (AFC-FL couples the two)."""
        return max(self.c_min, self.c0 - math.floor(f * self.d))

    def _control(self, loss: float, f0_loss: float) -> RoundControl:
        # F grew (even to inf): never more local iterations than f0
        f = max(1, math.ceil(math.sqrt(min(loss / f0_loss, 1.0)) * self.f0))
        return RoundControl(f, self.fidelity_for(f))


class ADACOMM(_LossRatioController):
    """ADACOMM: local steps shrink with the square root of the loss ratio (same guards)."""

    def __init__(self, tau0: int) -> None:
        self.tau0 = tau0
        super().__init__(RoundControl(tau0))

    def _control(self, loss: float, f0_loss: float) -> RoundControl:
        ratio = min(loss / f0_loss, 1.0)  # F grew (even to inf): tau0 at most
        return RoundControl(max(1, math.ceil(math.sqrt(ratio) * self.tau0)))


class AdaQuantFL(_LossRatioController):
    """AdaQuantFL: QSGD levels ``s_l = ceil(sqrt(F_0 / F_l) s_0)``; local steps fixed.

    Guards as above, and a zero or infinite current loss also keeps the previous levels;
    s is at least 1.
    """

    def __init__(self, steps: int, s0: int) -> None:
        if steps < 1 or s0 < 1:
            raise ValueError(f"AdaQuantFL needs steps >= 1 and s0 >= 1, got {steps}, {s0}")
        self.steps, self.s0 = steps, s0
        super().__init__(RoundControl(steps, s0))

    def _control(self, loss: float, f0_loss: float) -> RoundControl | None:
        if not (loss > 0 and math.isfinite(loss)):
            return None
        return RoundControl(self.steps, max(1, math.ceil(math.sqrt(f0_loss / loss) * self.s0)))


Controller = AFCFL | ADACOMM | AdaQuantFL
"""Any of the server's per-round controllers (each has ``update(loss) -> RoundControl``)."""
