"""labkit.evaluation.animatediff: the clip measures tell a coherent clip from a shuffled one."""

import torch

from labkit.evaluation import animatediff as animatediff_evaluation
from labkit.models import animatediff as I


def test_clip_measures_tell_a_coherent_clip_from_a_shuffled_one():
    clip = I.render_clip("a yellow square moving right", seed=5, num_frames=8)
    assert clip.shape == (8, 3, I.SIZE, I.SIZE)
    coherent = animatediff_evaluation.clip_measures(clip)
    assert coherent["position_jitter"] < 0.3 and coherent["colour_drift"] < 0.05 and coherent["area_change"] < 0.1
    shuffled = animatediff_evaluation.clip_measures(clip[torch.tensor([0, 5, 2, 7, 1, 6, 3, 4])])
    assert shuffled["position_jitter"] > 3 * max(coherent["position_jitter"], 0.1)
    assert shuffled["warping_error"] > coherent["warping_error"]
    err = animatediff_evaluation.per_frame_error(clip, "a yellow square moving right")
    assert err["colour_error"].shape == (8,) and (err["colour_error"] < 0.1).all()
    assert (err["relative_area"] - 1).abs().mean() < 0.15  # the square keeps its size (up to pixel rounding)
