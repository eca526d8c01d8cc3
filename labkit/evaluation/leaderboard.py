"""The leaderboard: every shipped model measured on the same held-out clips, beside two labelled baselines.

Taught in ``07_metric_evaluation``.

:func:`leaderboard` gets videos out of each model in :data:`labkit.models.REGISTRY` that has an adapter in
:data:`ADAPTERS` (a VAE's reconstructions of the real clips, tiny-t2v's samples of their captions) and scores them
with FVD-SW against the reference statistics, prompt adherence and the per-clip metrics of
:func:`labkit.metrics.bias.clip_metrics`; the real clips themselves and a frozen first frame are the baselines.
A model without an adapter, or whose evaluation fails, gets a row that says so instead of numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from labkit import models
from labkit.checks import check_args
from labkit.inference.loading import load_pipeline
from labkit.inference.runs import generate
from labkit.metrics.adherence import adherence_report
from labkit.metrics.bias import clip_metrics, fvd_value
from labkit.metrics.fvd import ReferenceStats
from labkit.models.vae import load_vae, reconstruct

__all__ = ["shipped_model_names", "ADAPTERS", "leaderboard"]


def shipped_model_names(models_dir=None) -> list[str]:
    """The shipped models of :data:`labkit.models.REGISTRY`, sorted; or the folders under ``models_dir``."""
    if models_dir is None:
        return sorted(models.shipped_names())
    models_dir = Path(models_dir)
    return sorted(p.name for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if models_dir.exists() else []


def _vae_reconstructions(name: str) -> Callable:
    def run(videos, captions, steps):

        vae = load_vae(name)
        with torch.no_grad():
            return torch.cat([reconstruct(vae, videos[i:i + 4]) for i in range(0, len(videos), 4)]).clamp(0, 1)
    return run


def _t2v_samples(name: str) -> Callable:
    def run(videos, captions, steps):

        pipe = load_pipeline(name)
        f, _, h, w = videos.shape[1:]
        return torch.cat([generate(pipe, c, num_frames=f, height=h, width=w, steps=steps, seed=i)
                          for i, c in enumerate(captions)]).clamp(0, 1)
    return run


#: How to get videos out of a shipped model folder (name prefix -> adapter); others are listed as not evaluated.
ADAPTERS = {"vae-": ("reconstruction of the clips", _vae_reconstructions), "tiny-t2v": ("text-to-video samples",
                                                                                       _t2v_samples)}


def _row(name: str, kind: str, videos, real, captions, reference, features, per_clip: int, seconds: float) -> dict:
    report = adherence_report(videos, captions)
    per = [clip_metrics(videos[i], real[i]) for i in range(min(per_clip, len(videos)))]
    row = {"model": name, "what": kind, "n": len(videos), "FVD-SW": fvd_value(reference, videos, features),
           "adherence": report["all_correct"], "seconds": round(seconds, 1)}
    row.update({k: float(np.mean([p[k] for p in per])) for k in per[0]})
    return row


def leaderboard(real, captions, reference: ReferenceStats, features, steps: int = 20, per_clip: int = 8,
                models_dir=None) -> list[dict]:
    """Evaluate every shipped model in ``data/models`` that has an adapter, on the same held-out clips/captions,
    next to two labelled baselines (the real clips themselves, and a frozen first frame). Models without an adapter,
    or whose evaluation fails, get a row saying so instead of numbers."""
    check_args(steps=steps, per_clip=per_clip)
    rows = [_row("baseline: real test clips", "the held-out clips themselves", real, real, captions, reference,
                 features, per_clip, 0.0),
            _row("baseline: frozen first frame", "first frame repeated", real[:, :1].expand_as(real).contiguous(),
                 real, captions, reference, features, per_clip, 0.0)]
    for name in shipped_model_names(models_dir):
        if name == "swnet":
            rows.append({"model": name, "what": "not a video model: the feature network behind FVD-SW"})
            continue
        match = [(k, v) for k, v in ADAPTERS.items() if name.startswith(k)]
        if not match:
            rows.append({"model": name, "what": "not evaluated: no adapter for this kind of model yet"})
            continue
        kind, make = match[0][1]
        t0 = time.perf_counter()
        try:
            videos = make(name)(real, captions, steps)
        except Exception as err:  # noqa: BLE001 - a broken model gets a row, not a crashed notebook
            rows.append({"model": name, "what": f"evaluation failed: {type(err).__name__}: {err}"[:200]})
            continue
        rows.append(_row(name, kind, videos, real, captions, reference, features, per_clip,
                         time.perf_counter() - t0))
    return rows
