"""Metrics for generated video: what each one notices and what it misses.

Taught in ``07_metric_evaluation``; every other lesson measures its claims with these functions.

- :mod:`.frechet`      ``frechet_distance``, ``gaussian_stats`` (the formula under FID/FVD)
- :mod:`.fvd`          ``fvd`` with pluggable features, ``fvd_sw`` against the shipped test-split statistics
- :mod:`.i3d`          the I3D network of standard FVD, ``load_i3d`` for local TorchScript / state-dict files
- :mod:`.swnet`        SW-Net, the Shapes-world feature network behind FVD-SW (``labkit train features``)
- :mod:`.quality`      ``psnr``, ``ssim`` (torchmetrics; need a reference video)
- :mod:`.temporal`     ``flicker``, ``warping_error``, ``motion_smoothness``, ``dynamic_degree``, ``frame_consistency``
- :mod:`.embedders`    frame embedders for frame consistency: CLIP from a local folder, or SW-Net's frame path
- :mod:`.corruptions`  ``corrupt`` and :data:`CORRUPTIONS` for the content-bias experiment, ``temporal_smooth``
- :mod:`.adherence`    ``prompt_adherence(video, caption)`` and ``adherence_report`` in the Shapes world
- :mod:`.evaluation`   the lesson's experiments as functions (content-bias sweep, sample-size bias, leaderboard)
"""

from .adherence import ATTRIBUTES, adherence_report, detect_objects, prompt_adherence
from .corruptions import CORRUPTIONS, SPATIAL, TEMPORAL, corrupt, temporal_smooth
from .embedders import clip_frame_embedder, default_frame_embedder
from .frechet import FewSamplesWarning, frechet_distance, gaussian_stats
from .fvd import FVDResult, SWNetFeatures, fvd, fvd_from_stats, fvd_sw, load_reference_stats
from .i3d import I3DFeatures, InceptionI3d, load_i3d
from .quality import psnr, ssim
from .swnet import load_swnet, swnet_frame_embedder
from .temporal import dynamic_degree, flicker, frame_consistency, motion_smoothness, warping_error

__all__ = [
    "frechet_distance", "gaussian_stats", "FewSamplesWarning",
    "fvd", "fvd_from_stats", "fvd_sw", "FVDResult", "SWNetFeatures", "load_reference_stats",
    "InceptionI3d", "I3DFeatures", "load_i3d", "load_swnet", "swnet_frame_embedder",
    "clip_frame_embedder", "default_frame_embedder",
    "psnr", "ssim",
    "flicker", "warping_error", "motion_smoothness", "dynamic_degree", "frame_consistency",
    "CORRUPTIONS", "SPATIAL", "TEMPORAL", "corrupt", "temporal_smooth",
    "prompt_adherence", "adherence_report", "detect_objects", "ATTRIBUTES",
]
