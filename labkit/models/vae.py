"""Tiny VAEs from real diffusers classes, and encode/decode at the VAE boundary.

Taught in ``01_latent_compression``; the 3D VAE's latent space is reused by ``04_train_tiny_video_model``.

Two tiny VAEs for 17x64x64 Shapes-world clips:

- :func:`tiny_vae_2d`: ``AutoencoderKL`` applied **per frame** (8x spatial), like SD/SVD;
- :func:`tiny_vae_3d`: ``AutoencoderKLCogVideoX``, **causal in time** (4x temporal, 8x spatial), like CogVideoX.

The course layout is a batch ``(B, F, C, H, W)`` in ``[0, 1]``; at the VAE boundary it becomes:

- 2D VAE: ``"b f c h w -> (b f) c h w"`` (every frame is an image), values in ``[-1, 1]``;
- 3D VAE: ``"b f c h w -> b c f h w"`` (channels first, frames as depth), values in ``[-1, 1]``.

Latents are returned in the course layout ``(B, F_latent, C_latent, h, w)`` and **scaled** by the VAE's
``scaling_factor`` (diffusion works on ``z * scaling_factor``, roughly unit variance); :func:`decode` undoes it.

Memory savers (diffusers semantics): ``decode_chunk_size`` decodes a 2D VAE's frames that many at a time (a 3D
VAE already decodes ``num_latent_frames_batch_size`` latent frames at a time with a causal conv cache); *slicing*
decodes one batch element at a time; *tiling* decodes overlapping spatial tiles and blends them (not exact: each tile is
decoded with its own GroupNorm statistics; ``tests/models/test_vae.py`` measures the difference per VAE).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderKLCogVideoX, AutoencoderKLTemporalDecoder
from einops import rearrange

from labkit.checks import check_args
from labkit.compression import vae_geometry
from labkit.models import REGISTRY, folder, is_shipped, missing
from labkit.video import check_video

__all__ = ["encode_posterior", "COURSE_VAES", "SHAPE_CODE_VAE",
           "tiny_vae_2d", "tiny_vae_3d", "load_vae", "is_3d", "check_vae_video",
           "round_trip_step", "pad_frames", "check_latents", "to_vae_layout", "from_vae_layout",
           "encode", "decode", "reconstruct"]


@torch.no_grad()
def encode_posterior(vae, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Videos ``(B, F, 3, H, W)`` in [0, 1] -> posterior mean and std ``(B, F', C, h, w)``."""
    dist = vae.encode((x * 2 - 1).permute(0, 2, 1, 3, 4)).latent_dist  # b f c h w -> b c f h w, [-1, 1]
    return dist.mean.permute(0, 2, 1, 3, 4), dist.std.permute(0, 2, 1, 3, 4)


# Tiny sizes: four blocks -> three 2x downsamples = 8x spatial (like the production VAEs); 32 channels at most.
_BLOCKS = (16, 32, 32, 32)


#: The shipped VAEs the course's lessons use (names in :data:`labkit.models.REGISTRY`).
COURSE_VAES = {"2d": "vae-2d", "3d": "vae-3d-v4"}


#: The code-consistent 3D VAE of notebook 04 (``labkit train vae --code-consistency``, then decoder-only runs on
#: ``vae-3d-v4``'s chain; ``data/models/vae-3d-cc/PROVENANCE.json`` lists every run): its square-minus-circle code
#: is about one pattern wherever the object sits, at some cost in reconstruction.
SHAPE_CODE_VAE = "vae-3d-cc"


_GROUPS = 8  # GroupNorm groups; must divide every entry of _BLOCKS


def tiny_vae_2d(latent_channels: int = 5, block_out_channels=_BLOCKS, seed: int = 0, sample_size: int = 64,
                layers_per_block: int = 1):
    """A tiny per-frame ``AutoencoderKL`` (8x spatial), seeded; ~0.3 M parameters (``layers_per_block=1``)."""
    check_args(latent_channels=latent_channels, seed=seed, sample_size=sample_size, layers_per_block=layers_per_block)
    torch.manual_seed(seed)
    n = len(block_out_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(block_out_channels),
                         layers_per_block=layers_per_block, latent_channels=latent_channels,
                         norm_num_groups=_GROUPS, sample_size=sample_size).eval()


def tiny_vae_3d(latent_channels: int = 16, block_out_channels=_BLOCKS, seed: int = 0, sample_size: int = 64,
                layers_per_block: int = 1):
    """A tiny causal ``AutoencoderKLCogVideoX`` (4x temporal, 8x spatial), seeded; ~0.9 M parameters with
    ``layers_per_block=1``, ~1.2 M with 2 (the decoder then has 3 resnets per block: more room to turn its
    nearest-neighbour temporal upsampling back into 4 distinct frames)."""
    check_args(latent_channels=latent_channels, seed=seed, sample_size=sample_size, layers_per_block=layers_per_block)
    torch.manual_seed(seed)
    n = len(block_out_channels)
    return AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * n,
                                  up_block_types=("CogVideoXUpBlock3D",) * n,
                                  block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
                                  latent_channels=latent_channels, norm_num_groups=_GROUPS,
                                  temporal_compression_ratio=4, sample_height=sample_size,
                                  sample_width=sample_size).eval()


def load_vae(name_or_path=COURSE_VAES["3d"]):
    """Load a shipped VAE by name (``"vae-2d"``, ``"vae-3d-v4"``, ...: see :data:`labkit.models.REGISTRY`) or any
    diffusers VAE folder, float32 on the CPU. A registered name whose folder is missing is an error saying how to
    get it back."""
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in REGISTRY:
        if not is_shipped(name_or_path):
            raise missing(name_or_path)
        path = folder(name_or_path)
    if not (path / "config.json").exists():
        vaes = [n for n, e in REGISTRY.items() if e.kind.startswith("vae")]
        raise FileNotFoundError(f"expected a shipped VAE name {vaes} or a diffusers VAE folder with config.json, "
                                f"got {str(name_or_path)!r}")
    classes = {c.__name__: c for c in (AutoencoderKL, AutoencoderKLCogVideoX, AutoencoderKLTemporalDecoder)}
    name = json.loads((path / "config.json").read_text()).get("_class_name")
    if name not in classes:
        raise ValueError(f"expected a VAE config of class {sorted(classes)}, got {name!r} in {path}")
    return classes[name].from_pretrained(path, dtype=torch.float32, use_safetensors=True).eval()


def is_3d(vae) -> bool:
    """True for a VAE that compresses time (``AutoencoderKLCogVideoX``)."""
    return vae_geometry(vae).temporal > 1


def _as_batch(video: torch.Tensor) -> torch.Tensor:
    return video.unsqueeze(0) if video.ndim == 4 else video


def check_vae_video(vae, video, pad: bool = False) -> torch.Tensor:
    """Validate a clip ``(F, C, H, W)`` or batch ``(B, F, C, H, W)`` in [0, 1] for ``vae``; returns a batch.

    Raises before any model runs on: wrong rank/layout, NaN, values outside [0, 1], a channel count the VAE does
    not take, sizes not divisible by its spatial factor, and (3D VAE) frames not ``4k+1`` unless ``pad=True``.
    """

    geo = vae_geometry(vae)
    if isinstance(video, torch.Tensor) and video.ndim in (4, 5) and video.shape[-3] not in (1, 3):
        shape = tuple(video.shape)
        hint = ": did you pass the VAE layout (B, C, F, H, W)? use 'b c f h w -> b f c h w'" \
            if video.ndim == 5 and shape[1] == geo.in_channels else ""
        raise ValueError(f"expected a video of shape (B, F, C, H, W) with C = {geo.in_channels}, got {shape}{hint}")
    video = _as_batch(check_video(video))
    b, f, c, h, w = video.shape
    if c != geo.in_channels:
        raise ValueError(f"expected {geo.in_channels} channels for {geo.class_name}, got {c} (shape {tuple(video.shape)})")
    if h % geo.spatial or w % geo.spatial:
        raise ValueError(f"expected height and width divisible by {geo.spatial}, got {h}x{w}")
    step = round_trip_step(vae)
    if step > 1 and (f - 1) % step and not pad:
        lo = (f - 1) // step * step + 1
        raise ValueError(f"expected {step}k+1 frames for a causal 3D VAE, got {f}: the encoder needs "
                         f"{geo.temporal}k+1 and diffusers' decoder an odd number of latent frames (see "
                         f"labkit.compression.decoded_frames); trim to {lo}, or pass pad=True to repeat the last "
                         f"frame up to {lo + step} (decode(..., num_frames={f}) cuts it back)")
    return video


def round_trip_step(vae) -> int:
    """Frames must be ``step * k + 1`` for encode -> decode to return the same length: 1 for a 2D VAE, 8 for
    the 3D VAE (4x in time, and diffusers decodes latent frames 2 at a time: see ``decoded_frames``)."""
    geo = vae_geometry(vae)
    return 1 if geo.temporal == 1 else geo.temporal * 2


def pad_frames(video: torch.Tensor, temporal: int = 8) -> tuple[torch.Tensor, int]:
    """Repeat the last frame of a batch ``(B, F, C, H, W)`` up to ``temporal * k + 1`` frames (never truncates); returns
    ``(padded, F)`` so the caller can cut the decoded video back to the original ``F`` frames."""
    f = video.shape[1]
    extra = (-(f - 1)) % temporal
    if extra:
        video = torch.cat([video, video[:, -1:].expand(-1, extra, -1, -1, -1)], dim=1)
    return video, f


def check_latents(vae, latents) -> torch.Tensor:
    """Validate scaled latents ``(B, F_latent, C_latent, h, w)`` (or one clip's ``(F_latent, C_latent, h, w)``)."""
    geo = vae_geometry(vae)
    if not isinstance(latents, torch.Tensor) or not latents.is_floating_point():
        raise TypeError(f"expected float latents of shape (B, F, {geo.channels}, h, w), got {type(latents).__name__}")
    if latents.ndim not in (4, 5):
        raise ValueError(f"expected latents of shape (B, F, {geo.channels}, h, w), got {tuple(latents.shape)}")
    latents = _as_batch(latents)
    if latents.shape[2] != geo.channels:
        hint = ": VAE layout (B, C, F, h, w)? use 'b c f h w -> b f c h w'" if latents.shape[1] == geo.channels else ""
        raise ValueError(f"expected {geo.channels} latent channels at dim 2 of (B, F, C, h, w), "
                         f"got shape {tuple(latents.shape)}{hint}")
    if not torch.isfinite(latents).all():
        raise ValueError(f"latents contain NaN or inf values (shape {tuple(latents.shape)})")
    return latents


def to_vae_layout(vae, x: torch.Tensor) -> torch.Tensor:
    """Course layout ``(B, F, C, H, W)`` -> what the VAE's convolutions take."""
    if is_3d(vae):
        return rearrange(x, "b f c h w -> b c f h w")
    return rearrange(x, "b f c h w -> (b f) c h w")


def from_vae_layout(vae, y: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of :func:`to_vae_layout` (``batch`` = B, needed to undo the 2D VAE's ``(b f)`` merge)."""
    if is_3d(vae):
        return rearrange(y, "b c f h w -> b f c h w")
    return rearrange(y, "(b f) c h w -> b f c h w", b=batch)


def _scale(vae) -> tuple[float, float]:
    return float(vae.config.get("scaling_factor", 1.0) or 1.0), float(vae.config.get("shift_factor", 0.0) or 0.0)


@torch.no_grad()
def encode(vae, video, sample: bool = False, generator: torch.Generator | None = None, pad: bool = False):
    """Video ``(F, C, H, W)`` / ``(B, F, C, H, W)`` in [0, 1] -> scaled latents ``(B, F_latent, C_latent, h, w)``.

    ``sample=False`` takes the posterior mean (deterministic); ``pad=True`` repeats the last frame of a clip
    that is not ``4k+1`` frames long (3D VAE). Latents are ``(z - shift_factor) * scaling_factor``.
    """
    video = check_vae_video(vae, video, pad=pad)
    if pad and is_3d(vae):
        video, _ = pad_frames(video, round_trip_step(vae))
    x = to_vae_layout(vae, video * 2 - 1)  # [0, 1] -> [-1, 1]
    dist = vae.encode(x).latent_dist
    z = dist.sample(generator=generator) if sample else dist.mode()
    scale, shift = _scale(vae)
    return from_vae_layout(vae, (z - shift) * scale, video.shape[0])


def _decode_2d_chunked(vae, z: torch.Tensor, chunk: int) -> torch.Tensor:
    """Decode ``(N, C, h, w)`` frame latents ``chunk`` frames at a time (per-frame VAE: exact)."""
    return torch.cat([vae.decode(part).sample for part in z.split(chunk)])


@torch.no_grad()
def decode(vae, latents, decode_chunk_size: int | None = None, slicing: bool = False, tiling: bool = False,
           tile_size: int | None = None, num_frames: int | None = None) -> torch.Tensor:
    """Scaled latents ``(B, F_latent, C_latent, h, w)`` -> video ``(B, F, C, H, W)`` in [0, 1].

    - ``decode_chunk_size``: 2D VAE, frames per decoder call (exact). A 3D VAE always decodes
      ``vae.num_latent_frames_batch_size`` latent frames at a time with a causal conv cache; this argument sets
      that batch, which changes the result (GroupNorm pools over the frames of a batch), so use it to study the
      cost, not to save memory for free.
    - ``slicing``: one batch element at a time (``vae.enable_slicing``, exact);
    - ``tiling``: overlapping spatial tiles of ``tile_size`` pixels (``vae.enable_tiling``, approximate);
    - ``num_frames``: cut the output to the original length after ``encode(..., pad=True)``.
    """
    z = check_latents(vae, latents)
    if is_3d(vae) and z.shape[1] % 2 == 0:
        raise ValueError(f"expected an odd number of latent frames for the causal 3D VAE, got {z.shape[1]}: "
                         "diffusers' decoder would return 4 frames for the first latent (encode 8k+1 frames)")
    check_args(decode_chunk_size=decode_chunk_size, tile_size=tile_size, num_frames=num_frames,
               allow_none=("decode_chunk_size", "tile_size", "num_frames"))
    batch = z.shape[0]
    scale, shift = _scale(vae)
    z = to_vae_layout(vae, z / scale + shift)
    saved = (vae.use_slicing, vae.use_tiling, getattr(vae, "num_latent_frames_batch_size", None))
    try:
        _configure(vae, slicing, tiling, tile_size)
        if is_3d(vae):
            if decode_chunk_size is not None:
                if decode_chunk_size % 2:
                    raise ValueError(f"expected an even decode_chunk_size (latent frames per pass) for a causal 3D "
                                     f"VAE, got {decode_chunk_size}: an odd batch breaks diffusers' frame count")
                vae.num_latent_frames_batch_size = decode_chunk_size
            x = vae.decode(z).sample
        elif decode_chunk_size is not None:
            x = _decode_2d_chunked(vae, z, decode_chunk_size)
        else:
            x = vae.decode(z).sample
    finally:
        vae.use_slicing, vae.use_tiling = saved[0], saved[1]
        if saved[2] is not None:
            vae.num_latent_frames_batch_size = saved[2]
    video = from_vae_layout(vae, x, batch)
    video = ((video + 1) / 2).clamp(0, 1)  # [-1, 1] -> [0, 1]
    return video[:, :num_frames] if num_frames is not None else video


def _configure(vae, slicing: bool, tiling: bool, tile_size: int | None) -> None:
    vae.use_slicing = bool(slicing)
    if not tiling:
        vae.use_tiling = False
        return
    size = tile_size or max(vae_geometry(vae).spatial * 2, 32)
    if is_3d(vae):  # overlap 1/4: the tile stride (3/4 tile) then equals the kept part, so sizes add up
        vae.enable_tiling(tile_sample_min_height=size, tile_sample_min_width=size,
                          tile_overlap_factor_height=0.25, tile_overlap_factor_width=0.25)
    else:
        vae.enable_tiling()
        vae.tile_sample_min_size = size
        vae.tile_latent_min_size = size // vae_geometry(vae).spatial


def reconstruct(vae, video, pad: bool = False, **decode_kwargs) -> torch.Tensor:
    """Encode (posterior mean) and decode a clip or batch; returns the same shape as the input (clip or batch)."""
    latents = encode(vae, video, pad=pad)
    out = decode(vae, latents, num_frames=_as_batch(video).shape[1], **decode_kwargs)
    return out[0] if video.ndim == 4 else out
