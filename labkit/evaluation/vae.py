"""Measuring VAEs: reconstruction quality, temporal flicker, decode cost, pictures of the latent, shape code.

Taught in ``01_latent_compression`` (the shape-code measure in ``04_train_tiny_video_model``).

- :func:`reconstruction_report`: PSNR (dB) and SSIM (``labkit.metrics.quality``, torchmetrics), flicker and
  :func:`temporal_error` of each VAE's reconstruction of held-out Shapes-world clips (:func:`heldout_clips`,
  ``ShapesWorld("test")``: seeds no training run uses); :func:`error_video` and :func:`latent_grid` picture the
  error and the latent channels; :func:`reconstruction_view` is what the lesson's widget shows.
- :func:`measure_decode` and :func:`decode_cost_table`: wall time (s) and peak tensor memory (bytes) of one decode
  on the CPU, for full / chunked / sliced / tiled decoding (:data:`DECODE_MODES`). Peak memory is
  :class:`labkit.profiling.PeakAllocated`: ``torch.profiler``'s record of every allocation and free, on one
  thread (the CPU allocator has no peak counter like ``torch.cuda.max_memory_allocated``).
- :func:`code_consistency_loss` (with :func:`object_windows`): how much of a 3D VAE's square-minus-circle code is
  *not* one pattern wherever the object sits; differentiable, so ``labkit train vae --code-consistency`` trains on
  it and :func:`labkit.evaluation.t2v.shape_code_consistency` reports it.
"""

from __future__ import annotations

import time

import torch
from einops import rearrange

from labkit.checks import check_args
from labkit.compression import compression_ratio
from labkit.data.shapes import ShapesWorld
from labkit.metrics.quality import psnr, ssim
from labkit.metrics.temporal import flicker
from labkit.models.vae import decode, encode, is_3d, reconstruct, to_vae_layout
from labkit.profiling import PeakAllocated

__all__ = ["heldout_clips", "temporal_error", "reconstruction_metrics", "reconstruction_report", "error_video",
           "latent_grid", "DECODE_MODES", "decode_modes", "measure_decode", "decode_cost_table",
           "reconstruction_view", "text_table", "object_windows", "code_consistency_loss"]


def heldout_clips(num: int = 8, num_frames: int = 17, size: int = 64) -> torch.Tensor:
    """``num`` held-out clips ``(num, F, 3, H, W)``: the ``test`` split (all 84 colour/shape/direction combos,
    half of them with two objects), whose seeds the VAE trainers never draw."""
    check_args(num=num, num_frames=num_frames, size=size)
    world = ShapesWorld("test", length=num, num_frames=num_frames, size=size, two_objects=0.5)
    return torch.stack([world[i].video for i in range(num)])


def temporal_error(recon: torch.Tensor, source: torch.Tensor) -> float:
    """Flicker a VAE adds: mean ``|(r[f+1] - r[f]) - (s[f+1] - s[f])|`` over frames, pixels and channels.

    0 when the reconstruction changes from frame to frame exactly as the source does, whatever the motion;
    per-frame coding errors that jump between frames raise it even when every frame alone looks fine.
    """
    return float(((recon[..., 1:, :, :, :] - recon[..., :-1, :, :, :])
                  - (source[..., 1:, :, :, :] - source[..., :-1, :, :, :])).abs().mean())


def reconstruction_metrics(recon: torch.Tensor, source: torch.Tensor) -> dict:
    """PSNR (dB), SSIM, flicker of source and reconstruction, and :func:`temporal_error` for one clip or batch."""

    batch = lambda v: v if v.ndim == 5 else v[None]  # noqa: E731
    recon, source = batch(recon), batch(source)
    return {"PSNR (dB)": psnr(recon, source), "SSIM": ssim(recon, source),
            "flicker source": sum(flicker(v) for v in source) / len(source),
            "flicker recon": sum(flicker(v) for v in recon) / len(recon),
            "temporal error": temporal_error(recon, source)}


def reconstruction_report(vaes: dict, clips: torch.Tensor, batch: int = 4) -> list[dict]:
    """One row per named VAE: compression ratio and :func:`reconstruction_metrics` over ``clips``."""
    check_args(batch=batch)
    rows = []
    for name, vae in vaes.items():
        recon = torch.cat([reconstruct(vae, part) for part in clips.split(batch)])
        f, _, h, w = clips.shape[1:]
        rows.append({"VAE": name, "ratio": round(compression_ratio(vae, f, h, w), 1),
                     **{k: round(v, 4) for k, v in reconstruction_metrics(recon, clips).items()}})
    return rows


def error_video(recon: torch.Tensor, source: torch.Tensor, gain: float = 4.0) -> torch.Tensor:
    """Heat map clip ``(F, 3, H, W)`` of ``|recon - source|`` (mean over RGB) x ``gain``: black = exact,
    red -> yellow -> white = growing error (0.25 saturates at the default gain)."""
    check_args(gain=gain)
    err = ((recon - source).abs().mean(dim=-3, keepdim=True) * gain).clamp(0, 1)
    return torch.cat([(err * 3).clamp(0, 1), (err * 3 - 1).clamp(0, 1), (err * 3 - 2).clamp(0, 1)], dim=-3)


def latent_grid(latents: torch.Tensor) -> torch.Tensor:
    """One clip's latents ``(F_latent, C, h, w)`` -> grey clip ``(F_latent, 1, h, C * w)``: the channels side by
    side, each normalised to [0, 1] over time, so a channel's evolution over latent frames is visible."""

    lo = latents.amin(dim=(0, 2, 3), keepdim=True)
    hi = latents.amax(dim=(0, 2, 3), keepdim=True)
    norm = (latents - lo) / (hi - lo).clamp_min(1e-6)
    return rearrange(norm, "f c h w -> f 1 h (c w)")


#: Decode modes compared in the notebook and ``benchmarks/vae_decode.py``: name -> ``labkit.models.vae.decode`` kwargs.
#: The first mode of each is the reference ("full") the others are compared with.
DECODE_MODES = {
    "2d": {
        "full (all frames at once)": {},
        "chunked (decode_chunk_size=4 frames)": {"decode_chunk_size": 4},
        "sliced (one frame at a time)": {"slicing": True},
        "tiled (32 px tiles)": {"tiling": True, "tile_size": 32},
    },
    "3d": {  # diffusers always decodes a 3D VAE in chunks of latent frames, carrying a causal conv cache
        "full (diffusers: 2 latent frames per pass)": {},
        "one pass (all latent frames at once)": {"decode_chunk_size": 1_000_000},
        "sliced (one clip at a time)": {"slicing": True},
        "tiled (32 px tiles)": {"tiling": True, "tile_size": 32},
    },
}


def decode_modes(vae) -> dict:
    """The decode modes of :data:`DECODE_MODES` for this VAE's kind."""

    return DECODE_MODES["3d" if is_3d(vae) else "2d"]


def measure_decode(vae, latents: torch.Tensor, repeats: int = 1, **decode_kwargs) -> dict:
    """Decode ``latents`` with ``labkit.models.vae.decode(**decode_kwargs)``: best wall time (s) of ``repeats``, the
    peak of live tensor bytes above what was live before (MiB, :class:`labkit.profiling.PeakAllocated`, one
    more decode after the timed ones), and the decoded video."""
    check_args(repeats=repeats)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        video = decode(vae, latents, **decode_kwargs)
        best = min(best, time.perf_counter() - start)
    with PeakAllocated() as mem:
        video = decode(vae, latents, **decode_kwargs)
    return {"seconds": best, "peak MiB": mem.peak / 2**20, "video": video}


def decode_cost_table(vaes: dict, num_frames_list=(9, 17, 33), batch: int = 2, size: int = 64,
                      modes: dict | None = None, repeats: int = 1) -> list[dict]:
    """Time and peak memory of each decode mode for each VAE and video length, with the ratio to full decode
    and the max abs difference from the full decode (pixels in [0, 1])."""
    check_args(batch=batch, size=size, repeats=repeats)
    rows = []
    for name, vae in vaes.items():
        for num_frames in num_frames_list:
            latents = encode(vae, heldout_clips(batch, num_frames, size))
            full = None
            for mode, kwargs in (modes or decode_modes(vae)).items():
                m = measure_decode(vae, latents, repeats=repeats, **kwargs)
                full = full or m
                rows.append({"VAE": name, "frames": num_frames, "mode": mode, "seconds": round(m["seconds"], 3),
                             "peak MiB": round(m["peak MiB"], 1),
                             "time / full": round(m["seconds"] / full["seconds"], 2),
                             "memory / full": round(m["peak MiB"] / full["peak MiB"], 2),
                             "max |diff| vs full": float((m["video"] - full["video"]).abs().max())})
    return rows


def reconstruction_view(vae, clip: torch.Tensor, decode_chunk_size: int | None = None) -> dict:
    """Everything the notebook's widget shows for one clip ``(F, 3, H, W)`` and one VAE: the reconstruction,
    its error heat map, :func:`reconstruction_metrics`, and decode time (s) and peak memory (MiB)."""
    check_args(decode_chunk_size=decode_chunk_size, allow_none=("decode_chunk_size",))
    latents = encode(vae, clip)
    cost = measure_decode(vae, latents, decode_chunk_size=decode_chunk_size)
    recon = cost["video"][0]
    return {"recon": recon, "error": error_video(recon, clip), "latents": latents[0],
            "metrics": reconstruction_metrics(recon, clip), "seconds": cost["seconds"], "peak MiB": cost["peak MiB"]}


def text_table(rows: list[dict], floats: str = "{:.4g}") -> str:
    """Rows of dicts (same keys) -> a fixed-width text table (deterministic: fact cells print it)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cell = lambda v: floats.format(v) if isinstance(v, float) else str(v)  # noqa: E731
    cells = [[cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *map(line, cells)])


def object_windows(d: torch.Tensor, centres: torch.Tensor, k: int, window: int = 3, temporal: int = 4,
                   factor: float = 8.0) -> torch.Tensor:
    """The ``window`` x ``window`` latent pixels of latent frame ``k`` of ``d`` ``(N, C, T, h, w)`` on each
    object: ``(M, C, window, window)``, M <= N (objects whose window does not fit are left out).

    Latent frame ``k`` codes video frame 0 alone (``k = 0``), then groups of ``temporal`` frames (a causal 3D
    VAE's layout); the window is aligned on the latent pixel holding the object's mean centre over those frames
    (``centres`` ``(N, F, 2)``, x, y in pixels; ``factor``: pixels per latent pixel).
    """
    frames = slice(0, 1) if k == 0 else slice(temporal * (k - 1) + 1, temporal * k + 1)
    r, patches = window // 2, []
    for p in range(len(d)):
        x, y = (float(v) / factor - 0.5 for v in centres[p, frames].mean(0))
        ix, iy = round(x), round(y)
        if r <= ix < d.shape[-1] - r and r <= iy < d.shape[-2] - r:
            patches.append(d[p, :, k, iy - r:iy + r + 1, ix - r:ix + r + 1])
    return torch.stack(patches) if patches else d.new_zeros(0, d.shape[1], window, window)


def code_consistency_loss(model, videos: torch.Tensor, centres: torch.Tensor, window: int = 3,
                          temporal: int = 4, latents: torch.Tensor | None = None,
                          parts: tuple[str, ...] = ("window", "sum")) -> torch.Tensor:
    """``1 - consistent share`` of the square-minus-circle latent code, differentiable (see
    :func:`labkit.evaluation.t2v.shape_code_consistency`, which measures the same on frame 0).

    ``videos``/``centres`` from :func:`labkit.training.vae.twin_batches`. Per pair and latent frame ``k`` (frame 0
    alone, then groups of ``temporal`` frames: a causal 3D VAE's layout), ``d`` = square latents - circle latents in the ``window`` x
    ``window`` latent pixels on the object's mean centre in those frames. Per ``k``, the energy of ``d`` that is
    *not* the mean ``d`` over the pairs, as a share of all of ``d``'s energy: 0 when the VAE codes "square" as one
    pattern wherever the object sits (what a denoiser can learn to add from the word), ~1 when the code changes
    with the sub-pixel offset. ``parts``: the shares averaged -- ``"window"``, the whole pattern, and ``"sum"``,
    each channel's total over the window (its low-frequency part: if that is consistent, the *average* code of
    "square" over all sub-pixel offsets is not ~0, so a denoiser that only roughly knows where the object is can
    still add it). ``latents``: the posterior means of ``videos`` if already encoded.
    """
    if not parts or set(parts) - {"window", "sum"}:
        raise ValueError(f"expected parts from ('window', 'sum'), got {parts!r}")

    z = latents if latents is not None else model.encode(to_vae_layout(model, videos * 2 - 1)).latent_dist.mode()
    if z.ndim != 5:
        raise ValueError(f"expected a 3D VAE's (B, C, T, h, w) latents, got shape {tuple(z.shape)}")
    square, circle = z.chunk(2)
    d = square - circle
    shares = {part: [0.0, 0.0] for part in parts}  # part -> [spread, energy]
    for k in range(z.shape[2]):
        patch = object_windows(d, centres, k, window, temporal, videos.shape[-1] / z.shape[-1])
        if len(patch) >= 2:
            for part, acc in shares.items():
                x = patch if part == "window" else patch.sum((-2, -1))  # "sum": each channel's total over the window
                acc[0] = acc[0] + (x - x.mean(0)).pow(2).sum()
                acc[1] = acc[1] + x.pow(2).sum()
    if not all(torch.is_tensor(energy) for _, energy in shares.values()):
        raise ValueError(f"no two objects' {window}x{window} latent windows fit in the latent frames "
                         f"{tuple(z.shape[-2:])}: use bigger windows of pixels or a smaller latent window")
    return sum(spread / energy.clamp_min(1e-8) for spread, energy in shares.values()) / len(shares)
