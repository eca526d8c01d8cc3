"""Training SW-Net, the Shapes-world feature network behind FVD-SW (``labkit train features``).

Taught in ``07_metric_evaluation``; the network is in :mod:`labkit.models.swnet`.

SW-Net learns four classification heads (colour, shape, direction, speed) on random one-object clips
``(B, 17, 3, 64, 64)`` of ``ShapesWorld("train")`` with a cross-entropy per head, through
:func:`labkit.training.loop.fit`; :func:`run` reports its per-head accuracy on held-out clips
(:func:`labkit.evaluation.swnet.evaluate_accuracy`). Shipping also writes the FVD-SW reference statistics of the
test split, ``data/stats/swnet_test`` (:func:`ship_reference_stats`: mean and covariance of the 128-d features of
1024 clips), recorded in ``data/MANIFEST``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

from labkit.data.shapes import ShapesWorld
from labkit.evaluation.swnet import evaluate_accuracy
from labkit.metrics.fvd import STATS_DIR, compute_reference_stats
from labkit.models.swnet import HEADS, SWNet, SWNetFeatures, labels_of, load_swnet, save_swnet
from labkit.shipping.ship import ship
from labkit.training.cli import TrainedRun
from labkit.training.loop import TrainConfig, fit

__all__ = ["ship_reference_stats", "add_arguments", "run"]


def _batches(batch_size: int, seed: int, num_frames: int):
    """Endless random one-object training batches ``(videos, labels)``."""
    world = ShapesWorld("train", length=10_000_000, num_frames=num_frames, two_objects=0.0, seed=seed)
    rng = np.random.default_rng(seed)
    while True:
        clips = [world[int(i)] for i in rng.integers(0, len(world), size=batch_size)]
        yield torch.stack([c.video for c in clips]), labels_of([c.truth for c in clips])


def _loss(model, batch, step):
    videos, labels = batch
    out = model(videos)
    return sum(F.cross_entropy(out[k], labels[k]) for k in HEADS)


def add_arguments(parser, kind: str) -> None:
    """``labkit train features``: SW-Net's own flags (the shell adds the common ones)."""
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--eval-clips", type=int, default=336, help="test clips for the held-out accuracy")


def run(args) -> TrainedRun:
    """Train SW-Net into ``args.out`` and report its held-out accuracy; shipping also writes the FVD-SW
    reference statistics of the test split (``data/stats/swnet_test``)."""
    config = TrainConfig(steps=args.steps, lr=args.lr, warmup=50, weight_decay=1e-4, ema_decay=0.99, seed=args.seed)
    torch.manual_seed(args.seed)
    model = SWNet()
    result = fit(model, _batches(args.batch_size, args.seed, args.num_frames), _loss, config)
    acc = evaluate_accuracy(result.model, "test", args.eval_clips, num_frames=args.num_frames)
    acc_heldout = evaluate_accuracy(result.model, "heldout", min(args.eval_clips, 168), num_frames=args.num_frames)
    print("held-out accuracy (test split):", json.dumps({k: round(v, 4) for k, v in acc.items()}))
    print("held-out accuracy (held-out combos):", json.dumps({k: round(v, 4) for k, v in acc_heldout.items()}))
    extra = {"accuracy_test": acc, "accuracy_heldout_combos": acc_heldout, "eval_clips": args.eval_clips,
             "train": {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                       "num_frames": args.num_frames, "final_loss": float(np.mean(result.losses[-20:]))}}
    shutil.rmtree(args.out, ignore_errors=True)  # outputs/ is scratch: a re-run replaces its folder
    save_swnet(result.model, args.out, extra)
    return TrainedRun({"accuracy_test": acc}, ship_ignore=("RUN.json",),
                      after_ship=lambda dest, command: ship_reference_stats(load_swnet(dest), command))


def ship_reference_stats(model, command: str, name: str = "swnet_test", num_videos: int = 1024) -> Path:
    """Compute SW-Net statistics of the test split and ship them to ``data/stats/NAME`` (recorded in MANIFEST)."""

    t0 = time.perf_counter()
    stats = compute_reference_stats(SWNetFeatures(model), num_videos=num_videos)
    tmp = Path(tempfile.mkdtemp(prefix="swnet-stats-"))
    save_file({"mu": stats.mu, "sigma": stats.sigma}, str(tmp / "stats.safetensors"))
    (tmp / "meta.json").write_text(json.dumps(stats.meta, indent=2) + "\n")
    return ship(tmp, STATS_DIR / name, command, stats.meta["seed"], time.perf_counter() - t0)
