"""labkit.evaluation.vae: the temporal error and its heatmap, latent windows around objects, the code-consistency
loss on latents of known answer, and the shipped course 3D VAE's reconstruction bar on held-out clips."""

import pytest
import torch

from labkit.evaluation.vae import (
    code_consistency_loss,
    error_video,
    heldout_clips,
    latent_grid,
    object_windows,
    reconstruction_report,
    temporal_error,
)
from labkit.models.vae import COURSE_VAES, encode, load_vae, tiny_vae_3d


def clip(num_frames=9, size=32, batch=2, seed=0):
    """Random videos ``(batch, F, 3, size, size)`` in [0, 1]."""
    return torch.rand(batch, num_frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_temporal_error_and_heatmap():
    src = clip(batch=1)[0]
    assert temporal_error(src + 0.0, src) == 0.0
    assert temporal_error(src + 0.1, src) == pytest.approx(0.0, abs=1e-6)  # a constant offset does not flicker
    jitter = src + 0.1 * (torch.arange(9) % 2).view(9, 1, 1, 1)  # every other frame brighter
    assert temporal_error(jitter, src) == pytest.approx(0.1, abs=1e-5)
    heat = error_video(jitter, src)
    assert heat.shape == (9, 3, 32, 32) and heat[0].max() == 0
    # error 0.1 x gain 4 = 0.4 of the way to white: red 3 x 0.4 -> 1 (clamped), green 3 x 0.4 - 1 = 0.2, blue 0
    torch.testing.assert_close(heat[1], torch.tensor([1.0, 0.2, 0.0]).view(3, 1, 1).expand(3, 32, 32))
    grid = latent_grid(torch.randn(5, 4, 8, 8))
    assert grid.shape == (5, 1, 8, 32) and grid.min() >= 0 and grid.max() <= 1


@pytest.mark.slow
def test_shipped_3d_vae_meets_the_bar_on_heldout_clips():
    """The course 3D VAE's bar: held-out PSNR >= 30 dB and SSIM >= 0.93 on 17x64x64 test-split clips."""

    row = reconstruction_report({"3d": load_vae(COURSE_VAES["3d"])}, heldout_clips(8))[0]
    assert row["PSNR (dB)"] >= 30 and row["SSIM"] >= 0.93, row


@pytest.mark.slow
def test_course_3d_vae_beats_the_first_one_and_meets_the_ssim_bar():
    """The course 3D VAE reconstructs the same held-out clips at least 5 dB better than vae-3d."""

    new, old = reconstruction_report({"new": load_vae(COURSE_VAES["3d"]), "old": load_vae("vae-3d")}, heldout_clips(8))
    assert new["SSIM"] >= 0.93 and new["PSNR (dB)"] >= old["PSNR (dB)"] + 5, (new, old)


def test_course_3d_vae_latents_are_standardised_on_heldout_clips():
    """The diffusion-facing latent (scaled, as the pipelines see it) has every channel near zero mean and unit std
    on clips it never saw."""

    z = encode(load_vae(COURSE_VAES["3d"]), heldout_clips(8)).transpose(0, 2).flatten(1)  # (C, values)
    assert z.mean(1).abs().max() < 0.5 and z.std(1).min() > 0.6 and z.std(1).max() < 1.4


def test_object_windows_cut_the_latent_pixels_on_each_object_and_leave_out_objects_at_the_edge():
    d = torch.arange(2 * 1 * 3 * 8 * 8, dtype=torch.float32).view(2, 1, 3, 8, 8)  # (N, C, T, h, w)
    centres = torch.zeros(2, 9, 2)
    centres[0, :] = torch.tensor([28.0, 44.0])  # latent pixel (x 3, y 5) of an 8x VAE in every frame
    centres[1, 0], centres[1, 1:] = torch.tensor([2.0, 30.0]), torch.tensor([36.0, 20.0])  # at the edge in frame 0
    first = object_windows(d, centres, 0, window=3)
    assert first.shape == (1, 1, 3, 3) and torch.equal(first[0], d[0, :, 0, 4:7, 2:5])
    second = object_windows(d, centres, 1, window=3)  # latent frame 1 = video frames 1-4
    assert second.shape == (2, 1, 3, 3) and torch.equal(second[1], d[1, :, 1, 1:4, 3:6])
    assert object_windows(d, centres, 1, window=9).shape == (0, 1, 9, 9)


def test_code_consistency_loss_is_zero_for_one_pattern_and_high_for_offset_dependent_codes():
    """The loss is the share of the square-minus-circle code that is not the same pattern at every object:
    0 when each pair's window holds one pattern, ~1 - 1/P for independent patterns, and its gradient reaches the
    encoder through real latents."""

    pairs, c = 6, 4
    centres = torch.tensor([[12.0 + 8 * (p % 4), 20.0 + 4 * (p // 4)] for p in range(pairs)])  # pixel x, y
    centres = centres[:, None].expand(pairs, 5, 2)  # 5 frames: latent frames 0 and 1 of a 4x temporal VAE
    videos = torch.zeros(2 * pairs, 5, 3, 64, 64)
    g = torch.Generator().manual_seed(0)
    pattern = torch.randn(c, 3, 3, generator=g)

    def latents(patterns):
        z = torch.randn(2 * pairs, c, 2, 8, 8, generator=g)
        z[pairs:] = z[:pairs]  # circles = squares outside the windows
        for p in range(pairs):
            x, y = (round(float(v) / 8 - 0.5) for v in centres[p, 0])
            z[p, :, :, y - 1:y + 2, x - 1:x + 2] += patterns[p][:, None]
        return z

    same = code_consistency_loss(None, videos, centres, latents=latents([pattern] * pairs))
    assert float(same) < 1e-6
    other = code_consistency_loss(None, videos, centres,
                                  latents=latents([torch.randn(c, 3, 3, generator=g) for _ in range(pairs)]))
    assert 0.5 < float(other) < 1.0
    vae = tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8))
    vids = torch.rand(2 * pairs, 5, 3, 64, 64, generator=g)
    loss = code_consistency_loss(vae, vids, centres)
    loss.backward()
    assert vae.encoder.conv_in.conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no two objects"):
        code_consistency_loss(None, videos, centres * 0, latents=latents([pattern] * pairs))
