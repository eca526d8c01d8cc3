"""labkit.metrics.temporal: each temporal metric responds monotonically to the corruption it is designed to notice,
flow motion is proportional to the true Shapes-world speed, and input checks."""

import numpy as np
import pytest
import torch

from labkit.data.shapes import compose_caption, make_clip
from labkit.metrics import (
    corrupt,
    dynamic_degree,
    flicker,
    frame_consistency,
    motion_smoothness,
    warping_error,
)
from labkit.metrics.corruptions import gaussian_blur
from labkit.metrics.temporal import mean_flow_magnitude

torch.set_num_threads(2)
STRENGTHS = (0.0, 0.25, 0.5, 1.0)


def textured_clip(seed=0, step=2, num_frames=16):
    """A smooth random texture translating ``step`` pixels per frame to the left (64 x 64)."""
    rng = np.random.default_rng(seed)
    big = torch.from_numpy(rng.random((1, 3, 96, 64 + step * num_frames + 16)).astype(np.float32))
    big = gaussian_blur(big, 2.0)
    big = (big - big.min()) / (big.max() - big.min())
    return torch.stack([big[0, :, 16:80, 8 + step * t: 72 + step * t] for t in range(num_frames)])


def strictly_monotonic(values, increasing=True):
    diffs = np.diff(values)
    return bool(np.all(diffs > 0)) if increasing else bool(np.all(diffs < 0))


def test_warping_error_bar_smooth_translation_vs_shuffled():
    clip = textured_clip()
    smooth, shuffled = warping_error(clip), warping_error(corrupt(clip, "shuffle", 1.0, seed=0))
    assert smooth < shuffled / 3


def test_warping_error_zero_for_a_still_clip_and_per_pair_length():
    still = textured_clip()[:1].repeat(6, 1, 1, 1)
    value, per_pair = warping_error(still, return_per_pair=True)
    assert value < 1e-5 and len(per_pair) == 5  # Farneback finds sub-pixel flow noise, nothing more


@pytest.mark.parametrize("metric,kind,increasing", [
    (flicker, "flicker", True),
    (flicker, "noise", True),
    (warping_error, "flicker", True),
    (warping_error, "shuffle", True),
    (motion_smoothness, "shuffle", False),
    (motion_smoothness, "flicker", False),
])
def test_temporal_metric_responds_monotonically(metric, kind, increasing):
    values = [np.mean([metric(corrupt(textured_clip(seed), kind, s, seed=seed)) for seed in range(2)])
              for s in STRENGTHS]
    assert strictly_monotonic(values, increasing), values


def test_motion_smoothness_near_one_for_constant_velocity():
    assert motion_smoothness(textured_clip(step=2)) > 0.99


def test_dynamic_degree_grows_with_speed():
    values = []
    for speed in ("slowly", "normal", "quickly"):
        caption = compose_caption("white", "square", "right", speed)
        values.append(np.mean([dynamic_degree(make_clip(caption, seed=s).video) for s in range(3)]))
    assert strictly_monotonic(values), values
    assert dynamic_degree(textured_clip(step=2)) == pytest.approx(2.0, abs=0.3)  # pixels per frame


def test_frame_consistency_with_a_pixel_embedder():
    embed = lambda frames: frames.flatten(1)  # noqa: E731 - a trivial embedder: raw pixels
    clip = textured_clip()
    still = frame_consistency(clip[:1].repeat(4, 1, 1, 1), embed)
    assert still["consecutive"] == pytest.approx(1.0) and still["first"] == pytest.approx(1.0)
    noisy = [frame_consistency(corrupt(clip, "noise", s), embed)["consecutive"] for s in STRENGTHS]
    assert strictly_monotonic(noisy, increasing=False)
    with pytest.raises(ValueError, match=r"expected embed to return \(F, D\)"):
        frame_consistency(clip, lambda frames: frames.flatten(1)[:3])


def test_temporal_metrics_validate_input():
    with pytest.raises(ValueError, match="at least 2 frames"):
        flicker(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="at least 3 frames"):
        motion_smoothness(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="channels last"):
        warping_error(torch.rand(4, 8, 8, 3))
    with pytest.raises(ValueError, match=r"looks like \[0, 255\]"):
        dynamic_degree(torch.rand(4, 3, 8, 8) * 255)


def test_flow_motion_is_proportional_to_true_shapes_world_speed():
    ratios, flows = [], []
    for caption in ("a red circle moving right slowly", "a blue square moving up",
                    "a red circle moving right quickly"):
        video, _, truth = make_clip(caption, seed=0, num_frames=9, size=64)
        speed = np.linalg.norm(np.diff(truth.objects[0].positions, axis=0), axis=1).mean()
        flows.append(mean_flow_magnitude(video))
        ratios.append(flows[-1] / speed)
    assert flows == sorted(flows) and flows[0] > 0
    assert max(ratios) / min(ratios) < 1.3  # a pixel-averaged flow: proportional to speed, same object size
    with pytest.raises(ValueError, match="at least 2 frames"):
        mean_flow_magnitude(video[:1])
