"""Lesson 03's private exercise references agree with labkit's own implementations."""

from __future__ import annotations

import torch

from labkit import noise, schedules
from labkit.course.exercises import lesson03


def test_zero_snr_reference_is_labkits_rescaling():
    ac = schedules.schedule_alphas_cumprod("scaled_linear")
    rescaled = lesson03._zero_snr(ac)
    torch.testing.assert_close(rescaled, schedules.schedule_alphas_cumprod("scaled_linear", zero_snr=True))
    assert float(rescaled[-1]) == 0.0
    torch.testing.assert_close(rescaled[0], ac[0])  # the nearly clean end keeps its alpha-bar


def test_mixed_noise_reference_is_correlated_noise_from_the_same_draws():
    shape, alpha = (5, 3, 4, 6), 1.5
    g = torch.Generator().manual_seed(7)
    shared, own = torch.randn(1, *shape[1:], generator=g), torch.randn(shape, generator=g)  # the order labkit draws
    expected = noise.correlated_noise(shape, alpha, "mixed", generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(lesson03._mixed_noise(shared, own, alpha), expected)
