"""Uplink power and local-iteration allocation in cell-free FL (PHYSICS.md section 7; the EMQ
paper: Mahmoudi, Xiao and Björnson, IEEE TMLCN 2025, doi:10.1109/TMLCN.2025.3583659).

The server knows the large-scale fading, hence the closed-form MR SINR as a function of the
PIUs' power coefficients eta in [eta_min, 1] (:class:`SINRModel`, row = victim k, column =
interferer j):

    SINR_k(eta) = A_k eta_k / (B_k eta_k + sum_{j != k} Bt_kj eta_j + I_k),

the rate ``R_k = B (1 - tau_p / tau_c) log2(1 + SINR_k)``, the upload latency
``l_k = S_k / R_k`` for a payload of S_k bits, the upload energy ``P_u eta_k l_k`` and the
compute time and energy per local iteration (c_k s, e_k J). Every method returns an
:class:`Allocation` (power coefficients, local iterations, method, solve time, status):

* ``sqp``: minimise ``w_E E / E_ref + w_T t / T_ref`` (E: total round energy, t: epigraph
  variable of the slowest PIU's latency ``I_k c_k + l_k``; E_ref, T_ref: their full-power
  values, so the weights compare like with like) over eta and relaxed local iterations
  ``I_k in [I_min, I_max]`` with ``sum_k I_k >= I_total`` (the round's local work), optional
  per-PIU energy and round latency budgets; scipy SLSQP with analytic gradients from full
  power, WMMSE and min-max latency starts, the best polished; then integer iterations: every
  choice (at most MAX_STEP_CHOICES) or else the exact best ones for the powers found
  (:func:`exact_steps`) and the best roundings, each with its powers re-solved, and from the
  best of them integer iterations and powers alternated while the objective improves.
* ``full_power``: eta = 1.
* ``max_sum_rate``: WMMSE (Shi et al. 2011) on the equivalent scalar interference channel,
  started from full power (so its sum rate is never below full power's).
* ``dinkelbach``: generalized Dinkelbach for max-min energy efficiency
  ``min_k log2(1 + SINR_k) / (P_u eta_k + P_c)``; the inner max-min in epigraph form by SLSQP.
* ``min_max_latency``: bisection on the common round latency T; for each T the SINR targets
  that make every PIU finish exactly at T are met with minimum power by solving the linear
  system ``(diag(A / gamma) - C) eta = I`` (feasible iff 0 < eta <= 1).

A method that fails (infeasible budget, solver not converged) returns status ``"fallback"``
with the reason and full power with the nominal local iterations (documented fallback).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from netsim.radio.cellfree import lsfd_sinr, mr_sinr, uplink_rate_bps

METHODS = ("sqp", "full_power", "max_sum_rate", "dinkelbach", "min_max_latency")


@dataclass(frozen=True)
class SINRModel:
    """Closed-form cell-free MR SINR in matrix form (PHYSICS.md section 4).

    a: (K,) signal coefficients A_k; c: (K, K) interference coefficients, row = victim k,
    column = interferer j, with the self-interference B_k on the diagonal; noise: (K,) I_k.
    prelog_hz: ``B (1 - tau_p / tau_c)``, so ``R_k = prelog_hz log2(1 + SINR_k)`` bit/s.
    """

    a: np.ndarray
    c: np.ndarray
    noise: np.ndarray
    prelog_hz: float

    @classmethod
    def from_cellfree(
        cls,
        beta: np.ndarray,
        gamma: np.ndarray,
        pilots: np.ndarray,
        rho: np.ndarray,
        antennas: int,
        bandwidth_hz: float,
        tau_p: int,
        tau_c: int,
    ) -> SINRModel:
        """From :func:`netsim.radio.cellfree.mr_sinr`'s quantities: beta, gamma (K, L) over
        the noise, pilots (K,), rho (K,) full transmit SNR scale, N antennas per AP."""
        gamma_sum = gamma.sum(axis=1)
        a = antennas * rho * gamma_sum**2
        c = (gamma @ beta.T) * rho[None, :]  # sum_l gamma_kl beta_jl rho_j (non-coherent)
        same = pilots[:, None] == pilots[None, :]
        root = np.sqrt(gamma)
        coherent = (root @ root.T) ** 2  # (sum_l sqrt(gamma_kl gamma_jl))^2, any pilot powers
        c = c + antennas * np.where(same & ~np.eye(len(rho), dtype=bool), coherent, 0.0) * rho
        prelog = bandwidth_hz * (1.0 - tau_p / tau_c)
        return cls(a, c, gamma_sum, prelog)

    def sinr(self, eta: np.ndarray) -> np.ndarray:
        """SINR (n,) of every PIU at power coefficients ``eta`` (n,)."""
        return self.a * eta / (self.c @ eta + self.noise)

    def sinr_jacobian(self, eta: np.ndarray) -> np.ndarray:
        """d SINR_k / d eta_j (K, K)."""
        d = self.c @ eta + self.noise
        return np.diag(self.a / d) - (self.a * eta / d**2)[:, None] * self.c

    def rate_bps(self, eta: np.ndarray) -> np.ndarray:
        """Ergodic rate (n,) bit/s at ``eta``."""
        return self.prelog_hz * np.log2(1.0 + self.sinr(eta))

    def rate_jacobian(self, eta: np.ndarray) -> np.ndarray:
        """d rate_i / d eta_j (n, n) at ``eta``."""
        scale = self.prelog_hz / (math.log(2) * (1.0 + self.sinr(eta)))
        return scale[:, None] * self.sinr_jacobian(eta)


@dataclass(frozen=True)
class CellFreeUplink:
    """The inputs of :meth:`SINRModel.from_cellfree` for all K PIUs, from which the (n, n)
    model of the n PIUs transmitting in a round is built when needed: the (K, K) model of
    every PIU would take 800 MB at K = 10,000 (and 3 GB of temporaries to build).

    beta, gamma: (K, L) over the noise; pilots: (K,); rho: (K,) full transmit SNR scale.
    """

    beta: np.ndarray
    gamma: np.ndarray
    pilots: np.ndarray
    rho: np.ndarray
    antennas: int
    bandwidth_hz: float
    tau_p: int
    tau_c: int

    def full_power(self, keep: np.ndarray, combining: str = "mr") -> tuple[np.ndarray, np.ndarray]:
        """(rate bit/s (n,), SINR (n,)) of the PIUs ``keep`` (n,) sending data at full power
        while the others are silent, with MR or LSFD combining (allocation.method = "none").

        Convention: everyone sends pilots (in ``gamma``); the interference counts only the
        PIUs that send data at the same time, i.e. the round's selected PIUs.
        """
        eta = np.ones(len(keep))
        args = (self.beta[keep], self.gamma[keep], self.pilots[keep], self.rho[keep], eta)
        if combining == "lsfd":
            sinr = lsfd_sinr(*args, self.antennas)[0]
        else:
            sinr = mr_sinr(*args, self.antennas)
        return uplink_rate_bps(sinr, self.bandwidth_hz, self.tau_p, self.tau_c), sinr

    def sinr_model(self, keep: np.ndarray) -> SINRModel:
        """The model when only the PIUs ``keep`` (n,) transmit (the others are silent).

        Every coefficient of PIU k depends on k's own estimate quality (which already
        carries the pilot contamination of all K PIUs) and its interferers' gains, so this
        equals the full model restricted to ``keep``.
        """
        return SINRModel.from_cellfree(
            self.beta[keep],
            self.gamma[keep],
            self.pilots[keep],
            self.rho[keep],
            self.antennas,
            self.bandwidth_hz,
            self.tau_p,
            self.tau_c,
        )


@dataclass(frozen=True)
class RoundCosts:
    """What one round costs each selected PIU apart from the power.

    payload_bits: (K,) S_k expected upload size; step_time_s, step_energy_j: (K,) compute
    time c_k and energy e_k of one local iteration; max_power_w: (K,) P_k (W) at
    eta = 1, each PIU's own (device classes), or one float for all.
    """

    payload_bits: np.ndarray
    step_time_s: np.ndarray
    step_energy_j: np.ndarray
    max_power_w: np.ndarray | float

    @property
    def power_w(self) -> np.ndarray:
        """(K,) each PIU's full power P_k (W), ``max_power_w`` broadcast."""
        return np.broadcast_to(np.asarray(self.max_power_w, dtype=float), self.payload_bits.shape)


@dataclass(frozen=True)
class AllocationSettings:
    """Weights, bounds and budgets of the allocation (see the module docstring)."""

    method: str = "sqp"
    w_energy: float = 0.5
    w_latency: float = 0.5
    eta_min: float = 1e-3
    steps: int = 10  # nominal local iterations (full power and fallbacks use it)
    steps_min: int = 10
    steps_max: int = 10
    energy_budget_j: float | None = None  # per PIU per round
    latency_budget_s: float | None = None  # round latency (compute + upload)
    circuit_power_w: float = 0.1  # P_c of the energy-efficiency denominator (Dinkelbach)


@dataclass(frozen=True)
class Allocation:
    """Result of one allocation: eta (K,) power coefficients, steps (K,) local iterations,
    the method, its wall-clock solve time (s), status "ok" or "fallback" and why."""

    eta: np.ndarray
    steps: np.ndarray
    method: str
    solve_s: float
    status: str = "ok"
    reason: str = ""


def latencies_s(
    model: SINRModel, costs: RoundCosts, eta: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """Per-PIU round latency ``I_k c_k + S_k / R_k`` (s)."""
    return steps * costs.step_time_s + costs.payload_bits / model.rate_bps(eta)


def energies_j(
    model: SINRModel, costs: RoundCosts, eta: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """Per-PIU round energy ``P_u eta_k S_k / R_k + I_k e_k`` (J)."""
    upload = costs.max_power_w * eta * costs.payload_bits / model.rate_bps(eta)
    return upload + steps * costs.step_energy_j


def objective(
    model: SINRModel, costs: RoundCosts, s: AllocationSettings, eta: np.ndarray, steps: np.ndarray
) -> float:
    """The SQP objective ``w_E E / E_ref + w_T max_k latency_k / T_ref`` of any allocation."""
    e_ref, t_ref = _references(model, costs, s)
    energy = float(energies_j(model, costs, eta, steps).sum())
    latency = float(latencies_s(model, costs, eta, steps).max())
    return s.w_energy * energy / e_ref + s.w_latency * latency / t_ref


def energy_efficiency(
    model: SINRModel, costs: RoundCosts, s: AllocationSettings, eta: np.ndarray
) -> np.ndarray:
    """Per-PIU energy efficiency ``log2(1 + SINR_k) / (P_u eta_k + P_c)`` (bit/s/Hz/W)."""
    return np.log2(1.0 + model.sinr(eta)) / (costs.max_power_w * eta + s.circuit_power_w)


def allocate(model: SINRModel, costs: RoundCosts, s: AllocationSettings) -> Allocation:
    """Run the method of ``s``; on failure return the documented full-power fallback."""
    start = time.perf_counter()
    k = len(model.a)
    nominal = np.full(k, s.steps, dtype=int)
    try:
        eta, steps = _SOLVERS[s.method](model, costs, s)
    except AllocationError as exc:
        return Allocation(
            np.ones(k), nominal, s.method, time.perf_counter() - start, "fallback", str(exc)
        )
    return Allocation(eta, steps, s.method, time.perf_counter() - start)


class AllocationError(Exception):
    """The method found no acceptable solution (the message says why)."""


def _references(model: SINRModel, costs: RoundCosts, s: AllocationSettings) -> tuple[float, float]:
    ones, nominal = np.ones(len(model.a)), np.full(len(model.a), float(s.steps))
    return (
        float(energies_j(model, costs, ones, nominal).sum()),
        float(latencies_s(model, costs, ones, nominal).max()),
    )


def _full_power(model: SINRModel, costs: RoundCosts, s: AllocationSettings):
    return np.ones(len(model.a)), np.full(len(model.a), s.steps, dtype=int)


# --------------------------------------------------------------------------- SQP


def _sqp(model: SINRModel, costs: RoundCosts, s: AllocationSettings):
    k = len(model.a)
    total_steps = k * s.steps
    if not s.steps_min <= s.steps <= s.steps_max:
        raise AllocationError(
            f"local steps {s.steps} per PIU outside [steps_min, steps_max] = "
            f"[{s.steps_min}, {s.steps_max}]"
        )
    # SLSQP is local: under strong pilot contamination it can stop at its start, so it runs
    # from each of full power, WMMSE and min-max latency powers. Relaxed iterations are not
    # just rounded: when there are at most MAX_STEP_CHOICES integer choices (small rounds)
    # each is tried with its powers re-solved; otherwise the exact best iterations for the
    # relaxed powers (exact_steps) and the best roundings are. Then integer iterations and
    # powers are alternated while the objective improves. Each start is also a candidate as
    # it is, so SQP is never worse than a baseline it reaches.
    starts = [np.ones(k), np.clip(_max_sum_rate(model, costs, s)[0], s.eta_min, 1.0)]
    with contextlib.suppress(AllocationError):  # no common latency reachable: skip that start
        starts.append(np.clip(_min_max_latency(model, costs, s)[0], s.eta_min, 1.0))
    solutions: list[tuple[np.ndarray, np.ndarray]] = []
    relaxed: list[tuple[np.ndarray, np.ndarray]] = []
    for start in starts:
        steps = exact_steps(model, costs, s, start, total_steps)
        if steps is not None:
            solutions.append((start, steps))
        with contextlib.suppress(AllocationError):
            relaxed.append(_sqp_solve(model, costs, s, None, total_steps, start))
    if relaxed:
        # The best relaxed solution, polished from its own point (a relaxed solve from a
        # poor start can stop early; a loose stop, ~1e-5 of the objective, picks the wrong
        # integers, and which wrong ones depends on the CPU's BLAS kernels). Its integer
        # candidates: the exact best iterations for its powers and its best roundings, each
        # with the powers re-solved; then alternate from the best of them (the alternation
        # alone is local in the integers).
        eta_r, steps_r = min(relaxed, key=lambda sol: objective(model, costs, s, *sol))
        with contextlib.suppress(AllocationError):
            eta_r, steps_r = _sqp_solve(model, costs, s, None, total_steps, eta_r, steps_r)
        choices = all_step_choices(k, total_steps, s.steps_min, s.steps_max)
        if choices is None:  # too many to try each: the likely ones
            choices = _roundings(model, costs, s, eta_r, steps_r, total_steps)
            exact = exact_steps(model, costs, s, eta_r, total_steps)
            if exact is not None:
                choices.append(exact)
        fixed = []
        for steps in choices:
            with contextlib.suppress(AllocationError):
                fixed.append((_sqp_solve(model, costs, s, steps, total_steps, eta_r)[0], steps))
        solutions.extend(fixed)
        if fixed:
            best = min(fixed, key=lambda sol: objective(model, costs, s, *sol))
            solutions.extend(_alternate(model, costs, s, best[0], total_steps))
    if not solutions:
        raise AllocationError("SLSQP found no feasible point and no start meets the budgets")
    return min(solutions, key=lambda sol: objective(model, costs, s, sol[0], sol[1]))


# relative objective change at which every SLSQP solve stops: tight, so that the integer
# iterations chosen after the solves do not depend on the CPU (with 1e-10, OpenBLAS's
# Haswell and SkylakeX kernels led to other integers and objectives 1e-6 to 3e-4 apart;
# with 1e-14, to the same integers and powers within 5e-10)
SQP_FTOL = 1e-14


def _alternate(
    model: SINRModel, costs: RoundCosts, s: AllocationSettings, eta: np.ndarray, total: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """From relaxed powers: exact integer iterations for the powers, then the best powers
    for those iterations, repeated while the objective improves (at most 5 times)."""
    found: list[tuple[np.ndarray, np.ndarray]] = []
    best = math.inf
    for _ in range(5):
        steps = exact_steps(model, costs, s, eta, total)
        if steps is None:
            break
        found.append((eta, steps))
        with contextlib.suppress(AllocationError):
            eta, _ = _sqp_solve(model, costs, s, steps, total, start=eta)
            found.append((eta, steps))
        value = objective(model, costs, s, eta, steps)
        if value >= best * (1 - 1e-12):
            break
        best = value
    return found


MAX_STEP_CHOICES = 256  # integer choices of a round tried one by one (each an SLSQP solve)


def all_step_choices(k: int, total: int, lo: int, hi: int) -> list[np.ndarray] | None:
    """Every integer vector (k,) in [lo, hi]^k doing exactly the work ``total`` (more work
    only costs time and energy), or None when there are more than MAX_STEP_CHOICES."""
    found: list[np.ndarray] = []
    prefix: list[int] = []

    def extend(left: int, places: int) -> bool:
        if places == 0:
            if left == 0:
                found.append(np.array(prefix))
            return len(found) <= MAX_STEP_CHOICES
        for i in range(max(lo, left - hi * (places - 1)), min(hi, left - lo * (places - 1)) + 1):
            prefix.append(i)
            ok = extend(left - i, places - 1)
            prefix.pop()
            if not ok:
                return False
        return True

    if total > hi * k:
        return None
    if not extend(max(total, lo * k), k):
        return None
    return found


def _roundings(
    model: SINRModel,
    costs: RoundCosts,
    s: AllocationSettings,
    eta: np.ndarray,
    relaxed: np.ndarray,
    total: int,
    keep: int = 4,
    limit: int = 256,
) -> list[np.ndarray]:
    """The ``keep`` best (at powers ``eta``) of the integer vectors that round each relaxed
    iteration count down or up and do exactly the work ``total`` (at most ``limit`` of them
    looked at)."""
    floor = np.clip(np.floor(relaxed + 1e-9), s.steps_min, s.steps_max).astype(int)
    fractional = np.flatnonzero((relaxed - floor > 1e-6) & (floor < s.steps_max))
    missing = max(0, total - int(floor.sum()))
    if missing > len(fractional):
        return []
    options = []
    for up in itertools.islice(itertools.combinations(fractional, missing), limit):
        steps = floor.copy()
        steps[list(up)] += 1
        options.append(steps)
    options.sort(key=lambda st: objective(model, costs, s, eta, st))
    return options[:keep]


def exact_steps(
    model: SINRModel, costs: RoundCosts, s: AllocationSettings, eta: np.ndarray, total: int
) -> np.ndarray | None:
    """The integer local iterations (K,) that minimise the SQP objective for fixed powers
    ``eta``, exactly; None when no choice meets the budgets.

    With the powers fixed, the upload latencies l_k and energies are constants and the
    objective is ``w_E sum_k I_k e_k / E_ref + w_T max_k (I_k c_k + l_k) / T_ref`` over
    integers I_k in [I_min, I_max] with ``sum_k I_k >= I_total``. The optimal round latency
    is one of the candidates ``I c_k + l_k``; for each candidate T, the iterations that
    finish by T and do the work at least energy are the minimum ones plus the missing work
    given one by one to the PIUs with the cheapest iteration (a linear objective over a box
    and one sum constraint: the greedy is exact). The best candidate wins.
    """
    lo, hi = s.steps_min, s.steps_max
    k = len(eta)
    upload_s = costs.payload_bits / model.rate_bps(eta)  # (K,)
    upload_j = costs.power_w * eta * upload_s
    c, e = costs.step_time_s, costs.step_energy_j
    upper = np.full(k, hi)
    if s.energy_budget_j is not None:  # I_k e_k + upload_k <= budget
        room = (s.energy_budget_j * (1 + 1e-9) - upload_j) / e
        upper = np.minimum(upper, np.floor(room + 1e-9)).astype(int)
    if (upper < lo).any() or upper.sum() < total:
        return None
    e_ref, t_ref = _references(model, costs, s)
    cheapest = np.argsort(e, kind="stable")
    candidates = np.unique(
        np.concatenate([np.arange(lo, upper[i] + 1) * c[i] + upload_s[i] for i in range(k)])
    )
    if s.latency_budget_s is not None:
        candidates = candidates[candidates <= s.latency_budget_s * (1 + 1e-9)]
    best, best_value = None, math.inf
    for t in candidates:
        cap = np.minimum(upper, np.floor((t - upload_s) / c + 1e-9)).astype(int)
        if (cap < lo).any() or cap.sum() < total:
            continue
        steps = np.full(k, lo)
        missing = total - steps.sum()
        for i in cheapest:
            if missing <= 0:
                break
            extra = min(cap[i] - lo, missing)
            steps[i] += extra
            missing -= extra
        latency = float((steps * c + upload_s).max())
        value = (
            s.w_energy * float(upload_j.sum() + steps @ e) / e_ref + s.w_latency * latency / t_ref
        )
        if value < best_value:
            best, best_value = steps, value
    return best


def _feasible(
    model: SINRModel, costs: RoundCosts, s: AllocationSettings, eta: np.ndarray, steps: np.ndarray
) -> bool:
    """Whether an allocation meets the per-PIU energy and the round latency budgets."""
    tol = 1 + 1e-6
    energy_ok = s.energy_budget_j is None or bool(
        np.all(energies_j(model, costs, eta, steps) <= s.energy_budget_j * tol)
    )
    latency_ok = s.latency_budget_s is None or bool(
        latencies_s(model, costs, eta, steps).max() <= s.latency_budget_s * tol
    )
    return energy_ok and latency_ok


def _sqp_solve(
    model: SINRModel,
    costs: RoundCosts,
    s: AllocationSettings,
    fixed_steps: np.ndarray | None,
    total_steps: int,
    start: np.ndarray | None = None,
    start_steps: np.ndarray | None = None,
    ftol: float = SQP_FTOL,
) -> tuple[np.ndarray, np.ndarray]:
    """SLSQP over x = [eta (K), I (K), t] (I fixed by bounds when ``fixed_steps`` is given),
    from powers ``start`` and relaxed iterations ``start_steps`` (default: full power and
    the nominal iterations), to the relative objective change ``ftol``."""
    k = len(model.a)
    e_ref, t_ref = _references(model, costs, s)
    p, bits = costs.power_w, costs.payload_bits

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        return x[:k], x[k : 2 * k], float(x[-1])

    def upload(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """l (K,) and dl/deta (K, K)."""
        rate = model.rate_bps(eta)
        return bits / rate, -(bits / rate**2)[:, None] * model.rate_jacobian(eta)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        eta, steps, t = split(x)
        lat, dlat = upload(eta)
        energy = p * eta @ lat + steps @ costs.step_energy_j
        grad = np.zeros_like(x)
        grad[:k] = s.w_energy / e_ref * (p * lat + (p * eta) @ dlat)
        grad[k : 2 * k] = s.w_energy / e_ref * costs.step_energy_j
        grad[-1] = s.w_latency / t_ref
        return s.w_energy * energy / e_ref + s.w_latency * t / t_ref, grad

    def latency_slack(x: np.ndarray) -> np.ndarray:  # t - I_k c_k - l_k >= 0, scaled by T_ref
        eta, steps, t = split(x)
        return (t - steps * costs.step_time_s - upload(eta)[0]) / t_ref

    def latency_slack_jac(x: np.ndarray) -> np.ndarray:
        eta, _, _ = split(x)
        jac = np.zeros((k, 2 * k + 1))
        jac[:, :k] = -upload(eta)[1]
        jac[:, k : 2 * k] = -np.diag(costs.step_time_s)
        jac[:, -1] = 1.0
        return jac / t_ref

    constraints: list[dict[str, object]] = [
        {"type": "ineq", "fun": latency_slack, "jac": latency_slack_jac},
        {
            "type": "ineq",
            "fun": lambda x: np.array([x[k : 2 * k].sum() - total_steps]),
            "jac": lambda x: np.concatenate([np.zeros(k), np.ones(k), [0.0]])[None, :],
        },
    ]
    if s.energy_budget_j is not None:
        budget = s.energy_budget_j

        def energy_slack(x: np.ndarray) -> np.ndarray:
            eta, steps, _ = split(x)
            return (budget - p * eta * upload(eta)[0] - steps * costs.step_energy_j) / budget

        def energy_slack_jac(x: np.ndarray) -> np.ndarray:
            eta, _, _ = split(x)
            lat, dlat = upload(eta)
            jac = np.zeros((k, 2 * k + 1))
            jac[:, :k] = -p[:, None] * (np.diag(lat) + eta[:, None] * dlat)
            jac[:, k : 2 * k] = -np.diag(costs.step_energy_j)
            return jac / budget

        constraints.append({"type": "ineq", "fun": energy_slack, "jac": energy_slack_jac})
    if s.latency_budget_s is not None:
        limit = s.latency_budget_s
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x: np.array([(limit - x[-1]) / t_ref]),
                "jac": lambda x: np.concatenate([np.zeros(2 * k), [-1.0 / t_ref]])[None, :],
            }
        )
    if fixed_steps is None:
        step_bounds = [(float(s.steps_min), float(s.steps_max))] * k
        steps0 = np.full(k, float(s.steps)) if start_steps is None else start_steps.astype(float)
    else:
        step_bounds = [(float(i), float(i)) for i in fixed_steps]
        steps0 = fixed_steps.astype(float)
    eta0 = np.ones(k) if start is None else np.clip(start, s.eta_min, 1.0)
    t0 = float((steps0 * costs.step_time_s + bits / model.rate_bps(eta0)).max())
    x0 = np.concatenate([eta0, steps0, [t0]])
    bounds = [(s.eta_min, 1.0)] * k + step_bounds + [(0.0, None)]
    from scipy.optimize import minimize  # 0.4 s to import: only runs that allocate pay it

    res = minimize(
        fun,
        x0,
        jac=True,
        method="SLSQP",
        bounds=bounds,
        constraints=constraints,
        options={"maxiter": 2000, "ftol": ftol},
    )
    x = np.clip(res.x, [b[0] for b in bounds], [np.inf if b[1] is None else b[1] for b in bounds])
    feasible = all(np.all(np.asarray(c["fun"](x)) >= -1e-6) for c in constraints)  # type: ignore[operator]
    if not feasible:
        raise AllocationError(f"SLSQP found no feasible point ({res.message})")
    eta, steps, _ = split(x)
    return eta, steps


# --------------------------------------------------------------------------- baselines


def _max_sum_rate(model: SINRModel, costs: RoundCosts, s: AllocationSettings):
    """WMMSE for the scalar interference channel with desired gain A_k, interference gains
    C_kj (self-interference on the diagonal) and noise I_k; v_k = sqrt(eta_k)."""
    k = len(model.a)
    h = np.sqrt(model.a)
    gain = model.c + np.diag(model.a)  # received power at k from j per unit eta_j
    v = np.ones(k)
    best, best_rate = v**2, model.rate_bps(v**2).sum()
    for _ in range(500):
        received = gain @ v**2 + model.noise
        u = h * v / received  # MMSE receivers
        w = 1.0 / (1.0 - u * h * v)  # MSE weights
        v_new = np.clip(w * u * h / (gain.T @ (w * u**2)), math.sqrt(s.eta_min), 1.0)
        converged = np.max(np.abs(v_new - v)) < 1e-9
        v = v_new
        rate = model.rate_bps(v**2).sum()
        if rate >= best_rate:  # WMMSE is monotone in theory; keep the best iterate anyway
            best, best_rate = v**2, rate
        if converged:
            break
    return best, np.full(k, s.steps, dtype=int)


def _dinkelbach(model: SINRModel, costs: RoundCosts, s: AllocationSettings):
    """Generalized Dinkelbach (Crouzeix et al.) for max_eta min_k f_k / g_k."""
    k, p, pc = len(model.a), costs.power_w, s.circuit_power_w
    starts = [np.ones(k), np.full(k, max(s.eta_min, 0.1)), _max_sum_rate(model, costs, s)[0]]
    eta = max(starts, key=lambda e: float(energy_efficiency(model, costs, s, e).min()))
    lam = float(energy_efficiency(model, costs, s, eta).min())
    for _ in range(50):
        inner = _maxmin_inner(model, p, pc, lam, eta, s.eta_min)
        value = float(energy_efficiency(model, costs, s, inner).min())
        if value <= lam * (1 + 1e-9):
            break
        eta, lam = inner, value
    return eta, np.full(k, s.steps, dtype=int)


def _maxmin_inner(
    model: SINRModel, p: np.ndarray, pc: float, lam: float, start: np.ndarray, eta_min: float
) -> np.ndarray:
    """argmax_eta min_k [log2(1 + SINR_k) - lam (p eta_k + pc)] in epigraph form."""
    k = len(model.a)

    def slack(x: np.ndarray) -> np.ndarray:
        eta, z = x[:k], x[-1]
        return np.log2(1.0 + model.sinr(eta)) - lam * (p * eta + pc) - z

    def slack_jac(x: np.ndarray) -> np.ndarray:
        eta = x[:k]
        jac = np.zeros((k, k + 1))
        jac[:, :k] = model.rate_jacobian(eta) / model.prelog_hz - lam * np.diag(p)
        jac[:, -1] = -1.0
        return jac

    z0 = float(slack(np.concatenate([start, [0.0]])).min())
    from scipy.optimize import minimize  # 0.4 s to import: only runs that allocate pay it

    res = minimize(
        lambda x: (-x[-1], np.concatenate([np.zeros(k), [-1.0]])),
        np.concatenate([start, [z0]]),
        jac=True,
        method="SLSQP",
        bounds=[(eta_min, 1.0)] * k + [(None, None)],
        constraints=[{"type": "ineq", "fun": slack, "jac": slack_jac}],
        options={"maxiter": 300, "ftol": 1e-12},
    )
    return np.clip(res.x[:k], eta_min, 1.0)


def _min_max_latency(model: SINRModel, costs: RoundCosts, s: AllocationSettings):
    """Bisection on the common latency T: every PIU finishes exactly at T with the least
    power; the smallest feasible T wins."""
    k = len(model.a)
    steps = np.full(k, s.steps, dtype=int)
    compute = steps * costs.step_time_s

    def powers(t: float) -> np.ndarray | None:
        """Least eta >= eta_min meeting every SINR target of latency t (None: infeasible).
        Active set: PIUs whose exact solution falls below eta_min sit at eta_min (they then
        finish before t) and the others are re-solved, until none falls below."""
        if t <= compute.max():
            return None
        target = 2.0 ** (costs.payload_bits / ((t - compute) * model.prelog_hz)) - 1.0
        floor = np.zeros(k, dtype=bool)
        for _ in range(k + 1):
            free = ~floor
            eta = np.full(k, s.eta_min)
            system = np.diag(model.a[free] / target[free]) - model.c[np.ix_(free, free)]
            rhs = model.noise[free] + model.c[np.ix_(free, floor)] @ eta[floor]
            try:
                eta[free] = np.linalg.solve(system, rhs)
            except np.linalg.LinAlgError:
                return None
            if np.any(eta[free] <= 0) or np.any(eta > 1.0 + 1e-12):
                return None
            low = free & (eta < s.eta_min)
            if not low.any():
                return np.minimum(eta, 1.0)
            floor |= low
        return None

    hi = float(latencies_s(model, costs, np.ones(k), steps).max())
    if powers(hi * (1 + 1e-9)) is None:  # full power gives a common latency above hi
        hi *= 2
        while powers(hi) is None:
            hi *= 2
            if hi > 1e9:
                raise AllocationError("no common latency is reachable with eta <= 1")
    lo = float(compute.max())
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if powers(mid) is None:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * hi:
            break
    eta = powers(hi)
    assert eta is not None
    return eta, steps


_SOLVERS: dict[
    str, Callable[[SINRModel, RoundCosts, AllocationSettings], tuple[np.ndarray, np.ndarray]]
] = {
    "sqp": _sqp,
    "full_power": _full_power,
    "max_sum_rate": _max_sum_rate,
    "dinkelbach": _dinkelbach,
    "min_max_latency": _min_max_latency,
}


class RoundAllocator:
    """What the server runs at each round start: the allocation for the selected PIUs.

    uplink: the cell-free uplink of all K PIUs (the unselected ones are silent in a round);
    step_time_s, step_energy_j: (K,) per-PIU compute time and energy of one local iteration
    (mean straggler slowdown); max_power_w: (K,) each PIU's full transmit power P_k (W).
    """

    def __init__(
        self,
        uplink: CellFreeUplink,
        settings: AllocationSettings,
        step_time_s: np.ndarray,
        step_energy_j: np.ndarray,
        max_power_w: np.ndarray,
    ) -> None:
        self.uplink = uplink
        self.settings = settings
        self.step_time_s = step_time_s
        self.step_energy_j = step_energy_j
        self.max_power_w = max_power_w

    def allocate(
        self, selected: list[int], payload_bits: np.ndarray, steps: int
    ) -> tuple[Allocation, np.ndarray, np.ndarray]:
        """(allocation, rate bit/s (n,), SINR (n,)) for the PIUs ``selected`` (n,) with
        expected payloads ``payload_bits`` (n,) and nominal local ``steps``."""
        keep = np.asarray(selected)
        model = self.uplink.sinr_model(keep)
        costs = RoundCosts(
            payload_bits, self.step_time_s[keep], self.step_energy_j[keep], self.max_power_w[keep]
        )
        s = self.settings
        settings = replace(
            s, steps=steps, steps_min=min(s.steps_min, steps), steps_max=max(s.steps_max, steps)
        )
        result = allocate(model, costs, settings)
        return result, model.rate_bps(result.eta), model.sinr(result.eta)
