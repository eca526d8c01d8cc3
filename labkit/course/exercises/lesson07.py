"""Exercises of ``07_metric_evaluation``: the Fréchet distance of two Gaussians, flicker, and the rank of a
covariance fitted to too few videos. References: :func:`labkit.metrics.frechet_distance`,
:func:`labkit.metrics.flicker`, :func:`labkit.metrics.gaussian_stats`."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from labkit.course.exercises.core import Case, Exercise, Mistake, WrongKind
from labkit.metrics import flicker, frechet_distance, gaussian_stats

LESSON = "07"


def _gaussian(seed: int, dim: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """A mean ``(D,)`` and a full, well-conditioned covariance ``(D, D)`` (float64), seeded."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2 * dim, dim))
    return shift + rng.standard_normal(dim), a.T @ a / (2 * dim) + 0.1 * np.eye(dim)


def _pair(seed: int, dim: int) -> dict:
    (mu1, sigma1), (mu2, sigma2) = _gaussian(seed, dim, 0.0), _gaussian(seed + 1, dim, 0.5)
    return {"mu1": mu1, "sigma1": sigma1, "mu2": mu2, "sigma2": sigma2}


def _terms(mu1, sigma1, mu2, sigma2, root=lambda m: np.trace(scipy.linalg.sqrtm(m)).real):
    """The three terms of a learner's answer: |mu1 - mu2|^2, tr(sigma1) + tr(sigma2), and the cross term
    ``root(sigma1 @ sigma2)`` (by default the trace of the matrix square root)."""
    return (float(((mu1 - mu2) ** 2).sum()), float(np.trace(sigma1) + np.trace(sigma2)),
            float(root(sigma1 @ sigma2)))


def _cross_once(mu1, sigma1, mu2, sigma2):
    means, traces, cross = _terms(mu1, sigma1, mu2, sigma2)
    return means + traces - cross


def _root_of_trace(mu1, sigma1, mu2, sigma2):
    means, traces, cross = _terms(mu1, sigma1, mu2, sigma2, root=lambda m: np.sqrt(np.trace(m)))
    return means + traces - 2 * cross


def _entrywise_root(mu1, sigma1, mu2, sigma2):
    means, traces, cross = _terms(mu1, sigma1, mu2, sigma2, root=lambda m: np.sqrt(np.diag(m)).sum())
    return means + traces - 2 * cross  # np.trace(np.sqrt(m)) without the NaNs of negative off-diagonal entries


def _not_squared(mu1, sigma1, mu2, sigma2):
    means, traces, cross = _terms(mu1, sigma1, mu2, sigma2)
    return float(np.sqrt(max(means + traces - 2 * cross, 0.0)))


def _clip(seed: int, num_frames: int, channels: int, height: int, width: int) -> torch.Tensor:
    """A random clip ``(F, C, H, W)`` in [0, 1], seeded."""
    return torch.rand(num_frames, channels, height, width, generator=torch.Generator().manual_seed(seed))


def _covariance_rank(num_videos: int, dim: int) -> int:
    """The rank of the covariance :func:`gaussian_stats` fits to ``num_videos`` random ``dim``-d features,
    measured with ``np.linalg.matrix_rank``."""
    feats = np.random.default_rng(0).standard_normal((num_videos, dim))
    return int(np.linalg.matrix_rank(gaussian_stats(feats, warn=False)[1]))


def _each(answer, calls: list[dict]) -> torch.Tensor | None:
    """Call ``answer`` once per keyword-argument dict of a case: the float64 vector of its numbers (``None`` when
    it returns ``None``). One number per call, so that a hint names the call that is wrong, and a wrong number is
    called off by a constant factor only when it is so on every call."""
    values = []
    for kwargs in calls:
        value = answer(**kwargs)
        if value is None:
            return None
        number = torch.as_tensor(np.asarray(value, dtype=np.float64))
        if number.numel() != 1:
            raise WrongKind(f"expected your function to return one number, got {number.numel()} values "
                            f"(shape {tuple(number.shape)})")
        values.append(float(number))
    return torch.tensor(values, dtype=torch.float64)


FRECHET_GAUSSIANS = Exercise(
    lesson=LESSON, key="frechet_gaussians", title="the Fréchet distance of two Gaussians",
    task=("Write `frechet_gaussians(mu1, sigma1, mu2, sigma2)`: the squared Fréchet distance d² between "
          "N(mu1, sigma1) and N(mu2, sigma2), with means `(D,)` and covariances `(D, D)` as float64 numpy "
          "arrays (what `gaussian_stats` returns); return a float."),
    teaches="the formula under FID and FVD: a mean term plus a covariance term with a matrix square root",
    reference=frechet_distance,
    cases=(Case("full covariances, D = 2, 4 and 6", {"calls": [_pair(0, 2), _pair(10, 4), _pair(20, 6)]}),
           Case("diagonal covariances, D = 1 and 3", {"calls": [
               {"mu1": np.zeros(1), "sigma1": np.diag([4.0]), "mu2": np.ones(1), "sigma2": np.diag([1.0])},
               {"mu1": np.zeros(3), "sigma1": np.diag([1.0, 2.0, 3.0]),
                "mu2": np.array([1.0, 0.0, -1.0]), "sigma2": np.diag([0.5, 2.0, 4.5])}]}),
           Case("identical statistics, D = 5", {"calls": [
               {**_pair(3, 5), "mu2": _pair(3, 5)["mu1"], "sigma2": _pair(3, 5)["sigma1"]}]}, edge=True)),
    mistakes=(
        Mistake("cross term once", _cross_once,
                "check the coefficient of the cross term: in one dimension the formula must reduce to "
                "(μ1 - μ2)² + (σ1 - σ2)², like (a - b)² = a² + b² - 2ab"),
        Mistake("root of the trace", _root_of_trace,
                "you took the square root of the trace; the formula takes the trace of the matrix square root "
                "of Σ1Σ2 (a matrix R with R @ R = Σ1Σ2), which differs as soon as D > 1"),
        Mistake("entrywise root", _entrywise_root,
                "np.sqrt takes the root of every entry on its own; the formula needs the matrix square root "
                "(a matrix R with R @ R = Σ1Σ2): the two agree only for diagonal covariances"),
        Mistake("distance, not squared", _not_squared,
                "you took the square root of the total: FID and FVD report the squared distance d² itself"),
    ),
    run=_each,
)

FLICKER = Exercise(
    lesson=LESSON, key="flicker", title="flicker",
    task=("Write `flicker(video)`: for a clip `(F, C, H, W)` (a float tensor in [0, 1]), the mean absolute "
          "difference between each frame and the next one, averaged over the F - 1 frame pairs, channels and "
          "pixels; return a float (lower = steadier)."),
    teaches="the simplest temporal metric: what consecutive frames disagree on, motion included",
    reference=flicker,
    cases=(Case("RGB 4x4 clips of 3, 5 and 8 frames", {"calls": [{"video": _clip(s, f, 3, 4, 4)}
                                                                   for s, f in ((0, 3), (1, 5), (2, 8))]}),
           Case("grey 6x5 clips of 4 and 6 frames", {"calls": [{"video": _clip(s, f, 1, 6, 5)}
                                                                 for s, f in ((3, 4), (4, 6))]}),
           Case("RGB and grey clips of two frames (one pair)", {"calls": [{"video": _clip(5, 2, 3, 3, 3)},
                                                                           {"video": _clip(6, 2, 1, 3, 3)}]},
                edge=True)),
    mistakes=(
        Mistake("signed", lambda video: float((video[1:] - video[:-1]).mean()),
                "brightening and darkening cancel in your mean: flicker counts the size of every change, "
                "whatever its sign"),
        Mistake("squared", lambda video: float(((video[1:] - video[:-1]) ** 2).mean()),
                "you squared the differences (a mean squared error); flicker (VBench) averages their absolute "
                "size, in intensity units"),
        Mistake("against the first frame", lambda video: float((video[1:] - video[:1]).abs().mean()),
                "you compared every frame with the first one: flicker compares each frame with the frame just "
                "before it"),
        Mistake("channel axis", lambda video: float((video[:, 1:] - video[:, :-1]).abs().mean()),
                "you took differences along the channel axis: in a clip (F, C, H, W) the frames are the first "
                "axis"),
    ),
    run=_each,
)


def _rank_calls(dim: int, sizes) -> list[dict]:
    return [{"num_videos": n, "dim": dim} for n in sizes]


COVARIANCE_RANK = Exercise(
    lesson=LESSON, key="covariance_rank", title="the rank of a fitted covariance",
    task=("Write `covariance_rank(num_videos, dim)`: the rank of the (D, D) covariance that `gaussian_stats` "
          "fits to `num_videos` feature vectors of `dim` dimensions in general position (random features, as "
          "real embeddings are); return an int."),
    teaches="why FVD needs more videos than feature dimensions: below that the covariance is rank-deficient",
    reference=_covariance_rank,
    cases=(Case("128-d features, num_videos = 16, 48, 96, 192, 256",
                {"calls": _rank_calls(128, (16, 48, 96, 192, 256))}),
           Case("8-d features, num_videos = 3, 5, 12, 20", {"calls": _rank_calls(8, (3, 5, 12, 20))}),
           Case("D videos and D + 1 videos: num_videos = 16, 17 for D = 16, then 128, 129 for D = 128",
                {"calls": _rank_calls(16, (16, 17)) + _rank_calls(128, (128, 129))}, edge=True),
           Case("two videos, D = 1 and 5", {"calls": _rank_calls(1, (2,)) + _rank_calls(5, (2,))}, edge=True)),
    mistakes=(
        Mistake("mean not counted", lambda num_videos, dim: min(num_videos, dim),
                "fitting the Gaussian subtracts the mean first, and the centred vectors sum to zero: "
                "how many of them are still independent?"),
        Mistake("no cap at D", lambda num_videos, dim: num_videos - 1,
                "a (D, D) matrix cannot have a rank above D, however many videos you have"),
        Mistake("always full rank", lambda num_videos, dim: dim,
                "with few videos the centred feature vectors span only part of the feature space: the "
                "covariance is then rank-deficient"),
    ),
    run=_each,
)

EXERCISES = (FRECHET_GAUSSIANS, FLICKER, COVARIANCE_RANK)
