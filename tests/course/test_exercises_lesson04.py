"""Lesson 04's private exercise references agree with diffusers and with labkit's training objective."""

from __future__ import annotations

import torch
from diffusers import CogVideoXDDIMScheduler

from labkit import schedules
from labkit.course.exercises import lesson04
from labkit.models import cogvideox


def test_the_cases_use_the_tiny_pipelines_schedule():
    scheduler = cogvideox.cogvideox_scheduler()
    torch.testing.assert_close(lesson04._ALPHAS_CUMPROD, scheduler.alphas_cumprod.double(), rtol=1e-5, atol=1e-6)


def test_x0_from_v_inverts_the_training_pair():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 2, 4, 3, 5, generator=g), torch.randn(3, 2, 4, 3, 5, generator=g)
    ac, t = lesson04._ALPHAS_CUMPROD, torch.tensor([0, 600, 999])
    x_t, v = schedules.add_noise(x0, eps, ac, t), schedules.v_target(x0, eps, ac, t)
    torch.testing.assert_close(lesson04._x0_from_v(x_t, v, ac, t), x0, rtol=1e-5, atol=1e-5)


def test_x0_from_v_is_the_ddim_steps_clean_estimate():
    scheduler = cogvideox.cogvideox_scheduler()
    assert isinstance(scheduler, CogVideoXDDIMScheduler) and scheduler.config.prediction_type == "v_prediction"
    scheduler.set_timesteps(10)
    g = torch.Generator().manual_seed(1)
    x_t, v = torch.randn(1, 2, 4, 3, 5, generator=g), torch.randn(1, 2, 4, 3, 5, generator=g)
    t = scheduler.timesteps[3]
    out = scheduler.step(v, t, x_t)
    expected = lesson04._x0_from_v(x_t, v, scheduler.alphas_cumprod, t.reshape(1))
    torch.testing.assert_close(out.pred_original_sample, expected)


def test_guidance_scale_one_is_off_and_zero_is_unconditional():
    g = torch.Generator().manual_seed(2)
    v_uncond, v_text = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    torch.testing.assert_close(lesson04._guide(v_uncond, v_text, 1.0), v_text)
    torch.testing.assert_close(lesson04._guide(v_uncond, v_text, 0.0), v_uncond)
