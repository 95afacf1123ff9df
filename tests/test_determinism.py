"""Same seed => identical event log; another seed => a different one; keyed streams."""

from __future__ import annotations

import numpy as np

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
