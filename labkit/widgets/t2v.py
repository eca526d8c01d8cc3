"""Notebook 04's control panel: prompt words + guidance + steps + seed -> a generated clip and its adherence.

Taught in ``04_train_tiny_video_model``. Thin wiring over :func:`labkit.data.compose_caption`,
:func:`labkit.models.cogvideox.generate` and
:func:`labkit.metrics.prompt_adherence`; ``render`` is a pure function the tests call directly.
"""

from __future__ import annotations

import html

import ipywidgets as w

from labkit.checks import check_args
from labkit.data.shapes import compose_caption
from labkit.metrics import prompt_adherence
from labkit.models.cogvideox import generate
from labkit.video import video_html
from labkit.widgets import caption_controls, control_panel

__all__ = ["render", "t2v_panel"]


def render(pipe, values: dict, note: str = "") -> str:
    """HTML for one choice of ``values`` (color, shape, direction, speed, guidance, steps, seed)."""

    caption = compose_caption(values["color"], values["shape"], values["direction"], values["speed"])
    video = generate(pipe, caption, seed=int(values["seed"]), steps=int(values["steps"]),
                     guidance_scale=float(values["guidance"]))
    obj = prompt_adherence(video, caption)["objects"][0]
    detected = obj["detected"] or {}
    checks = ", ".join(f"{a}: {'ok' if obj[a] else 'no'} ({detected.get(a, '-')})"
                       for a in ("color", "shape", "direction", "speed"))
    banner = f'<p style="color:#a33">{html.escape(note)}</p>' if note else ""
    return (banner + video_html(video, width=192, title=caption)
            + f"<p style='font-size:12px'>measured adherence -- {html.escape(checks)}</p>")


def t2v_panel(pipe, note: str = "", steps: int = 25, guidance: float = 4.0):
    """Dropdowns for the caption words, sliders for guidance scale and steps, a seed box -> video + adherence.

    ``note`` is shown above every video (e.g. which model it is and how long it was trained).
    """
    check_args(steps=steps, guidance=guidance)

    controls = {
        **caption_controls(),
        "guidance": w.FloatSlider(value=guidance, min=1.0, max=10.0, step=0.5, description="guidance"),
        "steps": w.IntSlider(value=steps, min=1, max=50, description="steps"),
        "seed": w.IntText(value=0, description="seed"),
    }
    rows = [["color", "shape"], ["direction", "speed"], ["guidance", "steps", "seed"]]
    return control_panel(controls, lambda values: render(pipe, values, note), rows)
