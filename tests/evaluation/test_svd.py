"""labkit.evaluation.svd: the shipped tiny SVD's measured motion grows with motion_bucket_id."""

from types import SimpleNamespace

import pytest
import torch
from diffusers import StableVideoDiffusionPipeline

from labkit import models
from labkit.data import knob
from labkit.evaluation import svd as svd_eval
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


def test_sweep_inputs_for_the_shipped_and_a_random_svd():
    shipped = svd_eval.sweep_inputs(SimpleNamespace(labkit_note="shipped data/models/tiny-svd", unet=object()),
                                    2, fallback_size=(4, 32, 32))
    assert shipped["trained"] and shipped["size"] == (knob.NUM_FRAMES, knob.SIZE, knob.SIZE)
    assert len(shipped["images"]) == 2 and shipped["images"][0].size == (knob.SIZE, knob.SIZE)
    random = svd_eval.sweep_inputs(SimpleNamespace(labkit_note="random weights", unet=object()), 2,
                                   fallback_size=(4, 48, 64))
    assert not random["trained"] and random["size"] == (4, 48, 64)
    assert len(random["images"]) == 1 and random["images"][0].size == (64, 48)  # PIL: (width, height)


def test_sweep_knobs_holds_the_other_knobs_fixed(monkeypatch):
    calls = []

    def fake_sweep(pipe, images, name, values, num_frames, height, width, steps, seed=0, **fixed):
        calls.append((name, list(values), fixed))
        return [{name: v, "motion (px/frame)": 0.0, "stderr": 0.0} for v in values]

    monkeypatch.setattr(svd_eval, "sweep_knob", fake_sweep)
    sweeps = svd_eval.sweep_knobs(None, [], {"fps": [4, 12], "noise_aug_strength": [0.0]}, 8, 32, 32, 2)
    assert list(sweeps) == ["fps", "noise_aug_strength"]
    assert calls[0] == ("fps", [4, 12], {"motion_bucket_id": 255})
    assert calls[1][2] == {"fps": 6, "motion_bucket_id": 255}
    with pytest.raises(ValueError, match="expected knobs among"):
        svd_eval.sweep_knobs(None, [], {"motion_bucket": [1]}, 8, 32, 32, 2)


def test_world_truth_and_the_knob_plot():
    assert svd_eval.world_truth("motion_bucket_id", [0, 255]) == [0.0, knob.expected_motion(255, 6)]
    assert svd_eval.world_truth("fps", [4, 12]) == [knob.expected_motion(255, 4), knob.expected_motion(255, 12)]
    with pytest.raises(ValueError, match="only motion_bucket_id and fps"):
        svd_eval.world_truth("noise_aug_strength", [0.1])
    rows = [{"fps": f, "motion (px/frame)": 1.0 / f, "stderr": 0.01} for f in (4, 12)]
    fig = svd_eval.plot_knob_sweeps({"fps": rows, "max_guidance_scale": [
        {"max_guidance_scale": 1.0, "motion (px/frame)": 0.2, "stderr": 0.0}]})
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[0].get_lines()][-1] == "world truth"
    assert "world truth" not in [line.get_label() for line in fig.axes[1].get_lines()]
