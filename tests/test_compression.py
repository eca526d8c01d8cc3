"""Compression arithmetic vs the shapes the real diffusers classes produce (tiny instances and the meta device)."""

import json

import pytest
import torch

from labkit import DATA_DIR
from labkit.compression import (
    attention_matrix_bytes,
    compression_ratio,
    compression_table,
    decoded_frames,
    latent_frames,
    latent_shape,
    latent_tokens,
    latent_values,
    patch_tokens,
    production_configs,
    vae_geometry,
    video_values,
)

CONFIGS = DATA_DIR / "configs" / "vae"


def test_tour_functions_unchanged():
    assert video_values(96, 512, 512) == 96 * 3 * 512 * 512
    assert patch_tokens(17, 64, 64, (1, 2, 2)) == 17 * 32 * 32
    assert attention_matrix_bytes(10, heads=2) == 2 * 100 * 2


def test_cogvideox_headline_numbers():
    cfg = production_configs()["cogvideox-vae"]
    assert latent_shape(cfg, 49, 480, 720) == (13, 16, 60, 90)
    assert latent_values(cfg, 49, 480, 720) == 13 * 16 * 60 * 90
    assert compression_ratio(cfg, 49, 480, 720) == pytest.approx(49 * 3 * 480 * 720 / (13 * 16 * 60 * 90))
    assert latent_tokens(cfg, 49, 480, 720, (1, 2, 2)) == 13 * 30 * 45
    assert decoded_frames(cfg, 13) == 49 and decoded_frames(cfg, 2) == 8 and decoded_frames(cfg, 1) == 1


def test_sd_vae_ratio_is_48_per_frame():
    cfg = production_configs()["sd-vae"]
    assert vae_geometry(cfg).spatial == 8 and vae_geometry(cfg).temporal == 1
    assert compression_ratio(cfg, 25, 576, 1024) == pytest.approx(48.0)
    assert latent_shape(CONFIGS / "svd-temporal-vae.json", 25, 576, 1024) == (25, 4, 72, 128)


def test_shipped_configs_build_on_meta_device_with_published_sizes():
    from diffusers import AutoencoderKL, AutoencoderKLCogVideoX, AutoencoderKLTemporalDecoder

    classes = {c.__name__: c for c in (AutoencoderKL, AutoencoderKLCogVideoX, AutoencoderKLTemporalDecoder)}
    expected_millions = {"sd-vae": 83.65, "svd-temporal-vae": 97.74, "cogvideox-vae": 215.58}
    for name, cfg in production_configs().items():
        with torch.device("meta"):
            vae = classes[cfg["_class_name"]].from_config(cfg)
        assert sum(p.numel() for p in vae.parameters()) / 1e6 == pytest.approx(expected_millions[name], abs=0.01)
        assert vae_geometry(vae) == vae_geometry(cfg)


def test_cogvideox_real_config_shapes_on_meta_device():
    """Run the real CogVideoX encoder on the meta device: no memory, real shape logic (frame batching included)."""
    from diffusers import AutoencoderKLCogVideoX

    cfg = json.loads((CONFIGS / "cogvideox-vae.json").read_text())
    with torch.device("meta"):
        vae = AutoencoderKLCogVideoX.from_config(cfg)
        z = vae.encode(torch.empty(1, 3, 9, 64, 96)).latent_dist.mode()
    f, c, h, w = latent_shape(cfg, 9, 64, 96)
    assert tuple(z.shape) == (1, c, f, h, w)


@pytest.mark.parametrize("num_frames", [1, 5, 9, 13, 17])
def test_tiny_3d_vae_matches_arithmetic(num_frames):
    from labkit.models.vae import tiny_vae_3d

    vae = tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8))
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, num_frames, 32, 16)).latent_dist.mode()
        x = vae.decode(z).sample
    f, c, h, w = latent_shape(vae, num_frames, 32, 16)
    assert tuple(z.shape) == (1, c, f, h, w)
    assert x.shape[2] == decoded_frames(vae, f)  # 5 frames -> 2 latents -> 8 frames: diffusers' batching
    assert (x.shape[2] == num_frames) == ((num_frames - 1) % 8 == 0)


def test_tiny_2d_vae_matches_arithmetic():
    from labkit.models.vae import tiny_vae_2d

    vae = tiny_vae_2d(latent_channels=3, block_out_channels=(8, 8, 8, 8))
    with torch.no_grad():
        z = vae.encode(torch.zeros(6, 3, 32, 48)).latent_dist.mode()
    assert latent_shape(vae, 6, 32, 48) == (z.shape[0], z.shape[1], z.shape[2], z.shape[3])


def test_bad_inputs_raise_clear_errors():
    cfg = production_configs()["cogvideox-vae"]
    with pytest.raises(ValueError, match=r"4k\+1.*got 48.*use 45 or 49"):
        latent_frames(cfg, 48)
    with pytest.raises(ValueError, match="width: expected a multiple of 8"):
        latent_shape(cfg, 49, 480, 721)
    with pytest.raises(ValueError, match="AutoencoderKL"):
        vae_geometry({"_class_name": "UNet2DModel"})
    with pytest.raises(TypeError, match="expected a diffusers VAE"):
        vae_geometry(42)
    with pytest.raises(ValueError, match=r"num_frames: expected an integer >= 1, got 0"):
        latent_shape(cfg, 0, 480, 720)


def test_compression_table_rows():
    rows = compression_table(production_configs(), 49, 480, 720)
    assert rows[0]["ratio"] == 1.0 and rows[0]["values"] == video_values(49, 480, 720)
    by_name = {r["vae"]: r for r in rows}
    assert by_name["cogvideox-vae"]["tokens"] == 13 * 30 * 45 and by_name["sd-vae"]["tokens"] == 49 * 30 * 45
