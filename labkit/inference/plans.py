"""Memory plans: named, composable ways to run a video pipeline in less memory.

Taught in ``05_svd_cogvideox_inference``.

:data:`PLANS` names each step with what it does, which pipeline families it fits (``"svd"``, ``"cogvideox"``) and
whether it needs a GPU: model or sequential CPU offload, VAE slicing and tiling, SVD's ``decode_chunk_size=2`` and
UNet forward chunking, fp16 / bf16, ``torch.compile``. Steps compose with ``+`` (``"model_cpu_offload+vae_tiling"``,
checked by :func:`parse_plan`). :func:`apply_plan` applies a plan to a pipeline in place and returns the extra call
arguments it needs; a step that cannot run here (offloading on the CPU, tiling on SVD's temporal decoder) raises
:class:`PlanNotApplicable` before anything changes. Tiling is not exact (seams are blended); the others are, up to
the rounding of a lower precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from labkit.checks import check_choice
from labkit.inference.loading import DTYPES, cast_quietly, pipeline_family, resolve_device
from labkit.models.tiny import RANDOM_WEIGHTS_NOTE

__all__ = ["PlanNotApplicable", "PlanStep", "PLANS", "parse_plan", "apply_plan"]


class PlanNotApplicable(RuntimeError):
    """A memory plan that cannot run here (offloading without an accelerator, tiling on a VAE without it)."""


# ---------------------------------------------------------------- memory plans
@dataclass(frozen=True)
class PlanStep:
    """One named memory-saving step: what it does, which pipelines it fits, whether it needs a GPU."""

    name: str
    doc: str
    families: tuple[str, ...] = ("svd", "cogvideox")
    needs_accelerator: bool = False


PLANS: dict[str, PlanStep] = {s.name: s for s in (
    PlanStep("none", "everything on the device, the model's own dtype"),
    PlanStep("model_cpu_offload", "keep each whole model on the CPU until it runs (accelerate hooks)",
             needs_accelerator=True),
    PlanStep("sequential_cpu_offload", "stream every layer's weights to the device as it runs (slow, smallest)",
             needs_accelerator=True),
    PlanStep("vae_slicing", "decode the videos of a batch one at a time", ("cogvideox",)),
    PlanStep("vae_tiling", "decode in overlapping spatial tiles, blended at the seams", ("cogvideox",)),
    PlanStep("decode_chunk", "decode 2 frames at a time (decode_chunk_size=2)", ("svd",)),
    PlanStep("forward_chunking", "run the UNet feed-forward layers in chunks", ("svd",)),
    PlanStep("fp16", "weights and activations in float16"),
    PlanStep("bf16", "weights and activations in bfloat16"),
    PlanStep("compile", "torch.compile the denoiser (first call pays the compile time)", needs_accelerator=True),
)}


def parse_plan(plan) -> list[str]:
    """``"model_cpu_offload+vae_tiling"`` (or a list) -> validated step names; ``"none"`` -> ``[]``."""
    names = plan.split("+") if isinstance(plan, str) else list(plan)
    names = [n.strip() for n in names if n.strip() and n.strip() != "none"]
    for name in names:  # names from PLANS joined by '+'
        check_choice(name, "plan", PLANS, what="plan step")
    if {"model_cpu_offload", "sequential_cpu_offload"} <= set(names):
        raise ValueError("choose one of model_cpu_offload and sequential_cpu_offload, not both")
    return names


def apply_plan(pipe, plan, device="cpu") -> dict:
    """Apply a memory plan to ``pipe`` (in place); returns the extra ``__call__`` arguments it needs.

    Raises :class:`PlanNotApplicable` (before changing anything) when a step needs a GPU and ``device`` is the
    CPU, or does not exist for this pipeline family (VAE tiling on SVD's temporal decoder).
    """
    device, names, family = resolve_device(device), parse_plan(plan), pipeline_family(pipe)
    for name in names:
        step = PLANS[name]
        if step.needs_accelerator and device.type != "cuda":
            raise PlanNotApplicable(f"plan step {name!r} needs a CUDA device ({step.doc}); on the CPU there is "
                                    "nothing to offload to or the CPU compile time dominates: skipped")
        if family not in step.families:
            raise PlanNotApplicable(f"plan step {name!r} does not apply to a {family} pipeline "
                                    f"(it applies to {', '.join(step.families)})")
    kwargs = {}
    for name in names:
        if name in ("fp16", "bf16"):
            cast_quietly(pipe, DTYPES[name])
        elif name == "model_cpu_offload":
            pipe.enable_model_cpu_offload(device=device)
        elif name == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload(device=device)
        elif name == "vae_slicing":
            pipe.vae.enable_slicing()
        elif name == "vae_tiling":
            _enable_tiling(pipe)
        elif name == "decode_chunk":
            kwargs["decode_chunk_size"] = 2
        elif name == "forward_chunking":
            pipe.unet.enable_forward_chunking(chunk_size=1, dim=1)
        elif name == "compile":
            denoiser = "unet" if family == "svd" else "transformer"
            setattr(pipe, denoiser, torch.compile(getattr(pipe, denoiser)))
    return kwargs


def _enable_tiling(pipe) -> None:
    """Tiled decoding. A tiny pipeline gets 32-pixel tiles overlapping by half: its videos are smaller than the
    default 240x360 tile (tiling would silently do nothing), and diffusers' tiled decode only returns the right
    size when the tile stride divides the latent size (with 1/6 overlap it returns 140x136 for 128x128)."""
    if getattr(pipe, "labkit_note", "") == RANDOM_WEIGHTS_NOTE:
        pipe.vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32,
                               tile_overlap_factor_height=0.5, tile_overlap_factor_width=0.5)
    else:
        pipe.vae.enable_tiling()
