"""Measuring the inflated models: is a generated clip one coherent object over time?

Taught in ``02_temporal_attention`` (the per-frame image model vs the inflated video model vs causal streaming).

:func:`foreground_tracks` splits each frame of a clip ``(F, 3, H, W)`` in [0, 1] into background (the frame's median
colour) and foreground: area (px), centroid (x, y in px) and colour per frame. :func:`clip_measures` turns that into
temporal-consistency measures, lower meaning more coherent: ``flicker`` and ``warping_error`` from
:mod:`labkit.metrics`, plus colour drift, position jitter (px from a straight line: Shapes-world objects move in
straight lines) and area change. :func:`per_frame_error` shows error accumulating over the frame index;
:func:`compare_models` runs several samplers on the captions of :func:`heldout_captions` (colour-shape-direction
combinations never trained on) and averages the measures.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from labkit.checks import check_args
from labkit.data.shapes import COLORS, ShapesWorld, parse_caption
from labkit.metrics import flicker, warping_error
from labkit.models.animatediff import NUM_FRAMES, RENDER

__all__ = ["foreground_tracks", "clip_measures", "per_frame_error", "heldout_captions", "compare_models"]


# ------------------------------------------------------------------------------------------------ measures
def foreground_tracks(video: torch.Tensor, threshold: float = 0.25):
    """Per frame of a clip ``(F, 3, H, W)``: foreground = pixels farther than ``threshold`` (RGB distance) from the
    frame's median colour (the background). Returns ``(area (F,) in px, centroid (F, 2) x,y in px, colour (F, 3))``;
    frames without foreground give NaN centroid and colour. The colour is the median over
    core pixels (at least 3/4 of the frame's largest distance from the background): edges are mixed."""
    check_args(threshold=threshold)
    bg = video.flatten(2).median(dim=2).values  # (F, 3)
    dist = (video - bg[:, :, None, None]).norm(dim=1)  # (F, H, W)
    mask = dist > threshold
    core = mask & (dist >= 0.75 * dist.flatten(1).max(dim=1).values[:, None, None])  # fully covered pixels
    area = mask.flatten(1).sum(1).float()
    ys, xs = torch.meshgrid(torch.arange(video.shape[2]), torch.arange(video.shape[3]), indexing="ij")
    w = mask.float() / area.clamp(min=1)[:, None, None]
    centroid = torch.stack([(w * (xs + 0.5)).flatten(1).sum(1), (w * (ys + 0.5)).flatten(1).sum(1)], dim=1)
    colour = torch.stack([frame.flatten(1)[:, m.flatten()].median(dim=1).values if m.any() else torch.zeros(3)
                          for frame, m in zip(video, core, strict=True)])  # core pixels only: edges mix in the background
    empty = area == 0
    centroid[empty], colour[empty] = float("nan"), float("nan")
    return area, centroid, colour


def clip_measures(video: torch.Tensor) -> dict[str, float]:
    """Temporal-consistency measures of a clip ``(F, 3, H, W)`` in [0, 1] (lower is more coherent):

    - ``flicker``, ``warping_error``: from :mod:`labkit.metrics` (mean |frame difference|; flow-warped MSE);
    - ``colour_drift``: mean RGB distance of each frame's foreground colour to frame 0's (identity/colour);
    - ``position_jitter``: RMS distance (px) of the foreground centroid from its least-squares straight line (the
      Shapes world moves in straight lines, so a coherent clip scores ~0);
    - ``area_change``: mean |area_t - area_0| / area_0 (the object keeps its size).
    """

    area, centroid, colour = foreground_tracks(video)
    ok = ~torch.isnan(centroid[:, 0])
    t = torch.arange(len(video), dtype=torch.float32)[ok]
    jitter = float("nan")
    if ok.sum() >= 3:
        design = torch.stack([t, torch.ones_like(t)], dim=1)
        fit = torch.linalg.lstsq(design, centroid[ok]).solution
        jitter = float((design @ fit - centroid[ok]).pow(2).sum(1).mean().sqrt())
    return {"flicker": flicker(video), "warping_error": warping_error(video),
            "colour_drift": float((colour[ok] - colour[ok][:1]).norm(dim=1).mean()) if ok.any() else float("nan"),
            "position_jitter": jitter,
            "area_change": float(((area - area[0]).abs() / area[0].clamp(min=1)).mean())}


def per_frame_error(video: torch.Tensor, caption: str) -> dict[str, torch.Tensor]:
    """Per frame index ``(F,)``: RGB distance of the foreground colour to the caption's colour, and the foreground
    area relative to frame 0 (error accumulation shows as growth over the frame index)."""

    target = torch.tensor(COLORS[parse_caption(caption)[0].color])
    area, _, colour = foreground_tracks(video)
    return {"colour_error": (colour - target).norm(dim=1), "relative_area": area / area[0].clamp(min=1)}


def heldout_captions(num: int, seed: int = 0) -> list[str]:
    """``num`` captions of colour-shape-direction combinations never seen in training (``ShapesWorld("heldout")``)."""
    check_args(num=num, seed=seed)
    world = ShapesWorld("heldout", length=max(num, 1), num_frames=NUM_FRAMES, size=RENDER, speeds=False, seed=seed)
    return [world.caption(i) for i in range(num)]


def compare_models(samplers: dict, captions: list[str], seed: int = 0) -> tuple[dict, dict]:
    """Run every ``samplers[name](caption, seed) -> clip`` on every caption (seed ``seed + i`` for caption ``i``)
    and average :func:`clip_measures`. Returns ``(means {name: {measure: value}}, clips {name: [clip, ...]})``."""
    check_args(seed=seed)
    clips = {name: [] for name in samplers}
    for i, caption in enumerate(tqdm(captions, desc="sample", leave=False)):
        for name, sample in samplers.items():
            clips[name].append(sample(caption, seed + i))
    means = {}
    for name, videos in clips.items():
        per_clip = [clip_measures(v) for v in videos]
        means[name] = {k: float(sum(m[k] for m in per_clip if not math.isnan(m[k])) /
                                max(1, sum(not math.isnan(m[k]) for m in per_clip))) for k in per_clip[0]}
    return means, clips
