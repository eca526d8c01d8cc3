"""labkit.data.knob: the knob world of the SVD lesson moves as motion_bucket_id and fps say."""

import numpy as np
import pytest
import torch

from labkit.data import knob as knob_data
from labkit.evaluation import svd as svd_evaluation
from labkit.metrics.temporal import mean_flow_magnitude


def test_knob_world_moves_as_the_knobs_say():
    static = knob_data.knob_clip(3, 0, 6)
    assert torch.equal(static[0], static[-1])  # bucket 0: nothing moves
    fast = knob_data.knob_clip(3, 255, 4)
    assert fast.shape == (knob_data.NUM_FRAMES, 3, knob_data.SIZE, knob_data.SIZE) and 0 <= fast.min() and fast.max() <= 1
    # the object's centre of mass moves right by expected_motion per frame (measured on the rendered pixels)
    bg = fast[0, :, 0, 0].view(1, 3, 1, 1)
    mass = (fast - bg).abs().sum(1)  # (F, H, W)
    xs = (mass * torch.arange(knob_data.SIZE)).sum((1, 2)) / mass.sum((1, 2))
    np.testing.assert_allclose(np.diff(xs.numpy()), knob_data.expected_motion(255, 4), atol=0.05)
    flows = [mean_flow_magnitude(knob_data.knob_clip(3, b, 6)) for b in (0, 85, 170, 255)]
    assert svd_evaluation.is_monotone(flows), flows


def test_knob_validation():
    with pytest.raises(ValueError, match="motion_bucket_id"):
        knob_data.expected_motion(300, 6)
    with pytest.raises(ValueError, match="does not fit"):
        knob_data.knob_clip(0, 255, 1)
