"""Metrics for generated video: what each one notices and what it misses.

Taught in ``07_metric_evaluation``; every other lesson measures its claims with these functions.

- :mod:`.frechet`      ``frechet_distance``, ``gaussian_stats`` (the formula under FID/FVD)
- :mod:`.quality`      ``psnr``, ``ssim`` (torchmetrics; need a reference video)
- :mod:`.temporal`     ``flicker``, ``warping_error``, ``motion_smoothness``, ``dynamic_degree``, ``frame_consistency``
- :mod:`.corruptions`  ``corrupt`` and :data:`CORRUPTIONS` for the content-bias experiment, ``temporal_smooth``
- :mod:`.adherence`    ``prompt_adherence(video, caption)`` and ``adherence_report`` in the Shapes world
"""

from .adherence import ATTRIBUTES, adherence_report, detect_objects, prompt_adherence
from .corruptions import CORRUPTIONS, SPATIAL, TEMPORAL, corrupt, temporal_smooth
from .frechet import FewSamplesWarning, frechet_distance, gaussian_stats
from .quality import psnr, ssim
from .temporal import dynamic_degree, flicker, frame_consistency, motion_smoothness, warping_error

__all__ = [
    "frechet_distance", "gaussian_stats", "FewSamplesWarning",
    "psnr", "ssim",
    "flicker", "warping_error", "motion_smoothness", "dynamic_degree", "frame_consistency",
    "CORRUPTIONS", "SPATIAL", "TEMPORAL", "corrupt", "temporal_smooth",
    "prompt_adherence", "adherence_report", "detect_objects", "ATTRIBUTES",
]
