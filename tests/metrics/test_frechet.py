"""labkit.metrics.frechet: the Fréchet distance against scipy's matrix square root and a closed form, rank-deficient
covariances, and input checks."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from labkit.metrics import FewSamplesWarning, frechet_distance, gaussian_stats

torch.set_num_threads(2)


def scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_stats(rng, d, n=None):
    x = rng.standard_normal((n or 3 * d, d)) @ rng.standard_normal((d, d))
    return rng.standard_normal(d), np.cov(x, rowvar=False)


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
    # reference: tr sqrt(s1 s2) = tr sqrt(s1^1/2 s2 s1^1/2), a symmetric PSD matrix: eigenvalues clipped at 0
    w, v = np.linalg.eigh(s1)
    root = v @ np.diag(np.sqrt(w.clip(0))) @ v.T
    covmean_trace = np.sqrt(np.linalg.eigvalsh(root @ s2 @ root).clip(0)).sum()
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * covmean_trace)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)
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
