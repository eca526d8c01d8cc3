
"""Control panel of ``05_svd_cogvideox_inference``: pick a memory plan, run it, see time, memory and the video.

Taught in ``05_svd_cogvideox_inference``. Thin wiring over :func:`labkit.inference.measure` and
:func:`labkit.inference.predict_for`; the result is shown in an ``ipywidgets.HTML`` so a headless test can read
``.value``.
"""

from __future__ import annotations

import html

import ipywidgets as w

from labkit import inference
from labkit.checks import check_args
from labkit.video import video_html

__all__ = ["plan_panel", "describe_measurement"]


def describe_measurement(m, predicted_bytes: int | None = None) -> str:
    """One line of HTML for a :class:`labkit.inference.Measurement` (a skipped plan says why)."""
    if m.skipped:
        return f"<b>{html.escape(m.plan)}</b>: skipped - {html.escape(m.skipped)}"
    pred = f", planner {predicted_bytes / 2**20:.1f} MiB" if predicted_bytes is not None else ""
    rss = f", RSS +{m.rss_bytes / 2**20:.1f} MiB" if m.rss_bytes else ""
    return (f"<b>{html.escape(m.plan)}</b>: {m.wall_s:.2f} s wall, {m.mean_step_s:.3f} s/step, "
            f"{m.peak_bytes / 2**20:.1f} MiB ({html.escape(m.memory_kind)}){pred}{rss}")


def plan_panel(spec: str = "random:tiny-cogvideox", device: str = "cpu", num_frames: int = 9, height: int = 32,
               width: int = 32, steps: int = 2):
    """A dropdown of plans and a Run button; each run loads a fresh pipeline from ``spec`` and measures it."""
    check_args(num_frames=num_frames, height=height, width=width, steps=steps)

    plan = w.Dropdown(options=list(inference.PLANS), value="none", description="plan")
    run = w.Button(description="Run")
    out = w.HTML("<i>choose a plan and press Run</i>")

    def on_run(_=None):
        pipe = inference.load_pipeline(spec, device)
        cond = inference.default_condition(pipe, height=height, width=width)
        m = inference.measure(pipe, cond, plan.value, device, num_frames, height, width, steps)
        pred = None if m.skipped else inference.predict_for(pipe, plan.value, num_frames, height, width, device)
        video = "" if m.skipped else inference_video_html(m.video[0])
        out.value = describe_measurement(m, pred["peak"] if pred else None) + video

    run.on_click(on_run)
    box = w.VBox([w.HBox([plan, run]), out])
    box.run = on_run  # for tests and notebooks: panel.run() presses the button
    return box


def inference_video_html(video) -> str:

    return "<br>" + video_html(video, fps=8, width=128, title="random weights: noise" if video is not None else None)
