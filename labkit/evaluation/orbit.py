"""Measuring the orbit generator against the lesson's bars: joint vs independent views on held-out objects.

Taught in ``06_multiview_generation``.

:func:`evaluate` generates the orbits of held-out ``OrbitWorld("test")`` objects jointly (input view held, and not
held: :data:`NOT_HELD`) and one view at a time, and scores each with
:func:`labkit.metrics.multiview.consistency_report` (novel-view PSNR in dB and SSIM against the rendered views,
reprojection error with the true depth, warping error), beside the input view perspective-warped (no generation)
and the ground truth (the floor of the reprojection and warping errors). :func:`paired_difference` compares joint
and independent object by object (mean, standard error, how many objects joint wins); :func:`bars_problem` says
which of :data:`BARS` an evaluation misses.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from labkit.checks import check_args
from labkit.data.orbit import BACKGROUND, OrbitWorld
from labkit.metrics.multiview import consistency_report
from labkit.models.orbit_unet import OrbitConfig, generate
from labkit.multiview import perspective_warp, psnr_from_mse

__all__ = ["NOT_HELD", "evaluate", "paired_difference", "BARS", "bars_problem"]


#: The evaluation row of joint generation without :func:`generate`'s ``hold_input``. The shipped tiny-orbit's
#: ``PROVENANCE.json`` calls this row ``joint``: its shipping run sampled without holding the input.
NOT_HELD = "joint, input not held"


def evaluate(unet, cfg: OrbitConfig, num: int = 16, steps: int = 10, seed: int = 0, progress: bool = True,
             keep: int = 0) -> dict:
    """Joint vs independent generation on ``num`` held-out test objects (the input view is view 0 of the orbit).

    Returns the mean of each :func:`labkit.multiview.consistency_report` score per method (``joint``, with the
    input view held as view 0 -- :func:`generate`'s default --, ``joint, input not held`` -- what holding it
    adds --, ``independent``, ``input + perspective warp`` -- no generation,
    :func:`labkit.multiview.perspective_warp` -- and ``ground truth``, the floor of the reprojection and warping
    errors), the first ``keep`` orbits
    (``"orbits"``: ground truth, joint, independent) for display, and ``"paired"``: per score, joint minus
    independent object by object -- the mean difference, its standard error and on how many objects joint
    is better (a mean can hide a difference that is only noise between a few objects).
    """
    check_args(num=num, steps=steps, seed=seed, keep=keep)
    world = OrbitWorld("test", num, cfg.num_views, cfg.size)

    scores: dict = {"joint": [], NOT_HELD: [], "independent": [], "input + perspective warp": [], "ground truth": []}
    orbits = []
    for i in tqdm(range(num), desc="evaluate", disable=not progress, leave=False):
        _, gt = world[i]
        el, s = gt.elevations[0], seed + 1000 * i
        joint = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=True)
        free = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=True, hold_input=False)
        indep = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=False)
        warp = perspective_warp(gt.views[0], gt.cameras[0], gt.cameras, BACKGROUND)
        for name, views in (("joint", joint), (NOT_HELD, free), ("independent", indep),
                            ("input + perspective warp", warp), ("ground truth", gt.views)):
            scores[name].append(consistency_report(views, gt.views, gt.depth, gt.cameras))
        if i < keep:
            orbits.append({"ground truth": gt.views, "joint": joint, "independent": indep})
    table = {name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} for name, rows in scores.items()}
    for row in table.values():
        row["reprojection_psnr"] = psnr_from_mse(row["reprojection_mse"])
    return {"table": table, "num": num, "steps": steps, "orbits": orbits,
            "paired": {k: paired_difference([r[k] for r in scores["joint"]], [r[k] for r in scores["independent"]],
                                            higher_is_better=k in ("novel_psnr", "novel_ssim"))
                       for k in ("novel_psnr", "novel_ssim", "reprojection_mse", "warping_error")}}


def paired_difference(joint: list[float], independent: list[float], higher_is_better: bool = True) -> dict:
    """Object-by-object ``joint - independent``: ``{"mean", "stderr", "joint_better", "num"}`` (``stderr``:
    sample standard deviation / sqrt(n); ``joint_better``: objects where joint is better)."""
    if len(joint) != len(independent) or not joint:
        raise ValueError(f"expected two equal, non-empty lists of per-object scores, got {len(joint)} and "
                         f"{len(independent)}")
    diff = np.asarray(joint, np.float64) - np.asarray(independent, np.float64)
    stderr = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    better = int((diff > 0).sum() if higher_is_better else (diff < 0).sum())
    return {"mean": float(diff.mean()), "stderr": stderr, "joint_better": better, "num": len(diff)}


#: The lesson's bars on held-out objects (shipping checks them).
BARS = {"joint_novel_psnr": 20.0, "psnr_margin": 1.0, "reprojection_ratio": 0.8}


def bars_problem(report: dict) -> str:
    """Why an evaluation misses the bars ("" when it meets them): joint novel-view PSNR >= 20 dB, at least 1 dB
    above the independent views, and a joint reprojection error below 0.8x the independent one."""
    j, ind = report["table"]["joint"], report["table"]["independent"]
    problems = []
    if j["novel_psnr"] < BARS["joint_novel_psnr"]:
        problems.append(f"joint novel-view PSNR {j['novel_psnr']:.2f} dB < {BARS['joint_novel_psnr']}")
    if j["novel_psnr"] < ind["novel_psnr"] + BARS["psnr_margin"]:
        problems.append(f"joint PSNR {j['novel_psnr']:.2f} not {BARS['psnr_margin']} dB above independent "
                        f"{ind['novel_psnr']:.2f}")
    if j["reprojection_mse"] > BARS["reprojection_ratio"] * ind["reprojection_mse"]:
        problems.append(f"joint reprojection MSE {j['reprojection_mse']:.4f} not below "
                        f"{BARS['reprojection_ratio']}x independent {ind['reprojection_mse']:.4f}")
    return "; ".join(problems)


def shipped_note(provenance: dict) -> str:
    """One line about a shipped orbit generator, from its ``PROVENANCE.json`` (:func:`labkit.models.provenance`):
    the command that trained it, its training seconds and hardware, and when its shipping run measured it below
    :data:`BARS`, why (that run scored joint generation without holding the input view: the :data:`NOT_HELD` row of
    :func:`evaluate` re-measures it). Notebook 06 prints it above its results."""
    note = (f"shipped model data/models/tiny-orbit: `{provenance['command']}` ({provenance['seconds']:.0f} s, "
            f"{provenance['hardware']})")
    if not provenance.get("bars_met", True):
        note += (f"; its training run measured it below the lesson's bars ({provenance['bars_problem']}), with the "
                 f"input view not held -- the row `{NOT_HELD}` below re-measures that")
    return note
