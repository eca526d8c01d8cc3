"""Measuring the tiny SVD: does more ``motion_bucket_id`` give more motion?

Taught in ``05_svd_cogvideox_inference`` (the micro-conditioning sweep).

:func:`motion_vs_bucket` generates from held-out knob-world first frames (:func:`held_out_images`, seeds no training
batch uses) at each ``motion_bucket_id`` with the same seed and measures the motion (mean Farneback flow, px per
frame, through :func:`labkit.inference.runs.sweep_knob`), beside the knob world's true motion
(:func:`labkit.data.knob.expected_motion`). The lesson's bar is that measured motion rises with the bucket
(:func:`is_monotone`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from labkit.checks import check_args
from labkit.data.knob import FPS_VALUES, NUM_FRAMES, SIZE, expected_motion, knob_clip
from labkit.inference.runs import default_condition, sweep_knob
from labkit.video import to_pil

__all__ = ["held_out_images", "motion_vs_bucket", "is_monotone", "sweep_inputs", "KNOB_SWEEPS", "sweep_knobs",
           "world_truth", "plot_knob_sweeps"]


# ------------------------------------------------------------------------------------------------ evaluation
def held_out_images(n: int, size: int = SIZE):
    """First frames (PIL) of ``n`` knob-world clips with seeds no training batch uses (drawn from 2**31 up)."""
    check_args(n=n, size=size)
    return [to_pil(knob_clip(2**31 + i, 0, FPS_VALUES[0], num_frames=1, size=size))[0] for i in range(n)]


def motion_vs_bucket(pipe, buckets=(0, 64, 127, 191, 255), fps: int = 6, images=None, steps: int = 10,
                     seed: int = 0, **call) -> list[dict]:
    """Mean Farneback flow (px/frame) of generated videos per ``motion_bucket_id``, over held-out first frames
    (:func:`held_out_images`, 4 by default), the same seed for every bucket; beside it the knob world's true
    motion at that setting. Rows as :func:`labkit.inference.sweep_knob` plus ``"world truth (px/frame)"``."""
    check_args(fps=fps, steps=steps, seed=seed)  # sweep_knob checks every bucket
    images = images if images is not None else held_out_images(4)
    rows = sweep_knob(pipe, images, "motion_bucket_id", buckets, NUM_FRAMES, SIZE, SIZE, steps, seed, fps=fps,
                      **call)
    for r in rows:
        r["world truth (px/frame)"] = round(expected_motion(r["motion_bucket_id"], fps), 4)
    return rows


def is_monotone(values) -> bool:
    """True when ``values`` strictly increase."""
    return all(b > a for a, b in zip(values[:-1], values[1:]))


def sweep_inputs(pipe, num_images: int, fallback_size: tuple[int, int, int]) -> dict:
    """What the knob sweeps of notebook 05 run on, for an SVD pipeline from :func:`labkit.inference.load_pipeline`.

    The shipped tiny SVD (``pipe.labkit_note`` starts with ``"shipped"``): its own clip size (``NUM_FRAMES``
    frames of ``SIZE`` x ``SIZE`` px, :mod:`labkit.data.knob`) and ``num_images`` held-out first frames
    (:func:`held_out_images`). Any other SVD pipeline (random weights, nothing tied to the knobs): ``fallback_size``
    ``(F, H, W)`` and one Shapes-world first frame. Returns ``{"trained": bool, "size": (F, H, W), "images": [PIL]}``.
    """
    check_args(num_images=num_images)
    if pipe.labkit_note.startswith("shipped"):
        return {"trained": True, "size": (NUM_FRAMES, SIZE, SIZE), "images": held_out_images(num_images)}
    num_frames, height, width = fallback_size
    image = default_condition(pipe, "a red circle moving right", height, width)
    return {"trained": False, "size": (num_frames, height, width), "images": [image]}


#: The knob sweeps of notebook 05 besides ``motion_bucket_id``: the values of each knob, and the other knobs held
#: fixed meanwhile (the tiny SVD saw fps 4-12 and noise_aug_strength 0-0.1 in training).
KNOB_SWEEPS = {
    "fps": ([4, 6, 8, 12], {"motion_bucket_id": 255}),
    "noise_aug_strength": ([0.0, 0.05, 0.1, 0.3], {"fps": 6, "motion_bucket_id": 255}),
    "max_guidance_scale": ([1.0, 2.0, 3.0], {"fps": 6, "motion_bucket_id": 255, "min_guidance_scale": 1.0}),
}


def sweep_knobs(pipe, images, knobs: dict, num_frames: int, height: int, width: int, steps: int,
                seed: int = 0) -> dict[str, list[dict]]:
    """One :func:`labkit.inference.runs.sweep_knob` per ``{knob: values}`` (keys of :data:`KNOB_SWEEPS`), with the
    other knobs held as :data:`KNOB_SWEEPS` says. Returns ``{knob: rows}``; each row has the knob's value, the
    measured ``"motion (px/frame)"`` (mean Farneback flow over ``images``), its ``"stderr"`` and a ``"video"``."""
    check_args(num_frames=num_frames, height=height, width=width, steps=steps, seed=seed)
    unknown = sorted(set(knobs) - set(KNOB_SWEEPS))
    if unknown:
        raise ValueError(f"expected knobs among {sorted(KNOB_SWEEPS)}, got {unknown}")
    return {knob: sweep_knob(pipe, images, knob, values, num_frames, height, width, steps, seed,
                             **KNOB_SWEEPS[knob][1])
            for knob, values in knobs.items()}


def world_truth(knob: str, values) -> list[float]:
    """The knob world's true motion (px per video frame, :func:`labkit.data.knob.expected_motion`) at each value of
    ``motion_bucket_id`` (at fps 6) or ``fps`` (at bucket 255), the settings of the notebook 05 sweeps."""
    if knob == "motion_bucket_id":
        return [expected_motion(v, 6) for v in values]
    if knob == "fps":
        return [expected_motion(255, v) for v in values]
    raise ValueError(f"the knob world ties only motion_bucket_id and fps to motion, got {knob!r}")


def plot_knob_sweeps(sweeps: dict[str, list[dict]], truth: bool = True):
    """One panel per knob: measured motion (px/frame, with standard-error bars) against the knob's value, and with
    ``truth`` the knob world's true motion (:func:`world_truth`) for ``motion_bucket_id`` and ``fps``. Returns the
    figure."""
    fig, axes = plt.subplots(1, len(sweeps), figsize=(3.2 * len(sweeps), 2.8), squeeze=False)
    for ax, (knob, rows) in zip(axes[0], sweeps.items()):
        xs = [r[knob] for r in rows]
        ax.errorbar(xs, [r["motion (px/frame)"] for r in rows], yerr=[r["stderr"] for r in rows], marker="o",
                    label="generated (measured)")
        if truth and knob in ("motion_bucket_id", "fps"):
            ax.plot(xs, world_truth(knob, xs), "k--", label="world truth")
        ax.set_xlabel(knob)
        ax.set_ylabel("motion (px/frame)")
    axes[0][0].legend(fontsize=7)
    return fig
