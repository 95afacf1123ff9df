"""Cell-free massive MIMO uplink: pilots, MMSE estimation quality, closed-form MR SINR.

L APs with N antennas each serve K single-antenna PIUs on the same time-frequency resource
(PHYSICS.md section 4; Ngo et al. 2017 generalised to N antennas; Demir, Bjornson,
Sanguinetti 2021). Everything is vectorised in numpy over all (PIU, AP) pairs.

Normalisation: powers enter as SNRs over the noise power (``rho = p / sigma2``), never both
as gains over noise and as rho. Arrays: ``beta`` (K, L) large-scale gains (linear),
``pilots`` (K,) pilot index in [0, tau_p), ``rho_pilot`` / ``rho_data`` (K,) transmit SNRs,
``eta`` (K,) power coefficients in [0, 1].
"""

from __future__ import annotations

import numpy as np


def assign_pilots(beta: np.ndarray, tau_p: int) -> np.ndarray:
    """Pilot index per PIU (K,).

    The first ``tau_p`` PIUs get orthogonal pilots; each later PIU takes the pilot with the
    least sum of large-scale gains, at its own strongest AP, of the PIUs already using it
    (the greedy rule of the cell-free book).
    """
    n_pius = beta.shape[0]
    pilots = np.empty(n_pius, dtype=int)
    pilots[: min(tau_p, n_pius)] = np.arange(min(tau_p, n_pius))
    for k in range(tau_p, n_pius):
        master = int(np.argmax(beta[k]))
        load = np.bincount(pilots[:k], weights=beta[:k, master], minlength=tau_p)
        pilots[k] = int(np.argmin(load))
    return pilots


def estimation_quality(
    beta: np.ndarray, pilots: np.ndarray, rho_pilot: np.ndarray, tau_p: int
) -> np.ndarray:
    """MMSE channel-estimate variance per antenna, gamma (K, L):

    ``gamma_kl = tau_p rho_k beta_kl^2 / (tau_p sum_{i in P_k} rho_i beta_il + 1)``
    where P_k is the set of PIUs sharing k's pilot (k included).
    """
    received = np.zeros((int(pilots.max()) + 1, beta.shape[1]))  # per pilot and AP
    np.add.at(received, pilots, rho_pilot[:, None] * beta)  # sum_{i on pilot t} rho_i beta_il
    contamination = received[pilots]  # (K, L)
    return tau_p * rho_pilot[:, None] * beta**2 / (tau_p * contamination + 1.0)


def mr_sinr(
    beta: np.ndarray,
    gamma: np.ndarray,
    pilots: np.ndarray,
    rho_data: np.ndarray,
    eta: np.ndarray,
    antennas: int,
) -> np.ndarray:
    """Closed-form uplink SINR (K,) with maximum-ratio combining at every AP, centralised
    use-and-then-forget decoding and pilot contamination:

    ``SINR_k = rho_k eta_k N (sum_l gamma_kl)^2 / [ N sum_{i in P_k \\ k} rho_i eta_i
    (sum_l sqrt(gamma_kl gamma_il))^2 + sum_i rho_i eta_i sum_l gamma_kl beta_il
    + sum_l gamma_kl ]``.

    The coherent term is ``|E[h^_kl^H h_il]| = N sqrt(gamma_kl gamma_il)`` for a pilot
    sharer i. Ngo et al.'s ``gamma_kl beta_il / beta_kl`` equals ``sqrt(gamma_kl gamma_il)``
    only when all PIUs send pilots at the same power; with different powers (device
    classes) it is off by up to several dB at short pilots (PHYSICS.md section 4).
    The sums over i run over the PIUs that send data (``eta_i > 0``); all PIUs' pilots are
    in ``gamma`` already.
    """
    p = rho_data * eta  # (K,) effective transmit SNR of each PIU
    gamma_sum = gamma.sum(axis=1)  # (K,)
    signal = antennas * p * gamma_sum**2
    root = np.sqrt(gamma)  # (K, L)
    contamination = np.zeros(len(p))
    for t in np.unique(pilots):  # only PIUs sharing a pilot interfere coherently
        group = np.flatnonzero(pilots == t)
        coherent = (root[group] @ root[group].T) ** 2  # (sum_l sqrt(gamma_kl gamma_il))^2
        np.fill_diagonal(coherent, 0.0)
        contamination[group] = antennas * coherent @ p[group]
    noncoherent = gamma @ (beta.T @ p)  # sum_i p_i sum_l gamma_kl beta_il, in O(K L)
    return signal / (contamination + noncoherent + gamma_sum)


def lsfd_sinr(
    beta: np.ndarray,
    gamma: np.ndarray,
    pilots: np.ndarray,
    rho_data: np.ndarray,
    eta: np.ndarray,
    antennas: int,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Uplink SINR (K,) with local MR at every AP and optimal large-scale fading decoding at
    the CPU (Nayebi et al. 2016; level 3 of the cell-free book), and the LSFD weights (K, L).

    The CPU combines the APs' local estimates with weights a_k (L,) computed from channel
    statistics only: ``a_k = M_k^(-1) gamma_k`` with
    ``M_k = diag(N gamma_k (beta^T p) + N gamma_k) + N^2 sum_{i in P_k \ k} p_i u_ki u_ki^H``,
    ``u_ki = sqrt(gamma_k gamma_i)`` (element-wise: the coherent gain of pilot sharer i at
    each AP, for any pilot powers), giving
    ``SINR_k = p_k N^2 gamma_k^T M_k^(-1) gamma_k``. With a_k = 1 this is exactly
    :func:`mr_sinr`, so LSFD is never worse.
    """
    n_pius, n_aps = beta.shape
    p = rho_data * eta
    received = beta.T @ p  # (L,): sum_i p_i beta_il
    m = np.zeros((n_pius, n_aps, n_aps))
    diag = antennas * gamma * received[None, :] + antennas * gamma  # (K, L)
    m[:, np.arange(n_aps), np.arange(n_aps)] = diag
    for t in np.unique(pilots):
        group = np.flatnonzero(pilots == t)
        for k in group:
            others = group[group != k]
            if len(others) == 0:
                continue
            u = np.sqrt(gamma[k][None, :] * gamma[others])  # (|P_k|-1, L)
            m[k] += antennas**2 * (u.T * p[others]) @ u
    weights = np.linalg.solve(m, gamma[:, :, None])[:, :, 0]  # (K, L): a_k = M_k^-1 gamma_k
    sinr = p * antennas**2 * np.einsum("kl,kl->k", gamma, weights)
    return sinr, weights


def uplink_rate_bps(sinr: np.ndarray, bandwidth_hz: float, tau_p: int, tau_c: int) -> np.ndarray:
    """Achievable rate ``B (1 - tau_p / tau_c) log2(1 + SINR)`` (pilot overhead pre-log)."""
    return bandwidth_hz * (1.0 - tau_p / tau_c) * np.log2(1.0 + sinr)


def monte_carlo_mr_sinr(
    beta: np.ndarray,
    pilots: np.ndarray,
    rho_pilot: np.ndarray,
    rho_data: np.ndarray,
    eta: np.ndarray,
    antennas: int,
    tau_p: int,
    n_realisations: int,
    rng: np.random.Generator,
    batch: int = 5000,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The same use-and-then-forget SINR from simulated channels, pilots and MMSE estimates
    (the reference the closed form is validated against).

    ``SINR_k = p_k |E[a_kk]|^2 / (sum_i p_i E|a_ki|^2 - p_k |E[a_kk]|^2 + E[sum_l ||h^_kl||^2])``
    with ``a_ki = sum_l w_kl h^_kl^H h_il`` (noise normalised to 1; w = 1 is plain MR,
    ``weights`` (K, L) real LSFD weights otherwise). Realisations are drawn in batches so
    memory stays bounded.
    """
    w = np.ones_like(beta) if weights is None else weights
    n_pius, n_aps = beta.shape
    n_pilots = int(pilots.max()) + 1
    p = rho_data * eta
    weights = np.sqrt(tau_p * rho_pilot)  # (K,) pilot amplitude
    same = pilots[:, None] == pilots[None, :]
    denom = tau_p * (same.astype(float) @ (rho_pilot[:, None] * beta)) + 1.0  # (K, L)
    coef = weights[:, None] * beta / denom  # MMSE: h^_kl = c_kl y_pilot,l (of k's pilot)
    sum_kk = np.zeros(n_pius, dtype=complex)
    sum_sq = np.zeros((n_pius, n_pius))
    sum_est = np.zeros(n_pius)
    done = 0
    while done < n_realisations:
        r = min(batch, n_realisations - done)
        h = _cn(rng, (r, n_pius, n_aps, antennas)) * np.sqrt(beta)[None, :, :, None]
        y_pilot = _cn(rng, (r, n_pilots, n_aps, antennas))  # noise after despreading
        for k in range(n_pius):
            y_pilot[:, pilots[k]] += weights[k] * h[:, k]
        h_hat = coef[None, :, :, None] * y_pilot[:, pilots]  # (r, K, L, N)
        local = np.einsum("rkln,riln->rkil", np.conj(h_hat), h)  # per AP: h^_kl^H h_il
        a = np.einsum("rkil,kl->rki", local, w)  # the CPU's weighted combination
        sum_kk += np.diagonal(a, axis1=1, axis2=2).sum(axis=0)
        sum_sq += (np.abs(a) ** 2).sum(axis=0)
        sum_est += ((np.abs(h_hat) ** 2).sum(axis=3) * w[None] ** 2).sum(axis=(0, 2))
        done += r
    signal = p * np.abs(sum_kk / n_realisations) ** 2
    return signal / ((sum_sq / n_realisations) @ p - signal + sum_est / n_realisations)


def _cn(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """CN(0, 1) samples."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
