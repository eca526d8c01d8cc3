"""Exercises of ``05_svd_cogvideox_inference``: the weight memory of a model at a dtype, the number of tokens
CogVideoX's transformer attends over, and SVD's per-frame guidance ramp. References:
:func:`labkit.budgets.weight_bytes`, :func:`labkit.compression.latent_tokens` with the shipped CogVideoX configs,
and the guidance step of diffusers' ``StableVideoDiffusionPipeline``."""

from __future__ import annotations

import torch

from labkit.budgets import load_config, weight_bytes
from labkit.compression import latent_tokens, production_configs
from labkit.course.exercises.core import Case, Exercise, Mistake

LESSON = "05"

_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8}

#: The shipped CogVideoX configs the token exercise reads (``data/configs/``), read once.
_COGVIDEOX_VAE = production_configs()["cogvideox-vae"]
_COGVIDEOX_TRANSFORMER = load_config("cogvideox-2b/transformer.json")


def _cogvideox_tokens(num_frames: int, height: int, width: int) -> int:
    """Video tokens of CogVideoX: the shipped VAE config, then the transformer's ``patch_size`` in space."""
    patch = _COGVIDEOX_TRANSFORMER["patch_size"]
    return latent_tokens(_COGVIDEOX_VAE, num_frames, height, width, patch=(1, patch, patch))


def _svd_guidance(noise_uncond: torch.Tensor, noise_cond: torch.Tensor, min_guidance_scale: float,
                  max_guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance with one scale per frame, ``linspace(min, max, F)``, broadcast over
    ``(B, F, C, h, w)``, as ``StableVideoDiffusionPipeline.__call__`` does."""
    scale = torch.linspace(min_guidance_scale, max_guidance_scale, noise_cond.shape[1])
    scale = scale.to(noise_cond.dtype)[None, :, None, None, None]  # (F,) -> (1, F, 1, 1, 1)
    return noise_uncond + scale * (noise_cond - noise_uncond)


def _latent_pair(seed: int, b: int, f: int, c: int, h: int, w: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"noise_uncond": torch.randn(b, f, c, h, w, generator=g),
            "noise_cond": torch.randn(b, f, c, h, w, generator=g)}


WEIGHT_BYTES = Exercise(
    lesson=LESSON, key="weight_bytes", title="the weight memory of a model",
    task=("Write `weight_bytes(num_parameters, dtype)`: how many bytes `num_parameters` weights take when stored "
          "in `dtype`, one of the strings 'fp32', 'fp16', 'bf16', 'fp8'. Return an int."),
    teaches="why the dtype, not the architecture, decides whether a model's weights fit on a GPU",
    reference=weight_bytes,
    cases=(Case("SVD-XT UNet in fp32", {"num_parameters": 1_524_623_082, "dtype": "fp32"}),
           Case("CogVideoX-5B transformer in bf16", {"num_parameters": 5_570_283_072, "dtype": "bf16"}),
           Case("a small model in fp16", {"num_parameters": 1000, "dtype": "fp16"}),
           Case("a small model in fp8", {"num_parameters": 1000, "dtype": "fp8"}),
           Case("no parameters", {"num_parameters": 0, "dtype": "fp16"}, edge=True)),
    mistakes=(
        Mistake("bits", lambda num_parameters, dtype: num_parameters * _BITS[dtype],
                "you counted bits: the number in the dtype's name is bits per weight, and memory is counted in "
                "bytes of eight bits"),
        Mistake("GiB", lambda num_parameters, dtype: num_parameters * _BITS[dtype] // 8 / 2**30,
                "return bytes, not GiB: the tables divide by 2**30 themselves"),
        Mistake("bf16 as fp32", lambda num_parameters, dtype:
                num_parameters * {"fp32": 4, "fp16": 2, "bf16": 4, "fp8": 1}[dtype],
                "look at bf16 again: it keeps fp32's exponent range but has the same number of bits as fp16"),
    ),
)

COGVIDEOX_TOKENS = Exercise(
    lesson=LESSON, key="cogvideox_tokens", title="CogVideoX's token count",
    task=("Write `cogvideox_tokens(num_frames, height, width)`: how many video tokens CogVideoX's transformer "
          "attends over for a video of `num_frames` (4k+1) frames of `height` x `width` pixels (multiples of 16), "
          "text tokens not counted. Its causal 3D VAE keeps the first frame as its own latent frame and turns "
          "every 4 following frames into one, and downsamples 8x in height and width; the transformer then cuts "
          "each latent frame into 2x2 patches, one token each. Return an int."),
    teaches="how a causal 3D VAE and patchifying turn a video into the one sequence that full 3D attention sees",
    reference=_cogvideox_tokens,
    cases=(Case("13 frames at 480x720", {"num_frames": 13, "height": 480, "width": 720}),
           Case("49 frames at 256x256", {"num_frames": 49, "height": 256, "width": 256}),
           Case("9 frames at 64x96", {"num_frames": 9, "height": 64, "width": 96}),
           Case("one frame (an image) at 480x720", {"num_frames": 1, "height": 480, "width": 720}, edge=True)),
    mistakes=(
        Mistake("first frame forgotten", lambda num_frames, height, width:
                num_frames // 4 * (height // 16) * (width // 16),
                "count the latent frames again: the causal VAE encodes the first frame on its own, and only the "
                "frames after it are grouped in fours"),
        Mistake("no patches", lambda num_frames, height, width:
                ((num_frames - 1) // 4 + 1) * (height // 8) * (width // 8),
                "one token per latent pixel is too many: the transformer groups neighbouring latent pixels into "
                "patches (`patch_size` in its config) and makes one token of each"),
        Mistake("time not compressed", lambda num_frames, height, width:
                num_frames * (height // 16) * (width // 16),
                "CogVideoX's VAE compresses time as well as space: several video frames share one latent frame"),
        Mistake("text tokens counted", lambda num_frames, height, width:
                _cogvideox_tokens(num_frames, height, width) + _COGVIDEOX_TRANSFORMER["max_text_seq_length"],
                "count the video tokens only: the text tokens join the same attention, but they do not depend on "
                "the video's size"),
    ),
)

SVD_GUIDANCE = Exercise(
    lesson=LESSON, key="svd_guidance", title="SVD's per-frame guidance ramp",
    task=("Write `svd_guidance(noise_uncond, noise_cond, min_guidance_scale, max_guidance_scale)`: the guided "
          "noise prediction of classifier-free guidance for SVD's latents, both predictions `(B, F, C, h, w)`. Each "
          "frame gets its own guidance scale, growing linearly from `min_guidance_scale` at the first frame to "
          "`max_guidance_scale` at the last (a single frame gets `min_guidance_scale`). Return a tensor of the "
          "same shape."),
    teaches="what SVD's min/max_guidance_scale do: a per-frame guidance scale, broadcast along the frame axis",
    reference=_svd_guidance,
    cases=(Case("B=2, F=4, C=4, 3x3, scales 1 to 3", {**_latent_pair(0, 2, 4, 4, 3, 3),
                                                    "min_guidance_scale": 1.0, "max_guidance_scale": 3.0}),
           Case("B=1, F=7, C=4, 2x3, scales 1.5 to 2.5", {**_latent_pair(1, 1, 7, 4, 2, 3),
                                                        "min_guidance_scale": 1.5, "max_guidance_scale": 2.5}),
           Case("one frame", {**_latent_pair(2, 2, 1, 4, 2, 2), "min_guidance_scale": 1.5,
                              "max_guidance_scale": 3.0}, edge=True)),
    mistakes=(
        Mistake("one scale", lambda noise_uncond, noise_cond, min_guidance_scale, max_guidance_scale:
                noise_uncond + max_guidance_scale * (noise_cond - noise_uncond),
                "you used one scale for every frame: SVD gives each frame its own scale, from the min at the first "
                "frame to the max at the last, broadcast along the frame axis"),
        Mistake("ramp ends short", lambda noise_uncond, noise_cond, min_guidance_scale, max_guidance_scale:
                noise_uncond + (min_guidance_scale + (max_guidance_scale - min_guidance_scale)
                                * torch.arange(noise_cond.shape[1]) / noise_cond.shape[1])[None, :, None, None, None]
                * (noise_cond - noise_uncond),
                "your ramp stops short of max_guidance_scale: the last frame must get exactly the max (count the "
                "steps from the first frame to the last)"),
        Mistake("from the conditional", lambda noise_uncond, noise_cond, min_guidance_scale, max_guidance_scale:
                _svd_guidance(noise_cond, 2 * noise_cond - noise_uncond, min_guidance_scale, max_guidance_scale),
                "guidance starts from the unconditional prediction, not the conditional one: with a scale of one "
                "it must give the conditional prediction itself"),
        Mistake("roles swapped", lambda noise_uncond, noise_cond, min_guidance_scale, max_guidance_scale:
                _svd_guidance(noise_cond, noise_uncond, min_guidance_scale, max_guidance_scale),
                "your guidance pushes away from the conditioning image: start from the unconditional prediction "
                "and move towards the conditional one, past it when the scale is above one"),
    ),
)

EXERCISES = (WEIGHT_BYTES, COGVIDEOX_TOKENS, SVD_GUIDANCE)
