"""Frame-wise reconstruction quality: PSNR and SSIM, computed by torchmetrics.

Taught in ``07_metric_evaluation`` (and used by ``01_latent_compression`` for VAE reconstructions).

Both need a *reference* video: they measure how close a reconstruction is to its original, frame by frame, and
know nothing about motion. A video is treated as a stack of ``F`` (or ``B * F``) images; the per-frame values are
averaged (SSIM) or pooled (PSNR's MSE). ``data_range`` is 1 (videos are in [0, 1]).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from labkit.metrics._checks import as_batch, check_same_shape

__all__ = ["psnr", "ssim"]


def _frames(preds, target) -> tuple[torch.Tensor, torch.Tensor]:
    preds, target = as_batch(preds, "preds"), as_batch(target, "target")
    check_same_shape(preds, target)
    flat = "b f c h w -> (b f) c h w"
    return rearrange(preds, flat), rearrange(target, flat)


def psnr(preds, target) -> float:
    """PSNR in dB between two clips ``(F, C, H, W)`` or batches ``(B, F, C, H, W)`` in [0, 1]:
    ``10 log10(1 / MSE)`` with the MSE over every pixel of every frame
    (``torchmetrics.functional.image.peak_signal_noise_ratio``, ``data_range=1``).

    One MSE for the whole video, not a mean of per-frame PSNRs: a single identical frame would make that mean
    ``inf``. Identical videos give ``inf``.
    """
    p, t = _frames(preds, target)
    return float(peak_signal_noise_ratio(p, t, data_range=1.0))


def ssim(preds, target) -> float:
    """Mean per-frame SSIM (Wang et al., 2004; Gaussian window 11, sigma 1.5) via torchmetrics; in [-1, 1]."""
    p, t = _frames(preds, target)
    return float(structural_similarity_index_measure(p, t, data_range=1.0))
