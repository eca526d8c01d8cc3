"""Input checks shared by the metrics: every public metric validates its videos here, before any heavy work."""

from __future__ import annotations

import torch

from labkit.video import check_video


def as_batch(video, name: str = "video") -> torch.Tensor:
    """A clip ``(F, C, H, W)`` or batch ``(B, F, C, H, W)`` in [0, 1] -> a float batch ``(B, F, C, H, W)``."""
    video = check_video(video, name=name)
    return (video if video.ndim == 5 else video.unsqueeze(0)).float()


def as_clip(video, name: str = "video", min_frames: int = 2) -> torch.Tensor:
    """A single clip ``(F, C, H, W)`` in [0, 1] with at least ``min_frames`` frames."""
    video = check_video(video, name=name, allow_batch=False).float()
    if video.shape[0] < min_frames:
        raise ValueError(f"expected {name} with at least {min_frames} frames, got {video.shape[0]} "
                         f"(shape {tuple(video.shape)})")
    return video


def check_same_shape(preds: torch.Tensor, target: torch.Tensor) -> None:
    if preds.shape != target.shape:
        hint = ""
        if preds.ndim == target.ndim and preds.shape[-4] != target.shape[-4]:
            hint = f": different frame counts ({preds.shape[-4]} vs {target.shape[-4]})"
        raise ValueError(f"expected preds and target of the same shape, got {tuple(preds.shape)} and "
                         f"{tuple(target.shape)}{hint}")
