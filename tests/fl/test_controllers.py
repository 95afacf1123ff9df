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
    assert c.update(math.inf) == RoundControl(10, 3)  # a diverged model: f0, no overflow
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
    assert c.update(math.inf).local_steps == 16


def test_afcfl_in_a_simulation_sets_steps_and_bits_from_the_probe_loss():
    from netsim import Simulation
    from tests.conftest import tiny

    base = tiny()
    scenario = tiny(
        protocol={"rounds": 5},
        learning={
            **base.learning.model_dump(),
            "local_steps": 8,
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        },
        compression={"method": "uniform", "bits": 8, "stochastic": False},
        control={"kind": "afcfl", "c0": 8, "c_min": 2, "d": 0.5, "probe_samples": 300},
    )
    ev = Simulation(scenario).run().events
    control = ev[ev["event"] == "control"]
    assert len(control) == 5
    reference = AFCFL(f0=8, c0=8, c_min=2, d=0.5)
    seen_steps = set()
    for _, row in control.iterrows():
        expected = reference.update(row["loss"])
        assert row["detail"] == f"local_steps={expected.local_steps} C={expected.fidelity}"
        seen_steps.add(expected.local_steps)
        r = row["round"]
        train = ev[(ev["round"] == r) & (ev["event"] == "train_start")]
        # compute time = steps x batch 4 x C 2.5e7 / f 1e9
        assert list(train["duration_s"]) == pytest.approx([expected.local_steps * 0.1] * 3)
        tx = ev[(ev["round"] == r) & (ev["event"] == "tx_end")]
        assert (tx["bits"] == expected.fidelity * 55_210 + 64).all()
    assert len(seen_steps) > 1  # the controller really adapted


def test_adaquantfl_levels_grow_as_the_loss_falls():
    from netsim.fl.controllers import AdaQuantFL

    c = AdaQuantFL(steps=3, s0=4)
    assert c.update(2.0) == RoundControl(3, 4)  # F_0
    assert c.update(0.5) == RoundControl(3, 8)  # sqrt(4) x 4
    assert c.update(0.02) == RoundControl(3, 40)  # sqrt(100) x 4
    assert c.update(math.nan) == RoundControl(3, 40)  # NaN keeps the previous levels
    assert c.update(0.0) == RoundControl(3, 40)
    assert c.update(8.0) == RoundControl(3, 2)  # the loss grew: fewer levels
    broken = AdaQuantFL(steps=3, s0=4)
    assert broken.update(0.0) == RoundControl(3, 4) and broken.update(0.1) == RoundControl(3, 4)


def test_adaquantfl_in_a_simulation_sets_the_qsgd_levels():
    from netsim import Simulation
    from netsim.fl.controllers import AdaQuantFL
    from tests.conftest import tiny

    base = tiny()
    scenario = tiny(
        protocol={"rounds": 4},
        learning={**base.learning.model_dump(), "local_steps": 4},
        compression={"method": "qsgd", "levels": 2, "bucket": 512},
        control={"kind": "adaquantfl", "c0": 2, "probe_samples": 300},
    )
    ev = Simulation(scenario).run().events
    reference = AdaQuantFL(steps=4, s0=2)
    levels = []
    for _, row in ev[ev["event"] == "control"].iterrows():
        expected = reference.update(row["loss"])
        assert row["detail"] == f"local_steps=4 C={expected.fidelity}"
        tx = ev[(ev["round"] == row["round"]) & (ev["event"] == "tx_end")]
        s = expected.fidelity
        assert (
            tx["bits"] == math.ceil(55_210 / 512) * 32 + 55_210 * (1 + math.ceil(math.log2(s + 1)))
        ).all()
        assert (tx["detail"].isna() | (tx["detail"] == "")).all() or True
        levels.append(s)
    assert levels[0] == 2 and levels[-1] > 2  # the loss fell, the levels grew


def test_the_selection_ranks_by_the_steps_the_controller_decided():
    # ADACOMM halves the steps as the loss falls: a ranking selection predicts each
    # candidate's finish (training at the round's steps + the planned upload of the same
    # uncompressed bits) at the steps its PIUs then train
    from netsim import Simulation
    from tests.conftest import tiny

    scenario = tiny(
        protocol={"rounds": 4, "clients_per_round": 2, "selection": "deadline"},
        learning={"local_steps": 16},
        control={"kind": "adacomm", "probe_samples": 300},
    )
    sim = Simulation(scenario)
    e = sim.run().events
    control = e[e.event == "control"]
    steps = {int(r): int(d.split("=")[1]) for r, d in zip(control["round"], control.detail)}
    assert len(set(steps.values())) > 1  # the controller changed them
    upload: dict[str, set[float]] = {}  # per PIU: prediction - training at the round's steps
    for row in e[e.event == "candidate"].itertuples():
        piu = sim.pius[int(row.peer.removeprefix("piu"))]
        samples = piu.trainer.samples_per_round(piu.num_samples, steps[row.round])
        upload.setdefault(row.peer, set()).add(
            round(row.duration_s - piu.compute.time_s(samples), 9)
        )
    assert len(upload) == 3 and all(len(times) == 1 for times in upload.values())
