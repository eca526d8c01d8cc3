"""Fréchet Video Distance with pluggable feature extractors, and FVD-SW against shipped Shapes-world statistics.

Taught in ``07_metric_evaluation``.

FVD (Unterthiner et al., 2018) embeds every video with a video network, fits a Gaussian to each set of embeddings
and reports the Fréchet distance (:func:`labkit.metrics.frechet_distance`) between the two fits. The number
depends on everything that changes the embeddings or the fit, so :func:`fvd` makes it explicit and returns it
with the value:

- the **feature network**: I3D on Kinetics-400 (:mod:`labkit.models.i3d`, the standard, from a local weight
  file) or SW-Net (:mod:`labkit.models.swnet`, trained on the Shapes world; the distance is then "FVD-SW");
- the **number of videos** (the estimate is biased upwards for small sets, and needs more videos than feature
  dimensions for a full-rank covariance);
- the **frames** (``num_frames``, ``clip_sampling``: ``"first"``, ``"center"`` or ``"uniform"``) and the
  **resolution** frames are resized to before the network sees them.

A feature extractor is any callable ``videos (B, F, C, H, W) in [0, 1] -> (B, D)`` with ``name`` and ``dim``
attributes (:class:`labkit.models.swnet.SWNetFeatures`, :class:`labkit.models.i3d.I3DFeatures`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from tqdm.auto import tqdm

from labkit import DATA_DIR
from labkit.checks import check_args, check_choice
from labkit.data.shapes import ShapesWorld
from labkit.metrics._checks import as_batch
from labkit.metrics.frechet import frechet_distance, gaussian_stats

__all__ = ["STATS_DIR", "SAMPLINGS", "FVDResult", "sample_frames", "prepare_videos", "video_features", "fvd",
           "ReferenceStats", "load_reference_stats", "fvd_from_stats", "compute_reference_stats"]


STATS_DIR = DATA_DIR / "stats"


SAMPLINGS = ("first", "center", "uniform")


@dataclass(frozen=True)
class FVDResult:
    """An FVD value together with everything it depends on."""

    value: float
    metric: str  # "FVD" (I3D) or "FVD-SW" (SW-Net)
    features: str
    num_real: int
    num_fake: int
    num_frames: int
    size: tuple[int, int]
    clip_sampling: str

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        return (f"{self.metric} = {self.value:.2f} ({self.num_real} real vs {self.num_fake} generated videos, "
                f"{self.num_frames} frames at {self.size[0]}x{self.size[1]} ({self.clip_sampling}), "
                f"features: {self.features})")


def sample_frames(videos: torch.Tensor, num_frames: int | None, clip_sampling: str = "first") -> torch.Tensor:
    """Pick ``num_frames`` frames of every video ``(B, F, C, H, W)``: the first ones, the central ones, or
    ``"uniform"``-ly spaced over the clip (``None`` keeps all)."""
    check_choice(clip_sampling, "clip_sampling", SAMPLINGS, what="clip sampling")
    check_args(num_frames=num_frames, allow_none=("num_frames",))
    f = videos.shape[1]
    if num_frames is None or num_frames == f:
        return videos
    if not 1 <= num_frames <= f:
        raise ValueError(f"expected 1 <= num_frames <= {f} (frames per video), got {num_frames}")
    if clip_sampling == "uniform":
        idx = torch.from_numpy(np.linspace(0, f - 1, num_frames).round().astype(np.int64))
        return videos[:, idx]
    start = 0 if clip_sampling == "first" else (f - num_frames) // 2
    return videos[:, start:start + num_frames]


def prepare_videos(videos, num_frames=None, size=None, clip_sampling="first", name="videos") -> torch.Tensor:
    """Validate, sample frames and resize (bilinear, antialiased) a batch to ``(B, num_frames, C, size, size)``."""
    check_args(num_frames=num_frames, size=size, allow_none=("num_frames", "size"))
    videos = as_batch(videos, name)
    videos = sample_frames(videos, num_frames, clip_sampling)
    if size is not None and videos.shape[-2:] != (size, size):
        b, f = videos.shape[:2]
        flat = F.interpolate(videos.flatten(0, 1), size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False)
        videos = flat.clamp(0, 1).unflatten(0, (b, f))
    return videos


@torch.no_grad()
def video_features(videos, features, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Embed a prepared batch ``(B, F, C, H, W)`` with ``features`` in chunks; returns float64 ``(B, D)``."""
    check_args(batch_size=batch_size)
    chunks = []
    for start in tqdm(range(0, len(videos), batch_size), desc="features", leave=False, disable=not progress):
        chunks.append(features(videos[start:start + batch_size]).double().cpu())
    return torch.cat(chunks).numpy()


def _describe(features) -> tuple[str, str]:
    return getattr(features, "metric", "FVD"), getattr(features, "name", type(features).__name__)


def fvd(real_videos, fake_videos, features, num_frames: int | None = None, size: int | None = None,
        clip_sampling: str = "first", batch_size: int = 32, progress: bool = False) -> FVDResult:
    """Fréchet video distance between two sets of videos ``(B, F, C, H, W)`` in [0, 1].

    ``features``: a feature extractor (``labkit.models.swnet.SWNetFeatures()`` gives FVD-SW). Both sets must have the same
    number of frames and size after ``num_frames``/``clip_sampling`` and ``size`` are applied (the extractor may
    resize further, e.g. I3D to 224). Warns when a set has no more videos than feature dimensions.
    """
    check_args(num_frames=num_frames, size=size, batch_size=batch_size, allow_none=("num_frames", "size"))
    real = as_batch(real_videos, "real_videos")
    fake = as_batch(fake_videos, "fake_videos")
    if real.shape[1] != fake.shape[1] and num_frames is None:
        raise ValueError(f"expected real and generated videos with the same number of frames, got {real.shape[1]} "
                         f"and {fake.shape[1]}: pass num_frames= to compare equal-length clips")
    real = prepare_videos(real, num_frames, size, clip_sampling, "real_videos")
    fake = prepare_videos(fake, num_frames, size, clip_sampling, "fake_videos")
    if real.shape[2:] != fake.shape[2:]:
        raise ValueError(f"expected real and generated frames of the same (C, H, W), got {tuple(real.shape[2:])} "
                         f"and {tuple(fake.shape[2:])}: pass size= to resize both")
    mu_r, sig_r = gaussian_stats(video_features(real, features, batch_size, progress), "real features")
    mu_f, sig_f = gaussian_stats(video_features(fake, features, batch_size, progress), "generated features")
    metric, name = _describe(features)
    return FVDResult(frechet_distance(mu_r, sig_r, mu_f, sig_f), metric, name, len(real), len(fake),
                     real.shape[1], tuple(real.shape[-2:]), clip_sampling)


@dataclass(frozen=True)
class ReferenceStats:
    """Gaussian statistics of a reference set, with how they were made (``meta``: split, count, frames, size)."""

    mu: np.ndarray
    sigma: np.ndarray
    meta: dict


def load_reference_stats(name: str = "swnet_test") -> ReferenceStats:
    """Shipped statistics ``data/stats/NAME/`` (safetensors + ``meta.json``)."""

    folder = STATS_DIR / name
    if not (folder / "stats.safetensors").exists():
        raise FileNotFoundError(f"no reference statistics at {folder}: they are written by "
                                "`labkit train features --ship`")
    arrays = load_file(str(folder / "stats.safetensors"))
    return ReferenceStats(arrays["mu"], arrays["sigma"], json.loads((folder / "meta.json").read_text()))


def fvd_from_stats(reference: ReferenceStats, fake_videos, features, batch_size: int = 32,
                   progress: bool = False) -> FVDResult:
    """FVD of generated videos against reference statistics; frames and size must match ``reference.meta``."""
    check_args(batch_size=batch_size)
    fake = as_batch(fake_videos, "fake_videos")
    want_f, want_s = reference.meta["num_frames"], reference.meta["size"]
    if fake.shape[1] != want_f or tuple(fake.shape[-2:]) != (want_s, want_s):
        raise ValueError(f"expected generated videos of {want_f} frames at {want_s}x{want_s} like the reference "
                         f"statistics, got {fake.shape[1]} frames at {fake.shape[-2]}x{fake.shape[-1]}")
    mu, sigma = gaussian_stats(video_features(fake, features, batch_size, progress), "generated features")
    metric, name = _describe(features)
    return FVDResult(frechet_distance(reference.mu, reference.sigma, mu, sigma), metric, name,
                     reference.meta["num_videos"], len(fake), want_f, (want_s, want_s), "all")


def compute_reference_stats(features, num_videos: int = 1024, split: str = "test", num_frames: int = 17,
                            size: int = 64, seed: int = 0, batch_size: int = 64) -> ReferenceStats:
    """Statistics of ``num_videos`` one-object clips of a Shapes-world split (deterministic for ``seed``)."""
    check_args(num_videos=num_videos, num_frames=num_frames, size=size, seed=seed, batch_size=batch_size)
    world = ShapesWorld(split, length=num_videos, num_frames=num_frames, size=size, two_objects=0.0, seed=seed)
    feats = []
    for start in tqdm(range(0, num_videos, batch_size), desc=f"reference stats ({split})", leave=False):
        batch = torch.stack([world[i].video for i in range(start, min(start + batch_size, num_videos))])
        feats.append(video_features(batch, features, batch_size))
    mu, sigma = gaussian_stats(np.concatenate(feats), f"{split} features")
    meta = {"split": split, "num_videos": num_videos, "num_frames": num_frames, "size": size, "seed": seed,
            "two_objects": 0.0, "speeds": True, "features": _describe(features)[1], "dim": int(mu.shape[0])}
    return ReferenceStats(mu, sigma, meta)
