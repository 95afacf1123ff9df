"""Power / local-iteration allocation in cell-free FL: SQP against its baselines on small
instances, with every property checked independently of the solvers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from netsim.radio.allocation import (
    AllocationSettings,
    CellFreeUplink,
    RoundCosts,
    SINRModel,
    allocate,
    energies_j,
    energy_efficiency,
    latencies_s,
    objective,
)
from netsim.radio.cellfree import assign_pilots, estimation_quality, mr_sinr


def _instance(seed: int, k: int = 6, n_aps: int = 4, n: int = 2, tau_p: int = 3):
    """Random cell-free geometry: 500 m square, beta = -30.5 dB - 36.7 log10(d) (over a noise
    of -94 dBm, so beta is an SNR per W), pilots shared (tau_p < K)."""
    rng = np.random.default_rng(seed)
    aps = rng.uniform(0, 500, (n_aps, 2))
    pius = rng.uniform(0, 500, (k, 2))
    d = np.hypot(*(pius[:, None, :] - aps[None, :, :]).transpose(2, 0, 1)) + 10.0
    beta = 10 ** ((-30.5 - 36.7 * np.log10(d) + 94 + 30) / 10)  # gain over noise, per W
    rho = np.full(k, 0.1)  # 100 mW
    pilots = assign_pilots(beta, tau_p)
    gamma = estimation_quality(beta, pilots, rho, tau_p)
    model = SINRModel.from_cellfree(beta, gamma, pilots, rho, n, 20e6, tau_p, 200)
    costs = RoundCosts(
        payload_bits=rng.uniform(0.5e6, 2e6, k),
        step_time_s=rng.uniform(0.005, 0.02, k),
        step_energy_j=rng.uniform(1e-4, 5e-4, k),
        max_power_w=0.1,
    )
    return model, costs, (beta, gamma, pilots, rho, n)


SEEDS = [0, 1, 2, 3]


def test_the_model_of_a_subset_is_the_full_model_with_the_others_silent():
    model, _, (beta, gamma, pilots, rho, n) = _instance(0)
    keep = np.array([1, 3, 4])
    sub = CellFreeUplink(beta, gamma, pilots, rho, n, 20e6, 3, 200).sinr_model(keep)
    eta = np.zeros(len(rho))  # the others silent: eta = 0 in the full model
    eta[keep] = [0.3, 1.0, 0.6]
    assert np.allclose(sub.sinr(eta[keep]), model.sinr(eta)[keep], rtol=1e-12)
    assert sub.prelog_hz == model.prelog_hz


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_form_equals_the_closed_form_mr_sinr_and_its_jacobian(seed):
    model, _, (beta, gamma, pilots, rho, n) = _instance(seed)
    eta = np.random.default_rng(seed).uniform(0.05, 1.0, len(rho))
    assert np.allclose(model.sinr(eta), mr_sinr(beta, gamma, pilots, rho, eta, n), rtol=1e-12)
    jac = model.rate_jacobian(eta)
    h = 1e-7
    for j in range(len(eta)):
        step = np.zeros_like(eta)
        step[j] = h
        fd = (model.rate_bps(eta + step) - model.rate_bps(eta - step)) / (2 * h)
        assert np.allclose(jac[:, j], fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def _all(model, costs, settings):
    return {
        m: allocate(model, costs, replace(settings, method=m))
        for m in ("sqp", "full_power", "max_sum_rate", "dinkelbach", "min_max_latency")
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("steps", [(10, 10), (5, 15)])
def test_sqp_is_no_worse_than_any_baseline_and_feasible(seed, steps):
    model, costs, _ = _instance(seed)
    settings = AllocationSettings(steps=10, steps_min=steps[0], steps_max=steps[1])
    result = _all(model, costs, settings)
    assert all(r.status == "ok" for r in result.values()), {m: r.reason for m, r in result.items()}
    sqp = result["sqp"]
    value = objective(model, costs, settings, sqp.eta, sqp.steps)
    for name, r in result.items():
        # Baselines use the nominal iterations, which are feasible for SQP too.
        assert value <= objective(model, costs, settings, r.eta, r.steps) * (1 + 1e-6), name
    # Constraints, checked without the solver.
    assert np.all(sqp.eta >= settings.eta_min - 1e-12) and np.all(sqp.eta <= 1 + 1e-12)
    assert sqp.steps.dtype.kind == "i"
    assert np.all((sqp.steps >= steps[0]) & (sqp.steps <= steps[1]))
    assert sqp.steps.sum() >= 10 * len(sqp.steps)


def test_sqp_respects_energy_and_latency_budgets():
    model, costs, _ = _instance(5)
    free = allocate(model, costs, AllocationSettings(w_energy=0.0, w_latency=1.0))
    e_free = energies_j(model, costs, free.eta, free.steps)
    budget = 0.9 * float(e_free.max())  # binds for the costliest PIU, feasible at low power
    capped = allocate(
        model, costs, AllocationSettings(w_energy=0.0, w_latency=1.0, energy_budget_j=budget)
    )
    assert capped.status == "ok", capped.reason
    assert np.all(energies_j(model, costs, capped.eta, capped.steps) <= budget * (1 + 1e-5))
    lat_full = latencies_s(model, costs, np.ones(6), np.full(6, 10)).max()
    lazy = allocate(
        model,
        costs,
        AllocationSettings(w_energy=1.0, w_latency=0.0, latency_budget_s=float(lat_full) * 1.5),
    )
    assert lazy.status == "ok", lazy.reason
    assert latencies_s(model, costs, lazy.eta, lazy.steps).max() <= lat_full * 1.5 * (1 + 1e-5)
    assert (
        energies_j(model, costs, lazy.eta, lazy.steps).sum()
        < energies_j(model, costs, np.ones(6), np.full(6, 10)).sum()
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_max_sum_rate_has_the_highest_sum_rate(seed):
    model, costs, _ = _instance(seed)
    result = _all(model, costs, AllocationSettings())
    best = model.rate_bps(result["max_sum_rate"].eta).sum()
    for name in ("full_power", "dinkelbach"):
        assert best >= model.rate_bps(result[name].eta).sum() * (1 - 1e-9), name


@pytest.mark.parametrize("seed", SEEDS)
def test_dinkelbach_has_the_highest_min_energy_efficiency(seed):
    model, costs, _ = _instance(seed)
    settings = AllocationSettings()
    result = _all(model, costs, settings)
    best = energy_efficiency(model, costs, settings, result["dinkelbach"].eta).min()
    for name, r in result.items():
        assert best >= energy_efficiency(model, costs, settings, r.eta).min() * (1 - 1e-6), name


@pytest.mark.parametrize("seed", SEEDS)
def test_min_max_latency_equalises_the_latencies(seed):
    model, costs, _ = _instance(seed)
    result = _all(model, costs, AllocationSettings())
    r = result["min_max_latency"]
    lat = latencies_s(model, costs, r.eta, r.steps)
    # Every PIU above the power floor finishes at the common latency; one held at eta_min
    # (its exact power would be lower) finishes earlier.
    above = r.eta > AllocationSettings().eta_min * (1 + 1e-9)
    assert above.sum() >= 2
    assert lat[above].max() - lat[above].min() <= 1e-6 * lat.max()
    assert np.all(lat[~above] <= lat.max() * (1 + 1e-9))
    full = latencies_s(model, costs, np.ones(6), np.full(6, 10)).max()
    assert lat.max() <= full * (1 + 1e-9)  # and it is no slower than full power
    for other in result.values():
        assert lat.max() <= latencies_s(model, costs, other.eta, other.steps).max() * (1 + 1e-6)


def test_an_infeasible_budget_falls_back_to_full_power():
    model, costs, _ = _instance(0)
    tiny_budget = AllocationSettings(energy_budget_j=1e-9)
    r = allocate(model, costs, tiny_budget)
    assert r.status == "fallback" and "no feasible point" in r.reason
    assert np.all(r.eta == 1.0) and np.all(r.steps == 10)
    impossible = AllocationSettings(latency_budget_s=1e-6)
    assert allocate(model, costs, impossible).status == "fallback"


def _small(seed: int, tau_p: int, mixed_powers: bool):
    """Three PIUs; with tau_p = 1 all share one pilot (strong contamination); with mixed
    powers the PIUs are device classes of 10, 17 and 23 dBm."""
    model, costs, (beta, gamma, pilots, rho, n) = _instance(seed, k=3, n_aps=3, tau_p=tau_p)
    if mixed_powers:
        rho = 10 ** ((np.array([10.0, 17.0, 23.0]) - 30) / 10)
        gamma = estimation_quality(beta, pilots, rho, tau_p)
        model = SINRModel.from_cellfree(beta, gamma, pilots, rho, n, 20e6, tau_p, 200)
        costs = replace(costs, max_power_w=rho)
    return model, costs


def _brute_force_steps(model, costs, s, eta, total):
    """Every integer choice in [lo, hi]^K (the reference for exact_steps)."""
    import itertools

    best, best_value = None, np.inf
    k = len(eta)
    for steps in itertools.product(range(s.steps_min, s.steps_max + 1), repeat=k):
        steps = np.array(steps)
        if steps.sum() < total:
            continue
        if (
            s.energy_budget_j is not None
            and (energies_j(model, costs, eta, steps) > s.energy_budget_j * (1 + 1e-9)).any()
        ):
            continue
        value = objective(model, costs, s, eta, steps)
        if value < best_value:
            best, best_value = steps, value
    return best, best_value


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.9, 0.1), (0.1, 0.9)])
def test_exact_steps_equal_a_brute_force_search(seed, weights):
    from netsim.radio.allocation import exact_steps

    model, costs = _small(seed, tau_p=1, mixed_powers=True)
    s = AllocationSettings(w_energy=weights[0], w_latency=weights[1], steps=5, steps_min=2,
                           steps_max=9)  # fmt: skip
    rng = np.random.default_rng(seed)
    for _ in range(5):
        eta = rng.uniform(0.05, 1.0, 3)
        steps = exact_steps(model, costs, s, eta, 15)
        _, value = _brute_force_steps(model, costs, s, eta, 15)
        assert objective(model, costs, s, eta, steps) == pytest.approx(value, rel=1e-12)


def _global_search(model, costs, s, total):
    """Differential evolution over the powers (polished), with the exactly best integer
    iterations for each (checked above against brute force): a global reference."""
    from scipy.optimize import differential_evolution

    from netsim.radio.allocation import exact_steps

    def value(eta):
        steps = exact_steps(model, costs, s, eta, total)
        return np.inf if steps is None else objective(model, costs, s, eta, steps)

    k = len(model.a)
    res = differential_evolution(
        value, [(s.eta_min, 1.0)] * k, seed=0, tol=1e-12, maxiter=300, popsize=30, polish=True
    )
    return res.fun


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("tau_p", "mixed"), [(1, False), (1, True), (3, True)])
def test_sqp_is_within_1e_6_of_a_global_search(seed, tau_p, mixed):
    model, costs = _small(seed, tau_p, mixed)
    s = AllocationSettings(method="sqp", steps=5, steps_min=2, steps_max=9)
    sqp = allocate(model, costs, s)
    assert sqp.status == "ok"
    found = objective(model, costs, s, sqp.eta, sqp.steps)
    assert sqp.steps.sum() >= 15 and ((sqp.steps >= 2) & (sqp.steps <= 9)).all()
    assert found <= _global_search(model, costs, s, 15) * (1 + 1e-6)


def test_all_step_choices_are_every_integer_vector_doing_the_work():
    import itertools

    from netsim.radio.allocation import MAX_STEP_CHOICES, all_step_choices

    found = all_step_choices(3, 15, 2, 9)
    expected = [v for v in itertools.product(range(2, 10), repeat=3) if sum(v) == 15]
    assert sorted(map(tuple, found)) == sorted(expected)  # 46 vectors
    assert all_step_choices(40, 400, 5, 15) is None  # far more than MAX_STEP_CHOICES
    assert len(all_step_choices(2, 10, 5, 5)) == 1 <= MAX_STEP_CHOICES
