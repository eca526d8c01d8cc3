"""Training the tiny Stable Video Diffusion whose knobs mean something (``labkit train svd``).

Taught in ``05_svd_cogvideox_inference`` (the micro-conditioning sweep).

**The world** is the knob world (:mod:`labkit.data.knob`): one coloured shape drifts right, ``motion_bucket_id``
sets its speed and ``fps`` the frame spacing, so the motion per video frame is known exactly
(:func:`labkit.data.knob.expected_motion`).

**The objective is the pipeline's own sampler.** ``StableVideoDiffusionPipeline`` samples with
``EulerDiscreteScheduler`` (``prediction_type="v_prediction"``, ``timestep_type="continuous"``): the latents are
``x = x0 + sigma * eps``; the UNet sees ``c_in * x`` with ``c_in = 1 / sqrt(sigma^2 + 1)``
(``scale_model_input``) and the timestep ``c_noise = 0.25 * ln(sigma)``; ``step`` reads the output ``F`` as
``x0_hat = c_skip * x + c_out * F`` with ``c_skip = 1 / (sigma^2 + 1)``, ``c_out = -sigma / sqrt(sigma^2 + 1)``
(EDM preconditioning, Karras et al. 2022, with sigma_data = 1). Solving for the ``F`` that gives ``x0`` exactly:
``target = (x0 - c_skip x) / c_out = (eps - sigma x0) / sqrt(sigma^2 + 1)``; MSE on ``F`` is EDM's weighting.
``ln sigma ~ N(0.5, 1.6)`` (SVD shifts EDM's sigma distribution towards noise), clipped to the scheduler's
[0.002, 700]. The conditioning is built by the pipeline's own methods: the CLIP embedding of the clean first frame
(``pipe._encode_image``), the VAE latent **mode** of the noise-augmented first frame (unscaled, as the pipeline
concatenates it), ``added_time_ids = [fps - 1, motion_bucket_id, noise_aug_strength]`` (the pipeline subtracts 1
from fps). With probability ``cfg_dropout`` both image conditions are zeroed: exactly the pipeline's
unconditional branch for classifier-free guidance.

**Components.** The UNet and the ``AutoencoderKLTemporalDecoder`` come from
:func:`labkit.models.svd.build_pipeline` (:func:`labkit.models.tiny.tiny_svd_components`). The VAE is made cheap by
design: two levels (2x spatial, 32x32 frames -> 4x16x16 latents), trained first for a few hundred steps
(:func:`train_vae_stage`: MSE + a small KL), then frozen; its ``scaling_factor`` is set so the clean latents have
unit standard deviation. The CLIP image encoder stays a tiny **random, frozen** ``CLIPVisionModelWithProjection``: the
image reaches the UNet mainly through the concatenated latent. Only the UNet is trained after stage 1
(:func:`train_unet_stage`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import torch
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
    _resize_with_antialiasing,
)

from labkit import OUTPUTS_DIR
from labkit.data.knob import FPS_VALUES, knob_clip
from labkit.evaluation.svd import is_monotone, motion_vs_bucket
from labkit.models.svd import build_pipeline, edm_coefficients
from labkit.training.cli import TrainedRun
from labkit.training.loop import TrainConfig, fit, seed_everything

__all__ = ["AUG_MAX", "training_pair", "sample_sigmas", "train_vae_stage", "train_unet_stage", "add_arguments",
           "run", "check_arguments"]




AUG_MAX = 0.1  # noise_aug_strength is drawn from U[0, AUG_MAX] in training


SIGMA_MIN, SIGMA_MAX = 0.002, 700.0  # the SVD-XT scheduler's sigma range


def training_pair(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor):
    """``(unet_input, c_noise, target)``: ``x0``/``noise`` are ``(B, F, C, h, w)``, ``sigma`` is ``(B,)``.
    A UNet output equal to ``target`` makes the scheduler's ``step`` see exactly ``x0``."""
    s = sigma.view(-1, *([1] * (x0.ndim - 1)))
    c_in, c_skip, c_out, _ = edm_coefficients(s)
    x = x0 + s * noise
    return c_in * x, 0.25 * sigma.log(), (x0 - c_skip * x) / c_out


def sample_sigmas(n: int, generator: torch.Generator, mean: float = 0.5, std: float = 1.6) -> torch.Tensor:
    """``n`` noise levels with ``ln sigma ~ N(mean, std)``, clipped to the scheduler's [0.002, 700]."""
    log_sigma = mean + std * torch.randn(n, generator=generator)
    return log_sigma.clamp(math.log(SIGMA_MIN), math.log(SIGMA_MAX)).exp()


def _batch(rng: np.random.Generator, batch: int):
    """Clips ``(B, F, 3, H, W)`` and their knobs: buckets in 0..255, fps from FPS_VALUES, aug in [0, AUG_MAX]."""
    buckets = rng.integers(0, 256, size=batch)
    fps = rng.choice(FPS_VALUES, size=batch)
    aug = rng.uniform(0, AUG_MAX, size=batch)
    seeds = rng.integers(0, 2**31, size=batch)
    clips = torch.stack([knob_clip(int(s), int(b), int(f)) for s, b, f in zip(seeds, buckets, fps)])
    return clips, buckets, fps, aug


def _kl(posterior) -> torch.Tensor:
    return 0.5 * (posterior.mean ** 2 + posterior.var - 1 - posterior.logvar).mean()


def train_vae_stage(vae, steps: int = 300, batch: int = 4, lr: float = 2e-3, kl_weight: float = 1e-4,
                    seed: int = 0, progress: bool = True):
    """Stage 1: train the temporal-decoder VAE to reconstruct knob-world clips; returns ``fit``'s result."""

    rng = np.random.default_rng(seed)

    def batches():
        while True:
            yield _batch(rng, batch)[0]

    def loss_fn(model, clips, step):
        frames = clips.flatten(0, 1) * 2 - 1  # (B*F, 3, H, W) in [-1, 1]
        posterior = model.encode(frames).latent_dist
        recon = model.decode(posterior.sample(), num_frames=clips.shape[1]).sample
        return torch.nn.functional.mse_loss(recon, frames) + kl_weight * _kl(posterior)

    config = TrainConfig(steps=steps, lr=lr, warmup=20, seed=seed, progress=progress)
    result = fit(vae.train(), batches(), loss_fn, config)
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        clips = _batch(np.random.default_rng(seed + 1), 16)[0]
        std = vae.encode(clips.flatten(0, 1) * 2 - 1).latent_dist.mode().std()
    vae.register_to_config(scaling_factor=float(1 / std))
    return result


@torch.no_grad()
def _conditions(pipe, clips, buckets, fps, aug, rng_torch, cfg_dropout):
    """x0 latents and the pipeline's conditioning for a batch (built with the pipeline's own methods)."""

    B, F = clips.shape[:2]
    x0 = pipe.vae.encode(clips.flatten(0, 1) * 2 - 1).latent_dist.mode() * pipe.vae.config.scaling_factor
    x0 = x0.unflatten(0, (B, F))
    first = torch.round(clips[:, 0] * 255) / 255  # the pipeline receives a uint8 PIL image
    clip_in = (_resize_with_antialiasing(first * 2 - 1, (224, 224)) + 1) / 2
    embeds = pipe._encode_image(clip_in, "cpu", 1, False)  # (B, 1, D)
    aug_t = torch.as_tensor(aug, dtype=torch.float32)
    noisy = first * 2 - 1 + aug_t.view(-1, 1, 1, 1) * torch.randn(first.shape, generator=rng_torch)
    image_latents = pipe.vae.encode(noisy).latent_dist.mode()  # unscaled, as the pipeline concatenates it
    keep = (torch.rand(B, generator=rng_torch) >= cfg_dropout).float()
    embeds, image_latents = embeds * keep.view(-1, 1, 1), image_latents * keep.view(-1, 1, 1, 1)
    time_ids = torch.tensor(np.stack([fps - 1, buckets, aug], axis=1), dtype=torch.float32)
    return x0, image_latents[:, None].expand(-1, F, -1, -1, -1), embeds, time_ids


def train_unet_stage(pipe, steps: int = 800, batch: int = 8, lr: float = 2e-3, cfg_dropout: float = 0.1,
                     seed: int = 0, progress: bool = True, ema_decay: float | None = 0.995,
                     checkpoint_dir: Path | None = None, checkpoint_every: int = 0, stop_at: int | None = None):
    """Stage 2: train ``pipe.unet`` with the pipeline's v-objective (VAE and CLIP frozen); returns ``fit``'s result
    (``None`` when stopped early). ``checkpoint_dir``: the whole pipeline (EMA UNet) is saved to
    ``checkpoint_dir/step-N`` every ``checkpoint_every`` steps. ``stop_at``: end at that checkpoint (a multiple of
    ``checkpoint_every``) with its EMA weights -- exactly the checkpoint a longer run of the same schedule saves."""

    if stop_at is not None and not (checkpoint_every and 0 < stop_at < steps and stop_at % checkpoint_every == 0):
        raise ValueError(f"expected stop_at a multiple of checkpoint_every ({checkpoint_every}) below steps "
                         f"({steps}), got {stop_at}")

    rng = np.random.default_rng(seed + 10)
    gen = torch.Generator().manual_seed(seed + 10)

    def batches():
        while True:
            yield _conditions(pipe, *_batch(rng, batch), gen, cfg_dropout)

    def loss_fn(unet, cond, step):
        x0, image_latents, embeds, time_ids = cond
        sigma = sample_sigmas(x0.shape[0], gen)
        inp, c_noise, target = training_pair(x0, torch.randn(x0.shape, generator=gen), sigma)
        out = unet(torch.cat([inp, image_latents], dim=2), c_noise, encoder_hidden_states=embeds,
                   added_time_ids=time_ids, return_dict=False)[0]
        return torch.nn.functional.mse_loss(out, target)

    def save(unet, step):
        if checkpoint_dir is not None and step < steps:
            type(pipe)(**{**pipe.components, "unet": unet}).save_pretrained(Path(checkpoint_dir) / f"step-{step}")
        if step == stop_at:
            raise _Stop(unet)

    config = TrainConfig(steps=steps, lr=lr, warmup=50, seed=seed, ema_decay=ema_decay, progress=progress,
                         checkpoint_every=checkpoint_every)
    try:
        result = fit(pipe.unet, batches(), loss_fn, config, save=save)
    except _Stop as stop:
        pipe.register_modules(unet=stop.args[0].eval())
        return None
    pipe.register_modules(unet=result.model.eval())
    return result


class _Stop(Exception):
    """Raised from the checkpoint callback to end training at ``stop_at`` (carries the EMA UNet)."""


# ------------------------------------------------------------------------------------------------ CLI
CHECKPOINT_DIR = OUTPUTS_DIR / "models" / "tiny-svd-checkpoints"


def add_arguments(parser, kind: str) -> None:
    """``labkit train svd``: the two stages' own flags (the shell adds the common ones; --steps is stage 2)."""
    parser.add_argument("--vae-steps", type=int, default=300, help="stage 1: temporal-decoder VAE steps")
    parser.add_argument("--batch", type=int, default=8, help="clips per UNet step")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--checkpoint-every", type=int, default=0, help="save trial checkpoints of the pipeline "
                        f"to {CHECKPOINT_DIR}/step-N every N UNet steps (0: none)")
    parser.add_argument("--stop-at", type=int, default=None, help="end at this checkpoint of the --steps schedule "
                        "(a multiple of --checkpoint-every)")


def check_arguments(args) -> None:
    if args.stop_at is not None and not (args.checkpoint_every and 0 < args.stop_at < args.steps
                                         and args.stop_at % args.checkpoint_every == 0):
        raise ValueError(f"--stop-at: expected a multiple of --checkpoint-every below --steps, got {args.stop_at}")


def run(args) -> TrainedRun:
    """Train both stages into ``args.out``; the bar: measured motion rises with ``motion_bucket_id``."""
    seed_everything(args.seed)
    pipe = build_pipeline(args.seed)
    vae_result = train_vae_stage(pipe.vae, steps=args.vae_steps, seed=args.seed)
    unet_result = train_unet_stage(pipe, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                   checkpoint_dir=CHECKPOINT_DIR, checkpoint_every=args.checkpoint_every,
                                   stop_at=args.stop_at)
    pipe.unet.to(torch.float16).to(torch.float32)  # the UNet ships in float16 (<= 10 MB): measure what ships
    rows = motion_vs_bucket(pipe)
    motion = [r["motion (px/frame)"] for r in rows]
    for r in rows:
        print(f"motion_bucket_id {r['motion_bucket_id']:3d}: {r['motion (px/frame)']:.3f} +- {r['stderr']:.3f} "
              f"px/frame (world {r['world truth (px/frame)']:.2f})")
    shutil.rmtree(args.out, ignore_errors=True)  # outputs/ is scratch: a re-run replaces its folder
    pipe.unet.to(torch.float16)  # 5 MB instead of 10; from_pretrained loads it back into float32 parameters
    pipe.save_pretrained(args.out, safe_serialization=True)
    pipe.unet.to(torch.float32)
    summary = {"vae_final_loss": round(float(np.mean(vae_result.losses[-50:])), 5),
               "unet_final_loss": round(float(np.mean(unet_result.losses[-50:])), 5) if unet_result else None,
               "motion_vs_bucket (fps 6, 10 steps, 4 held-out images)": {r["motion_bucket_id"]: round(m, 4)
                                                                        for r, m in zip(rows, motion)}}
    problem = "" if is_monotone(motion) else f"motion {motion} does not increase with motion_bucket_id"
    return TrainedRun(summary, problem)
