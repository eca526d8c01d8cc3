"""TODO docstring"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as Fn

from labkit import DATA_DIR, OUTPUTS_DIR
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
from labkit.shipping.ship import ship
from labkit.training.loop import TrainConfig, fit

__all__ = ["v_loss", "train_image_unet", "train_motion_adapter", "train_image_unet_main",
           "train_motion_adapter_main"]


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
def _args(argv, defaults: dict, name: str):
    p = argparse.ArgumentParser(prog=f"labkit train {name}")
    for key, value in defaults.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--out", type=Path, default=None, help="a folder; inside data/ it is shipped (MANIFEST)")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def _finish(save, args, name: str, seconds: float, extra: dict) -> Path:

    out = args.out or OUTPUTS_DIR / "models" / name
    command = f"labkit train {name} " + " ".join(getattr(args, "_argv", []))
    tmp = Path(tempfile.mkdtemp(prefix=f"{Path(out).name}-"))
    save(tmp)
    if Path(out).exists() and DATA_DIR.resolve() not in Path(out).resolve().parents:
        shutil.rmtree(out)  # outputs/ is scratch: a re-run replaces it; data/ is never overwritten (ship refuses)
    ship(tmp, Path(out), command.strip(), args.seed, seconds, extra)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"saved {name} to {out}")
    return Path(out)


def train_image_unet_main(argv: list[str]) -> int:
    """``labkit train image-unet [--steps N --batch B --lr LR --seed S --out DIR --threads T]``."""
    args = _args(argv, {"steps": 1000, "batch": 16, "lr": 2e-3, "seed": 0}, "image-unet")
    args._argv = argv
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = train_image_unet(args.steps, args.batch, args.lr, args.seed)

    def save(folder: Path):
        result.model.unet.save_pretrained(folder / "unet")
        result.model.text.save_pretrained(folder / "text_encoder")
        noise_scheduler().save_pretrained(folder / "scheduler")

    extra = {"final_loss_mean_last_100": sum(result.losses[-100:]) / len(result.losses[-100:]),
             "size": SIZE, "words": WORDS}
    _finish(save, args, "image-unet", time.perf_counter() - t0, extra)
    return 0


def train_motion_adapter_main(argv: list[str]) -> int:
    """``labkit train motion-adapter [--image DIR --steps N --batch B --lr LR --seed S --out DIR]``."""
    p_defaults = {"steps": 900, "batch": 3, "lr": 2e-3, "seed": 0, "causal_fraction": 0.5,
                  "image": str(IMAGE_MODEL_DIR)}
    args = _args(argv, p_defaults, "motion-adapter")
    args._argv = argv
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = train_motion_adapter(load_image_model(args.image), args.steps, args.batch, args.lr, args.seed,
                                  args.causal_fraction)
    adapter = new_motion_adapter(args.seed)
    adapter.load_state_dict(_adapter_state(result.model.unet))

    def save(folder: Path):
        adapter.save_pretrained(folder / "motion_adapter")

    extra = {"final_loss_mean_last_100": sum(result.losses[-100:]) / len(result.losses[-100:]),
             "image_model": str(args.image), "num_frames": NUM_FRAMES}
    _finish(save, args, "motion-adapter", time.perf_counter() - t0, extra)
    return 0
