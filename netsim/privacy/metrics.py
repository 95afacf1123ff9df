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

import torch
import torch.nn.functional as F

_SIGMA = 1.5
_TRUNCATE = 3.5  # scikit-image's (and scipy.ndimage's) Gaussian truncation
_K1, _K2 = 0.01, 0.03


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image (N,)."""
    return ((x.double() - y.double()) ** 2).flatten(1).mean(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(1 / MSE)`` in dB per image (N,) (inf if equal)."""
    return 10.0 * torch.log10(1.0 / mse(x, y))


def _gaussian_kernel() -> torch.Tensor:
    radius = int(_TRUNCATE * _SIGMA + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / _SIGMA) ** 2)
    g = g / g.sum()
    return torch.outer(g, g)


def _symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two axes by ``pad`` with scipy's 'reflect' (edge sample repeated:
    d c b a | a b c d), as scikit-image's Gaussian filter does; any image size."""

    def index(n: int) -> torch.Tensor:
        i = torch.arange(-pad, n + pad)
        period = 2 * n
        i = torch.remainder(i, period)
        return torch.where(i < n, i, period - 1 - i)

    h, w = x.shape[-2:]
    return x[..., index(h), :][..., index(w)]


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean structural similarity per image (N,) of x, y (N, C, H, W) in [0, 1]."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"ssim needs two (N, C, H, W) tensors of one shape, got {x.shape}, {y.shape}"
        )
    n, c, h, w = x.shape
    win = 11 if min(h, w) >= 11 else 7
    if min(h, w) < win:
        raise ValueError(f"ssim needs images of at least {win} x {win} pixels, got {h} x {w}")
    kernel = _gaussian_kernel().to(x.device)[None, None]
    radius = kernel.shape[-1] // 2
    x64 = x.double().reshape(n * c, 1, h, w)
    y64 = y.double().reshape(n * c, 1, h, w)
    stack = torch.cat([x64, y64, x64 * x64, y64 * y64, x64 * y64], dim=1)  # (NC, 5, H, W)
    filtered = F.conv2d(
        _symmetric_pad(stack, radius).reshape(-1, 1, h + 2 * radius, w + 2 * radius), kernel
    ).reshape(n * c, 5, h, w)
    mx, my, exx, eyy, exy = filtered.unbind(dim=1)
    vx, vy, cxy = exx - mx * mx, eyy - my * my, exy - mx * my
    c1, c2 = _K1**2, _K2**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    crop = (win - 1) // 2
    s = s[:, crop : h - crop, crop : w - crop]
    return s.reshape(n, c, -1).mean(dim=(1, 2))


def image_scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """MSE, PSNR (dB) and SSIM per image (N,) of reconstructions x against originals y."""
    return {"mse": mse(x, y), "psnr_db": psnr(x, y), "ssim": ssim(x, y)}
