"""The private references of lesson 05's exercises agree with the code they stand for: the token count with the
planner's latent geometry, the guidance ramp with what diffusers' ``StableVideoDiffusionPipeline`` does."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from labkit import budgets
from labkit.course.exercises import lesson05
from labkit.models.tiny import tiny_svd_pipeline


@pytest.mark.parametrize("num_frames,height,width", [(49, 480, 720), (13, 480, 720), (9, 64, 96), (1, 480, 720)])
def test_cogvideox_tokens_match_the_planner(num_frames, height, width):
    geometry = budgets.latent_geometry(budgets.architecture_of("cogvideox-2b"), num_frames, height, width)
    assert lesson05._cogvideox_tokens(num_frames, height, width) == geometry["video_tokens"]


def test_svd_guidance_matches_the_pipeline():
    """Run one denoising step of a tiny SVD pipeline, keep the UNet's two predictions and the guided one the
    scheduler receives, and compare the guided one with the reference."""
    pipe = tiny_svd_pipeline(seed=0)
    seen = {}

    def keep_unet_output(module, args, out):
        seen["unet"] = out[0].detach().clone()  # returns None: the output itself is left as it is

    pipe.unet.register_forward_hook(keep_unet_output)
    step = pipe.scheduler.step

    def recording_step(model_output, *args, **kwargs):
        seen["guided"] = model_output.detach().clone()
        return step(model_output, *args, **kwargs)

    pipe.scheduler.step = recording_step
    pipe(Image.new("RGB", (32, 32), (200, 80, 40)), height=32, width=32, num_frames=5, num_inference_steps=1,
         min_guidance_scale=1.5, max_guidance_scale=3.0, decode_chunk_size=5, output_type="pt",
         generator=torch.Generator().manual_seed(0))
    uncond, cond = seen["unet"].chunk(2)  # (B, F, C, h, w) each: the unconditional half comes first
    want = lesson05._svd_guidance(uncond, cond, 1.5, 3.0)
    torch.testing.assert_close(seen["guided"], want, rtol=1e-5, atol=1e-6)
