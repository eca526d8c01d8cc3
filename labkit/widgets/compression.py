"""The latent-compression panel: choose a held-out clip, a VAE and a decode chunk size -> reconstruction,
error heat map, metrics and decode cost.

Taught in ``01_latent_compression``. :func:`labkit.evaluation.vae.reconstruction_view` computes; the panel only wires
controls to it (tests drive it headlessly: ``panel.controls["vae"].value = "3D VAE"``; ``panel.view.value``).
"""

from __future__ import annotations

import html

import ipywidgets as w

from labkit.evaluation.vae import reconstruction_view
from labkit.video import video_html
from labkit.widgets import control_panel

__all__ = ["CHUNK_OPTIONS", "view_html", "compression_panel"]

#: Decode chunk sizes offered: ``None`` is each VAE's default (2D: all frames at once; 3D: diffusers' 2 latent
#: frames per pass). Only even values: the 3D VAE refuses odd ones.
CHUNK_OPTIONS = (("default", None), ("2", 2), ("4", 4), ("8", 8))


def view_html(vae, clip, decode_chunk_size: int | None = None, width: int = 160) -> str:
    """HTML with source, reconstruction and error videos side by side, and a line of numbers."""
    view = reconstruction_view(vae, clip, decode_chunk_size)
    m = view["metrics"]
    videos = "".join(video_html(v, width=width, title=t) for v, t in
                     ((clip, "source"), (view["recon"], "reconstruction"), (view["error"], "|error| x 4")))
    numbers = (f"PSNR {m['PSNR (dB)']:.2f} dB, SSIM {m['SSIM']:.3f}, temporal error {m['temporal error']:.4f}; "
               f"decode {view['seconds'] * 1000:.0f} ms, peak {view['peak MiB']:.1f} MiB")
    return f'<div style="display:flex;flex-wrap:wrap">{videos}</div><p>{html.escape(numbers)}</p>'


def compression_panel(vaes: dict, clips):
    """Dropdowns (clip, VAE, decode chunk size) over ``vaes`` (name -> VAE) and ``clips`` ``(N, F, 3, H, W)``.

    Returns an ``ipywidgets.VBox`` with ``.controls`` (name -> widget) and ``.view`` (an ``HTML``).
    """

    controls = {
        "clip": w.Dropdown(options=list(range(len(clips))), value=0, description="clip"),
        "vae": w.Dropdown(options=list(vaes), value=next(iter(vaes)), description="VAE"),
        "chunk": w.Dropdown(options=list(CHUNK_OPTIONS), value=None, description="decode chunk"),
    }
    return control_panel(controls, lambda v: view_html(vaes[v["vae"]], clips[v["clip"]], v["chunk"]))
