"""labkit.evaluation.svd: the shipped tiny SVD's measured motion grows with motion_bucket_id."""

import torch
from diffusers import StableVideoDiffusionPipeline

from labkit import models
from labkit.evaluation import svd as svd_evaluation


def test_shipped_tiny_svd_motion_increases_with_motion_bucket_id():
    """The issue's bar, on the shipped model: mean measured motion (Farneback flow) over 4 held-out first frames,
    seed 0, fps 6, 10 steps, pipeline-default guidance, increases strictly over 5 motion_bucket_id settings."""
    torch.set_num_threads(1)
    pipe = models.load("tiny-svd")
    assert isinstance(pipe, StableVideoDiffusionPipeline)
    rows = svd_evaluation.motion_vs_bucket(pipe, buckets=(0, 64, 127, 191, 255), fps=6,
                                          images=svd_evaluation.held_out_images(4))
    motion = [r["motion (px/frame)"] for r in rows]
    assert svd_evaluation.is_monotone(motion), motion
    assert motion[-1] > 2 * motion[0] + 0.1, motion  # a clear effect, not a drift within noise
