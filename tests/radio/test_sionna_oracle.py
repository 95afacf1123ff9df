"""Sionna SYS (``sionna-no-rt``) as an oracle: netsim's open-loop power control and its
proportional-fair RB decision equal Sionna's on the same inputs.

netsim keeps its own few lines for both: its scheduler runs inside a discrete-event loop
where the set of PIUs with data changes every slot, and Sionna's blocks take fixed user
sets per batch (and importing Sionna takes seconds); Sionna checks that they agree.
"""

from __future__ import annotations

import numpy as np
import pytest

sionna_sys = pytest.importorskip("sionna.sys")
torch = pytest.importorskip("torch")


def test_open_loop_power_control_equals_sionnas():
    from netsim.radio.links import OpenLoopPowerControl
    from netsim.radio.pathloss import dbm_to_w

    rng = np.random.default_rng(0)
    pathloss_db = rng.uniform(70, 130, size=50)
    n_prb, p0_prb, alpha, p_max_dbm = 25, -90.0, 0.8, 23.0
    theirs = sionna_sys.open_loop_uplink_power_control(
        torch.tensor(10 ** (pathloss_db / 10)),
        torch.full((50,), 12 * n_prb),
        alpha=alpha,
        p0_dbm=p0_prb,
        ut_max_power_dbm=p_max_dbm,
        precision="double",
    ).numpy()
    # netsim's P0 is per band: the per-PRB target plus 10 log10(#PRB)
    control = OpenLoopPowerControl(dbm_to_w(p0_prb + 10 * np.log10(n_prb)), alpha)
    ours = [control.power_w(dbm_to_w(p_max_dbm), 10 ** (-pl / 10)) for pl in pathloss_db]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    capped = np.isclose(theirs, dbm_to_w(p_max_dbm), rtol=1e-12)
    assert capped.any() and not capped.all()  # both sides of the cap are checked


def test_proportional_fair_decisions_equal_sionnas():
    from netsim.radio.policies import ProportionalFair

    rng = np.random.default_rng(1)
    n_ut, n_rb = 4, 25
    estimate = rng.uniform(1e5, 1e6, size=(n_ut, n_rb))  # achievable rate per RB
    average = rng.uniform(1e6, 5e6, size=n_ut)  # each user's throughput average T
    ours = ProportionalFair()
    ours.average = dict(enumerate(average))
    decision = ours.choose(0, list(range(n_ut)), estimate)
    beta = 0.5  # Sionna updates T = beta T_past + (1 - beta) r_last with T_past = 1
    pf = sionna_sys.PFSchedulerSUMIMO(n_ut, n_rb, 1, beta=beta, precision="double")
    last = torch.tensor((average - beta) / (1 - beta))
    scheduled = pf(last, torch.tensor(estimate.T[None, :, :]))  # (sym, rb, ut, stream)
    theirs = scheduled[0, :, :, 0].numpy().argmax(axis=1)
    np.testing.assert_array_equal(decision, theirs)
