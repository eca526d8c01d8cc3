"""One small training loop for every model of the course, and the ``labkit train`` registry.

Taught in ``04_train_tiny_video_model`` (and used by the VAE, attention and metrics lessons).

:func:`fit` owns what every run needs: seeding, AdamW with warm-up + cosine learning rate, gradient clipping,
an optional EMA copy, a ``tqdm`` progress bar with the running loss, a loss history for plots, periodic
checkpoints through a ``save`` callback, and resume. What is specific to a model -- the batch and the loss --
comes in as ``loss_fn(model, batch, step) -> scalar tensor``.

:func:`ship` copies a finished model folder into ``data/`` atomically (never overwriting) and records it in
``data/MANIFEST`` with the command, seed, time and hardware; :func:`ship_checked` is a trainer CLI's ``--ship``
(only when the issue's bars are met, or ``--ship-below-bars`` says so, with the verdict recorded).
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["TrainConfig", "TrainResult", "seed_everything", "cosine_lr", "EMA", "fit", "ship", "TRAINERS",
           "run_trainer"]

#: ``labkit train KIND ...`` -> ``"module:function"``; each function takes ``argv: list[str]``.
TRAINERS: dict[str, str] = {
    "vae": "labkit.vae_train:main",                  # notebook 01: --kind 2d|3d
    "features": "labkit.metrics.swnet:main",          # notebook 07: the Shapes-world video feature network
    "image-unet": "labkit.inflation:train_image_unet_main",      # notebook 02
    "motion-adapter": "labkit.inflation:train_motion_adapter_main",  # notebook 02
    "t2v": "labkit.t2v_train:main_t2v",               # notebook 04
    "i2v": "labkit.t2v_train:main_i2v",               # notebook 04
    "svd": "labkit.svd_train:main",                   # notebook 05
    "orbit": "labkit.multiview_train:main",           # notebook 06
}


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a CPU ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cosine_lr(step: int, total: int, base_lr: float, warmup: int = 0, final_frac: float = 0.05) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``base_lr`` to ``final_frac * base_lr``."""
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
    from tqdm.auto import tqdm

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


def ship(src: Path, dest: Path, command: str, seed, seconds: float, extra: dict | None = None,
         hardware: str | None = None, ignore: tuple[str, ...] = ()) -> Path:
    """Move a finished model folder ``src`` to ``dest`` atomically; refuse to overwrite an existing ``dest``.

    When ``dest`` lies inside ``data/``, its files are added to ``data/MANIFEST`` with the provenance, and a
    ``PROVENANCE.json`` is written beside the weights. ``hardware``: where it ran (default: this machine);
    ``ignore``: glob patterns of files in ``src`` not to ship.
    """
    from . import DATA_DIR
    from .manifest import add_files, hardware_description

    src, dest = Path(src), Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; refusing to overwrite shipped files (choose another --out)")
    hardware = hardware or hardware_description()
    info = {"command": command, "seed": seed, "seconds": round(seconds, 1), "hardware": hardware, **(extra or {})}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))
        (tmp / "PROVENANCE.json").write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if DATA_DIR.resolve() in dest.resolve().parents:
        add_files(dest, command, seed, seconds, hardware)
    return dest


def ship_checked(out: Path, dest: Path, problem: str, below_bars_ok: bool, command: str, seed, seconds: float,
                 summary: dict, ignore: tuple[str, ...] = ()) -> int:
    """A trainer CLI's ``--ship``: :func:`ship` a copy of the run folder ``out`` (less the ``ignore`` glob
    patterns) to ``dest`` if the issue's bars are met (``problem`` empty) or ``below_bars_ok``
    (``--ship-below-bars`` with a full evaluation), recording ``bars_met`` / ``bars_problem`` in ``summary``
    (so in ``PROVENANCE.json``). Returns the exit code: 1, with the reason on stderr, when nothing is shipped."""
    if problem and not below_bars_ok:
        print(f"not shipping to {dest}: {problem}", file=sys.stderr)
        return 1
    summary["bars_met"], summary["bars_problem"] = not problem, problem
    if problem:
        print(f"shipping to {dest} BELOW the bars (--ship-below-bars): {problem}", file=sys.stderr)
    clean = Path(out).with_name(Path(out).name + "-ship")
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(out, clean, ignore=shutil.ignore_patterns(*ignore))
    ship(clean, dest, command, seed, seconds, summary)
    return 0


def run_trainer(kind: str, argv: list[str]) -> int:
    """Dispatch ``labkit train KIND ARGS...`` to the trainer registered in :data:`TRAINERS`."""
    if kind not in TRAINERS:
        print(f"unknown model kind {kind!r}; expected one of: {', '.join(TRAINERS)}", file=sys.stderr)
        return 2
    module_name, func_name = TRAINERS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        print(f"`labkit train {kind}` is not available in this version of the course yet", file=sys.stderr)
        return 2
    return int(getattr(module, func_name)(argv) or 0)
