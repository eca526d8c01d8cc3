"""Lesson 07's exercises accept the answers learners write the usual way (scipy's ``sqrtm``, numpy's ``diff``, the
closed-form rank), not only labkit's own implementations, and reject a wrong shape with a readable message."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from labkit.course.exercises import check_answer


def test_frechet_with_scipy_sqrtm_passes():
    def frechet_gaussians(mu1, sigma1, mu2, sigma2):
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
        return ((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean)

    assert check_answer("07.frechet_gaussians", frechet_gaussians).passed


def test_flicker_with_numpy_diff_passes():
    def flicker(video):
        return float(np.abs(np.diff(video.numpy(), axis=0)).mean())

    assert check_answer("07.flicker", flicker).passed


def test_flicker_per_frame_pair_is_told_to_return_one_number():
    fb = check_answer("07.flicker", lambda video: (video[1:] - video[:-1]).abs().mean(dim=(1, 2, 3)))
    assert not fb.passed and fb.answered and "one number" in fb.hint


def test_covariance_rank_closed_form_matches_the_measured_rank():
    assert check_answer("07.covariance_rank", lambda num_videos, dim: min(num_videos - 1, dim)).passed
