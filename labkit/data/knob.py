"""The knob world of the tiny SVD: one Shapes-world object drifting right at the speed the knobs set.

Taught in ``05_svd_cogvideox_inference`` (the micro-conditioning sweep); :mod:`labkit.training.svd` trains on it and
:mod:`labkit.evaluation.svd` measures against it.

The world runs at :data:`WORLD_FPS` frames per second. ``motion_bucket_id`` (0-255) sets the speed, linear from 0
(static) to :data:`MAX_SPEED` pixels per world frame at 255, and a clip at ``fps`` keeps every ``WORLD_FPS / fps``-th
world frame. So an object moves ``MAX_SPEED * motion_bucket_id / 255 * WORLD_FPS / fps`` pixels per *video* frame
(:func:`expected_motion`): more bucket, more motion; more fps, less motion per frame. The direction is always
right, so the first frame says everything but the speed. :func:`knob_clip` renders a clip ``(F, 3, 32, 32)`` in
[0, 1] (8 frames by default) with the Shapes world's renderer.
"""

from __future__ import annotations

import numpy as np
import torch

from labkit.checks import check_args
from labkit.data.shapes import COLORS, SHAPES, ObjectTruth, render_objects

__all__ = ["WORLD_FPS", "FPS_VALUES", "MAX_SPEED", "expected_motion", "knob_clip"]


WORLD_FPS = 24  # frames per second of the simulated world


FPS_VALUES = (4, 6, 8, 12)  # the fps conditions seen in training: every 6th, 4th, 3rd, 2nd world frame


SIZE, NUM_FRAMES = 32, 8  # frames are 32x32 (latents 16x16), 8 frames per clip
MAX_SPEED = 0.45  # pixels per world frame at motion_bucket_id 255 (2.7 px per video frame at fps 4)


def expected_motion(motion_bucket_id: float, fps: float) -> float:
    """Pixels per video frame that the knob world moves at ``motion_bucket_id`` (0-255) and ``fps``."""
    check_args(motion_bucket_id=motion_bucket_id, fps=fps)
    if motion_bucket_id > 255:
        raise ValueError(f"motion_bucket_id: expected a number in [0, 255], got {motion_bucket_id}")
    return MAX_SPEED * motion_bucket_id / 255 * WORLD_FPS / fps


def knob_clip(seed: int, motion_bucket_id: float, fps: int, num_frames: int = NUM_FRAMES,
              size: int = SIZE) -> torch.Tensor:
    """A clip ``(F, 3, size, size)`` in [0, 1] of the knob world: one random shape drifting right at the speed the
    knobs set. Positions are those of world frames ``0, k, 2k, ...`` with ``k = WORLD_FPS / fps``."""
    check_args(seed=seed, num_frames=num_frames, size=size)
    step = expected_motion(motion_bucket_id, fps)
    rng = np.random.default_rng(seed)
    level = float(rng.uniform(0.0, 0.18))
    background = tuple(float(v) for v in np.clip(level + rng.uniform(-0.03, 0.03, size=3), 0, 1))
    color, shape = list(COLORS)[rng.integers(len(COLORS))], SHAPES[rng.integers(len(SHAPES))]
    radius = float(rng.uniform(0.08, 0.11) * size)
    reach = radius * (1.3 if shape == "triangle" else 1.0) + 1.0  # keep the whole shape inside the frame
    travel = step * (num_frames - 1)
    if travel > size - 2 * reach:
        raise ValueError(f"motion {step:.2f} px/frame over {num_frames} frames does not fit a {size}px frame")
    x0, y0 = rng.uniform(reach, size - reach - travel), rng.uniform(reach, size - reach)
    t = np.arange(num_frames, dtype=np.float32)
    positions = np.stack([x0 + step * t, np.full_like(t, y0)], axis=1).astype(np.float32)
    obj = ObjectTruth(color, COLORS[color], shape, "right", f"{step:.3f} px/frame", radius, positions, (step, 0.0))
    return torch.from_numpy(render_objects((obj,), background, num_frames, size))
