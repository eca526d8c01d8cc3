"""Notebook 03's control panels: the schedule explorer and the noise-correlation explorer.

Taught in ``03_noise_schedules``. The pure functions :func:`labkit.schedules.schedule_curves` and
:func:`labkit.noise.correlation_demo` compute; this module only draws with matplotlib (one figure kept per panel,
lines updated in place) and :func:`labkit.widgets.control_panel` shows the PNG in an ``ipywidgets.HTML``, so
tests drive it headlessly (``panel.controls["shift"].value = 3.0``) and read ``panel.view.value``. ``panel.timings_ms`` keeps how long
each update took (compute, draw) for ``benchmarks/schedule_explorer.py``.
"""

from __future__ import annotations

import time

import ipywidgets as w
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labkit.checks import check_args
from labkit.noise import NOISE_KINDS, correlation_demo, covariance_standard_error
from labkit.profiling import torch_threads
from labkit.schedules import CURVE_SCHEDULES, schedule_curves
from labkit.widgets import control_panel, png_html

__all__ = ["schedule_explorer", "ScheduleCurvesPlot", "noise_correlation_explorer"]


class ScheduleCurvesPlot:
    """Two panels, alpha-bar and log-SNR against ``t/T``: a grey reference (no shift, no zero-SNR) and the
    chosen curve. Axes, ticks and labels are drawn once; each :meth:`update` only restores that background and
    redraws the lines and title (matplotlib "blitting"), which keeps an update within the 50 ms budget."""

    def __init__(self, num_train_timesteps: int = 1000, dpi: int = 72):

        self.n = num_train_timesteps
        self.fig = Figure(figsize=(8, 3), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.axes = self.fig.subplots(1, 2)
        self.ref, self.cur = [], []
        for ax, ylabel in zip(self.axes, ("alpha-bar (signal variance kept)", "log-SNR (nats)"), strict=True):
            self.ref.append(ax.plot([], [], color="0.7", lw=1.5, label="reference (shift 1, no zero-SNR)")[0])
            self.cur.append(ax.plot([], [], color="C0", lw=2, label="chosen")[0])
            ax.set(xlabel="t / T", ylabel=ylabel, xlim=(0, 1))
            ax.grid(alpha=0.3)
        self.axes[0].set_ylim(-0.02, 1.02)
        self.axes[1].set_ylim(-16, 12)
        self.axes[0].legend(fontsize=7, loc="upper right")
        self.title = self.fig.suptitle(" ", fontsize=9)
        self.fig.tight_layout()
        self.dynamic = [*self.ref, *self.cur, self.title]
        for artist in self.dynamic:
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def update(self, name: str, shift: float, zero_snr: bool) -> dict:
        """Recompute both curves and redraw; returns ``{"html", "compute_ms", "draw_ms", "terminal_snr"}``."""
        start = time.perf_counter()
        with torch_threads(1):  # tiny tensors: waking a 2nd thread cost ~20 ms (measured), over the budget
            ref = schedule_curves(name, 1.0, False, self.n)
            cur = schedule_curves(name, shift, zero_snr, self.n)
        mid = time.perf_counter()
        for lines, curves in ((self.ref, ref), (self.cur, cur)):
            lines[0].set_data(curves["t"].numpy(), curves["alphas_cumprod"].numpy())
            lines[1].set_data(curves["t"].numpy(), curves["log_snr"].clamp(min=-1e3).numpy())
        self.title.set_text(f"{name}, shift {shift:g}{', zero terminal SNR' if zero_snr else ''}")
        self.canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        html = png_html(np.asarray(self.canvas.buffer_rgba()), compress_level=1)  # fast PNG
        end = time.perf_counter()
        return {"html": html, "compute_ms": 1e3 * (mid - start), "draw_ms": 1e3 * (end - mid),
                "terminal_snr": float(cur["alphas_cumprod"][-1] / (1 - cur["alphas_cumprod"][-1]))}


def schedule_explorer(name: str = "scaled_linear", num_train_timesteps: int = 1000):
    """Schedule dropdown, shift slider and zero-SNR toggle -> alpha-bar and log-SNR curves update.

    Built on :func:`labkit.widgets.control_panel`: returns its ``VBox`` (``.controls``, ``.view`` = the ``HTML``
    with a line on the terminal SNR and the plot), plus ``.timings_ms`` (one ``(compute, draw)`` pair per update)
    and ``.plot`` (the :class:`ScheduleCurvesPlot`).
    """
    check_args(num_train_timesteps=num_train_timesteps)

    plot = ScheduleCurvesPlot(num_train_timesteps)
    timings: list[tuple[float, float]] = []
    controls = {
        "name": w.Dropdown(options=list(CURVE_SCHEDULES), value=name, description="schedule"),
        "shift": w.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.25, description="shift"),
        "zero_snr": w.Checkbox(value=False, description="zero terminal SNR"),
    }

    def render(values: dict) -> str:
        out = plot.update(values["name"], values["shift"], values["zero_snr"])
        timings.append((out["compute_ms"], out["draw_ms"]))
        return (f"<div>terminal SNR = {out['terminal_snr']:.3g} (0 means the last step is pure noise); "
                f"update {out['compute_ms'] + out['draw_ms']:.1f} ms</div>{out['html']}")

    panel = control_panel(controls, render)
    panel.timings_ms, panel.plot = timings, plot
    return panel


def _correlation_figure(demo: dict, alpha: float, kind: str):

    frames = demo["frames"]
    num = min(len(frames), 6)
    fig = Figure(figsize=(1.3 * num + 5.5, 2.2))
    grid = fig.add_gridspec(1, num + 2, width_ratios=[1] * num + [2.2, 2.2])
    for i in range(num):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[i].numpy(), cmap="gray", vmin=-2.5, vmax=2.5, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"frame {i}", fontsize=7)
    for j, key in enumerate(("theory", "measured")):
        ax = fig.add_subplot(grid[0, num + j])
        ax.imshow(demo[key].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{key} correlation", fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{kind} noise, alpha = {alpha:g}", fontsize=9)
    fig.tight_layout()
    return fig


def noise_correlation_explorer(alpha: float = 1.0, kind: str = "mixed", num_frames: int = 8, size: int = 32,
                               draws: int = 8):
    """Alpha slider and kind dropdown -> a noise clip's frames and its frame-correlation matrix (theory and
    measured), with the largest gap between them in standard errors. Built on
    :func:`labkit.widgets.control_panel` (``.controls``, ``.view``)."""
    check_args(alpha=alpha, num_frames=num_frames, size=size, draws=draws)

    controls = {
        "alpha": w.FloatSlider(value=alpha, min=0.0, max=4.0, step=0.1, description="alpha"),
        "kind": w.Dropdown(options=list(NOISE_KINDS), value=kind, description="kind"),
    }

    def render(values: dict) -> str:
        a, k = values["alpha"], values["kind"]
        demo = correlation_demo(a, k, num_frames, size, draws)
        se = covariance_standard_error(demo["theory"], int(demo["num_samples"]))
        gap = ((demo["measured"] - demo["theory"]) / se).abs().max()
        lag1 = demo["theory"][0, 1] if num_frames > 1 else 1.0
        return (f"<div>theory: correlation of neighbouring frames {float(lag1):.3f}; measured within "
                f"{float(gap):.1f} standard errors of theory ({int(demo['num_samples'])} samples per frame)</div>"
                + png_html(_correlation_figure(demo, a, k)))

    return control_panel(controls, render)
