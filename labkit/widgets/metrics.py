"""Notebook 07's control panel: pick a corruption and its strength, see the corrupted clip and every metric live.

Taught in ``07_metric_evaluation``. :func:`corruption_metrics` computes (the tests call it directly); the panel only
wires a dropdown and sliders to it and shows the result in an ``ipywidgets.HTML`` (``panel.view.value``).
"""

from __future__ import annotations

import html

import ipywidgets as w

from labkit.data.shapes import ShapesWorld
from labkit.metrics.bias import METRICS, clip_metrics
from labkit.metrics.corruptions import CORRUPTIONS, corrupt
from labkit.video import video_html
from labkit.widgets import control_panel

__all__ = ["corruption_metrics", "corruption_html", "corruption_lab"]


def corruption_metrics(kind: str, strength: float, index: int = 0, seed: int = 0, embed=None):
    """Corrupt test clip ``index`` with ``kind`` at ``strength``; returns ``(clean, corrupted, caption, metrics)``,
    the metrics of the corrupted clip measured against the clean one and its caption."""
    clip = ShapesWorld("test", length=index + 1, two_objects=0.0)[index]
    bad = corrupt(clip.video, kind, strength, seed=seed)
    return clip.video, bad, clip.caption, clip_metrics(bad, clip.video, clip.caption, embed)


def _table(metrics: dict) -> str:
    arrows = {1: "higher is better", -1: "lower is better", 0: "amount of motion"}
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{v:.4g}</td>"
                   f"<td style='color:#777'>{arrows[METRICS[k][0]]}</td></tr>" for k, v in metrics.items())
    return f"<table style='font-size:12px'>{rows}</table>"


def corruption_html(kind: str, strength: float, index: int = 0, seed: int = 0, embed=None) -> str:
    """The panel's view: clean and corrupted clips side by side and the metric table (self-contained HTML)."""
    clean, bad, caption, metrics = corruption_metrics(kind, strength, index, seed, embed)
    videos = (video_html(clean, width=192, title=f"clean: {caption}")
              + video_html(bad, width=192, title=f"{kind} at strength {strength:.2f}"))
    return f"<div style='display:flex;gap:12px;align-items:flex-start'>{videos}{_table(metrics)}</div>"


def corruption_lab(index: int = 0, embed=None):
    """A dropdown of corruptions, a strength slider and a clip slider; re-measures on every change.

    Returns an ``ipywidgets.VBox`` with ``.controls`` (name -> widget) and ``.view`` (the ``HTML``).
    """

    controls = {
        "kind": w.Dropdown(options=sorted(CORRUPTIONS), value="shuffle", description="corruption"),
        "strength": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="strength",
                                  continuous_update=False),
        "index": w.IntSlider(value=index, min=0, max=83, description="test clip", continuous_update=False),
    }
    return control_panel(controls, lambda values: corruption_html(**values, embed=embed))
