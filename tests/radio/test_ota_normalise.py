"""The normalisation of updates before an over-the-air transmission (netsim/radio/ota.py):
unit mean power per entry, and a weighted sum the receiver can undo exactly."""

from __future__ import annotations

import numpy as np
import pytest


def test_normalised_updates_have_unit_power_and_the_receiver_undoes_it():
    from netsim.radio.ota import normalise

    rng = np.random.default_rng(3)
    deltas = rng.normal(0.2, [[1.0], [3.0], [0.5]], size=(3, 1000))
    sizes = np.array([10.0, 30.0, 60.0])
    n = normalise(deltas, sizes)
    assert n.phi.sum() == pytest.approx(1.0) and n.phi[2] == pytest.approx(0.6)
    power = (n.x**2).mean(axis=1)
    assert power.max() == pytest.approx(1.0)  # the widest update sets the scale
    np.testing.assert_allclose(n.scale * (n.phi @ n.x) + n.offset, n.phi @ deltas, rtol=1e-12)
