"""labkit.training.svd: the EDM objective against diffusers' own scheduler step, conditions built like the
pipeline's, determinism for a seed, and stop_at checkpoints."""

import numpy as np
import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel

from labkit.data.knob import NUM_FRAMES, SIZE
from labkit.models import svd as svd_models
from labkit.models.tiny import tiny_svd_components
from labkit.training import cli
from labkit.training import svd as st
from labkit.video import to_pil


def _scheduler(steps):
    sched = tiny_svd_components()["scheduler"]
    sched.set_timesteps(steps)
    return sched


def test_training_target_is_what_the_scheduler_step_needs():
    """For every sigma the sampler visits, a UNet output equal to the training target makes the scheduler's own
    step see exactly x0 (and its timestep is the training c_noise)."""
    sched = _scheduler(12)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 8, 4, 4, 4, generator=g)
    eps = torch.randn(x0.shape, generator=g)
    for i, t in enumerate(sched.timesteps):
        sigma = sched.sigmas[i].expand(2)
        inp, c_noise, target = st.training_pair(x0, eps, sigma)
        x = x0 + sigma[0] * eps
        torch.testing.assert_close(sched.scale_model_input(x, t), inp, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(c_noise, t.expand(2).float(), rtol=1e-5, atol=1e-5)
        out = sched.step(target, t, x)
        torch.testing.assert_close(out.pred_original_sample, x0, rtol=1e-4, atol=1e-4)
    # and a wrong target (epsilon instead of v) does not
    wrong = _scheduler(12).step(eps, sched.timesteps[3], x0 + sched.sigmas[3] * eps).pred_original_sample
    assert (wrong - x0).abs().max() > 0.1


def test_conditions_are_built_like_the_pipeline():
    pipe = svd_models.build_pipeline(0)
    clips, buckets, fps, aug = st._batch(np.random.default_rng(0), 2)
    aug[:] = 0.0
    x0, image_latents, embeds, time_ids = st._conditions(pipe, clips, buckets, fps, aug,
                                                         torch.Generator().manual_seed(0), cfg_dropout=0.0)
    assert x0.shape == (2, NUM_FRAMES, 4, 16, 16) and image_latents.shape == x0.shape
    torch.testing.assert_close(time_ids[:, 0], torch.tensor(fps - 1, dtype=torch.float32))
    # the pipeline's own path from a PIL image gives the same CLIP embedding and image latent
    pil = to_pil(clips[0, :1])[0]
    ref_embeds = pipe._encode_image(pil, "cpu", 1, False)
    torch.testing.assert_close(embeds[:1], ref_embeds, rtol=1e-4, atol=1e-4)
    pre = pipe.video_processor.preprocess(pil, height=SIZE, width=SIZE)
    ref_latent = pipe._encode_vae_image(pre, "cpu", 1, False)
    # a batch of 2 and a batch of 1 take different CPU conv kernels: ~1e-4 apart on latents of size ~1
    torch.testing.assert_close(image_latents[:1, 0], ref_latent, rtol=1e-3, atol=5e-4)
    dropped = st._conditions(pipe, clips, buckets, fps, aug, torch.Generator().manual_seed(0), cfg_dropout=1.0)
    assert dropped[1].abs().max() == 0 and dropped[2].abs().max() == 0


@pytest.mark.slow  # two 2+2-step trainings: ~15 s idle, up to ~100 s on the loaded 2-core machine
def test_training_is_deterministic_for_a_seed():
    def run():
        pipe = svd_models.build_pipeline(0)
        st.train_vae_stage(pipe.vae, steps=2, batch=1, seed=3, progress=False)
        st.train_unet_stage(pipe, steps=2, batch=2, seed=3, progress=False)
        return pipe

    a, b = run(), run()
    for name in ("unet", "vae"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    assert a.vae.config.scaling_factor == b.vae.config.scaling_factor != 0.18215  # set from the latents' std


@pytest.mark.slow  # three 2-4-step trainings
def test_stop_at_gives_the_checkpoint_of_the_longer_schedule(tmp_path):
    def run(**kw):
        pipe = svd_models.build_pipeline(0)
        st.train_vae_stage(pipe.vae, steps=1, batch=1, seed=3, progress=False)
        st.train_unet_stage(pipe, steps=4, batch=1, seed=3, progress=False, checkpoint_every=2, **kw)
        return pipe

    run(checkpoint_dir=tmp_path)
    stopped = run(stop_at=2)
    saved = UNetSpatioTemporalConditionModel.from_pretrained(tmp_path / "step-2" / "unet").state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in stopped.unet.state_dict().items())
    with pytest.raises(ValueError, match="multiple of checkpoint_every"):
        st.train_unet_stage(stopped, steps=4, checkpoint_every=2, stop_at=3)


def test_cli_refuses_a_stop_at_off_the_checkpoints_before_training(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main("svd", ["--stop-at", "300", "--checkpoint-every", "200"])
    assert err.value.code == 2
    assert "--stop-at: expected a multiple of --checkpoint-every below --steps, got 300" in capsys.readouterr().err
