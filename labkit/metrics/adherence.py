"""Prompt adherence in the Shapes world: does the video show what its caption says?

Taught in ``07_metric_evaluation``; used by ``04_train_tiny_video_model`` to score text-to-video samples.

Because the Shapes world is generated, a small hand-written *detector* can read a clip back (no learned weights):

1. **segment** -- per frame, the background is the per-channel median; a pixel belongs to palette colour ``c``
   when it lies past halfway on the line from the background to ``c`` (alpha > 0.5) and close to that line
   (distance < ``color_tol``); connected components of each colour's mask (OpenCV) are object candidates;
2. **track** -- components of one colour are linked from frame to frame by nearest centroid (as many tracks as
   the colour usually shows components);
3. **read attributes** -- *colour*: the palette colour of the track; *shape*, majority vote over frames: a
   *triangle* (pointing up) has its centroid a sixth of its bounding-box height below the box's centre, while
   the symmetric circle and square have it at the centre -- a cue that survives the slight blur of a VAE
   reconstruction, which rounds a triangle's corners until its fill ratio looks like a circle's; between
   *square* and *circle*, the fill ratio of the blob (area / bounding-box area: square ~0.9-1, circle ~pi/4);
   *direction* and *speed*: the least-squares velocity of the centroid, the nearest of the four directions and
   the nearest speed by distance travelled over the clip (fraction of the frame size);
4. **match** -- caption objects are assigned to tracks maximising agreement (colour first).

:func:`prompt_adherence` returns per-object, per-attribute booleans and ``all_correct`` (every attribute of every
object right and no extra object); :func:`adherence_report` aggregates a batch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from labkit.data.shapes import COLORS, DIRECTIONS, WORLD, check_world, parse_caption
from labkit.metrics._checks import as_batch

__all__ = ["detect_objects", "prompt_adherence", "adherence_report", "ATTRIBUTES", "Track"]

ATTRIBUTES = ("color", "shape", "direction", "speed")
_PALETTE = np.asarray(list(COLORS.values()), np.float32)  # (K, 3)
_NAMES = list(COLORS)
_FILL_SQUARE = 0.87  # fill ratio at or above which a (non-triangle) blob is a square, else a circle
_OFFSET_TRIANGLE = 0.06  # centroid below the box centre, in box heights (ideal triangle 1/6, circle/square 0)
_STATIC = 0.05  # travel (fraction of the frame) below which an object counts as not moving


@dataclass
class Track:
    """One detected object: its colour, per-frame centroids (NaN where unseen) and fill ratios."""

    color: str
    centroids: np.ndarray  # (F, 2) x, y in pixels
    fills: np.ndarray  # (F,)
    areas: np.ndarray  # (F,)
    offsets: np.ndarray  # (F,) centroid below the bounding-box centre, in box heights
    size: int
    clean: np.ndarray | None = None  # (F,) seen and far from every other object (set by detect_objects)

    @property
    def seen(self) -> np.ndarray:
        return ~np.isnan(self.centroids[:, 0])

    def frame_shapes(self) -> list[str | None]:
        """The shape class each frame shows (None where the object is unseen)."""
        return [None if not seen else "triangle" if o >= _OFFSET_TRIANGLE else "square" if f >= _FILL_SQUARE
                else "circle" for seen, f, o in zip(self.seen, self.fills, self.offsets)]

    def shape(self) -> str:
        """The majority class over the frames where the object is whole and clear of other objects."""
        ok = self.clean if self.clean is not None and self.clean.any() else self.seen
        ok = ok & (self.areas >= 0.7 * np.nanmedian(self.areas))  # skip partly hidden blobs
        votes = [v for v, keep in zip(self.frame_shapes(), ok) if keep]
        return max(set(votes), key=votes.count) if votes else "unknown"

    def motion(self, world: str = WORLD) -> tuple[str, str, float]:
        """``(direction, speed word, travel)``; travel = distance over the clip as a fraction of the frame; the
        speed word is the one of ``world``'s geometry nearest to the travel."""
        speeds = check_world(world).speeds
        t = np.flatnonzero(self.seen)
        if len(t) < 2:
            return "unknown", "unknown", 0.0
        v = np.polyfit(t, self.centroids[t], 1)[0]  # (2,) pixels per frame
        travel = float(np.linalg.norm(v) * (len(self.centroids) - 1) / self.size)
        if travel < _STATIC:
            return "none", "none", travel
        direction = max(DIRECTIONS, key=lambda d: float(np.dot(v, DIRECTIONS[d])))
        speed = min(speeds, key=lambda s: abs(speeds[s] - travel))
        return direction, speed, travel

    def describe(self, world: str = WORLD) -> dict:
        direction, speed, travel = self.motion(world)
        return {"color": self.color, "shape": self.shape(), "direction": direction, "speed": speed,
                "travel": round(travel, 4), "frames_seen": int(self.seen.sum()), "frame_shapes": self.frame_shapes()}


def _color_labels(frames: np.ndarray, color_tol: float) -> np.ndarray:
    """``(F, H, W, 3)`` -> palette index per pixel ``(F, H, W)``, -1 for background / unexplained pixels."""
    bg = np.median(frames.reshape(len(frames), -1, 3), axis=1)  # (F, 3)
    d = frames - bg[:, None, None, :]  # offset from the background
    labels = np.full(frames.shape[:3], -1, np.int64)
    idx = np.nonzero((d ** 2).sum(-1) > 0.04)  # only pixels at least 0.2 from the background can be objects
    d, axis = d[idx], _PALETTE[None] - bg[idx[0]][:, None]  # (N, 3), (N, K, 3): background -> colour
    alpha = (d[:, None] * axis).sum(-1) / np.maximum((axis ** 2).sum(-1), 1e-6)  # (N, K)
    resid = np.linalg.norm(d[:, None] - alpha[..., None] * axis, axis=-1)
    resid = np.where(alpha > 0.5, resid, np.inf)
    best = resid.argmin(1)
    labels[idx] = np.where(resid[np.arange(len(best)), best] < color_tol, best, -1)
    return labels


def _components(mask: np.ndarray, min_area: int) -> list[tuple[np.ndarray, float, float, float]]:
    """Connected components of a boolean mask: ``[(centroid (2,), area, fill ratio, offset)]``, largest first;
    ``offset``: how far the centroid lies below the bounding-box centre, in box heights."""
    n, _, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area:
            offset = (cents[i][1] - (y + (h - 1) / 2)) / h
            out.append((cents[i].astype(np.float64), float(area), float(area) / float(w * h), float(offset)))
    return sorted(out, key=lambda c: -c[1])


def _predict(history: np.ndarray, t: int) -> np.ndarray:
    """Position at frame ``t`` extrapolated from the last two seen positions of ``history`` ``(t, 2)``."""
    seen = np.flatnonzero(~np.isnan(history[:, 0]))
    if len(seen) < 2:
        return history[seen[-1]]
    a, b = seen[-2], seen[-1]
    return history[b] + (history[b] - history[a]) / (b - a) * (t - b)


def _mark_overlaps(tracks: list[Track]) -> None:
    """Flag frames where a track comes close enough to another to be occluded (shape is not read there).

    Two blobs cannot touch when their centres are farther apart than the sum of their circumradii; a triangle
    of area A has circumradius 0.88 sqrt(A), the widest of the three shapes.
    """
    for tr in tracks:
        tr.clean = tr.seen.copy()
        for other in tracks:
            if other is tr:
                continue
            dist = np.linalg.norm(tr.centroids - other.centroids, axis=-1)
            reach = 0.88 * (np.sqrt(np.nanmedian(tr.areas)) + np.sqrt(np.nanmedian(other.areas))) + 1.0
            tr.clean &= ~(dist <= reach)  # NaN distance (other unseen) compares False: stays clean


def _link(per_frame: list[list], k: int, color: str, size: int) -> list[Track]:
    """Link each frame's ``k`` largest components into ``k`` tracks by nearest centroid."""
    f = len(per_frame)
    cents = np.full((k, f, 2), np.nan)
    fills, areas, offsets = np.full((k, f), np.nan), np.full((k, f), np.nan), np.full((k, f), np.nan)
    for t, comps in enumerate(per_frame):
        if len(comps) != k:
            continue  # merged or missing blobs: skip the frame rather than guess
        if k == 2 and not np.isnan(cents[:, :t, 0]).all():
            pred = [_predict(cents[j, :t], t) for j in range(2)]  # constant velocity: crossing objects stay apart
            swap = (np.linalg.norm(comps[0][0] - pred[1]) + np.linalg.norm(comps[1][0] - pred[0])
                    < np.linalg.norm(comps[0][0] - pred[0]) + np.linalg.norm(comps[1][0] - pred[1]))
            comps = comps[::-1] if swap else comps
        for j, (c, a, fill, offset) in enumerate(comps):
            cents[j, t], areas[j, t], fills[j, t], offsets[j, t] = c, a, fill, offset
    return [Track(color, cents[j], fills[j], areas[j], offsets[j], size) for j in range(k)]


def detect_objects(video, color_tol: float = 0.25, max_per_color: int = 2) -> list[Track]:
    """Detect and track the objects of a Shapes-world clip ``(F, 3, H, W)`` in [0, 1]; returns :class:`Track` s.

    A colour yields as many tracks as the number of its components most frames show (up to ``max_per_color``).
    """
    video = as_batch(video)
    if video.shape[0] != 1 or video.shape[2] != 3:
        raise ValueError(f"expected one RGB clip of shape (F, 3, H, W), got {tuple(video.shape)}")
    frames = video[0].permute(0, 2, 3, 1).numpy()  # f c h w -> f h w c
    size = max(frames.shape[1:3])
    min_area = max(4, int(0.2 * np.pi * (0.09 * size) ** 2))  # a fifth of the smallest shape's area
    labels = _color_labels(frames, color_tol)
    tracks = []
    for k, name in enumerate(_NAMES):
        if (labels == k).sum() < min_area:
            continue
        per_frame = [_components(labels[t] == k, min_area)[:max_per_color] for t in range(len(frames))]
        counts = [len(c) for c in per_frame]
        n = int(np.median(counts)) if max(counts) else 0
        if n == 0 and sum(c > 0 for c in counts) >= len(frames) / 3:
            n = 1  # an object hidden in most frames is still an object
        if n:
            tracks += [tr for tr in _link(per_frame, n, name, size) if tr.seen.sum() >= 2]
    _mark_overlaps(tracks)
    return tracks


def _agreement(spec, desc: dict) -> dict[str, bool]:
    want = {"color": spec.color, "shape": spec.shape, "direction": spec.direction, "speed": spec.speed}
    return {a: desc[a] == want[a] for a in ATTRIBUTES}


def _best_assignment(specs, descs) -> list[int | None]:
    """Track index per caption object (None when unmatched), maximising agreement with colour weighted first."""
    def score(i, j):
        ok = _agreement(specs[i], descs[j])
        return 4 * ok["color"] + ok["shape"] + ok["direction"] + ok["speed"]

    slots = list(range(len(descs))) + [None] * len(specs)
    best, best_score = [None] * len(specs), -1
    for choice in itertools.permutations(slots, len(specs)):
        if any(c is not None and choice.count(c) > 1 for c in choice):
            continue
        total = sum(score(i, j) for i, j in enumerate(choice) if j is not None)
        if total > best_score:
            best, best_score = list(choice), total
    return best


def prompt_adherence(video, caption: str, world: str = WORLD) -> dict:
    """Check a Shapes-world clip ``(F, 3, H, W)`` in [0, 1] against its caption (``world``: the geometry whose
    speed words the travel is read against).

    Returns ``{"objects": [per caption object: {"expected": ..., "detected": ... or None,
    "color"/"shape"/"direction"/"speed": bool, "all_correct": bool}], "num_expected", "num_detected",
    "count_correct", "all_correct"}``. ``all_correct`` needs every attribute of every object and no extra object.
    """
    specs = parse_caption(caption)  # validates the caption before any work
    check_world(world)
    descs = [tr.describe(world) for tr in detect_objects(video)]
    objects = []
    for spec, j in zip(specs, _best_assignment(specs, descs)):
        ok = _agreement(spec, descs[j]) if j is not None else dict.fromkeys(ATTRIBUTES, False)
        objects.append({"expected": {"color": spec.color, "shape": spec.shape, "direction": spec.direction,
                                     "speed": spec.speed},
                        "detected": descs[j] if j is not None else None, **ok, "all_correct": all(ok.values())})
    count_ok = len(descs) == len(specs)
    return {"objects": objects, "num_expected": len(specs), "num_detected": len(descs), "count_correct": count_ok,
            "all_correct": count_ok and all(o["all_correct"] for o in objects)}


def adherence_report(videos, captions, world: str = WORLD) -> dict:
    """Prompt adherence of a batch ``(B, F, 3, H, W)`` (or a list of clips) with one caption per clip.

    Returns ``{"n", "all_correct" (fraction of clips), "color"/"shape"/"direction"/"speed" (fraction of objects
    with that attribute right), "count" (fraction with the right object count), "results": [per clip]}``.
    """
    check_world(world)
    videos = list(videos) if not isinstance(videos, torch.Tensor) or videos.ndim == 5 else [videos]
    captions = [captions] if isinstance(captions, str) else list(captions)
    if len(videos) != len(captions):
        raise ValueError(f"expected one caption per video, got {len(captions)} captions for {len(videos)} videos")
    if not videos:
        raise ValueError("expected at least one video, got none")
    results = [prompt_adherence(v, c, world) for v, c in zip(videos, captions)]
    objs = [o for r in results for o in r["objects"]]
    report = {a: float(np.mean([o[a] for o in objs])) for a in ATTRIBUTES}
    report.update(n=len(results), all_correct=float(np.mean([r["all_correct"] for r in results])),
                  count=float(np.mean([r["count_correct"] for r in results])), results=results)
    return report
