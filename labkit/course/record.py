"""How a notebook reports its key numbers and videos to the course report.

Used by every notebook; read by :mod:`labkit.course.runner`, which sets two environment variables for the kernel:

- ``LABKIT_OUTPUT_DIR``: the folder for this notebook's artifacts (videos, plots) under ``outputs/``;
- ``LABKIT_RECORD_FILE``: a JSON-lines file collecting ``record(...)`` calls.

Outside the runner (an interactive session) artifacts go to ``outputs/interactive/`` and records are only
returned, so the same notebook code works in both places.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from labkit import OUTPUTS_DIR
from labkit.checks import check_args
from labkit.video import ffmpeg_available, save_video

__all__ = ["output_dir", "record", "read_records", "save_artifact_video"]


def output_dir() -> Path:
    """The folder where the running notebook should write its artifacts (created if needed)."""
    path = Path(os.environ.get("LABKIT_OUTPUT_DIR") or OUTPUTS_DIR / "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _plain(value):
    """Turn numpy/torch scalars into builtin numbers so they serialise as JSON."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def record(key: str, value, unit: str = "", note: str = ""):
    """Report a key number of a lesson (shown in ``outputs/report.md``); returns ``value`` unchanged.

    ``record("3D VAE PSNR", 31.2, "dB", "held-out test clips")``.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"expected a non-empty string key, got {key!r}")
    path = os.environ.get("LABKIT_RECORD_FILE")
    if path:
        entry = {"key": key, "value": _plain(value), "unit": unit, "note": note}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    return value


def read_records(path) -> list[dict]:
    """The records a notebook wrote (empty when it wrote none)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def save_artifact_video(video, name: str, fps: float = 8.0) -> Path:
    """Save a clip into this notebook's output folder as ``NAME.mp4`` (``.gif`` without ffmpeg)."""
    check_args(fps=fps)
    suffix = ".mp4" if ffmpeg_available() else ".gif"
    return save_video(video, output_dir() / f"{name}{suffix}", fps=fps)
