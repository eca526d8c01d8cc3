"""Training the AnimateDiff-style pair of ``02_temporal_attention``: ``labkit train image-unet|motion-adapter``.

Taught in ``02_temporal_attention``; the models are in :mod:`labkit.models.animatediff`, the inflation in
:mod:`labkit.inflation`.

1. :func:`train_image_unet`: the tiny per-frame ``UNet2DConditionModel`` with its caption encoder learns single
   frames of ``ShapesWorld("train")`` (rendered at 48 px, average-pooled to 24 x 24) with their captions;
2. :func:`train_motion_adapter`: the image model is inflated with a zero-initialised ``MotionAdapter``, its
   spatial weights frozen, and only the motion modules train on 8-frame clips; each step uses causal temporal
   attention with probability ``causal_fraction``, so one adapter serves both modes.

Both minimise :func:`v_loss` (v-prediction MSE with the model's DDPM scheduler; pixels in [-1, 1]) through
:func:`labkit.training.loop.fit`. :func:`add_arguments` and :func:`run` plug them into the trainer shell
(:mod:`labkit.training.cli`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import torch.nn.functional as Fn

from labkit.data.shapes import ShapesWorld, collate_clips
from labkit.inflation import inflate, set_temporal_attention
from labkit.models.animatediff import (
    IMAGE_MODEL_DIR,
    NUM_FRAMES,
    RENDER,
    SIZE,
    WORDS,
    CaptionEncoder,
    ImageDenoiser,
    VideoDenoiser,
    _adapter_state,
    downsample,
    load_image_model,
    new_image_unet,
    new_motion_adapter,
    noise_scheduler,
    tokenize,
)
from labkit.training.cli import TrainedRun
from labkit.training.loop import TrainConfig, fit

__all__ = ["v_loss", "train_image_unet", "train_motion_adapter", "add_arguments", "run"]


def v_loss(model, x0: torch.Tensor, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """v-prediction MSE for images ``(B, 3, S, S)`` or clips ``(B, F, 3, S, S)`` in [-1, 1] (one t per sample)."""
    sched = noise_scheduler()
    t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    tt = t.view(-1, *[1] * (x0.ndim - 1))
    alpha = sched.alphas_cumprod[tt].sqrt()
    sigma = (1 - sched.alphas_cumprod[tt]).sqrt()
    target = alpha * noise - sigma * x0  # v = alpha * eps - sigma * x0
    return Fn.mse_loss(model(alpha * x0 + sigma * noise, t, ids), target)


def _world(seed: int) -> ShapesWorld:
    return ShapesWorld("train", length=100_000, num_frames=NUM_FRAMES, size=RENDER, speeds=False, seed=seed)


def _frames(world: ShapesWorld, batch: int, generator: torch.Generator):
    """Endless batches of single frames ``(B, 3, S, S)`` in [-1, 1] with caption ids, one random frame per clip."""
    while True:
        idx = torch.randint(0, len(world), (batch,), generator=generator).tolist()
        videos, captions, _ = collate_clips([world[i] for i in idx])
        videos = downsample(videos)
        pick = torch.randint(0, videos.shape[1], (batch,), generator=generator)
        yield videos[torch.arange(batch), pick] * 2 - 1, tokenize(captions)


def _clips(world: ShapesWorld, batch: int, generator: torch.Generator):
    while True:
        idx = torch.randint(0, len(world), (batch,), generator=generator).tolist()
        videos, captions, _ = collate_clips([world[i] for i in idx])
        yield downsample(videos) * 2 - 1, tokenize(captions)


def train_image_unet(steps: int = 1000, batch: int = 16, lr: float = 2e-3, seed: int = 0, progress: bool = True):
    """Train the tiny image denoiser on single frames of ``ShapesWorld("train")``; returns a ``TrainResult``."""

    g = torch.Generator().manual_seed(seed)
    world = _world(seed)
    model = ImageDenoiser(new_image_unet(seed), _new_text(seed))
    config = TrainConfig(steps=steps, lr=lr, warmup=min(100, steps // 10), seed=seed, ema_decay=0.995,
                         progress=progress)
    return fit(model, _frames(world, batch, g), lambda m, b, s: v_loss(m, *b, g), config)


def _new_text(seed: int) -> CaptionEncoder:
    torch.manual_seed(seed + 1)
    return CaptionEncoder()


def train_motion_adapter(image: ImageDenoiser, steps: int = 900, batch: int = 3, lr: float = 2e-3, seed: int = 0,
                         causal_fraction: float = 0.5, progress: bool = True):
    """Train only the motion modules of the inflated ``image`` model on clips ``(B, NUM_FRAMES, 3, S, S)``.
    Each step uses causal temporal attention with probability ``causal_fraction``."""

    g = torch.Generator().manual_seed(seed)
    world = _world(seed)
    model = VideoDenoiser(inflate(image.unet, new_motion_adapter(seed)), image.text.requires_grad_(False))

    def loss_fn(m, batch_, step):
        set_temporal_attention(m.unet, bool(torch.rand((), generator=g) < causal_fraction))
        return v_loss(m, *batch_, g)

    params = [p for n, p in model.named_parameters() if "motion_modules" in n]
    config = TrainConfig(steps=steps, lr=lr, warmup=min(50, steps // 10), seed=seed, ema_decay=0.99,
                         progress=progress)
    result = fit(model, _clips(world, batch, g), loss_fn, config, params=params)
    set_temporal_attention(result.model.unet, False)
    return result


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser, kind: str) -> None:
    """``labkit train image-unet|motion-adapter``: the trainers' own flags (the shell adds the common ones)."""
    parser.add_argument("--batch", type=int, default=16 if kind == "image-unet" else 3)
    parser.add_argument("--lr", type=float, default=2e-3)
    if kind == "motion-adapter":
        parser.add_argument("--causal-fraction", type=float, default=0.5,
                            help="share of steps with causal temporal attention")
        parser.add_argument("--image", default=str(IMAGE_MODEL_DIR), help="the image model the adapter inflates")


def _final_loss(losses: list[float]) -> float:
    return sum(losses[-100:]) / len(losses[-100:])


def run(args) -> TrainedRun:
    """Train the image UNet (``image-unet``) or the motion adapter on it (``motion-adapter``) into ``args.out``."""
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)  # outputs/ is scratch: a re-run replaces its folder
    if args.trainer == "image-unet":
        result = train_image_unet(args.steps, args.batch, args.lr, args.seed)
        result.model.unet.save_pretrained(out / "unet")
        result.model.text.save_pretrained(out / "text_encoder")
        noise_scheduler().save_pretrained(out / "scheduler")
        return TrainedRun({"final_loss_mean_last_100": _final_loss(result.losses), "size": SIZE, "words": WORDS})
    result = train_motion_adapter(load_image_model(args.image), args.steps, args.batch, args.lr, args.seed,
                                  args.causal_fraction)
    adapter = new_motion_adapter(args.seed)
    adapter.load_state_dict(_adapter_state(result.model.unet))
    adapter.save_pretrained(out / "motion_adapter")
    return TrainedRun({"final_loss_mean_last_100": _final_loss(result.losses), "image_model": str(args.image),
                       "num_frames": NUM_FRAMES}, builds_on=[args.image])
