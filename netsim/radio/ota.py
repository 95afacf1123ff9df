"""Over-the-air (analog) aggregation: power control and the noisy superposition.

PIUs transmit their (normalised) update entries simultaneously; the receiver gets
``y = sum_k m^H h_k b_k x_k + m^H n`` per channel use and estimates the weighted sum
``sum_k phi_k x_k`` as ``Re(y) / sqrt(eta)`` (PHYSICS.md section 5). Nothing here is a
formula shortcut: the estimate really contains the misalignment and the receiver noise, and
the MSE formulas below are what tests compare it with.

Shapes: K devices, N receive antennas, n real entries. ``h`` (K, N) complex channels
(including large-scale gain) for one coherence block, ``phi`` (K,) aggregation weights,
``m`` (N,) receive beamformer. Powers in W (per channel use), noise ``noise_w`` per antenna.

Power control:
* zero forcing (Yang, Jiang, Shi, Ding 2020): ``b_k = sqrt(eta) phi_k (m^H h_k)^* / |m^H h_k|^2``
  with ``eta = P0 min_k |m^H h_k|^2 / phi_k^2`` (every |b_k|^2 <= P0); MSE per entry
  ``noise_w ||m||^2 / (2 eta)`` (real entries on the real part: half the complex noise);
  device selection drops the devices with the smallest ``|m^H h_k|^2 / phi_k^2``;
* truncated channel inversion (Zhu, Wang, Huang 2020), single antenna: device k transmits
  only if its small-scale gain ``|h_k|^2 / beta_k >= g_th`` and then inverts its channel,
  ``b_k = sqrt(rho0) phi_k h_k^* / |h_k|^2``, with ``rho0 = P0 min_k beta_k / (phi_k^2 E1(g_th))``
  so every device meets the *average* power P0; non-truncation probability ``e^(-g_th)``;
  MSE per entry ``noise_w / (2 rho0)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from netsim.radio.fading import BlockFading
from netsim.rng import Stream, Streams


@dataclass(frozen=True)
class PowerControl:
    """Transmit scalars b (K,) complex (0 for devices that stay silent), the receive
    beamformer m (N,), the receiver scaling eta, and the analytic MSE per real entry."""

    b: np.ndarray
    m: np.ndarray
    eta: float
    mse_per_entry: float

    @property
    def transmitting(self) -> np.ndarray:
        """(K,) bool: the PIUs that transmit (truncation leaves the deepest fades silent)."""
        return self.b != 0


@dataclass(frozen=True)
class Normalised:
    """Updates made fit to send over the air: ``x`` (K, P) the entries each PIU sends, of
    mean power at most 1 per entry; the receiver's estimate of ``sum_k phi_k x_k`` times
    ``scale`` plus ``offset`` is the weighted sum of the updates ``sum_k phi_k delta_k``."""

    x: np.ndarray
    phi: np.ndarray
    offset: float
    scale: float


def normalise(deltas: np.ndarray, sizes: np.ndarray) -> Normalised:
    """Weights ``phi_k = |D_k| / sum |D|`` and the common statistics that give every entry
    mean power <= 1: ``x_k = (delta_k - mu) / s`` with ``mu = sum_k phi_k mean(delta_k)``,
    ``s = max_k rms(delta_k - mu)`` (sent as side information, ~64 bits per PIU, whose
    signalling time is not modelled), so ``sum phi x = (sum phi delta - mu) / s`` and the
    receiver undoes it. ``deltas`` (K, P), ``sizes`` (K,) local data set sizes."""
    phi = sizes / sizes.sum()
    mu = float(phi @ deltas.mean(axis=1))
    s = float(np.sqrt(((deltas - mu) ** 2).mean(axis=1)).max()) or 1.0
    return Normalised((deltas - mu) / s, phi, mu, s)


def receive_beamformer(h: np.ndarray) -> np.ndarray:
    """Unit-norm m (N,): the principal eigenvector of ``sum_k h_k h_k^H / ||h_k||^2``, the
    direction closest to every device's channel on average (1 for a single antenna)."""
    n_antennas = h.shape[1]
    if n_antennas == 1:
        return np.ones(1, dtype=complex)
    unit = h / np.linalg.norm(h, axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(unit.T @ unit.conj())  # sum_k u_k u_k^H (N, N), Hermitian
    return vectors[:, -1]


def zero_forcing(
    h: np.ndarray,
    phi: np.ndarray,
    p0_w: float,
    noise_w: float,
    drop_worst: int = 0,
    m: np.ndarray | None = None,
    max_eta: float = math.inf,
) -> PowerControl:
    """Zero-forcing transmit scalars with optional device selection (module docstring);
    ``max_eta`` caps eta below what the power budget allows (every PIU then sends with
    less power and the estimate is noisier: over-the-air DP's private power control)."""
    m = receive_beamformer(h) if m is None else m
    effective = h @ m.conj()  # (K,): m^H h_k
    quality = np.abs(effective) ** 2 / phi**2
    keep = np.ones(len(phi), dtype=bool)
    if drop_worst:
        keep[np.argsort(quality, kind="stable")[:drop_worst]] = False
    eta = min(p0_w * float(quality[keep].min()), max_eta)
    b = np.zeros(len(phi), dtype=complex)
    b[keep] = np.sqrt(eta) * phi[keep] * effective[keep].conj() / np.abs(effective[keep]) ** 2
    mse = noise_w * float(np.vdot(m, m).real) / (2 * eta)
    return PowerControl(b, m, eta, mse)


def truncated_inversion(
    h: np.ndarray,
    beta: np.ndarray,
    phi: np.ndarray,
    p0_w: float,
    noise_w: float,
    g_th: float,
    max_eta: float = math.inf,
) -> PowerControl:
    """Truncated channel inversion for single-antenna reception (module docstring).

    h: (K,) or (K, 1) complex channels; beta: (K,) large-scale gains; ``max_eta`` caps
    rho0 as in :func:`zero_forcing`.
    """
    h = h.reshape(-1)
    from scipy.special import exp1  # scipy.special takes 0.25 s to import: only when used

    rho0 = min(p0_w * float(np.min(beta / phi**2)) / float(exp1(g_th)), max_eta)
    keep = np.abs(h) ** 2 / beta >= g_th
    b = np.zeros(len(h), dtype=complex)
    b[keep] = np.sqrt(rho0) * phi[keep] * h[keep].conj() / np.abs(h[keep]) ** 2
    return PowerControl(b, np.ones(1, dtype=complex), rho0, noise_w / (2 * rho0))


def superpose(
    x: np.ndarray,
    h: np.ndarray,
    control: PowerControl,
    noise_w: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The receiver's estimate (n,) of ``sum_k phi_k x_k`` from one simultaneous transmission.

    x: (K, n) real entries, one per channel use on the real part of the symbol. Rows of
    silent devices are ignored. The complex noise per antenna is CN(0, noise_w).
    """
    gain = (h @ control.m.conj()) * control.b  # (K,): m^H h_k b_k
    n = x.shape[1]
    noise = (
        rng.standard_normal((n, len(control.m))) + 1j * rng.standard_normal((n, len(control.m)))
    ) * np.sqrt(noise_w / 2)
    y = gain @ x + noise @ control.m.conj()  # (n,) complex
    return y.real / np.sqrt(control.eta)


def transmit_energy_j(x: np.ndarray, control: PowerControl, symbol_duration_s: float) -> np.ndarray:
    """Energy (K,) each device spends sending its row of x: sum over channel uses of
    ``|b_k|^2 x_ki^2`` times the symbol duration."""
    return np.abs(control.b) ** 2 * np.sum(x**2, axis=1) * symbol_duration_s


@dataclass(frozen=True)
class OTATransmission:
    """Outcome of one over-the-air aggregation.

    estimate: (n,) received estimate of ``sum_k phi_k x_k`` (renormalised over the devices
    that transmitted in each block); energy_j: (K,) per device; airtime_s; snr_db: (K,) mean
    receive SNR ``P0 |m^H h_k|^2 / sigma2`` over the blocks; entry_mse: (n,) the analytic
    MSE (receiver-noise variance) of each entry of the estimate; entry_mass: (n,) the
    weight ``sum phi_k`` of the devices that transmitted each entry (the renormalisation).
    """

    estimate: np.ndarray
    energy_j: np.ndarray
    airtime_s: float
    snr_db: np.ndarray
    entry_mse: np.ndarray
    entry_mass: np.ndarray

    @property
    def mse_per_entry(self) -> float:
        """The analytic MSE averaged over the entries."""
        return float(self.entry_mse.mean())


def transmit_over_the_air(
    x: np.ndarray,
    phi: np.ndarray,
    beta: np.ndarray,
    coefficients: Callable[[int, int], np.ndarray],
    t0_s: float,
    coherence_s: float,
    bandwidth_hz: float,
    p0_w: float,
    noise_w: float,
    power_control: str,
    rng: np.random.Generator,
    drop_worst: int = 0,
    truncation_threshold: float = 0.1,
    max_eta: float = math.inf,
) -> OTATransmission:
    """Send x (K, n) over the air from ``t0_s``, one real entry per channel use at
    ``bandwidth_hz`` channel uses per second. The channel and the power control are
    recomputed in every coherence block the transmission spans.

    coefficients: ``(first_block, n_blocks) -> (n_blocks, K, N)`` small-scale coefficients
    (mean power 1); the channel is ``sqrt(beta_k) * coefficient``; max_eta: a cap on the
    receiver scaling (:func:`zero_forcing`).
    """
    n_devices, n = x.shape
    symbol_s = 1.0 / bandwidth_hz
    blocks = np.floor((t0_s + np.arange(n) * symbol_s) / coherence_s).astype(np.int64)
    first, last = int(blocks[0]), int(blocks[-1])
    coef = coefficients(first, last - first + 1)  # (B, K, N)
    estimate = np.empty(n)
    energy = np.zeros(n_devices)
    snr_sum = np.zeros(n_devices)
    entry_mse = np.empty(n)
    entry_mass = np.empty(n)
    bounds = np.flatnonzero(np.diff(blocks)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True):
        h = np.sqrt(beta)[:, None] * coef[blocks[start] - first]
        if power_control == "truncated_inversion":
            control = truncated_inversion(
                h, beta, phi, p0_w, noise_w, truncation_threshold, max_eta
            )
        else:
            control = zero_forcing(h, phi, p0_w, noise_w, drop_worst, max_eta=max_eta)
        part = x[:, start:stop]
        sent = control.transmitting
        mass = float(phi[sent].sum())
        if mass > 0:
            estimate[start:stop] = superpose(part, h, control, noise_w, rng) / mass
        else:  # everybody truncated: nothing received in this block
            estimate[start:stop] = 0.0
        energy += transmit_energy_j(part, control, symbol_s)
        snr_sum += (stop - start) * p0_w * np.abs(h @ control.m.conj()) ** 2 / noise_w
        entry_mse[start:stop] = control.mse_per_entry / max(mass, 1e-300) ** 2
        entry_mass[start:stop] = mass
    snr_db = 10 * np.log10(snr_sum / n)
    return OTATransmission(estimate, energy, n * symbol_s, snr_db, entry_mse, entry_mass)


@dataclass(frozen=True)
class OTAReceiver:
    """What an AP needs to receive over-the-air aggregations.

    fading: small-scale fading with ``n_aps * antennas`` columns (AP a owns columns
    ``a N .. a N + N - 1``); beta: (K, A) large-scale gains; p0_w: each PIU's power budget
    per channel use; noise_w: receiver noise per antenna over the band.
    """

    fading: BlockFading
    antennas: int
    beta: np.ndarray
    coherence_s: float
    bandwidth_hz: float
    p0_w: float
    noise_w: float
    power_control: str
    drop_worst: int
    truncation_threshold: float
    streams: Streams

    def transmit(
        self,
        ap: int,
        pius: list[int],
        x: np.ndarray,
        phi: np.ndarray,
        t0_s: float,
        round_index: int,
        max_eta: float = math.inf,
    ) -> OTATransmission:
        """PIUs ``pius`` send rows of x (K, n) to AP ``ap`` at once from ``t0_s`` (``max_eta``:
        :func:`zero_forcing`)."""
        cols = slice(ap * self.antennas, (ap + 1) * self.antennas)

        def coefficients(first: int, n_blocks: int) -> np.ndarray:
            return np.stack(
                [self.fading.coefficients(k, first, n_blocks)[:, cols] for k in pius], axis=1
            )

        return transmit_over_the_air(
            x,
            phi,
            self.beta[pius, ap],
            coefficients,
            t0_s,
            self.coherence_s,
            self.bandwidth_hz,
            self.p0_w,
            self.noise_w,
            self.power_control,
            self.streams.numpy(Stream.OTA_NOISE, ap, round_index),
            self.drop_worst,
            self.truncation_threshold,
            max_eta,
        )
