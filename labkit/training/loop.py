"""One small training loop for every model of the course.

Taught in ``04_train_tiny_video_model`` (and behind every ``labkit train KIND``: the trainer shell is
:mod:`labkit.training.cli`, shipping is :mod:`labkit.shipping.ship`).

:func:`fit` owns what every run needs: seeding (:func:`seed_everything`), AdamW with warm-up + cosine learning rate
(:func:`cosine_lr`), gradient clipping, an optional :class:`EMA` copy, a ``tqdm`` progress bar with the running loss,
a loss history for plots, periodic checkpoints through a ``save`` callback, and resume. What is specific to a model
-- the batch and the loss -- comes in as ``loss_fn(model, batch, step) -> scalar tensor``; :class:`TrainConfig`
holds the numbers and :class:`TrainResult` returns the model, its losses and the seconds.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.checks import check_args

__all__ = ["seed_everything", "cosine_lr", "EMA", "TrainConfig", "TrainResult", "fit"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a CPU ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cosine_lr(step: int, total: int, base_lr: float, warmup: int = 0, final_frac: float = 0.05) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``base_lr`` to ``final_frac * base_lr``."""
    check_args(base_lr=base_lr, warmup=warmup, final_frac=final_frac)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


class EMA:
    """Exponential moving average of a model's parameters (the weights that get shipped)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))  # warm-up: early steps follow the model closely
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1 - decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float | None = None  # None: no EMA
    seed: int = 0
    checkpoint_every: int = 0  # 0: only at the end
    log_every: int = 10
    progress: bool = True

    def __post_init__(self):  # every number by the rule of its name (labkit.checks.VOCABULARY)
        check_args(steps=self.steps, lr=self.lr, warmup=self.warmup, weight_decay=self.weight_decay,
                   grad_clip=self.grad_clip, ema_decay=self.ema_decay, seed=self.seed,
                   checkpoint_every=self.checkpoint_every, log_every=self.log_every, allow_none=("ema_decay",))


@dataclass
class TrainResult:
    model: torch.nn.Module  # the EMA model when EMA is on, else the trained model
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def fit(model: torch.nn.Module, batches: Iterator, loss_fn: Callable, config: TrainConfig,
        params=None, save: Callable[[torch.nn.Module, int], None] | None = None,
        resume_from: dict | None = None, on_log: Callable[[int, list[float]], None] | None = None,
        checkpoint: Callable[[torch.nn.Module, int, torch.optim.Optimizer], None] | None = None) -> TrainResult:
    """Train ``model`` for ``config.steps`` steps on an endless iterator of ``batches``.

    - ``loss_fn(model, batch, step)`` returns a scalar loss tensor;
    - ``params``: the parameters to train (default all that require grad; e.g. only temporal layers);
    - ``save(model, step)`` is called every ``checkpoint_every`` steps and at the end, with the EMA model
      when EMA is on; ``checkpoint(model, step, optimizer)`` is called at the same moments and also gets the
      optimizer, for a run that saves its own resumable state; ``resume_from`` continues a run: a dict with the
      ``"optimizer"`` state dict, the ``"step"`` reached, the ``"losses"`` so far and optionally the ``"ema"`` state;
    - ``on_log(step, losses)`` is called every ``log_every`` steps (a notebook's live loss plot).
    """

    seed_everything(config.seed)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: every parameter has requires_grad=False")
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    ema = EMA(model, config.ema_decay) if config.ema_decay else None
    start, losses = 0, []
    if resume_from is not None:
        opt.load_state_dict(resume_from["optimizer"])
        start, losses = resume_from["step"], list(resume_from["losses"])
        if ema is not None and "ema" in resume_from:
            ema.model.load_state_dict(resume_from["ema"])

    def _checkpoint(m: torch.nn.Module, step: int) -> None:
        if save is not None:
            save(m, step)
        if checkpoint is not None:
            checkpoint(m, step, opt)

    model.train()
    t0 = time.perf_counter()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not config.progress,
               desc="train", leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, config.steps, config.lr, config.warmup)
        loss = loss_fn(model, next(batches), step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        if ema is not None:
            ema.update(model, step)
        losses.append(float(loss.detach()))
        if (step + 1) % config.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-config.log_every:]):.4f}")
            if on_log is not None:
                on_log(step + 1, losses)
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            _checkpoint(ema.model if ema else model, step + 1)
    model.eval()
    final = ema.model if ema is not None else model
    _checkpoint(final, config.steps)
    return TrainResult(final, losses, time.perf_counter() - t0, config.steps - start)
