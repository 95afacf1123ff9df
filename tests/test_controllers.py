"""AFC-FL and ADACOMM: the worked example of COMPRESSION.md and the guards."""

from __future__ import annotations

import math

import pytest

from netsim.fl.controllers import ADACOMM, AFCFL, RoundControl


@pytest.mark.parametrize(("ratio", "expected"), [(1.0, (10, 3)), (0.25, (5, 6)), (0.01, (1, 8))])
def test_afcfl_worked_example(ratio, expected):
    c = AFCFL(f0=10, c0=8, c_min=2, d=0.5)
    c.update(2.0)  # round 0 sets F(X_0) = 2
    out = c.update(2.0 * ratio)
    assert (out.local_steps, out.fidelity) == expected


def test_afcfl_guards():
    c = AFCFL(f0=10, c0=8, c_min=2, d=0.5)
    c.update(1.0)
    assert c.update(4.0) == RoundControl(10, 3)  # loss grew: f capped at f0
    small = c.update(0.25)
    assert c.update(math.nan) == small  # NaN keeps the previous setting
    zero = AFCFL(f0=10, c0=8, c_min=2, d=0.5)
    assert zero.update(0.0) == RoundControl(10, 3) == zero.update(0.5)  # F(X_0) = 0: unusable


def test_adacomm():
    c = ADACOMM(tau0=16)
    assert c.update(1.0).local_steps == 16
    assert c.update(0.25).local_steps == 8
    assert c.update(1e-6).local_steps == 1
    assert c.update(9.0).local_steps == 16
