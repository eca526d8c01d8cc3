"""The one video tensor convention of the course, conversions, saving and display.

Taught in ``00_tour``; every other lesson uses it.

Convention (the same as diffusers pipelines with ``output_type="pt"``):

- a **clip** is a float tensor of shape ``(F, C, H, W)`` with values in ``[0, 1]``;
- a **batch** is ``(B, F, C, H, W)``;
- ``C`` is 3 (RGB) or 1 (grey); ``F`` is the number of frames (``num_frames``), never called ``T``,
  which is diffusion time.

Everything else (uint8 ``(F, H, W, C)`` arrays, PIL lists, diffusers outputs) is converted at the boundary
with the helpers below. Models that want another layout convert with an einops pattern at their boundary,
e.g. a 3D VAE wants ``"f c h w -> c f h w"``.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from labkit.checks import check_args

__all__ = [
    "check_video",
    "to_uint8",
    "from_uint8",
    "to_pil",
    "from_pil",
    "from_pipeline_output",
    "save_video",
    "encode_video",
    "data_uri",
    "video_html",
    "show_video",
    "show_videos",
    "filmstrip",
    "compare_filmstrips",
    "ffmpeg_available",
]

_CHANNELS = (1, 3)


def check_video(video, name: str = "video", allow_batch: bool = True, range_tol: float = 1e-3) -> torch.Tensor:
    """Validate a video in the course convention and return it as a float tensor.

    Accepts a clip ``(F, C, H, W)`` or, when ``allow_batch``, a batch ``(B, F, C, H, W)``; float values in
    ``[0, 1]`` (``range_tol`` of slack for rounding). Raises ``ValueError``/``TypeError`` with a message that
    names what was expected and what was given, and suggests the likely mistake.
    """
    if isinstance(video, np.ndarray):
        if video.dtype == np.uint8:
            raise TypeError(
                f"expected a float video in [0, 1], got a uint8 numpy array of shape {video.shape}: "
                "convert it with labkit.video.from_uint8(array) (layout (F, H, W, C))"
            )
        video = torch.from_numpy(np.ascontiguousarray(video))
    if not isinstance(video, torch.Tensor):
        raise TypeError(f"expected {name} as a torch.Tensor of shape (F, C, H, W), got {type(video).__name__}")
    ranks = "(F, C, H, W) or (B, F, C, H, W)" if allow_batch else "(F, C, H, W)"
    if video.ndim not in ((4, 5) if allow_batch else (4,)):
        raise ValueError(f"expected {name} of shape {ranks}, got rank {video.ndim} with shape {tuple(video.shape)}")
    if not video.is_floating_point():
        raise TypeError(
            f"expected a float {name} with values in [0, 1], got dtype {video.dtype}: "
            "for uint8 frames use labkit.video.from_uint8"
        )
    shape = tuple(video.shape)
    if shape[-3] not in _CHANNELS:
        hint = ""
        if shape[-1] in _CHANNELS:
            hint = ": channels last? permute with einops 'f h w c -> f c h w'"
        elif video.ndim >= 4 and shape[-4] in _CHANNELS:
            hint = ": frames and channels swapped? (a 3D-VAE layout (C, F, H, W)) use 'c f h w -> f c h w'"
        raise ValueError(f"expected {name} of shape {ranks} with C in {{1, 3}}, got {shape}{hint}")
    if torch.isnan(video).any():
        raise ValueError(f"{name} contains NaN values (shape {shape})")
    lo, hi = float(video.min()), float(video.max())
    if lo < -range_tol or hi > 1 + range_tol:
        hint = " (looks like [-1, 1]: map it with (x + 1) / 2)" if lo >= -1 - range_tol and lo < -0.05 else ""
        hint = hint or (" (looks like [0, 255]: divide by 255)" if hi > 1.5 else "")
        raise ValueError(f"expected {name} values in [0, 1], got range [{lo:.4g}, {hi:.4g}]{hint}")
    return video


def to_uint8(video) -> np.ndarray:
    """Clip ``(F, C, H, W)`` in [0, 1] -> uint8 numpy ``(F, H, W, 3)`` (grey is repeated to RGB)."""
    video = check_video(video, allow_batch=False).detach().float().cpu().clamp(0, 1)
    if video.shape[1] == 1:
        video = video.expand(-1, 3, -1, -1)
    return (video.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)  # f c h w -> f h w c


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    """uint8 numpy ``(F, H, W, C)`` -> float clip ``(F, C, H, W)`` in [0, 1]."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"expected uint8 frames of shape (F, H, W, C), got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] not in _CHANNELS:
        raise ValueError(f"expected uint8 frames of shape (F, H, W, C) with C in {{1, 3}}, got {frames.shape}")
    return torch.from_numpy(frames.copy()).permute(0, 3, 1, 2).float() / 255.0  # f h w c -> f c h w


def to_pil(video) -> list:
    """Clip ``(F, C, H, W)`` -> list of ``F`` RGB ``PIL.Image``."""

    return [Image.fromarray(frame) for frame in to_uint8(video)]


def from_pil(images: Sequence) -> torch.Tensor:
    """List of PIL images (all the same size) -> clip ``(F, 3, H, W)`` in [0, 1]."""
    if len(images) == 0:
        raise ValueError("expected a non-empty list of PIL images, got an empty list")
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise ValueError(f"expected PIL images of one size, got sizes {sorted(sizes)}")
    return from_uint8(np.stack([np.asarray(im.convert("RGB")) for im in images]))


def from_pipeline_output(frames) -> torch.Tensor:
    """A diffusers video pipeline's ``.frames`` -> batch ``(B, F, C, H, W)`` in [0, 1].

    Handles ``output_type="pt"`` (a ``(B, F, C, H, W)`` tensor), ``"np"`` (float ``(B, F, H, W, C)``)
    and ``"pil"`` (a list of lists of PIL images).
    """
    if isinstance(frames, torch.Tensor):
        return check_video(frames.float() if frames.ndim == 5 else frames.unsqueeze(0).float())
    if isinstance(frames, np.ndarray):
        if frames.ndim != 5 or frames.shape[-1] not in _CHANNELS:
            raise ValueError(f"expected output_type='np' frames of shape (B, F, H, W, C), got {frames.shape}")
        if frames.dtype == np.uint8:
            return torch.stack([from_uint8(clip) for clip in frames])
        return check_video(torch.from_numpy(frames.copy()).permute(0, 1, 4, 2, 3).float())  # b f h w c -> b f c h w
    if isinstance(frames, (list, tuple)) and frames and isinstance(frames[0], (list, tuple)):
        return torch.stack([from_pil(clip) for clip in frames])
    raise TypeError(
        f"expected a pipeline's .frames (tensor, numpy array or list of PIL lists), got {type(frames).__name__}"
    )


def ffmpeg_available() -> bool:
    """True when imageio-ffmpeg can find an ffmpeg binary (needed for mp4)."""
    try:
        import imageio_ffmpeg  # lazy: optional (mp4 needs it; gif does not)

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).exists()
    except Exception:  # noqa: BLE001 - any failure means "no ffmpeg"
        return False


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad H and W to even sizes (H.264 with yuv420p needs them) by repeating the last row/column."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def save_video(video, path, fps: float = 8.0) -> Path:
    """Write a clip ``(F, C, H, W)`` to ``.mp4`` (H.264, yuv420p: plays in browsers) or ``.gif``.

    The file is written to a temporary name in the same folder and moved into place, so a failed write
    never leaves a half-written video behind. Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"expected a path ending in .mp4 or .gif, got {path.name!r}")
    check_args(fps=fps)
    frames = to_uint8(video)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=path.parent, prefix=f".{path.stem}-")
    os.close(fd)
    try:
        _write_frames(frames, tmp, suffix, fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_frames(frames: np.ndarray, filename: str, suffix: str, fps: float) -> None:

    if suffix == ".mp4":
        if not ffmpeg_available():
            raise RuntimeError("saving .mp4 needs ffmpeg: `pip install imageio-ffmpeg`, or save a .gif instead")
        imageio.mimwrite(
            filename, _even(frames), format="FFMPEG", fps=fps, codec="libx264", quality=8,
            pixelformat="yuv420p", macro_block_size=1, output_params=["-movflags", "+faststart"],
        )
    else:
        imageio.mimwrite(filename, frames, format="GIF", duration=1000.0 / fps, loop=0)


def encode_video(video, fps: float = 8.0, fmt: str | None = None) -> tuple[bytes, str]:
    """Encode a clip to bytes; returns ``(data, mime)``. mp4 when ffmpeg is present, else gif."""
    fmt = fmt or ("mp4" if ffmpeg_available() else "gif")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_video(video, Path(tmp) / f"clip.{fmt}", fps=fps)
        return path.read_bytes(), ("video/mp4" if fmt == "mp4" else "image/gif")


def data_uri(data: bytes, mime: str) -> str:
    """``data:MIME;base64,...``: bytes (an encoded video, a PNG) embedded in HTML, no file beside the notebook."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def video_html(video, fps: float = 8.0, width: int = 192, title: str | None = None, fmt: str | None = None) -> str:
    """Self-contained HTML for a clip: an embedded HTML5 ``<video>`` (mp4) or an ``<img>`` (gif fallback).

    Needs no internet and no files next to the notebook; small clips are upscaled without smoothing.
    """
    check_args(fps=fps, width=width)
    data, mime = encode_video(video, fps=fps, fmt=fmt)
    src = data_uri(data, mime)
    style = f"width:{width}px;image-rendering:pixelated;display:block"
    if mime == "video/mp4":
        media = f'<video class="labkit-video" src="{src}" style="{style}" autoplay loop muted playsinline controls></video>'
    else:
        media = f'<img class="labkit-video" src="{src}" style="{style}">'
    caption = f'<figcaption style="font-size:12px;max-width:{width}px">{html.escape(title)}</figcaption>' if title else ""
    return f'<figure style="margin:4px;display:inline-block;vertical-align:top">{media}{caption}</figure>'


class _HTML:
    def __init__(self, markup: str):
        self.data = markup

    def _repr_html_(self) -> str:
        return self.data


def show_video(video, fps: float = 8.0, width: int = 192, title: str | None = None):
    """Display a clip inline in Jupyter (returns an object with ``_repr_html_``).

    A batch ``(B, F, C, H, W)`` is shown side by side.
    """
    video = check_video(video)
    if video.ndim == 5:
        return show_videos(list(video), fps=fps, width=width)
    return _HTML(video_html(video, fps=fps, width=width, title=title))


def show_videos(videos: Sequence, titles: Sequence[str] | None = None, fps: float = 8.0, width: int = 160):
    """Several clips side by side, each with an optional title (for comparisons)."""
    titles = list(titles) if titles is not None else [None] * len(videos)
    if len(titles) != len(videos):
        raise ValueError(f"expected one title per video, got {len(titles)} titles for {len(videos)} videos")
    cells = "".join(video_html(v, fps=fps, width=width, title=t) for v, t in zip(videos, titles))
    return _HTML(f'<div style="display:flex;flex-wrap:wrap">{cells}</div>')


def _frame_indices(num_frames: int, num: int | None) -> list[int]:
    if num is None or num >= num_frames:
        return list(range(num_frames))
    return np.linspace(0, num_frames - 1, num).round().astype(int).tolist()


def filmstrip(video, num: int | None = 8, ax_row=None, title: str | None = None, scale: float = 1.2):
    """Plot frames of a clip in a row with matplotlib; returns the figure (or ``None`` when drawing on ``ax_row``)."""
    check_args(num=num, scale=scale, allow_none=("num",))
    frames = to_uint8(video)
    idx = _frame_indices(len(frames), num)
    fig = None
    if ax_row is None:
        fig, ax_row = plt.subplots(1, len(idx), figsize=(scale * len(idx), scale * 1.15), squeeze=False)
        ax_row = ax_row[0]
    for ax, i in zip(ax_row, idx):
        ax.imshow(frames[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"f={i}", fontsize=8)
    if title:
        ax_row[0].set_ylabel(title, fontsize=8, rotation=0, ha="right", va="center")
    if fig is not None:
        fig.tight_layout()
    return fig


def compare_filmstrips(videos: Sequence, titles: Sequence[str], num: int | None = 8, scale: float = 1.2):
    """One filmstrip row per clip, aligned by frame, for side-by-side comparison; returns the figure."""

    if len(titles) != len(videos):
        raise ValueError(f"expected one title per video, got {len(titles)} titles for {len(videos)} videos")
    lengths = {check_video(v, allow_batch=False).shape[0] for v in videos}
    cols = len(_frame_indices(max(lengths), num))
    fig, axes = plt.subplots(len(videos), cols, figsize=(scale * cols, scale * 1.15 * len(videos)), squeeze=False)
    for row, video, title in zip(axes, videos, titles):
        filmstrip(video, num=num, ax_row=row, title=title)
    fig.tight_layout()
    return fig
