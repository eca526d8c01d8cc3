"""The helpers that left the notebooks for labkit (notebooks 03, 05, 06, 07): small, fast checks with stand-ins."""

from dataclasses import replace
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch
from diffusers import CogVideoXDDIMScheduler

from labkit import noise
from labkit.data import knob
from labkit.data.shapes import make_clip, objects_touch
from labkit.evaluation import orbit as orbit_eval
from labkit.evaluation import svd as svd_eval
from labkit.inference import loading, runs
from labkit.models import cogvideox

matplotlib.use("Agg")


# ------------------------------------------------------------------------------------------------ 03: noise
class FakeCogVideoX:
    """Enough of a ``CogVideoXPipeline`` for :func:`labkit.models.cogvideox.video_from_noise`: records each call."""

    vae_scale_factor_temporal, vae_scale_factor_spatial = 4, 8

    def __init__(self):
        self.transformer = SimpleNamespace(config=SimpleNamespace(in_channels=4, max_text_seq_length=8))
        self.scheduler = CogVideoXDDIMScheduler()
        self.calls = []

    def __call__(self, latents, num_inference_steps, num_frames, height, width, output_type, **kwargs):
        self.calls.append({"latents": latents, "steps": num_inference_steps, "output_type": output_type,
                           "scheduler": type(self.scheduler).__name__, **kwargs})
        if output_type == "latent":
            return SimpleNamespace(frames=latents)
        return SimpleNamespace(frames=torch.full((1, num_frames, 3, height, width), 0.5))


def test_noise_generator_fixes_size_and_prompt():
    pipe = FakeCogVideoX()
    generate = cogvideox.noise_generator(pipe, 9, 16, 16, steps=3, prompt="a red circle moving right",
                                         guidance_scale=4.0)
    shape = cogvideox.noise_shape(pipe, 9, 16, 16)
    assert shape == (1, 3, 4, 2, 2)
    video = generate(torch.zeros(shape))
    assert video.shape == (9, 3, 16, 16)  # (F, C, H, W) in [0, 1]
    assert pipe.calls[-1]["steps"] == 3 and pipe.calls[-1]["guidance_scale"] == 4.0
    assert pipe.calls[-1]["max_sequence_length"] == 8  # tokenised to the tiny transformer's text length
    latents = generate(torch.ones(shape), steps=5, output="latent")
    assert torch.equal(latents, torch.ones(shape)) and pipe.calls[-1]["steps"] == 5
    with pytest.raises(ValueError, match="expected initial latents of shape"):
        generate(torch.zeros(1, 2, 4, 2, 2))


def test_sampler_generator_swaps_the_sampler_and_seeds_the_noise():
    pipe = FakeCogVideoX()
    generate = cogvideox.noise_generator(pipe, 9, 16, 16, steps=3, prompt="a red circle moving right")
    shape = cogvideox.noise_shape(pipe, 9, 16, 16)
    with_sampler = noise.sampler_generator(pipe, generate, shape)
    with_sampler("cogvideox_dpm", 2, seed=7)
    call = pipe.calls[-1]
    assert call["scheduler"] == "CogVideoXDPMScheduler" and call["steps"] == 2
    expected = noise.correlated_noise(shape, kind="independent", generator=torch.Generator().manual_seed(7))
    assert torch.equal(call["latents"], expected)
    rows = noise.steps_vs_quality(with_sampler, ["cogvideox_ddim"], [1, 2], [0, 1], {"mean": lambda v: v.mean()})
    assert [r["steps"] for r in rows] == [1, 2] and rows[0]["mean"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------ 05: inference
def test_load_or_fallback_uses_the_fallback_only_when_weights_are_missing(monkeypatch, capsys):
    def fake_load(spec, device="cpu", dtype="fp32"):
        if spec == "owner/missing":
            raise loading.WeightsNotFound("no weights for owner/missing in the local cache")
        return f"pipeline {spec} on {device} {dtype}"

    monkeypatch.setattr(loading, "load_pipeline", fake_load)
    assert loading.load_or_fallback("tiny-t2v", "random:tiny-cogvideox") == "pipeline tiny-t2v on cpu fp32"
    assert capsys.readouterr().out == ""
    got = loading.load_or_fallback("owner/missing", "random:tiny-cogvideox", "cpu", "bf16")
    assert got == "pipeline random:tiny-cogvideox on cpu bf16"
    assert "falling back to random:tiny-cogvideox" in capsys.readouterr().out


def test_plan_comparison_spec_and_plans(monkeypatch):
    loaded = []

    def fake_load(spec, device="cpu", dtype="fp32"):
        if spec == "some/folder-missing":
            raise runs.WeightsNotFound(spec)
        loaded.append((spec, device))
        return SimpleNamespace(family="svd" if "svd" in spec else "cogvideox")

    monkeypatch.setattr(runs, "load_pipeline", fake_load)
    monkeypatch.setattr(runs, "pipeline_family", lambda pipe: pipe.family)
    spec, plans = runs.plan_comparison("THUDM/CogVideoX-5b", "cpu")  # a real-size model is not run on the CPU
    assert spec == "random:tiny-cogvideox" and plans == list(runs.COMPARED_PLANS["cogvideox"])
    spec, plans = runs.plan_comparison("tiny-svd", "cpu", smoke=True)
    assert spec == "tiny-svd" and plans == ["none", "forward_chunking", "decode_chunk"]
    assert runs.plan_comparison("some/folder-missing", "cpu")[0] == "random:tiny-cogvideox"
    assert all(device == "cpu" for _, device in loaded)


# ------------------------------------------------------------------------------------------------ 05: SVD knobs
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


# ------------------------------------------------------------------------------------------------ 06: orbit note
def test_shipped_note_says_why_bars_are_missed():
    prov = {"command": "labkit train orbit --steps 3000", "seconds": 2963.3, "hardware": "2 cores"}
    assert orbit_eval.shipped_note({**prov, "bars_met": True}) == (
        "shipped model data/models/tiny-orbit: `labkit train orbit --steps 3000` (2963 s, 2 cores)")
    note = orbit_eval.shipped_note({**prov, "bars_met": False, "bars_problem": "joint PSNR 21.02 too low"})
    assert "below the lesson's bars (joint PSNR 21.02 too low)" in note and orbit_eval.NOT_HELD in note


# ------------------------------------------------------------------------------------------------ 07: overlap
def test_objects_touch_from_the_ground_truth():
    truth = make_clip("a red circle moving right and a blue square moving left", seed=0).truth
    a, b = truth.objects
    still = np.zeros((truth.num_frames, 2), np.float32) + 20
    reach = 1.3 * (a.radius + b.radius) + 1.0  # the threshold, in pixels

    def placed(gap):
        return replace(truth, objects=(replace(a, positions=still), replace(b, positions=still + [gap, 0])))

    assert objects_touch(placed(reach - 0.1)) and not objects_touch(placed(reach + 0.1))
    with pytest.raises(ValueError, match="two objects"):
        objects_touch(make_clip("a red circle moving right", seed=0).truth)
