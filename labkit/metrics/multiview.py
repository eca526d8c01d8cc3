"""Consistency of a generated camera orbit: novel-view PSNR/SSIM against ground truth, reprojection with the true
depth, and the pose-free optical-flow warping error along the orbit.

Taught in ``06_multiview_generation``.
"""

from __future__ import annotations

import torch

from labkit.checks import check_args
from labkit.metrics.quality import psnr, ssim
from labkit.metrics.temporal import warping_error
from labkit.multiview import Camera, reprojection_error

__all__ = ["novel_view_scores", "orbit_warping_error", "consistency_report"]


def novel_view_scores(pred: torch.Tensor, target: torch.Tensor, skip: int = 1) -> dict:
    """PSNR (dB) and SSIM of generated views against ground-truth views (``(V, 3, H, W)`` each), leaving out the
    first ``skip`` views (the input view is not novel). Computed by :mod:`labkit.metrics.quality` (torchmetrics)."""
    check_args(skip=skip)
    return {"psnr": psnr(pred[skip:], target[skip:]), "ssim": ssim(pred[skip:], target[skip:])}


def orbit_warping_error(views: torch.Tensor) -> float:
    """Pose-free consistency: the optical-flow warping error along the orbit (:func:`labkit.metrics.temporal.
    warping_error`, OpenCV Farneback) -- needs no camera or depth, so it also applies to real generated orbits."""
    return warping_error(views)


def consistency_report(pred: torch.Tensor, gt_views: torch.Tensor, gt_depths: torch.Tensor, cams: Camera) -> dict:
    """All three consistency scores of one generated orbit against the ground truth of its object."""
    return {"reprojection_mse": reprojection_error(pred, gt_depths, cams)["mse"],
            **{f"novel_{k}": v for k, v in novel_view_scores(pred, gt_views).items()},
            "warping_error": orbit_warping_error(pred)}
