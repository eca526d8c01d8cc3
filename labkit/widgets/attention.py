"""Control panels of ``02_temporal_attention``: the attention cost calculator and the attention-map explorer.

Pure functions compute (:func:`cost_html`, :func:`query_attention_html`); the panels only wire controls to them, so
tests drive them headlessly (``panel.controls["frames"].value = 49``) and read ``panel.view.value``.
"""

from __future__ import annotations

import html

import ipywidgets as w
import matplotlib
import matplotlib.pyplot as plt
import torch

from labkit.attention import PRODUCTION_PRESETS, cost_table
from labkit.attention_maps import query_frame_attention
from labkit.widgets import control_panel, png_html

__all__ = ["cost_html", "cost_panel", "query_attention_html", "attention_map_panel"]


def _bytes(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def cost_html(num_frames: int, height: int, width: int, heads: int, head_dim: int, bytes_per_value: int = 2) -> str:
    """An HTML table: per variant (spatial, temporal, factorised, joint) the tokens per sequence, the FLOPs of one
    attention layer and the memory of its attention matrix (fp16 by default) on a ``F x H x W`` token grid."""
    rows = cost_table(num_frames, height, width, heads, head_dim, bytes_per_value)
    joint = rows[-1]["GFLOPs"]
    body = "".join(
        f"<tr><td>{r['variant']}</td><td>{r['tokens/seq']:,}</td><td>{r['sequences']:,}</td>"
        f"<td>{r['GFLOPs']:,.2f}</td><td>{joint / r['GFLOPs']:,.1f}x</td>"
        f"<td>{_bytes(r['attn matrix GiB'] * 2**30)}</td></tr>" for r in rows)
    head = ("<tr><th>variant</th><th>tokens / sequence</th><th>sequences</th><th>GFLOPs / layer</th>"
            "<th>joint / this</th><th>attention matrix</th></tr>")
    grid = f"{num_frames} x {height} x {width} = {num_frames * height * width:,} tokens, {heads} heads x {head_dim}"
    return f"<div><b>{html.escape(grid)}</b><table>{head}{body}</table></div>"


def cost_panel(preset: str = "CogVideoX-5B 49x480x720"):
    """Sliders for frames, token-grid height and width, heads, head dim, and a dropdown of production presets
    (:data:`labkit.attention.PRODUCTION_PRESETS`) -> the :func:`cost_html` table. Returns an ``ipywidgets.VBox``
    with ``.controls`` and ``.view``."""

    if preset not in PRODUCTION_PRESETS:
        raise ValueError(f"expected preset in {list(PRODUCTION_PRESETS)}, got {preset!r}")
    p = PRODUCTION_PRESETS[preset]
    controls = {
        "preset": w.Dropdown(options=list(PRODUCTION_PRESETS), value=preset, description="preset"),
        "frames": w.IntSlider(value=p["num_frames"], min=1, max=128, description="frames (tokens)"),
        "height": w.IntSlider(value=p["height"], min=1, max=160, description="height"),
        "width": w.IntSlider(value=p["width"], min=1, max=160, description="width"),
        "heads": w.IntSlider(value=p["heads"], min=1, max=64, description="heads"),
        "head_dim": w.IntSlider(value=p["head_dim"], min=8, max=256, step=8, description="head dim"),
    }
    view = w.HTML()

    def update(_change=None) -> None:
        c = {k: v.value for k, v in controls.items()}
        view.value = cost_html(c["frames"], c["height"], c["width"], c["heads"], c["head_dim"])

    def load_preset(change) -> None:
        values = PRODUCTION_PRESETS[change["new"]]
        for name, key in (("frames", "num_frames"), ("height", "height"), ("width", "width"), ("heads", "heads"),
                          ("head_dim", "head_dim")):
            controls[name].value = values[key]
        update()

    controls["preset"].observe(load_preset, names="value")
    for name, control in controls.items():
        if name != "preset":
            control.observe(update, names="value")
    update()
    panel = w.VBox([controls["preset"], w.HBox([controls["frames"], controls["height"], controls["width"]]),
                    w.HBox([controls["heads"], controls["head_dim"]]), view])
    panel.controls, panel.view = controls, view
    return panel


def query_attention_html(maps: torch.Tensor, video: torch.Tensor, frame: int, y: int, x: int) -> str:
    """One query pixel ``(y, x)`` of ``frame`` (in map coordinates) and its attention over the key frames.

    ``maps``: temporal maps ``(B, heads, F, F, h, w)`` (:func:`labkit.attention_maps.temporal_maps`) of a clip
    ``video`` ``(F, 3, H, W)``. Draws the frames with the query marked and the weights as bars; returns HTML."""

    matplotlib.use("Agg", force=False)

    weights = query_frame_attention(maps, frame, y, x)
    num_frames, scale = video.shape[0], video.shape[-1] / maps.shape[-1]
    fig, axes = plt.subplots(2, num_frames, figsize=(1.1 * num_frames, 2.4),
                             gridspec_kw={"height_ratios": [1, 0.8]}, squeeze=False)
    for f in range(num_frames):
        axes[0, f].imshow(video[f].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        axes[0, f].set_axis_off()
        if f == frame:
            axes[0, f].plot([(x + 0.5) * scale - 0.5], [(y + 0.5) * scale - 0.5], "w+", markersize=10, mew=2)
        axes[1, f].bar([0], [float(weights[f])], color="C1" if f == frame else "C0")
        axes[1, f].set_ylim(0, 1)
        axes[1, f].set_xticks([])
        axes[1, f].set_xlabel(f"f={f}\n{float(weights[f]):.2f}", fontsize=7)
        if f:
            axes[1, f].set_yticks([])
    fig.suptitle(f"query: frame {frame}, pixel (y={y}, x={x}) -> attention over key frames", fontsize=9)
    picture = png_html(fig, dpi=90, tight=True)
    plt.close(fig)
    return picture


def attention_map_panel(maps: torch.Tensor, video: torch.Tensor):
    """Sliders for the query frame and pixel -> :func:`query_attention_html`. Returns an ``ipywidgets.VBox``."""

    if maps.ndim != 6:
        raise ValueError(f"expected temporal maps (B, heads, F, F, h, w), got shape {tuple(maps.shape)}")
    _, _, f, _, h, wd = maps.shape
    controls = {"frame": w.IntSlider(value=f // 2, min=0, max=f - 1, description="query frame"),
                "y": w.IntSlider(value=h // 2, min=0, max=h - 1, description="query y"),
                "x": w.IntSlider(value=wd // 2, min=0, max=wd - 1, description="query x")}
    return control_panel(controls, lambda values: query_attention_html(maps, video, **values))
