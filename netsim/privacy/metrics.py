"""Image similarity of a reconstruction to the original (COMPRESSION.md, attacks section).

All functions take pixel values in [0, 1] (data range 1) shaped (N, C, H, W) and return one
value per image (N,), float64.

SSIM follows Wang et al. (2004) in scikit-image's Gaussian setting
(``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1)``): local statistics under a Gaussian window (sigma 1.5, truncated at 3.5
sigma: 11 x 11) with symmetric boundary extension, K = (0.01, 0.03), averaged over the
pixels at least ``(win - 1) / 2`` from the border, with win = 11, or 7 for images smaller
than 11 pixels (8 x 8 digits); channels averaged.
"""

from __future__ import annotations

import functools

import torch

_SIGMA = 1.5
_TRUNCATE = 3.5  # scikit-image's (and scipy.ndimage's) Gaussian truncation
_K1, _K2 = 0.01, 0.03


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image (N,)."""
    return ((x.double() - y.double()) ** 2).flatten(1).mean(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(1 / MSE)`` in dB per image (N,) (inf if equal)."""
    return 10.0 * torch.log10(1.0 / mse(x, y))


def _gaussian_taps() -> torch.Tensor:
    """The 1-D Gaussian window (11 taps, float64, sums to 1); the 2-D window is its outer
    product, so filtering runs along rows, then columns (22 multiplications a pixel, not
    121)."""
    radius = int(_TRUNCATE * _SIGMA + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / _SIGMA) ** 2)
    return g / g.sum()


def _symmetric_index(n: int, pad: int) -> torch.Tensor:
    """Source index of each sample of a length-n axis padded by ``pad`` with scipy's
    'reflect' (edge sample repeated: d c b a | a b c d), as scikit-image's Gaussian
    filter pads; any length."""
    i = torch.remainder(torch.arange(-pad, n + pad), 2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


@functools.cache
def _filter_matrix_cpu(n: int) -> torch.Tensor:
    """(n, n) float64 matrix A with A @ v = the Gaussian filter of v (length n) under
    symmetric extension: row i sums the taps that land on each source sample. Made once
    per length (every filtering of an image uses two)."""
    g = _gaussian_taps()
    radius = len(g) // 2
    source = _symmetric_index(n, radius)  # (n + 2r,)
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        a[i].index_add_(0, source[i : i + len(g)], g)
    return a


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The Gaussian filter of x (..., H, W) float64 with symmetric boundary extension:
    A_H x A_W^T, the window being separable (two small matrix products an image)."""
    h, w = x.shape[-2:]
    rows, cols = _filter_matrix_cpu(h).to(x.device), _filter_matrix_cpu(w).to(x.device)
    return rows @ x @ cols.T


def _check(x: torch.Tensor, y: torch.Tensor) -> int:
    """The SSIM window (11, or 7 below 11 pixels) of images x, y (N, C, H, W)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"ssim needs two (N, C, H, W) tensors of one shape, got {x.shape}, {y.shape}"
        )
    h, w = x.shape[-2:]
    win = 11 if min(h, w) >= 11 else 7
    if min(h, w) < win:
        raise ValueError(f"ssim needs images of at least {win} x {win} pixels, got {h} x {w}")
    return win


def _mean_ssim(
    mx: torch.Tensor,
    my: torch.Tensor,
    exx: torch.Tensor,
    eyy: torch.Tensor,
    exy: torch.Tensor,
    win: int,
) -> torch.Tensor:
    """Mean SSIM per image (N,) from the local means and second moments (N, C, H, W)."""
    vx, vy, cxy = exx - mx * mx, eyy - my * my, exy - mx * my
    c1, c2 = _K1**2, _K2**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    h, w = s.shape[-2:]
    crop = (win - 1) // 2
    return s[..., crop : h - crop, crop : w - crop].flatten(1).mean(dim=1)


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean structural similarity per image (N,) of x, y (N, C, H, W) in [0, 1]."""
    win = _check(x, y)
    x64, y64 = x.double(), y.double()
    return _mean_ssim(
        _blur(x64), _blur(y64), _blur(x64 * x64), _blur(y64 * y64), _blur(x64 * y64), win
    )


class SSIMCandidates:
    """Many candidate images ``ys`` (M, C, H, W) in [0, 1] whose SSIM against one image at a
    time is wanted (the GAN attack's nearest victim image): their local statistics are
    filtered once, so each query filters only its products with them (one filter instead
    of five per pair). Equal to :func:`ssim` up to float64 rounding."""

    def __init__(self, ys: torch.Tensor) -> None:
        self.y = ys.double()
        self.my = _blur(self.y)
        self.eyy = _blur(self.y * self.y)
        self.win = _check(ys, ys)

    def ssim(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """SSIM (stop - start,) of the image x (C, H, W) against candidates start..stop."""
        y = self.y[start:stop]
        x64 = x.double().expand_as(y)
        mx = _blur(x64[:1]).expand_as(y)
        exx = _blur(x64[:1] * x64[:1]).expand_as(y)
        return _mean_ssim(
            mx, self.my[start:stop], exx, self.eyy[start:stop], _blur(x64 * y), self.win
        )


def image_scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """MSE, PSNR (dB) and SSIM per image (N,) of reconstructions x against originals y."""
    return {"mse": mse(x, y), "psnr_db": psnr(x, y), "ssim": ssim(x, y)}
