"""Compression arithmetic: how many numbers a video is, and how many tokens a model must attend over.

Taught in ``00_tour`` (the pixel-space problem) and ``01_latent_compression`` (what a VAE buys).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labkit import DATA_DIR
from labkit.checks import COUNT, check_args, check_number

__all__ = ["video_values", "patch_tokens", "attention_matrix_bytes", "VAE_CLASSES", "VAEGeometry", "vae_geometry",
           "latent_frames", "decoded_frames", "latent_shape", "latent_values", "compression_ratio", "latent_tokens",
           "compression_table", "production_configs"]


def video_values(num_frames: int, height: int, width: int, channels: int = 3) -> int:
    """Number of values in a video: ``F * C * H * W`` (a 4 s, 24 fps, 512x512 RGB clip: 75.5 million)."""
    check_args(num_frames=num_frames, height=height, width=width, channels=channels)
    return num_frames * channels * height * width


def patch_tokens(num_frames: int, height: int, width: int, patch: tuple[int, int, int] = (1, 1, 1)) -> int:
    """Number of tokens when a ``(F, H, W)`` grid is cut into ``(p_f, p_h, p_w)`` patches (ceil at the edges)."""
    check_args(num_frames=num_frames, height=height, width=width)
    if not isinstance(patch, (tuple, list)) or len(patch) != 3:
        raise ValueError(f"patch: expected (p_f, p_h, p_w), got {patch!r}")
    p_f, p_h, p_w = (check_number(p, "patch", COUNT) for p in patch)
    return math.ceil(num_frames / p_f) * math.ceil(height / p_h) * math.ceil(width / p_w)


def attention_matrix_bytes(tokens: int, heads: int = 1, bytes_per_value: int = 2) -> int:
    """Memory of one full self-attention matrix: ``heads * tokens**2 * bytes_per_value`` (fp16: 2 bytes).

    Memory-efficient kernels (FlashAttention) never store it, but they still do ``O(tokens**2)`` work.
    """
    check_args(tokens=tokens, heads=heads, bytes_per_value=bytes_per_value)
    return heads * tokens * tokens * bytes_per_value


# --------------------------------------------------------------------------------------------------------------
# VAE arithmetic (notebook 01): what a diffusers VAE turns a video into, from its config alone.
# --------------------------------------------------------------------------------------------------------------

#: The VAE classes whose arithmetic this module knows, and whether they compress time.
VAE_CLASSES = ("AutoencoderKL", "AutoencoderKLTemporalDecoder", "AutoencoderKLCogVideoX")


@dataclass(frozen=True)
class VAEGeometry:
    """How a VAE compresses: ``temporal`` x time (1 = per frame), ``spatial`` x height and width, to ``channels``.

    ``causal``: the first frame is coded on its own (CogVideoX), so ``F`` frames become ``(F - 1) / temporal + 1``.
    """

    class_name: str
    temporal: int
    spatial: int
    channels: int
    in_channels: int
    causal: bool


def _as_config(vae) -> tuple[str, dict]:
    """``(class name, config dict)`` from a diffusers VAE instance, its ``.config``, a dict or a JSON path."""
    if isinstance(vae, (str, Path)):
        path = Path(vae)
        path = path / "config.json" if path.is_dir() else path
        if not path.exists():
            raise FileNotFoundError(f"expected a VAE config.json or a folder holding one, got {str(vae)!r}")
        vae = json.loads(path.read_text())
    if isinstance(vae, Mapping):
        config = dict(vae)
        name = config.get("_class_name")
    elif hasattr(vae, "config") and isinstance(vae.config, Mapping):
        config, name = dict(vae.config), type(vae).__name__
    else:
        raise TypeError(f"expected a diffusers VAE, its config (dict) or a config path, got {type(vae).__name__}")
    if name not in VAE_CLASSES:
        raise ValueError(f"expected a VAE of class {' / '.join(VAE_CLASSES)} (config '_class_name'), got {name!r}")
    return name, config


def vae_geometry(vae) -> VAEGeometry:
    """Compression factors of a VAE from its config (diffusers semantics).

    - ``AutoencoderKL`` / ``AutoencoderKLTemporalDecoder``: one 2x downsample per down block but the last, so
      ``spatial = 2 ** (len(block_out_channels) - 1)`` (SD: 8); frames are coded one by one (``temporal = 1``).
    - ``AutoencoderKLCogVideoX``: the same spatial rule, and ``temporal = temporal_compression_ratio`` (4),
      causal in time (the first frame alone, then groups of ``temporal`` frames).
    """
    name, config = _as_config(vae)
    blocks = config.get("block_out_channels", (64,))
    spatial = 2 ** (len(blocks) - 1)
    causal = name == "AutoencoderKLCogVideoX"
    temporal = int(config.get("temporal_compression_ratio", 4)) if causal else 1
    return VAEGeometry(name, temporal, spatial, int(config.get("latent_channels", 4)),
                       int(config.get("in_channels", 3)), causal)


def latent_frames(vae, num_frames: int) -> int:
    """Latent frames for ``num_frames`` video frames; a causal 3D VAE needs ``num_frames = temporal * k + 1``."""
    check_args(num_frames=num_frames)
    geo = vae_geometry(vae)
    if geo.temporal == 1:
        return num_frames
    if (num_frames - 1) % geo.temporal:
        below = (num_frames - 1) // geo.temporal * geo.temporal + 1
        raise ValueError(f"num_frames: expected {geo.temporal}k+1 for {geo.class_name} (causal, "
                         f"{geo.temporal}x in time), got {num_frames}: use {below} or {below + geo.temporal}")
    return (num_frames - 1) // geo.temporal + 1


def decoded_frames(vae, num_latent_frames: int, latent_batch: int = 2) -> int:
    """Frames that diffusers' decoder returns for ``num_latent_frames`` (not always the inverse of encoding!).

    ``AutoencoderKLCogVideoX.decode`` works on ``latent_batch`` (``num_latent_frames_batch_size`` = 2) latent
    frames at a time; the first batch takes the odd one out, and only an odd-length batch keeps its first frame
    causal (1 -> 1, others 1 -> 4). So an odd latent count ``n`` gives ``4(n - 1) + 1`` frames (13 -> 49), an
    even one ``4n`` (2 -> 8, not 5): round trips preserve length for ``8k+1`` frames.
    """
    check_args(num_latent_frames=num_latent_frames, latent_batch=latent_batch)
    geo = vae_geometry(vae)
    if geo.temporal == 1:
        return num_latent_frames
    first = latent_batch + num_latent_frames % latent_batch if num_latent_frames >= latent_batch else num_latent_frames
    rest = num_latent_frames - first
    first_frames = geo.temporal * (first - 1) + 1 if first % 2 else geo.temporal * first
    return first_frames + geo.temporal * rest


def latent_shape(vae, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Latent of one clip, ``(F_latent, C_latent, h, w)`` (the course layout; the VAE itself sees ``C, F``).

    CogVideoX-2b on 49x480x720: ``(13, 16, 60, 90)``. Height and width must be multiples of the spatial factor.
    """
    check_args(num_frames=num_frames, height=height, width=width)
    geo = vae_geometry(vae)
    for name, size in (("height", height), ("width", width)):
        if size % geo.spatial:
            raise ValueError(f"{name}: expected a multiple of {geo.spatial} ({geo.class_name} downsamples "
                             f"{geo.spatial}x), got {size}")
    return latent_frames(vae, num_frames), geo.channels, height // geo.spatial, width // geo.spatial


def latent_values(vae, num_frames: int, height: int, width: int) -> int:
    """Number of values in the latent of one clip: ``F_latent * C_latent * h * w``."""
    return math.prod(latent_shape(vae, num_frames, height, width))


def compression_ratio(vae, num_frames: int, height: int, width: int) -> float:
    """Video values / latent values (SD VAE: 48 for any clip; CogVideoX on 49x480x720: 45.2, but 4x fewer tokens)."""
    geo = vae_geometry(vae)
    return video_values(num_frames, height, width, geo.in_channels) / latent_values(vae, num_frames, height, width)


def latent_tokens(vae, num_frames: int, height: int, width: int, patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    """Transformer tokens after patchifying the latent into ``(p_f, p_h, p_w)`` patches.

    CogVideoX's transformer uses ``(1, 2, 2)``: 49x480x720 -> 13 x 30 x 45 = 17,550 tokens.
    """
    f, _, h, w = latent_shape(vae, num_frames, height, width)
    return patch_tokens(f, h, w, patch)


def compression_table(vaes: Mapping, num_frames: int, height: int, width: int,
                      patch: tuple[int, int, int] = (1, 2, 2)) -> list[dict]:
    """One row per named VAE: latent shape, values, ratio and tokens for a ``num_frames x height x width`` clip."""
    check_args(num_frames=num_frames, height=height, width=width)
    rows = [{"vae": "pixels (none)", "latent shape (F, C, h, w)": (num_frames, 3, height, width),
             "values": video_values(num_frames, height, width), "ratio": 1.0,
             "tokens": patch_tokens(num_frames, height, width, patch)}]
    for name, vae in vaes.items():
        rows.append({"vae": name, "latent shape (F, C, h, w)": latent_shape(vae, num_frames, height, width),
                     "values": latent_values(vae, num_frames, height, width),
                     "ratio": round(compression_ratio(vae, num_frames, height, width), 2),
                     "tokens": latent_tokens(vae, num_frames, height, width, patch)})
    return rows


def production_configs() -> dict[str, dict]:
    """The shipped configs of the production VAEs in ``data/configs/vae/`` (``{file stem: config dict}``)."""

    return {p.stem: json.loads(p.read_text()) for p in sorted((DATA_DIR / "configs" / "vae").glob("*.json"))}
