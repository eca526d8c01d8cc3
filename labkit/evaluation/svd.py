"""Measuring the tiny SVD: does more ``motion_bucket_id`` give more motion?

Taught in ``05_svd_cogvideox_inference`` (the micro-conditioning sweep).

:func:`motion_vs_bucket` generates from held-out knob-world first frames (:func:`held_out_images`, seeds no training
batch uses) at each ``motion_bucket_id`` with the same seed and measures the motion (mean Farneback flow, px per
frame, through :func:`labkit.inference.runs.sweep_knob`), beside the knob world's true motion
(:func:`labkit.data.knob.expected_motion`). The lesson's bar is that measured motion rises with the bucket
(:func:`is_monotone`).
"""

from __future__ import annotations

from labkit.data.knob import FPS_VALUES, NUM_FRAMES, SIZE, expected_motion, knob_clip
from labkit.inference.runs import sweep_knob
from labkit.video import to_pil

__all__ = ["held_out_images", "motion_vs_bucket", "is_monotone"]


# ------------------------------------------------------------------------------------------------ evaluation
def held_out_images(n: int, size: int = SIZE):
    """First frames (PIL) of ``n`` knob-world clips with seeds no training batch uses (drawn from 2**31 up)."""

    return [to_pil(knob_clip(2**31 + i, 0, FPS_VALUES[0], num_frames=1, size=size))[0] for i in range(n)]


def motion_vs_bucket(pipe, buckets=(0, 64, 127, 191, 255), fps: int = 6, images=None, steps: int = 10,
                     seed: int = 0, **call) -> list[dict]:
    """Mean Farneback flow (px/frame) of generated videos per ``motion_bucket_id``, over held-out first frames
    (:func:`held_out_images`, 4 by default), the same seed for every bucket; beside it the knob world's true
    motion at that setting. Rows as :func:`labkit.inference.sweep_knob` plus ``"world truth (px/frame)"``."""

    images = images if images is not None else held_out_images(4)
    rows = sweep_knob(pipe, images, "motion_bucket_id", buckets, NUM_FRAMES, SIZE, SIZE, steps, seed, fps=fps,
                      **call)
    for r in rows:
        r["world truth (px/frame)"] = round(expected_motion(r["motion_bucket_id"], fps), 4)
    return rows


def is_monotone(values) -> bool:
    """True when ``values`` strictly increase."""
    return all(b > a for a, b in zip(values[:-1], values[1:]))
