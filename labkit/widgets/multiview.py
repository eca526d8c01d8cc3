"""Notebook 06's control panels: the reprojection explorer and the generator's elevation/azimuth controls.

Taught in ``06_multiview_generation``. Thin wiring over :func:`labkit.multiview.reprojection_demo` and
:func:`labkit.models.orbit_unet.generate_for_object`; the ``render_*`` functions are pure and the tests call them.
"""

from __future__ import annotations

import html

import ipywidgets as w

from labkit.checks import check_args
from labkit.metrics.quality import psnr
from labkit.models.orbit_unet import generate_for_object
from labkit.multiview import reprojection_demo
from labkit.widgets import control_panel, png_html

__all__ = ["image_row_html", "render_reprojection", "reprojection_panel", "render_generator", "generator_panel"]


def image_row_html(images, titles, width: int = 128) -> str:
    """A row of still images (each ``(3, H, W)`` or ``(H, W)`` in [0, 1]) with captions, upscaled without blur."""
    cells = "".join(
        f'<figure style="margin:4px;display:inline-block">{png_html(im, f"width:{width}px;image-rendering:pixelated")}'
        f'<figcaption style="font-size:12px">{html.escape(t)}</figcaption></figure>'
        for im, t in zip(images, titles))
    return f'<div style="display:flex;flex-wrap:wrap">{cells}</div>'


def render_reprojection(orbit, i: int, j: int) -> str:
    """HTML for warping view ``i`` of a ground-truth ``orbit`` (:class:`labkit.data.orbit.OrbitViews`) into view
    ``j``."""

    r = reprojection_demo(orbit.views, orbit.depth, orbit.cameras, i, j)
    scale = float(r["error"].max()) or 1.0
    row = image_row_html([orbit.views[i], r["warped"], r["mask"].float(), r["error"] / scale, orbit.views[j]],
                         [f"view {i}", f"warped into view {j}", "visibility mask", f"error (max {scale:.3f})",
                          f"view {j} (truth)"])
    az = orbit.azimuths
    angle = f" ({az[j] - az[i]:+.0f} degrees of azimuth)" if az else ""
    return row + (f"<p style='font-size:12px'>{angle.strip()} PSNR over visible pixels {r['psnr']:.1f} dB; "
                  f"{100 * r['visible']:.0f}% of view {j}'s object pixels are visible from view {i}</p>")


def reprojection_panel(orbit):
    """Two sliders (source view, target view) -> warp, mask, error and PSNR."""

    n = orbit.views.shape[0]
    controls = {"i": w.IntSlider(value=0, min=0, max=n - 1, description="from view"),
                "j": w.IntSlider(value=1, min=0, max=n - 1, description="to view")}
    return control_panel(controls, lambda v: render_reprojection(orbit, v["i"], v["j"]))


def render_generator(unet, obj, values: dict, num_views: int = 8, size: int = 32, note: str = "") -> str:
    """HTML for one choice of ``values`` (elevation, azimuth, steps, seed): generated views next to the truth."""

    out = generate_for_object(unet, obj, float(values["elevation"]), float(values["azimuth"]), num_views, size,
                              int(values["steps"]), int(values["seed"]))
    az = [float(values["azimuth"]) + 360.0 * k / num_views for k in range(num_views)]
    banner = f'<p style="color:#a33">{html.escape(note)}</p>' if note else ""
    return (banner + image_row_html([out["input"]], ["input view (azimuth 0)"], 96)
            + image_row_html(list(out["generated"]), [f"generated {a:.0f}°" for a in az], 80)
            + image_row_html(list(out["ground truth"]), [f"truth {a:.0f}°" for a in az], 80)
            + f"<p style='font-size:12px'>PSNR of the generated views against the truth: "
              f"{psnr(out['generated'], out['ground truth']):.1f} dB</p>")


def generator_panel(unet, obj, note: str = "", steps: int = 10, num_views: int = 8, size: int = 32):
    """Elevation and azimuth sliders (plus sampler steps and seed) on the orbit generator for one object."""
    check_args(steps=steps, num_views=num_views, size=size)

    controls = {"elevation": w.FloatSlider(value=20.0, min=5.0, max=35.0, step=5.0, description="elevation"),
                "azimuth": w.FloatSlider(value=0.0, min=0.0, max=45.0, step=5.0, description="azimuth"),
                "steps": w.IntSlider(value=steps, min=1, max=30, description="steps"),
                "seed": w.IntText(value=0, description="seed")}
    rows = [["elevation", "azimuth"], ["steps", "seed"]]
    return control_panel(controls, lambda v: render_generator(unet, obj, v, num_views, size, note), rows)
