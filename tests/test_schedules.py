"""labkit.schedules, cross-checked against diffusers' schedulers to 1e-6."""

import math

import pytest
import torch
from diffusers import (
    CogVideoXDDIMScheduler,
    CogVideoXDPMScheduler,
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import schedules as S
from labkit.data.shapes import make_clip

TOL = 1e-6
NAMES = ["linear", "scaled_linear", "squaredcos_cap_v2"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_alphas_cumprod_match_ddpm_scheduler(name, dtype):
    ref = DDPMScheduler(beta_schedule=name).alphas_cumprod.double()
    ours = S.alphas_cumprod(S.beta_schedule(name, dtype=dtype)).double()
    assert (ours - ref).abs().max() < TOL


def test_cosine_alias_and_custom_range():
    assert torch.equal(S.beta_schedule("cosine", 50), S.beta_schedule("squaredcos_cap_v2", 50))
    ref = DDPMScheduler(num_train_timesteps=200, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    ours = S.alphas_cumprod(S.beta_schedule("scaled_linear", 200, 0.00085, 0.012))
    assert (ours - ref.alphas_cumprod).abs().max() < TOL


@pytest.mark.parametrize("name", NAMES)
def test_zero_terminal_snr_matches_diffusers(name):
    ref = DDPMScheduler(beta_schedule=name, rescale_betas_zero_snr=True)
    betas = S.rescale_zero_terminal_snr(S.beta_schedule(name))
    ac = S.alphas_cumprod(betas)
    assert (ac - ref.alphas_cumprod).abs().max() < TOL
    assert (betas - ref.betas).abs().max() < TOL
    assert ac[-1] == 0 and S.snr(ac)[-1] == 0 and S.log_snr(ac)[-1] == -math.inf
    assert abs(ac[0] - S.alphas_cumprod(S.beta_schedule(name))[0]) < TOL  # first step unchanged


def test_snr_and_log_snr_relations():
    ac = S.alphas_cumprod(S.beta_schedule("linear", dtype=torch.float64))
    assert torch.allclose(S.log_snr(ac), torch.log(S.snr(ac)))
    assert torch.allclose(S.alphas_cumprod_from_snr(S.snr(ac)), ac)
    assert torch.allclose(S.sigmas_from_alphas_cumprod(ac), 1 / S.snr(ac).sqrt())
    assert (S.log_snr(ac).diff() < 0).all()  # noise only grows with t


@pytest.mark.parametrize("steps", [2, 4, 25])
def test_karras_sigmas_match_euler_scheduler_defaults(steps):
    ref = EulerDiscreteScheduler(use_karras_sigmas=True)
    ref.set_timesteps(steps)
    sig = S.sigmas_from_alphas_cumprod(ref.alphas_cumprod.double())
    ours = S.karras_sigmas(steps, sig[0].item(), sig[-1].item())
    assert ((ref.sigmas[:-1].double() - ours) / ours).abs().max() < TOL
    assert ref.sigmas[-1] == 0


def test_karras_sigmas_svd_range():
    ref = EulerDiscreteScheduler(use_karras_sigmas=True, sigma_min=0.002, sigma_max=700.0)
    ref.set_timesteps(25)
    ours = S.karras_sigmas(25, 0.002, 700.0)
    assert ((ref.sigmas[:-1].double() - ours) / ours).abs().max() < TOL
    assert ours[0] == pytest.approx(700.0) and ours[-1] == pytest.approx(0.002)
    assert (ours.diff() < 0).all()


@pytest.mark.parametrize("shift", [1.0, 3.0, 7.0, 0.5])
def test_shift_sigmas_match_flow_match_scheduler(shift):
    ref = FlowMatchEulerDiscreteScheduler(shift=shift)
    assert (S.flow_sigmas(1000, shift) - ref.sigmas.double()).abs().max() < TOL
    given = torch.linspace(1.0, 0.05, 20, dtype=torch.float64)
    ref.set_timesteps(sigmas=given.tolist())
    assert (S.shift_sigmas(given, shift) - ref.sigmas[:-1].double()).abs().max() < TOL


def test_shift_divides_snr_by_shift_squared_and_matches_cogvideox():
    sigma = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
    snr = ((1 - sigma) / sigma) ** 2
    shifted = S.shift_sigmas(sigma, 3.0)
    assert torch.allclose(((1 - shifted) / shifted) ** 2, snr / 9.0)
    ac = S.alphas_cumprod_from_snr(snr)
    assert torch.allclose(S.snr(S.shift_snr(ac, 3.0)), snr / 9.0)
    ref = CogVideoXDDIMScheduler(snr_shift_scale=3.0)  # CogVideoX: shift = sqrt(3)
    ours = S.shift_snr(S.alphas_cumprod(S.beta_schedule("scaled_linear", 1000, 0.00085, 0.012)), math.sqrt(3.0))
    assert (ours - ref.alphas_cumprod).abs().max() < TOL


def test_resolution_and_dynamic_shift():
    assert S.resolution_shift((4, 8, 8), (4, 8, 8)) == 1.0
    assert S.resolution_shift((5, 16, 16), (5, 32, 32)) == pytest.approx(2.0)
    assert S.resolution_shift((4, 16, 16), (16, 16, 16)) == pytest.approx(2.0)  # 4x the frames
    assert math.log(S.dynamic_shift(256)) == pytest.approx(0.5)
    assert math.log(S.dynamic_shift(4096)) == pytest.approx(1.15)


def test_add_noise_and_v_target_match_ddpm_scheduler():
    g = torch.Generator().manual_seed(0)
    ref = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    x0, noise = torch.randn(3, 5, 4, 8, 8, generator=g), torch.randn(3, 5, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 999])
    assert (S.add_noise(x0, noise, ref.alphas_cumprod, t) - ref.add_noise(x0, noise, t)).abs().max() < TOL
    assert (S.v_target(x0, noise, ref.alphas_cumprod, t) - ref.get_velocity(x0, noise, t)).abs().max() < TOL


def test_flow_interpolate_and_velocity_match_flow_scheduler():
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(2, 5, 4, 8, 8, generator=g), torch.randn(2, 5, 4, 8, 8, generator=g)
    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    sched.set_timesteps(10)
    t = sched.timesteps[3]
    sigma = sched.sigmas[3]
    assert (S.flow_interpolate(x0, noise, sigma) - sched.scale_noise(x0, t[None], noise)).abs().max() < TOL
    # with the exact velocity every Euler step stays on the straight line, so sampling returns x0 exactly
    x = noise.clone()
    for t in sched.timesteps:
        x = sched.step(S.flow_velocity(x0, noise), t, x).prev_sample
    assert (x - x0).abs().max() < 1e-5


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "euler", "cogvideox_ddim", "cogvideox_dpm"])
@pytest.mark.parametrize("spec", [
    S.ScheduleSpec("scaled_linear"),
    S.ScheduleSpec("cosine", zero_snr=True, prediction_type="v_prediction"),
    S.ScheduleSpec("linear", 1000, 1e-4, 0.02, shift=2.0, zero_snr=True),
])
def test_make_scheduler_reproduces_the_spec(sampler, spec):
    sched = S.make_scheduler(spec, sampler)
    ours = spec.alphas_cumprod(torch.float64)
    n = len(ours) - 1 if (sampler == "euler" and spec.zero_snr) else len(ours)  # Euler: last abar 0 -> 2**-24
    assert (sched.alphas_cumprod[:n].double() - ours[:n]).abs().max() < TOL
    assert sched.config.prediction_type == spec.prediction_type
    if spec.shift == 1.0:
        assert S.describe_scheduler(sched) == spec


def test_make_scheduler_flow_and_errors():
    spec = S.ScheduleSpec("flow", shift=5.0)
    sched = S.make_scheduler(spec, "flow_euler")
    assert isinstance(sched, FlowMatchEulerDiscreteScheduler) and sched.config.shift == 5.0
    assert S.describe_scheduler(sched).shift == 5.0
    with pytest.raises(ValueError, match="flow_euler"):
        S.make_scheduler(spec, "ddim")
    with pytest.raises(ValueError, match="cannot be sampled"):
        S.make_scheduler(S.ScheduleSpec(), "flow_euler")
    with pytest.raises(ValueError, match="unknown sampler 'plms'"):
        S.make_scheduler(S.ScheduleSpec(), "plms")
    with pytest.raises(ValueError, match="trained_betas"):
        S.describe_scheduler(S.make_scheduler(S.ScheduleSpec(shift=2.0), "ddim"))


def test_swap_scheduler_uses_from_config():
    class Pipe:
        scheduler = S.make_scheduler(S.ScheduleSpec("scaled_linear", zero_snr=True, prediction_type="v_prediction"),
                                     "ddim")

    pipe = S.swap_scheduler(Pipe(), "euler", timestep_spacing="trailing")
    assert isinstance(pipe.scheduler, EulerDiscreteScheduler)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.scheduler.config.rescale_betas_zero_snr and pipe.scheduler.config.timestep_spacing == "trailing"
    with pytest.raises(ValueError, match="flow_euler"):
        S.swap_scheduler(pipe, "flow_euler")
    assert isinstance(S.swap_scheduler(pipe, "cogvideox_dpm").scheduler, CogVideoXDPMScheduler)
    assert isinstance(S.swap_scheduler(pipe, "ddim").scheduler, DDIMScheduler)


def test_schedule_curves():
    for name in S.CURVE_SCHEDULES:
        c = S.schedule_curves(name, num_train_timesteps=100)
        assert set(c) == {"t", "alphas_cumprod", "signal", "log_snr"} and len(c["t"]) == 100
        assert (c["alphas_cumprod"].diff() <= 0).all()
    flow = S.schedule_curves("flow", num_train_timesteps=100)
    assert flow["alphas_cumprod"][-1] == 0  # flow matching ends at pure noise
    base = S.schedule_curves("scaled_linear")
    zero = S.schedule_curves("scaled_linear", zero_snr=True)
    assert float(base["alphas_cumprod"][-1]) == pytest.approx(float(DDPMScheduler(beta_schedule="scaled_linear",
                                                                                 beta_start=0.00085,
                                                                                 beta_end=0.012).alphas_cumprod[-1]),
                                                             rel=1e-5)
    assert zero["alphas_cumprod"][-1] == 0
    shifted = S.schedule_curves("cosine", shift=2.0)["log_snr"][:-1]
    assert torch.allclose(shifted, S.schedule_curves("cosine")["log_snr"][:-1] - 2 * math.log(2.0))


def test_coarse_psnr_larger_clip_keeps_more_and_shift_rule_predicts_it():
    small = make_clip("a red square moving right", seed=3, num_frames=8, size=32).video
    large = make_clip("a red square moving right", seed=3, num_frames=8, size=64).video
    g = torch.Generator().manual_seed(0)
    assert S.coarse_psnr(small, 0.0, generator=g) == math.inf or S.coarse_psnr(small, 1e-9, generator=g) > 100
    p_small = S.coarse_psnr(small, 0.5, generator=g, draws=16)
    p_large = S.coarse_psnr(large, 0.5, generator=g, draws=16)
    assert p_large - p_small == pytest.approx(10 * math.log10(4), abs=0.3)  # 4x the pixels per cell: +6 dB
    s = S.resolution_shift((8, 32, 32), (8, 64, 64))
    shifted = float(S.shift_sigmas(torch.tensor([0.5], dtype=torch.float64), s))
    assert S.coarse_psnr(large, shifted, generator=g, draws=16) == pytest.approx(p_small, abs=0.3)


def test_matching_sigma_interpolates():
    sig = [0.1, 0.3, 0.5, 0.7, 0.9]
    psnr = [30.0, 25.0, 20.0, 15.0, 10.0]
    assert S.matching_sigma(sig, psnr, 20.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="outside the measured range"):
        S.matching_sigma(sig, psnr, 40.0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'.*linear"):
        S.beta_schedule("quadratic")
    with pytest.raises(ValueError, match="unknown schedule"):
        S.schedule_curves("sigmoid")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="shift: expected a finite number > 0"):
            S.shift_sigmas(torch.linspace(1, 0.1, 5), bad)
    with pytest.raises(ValueError, match="shift: expected a finite number > 0"):
        S.ScheduleSpec(shift=0)
    with pytest.raises(ValueError, match="non-empty 1-D tensor"):
        S.alphas_cumprod(torch.rand(4, 4))
    with pytest.raises(ValueError, match=r"values in \[0.0, 1.0\]"):
        S.alphas_cumprod(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        S.karras_sigmas(10, 10.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        S.add_noise(torch.zeros(2, 3), torch.zeros(3, 2), torch.ones(10) * 0.5, 0)
    with pytest.raises(ValueError, match=r"timesteps in \[0, 10\)"):
        S.add_noise(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(10) * 0.5, 10)
    with pytest.raises(ValueError, match="num_train_timesteps: expected an integer >= 1, got 0"):
        S.beta_schedule("linear", 0)
    with pytest.raises(ValueError, match=r"sigma in \[0, 1\]"):
        S.flow_interpolate(torch.zeros(2), torch.zeros(2), 1.5)


@settings(max_examples=60, deadline=None)
@given(s1=st.floats(0.1, 10), s2=st.floats(0.1, 10))
def test_shift_composes_and_inverts(s1, s2):
    sigma = torch.linspace(0.0, 1.0, 33, dtype=torch.float64)
    twice = S.shift_sigmas(S.shift_sigmas(sigma, s1), s2)
    assert torch.allclose(twice, S.shift_sigmas(sigma, s1 * s2), atol=1e-12)  # shifts multiply
    assert torch.allclose(S.shift_sigmas(S.shift_sigmas(sigma, s1), 1 / s1), sigma, atol=1e-12)
    assert (S.shift_sigmas(sigma, s1).diff() >= 0).all()  # order of noise levels is kept
