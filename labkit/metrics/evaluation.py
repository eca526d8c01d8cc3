"""Experiments of the metrics lesson as pure functions: every metric of one clip, the content-bias sweep, FVD's
sample-size bias, the temporal-smoothing trick, and the leaderboard of shipped models.

Taught in ``07_metric_evaluation``; the widget in :mod:`labkit.widgets.metrics` calls :func:`clip_metrics`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .. import DATA_DIR
from ..data import ShapesWorld
from .adherence import adherence_report
from .corruptions import corrupt, temporal_smooth
from .frechet import FewSamplesWarning, frechet_distance, gaussian_stats
from .fvd import ReferenceStats, fvd_from_stats, video_features
from .quality import psnr, ssim
from .temporal import dynamic_degree, flicker, frame_consistency, motion_smoothness, warping_error

__all__ = ["METRICS", "clip_metrics", "test_clips", "content_bias_sweep", "sensitivity_table",
           "sample_size_bias", "smoothing_trick", "sharpness", "leaderboard", "shipped_model_names"]

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
        from .adherence import prompt_adherence

        out["adherence"] = float(prompt_adherence(video, caption)["all_correct"])
    return out


def _fvd(reference: ReferenceStats, videos, features) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # the sweep reports the number of videos it used
        return fvd_from_stats(reference, videos, features).value


def content_bias_sweep(videos, captions, kinds: Sequence[str], strengths: Sequence[float], reference: ReferenceStats,
                       features, embed: Callable | None = None, per_clip: int = 8, seed: int = 0) -> list[dict]:
    """The content-bias experiment (Ge et al., CVPR 2024): corrupt ``videos`` with each kind at each strength and
    measure every metric. FVD-SW uses all videos; the per-clip metrics average the first ``per_clip``.
    Returns rows ``{"corruption", "strength", metric: value, ...}``."""
    from tqdm.auto import tqdm

    rows = []
    for kind in tqdm(kinds, desc="content-bias sweep", leave=False):
        for s in strengths:
            bad = corrupt(videos, kind, float(s), seed=seed)
            per = [clip_metrics(bad[i], videos[i], captions[i], embed) for i in range(min(per_clip, len(videos)))]
            row = {"corruption": kind, "strength": float(s), "FVD-SW": _fvd(reference, bad, features)}
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
    if max(sizes) > pool:
        raise ValueError(f"expected every size <= pool ({pool}), got {max(sizes)}")
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
    rows = []
    for s in strengths:
        smooth = torch.stack([temporal_smooth(v, s) for v in videos])
        per = [clip_metrics(smooth[i], videos[i], captions[i]) for i in range(min(per_clip, len(videos)))]
        row = {"smoothing": float(s), "FVD-SW": _fvd(reference, smooth, features), "sharpness": sharpness(smooth)}
        row.update({k: float(np.mean([p[k] for p in per])) for k in per[0]})
        rows.append(row)
    return rows


def shipped_model_names(models_dir=None) -> list[str]:
    """Folders under ``data/models`` (each a shipped model)."""
    models_dir = Path(models_dir or DATA_DIR / "models")
    return sorted(p.name for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if models_dir.exists() else []


def _vae_reconstructions(name: str) -> Callable:
    def run(videos, captions, steps):
        from ..vae import load_vae, reconstruct

        vae = load_vae(name)
        with torch.no_grad():
            return torch.cat([reconstruct(vae, videos[i:i + 4]) for i in range(0, len(videos), 4)]).clamp(0, 1)
    return run


def _t2v_samples(name: str) -> Callable:
    def run(videos, captions, steps):
        from ..inference import generate, load_pipeline

        pipe = load_pipeline(name)
        f, _, h, w = videos.shape[1:]
        return torch.cat([generate(pipe, c, num_frames=f, height=h, width=w, steps=steps, seed=i)
                          for i, c in enumerate(captions)]).clamp(0, 1)
    return run


#: How to get videos out of a shipped model folder (name prefix -> adapter); others are listed as not evaluated.
ADAPTERS = {"vae-": ("reconstruction of the clips", _vae_reconstructions), "tiny-t2v": ("text-to-video samples",
                                                                                       _t2v_samples)}


def _row(name: str, kind: str, videos, real, captions, reference, features, per_clip: int, seconds: float) -> dict:
    report = adherence_report(videos, captions)
    per = [clip_metrics(videos[i], real[i]) for i in range(min(per_clip, len(videos)))]
    row = {"model": name, "what": kind, "n": len(videos), "FVD-SW": _fvd(reference, videos, features),
           "adherence": report["all_correct"], "seconds": round(seconds, 1)}
    row.update({k: float(np.mean([p[k] for p in per])) for k in per[0]})
    return row


def leaderboard(real, captions, reference: ReferenceStats, features, steps: int = 20, per_clip: int = 8,
                models_dir=None) -> list[dict]:
    """Evaluate every shipped model in ``data/models`` that has an adapter, on the same held-out clips/captions,
    next to two labelled baselines (the real clips themselves, and a frozen first frame). Models without an adapter,
    or whose evaluation fails, get a row saying so instead of numbers."""
    rows = [_row("baseline: real test clips", "the held-out clips themselves", real, real, captions, reference,
                 features, per_clip, 0.0),
            _row("baseline: frozen first frame", "first frame repeated", real[:, :1].expand_as(real).contiguous(),
                 real, captions, reference, features, per_clip, 0.0)]
    for name in shipped_model_names(models_dir):
        if name == "swnet":
            rows.append({"model": name, "what": "not a video model: the feature network behind FVD-SW"})
            continue
        match = [(k, v) for k, v in ADAPTERS.items() if name.startswith(k)]
        if not match:
            rows.append({"model": name, "what": "not evaluated: no adapter for this kind of model yet"})
            continue
        kind, make = match[0][1]
        t0 = time.perf_counter()
        try:
            videos = make(name)(real, captions, steps)
        except Exception as err:  # noqa: BLE001 - a broken model gets a row, not a crashed notebook
            rows.append({"model": name, "what": f"evaluation failed: {type(err).__name__}: {err}"[:200]})
            continue
        rows.append(_row(name, kind, videos, real, captions, reference, features, per_clip,
                         time.perf_counter() - t0))
    return rows
