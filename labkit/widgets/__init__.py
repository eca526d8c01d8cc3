"""Control panels for the lessons: one module per lesson, thin wiring over pure ``labkit`` functions.

A widget never computes anything itself: it calls a pure function (which the tests call directly) and shows
the result. Videos are shown in an ``ipywidgets.HTML`` so a headless test can read ``.value``.
"""

import io
from collections.abc import Callable

import ipywidgets as w
import numpy as np
from PIL import Image

from labkit.data.shapes import COLORS, DIRECTIONS, SHAPES, SPEEDS
from labkit.video import data_uri

__all__ = ["control_panel", "caption_controls", "png_html"]


def control_panel(controls: dict, render: Callable[[dict], str], rows: list[list[str]] | None = None):
    """Wire ``controls`` (name -> ipywidget) to ``render(values) -> html`` shown in an ``ipywidgets.HTML``.

    Re-renders on every change. ``rows`` groups control names into lines (default: one line). Returns a
    ``VBox`` with ``.controls`` and ``.view`` so tests can set values and read the HTML headlessly.
    """

    view = w.HTML()

    def update(_change=None) -> None:
        view.value = render({name: c.value for name, c in controls.items()})

    for control in controls.values():
        control.observe(update, names="value")
    update()
    lines = rows or [list(controls)]
    panel = w.VBox([*(w.HBox([controls[name] for name in line]) for line in lines), view])
    panel.controls, panel.view = controls, view
    return panel


def caption_controls() -> dict:
    """Dropdowns for a Shapes-world caption, ``{"color", "shape", "direction", "speed"}`` (speed ``"normal"``
    adds no word), the first controls of every caption panel (notebooks 00 and 04)."""
    return {"color": w.Dropdown(options=list(COLORS), value="red", description="colour"),
            "shape": w.Dropdown(options=list(SHAPES), value="circle", description="shape"),
            "direction": w.Dropdown(options=list(DIRECTIONS), value="right", description="direction"),
            "speed": w.Dropdown(options=list(SPEEDS), value="normal", description="speed")}


def png_html(picture, style: str | None = None, dpi: int = 72, tight: bool = False,
             compress_level: int | None = None) -> str:
    """A still picture as a self-contained ``<img>`` (a base64 PNG, :func:`labkit.video.data_uri`) with an optional
    inline ``style``: the one PNG encoder of the control panels.

    ``picture``: a matplotlib figure (saved at ``dpi``; ``tight`` crops it to what is drawn), an RGB(A) ``uint8``
    array ``(H, W, C)`` (``compress_level`` 1 trades size for speed), or a tensor ``(3, H, W)`` / ``(H, W)`` in
    [0, 1].
    """
    buffer = io.BytesIO()
    if hasattr(picture, "savefig"):
        picture.savefig(buffer, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    else:
        if hasattr(picture, "detach"):  # a tensor in [0, 1] -> uint8 (H, W, 3)
            array = picture.detach().clamp(0, 1).cpu().numpy()
            array = np.repeat(array[None], 3, 0) if array.ndim == 2 else array
            picture = (array.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # c h w -> h w c
        options = {} if compress_level is None else {"compress_level": compress_level}
        Image.fromarray(picture).save(buffer, format="PNG", **options)
    src = data_uri(buffer.getvalue(), "image/png")
    return f'<img src="{src}" style="{style}">' if style else f'<img src="{src}">'
