"""The Fréchet distance between two Gaussians: the formula under FID and FVD.

Taught in ``07_metric_evaluation``.

For feature statistics ``(mu1, sigma1)`` and ``(mu2, sigma2)`` (Heusel et al., NeurIPS 2017, "GANs trained by a
two time-scale update rule"; Unterthiner et al., 2018, "Towards accurate generative models of video", for FVD)::

    d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))

The usual implementation calls ``scipy.linalg.sqrtm(sigma1 @ sigma2)``, a non-symmetric matrix whose square root
can come back complex or inaccurate when the covariances are (near) singular, i.e. when there are fewer videos than
feature dimensions. Here the trace term uses the identity
``tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2))``: the inner matrix is symmetric positive semi-definite, so
two symmetric eigendecompositions (float64) give it stably, and the result is finite for rank-deficient inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["frechet_distance", "gaussian_stats", "FewSamplesWarning"]


class FewSamplesWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is rank-deficient and the distance is biased."""


def _as_float64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_stats(mu1, sigma1, mu2, sigma2):
    mu1, mu2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    sigma1, sigma2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"expected mu1 and mu2 as vectors of the same length D, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"expected {name} of shape (D, D) = ({d}, {d}) to match the means, got {s.shape}")
    return mu1, sigma1, mu2, sigma2


def _sqrt_psd(sym: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (clipped at 0) and eigenvectors of a symmetrised PSD matrix (float64).

    Done in torch rather than numpy so it follows ``torch.set_num_threads`` (numpy's BLAS would start one thread
    per core, which on a busy shared machine is several times slower than one thread)."""
    w, v = torch.linalg.eigh((sym + sym.T) / 2)
    return w.clamp(min=0.0), v


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``, computed in float64.

    ``mu*``: ``(D,)``; ``sigma*``: ``(D, D)`` symmetric PSD (numpy or torch). Returns a float >= 0 (tiny
    negative round-off is clipped). 0 for identical statistics, symmetric in its two arguments, and finite for
    rank-deficient covariances (see the module docstring for the stable trace term).
    """
    mu1, sigma1, mu2, sigma2 = (torch.from_numpy(a) for a in _check_stats(mu1, sigma1, mu2, sigma2))
    w1, v1 = _sqrt_psd(sigma1)
    root1 = (v1 * w1.sqrt()) @ v1.T  # sigma1^(1/2)
    inner = root1 @ sigma2 @ root1  # symmetric PSD, same eigenvalues as sigma1 @ sigma2
    w_inner, _ = _sqrt_psd(inner)
    trace_sqrt = float(w_inner.sqrt().sum())
    diff = mu1 - mu2
    value = float(diff @ diff + sigma1.trace() + sigma2.trace() - 2.0 * trace_sqrt)
    return max(value, 0.0)


def gaussian_stats(features, name: str = "features", warn: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``features`` ``(N, D)``, in float64.

    Raises when ``N < 2``; warns (:class:`FewSamplesWarning`) when ``N <= D``: the covariance then has rank
    at most ``N - 1`` and the Fréchet distance is strongly biased upwards.
    """
    x = _as_float64(features, name)
    if x.ndim != 2:
        raise ValueError(f"expected {name} of shape (N, D), got {x.shape}")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"expected at least 2 samples to estimate a covariance, got {n} in {name}")
    if warn and n <= d:
        warnings.warn(f"{name}: {n} samples for {d} feature dimensions; the covariance is rank-deficient "
                      f"(rank <= {n - 1}) and the Fréchet distance is biased upwards: use more than {d} videos",
                      FewSamplesWarning, stacklevel=2)
    t = torch.from_numpy(x)
    return t.mean(0).numpy(), torch.cov(t.T).numpy()  # torch: follows torch.set_num_threads (see _sqrt_psd)
