"""labkit.training.vae: fresh-VAE shapes (layers per block, spatial factor), reproducible training, object crops and
twin batches, the posterior-std fix, the image stage, latent noise, latent standardisation, code consistency and
decoder-only continuation, on tiny VAEs."""

import copy

import pytest
import torch

from labkit.models import vae as V
from labkit.models.vae import tiny_vae_3d, to_vae_layout
from labkit.training import vae as T

SMALL = (8, 8, 8, 8)  # four blocks: still 8x spatial, a few thousand parameters


def clip(num_frames=9, size=32, batch=2, seed=0):
    """Random videos ``(batch, F, 3, size, size)`` in [0, 1]."""
    return torch.rand(batch, num_frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_layers_per_block_deepens_a_fresh_vae_and_is_refused_for_a_continued_one(tmp_path):
    one, two = (T.build_vae("3d", layers_per_block=n) for n in (1, 2))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert two.config.layers_per_block == 2 and len(two.decoder.up_blocks[0].resnets) == 3
    assert 1.3 < count(two) / count(one) < 1.5  # ~0.87 M -> ~1.24 M parameters
    with pytest.raises(ValueError, match="layers_per_block an int >= 1, got 0"):
        T.build_vae("3d", layers_per_block=0)
    one.save_pretrained(tmp_path / "vae")
    with pytest.raises(ValueError, match="shape a fresh VAE"):
        T.train_vae("3d", steps=1, init_from=tmp_path / "vae", layers_per_block=2, progress=False)


def test_spatial_factor_4_gives_16x16_latents_and_is_refused_for_a_continued_vae(tmp_path):
    four = T.build_vae("3d", spatial_factor=4)
    with torch.no_grad():
        z = four.encode(torch.rand(1, 3, 17, 64, 64) * 2 - 1).latent_dist.mean
        x = four.decode(z).sample
    assert tuple(z.shape) == (1, 16, 5, 16, 16) and tuple(x.shape) == (1, 3, 17, 64, 64)
    assert tuple(T.build_vae("3d").encode(torch.zeros(1, 3, 17, 64, 64)).latent_dist.mean.shape) == (1, 16, 5, 8, 8)
    with pytest.raises(ValueError, match="spatial_factor 4 or 8, got 2"):
        T.build_vae("3d", spatial_factor=2)
    T.build_vae("3d").save_pretrained(tmp_path / "vae")
    with pytest.raises(ValueError, match="shape a fresh VAE"):
        T.train_vae("3d", steps=1, init_from=tmp_path / "vae", spatial_factor=4, progress=False)


@pytest.mark.slow  # trains two tiny VAEs for 2 steps each on whole clips (~20 s CPU)
def test_trainer_is_reproducible_from_seed():
    runs = [T.train_vae("2d", steps=2, seed=3, batch=1, progress=False) for _ in range(2)]
    (m1, r1), (m2, r2) = runs
    assert r1.losses == r2.losses and all(torch.isfinite(torch.tensor(r1.losses)))
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert m1.config.scaling_factor == m2.config.scaling_factor > 0
    with pytest.raises(ValueError, match="kind '2d' or '3d'"):
        T.train_vae("4d", steps=1)


def test_object_crops_contain_an_object_and_random_crops_often_do_not():
    def has_object(videos):  # the middle frame differs from the window's own corner colour (the background)
        mid = videos[:, videos.shape[1] // 2]
        return ((mid - mid[..., :1, :1]).abs().amax(dim=(1, 2, 3)) > 0.2).float()

    obj = next(T.clip_batches(32, seed=3, crop=24, crop_steps=1, crops="object"))
    rnd = torch.cat([next(T.clip_batches(1, seed=s, crop=24, crop_steps=1)) for s in range(32)])
    assert obj.shape == rnd.shape == (32, 17, 3, 24, 24)
    assert has_object(obj).mean() == 1.0 and has_object(rnd).mean() < 0.9
    with pytest.raises(ValueError, match="crops 'random' or 'object'"):
        next(T.clip_batches(1, crop=24, crop_steps=1, crops="centre"))


@pytest.mark.parametrize("factory", ["tiny_vae_2d", "tiny_vae_3d"])
def test_fix_posterior_std_keeps_the_mean_and_makes_samples_equal_it(factory):
    vae = getattr(V, factory)()
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1 if factory == "tiny_vae_3d" else torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        before = vae.encode(x).latent_dist
        T.fix_posterior_std(vae, 1e-3)
        after = vae.encode(x).latent_dist
    assert before.std.mean() > 0.5  # untrained: std near 1, a sample is mostly noise
    assert torch.equal(before.mean, after.mean)
    assert torch.allclose(after.std, torch.full_like(after.std, 1e-3), rtol=1e-4)
    sample = after.sample(torch.Generator().manual_seed(0))
    assert (sample - after.mean).abs().max() < 6e-3


def test_image_stage_runs_first_on_single_frames(monkeypatch):
    seen = []
    real_loss = T.vae_loss
    monkeypatch.setattr(T, "vae_loss", lambda m, b, *rest: seen.append(tuple(b.shape)) or real_loss(m, b))
    model, result = T.train_vae("3d", steps=1, image_steps=2, image_batch=3, batch=1, full_steps=0, scale_batches=1,
                                progress=False)
    assert seen == [(3, 1, 3, 32, 32)] * 2 + [(1, 17, 3, 32, 32)]
    assert len(result.losses) == 3
    # the recorded scale is 1 / std of the trained model's latents on the trainer's scale batch
    assert model.config.scaling_factor == round(T.measure_scaling_factor(model, T.clip_batches(2, seed=7), 1), 5)


def test_latent_noise_decodes_noisy_latents_reproducibly_and_is_checked():
    """``latent_noise``: the loss decodes ``mean + s * channel_std * n`` -- a different loss from the clean one, the
    same for the same generator seed, another for another seed; a value outside [0, 1] is refused before any
    training."""

    vae = tiny_vae_3d(latent_channels=4, block_out_channels=SMALL).eval()
    x = clip(num_frames=9, size=32, batch=2, seed=1)
    with torch.no_grad():
        clean = T.vae_loss(vae, x)
        noisy = [T.vae_loss(vae, x, torch.Generator().manual_seed(0), 1.0) for _ in range(2)]
        other = T.vae_loss(vae, x, torch.Generator().manual_seed(1), 1.0)
        zero = T.vae_loss(vae, x, torch.Generator().manual_seed(0), 0.0)
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], other)
    assert torch.equal(zero, clean) and not torch.equal(noisy[0], clean)
    with pytest.raises(ValueError, match=r"latent_noise in \[0, 1\].*got 1.5"):
        T.train_vae("3d", steps=1, latent_noise=1.5, progress=False)


@pytest.mark.parametrize("factory", ["tiny_vae_2d", "tiny_vae_3d"])
def test_standardize_latents_gives_unit_channels_and_keeps_the_reconstruction(factory):
    """Folding (z - mu) / sd into the encoder and its inverse into the decoder: the latents of the measured clips
    become zero-mean unit-std per channel, and the decoder reads them as it read the old ones (up to its
    zero-padded border, which GroupNorm spreads a little over the frame)."""

    vae = getattr(V, factory)(latent_channels=4, block_out_channels=SMALL).eval()
    old = copy.deepcopy(vae)
    clips = [clip(num_frames=5, size=64, batch=2, seed=s) for s in range(3)]
    with torch.no_grad():
        x = to_vae_layout(vae, clips[0] * 2 - 1)
        z_old = old.encode(x).latent_dist.mode()
        recon_old = old.decode(z_old).sample
        mu, sd = T.standardize_latents(vae, iter(clips), num_batches=3)
        z_new = vae.encode(x).latent_dist.mode()
        recon_new = vae.decode(z_new).sample
        unfolded = old.decode(z_new).sample  # what an un-adjusted decoder makes of the new latents
        all_new = torch.cat([vae.encode(to_vae_layout(vae, c * 2 - 1)).latent_dist.mode().transpose(0, 1).flatten(1)
                             for c in clips], 1)
    view = (1, -1) + (1,) * (z_old.ndim - 2)
    assert torch.allclose(z_new, (z_old - mu.view(view)) / sd.view(view), atol=1e-4)
    assert all_new.mean(1).abs().max() < 1e-4 and (all_new.std(1) - 1).abs().max() < 1e-4
    assert (sd - 1).abs().max() > 0.3  # the old latents were far from unit std: the test is not vacuous
    err, err_unfolded = (recon_new - recon_old).abs().mean(), (unfolded - recon_old).abs().mean()
    assert err < 0.05 * err_unfolded, (err, err_unfolded)


def test_twin_batches_pair_each_square_with_a_circle_on_the_same_path():
    """Twins differ only where the shapes differ: in every frame the pixels that differ lie around the returned
    centre (both objects share it), and a square covers more of its box than its circle twin."""

    videos, centres = next(T.twin_batches(3, seed=2, crop=None))
    assert videos.shape == (6, 17, 3, 64, 64) and centres.shape == (3, 17, 2)
    squares, circles = videos.chunk(2)
    for p in range(3):
        for f in (0, 8, 16):
            x, y = centres[p, f].tolist()
            ys, xs = torch.nonzero((squares[p, f] - circles[p, f]).abs().amax(0) > 0.1, as_tuple=True)
            assert len(xs) > 0 and (xs.float() - x).abs().max() < 12 and (ys.float() - y).abs().max() < 12
        assert (squares[p] != squares[p, 0, :, :1, :1]).sum() > (circles[p] != circles[p, 0, :, :1, :1]).sum()
    cropped, moved = next(T.twin_batches(3, seed=2, crop=32))
    assert cropped.shape == (6, 17, 3, 32, 32) and moved.shape == (3, 17, 2)


def test_train_vae_with_code_consistency_trains_on_twins_and_refuses_a_2d_vae():
    with pytest.raises(ValueError, match="code_consistency needs a 3d VAE"):
        T.train_vae("2d", steps=1, code_consistency=0.1, progress=False)
    with pytest.raises(ValueError, match="twin_pairs=1"):
        T.train_vae("3d", steps=1, code_consistency=0.1, twin_pairs=1, progress=False)


def test_decoder_only_keeps_the_encoder_and_trains_the_decoder(tmp_path):
    """``decoder_only``: the continued VAE's encoder (its latent code) is bit-identical after training, the decoder
    has moved, and every parameter is trainable again afterwards; it is refused without init_from."""

    start = tiny_vae_3d(latent_channels=16, block_out_channels=SMALL)
    start.save_pretrained(tmp_path / "vae")
    model, _ = T.train_vae("3d", steps=2, batch=1, full_steps=0, scale_batches=1, init_from=tmp_path / "vae",
                           decoder_only=True, progress=False)
    old, new = start.state_dict(), model.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("encoder."))
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    assert all(q.requires_grad for q in model.parameters())
    with pytest.raises(ValueError, match="decoder_only trains a continued VAE"):
        T.train_vae("3d", steps=1, decoder_only=True, progress=False)
