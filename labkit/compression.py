"""Compression arithmetic: how many numbers a video is, and how many tokens a model must attend over.

Taught in ``00_tour`` (the pixel-space problem) and ``01_latent_compression`` (what a VAE buys).
"""

from __future__ import annotations

import math

__all__ = ["video_values", "patch_tokens", "attention_matrix_bytes"]


def _positive(**values) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"expected {name} to be a positive int, got {v!r}")


def video_values(num_frames: int, height: int, width: int, channels: int = 3) -> int:
    """Number of values in a video: ``F * C * H * W`` (a 4 s, 24 fps, 512x512 RGB clip: 75.5 million)."""
    _positive(num_frames=num_frames, height=height, width=width, channels=channels)
    return num_frames * channels * height * width


def patch_tokens(num_frames: int, height: int, width: int, patch: tuple[int, int, int] = (1, 1, 1)) -> int:
    """Number of tokens when a ``(F, H, W)`` grid is cut into ``(p_f, p_h, p_w)`` patches (ceil at the edges)."""
    _positive(num_frames=num_frames, height=height, width=width)
    p_f, p_h, p_w = patch
    _positive(p_f=p_f, p_h=p_h, p_w=p_w)
    return math.ceil(num_frames / p_f) * math.ceil(height / p_h) * math.ceil(width / p_w)


def attention_matrix_bytes(tokens: int, heads: int = 1, bytes_per_value: int = 2) -> int:
    """Memory of one full self-attention matrix: ``heads * tokens**2 * bytes_per_value`` (fp16: 2 bytes).

    Memory-efficient kernels (FlashAttention) never store it, but they still do ``O(tokens**2)`` work.
    """
    _positive(tokens=tokens, heads=heads, bytes_per_value=bytes_per_value)
    return heads * tokens * tokens * bytes_per_value
