"""Controlled corruptions of a clip, for the content-bias experiment (Ge et al., CVPR 2024, "On the Content Bias
in Fréchet Video Distance") and the temporal-smoothing trick.

Taught in ``07_metric_evaluation``.

Every corruption is ``fn(video, strength, rng) -> video``: a clip ``(F, C, H, W)`` in [0, 1] in, the same shape out,
``strength`` in [0, 1] (0 = unchanged), deterministic for a given ``numpy.random.Generator``. Spatial corruptions
damage every frame; temporal ones keep every frame intact and damage only their order or timing.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from labkit.checks import NON_NEGATIVE, check_args, check_choice, check_number
from labkit.metrics._checks import as_batch

__all__ = ["CORRUPTIONS", "SPATIAL", "TEMPORAL", "corrupt", "gaussian_blur", "temporal_smooth"]


def gaussian_blur(video: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every frame with standard deviation ``sigma`` pixels (reflect padding); the
    kernel reaches ``3 sigma`` pixels, or one less than the frame's side on frames smaller than that."""
    check_number(sigma, "sigma", NON_NEGATIVE)
    radius = min(max(1, int(math.ceil(3 * sigma))), min(video.shape[-2:]) - 1)  # reflect padding: radius < side
    if sigma <= 0 or radius < 1:
        return video.clone()
    x = torch.arange(-radius, radius + 1, dtype=video.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    f, c, h, w = video.shape
    out = video.reshape(f * c, 1, h, w)
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return out.reshape(f, c, h, w)


def _blur(video, s, rng):  # sigma up to 2.5 px
    return gaussian_blur(video, 2.5 * s)


def _noise(video, s, rng):  # additive Gaussian noise, std up to 0.25
    noise = torch.from_numpy(rng.standard_normal(video.shape).astype(np.float32))
    return (video + 0.25 * s * noise).clamp(0, 1)


def _color_shift(video, s, rng):
    """Rotate the hue: blend RGB towards its channel permutation GBR (s=1 swaps colours entirely)."""
    if video.shape[1] != 3:
        raise ValueError(f"colour shift needs RGB frames (C=3), got C={video.shape[1]}")
    return (1 - s) * video + s * video[:, [1, 2, 0]]


def _shuffle(video, s, rng):
    """Permute the order of a random ``s`` fraction of the frames among themselves."""
    f = video.shape[0]
    k = int(round(s * f))
    order = np.arange(f)
    if k >= 2:
        picked = np.sort(rng.choice(f, size=k, replace=False))
        perm = rng.permutation(picked)
        while k > 1 and np.array_equal(perm, picked):
            perm = rng.permutation(picked)
        order[picked] = perm
    return video[torch.from_numpy(order)]


def _drop_repeat(video, s, rng):
    """Stutter: each frame after the first is dropped with probability ``s`` and the previous one repeated."""
    order = [0]
    for t in range(1, video.shape[0]):
        order.append(order[-1] if rng.random() < s else t)
    return video[torch.tensor(order)]


def _flicker(video, s, rng):
    """Per-frame brightness jumps: each frame is scaled by ``1 + g``, ``g`` uniform in ``[-0.5 s, 0.5 s]``."""
    gains = 1 + s * rng.uniform(-0.5, 0.5, size=video.shape[0]).astype(np.float32)
    return (video * torch.from_numpy(gains).view(-1, 1, 1, 1)).clamp(0, 1)


def _reverse(video, s, rng):
    """Reverse the order of the first ``round(s F)`` frames (s=1 plays the whole clip backwards)."""
    k = int(round(s * video.shape[0]))
    order = list(range(video.shape[0]))
    order[:k] = order[:k][::-1]
    return video[torch.tensor(order)]


def temporal_smooth(video: torch.Tensor, strength: float = 1.0, rng=None) -> torch.Tensor:
    """The "temporal smoothing" post-processing trick: blend each frame with the mean of its two neighbours,
    ``(1 - s) x_t + s (x_{t-1} + x_t + x_{t+1}) / 3`` (edge frames replicate). Less flicker, but also blur."""
    check_args(strength=strength)
    padded = torch.cat([video[:1], video, video[-1:]])
    box = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    return (1 - strength) * video + strength * box


SPATIAL = {"blur": _blur, "noise": _noise, "color_shift": _color_shift}
TEMPORAL = {"shuffle": _shuffle, "drop_repeat": _drop_repeat, "flicker": _flicker, "reverse": _reverse,
            "smooth": temporal_smooth}
#: name -> ``fn(video, strength, rng)``.
CORRUPTIONS = {**SPATIAL, **TEMPORAL}


def corrupt(video, kind: str, strength: float, seed: int = 0) -> torch.Tensor:
    """Apply corruption ``kind`` (see :data:`CORRUPTIONS`) at ``strength`` in [0, 1] to a clip ``(F, C, H, W)`` or
    a batch ``(B, F, C, H, W)``; each clip of a batch gets its own random draw, deterministic for ``seed``."""
    check_choice(kind, "kind", sorted(CORRUPTIONS), what="corruption")
    check_args(strength=strength, seed=seed)
    batch = as_batch(video)
    rngs = [np.random.default_rng([seed, i]) for i in range(batch.shape[0])]
    out = torch.stack([CORRUPTIONS[kind](clip, float(strength), rng) for clip, rng in zip(batch, rngs)])
    return out if video.ndim == 5 else out[0]
