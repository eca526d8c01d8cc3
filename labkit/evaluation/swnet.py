"""Measuring SW-Net and using it: per-head accuracy on held-out clips, and FVD-SW of generated videos.

Taught in ``07_metric_evaluation``.

:func:`evaluate_accuracy` scores each head (colour, shape, direction, speed, and ``"all"``) on one-object clips of a
split never trained on; :func:`fvd_sw` is the Fréchet distance of generated Shapes-world videos
``(B, 17, 3, 64, 64)`` in [0, 1] to the shipped test-split statistics ``data/stats/swnet_test``.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from labkit.checks import check_args
from labkit.data.shapes import ShapesWorld
from labkit.metrics.fvd import FVDResult, fvd_from_stats, load_reference_stats
from labkit.models.swnet import HEADS, SWNet, SWNetFeatures, labels_of

__all__ = ["evaluate_accuracy", "fvd_sw"]


@torch.no_grad()
def evaluate_accuracy(model: SWNet, split: str = "test", num_clips: int = 336, batch_size: int = 48,
                      num_frames: int = 17) -> dict[str, float]:
    """Per-head accuracy (and ``"all"``: every head right) on one-object clips of a split never trained on."""
    check_args(num_clips=num_clips, batch_size=batch_size, num_frames=num_frames)
    world = ShapesWorld(split, length=num_clips, num_frames=num_frames, two_objects=0.0)
    right = {k: 0 for k in [*HEADS, "all"]}
    for start in tqdm(range(0, num_clips, batch_size), desc=f"accuracy ({split})", leave=False):
        clips = [world[i] for i in range(start, min(start + batch_size, num_clips))]
        out = model(torch.stack([c.video for c in clips]))
        labels = labels_of([c.truth for c in clips])
        ok = torch.stack([out[k].argmax(-1) == labels[k] for k in HEADS])
        for i, k in enumerate(HEADS):
            right[k] += int(ok[i].sum())
        right["all"] += int(ok.all(0).sum())
    return {k: v / num_clips for k, v in right.items()}


def fvd_sw(fake_videos, features=None, batch_size: int = 32) -> FVDResult:
    """FVD-SW of generated Shapes-world videos ``(B, 17, 3, 64, 64)`` against the shipped test-split statistics."""
    check_args(batch_size=batch_size)
    features = features if features is not None else SWNetFeatures()
    return fvd_from_stats(load_reference_stats("swnet_test"), fake_videos, features, batch_size)
