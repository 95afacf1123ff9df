"""Compressors: round trips and bit counts by hand, unbiasedness, error feedback, airtime."""

from __future__ import annotations

import math

import pytest
import torch

from netsim import Simulation
from netsim.compress import (
    QSGD,
    ErrorFeedback,
    IdentityCompressor,
    RandomK,
    Threshold,
    TopK,
    UniformQuantizer,
    sparse_bits,
)
from netsim.rng import Streams
from tests.conftest import tiny

X = torch.tensor([0.5, -2.0, 0.0, 1.0, -0.25, 3.0, 0.125, -1.0])  # n = 8


def test_identity():
    p = IdentityCompressor().compress(X)
    assert p.bits == 32 * 8 and torch.equal(IdentityCompressor().decompress(p), X)


def test_uniform_deterministic_round_trip_and_bits():
    q = UniformQuantizer(bits=2, stochastic=False, streams=Streams(0))
    p = q.compress(X)
    assert p.bits == 2 * 8 + 64  # 2 bits per entry + min and span as float32
    # levels over [-2, 3] with step 5/3: -2, -1/3, 4/3, 3; nearest level of each entry
    expected = torch.tensor([4 / 3, -2.0, -1 / 3, 4 / 3, -1 / 3, 3.0, -1 / 3, -1 / 3])
    assert torch.allclose(q.decompress(p), expected, atol=1e-6)


def test_uniform_with_many_bits_is_nearly_exact():
    q = UniformQuantizer(bits=16, stochastic=False, streams=Streams(0))
    assert torch.allclose(q.decompress(q.compress(X)), X, atol=5 / 65535)


@pytest.mark.parametrize(
    "compressor",
    [UniformQuantizer(3, True, Streams(1)), QSGD(levels=2, bucket=3, streams=Streams(1))],
    ids=["uniform_stochastic", "qsgd"],
)
def test_stochastic_quantizers_are_unbiased(compressor):
    draws = torch.stack(
        [compressor.decompress(compressor.compress(X, piu=0, round_index=r)) for r in range(4000)]
    )
    mean, sd = draws.mean(0), draws.std(0)
    assert (torch.abs(mean - X) <= 4 * sd / math.sqrt(4000) + 1e-6).all()


def test_qsgd_bits_and_decoding_grid():
    q = QSGD(levels=3, bucket=3, streams=Streams(2))
    p = q.compress(X)
    # ceil(8/3) = 3 norms x 32 + 8 x (1 sign + ceil(log2 4) = 2 level bits) = 96 + 24
    assert p.bits == 3 * 32 + 8 * 3 == q.planned_bits(8)
    out = q.decompress(p)
    norms = torch.stack([X[0:3].norm(), X[3:6].norm(), X[6:8].norm()]).repeat_interleave(3)[:8]
    levels = out / norms * 3
    assert torch.allclose(levels, levels.round(), atol=1e-5)  # on the grid norm * l / s
    assert (torch.sign(out) * torch.sign(X) >= 0).all()


def test_sparse_encodings_by_hand():
    # n = 1000, k = 10, 32-bit values: dense 32000, bitmap 1000 + 320 = 1320,
    # int32 index 10 x 64 = 640, log2 index 10 x (32 + 10) = 420 -> log2n_index
    assert sparse_bits(1000, 10) == (420, "log2n_index")
    # n = 1000, k = 500: bitmap 1000 + 16000 = 17000 beats 500 x 42 = 21000
    assert sparse_bits(1000, 500) == (17000, "bitmap")
    # k = n: dense 32000 is the cheapest
    assert sparse_bits(1000, 1000) == (32000, "dense_fp32")


def test_topk_round_trip_and_bits():
    t = TopK(ratio=0.25)  # k = 2 of 8: entries 3.0 and -2.0
    p = t.compress(X)
    out = t.decompress(p)
    assert torch.equal(out, torch.tensor([0, -2.0, 0, 0, 0, 3.0, 0, 0]))
    # n = 8: bitmap 8 + 64 = 72, int32 2 x 64 = 128, log2 2 x (32 + 3) = 70 -> 70
    assert p.bits == 70 and p.encoding == "topk_log2n_index"


def test_randomk_sends_only_values_and_is_keyed():
    r = RandomK(ratio=0.5, streams=Streams(3))
    p = r.compress(X, piu=2, round_index=5)
    assert p.bits == 4 * 32
    out = r.decompress(p)
    kept = out != 0
    assert torch.equal(out[kept], X[kept]) and int((out != 0).sum()) <= 4
    again = r.compress(X, piu=2, round_index=5)
    assert torch.equal(again.tensors[1], p.tensors[1])  # the receiver regenerates them
    assert not torch.equal(r.compress(X, piu=3, round_index=5).tensors[1], p.tensors[1])


def test_threshold():
    t = Threshold(threshold=1.0)
    out = t.decompress(t.compress(X))
    assert torch.equal(out, torch.tensor([0, -2.0, 0, 1.0, 0, 3.0, 0, -1.0]))


def test_error_feedback_conserves_the_sum_of_updates():
    ef = ErrorFeedback(TopK(ratio=0.25))
    g = torch.Generator().manual_seed(0)
    sent = torch.zeros(8)
    true = torch.zeros(8)
    for r in range(20):
        u = torch.randn(8, generator=g)
        true += u
        sent += ef.decompress(ef.compress(u, piu=1, round_index=r))
    assert torch.allclose(sent + ef.residuals[1], true, atol=1e-5)
    assert 1 not in ErrorFeedback(TopK(0.5)).residuals  # state is per PIU


def test_halving_the_payload_bits_halves_the_airtime_on_the_same_channel():
    base = tiny()
    airtimes = {}
    for bits in (16, 8):
        scenario = tiny(compression={"method": "uniform", "bits": bits, "stochastic": False})
        ev = Simulation(scenario).run().events
        tx = ev[ev["event"] == "tx_end"].iloc[0]  # piu0, same start time and channel
        airtimes[bits] = (tx["duration_s"], tx["bits"])
    (t16, b16), (t8, b8) = airtimes[16], airtimes[8]
    assert b16 == 16 * 55_210 + 64 and b8 == 8 * 55_210 + 64
    assert t8 / t16 == pytest.approx(b8 / b16, rel=1e-12)  # about one half
    assert base.compression.method == "none"


def test_emq_by_hand():
    from netsim.compress import EMQ

    e = EMQ(threshold=0.1, mantissa_bits=3, exponent_bits=4)
    p = e.compress(X)
    # |x| >= 0.1 x 3 = 0.3: 5 significant (0.5, -2, 1, 3, -1), 3 not.
    # bits = 8 (bitmap) + 3 x 1 (signs) + 5 x (1 + 4 + 3) + 32 = 83
    assert p.bits == 83
    # 3 = 0.75 x 2^2: mantissa 0.75 is exact in 3 bits; insignificant -> +-0.3 / 2, and 0 -> 0
    expected = torch.tensor([0.5, -2.0, 0.0, 1.0, -0.15, 3.0, 0.15, -1.0])
    assert torch.allclose(e.decompress(p), expected)
    dropped = EMQ(threshold=0.1, mantissa_bits=3, insignificant="drop")
    assert dropped.compress(X).bits == 8 + 5 * 8 + 32
    assert dropped.decompress(dropped.compress(X))[4] == 0


def test_emq_mantissa_error_is_bounded_by_its_bits():
    from netsim.compress import EMQ

    x = torch.linspace(0.01, 1.0, 1000)
    for m in (2, 4, 8):
        out = EMQ(threshold=0.005, mantissa_bits=m).decompress(EMQ(0.005, m).compress(x))
        # mantissa in [0.5, 1) on a 2^-(m+1) grid: relative error <= 2^-(m+1) / 0.5 / 2
        assert ((out - x).abs() / x).max() <= 2.0 ** -(m + 1) + 1e-6


def test_significance_quantizer_by_hand():
    from netsim.compress import SignificanceQuantizer

    s = SignificanceQuantizer(threshold=0.1, bits=4)
    p = s.compress(X)
    assert p.bits == 8 + 3 + 5 * (1 + 4) + 32  # bitmap, signs, sign + 4-bit magnitude, max
    out = s.decompress(p)
    # 0.5 -> round(0.5 / 3 x 15) = 2 -> 2 x 3 / 15 = 0.4; insignificant -> +-0.15
    assert torch.allclose(out, torch.tensor([0.4, -2.0, 0.0, 1.0, -0.15, 3.0, 0.15, -1.0]))


def test_a_round_fidelity_overrides_the_compressors_knob_and_still_decodes():
    from netsim.compress import EMQ

    u = UniformQuantizer(bits=8, stochastic=False, streams=Streams(0))
    p = u.compress(X, fidelity=2)
    assert p.bits == 2 * 8 + 64 and torch.allclose(
        u.decompress(p),
        UniformQuantizer(2, False, Streams(0)).decompress(
            UniformQuantizer(2, False, Streams(0)).compress(X)
        ),
    )
    t = TopK(ratio=0.25)
    assert int((t.decompress(t.compress(X, fidelity=50)) != 0).sum()) == 4  # 50 % kept
    e = EMQ(threshold=0.1, mantissa_bits=8)
    assert e.compress(X, fidelity=3).bits == 83  # as EMQ(0.1, 3) by hand above
    assert torch.allclose(
        e.decompress(e.compress(X, fidelity=3)), EMQ(0.1, 3).decompress(EMQ(0.1, 3).compress(X))
    )


def test_dgc_momentum_correction_masking_and_warmup():
    from netsim.compress import DGC

    d = DGC(ratio=0.25, momentum=0.5, warmup_rounds=0, warmup_ratio=0.25)
    first = d.decompress(d.compress(X, piu=0, round_index=0))  # u = v = X: top-2 are 3.0, -2.0
    assert torch.equal(first, torch.tensor([0, -2.0, 0, 0, 0, 3.0, 0, 0]))
    # Round 1 with the same X: u = 0.5 u + X (u masked to 0 where sent), v = v + u
    u = X.clone()
    u[[1, 5]] = 0
    u = 0.5 * u + X
    v = X.clone()
    v[[1, 5]] = 0
    v = v + u
    second = d.decompress(d.compress(X, piu=0, round_index=1))
    top = torch.topk(v.abs(), 2).indices
    expected = torch.zeros(8)
    expected[top] = v[top]
    assert torch.allclose(second, expected)
    warm = DGC(ratio=0.001, momentum=0.9, warmup_rounds=4, warmup_ratio=0.25)
    assert [round(warm.ratio_at(r), 6) for r in (0, 2, 4, 9)] == [
        0.25,
        round(0.25 * (0.004) ** 0.5, 6),
        0.001,
        0.001,
    ]


def test_laq_quantizes_the_innovation_by_hand():
    from netsim.compress import LAQ

    x0 = torch.tensor([0.5, -2.0, 0.2, 1.0, -0.25, 3.0, 0.125, -1.0])  # no ties on the grid
    laq = LAQ(bits=2)  # levels -R, -R/3, R/3, R (R = ||y||_inf)
    first = laq.compress(x0, piu=0, round_index=0)  # reference 0: y = x0, R = 3
    assert first.bits == 2 * 8 + 32
    r = 3.0
    grid = torch.tensor([-r, -r / 3, r / 3, r])
    expected = grid[(x0[:, None] - grid).abs().argmin(1)]
    assert torch.allclose(laq.decompress(first), torch.tensor([1, -3, 1, 1, -1, 3, 1, -1.0]))
    assert torch.allclose(laq.decompress(first), expected)
    # Round 1: the innovation is taken against the decoded round-0 update.
    x1 = x0 + 0.3  # innovation off the grid midpoints too
    second = laq.compress(x1, piu=0, round_index=1)
    y = x1 - expected
    r1 = float(y.abs().max())
    grid1 = torch.tensor([-r1, -r1 / 3, r1 / 3, r1])
    assert torch.allclose(
        laq.decompress(second), expected + grid1[(y[:, None] - grid1).abs().argmin(1)]
    )
    # The error after the innovation step is at most R / 3 per entry (half a level spacing).
    assert float((laq.decompress(second) - x1).abs().max()) <= r1 / 3 + 1e-6
    assert 1 not in laq.reference  # state per PIU


def test_laq_with_a_constant_update_converges_to_it():
    from netsim.compress import LAQ

    laq = LAQ(bits=2)
    errors = [float((laq.decompress(laq.compress(X, 0, r)) - X).abs().max()) for r in range(6)]
    # Each round the innovation radius shrinks by at least 3x (2-bit grid, error <= R/3).
    assert all(b <= a / 3 + 1e-6 for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 3.0 / 3**6 + 1e-6


def test_aquila_bits_from_the_innovation_norms():
    from netsim.compress import AQUILA

    aq = AQUILA()
    # y = X: R = 3, ||y||_2 = sqrt(15.328125), b = floor(log2(1 + 3 sqrt(8) / ||y||_2)) = 1
    p = aq.compress(X, 0, 0)
    norm = math.sqrt(float((X**2).sum()))
    b = math.floor(math.log2(1 + 3 * math.sqrt(8) / norm))
    assert b == 1 and p.bits == b * 8 + 40 and p.encoding == "aquila_b1"
    # A spiky innovation (one large entry among small ones) gets more bits.
    spike = torch.full((1024,), 1e-3)
    spike[0] = 1.0
    q = AQUILA().compress(spike, 0, 0)
    expected = math.floor(math.log2(1 + math.sqrt(1024) / math.sqrt(1 + 1023e-6)))
    assert expected == 5 and q.bits == 5 * 1024 + 40
    assert AQUILA().planned_bits(1024) == 5 * 1024 + 40  # bound: R sqrt(n) / ||y|| <= sqrt(n)


@pytest.mark.parametrize("make", ["ef", "laq"])
def test_undo_restores_the_state_of_a_payload_that_never_arrived(make):
    """A lost payload leaves the per-PIU state as if it had not been compressed; an undo
    for another round (or a second undo) changes nothing."""
    from netsim.compress import LAQ

    compressor = {"ef": lambda: ErrorFeedback(TopK(ratio=0.25)), "laq": lambda: LAQ(bits=2)}[make]
    g = torch.Generator().manual_seed(1)
    u0, u1, u2 = (torch.randn(8, generator=g) for _ in range(3))
    with_loss, without = compressor(), compressor()
    with_loss.compress(u0, 0, 0)
    with_loss.compress(u1, 0, 1)
    with_loss.undo(0, 0)  # stale: no effect
    with_loss.undo(0, 1)
    with_loss.undo(0, 1)  # twice: no effect
    without.compress(u0, 0, 0)
    # EF keeps the lost update to send it later; LAQ's reference is still the round-0 decode.
    later = u1 + u2 if make == "ef" else u2
    a = with_loss.decompress(with_loss.compress(u2, 0, 2))
    b = without.decompress(without.compress(later, 0, 2))
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("make", ["ef", "dgc"])
def test_lossy_uploads_conserve_what_was_delivered(make):
    """Delivered updates + the kept state (EF residual, DGC accumulator without momentum)
    sum to the true updates when every third upload is lost and undone."""
    from netsim.compress import DGC

    if make == "ef":
        ef = ErrorFeedback(TopK(ratio=0.25))
        compressor, state = ef, lambda: ef.residuals[2]
    else:
        dgc = DGC(ratio=0.25, momentum=0.0, warmup_rounds=0, warmup_ratio=0.25)
        compressor, state = dgc, lambda: dgc.v[2]
    g = torch.Generator().manual_seed(3)
    delivered = torch.zeros(8)
    true = torch.zeros(8)
    for r in range(12):
        u = torch.randn(8, generator=g)
        true += u
        payload = compressor.compress(u, piu=2, round_index=r)
        if r % 3 == 1:
            compressor.undo(2, r)  # lost on the air
        else:
            delivered += compressor.decompress(payload)
    assert torch.allclose(delivered + state(), true, atol=1e-5)


def test_qsgd_levels_follow_the_rounds_fidelity():
    q = QSGD(levels=1, bucket=4, streams=Streams(0))
    p = q.compress(X, fidelity=7)
    # 2 buckets x 32 + 8 x (1 sign + ceil(log2 8) = 3 level bits)
    assert p.bits == 2 * 32 + 8 * 4 == q.planned_bits(8, 7) and p.encoding == "qsgd_s7_d4"
    out = q.decompress(p)
    norms = torch.linalg.vector_norm(X.reshape(2, 4), dim=1).repeat_interleave(4)
    levels = out * 7 / norms
    assert torch.allclose(levels, levels.round(), atol=1e-5)  # on the 7-level grid
    assert (out.sign() * X.sign() >= 0).all()


@pytest.mark.parametrize("method", ["laq", "aquila"])
def test_innovation_quantizers_in_a_simulation(method):
    """Two rounds: the payload bits on the air are b n + header, b fixed (LAQ) or from the
    innovation (AQUILA, logged in the encoding)."""
    scenario = tiny(protocol={"rounds": 2}, compression={"method": method})
    res = Simulation(scenario).run()
    tx = res.events[res.events["event"] == "tx_end"]
    start = res.events[res.events["event"] == "tx_start"]
    assert len(tx) == 6
    for bits, encoding in zip(tx["bits"], start["detail"], strict=True):
        b = int(encoding.split("_b")[1])
        assert encoding.startswith(method)
        assert bits == b * 55_210 + (32 if method == "laq" else 40)
        if method == "laq":
            assert b == 4


def test_laq_error_in_a_simulation_shrinks_with_its_bits():
    """The global model's distance from the uncompressed run, relative to how far that run
    moved, falls about 2^4 = 16x from 8 to 12 bits (the grid step halves per bit)."""
    sim = Simulation(tiny(protocol={"rounds": 2}))
    w0 = sim.server.weights.clone()
    exact = sim.run().weights
    err = {}
    for bits in (8, 12):
        w = Simulation(tiny(protocol={"rounds": 2}, compression={"method": "laq", "bits": bits}))
        err[bits] = float(
            torch.linalg.norm(w.run().weights - exact) / torch.linalg.norm(exact - w0)
        )
    assert err[8] < 0.2
    assert 8 < err[8] / err[12] < 32
