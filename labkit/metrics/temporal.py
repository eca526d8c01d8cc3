"""Temporal metrics of a single clip: flicker, warping error, motion smoothness, dynamic degree, frame consistency.

Taught in ``07_metric_evaluation``.

None of these needs a reference video; each looks at how consecutive frames relate:

- :func:`flicker` -- VBench's ``temporal_flickering`` (Huang et al., CVPR 2024): the mean absolute difference of
  consecutive frames. VBench reports ``1 - flicker`` as a score; here lower means steadier.
- :func:`warping_error` -- warp frame ``t`` onto frame ``t+1`` with optical flow (OpenCV Farneback), ignore pixels
  that fail the forward-backward consistency check (occlusions; Sundaram et al., ECCV 2010; Lai et al., ECCV 2018),
  and average the squared error. Motion that optical flow can explain costs nothing; shuffled frames cost a lot.
- :func:`motion_smoothness` -- VBench-style: drop every odd frame, re-create it by flow-based interpolation of its
  neighbours, compare. VBench uses a learned interpolator (AMT); here it is Farneback flow. 1 = perfectly smooth.
- :func:`dynamic_degree` -- how much things move: the mean of the top 5 % optical-flow magnitudes, in pixels per
  frame (VBench thresholds RAFT flow; here the continuous value is returned).
- :func:`frame_consistency` -- mean cosine similarity of frame embeddings (consecutive and first-to-each frame),
  with any frame embedder (CLIP from a local path, or the Shapes-world network's frame features).

Flow is computed on grey uint8 frames; every function takes a clip ``(F, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from labkit.checks import check_args
from labkit.metrics._checks import as_clip

__all__ = ["mean_flow_magnitude", "flicker", "optical_flow", "backward_warp", "occlusion_mask", "warping_error",
           "motion_smoothness", "dynamic_degree", "frame_consistency"]


#: The one Farneback parameter set of the course (every flow-based measure uses :func:`optical_flow`). OpenCV stops
#: building the pyramid below 32 pixels, so ``levels`` 2 and 3 give the same flow on frames under 256 px.
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=9, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)


def flicker(video) -> float:
    """Mean absolute difference of consecutive frames, in [0, 1] (0 = a still image; lower = steadier).

    Normalised by the value range (1), the number of pixels and channels and the ``F - 1`` frame pairs. Real
    motion also costs flicker, so compare clips with similar content (VBench applies it to static scenes).
    """
    video = as_clip(video)
    return float((video[1:] - video[:-1]).abs().mean())


def _grey(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] -> grey uint8 ``(H, W)`` for OpenCV."""
    return cv2.cvtColor((np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _hwc(video: torch.Tensor) -> np.ndarray:
    frames = video.detach().cpu().numpy().transpose(0, 2, 3, 1)  # f c h w -> f h w c
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farneback flow ``(H, W, 2)`` (dx, dy in pixels) from frame ``a`` to ``b`` (``(H, W, 3)`` in [0, 1]):
    ``a[y, x] ~ b[y + dy, x + dx]``."""
    return cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), None, **_FARNEBACK)


def mean_flow_magnitude(video) -> float:
    """How much a clip ``(F, C, H, W)`` in [0, 1] moves: the :func:`optical_flow` magnitude (pixels per frame)
    averaged over pixels and consecutive frame pairs (notebook 05's "motion"). Needs at least 2 frames."""
    frames = _hwc(as_clip(video))
    return float(np.mean([np.linalg.norm(optical_flow(a, b), axis=-1).mean() for a, b in zip(frames[:-1], frames[1:])]))


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``x + flow(x)`` (bilinear, border replicated): ``out[y, x] = image[y + dy, x + dx]``."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Boolean ``(H, W)``: True where forward-backward consistency fails (Sundaram et al., 2010).

    ``flow_back`` goes from frame ``t+1`` to ``t``, ``flow_fwd`` from ``t`` to ``t+1``; a pixel is consistent when
    following one and then the other returns near its start: ``|b + f(x + b)|^2 < 0.01 (|b|^2 + |f|^2) + 0.5``.
    """
    fwd_at = backward_warp(flow_fwd, flow_back)
    round_trip = ((flow_back + fwd_at) ** 2).sum(-1)
    bound = 0.01 * ((flow_back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + 0.5
    return round_trip >= bound


def warping_error(video, return_per_pair: bool = False):
    """Flow-warping error of a clip: mean over frame pairs of the squared RGB error between frame ``t+1`` and
    frame ``t`` backward-warped onto it, over non-occluded pixels. Units: squared intensity ([0, 1] scale).

    Lower is more temporally coherent. ``return_per_pair`` also returns the ``F - 1`` per-pair values.
    """
    frames = _hwc(as_clip(video))
    errors = []
    for prev, nxt in zip(frames[:-1], frames[1:]):
        back, fwd = optical_flow(nxt, prev), optical_flow(prev, nxt)
        valid = ~occlusion_mask(back, fwd)
        sq = ((backward_warp(prev, back) - nxt) ** 2).mean(-1)
        errors.append(float(sq[valid].mean()) if valid.any() else float(sq.mean()))
    mean = float(np.mean(errors))
    return (mean, errors) if return_per_pair else mean


def motion_smoothness(video) -> float:
    """VBench-style motion smoothness in [0, 1] (1 = every odd frame is exactly the flow midpoint of its
    neighbours). For each odd frame ``t``: flow ``f`` from ``t-1`` to ``t+1``; the prediction averages
    ``frame[t-1]`` sampled at ``x - f/2`` and ``frame[t+1]`` at ``x + f/2``; score = 1 - mean |prediction - frame|.
    Needs at least 3 frames.
    """
    frames = _hwc(as_clip(video, min_frames=3))
    errors = []
    for t in range(1, len(frames) - 1, 2):
        flow = optical_flow(frames[t - 1], frames[t + 1])
        pred = 0.5 * (backward_warp(frames[t - 1], -0.5 * flow) + backward_warp(frames[t + 1], 0.5 * flow))
        errors.append(float(np.abs(pred - frames[t]).mean()))
    return 1.0 - float(np.mean(errors))


def dynamic_degree(video, top_fraction: float = 0.05) -> float:
    """How much the clip moves: mean over frame pairs of the mean of the largest ``top_fraction`` of optical-flow
    magnitudes, in pixels per frame at the clip's resolution (VBench's dynamic degree before its threshold)."""
    check_args(top_fraction=top_fraction)
    frames = _hwc(as_clip(video))
    values = []
    for prev, nxt in zip(frames[:-1], frames[1:]):
        mag = np.linalg.norm(optical_flow(prev, nxt), axis=-1).ravel()
        k = max(1, int(round(top_fraction * mag.size)))
        values.append(float(np.sort(mag)[-k:].mean()))
    return float(np.mean(values))


def frame_consistency(video, embed: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """Mean cosine similarity of frame embeddings: ``{"consecutive": ..., "first": ...}`` (1 = identical frames).

    ``embed`` maps frames ``(F, C, H, W)`` in [0, 1] to embeddings ``(F, D)``: a CLIP image encoder
    (:func:`labkit.models.embedders.clip_frame_embedder`) or the Shapes-world network's frame features
    (:func:`labkit.models.swnet.swnet_frame_embedder`). ``"first"`` compares frame 0 to every later frame.
    """
    video = as_clip(video)
    with torch.no_grad():
        emb = torch.nn.functional.normalize(embed(video).double(), dim=-1)
    if emb.ndim != 2 or emb.shape[0] != video.shape[0]:
        raise ValueError(f"expected embed to return (F, D) = ({video.shape[0]}, D), got {tuple(emb.shape)}")
    consecutive = (emb[1:] * emb[:-1]).sum(-1).mean()
    first = (emb[1:] * emb[:1]).sum(-1).mean()
    return {"consecutive": float(consecutive), "first": float(first)}
