"""Metrics for generated video: what each one notices and what it misses. No training and no model loading here:
a metric that needs a network (FVD, frame consistency) takes it as an argument (see :mod:`labkit.models`).

Taught in ``07_metric_evaluation``; every other lesson measures its claims with these functions.

- :mod:`.frechet`      ``frechet_distance``, ``gaussian_stats`` (the formula under FID/FVD)
- :mod:`.fvd`          ``fvd`` and ``fvd_from_stats`` with pluggable features (SW-Net gives "FVD-SW", I3D the standard)
- :mod:`.quality`      ``psnr``, ``ssim`` (torchmetrics; need a reference video)
- :mod:`.temporal`     ``flicker``, ``optical_flow``, ``warping_error``, ``motion_smoothness``, ``dynamic_degree``,
  ``frame_consistency``
- :mod:`.multiview`    consistency of a generated orbit: novel-view PSNR/SSIM, warping error along the orbit
- :mod:`.corruptions`  ``corrupt`` and :data:`CORRUPTIONS` for the content-bias experiment, ``temporal_smooth``
- :mod:`.adherence`    ``prompt_adherence(video, caption)`` and ``adherence_report`` in the Shapes world
- :mod:`.bias`         the lesson's experiments on a metric: content-bias sweep, sample-size bias, smoothing trick
- :mod:`.plots`        their plots and tables
"""

from labkit.metrics.adherence import ATTRIBUTES, adherence_report, detect_objects, prompt_adherence
from labkit.metrics.corruptions import CORRUPTIONS, SPATIAL, TEMPORAL, corrupt, temporal_smooth
from labkit.metrics.frechet import FewSamplesWarning, frechet_distance, gaussian_stats
from labkit.metrics.fvd import FVDResult, fvd, fvd_from_stats, load_reference_stats
from labkit.metrics.quality import psnr, ssim
from labkit.metrics.temporal import (
    dynamic_degree,
    flicker,
    frame_consistency,
    motion_smoothness,
    warping_error,
)

__all__ = [
    "frechet_distance", "gaussian_stats", "FewSamplesWarning",
    "fvd", "fvd_from_stats", "FVDResult", "load_reference_stats",
    "psnr", "ssim",
    "flicker", "warping_error", "motion_smoothness", "dynamic_degree", "frame_consistency",
    "CORRUPTIONS", "SPATIAL", "TEMPORAL", "corrupt", "temporal_smooth",
    "prompt_adherence", "adherence_report", "detect_objects", "ATTRIBUTES",
]
