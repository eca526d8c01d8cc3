"""labkit.noise: PYoCo correlated noise against its theory (3 standard errors), FreeInit against diffusers."""

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.free_init_utils import FreeInitMixin

from labkit import noise
from labkit import noise as N
from labkit.metrics import flicker
from labkit.models import cogvideox
from labkit.models import cogvideox as C
from labkit.schedules import ScheduleSpec, make_scheduler

SHAPE = (16, 6, 4, 32, 32)  # (B, F, C, H, W): 16 * 4 * 32 * 32 = 65536 samples per frame


def _within_3se(noise, theory, frame_dim=-4):
    n = noise.numel() // noise.shape[frame_dim]
    z = (N.frame_covariance(noise, frame_dim) - theory) / N.covariance_standard_error(theory, n)
    return z.abs().max().item()


@pytest.mark.parametrize("kind,alpha", [("mixed", 1.0), ("mixed", 0.5), ("progressive", 2.0), ("progressive", 1.0),
                                        ("independent", 0.0), ("mixed", 0.0)])
def test_marginal_variance_and_correlation_within_3_standard_errors(kind, alpha):
    noise = N.correlated_noise(SHAPE, alpha, kind, generator=torch.Generator().manual_seed(0))
    theory = N.correlation_theory(SHAPE[1], alpha, kind)
    assert noise.shape == SHAPE and noise.dtype == torch.float32
    assert _within_3se(noise, theory) < 3.0


def test_the_statistical_test_can_fail():
    noise = N.correlated_noise(SHAPE, 1.0, "progressive", generator=torch.Generator().manual_seed(0))
    assert _within_3se(noise, N.correlation_theory(SHAPE[1], 1.0, "mixed")) > 10  # wrong prior is detected
    slightly_wrong = N.correlation_theory(SHAPE[1], 1.1, "progressive")
    assert _within_3se(noise, slightly_wrong) > 3


def test_published_correlations():
    mixed = N.correlation_theory(5, 2.0, "mixed")
    assert mixed[0, 4] == pytest.approx(4 / 5) and mixed[2, 2] == 1
    prog = N.correlation_theory(5, 2.0, "progressive")
    assert prog[0, 3] == pytest.approx((2 / math.sqrt(5)) ** 3)
    assert torch.equal(N.correlation_theory(3, 7.0, "independent"), torch.eye(3, dtype=torch.float64))


def test_deterministic_under_generator_and_other_layouts():
    a = N.correlated_noise((5, 4, 8, 8), 1.0, "progressive", generator=torch.Generator().manual_seed(3))
    b = N.correlated_noise((5, 4, 8, 8), 1.0, "progressive", generator=torch.Generator().manual_seed(3))
    c = N.correlated_noise((5, 4, 8, 8), 1.0, "progressive", generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # diffusers' AnimateDiff layout (B, C, F, H, W): frames on axis -3
    shape = (16, 4, 6, 32, 32)
    noise = N.correlated_noise(shape, 1.0, "mixed", generator=torch.Generator().manual_seed(1), frame_dim=-3)
    assert _within_3se(noise, N.correlation_theory(6, 1.0, "mixed"), frame_dim=-3) < 3.0


def test_frame_differences_of_noise_match_theory():
    # consecutive frames with correlation r differ by N(0, 2(1 - r)): mean |d| = sqrt(2 (1 - r)) sqrt(2 / pi)
    g = torch.Generator().manual_seed(0)
    for kind, alpha in [("independent", 0.0), ("mixed", 1.0), ("progressive", 3.0)]:
        r = N.correlation_theory(2, alpha, kind)[0, 1].item()
        change = float(N.correlated_noise(SHAPE, alpha, kind, generator=g).diff(dim=-4).abs().mean())
        assert change == pytest.approx(math.sqrt(2 * (1 - r)) * math.sqrt(2 / math.pi), rel=0.01)


def test_compare_initial_noise_rows():
    rows = N.compare_initial_noise(
        lambda noise: torch.sigmoid(noise), (6, 3, 16, 16),
        {"independent": {"kind": "independent"}, "mixed a=2": {"kind": "mixed", "alpha": 2.0}},
        seeds=range(4), metrics={"flicker": flicker})
    assert [r["noise"] for r in rows] == ["independent", "mixed a=2"] and rows[0]["n"] == 4
    assert rows[1]["flicker"] < 0.6 * rows[0]["flicker"]  # sqrt(1 - 0.8) = 0.45 of the independent flicker
    # the mean and standard error (n - 1 in the variance) over the seeds, recomputed with numpy
    independent = [flicker(torch.sigmoid(N.correlated_noise((6, 3, 16, 16), kind="independent",
                                                            generator=torch.Generator().manual_seed(s))))
                   for s in range(4)]
    assert rows[0]["flicker"] == pytest.approx(np.mean(independent), rel=1e-9)
    assert rows[0]["flicker se"] == pytest.approx(np.std(independent, ddof=1) / 2, rel=1e-9)


@pytest.mark.parametrize("kind", N.FILTERS)
@pytest.mark.parametrize("shape", [(4, 8, 8), (5, 7, 6)])
def test_freq_filter_matches_diffusers(kind, shape):
    ref = FreeInitMixin._get_free_init_freq_filter(None, (1, 2, *shape), "cpu", kind, 4, 0.25, 0.4)[0, 0]
    assert (N.freq_filter(shape, kind, 0.25, 0.4, 4) - ref).abs().max() < 1e-6


def test_freq_mix_matches_diffusers_and_keeps_low_frequencies():
    g = torch.Generator().manual_seed(0)
    x, noise = torch.randn(2, 4, 5, 8, 8, generator=g), torch.randn(2, 4, 5, 8, 8, generator=g)  # (B, C, F, H, W)
    lp = N.freq_filter((5, 8, 8), "ideal", 0.25, 0.25)
    ref = FreeInitMixin._apply_freq_filter(None, x, noise, lp)
    ours = N.freq_mix(x, noise, lp, frame_dim=-3)
    assert (ours - ref).abs().max() < 1e-6
    # even sizes: the mask is symmetric about the zero frequency, so the low band of x survives exactly
    # (odd sizes: diffusers' grid 2k/n - 1 misses zero, the mask is off-centre and the real part mixes bands)
    x, noise = x[:, :, :4], noise[:, :, :4]
    lp = N.freq_filter((4, 8, 8), "ideal", 0.25, 0.25)
    ours = N.freq_mix(x, noise, lp, frame_dim=-3)
    spectrum = torch.fft.fftshift(torch.fft.fftn(ours, dim=(-3, -2, -1)), dim=(-3, -2, -1))
    x_spec = torch.fft.fftshift(torch.fft.fftn(x, dim=(-3, -2, -1)), dim=(-3, -2, -1))
    assert ((spectrum - x_spec) * lp).abs().max() < 1e-4
    assert torch.allclose(N.freq_mix(x, noise, torch.ones(4, 8, 8), frame_dim=-3), x, atol=1e-5)
    assert torch.allclose(N.freq_mix(x, noise, torch.zeros(4, 8, 8), frame_dim=-3), noise, atol=1e-5)


def test_freeinit_reinit_matches_diffusers():
    class Pipe(FreeInitMixin):
        scheduler = DDIMScheduler()

    pipe = Pipe()
    pipe.enable_free_init(num_iters=2, method="gaussian", spatial_stop_frequency=0.3, temporal_stop_frequency=0.3)
    g = torch.Generator().manual_seed(0)
    first, sample = torch.randn(1, 4, 5, 8, 8, generator=g), torch.randn(1, 4, 5, 8, 8, generator=g)
    pipe._apply_free_init(first, 0, 10, "cpu", torch.float32, g)
    ref, _ = pipe._apply_free_init(sample, 1, 10, "cpu", torch.float32, torch.Generator().manual_seed(9))
    lp = N.freq_filter((5, 8, 8), "gaussian", 0.3, 0.3)
    ours = N.freeinit_reinit(sample, first, DDIMScheduler(), lp, torch.Generator().manual_seed(9), frame_dim=-3)
    assert (ours - ref).abs().max() < 1e-6


class _IdealEpsilon(torch.nn.Module):
    """The exact epsilon-prediction for data that is always ``target`` (so sampling must return it)."""

    def __init__(self, target, alphas_cumprod):
        super().__init__()
        self.target, self.ac = target, alphas_cumprod

    def forward(self, x, t):
        a = self.ac[int(t)]
        return (x - a.sqrt() * self.target) / (1 - a).sqrt()


@pytest.mark.parametrize("sampler", ["ddim", "euler"])
def test_denoise_returns_the_data_with_the_ideal_model(sampler):
    sched = make_scheduler(ScheduleSpec("scaled_linear"), sampler)
    target = torch.linspace(-1, 1, 5 * 3 * 4 * 4).reshape(1, 5, 3, 4, 4)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0)) * sched.init_noise_sigma
    model = _IdealEpsilon(target, sched.alphas_cumprod)
    if sampler == "euler":  # Euler asks at fractional timesteps: interpolate abar through the model's sigma
        model.forward = lambda x, t: _euler_eps(x, t, sched, target)
    out = N.denoise(model, noise, sched, 20)
    assert (out - target).abs().max() < 2e-3
    assert (N.denoise(model, noise, sched, 20) - out).abs().max() == 0  # deterministic


def _euler_eps(x, t, sched, target):
    sigma = sched.sigmas[sched.step_index if sched.step_index is not None else 0]
    a = 1 / (1 + sigma**2)  # x arrives scaled to the variance-preserving form by scale_model_input
    return (x - a.sqrt() * target) / (1 - a).sqrt()


def test_freeinit_sample_on_tiny_random_denoiser():
    """A randomly initialised Conv3d stands in for the tiny text-to-video model (no trained model yet)."""
    torch.manual_seed(0)
    net = torch.nn.Conv3d(4, 4, 3, padding=1)  # (B, C, F, H, W) latents, like AnimateDiff
    sched = DDIMScheduler()

    def sample_fn(noise):
        return N.denoise(lambda x, t: 0.1 * net(x), noise, sched, 4)

    first = torch.randn(1, 4, 5, 8, 8, generator=torch.Generator().manual_seed(1))
    runs = [N.freeinit_sample(sample_fn, first, sched, 3, "butterworth", generator=torch.Generator().manual_seed(2),
                              frame_dim=-3) for _ in range(2)]
    assert len(runs[0]) == 3 and all(s.shape == first.shape for s in runs[0])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))  # deterministic under the generators
    assert not torch.equal(runs[0][0], runs[0][1])
    flow = N.freeinit_reinit(runs[0][0], first, FlowMatchEulerDiscreteScheduler(), torch.ones(5, 8, 8),
                             frame_dim=-3)
    assert torch.allclose(flow, first, atol=1e-5)  # flow matching: the last step is pure noise, no signal leak


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="alpha: expected a finite number >= 0"):
        N.correlated_noise((4, 3, 8, 8), -0.5)
    with pytest.raises(ValueError, match="unknown noise kind 'pink'"):
        N.correlated_noise((4, 3, 8, 8), 1.0, "pink")
    with pytest.raises(ValueError, match="tuple of positive ints"):
        N.correlated_noise((4, 0, 8, 8), 1.0)
    with pytest.raises(ValueError, match="frame axis -4"):
        N.correlated_noise((8, 8), 1.0)
    with pytest.raises(ValueError, match="unknown filter 'box'"):
        N.freq_filter((4, 8, 8), "box")
    with pytest.raises(ValueError, match=r"filter shape \(F, H, W\)"):
        N.freq_filter((8, 8), "ideal")
    with pytest.raises(ValueError, match=r"expected a filter of shape \(F, H, W\) = \(5, 8, 8\)"):
        N.freq_mix(torch.zeros(5, 4, 8, 8), torch.zeros(5, 4, 8, 8), torch.ones(4, 8, 8))
    with pytest.raises(ValueError, match="num_steps: expected an integer >= 1"):
        N.denoise(lambda x, t: x, torch.zeros(1, 2), DDIMScheduler(), 0)


def _tiny_random_cogvideox():
    """A CogVideoXPipeline with RANDOM weights at toy size (diffusers' own test sizes): it checks the code path
    the notebook's model experiments take; its videos mean nothing. No text encoder: prompt_embeds are passed."""
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=16)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    sched = make_scheduler(ScheduleSpec(zero_snr=True, prediction_type="v_prediction"), "cogvideox_ddim",
                           timestep_spacing="trailing")
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.slow  # builds a real (tiny) CogVideoX transformer + 3D VAE and decodes: 13 s on the busy 2-core box
def test_cogvideox_helpers_on_a_tiny_random_pipeline():
    pipe = _tiny_random_cogvideox()
    shape = C.noise_shape(pipe, 9, 16, 16)
    assert shape == (1, 3, 4, 2, 2)  # (9 - 1) // 4 + 1 latent frames, 16 // 8 pixels per side
    emb = torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(0))
    kw = dict(prompt_embeds=emb, guidance_scale=1.0)
    noise = N.correlated_noise(shape, 1.0, "progressive", generator=torch.Generator().manual_seed(0))
    clip = C.video_from_noise(pipe, noise, 2, 9, 16, 16, **kw)
    assert clip.shape == (9, 3, 16, 16) and 0 <= clip.min() and clip.max() <= 1
    lat = N.freeinit_sample(lambda z: C.video_from_noise(pipe, z, 2, 9, 16, 16, output="latent", **kw), noise,
                            pipe.scheduler, num_iters=2, generator=torch.Generator().manual_seed(1))
    assert len(lat) == 2 and lat[1].shape == shape and not torch.equal(lat[0], lat[1])
    assert torch.equal(C.decode_latents(pipe, lat[0]), clip)  # decode(latent output) == video output
    with pytest.raises(ValueError, match=r"expected initial latents of shape \(1, 3, 4, 2, 2\)"):
        C.video_from_noise(pipe, torch.zeros(1, 4, 3, 2, 2), 2, 9, 16, 16, **kw)
    with pytest.raises(ValueError, match="num_frames = 4k\\+1"):
        C.noise_shape(pipe, 10, 16, 16)


def test_sampler_generator_swaps_the_sampler_and_seeds_the_noise(fake_cogvideox):
    pipe = fake_cogvideox()
    generate = cogvideox.noise_generator(pipe, 9, 16, 16, steps=3, prompt="a red circle moving right")
    shape = cogvideox.noise_shape(pipe, 9, 16, 16)
    with_sampler = noise.sampler_generator(pipe, generate, shape)
    with_sampler("cogvideox_dpm", 2, seed=7)
    call = pipe.calls[-1]
    assert call["scheduler"] == "CogVideoXDPMScheduler" and call["steps"] == 2
    expected = noise.correlated_noise(shape, kind="independent", generator=torch.Generator().manual_seed(7))
    assert torch.equal(call["latents"], expected)
    rows = noise.steps_vs_quality(with_sampler, ["cogvideox_ddim"], [1, 2], [0, 1], {"mean": lambda v: v.mean()})
    assert [r["steps"] for r in rows] == [1, 2] and rows[0]["mean"] == pytest.approx(0.5)
