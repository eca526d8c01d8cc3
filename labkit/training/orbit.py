"""Training the camera-conditioned orbit generator of ``06_multiview_generation`` (``labkit train orbit``).

Taught in ``06_multiview_generation``; the model and its sampling are in :mod:`labkit.models.orbit_unet`, the
evaluation against the bars in :mod:`labkit.evaluation.orbit`.

:func:`orbit_batch` renders the training batch of a step from the orbit world (:mod:`labkit.data.orbit`) with a
generator seeded by ``(seed, step)``, so a run resumes exactly: the input view ``(B, 3, H, W)`` at azimuth 0 and a
random elevation in 5-35 degrees, the target orbit ``(B, F, 3, H, W)`` at that elevation (starting at azimuth 0
half of the time, at a random azimuth otherwise), its Plücker rays ``(B, F, 6, H, W)`` and the elevation in degrees.
:func:`flow_loss` is flow matching, ``|| v_theta(x_sigma) - (eps - x0) ||^2`` with logit-normal ``sigma`` (SD3,
Esser et al. 2024); with probability ``single_prob`` the batch is split into single views, so the same network is
also a trained independent-view baseline. :func:`train` runs :func:`labkit.training.loop.fit`; :func:`run` plugs
it into the trainer shell (:mod:`labkit.training.cli`), with ``--eval N`` measuring the bars.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from labkit.data.orbit import ELEVATION_RANGE, random_object, render_orbit
from labkit.evaluation.orbit import bars_problem, evaluate
from labkit.models.orbit_unet import OrbitConfig, conditioning, new_unet, predict_velocity, save_generator
from labkit.multiview import plucker_rays
from labkit.schedules import flow_interpolate, flow_velocity
from labkit.training.cli import TrainedRun
from labkit.training.loop import TrainConfig, fit

__all__ = ["orbit_batch", "flow_loss", "train", "add_arguments", "run"]


def _render_sample(rng: np.random.Generator, cfg: OrbitConfig):
    """One training sample: input view, target orbit (views, cameras) and the input elevation."""
    obj = random_object(rng)
    elevation = float(rng.uniform(*ELEVATION_RANGE))
    az0 = 0.0 if rng.random() < 0.5 else float(rng.uniform(0, 360))
    azimuths = [0.0] + [az0 + 360.0 * k / cfg.num_views for k in range(cfg.num_views)]
    out = render_orbit(obj, len(azimuths), elevation, cfg.size, azimuths=azimuths)  # input view + orbit at once
    return out.views[0], out.views[1:], out.cameras[1:], elevation


def orbit_batch(step: int, cfg: OrbitConfig) -> dict:
    """Training batch of step ``step`` (drawn from a generator seeded by ``(seed, step)``, so resumable):
    ``input (B, 3, H, W)``, ``views (B, F, 3, H, W)``, ``plucker (B, F, 6, H, W)``, ``elevation (B,)`` degrees."""
    rng = np.random.default_rng([cfg.seed, step])
    samples = [_render_sample(rng, cfg) for _ in range(cfg.batch)]
    return {"input": torch.stack([s[0] for s in samples]), "views": torch.stack([s[1] for s in samples]),
            "plucker": torch.stack([plucker_rays(s[2], cfg.size, cfg.size) for s in samples]),
            "elevation": torch.tensor([s[3] for s in samples]), "step": step}


def _split_views(batch: dict) -> dict:
    """A batch of ``B`` orbits as ``B * F`` single-view samples (the independent-views mode)."""
    F = batch["views"].shape[1]
    return {"input": batch["input"].repeat_interleave(F, 0),
            "views": rearrange(batch["views"], "b f c h w -> (b f) 1 c h w"),
            "plucker": rearrange(batch["plucker"], "b f c h w -> (b f) 1 c h w"),
            "elevation": batch["elevation"].repeat_interleave(F, 0)}


def flow_loss(unet, batch: dict, cfg: OrbitConfig) -> torch.Tensor:
    """Flow-matching loss ``|| v_theta(x_sigma) - (eps - x0) ||^2`` with ``sigma`` drawn logit-normally
    (SD3's choice, Esser et al. 2024); with probability ``single_prob`` the batch is split into single views."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + batch["step"])
    if torch.rand((), generator=g) < cfg.single_prob:
        batch = _split_views(batch)
    x0 = 2 * batch["views"] - 1
    sigma = torch.sigmoid(torch.randn(x0.shape[0], generator=g))
    eps = torch.randn(x0.shape, generator=g)
    x, target = flow_interpolate(x0, eps, sigma), flow_velocity(x0, eps)
    cond = conditioning(batch["input"], batch["plucker"], batch["elevation"])
    return torch.nn.functional.mse_loss(predict_velocity(unet, x, sigma, cond), target)


def train(cfg: OrbitConfig, out: Path | None = None, progress: bool = True, on_log=None):
    """Train with :func:`labkit.training.loop.fit` (AdamW, warm-up + cosine, EMA); checkpoints go to ``out``."""

    unet = new_unet(cfg, cfg.seed)

    def batches():
        step = 0
        while True:
            yield orbit_batch(step, cfg)
            step += 1

    save = (lambda m, step: save_generator(m, cfg, out)) if out else None
    tc = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, ema_decay=cfg.ema_decay, seed=cfg.seed,
                     checkpoint_every=cfg.checkpoint_every, progress=progress, log_every=10)
    return fit(unet, batches(), lambda m, b, step: flow_loss(m, b, cfg), tc, save=save, on_log=on_log)


def add_arguments(parser, kind: str) -> None:
    """``labkit train orbit``: every :class:`OrbitConfig` field as a flag, and the evaluation."""
    d = OrbitConfig()
    for name, value in asdict(d).items():
        if name not in ("steps", "seed"):  # common flags
            parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    parser.set_defaults(steps=d.steps)
    parser.add_argument("--eval", type=int, default=0, help="held-out test objects to evaluate after training")
    parser.add_argument("--eval-steps", type=int, default=10, help="sampler steps in the evaluation")


def run(args) -> TrainedRun:
    """Train the orbit generator into ``args.out``; ``--eval N`` measures it against the bars."""
    cfg = OrbitConfig(**{k: getattr(args, k) for k in asdict(OrbitConfig())})
    t0 = time.perf_counter()
    result = train(cfg, args.out)
    summary = {"steps": cfg.steps, "train_seconds": round(time.perf_counter() - t0, 1),
               "final_loss_mean_last_100": float(np.mean(result.losses[-100:]))}
    if not args.eval:
        return TrainedRun(summary, "no evaluation (--eval N)", below_bars_allowed=False, ship_ignore=("RUN.json",))
    t1 = time.perf_counter()
    report = evaluate(result.model, cfg, args.eval, args.eval_steps)
    summary["eval"] = {"num": report["num"], "steps": report["steps"], "table": report["table"],
                       "paired": report["paired"], "seconds": round(time.perf_counter() - t1, 1)}
    return TrainedRun(summary, bars_problem(summary["eval"]), ship_ignore=("RUN.json",))
