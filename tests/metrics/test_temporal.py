"""Tests of labkit.metrics: Fréchet distance against scipy, PSNR/SSIM against torchmetrics, the temporal metrics'
monotonic response to the corruptions they are designed to notice, and input validation."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from labkit.data.shapes import ShapesWorld, compose_caption, make_clip
from labkit.metrics import (
    CORRUPTIONS,
    FewSamplesWarning,
    corrupt,
    dynamic_degree,
    flicker,
    frame_consistency,
    frechet_distance,
    gaussian_stats,
    motion_smoothness,
    psnr,
    ssim,
    warping_error,
)
from labkit.metrics.corruptions import gaussian_blur

torch.set_num_threads(2)
STRENGTHS = (0.0, 0.25, 0.5, 1.0)


def scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_stats(rng, d, n=None):
    x = rng.standard_normal((n or 3 * d, d)) @ rng.standard_normal((d, d))
    return rng.standard_normal(d), np.cov(x, rowvar=False)


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


# ---------------------------------------------------------------- Fréchet distance
@pytest.mark.parametrize("d", [2, 8, 64])
def test_frechet_matches_scipy_reference(d):
    rng = np.random.default_rng(d)
    (mu1, s1), (mu2, s2) = random_stats(rng, d), random_stats(rng, d)
    ours, ref = frechet_distance(mu1, s1, mu2, s2), scipy_frechet(mu1, s1, mu2, s2)
    assert ref > 1.0
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_frechet_identity_symmetry_and_torch_input():
    rng = np.random.default_rng(0)
    (mu1, s1), (mu2, s2) = random_stats(rng, 16), random_stats(rng, 16)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)
    as_torch = [torch.from_numpy(a).float() for a in (mu1, s1, mu2, s2)]
    assert frechet_distance(*as_torch) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-4)


def test_frechet_known_value_for_diagonal_gaussians():
    # tr(sqrt(diag(a) diag(b))) = sum sqrt(a b): d^2 = |dmu|^2 + sum (sqrt a - sqrt b)^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.0])
    expected = 3.0 + float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_finite_for_rank_deficient_covariances():
    rng = np.random.default_rng(1)
    d = 64
    with pytest.warns(FewSamplesWarning, match="10 samples for 64 feature dimensions"):
        mu1, s1 = gaussian_stats(rng.standard_normal((10, d)))
    with pytest.warns(FewSamplesWarning):
        mu2, s2 = gaussian_stats(rng.standard_normal((12, d)) + 0.5)
    assert np.linalg.matrix_rank(s1) < d
    value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value) and value > 0
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


def test_frechet_and_stats_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"sigma2 of shape \(D, D\) = \(3, 3\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="same length"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"at least 2 samples"):
        gaussian_stats(np.zeros((1, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gaussian_stats(np.random.default_rng(0).standard_normal((50, 4)))  # enough samples: no warning


# ---------------------------------------------------------------- PSNR / SSIM
def test_psnr_ssim_equal_torchmetrics():
    clean = ShapesWorld("test", 2)[0].video
    noisy = corrupt(clean, "noise", 0.3, seed=1)
    assert psnr(noisy, clean) == float(peak_signal_noise_ratio(noisy, clean, data_range=1.0))
    assert ssim(noisy, clean) == float(structural_similarity_index_measure(noisy, clean, data_range=1.0))
    # and PSNR is the textbook formula with one MSE over the whole clip
    mse = ((noisy - clean) ** 2).double().mean()
    assert psnr(noisy, clean) == pytest.approx(float(10 * torch.log10(1 / mse)), rel=1e-5)
    frozen = clean[:1].expand_as(clean)
    assert np.isfinite(psnr(frozen, clean))  # one identical frame does not make it inf


@pytest.mark.parametrize("kind", ["noise", "blur"])
def test_psnr_ssim_fall_with_spatial_damage(kind):
    clean = ShapesWorld("test", 1)[0].video
    psnrs = [psnr(corrupt(clean, kind, s), clean) for s in STRENGTHS[1:]]
    ssims = [ssim(corrupt(clean, kind, s), clean) for s in STRENGTHS]
    assert strictly_monotonic(psnrs, increasing=False)
    assert strictly_monotonic(ssims, increasing=False) and ssims[0] == pytest.approx(1.0, abs=1e-4)


def test_psnr_rejects_different_frame_counts_and_layouts():
    a = torch.rand(8, 3, 16, 16)
    with pytest.raises(ValueError, match=r"different frame counts \(8 vs 6\)"):
        psnr(a, a[:6])
    with pytest.raises(ValueError, match="frames and channels swapped"):
        ssim(a.permute(1, 0, 2, 3), a.permute(1, 0, 2, 3))


# ---------------------------------------------------------------- temporal metrics
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


# ---------------------------------------------------------------- corruptions
@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corruptions_keep_shape_range_identity_and_determinism(kind):
    clip = ShapesWorld("test", 1)[0].video
    assert torch.equal(corrupt(clip, kind, 0.0), clip) or torch.allclose(corrupt(clip, kind, 0.0), clip)
    out = corrupt(clip, kind, 0.7, seed=3)
    assert out.shape == clip.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, corrupt(clip, kind, 0.7, seed=3))
    assert not torch.allclose(out, clip)


def test_temporal_corruptions_keep_the_frames_themselves():
    clip = ShapesWorld("test", 1)[0].video
    frames = {f.numpy().tobytes() for f in clip}
    for kind in ("shuffle", "drop_repeat", "reverse"):
        assert {f.numpy().tobytes() for f in corrupt(clip, kind, 1.0)} <= frames
    assert torch.equal(corrupt(clip, "reverse", 1.0), clip.flip(0))


def test_corrupt_validates_kind_strength_and_batches():
    clip = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown corruption 'melt'"):
        corrupt(clip, "melt", 0.5)
    with pytest.raises(ValueError, match=r"strength in \[0, 1\], got 1.5"):
        corrupt(clip, "blur", 1.5)
    batch = corrupt(torch.stack([clip, clip]), "noise", 0.5)
    assert batch.shape == (2, 4, 3, 8, 8) and not torch.equal(batch[0], batch[1])
