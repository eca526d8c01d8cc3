"""labkit.widgets.compression: the latent-compression panel, driven headlessly on tiny random-weight VAEs."""

import torch

from labkit.evaluation.vae import reconstruction_view
from labkit.models.vae import tiny_vae_2d, tiny_vae_3d
from labkit.widgets.compression import compression_panel


def test_panel_updates_with_controls():
    vaes = {"2D": tiny_vae_2d(latent_channels=4, block_out_channels=(8, 8, 8, 8)),
            "3D": tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8))}
    clips = torch.rand(2, 9, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    panel = compression_panel(vaes, clips)
    first = panel.view.value
    assert "PSNR" in first and first.count("labkit-video") == 3
    panel.controls["vae"].value = "3D"
    assert panel.view.value != first
    panel.controls["chunk"].value = 4
    expected = reconstruction_view(vaes["3D"], clips[0], 4)["metrics"]["PSNR (dB)"]
    assert f"PSNR {expected:.2f} dB" in panel.view.value
