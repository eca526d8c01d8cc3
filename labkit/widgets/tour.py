"""The tour's caption composer: pick colour, shape, direction, speed and seed -> the Shapes-world clip.

Taught in ``00_tour``. The pure function :func:`caption_clip_html` does the work; the widget only wires
dropdowns to it, so tests drive it headlessly (``panel.controls["color"].value = "blue"``).
"""

from __future__ import annotations

import ipywidgets as w

from labkit.checks import check_args
from labkit.data.shapes import compose_caption, make_clip
from labkit.video import video_html
from labkit.widgets import caption_controls, control_panel

__all__ = ["caption_clip_html", "caption_composer"]


def caption_clip_html(color: str, shape: str, direction: str, speed: str = "normal", seed: int = 0,
                      num_frames: int = 17, size: int = 64, width: int = 256) -> tuple[str, str]:
    """Render the clip of a composed caption; returns ``(caption, html)`` with an inline video."""
    check_args(seed=seed, num_frames=num_frames, size=size, width=width)
    caption = compose_caption(color, shape, direction, speed)
    clip = make_clip(caption, seed=seed, num_frames=num_frames, size=size)
    return caption, video_html(clip.video, fps=8, width=width, title=caption)


def caption_composer(seed: int = 0, num_frames: int = 17, size: int = 64):
    """A panel of dropdowns and a seed slider that re-renders the clip on every change.

    Returns an ``ipywidgets.VBox`` with ``.controls`` (name -> widget) and ``.view`` (the ``HTML`` showing
    the clip).
    """
    check_args(seed=seed, num_frames=num_frames, size=size)

    controls = {
        **caption_controls(),
        "seed": w.IntSlider(value=seed, min=0, max=99, description="seed"),
    }

    def render(values: dict) -> str:
        return caption_clip_html(**values, num_frames=num_frames, size=size)[1]

    return control_panel(controls, render, rows=[["color", "shape", "direction"], ["speed", "seed"]])
