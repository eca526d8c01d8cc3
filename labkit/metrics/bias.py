"""Experiments of the metrics lesson as pure functions: what a metric notices, and how it can be fooled.

Taught in ``07_metric_evaluation``; the widget in :mod:`labkit.widgets.metrics` calls :func:`clip_metrics`.

- :func:`clip_metrics`: every single-clip metric of :data:`METRICS` (with the direction that is better and its
  unit) for one clip ``(F, C, H, W)`` in [0, 1], against its reference and caption when given;
- :func:`content_bias_sweep` and :func:`sensitivity_table`: FVD-SW and the other metrics under spatial and temporal
  corruptions of growing strength (:mod:`labkit.metrics.corruptions`; Ge et al., CVPR 2024, on FVD's content bias):
  which metric notices which corruption;
- :func:`sample_size_bias`: FVD-SW of real clips against real statistics as the number of videos grows (the
  estimate is biased upwards for small sets);
- :func:`smoothing_trick`: blending neighbouring frames lowers flicker while the clip gets blurrier
  (:func:`sharpness`) -- a temporal metric rewarded for damage.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.checks import COUNT, check_args, check_number
from labkit.data.shapes import ShapesWorld
from labkit.metrics.adherence import prompt_adherence
from labkit.metrics.corruptions import corrupt, temporal_smooth
from labkit.metrics.frechet import FewSamplesWarning, frechet_distance, gaussian_stats
from labkit.metrics.fvd import ReferenceStats, fvd_from_stats, video_features
from labkit.metrics.quality import psnr, ssim
from labkit.metrics.temporal import (
    dynamic_degree,
    flicker,
    frame_consistency,
    motion_smoothness,
    warping_error,
)

__all__ = ["METRICS", "test_clips", "clip_metrics", "content_bias_sweep", "sensitivity_table", "sample_size_bias",
           "sharpness", "smoothing_trick"]


#: metric -> (direction, description). direction +1: higher is better, -1: lower is better, 0: neither.
METRICS: dict[str, tuple[int, str]] = {
    "FVD-SW": (-1, "Fréchet distance of SW-Net embeddings to the test-split statistics (set-level)"),
    "flicker": (-1, "mean |frame t+1 - frame t|"),
    "warping_error": (-1, "squared error after flow warping, non-occluded pixels"),
    "motion_smoothness": (+1, "1 - error of flow-interpolated odd frames"),
    "dynamic_degree": (0, "top-5% optical-flow magnitude, px/frame"),
    "frame_consistency": (+1, "cosine similarity of consecutive SW-Net frame features"),
    "PSNR": (+1, "dB against the uncorrupted clip"),
    "SSIM": (+1, "against the uncorrupted clip"),
    "adherence": (+1, "fraction of clips whose caption is fully satisfied"),
}


def test_clips(n: int, seed: int = 0, split: str = "test") -> tuple[torch.Tensor, list[str]]:
    """``n`` one-object Shapes-world clips of a split ``(n, 17, 3, 64, 64)`` and their captions."""
    check_args(n=n, seed=seed)
    world = ShapesWorld(split, length=n, two_objects=0.0, seed=seed)
    clips = [world[i] for i in range(n)]
    return torch.stack([c.video for c in clips]), [c.caption for c in clips]


def clip_metrics(video, reference=None, caption: str | None = None, embed: Callable | None = None) -> dict:
    """Every per-clip metric of a clip ``(F, 3, H, W)``: the temporal ones always, PSNR/SSIM with a
    ``reference`` clip, adherence with a ``caption``, frame consistency with a frame ``embed``der."""
    out = {"flicker": flicker(video), "warping_error": warping_error(video),
           "motion_smoothness": motion_smoothness(video), "dynamic_degree": dynamic_degree(video)}
    if embed is not None:
        out["frame_consistency"] = frame_consistency(video, embed)["consecutive"]
    if reference is not None:
        out["PSNR"], out["SSIM"] = psnr(video, reference), ssim(video, reference)
    if caption is not None:

        out["adherence"] = float(prompt_adherence(video, caption)["all_correct"])
    return out


def fvd_value(reference: ReferenceStats, videos, features) -> float:
    """FVD of ``videos`` against ``reference`` as a float, small-sample warnings silenced (the sweeps report n)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # the sweep reports the number of videos it used
        return fvd_from_stats(reference, videos, features).value


def content_bias_sweep(videos, captions, kinds: Sequence[str], strengths: Sequence[float], reference: ReferenceStats,
                       features, embed: Callable | None = None, per_clip: int = 8, seed: int = 0) -> list[dict]:
    """The content-bias experiment (Ge et al., CVPR 2024): corrupt ``videos`` with each kind at each strength and
    measure every metric. FVD-SW uses all videos; the per-clip metrics average the first ``per_clip``.
    Returns rows ``{"corruption", "strength", metric: value, ...}``."""
    check_args(per_clip=per_clip, seed=seed)
    for strength in strengths:
        check_args(strength=strength)
    rows = []
    for kind in tqdm(kinds, desc="content-bias sweep", leave=False):
        for s in strengths:
            bad = corrupt(videos, kind, float(s), seed=seed)
            per = [clip_metrics(bad[i], videos[i], captions[i], embed) for i in range(min(per_clip, len(videos)))]
            row = {"corruption": kind, "strength": float(s), "FVD-SW": fvd_value(reference, bad, features)}
            row.update({k: float(np.mean([p[k] for p in per])) for k in per[0]})
            rows.append(row)
    return rows


def sensitivity_table(rows: list[dict], metrics: Sequence[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """Which metric notices what: for each (metric, corruption), the change from strength 0 to the largest strength,
    signed so that positive = the metric got worse (``|change|`` for direction-free metrics), divided by the
    largest such change of that metric over all corruptions. Returns ``(metrics, corruptions, (M, C) array)``."""
    kinds = list(dict.fromkeys(r["corruption"] for r in rows))
    metrics = [m for m in (metrics or METRICS) if m in rows[0]]
    table = np.zeros((len(metrics), len(kinds)))
    for j, kind in enumerate(kinds):
        mine = sorted((r for r in rows if r["corruption"] == kind), key=lambda r: r["strength"])
        for i, m in enumerate(metrics):
            change = mine[-1][m] - mine[0][m]
            direction = METRICS[m][0]
            table[i, j] = abs(change) if direction == 0 else -direction * change
    scale = np.abs(table).max(axis=1, keepdims=True)
    return metrics, kinds, table / np.where(scale > 0, scale, 1)


def sample_size_bias(reference: ReferenceStats, features, sizes: Sequence[int], pool: int = 512, repeats: int = 10,
                     seed: int = 1) -> dict:
    """FVD-SW of *real* test clips (a pool of ``pool`` clips drawn with another seed than the reference) as a function
    of the number of videos: subsets of each size are drawn ``repeats`` times from the pool. The true distance is
    ~0; what is left is the estimator's bias. Returns ``{"sizes", "mean", "lo", "hi"}`` (5th/95th percentiles)."""
    check_args(pool=pool, repeats=repeats, seed=seed)
    for size in sizes:
        check_number(size, "sizes", COUNT)
    if max(sizes) > pool:
        raise ValueError(f"sizes: expected every size <= pool ({pool}), got {max(sizes)}")
    videos, _ = test_clips(pool, seed=seed)
    feats = video_features(videos, features, batch_size=64)
    rng = np.random.default_rng(seed)
    out = {"sizes": list(sizes), "mean": [], "lo": [], "hi": [], "pool": pool, "repeats": repeats}
    for n in sizes:
        values = []
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FewSamplesWarning)
                mu, sigma = gaussian_stats(feats[rng.choice(pool, size=n, replace=False)])
            values.append(frechet_distance(reference.mu, reference.sigma, mu, sigma))
        out["mean"].append(float(np.mean(values)))
        out["lo"].append(float(np.percentile(values, 5)))
        out["hi"].append(float(np.percentile(values, 95)))
    return out


def sharpness(videos) -> float:
    """Root-mean-square image gradient of the frames (finite differences), per pixel: drops when frames get blurry.

    (The mean *absolute* gradient would not do: for a step edge it is the total variation, which blur preserves.)
    """
    v = videos if videos.ndim == 5 else videos.unsqueeze(0)
    gx, gy = v[..., :, 1:] - v[..., :, :-1], v[..., 1:, :] - v[..., :-1, :]
    return float((0.5 * (gx.pow(2).mean() + gy.pow(2).mean())).sqrt())


def smoothing_trick(videos, captions, reference: ReferenceStats, features, strengths=(0.0, 0.5, 1.0),
                    per_clip: int = 8) -> list[dict]:
    """The "temporal smoothing" post-processing trick measured: each strength blends every frame with its
    neighbours' mean. Rows of flicker, dynamic degree, sharpness, PSNR/SSIM to the original, FVD-SW, adherence."""
    check_args(per_clip=per_clip)
    for strength in strengths:
        check_args(strength=strength)
    rows = []
    for s in strengths:
        smooth = torch.stack([temporal_smooth(v, s) for v in videos])
        per = [clip_metrics(smooth[i], videos[i], captions[i]) for i in range(min(per_clip, len(videos)))]
        row = {"smoothing": float(s), "FVD-SW": fvd_value(reference, smooth, features), "sharpness": sharpness(smooth)}
        row.update({k: float(np.mean([p[k] for p in per])) for k in per[0]})
        rows.append(row)
    return rows
