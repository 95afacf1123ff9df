"""Same seed => identical event log; another seed => a different one; keyed streams."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from netsim import Simulation
from netsim.log import log_digest
from netsim.radio.fading import RayleighBlockFading
from netsim.rng import Stream, Streams
from tests.conftest import tiny


def _noisy(seed: int):
    base = tiny()
    return tiny(
        seed=seed,
        radio={**base.radio.model_dump(), "fading": "rayleigh", "shadowing_std_db": 4.0},
        device={
            **base.device.model_dump(),
            "straggler": {"dist": "shifted_exponential", "scale": 1.0},
        },
        protocol={"rounds": 2, "deadline_s": 0.5},
    )


def test_same_seed_same_log_hash_and_model():
    a = Simulation(_noisy(3)).run()
    b = Simulation(_noisy(3)).run()
    assert log_digest(a.events) == log_digest(b.events)
    assert np.array_equal(a.weights.numpy(), b.weights.numpy())


def test_other_seed_other_log():
    a = Simulation(_noisy(3)).run()
    b = Simulation(_noisy(4)).run()
    assert log_digest(a.events) != log_digest(b.events)


def test_keyed_streams_do_not_depend_on_creation_order():
    s = Streams(11)
    first = s.numpy(Stream.FADING, 2, 0).standard_normal(4)
    s.numpy(Stream.FADING, 1, 0).standard_normal(100)  # another key drawn in between
    again = s.numpy(Stream.FADING, 2, 0).standard_normal(4)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, s.numpy(Stream.FADING, 3, 0).standard_normal(4))


def test_fading_of_a_piu_is_independent_of_query_order_and_other_pius():
    a = RayleighBlockFading(Streams(5), n_aps=2)
    b = RayleighBlockFading(Streams(5), n_aps=2)
    late = a.gains(0, 300, 10)  # crosses a chunk boundary (256)
    b.gains(1, 0, 1000)  # another PIU first
    early_then_late = (b.gains(0, 0, 5), b.gains(0, 300, 10))
    assert np.array_equal(late, early_then_late[1])
    assert np.array_equal(a.gains(0, 0, 5), early_then_late[0])


def _bundled_cases() -> list[tuple[str, tuple[str, ...]]]:
    from netsim.scenario import bundled_scenarios

    cases = [(name, ()) for name in bundled_scenarios()]
    # every allocation method: its solver must not leak wall-clock figures into the log
    for method in ("sqp", "dinkelbach", "max_sum_rate", "min_max_latency"):
        cases.append(("cellfree_emq", (f'allocation.method="{method}"',)))
    return cases


@pytest.mark.parametrize(("name", "extra"), _bundled_cases(), ids=lambda v: str(v))
def test_every_bundled_scenario_gives_a_byte_identical_log_twice(name, extra):
    from netsim.scenario import load_scenario

    # cellfree_emq's allocation chooses local steps in [5, 15] itself
    steps = [] if name == "cellfree_emq" else ["learning.local_steps=2"]
    overrides = ["protocol.rounds=2", *steps, *extra]
    digests = []
    for _ in range(2):
        result = Simulation(load_scenario(name, overrides)).run()
        digests.append(hashlib.sha256(result.events.to_csv(index=False).encode()).hexdigest())
    assert digests[0] == digests[1]
