"""Noise schedules: betas, alpha-bar, SNR, zero-terminal SNR, EDM sigmas, shift and flow matching.

Taught in ``03_noise_schedules``. Every function says which paper or library it follows and, where diffusers
implements the same thing, ``tests/test_schedules.py`` checks the two agree to 1e-6.

Vocabulary (one diffusion time axis, never the frame axis):

- ``t`` is an integer training timestep in ``[0, num_train_timesteps)``; ``t = 0`` is almost clean.
- DDPM/variance-preserving path: ``x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps`` (Ho et al. 2020).
- ``snr_t = abar_t / (1 - abar_t)``; ``log_snr_t = log(snr_t)``.
- EDM / k-diffusion sigma of the same point: ``sigma_t = sqrt((1 - abar_t) / abar_t) = 1 / sqrt(snr_t)``.
- Flow matching / rectified flow: ``x_sigma = (1 - sigma) * x_0 + sigma * eps`` with ``sigma`` in ``[0, 1]``,
  velocity target ``v = eps - x_0`` (SD3, diffusers ``FlowMatchEulerDiscreteScheduler``); its
  ``snr = ((1 - sigma) / sigma) ** 2``.

Noise levels of the two families are compared through the SNR: shifting flow sigmas by ``s``
(:func:`shift_sigmas`) divides the SNR by ``s**2`` (:func:`shift_snr`), which is what CogVideoX's
``snr_shift_scale`` does with ``snr_shift_scale = s**2``.

:class:`ScheduleSpec` describes a schedule and :func:`make_scheduler` builds the matching diffusers scheduler
(:func:`describe_scheduler` reads one back, :func:`swap_scheduler` swaps a pipeline's sampler).
:func:`shift_experiment` and :func:`signal_leak` are the measurements of the notebook. Noise correlated across
frames and FreeInit live in :mod:`labkit.noise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import diffusers
import numpy as np
import torch

from labkit.checks import check_args
from labkit.video import check_video

__all__ = [
    "SCHEDULES", "beta_schedule", "alphas_cumprod", "snr", "log_snr", "rescale_zero_terminal_snr",
    "sigmas_from_alphas_cumprod", "karras_sigmas", "shift_sigmas", "shift_snr", "alphas_cumprod_from_snr",
    "resolution_shift", "dynamic_shift", "flow_sigmas", "add_noise", "v_target", "flow_interpolate",
    "flow_velocity", "schedule_alphas_cumprod", "schedule_curves", "coarse_psnr", "matching_sigma",
    "shift_experiment", "signal_leak", "SAMPLERS", "ScheduleSpec", "make_scheduler", "describe_scheduler",
    "swap_scheduler",
]

#: Names :func:`beta_schedule` knows; ``"cosine"`` is an alias of diffusers' ``"squaredcos_cap_v2"``.
SCHEDULES: tuple[str, ...] = ("linear", "scaled_linear", "squaredcos_cap_v2", "cosine")
#: What :func:`schedule_alphas_cumprod` (the explorer) knows: the beta schedules plus rectified flow.
CURVE_SCHEDULES: tuple[str, ...] = ("linear", "scaled_linear", "cosine", "flow")


def _check_shift(shift) -> float:
    check_args(shift=shift)  # > 0; 1.0 means no shift
    return float(shift)


def _check_1d(name: str, x, lo: float, hi: float) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 1 or x.numel() < 1:
        raise ValueError(f"expected {name} as a non-empty 1-D tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.double()
    if torch.isnan(x).any() or x.min() < lo or x.max() > hi:
        raise ValueError(f"expected {name} values in [{lo}, {hi}], "
                         f"got range [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    return x


def beta_schedule(name: str, num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Betas ``(num_train_timesteps,)`` of a named schedule, as diffusers' ``DDPMScheduler`` builds them.

    - ``"linear"``: ``linspace(beta_start, beta_end)`` (Ho et al. 2020, DDPM);
    - ``"scaled_linear"``: ``linspace(sqrt(beta_start), sqrt(beta_end)) ** 2`` (latent diffusion / Stable
      Diffusion, which uses ``beta_start=0.00085, beta_end=0.012``; so does CogVideoX);
    - ``"squaredcos_cap_v2"`` (alias ``"cosine"``): Nichol & Dhariwal 2021, ``abar(t) = cos((t + 0.008) / 1.008
      * pi / 2) ** 2`` discretised, each beta capped at 0.999.

    The defaults ``beta_start, beta_end`` are ``DDPMScheduler``'s. ``dtype`` float32 reproduces diffusers
    exactly; float64 is more accurate.
    """
    check_args(num_train_timesteps=num_train_timesteps, beta_start=beta_start, beta_end=beta_end)
    n = num_train_timesteps
    if name == "linear":
        return torch.linspace(beta_start, beta_end, n, dtype=dtype)
    if name == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=dtype) ** 2
    if name in ("squaredcos_cap_v2", "cosine"):
        def abar(u: float) -> float:
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = [min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)]
        return torch.tensor(betas, dtype=dtype)
    raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def alphas_cumprod(betas) -> torch.Tensor:
    """``abar_t = prod_{s <= t} (1 - beta_s)``: the fraction of signal *variance* left at step ``t`` (DDPM)."""
    betas = _check_1d("betas", betas, 0.0, 1.0)
    return torch.cumprod(1.0 - betas, dim=0)


def snr(alphas_cumprod) -> torch.Tensor:
    """Signal-to-noise ratio ``abar / (1 - abar)`` (Kingma et al. 2021, "Variational Diffusion Models").

    0 at a zero-terminal-SNR last step; ``inf`` where ``abar == 1``.
    """
    ac = _check_1d("alphas_cumprod", alphas_cumprod, 0.0, 1.0)
    return ac / (1.0 - ac)


def log_snr(alphas_cumprod) -> torch.Tensor:
    """``log(abar) - log(1 - abar)`` (natural log); ``-inf`` at a zero-terminal-SNR step."""
    ac = _check_1d("alphas_cumprod", alphas_cumprod, 0.0, 1.0)
    return torch.log(ac) - torch.log1p(-ac)


def alphas_cumprod_from_snr(snr_values) -> torch.Tensor:
    """Inverse of :func:`snr`: ``abar = snr / (1 + snr)``."""
    s = _check_1d("snr", snr_values, 0.0, math.inf)
    return s / (1.0 + s)


def rescale_zero_terminal_snr(betas) -> torch.Tensor:
    """Rescale betas so the last step has SNR exactly 0 (Lin et al. 2024, "Common Diffusion Noise Schedules and
    Sample Steps are Flawed", Algorithm 1; diffusers ``rescale_betas_zero_snr=True``).

    ``sqrt(abar)`` is shifted so its last value is 0 and scaled so its first value is unchanged. Without it,
    Stable Diffusion's last step keeps ``sqrt(abar_T) ~ 0.068`` of the image: training never sees pure noise,
    sampling starts from pure noise, and the model cannot make very dark or very bright images.
    """
    betas = _check_1d("betas", betas, 0.0, 1.0)
    if len(betas) < 2:
        raise ValueError(f"expected at least 2 betas to rescale, got {len(betas)}")
    root = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    ac = root**2
    alphas = torch.cat([ac[:1], ac[1:] / ac[:-1]])
    return 1.0 - alphas


def sigmas_from_alphas_cumprod(alphas_cumprod) -> torch.Tensor:
    """EDM / k-diffusion noise level of each step, ``sqrt((1 - abar) / abar)`` (what ``EulerDiscreteScheduler``
    interpolates between); infinite at a zero-SNR step."""
    ac = _check_1d("alphas_cumprod", alphas_cumprod, 0.0, 1.0)
    return ((1.0 - ac) / ac).sqrt()


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """EDM sampling sigmas ``(num_steps,)`` from ``sigma_max`` down to ``sigma_min`` (Karras et al. 2022, eq. 5).

    ``sigma_i = (sigma_max^(1/rho) + i / (n - 1) * (sigma_min^(1/rho) - sigma_max^(1/rho))) ** rho``: ``rho = 7``
    spends most steps at low noise. Stable Video Diffusion samples with ``sigma_min=0.002, sigma_max=700``.
    Same numbers as ``EulerDiscreteScheduler(use_karras_sigmas=True)`` (before it appends the final 0).
    """
    check_args(num_steps=num_steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho)
    if not (0 < sigma_min < sigma_max):
        raise ValueError(f"expected 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def shift_sigmas(sigmas, shift: float) -> torch.Tensor:
    """Flow-matching timestep shift ``sigma' = s * sigma / (1 + (s - 1) * sigma)`` (Esser et al. 2024, SD3,
    eq. 23; diffusers ``FlowMatchEulerDiscreteScheduler(shift=s)``). ``s > 1`` moves steps to higher noise.

    In SNR terms it divides the SNR by ``s**2`` (see :func:`shift_snr`).
    """
    shift = _check_shift(shift)
    sigmas = _check_1d("sigmas", sigmas, 0.0, 1.0)
    return (shift * sigmas / (1 + (shift - 1) * sigmas)).clamp(0, 1)  # clamp: rounding can give 1 + 2e-16


def shift_snr(alphas_cumprod, shift: float) -> torch.Tensor:
    """The same shift for a DDPM schedule: ``snr' = snr / shift**2``, returned as alphas_cumprod.

    ``abar' = abar / (s^2 + (1 - s^2) * abar)``; with ``s**2 = snr_shift_scale`` this is exactly what
    ``CogVideoXDDIMScheduler`` does to its schedule (CogVideoX-2B's config has ``snr_shift_scale=3``, i.e. ``s = 1.73``; CogVideoX-5B's has 1.0: see ``data/configs``).
    """
    shift = _check_shift(shift)
    ac = _check_1d("alphas_cumprod", alphas_cumprod, 0.0, 1.0)
    scale = shift**2
    return ac / (scale + (1 - scale) * ac)


def resolution_shift(base_shape, shape) -> float:
    """The shift that gives a larger latent the base latent's uncertainty: ``sqrt(numel(shape) / numel(base))``.

    SD3 (Esser et al. 2024, Sec. 5.3.2): when ``n`` pixels share one value, averaging them cuts the noise std by
    ``sqrt(n)``; keeping the same uncertainty at ``m`` pixels instead of ``n`` needs ``sigma/(1 - sigma)`` larger
    by ``sqrt(m / n)``, i.e. :func:`shift_sigmas` with ``s = sqrt(m / n)``. For video, frames count too.
    """
    base, new = math.prod(_check_shape(base_shape)), math.prod(_check_shape(shape))
    return math.sqrt(new / base)


def _check_shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"expected a shape as a tuple of positive ints, got {shape!r}")
    return tuple(shape)


def dynamic_shift(seq_len: int, base_seq_len: int = 256, max_seq_len: int = 4096, base_shift: float = 0.5,
                  max_shift: float = 1.15) -> float:
    """Flux-style resolution-dependent shift: ``mu`` linear in the token count, shift ``= exp(mu)``.

    Follows diffusers ``calculate_shift`` (``pipeline_flux.py``) used with ``use_dynamic_shifting=True``;
    returned as the equivalent :func:`shift_sigmas` factor ``exp(mu)``.
    """
    check_args(seq_len=seq_len, base_seq_len=base_seq_len, max_seq_len=max_seq_len, base_shift=base_shift,
               max_shift=max_shift)
    if max_seq_len == base_seq_len:
        raise ValueError(f"max_seq_len: expected a value other than base_seq_len, got {max_seq_len} for both")
    slope = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return math.exp(base_shift + slope * (seq_len - base_seq_len))


def flow_sigmas(num_train_timesteps: int = 1000, shift: float = 1.0) -> torch.Tensor:
    """Training sigmas of rectified flow, ``linspace(1, 1/N, N)`` then shifted, as in
    ``FlowMatchEulerDiscreteScheduler.__init__`` (descending: index 0 is pure noise)."""
    check_args(num_train_timesteps=num_train_timesteps)
    n = num_train_timesteps
    sigmas = torch.linspace(1.0, 1.0 / n, n, dtype=torch.float64)
    return shift_sigmas(sigmas, shift)


def _coef(ac: torch.Tensor, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.as_tensor(t, dtype=torch.long).reshape(-1)
    if t.min() < 0 or t.max() >= len(ac):
        raise ValueError(f"expected timesteps in [0, {len(ac)}), got range [{int(t.min())}, {int(t.max())}]")
    if t.numel() not in (1, like.shape[0]):
        raise ValueError(f"expected one timestep or one per batch item ({like.shape[0]}), got {t.numel()}")
    view = (-1,) + (1,) * (like.ndim - 1)
    a = ac[t].to(device=like.device, dtype=like.dtype).reshape(view)
    return a.sqrt(), (1 - a).sqrt()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alphas_cumprod, t) -> torch.Tensor:
    """DDPM forward process ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` (``DDPMScheduler.add_noise``).

    ``x0`` and ``noise`` share a shape whose first axis is the batch (one ``t`` per item, or one for all);
    ``x0`` should be in the model's range (``[-1, 1]`` for pixels: ``2 * video - 1``).
    """
    if x0.shape != noise.shape:
        raise ValueError(f"expected noise of the same shape as x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    a, s = _coef(torch.as_tensor(alphas_cumprod), t, x0)
    return a * x0 + s * noise


def v_target(x0: torch.Tensor, noise: torch.Tensor, alphas_cumprod, t) -> torch.Tensor:
    """v-prediction target ``sqrt(abar_t) noise - sqrt(1 - abar_t) x0`` (Salimans & Ho 2022;
    ``DDPMScheduler.get_velocity``)."""
    if x0.shape != noise.shape:
        raise ValueError(f"expected noise of the same shape as x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    a, s = _coef(torch.as_tensor(alphas_cumprod), t, x0)
    return a * noise - s * x0


def _sigma_view(sigma, like: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=like.dtype)
    if sigma.numel() > 1:
        sigma = sigma.reshape((-1,) + (1,) * (like.ndim - 1))
    if torch.isnan(sigma).any() or sigma.min() < 0 or sigma.max() > 1:
        raise ValueError(f"expected flow-matching sigma in [0, 1], got {sigma.flatten()[:4].tolist()}")
    return sigma


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, sigma) -> torch.Tensor:
    """Rectified-flow path ``(1 - sigma) x0 + sigma noise`` (Liu et al. 2022; Lipman et al. 2022;
    ``FlowMatchEulerDiscreteScheduler.scale_noise``). A straight line from data to noise."""
    if x0.shape != noise.shape:
        raise ValueError(f"expected noise of the same shape as x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    sigma = _sigma_view(sigma, x0)
    return (1 - sigma) * x0 + sigma * noise


def flow_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Flow-matching target ``d x_sigma / d sigma = noise - x0`` (constant along the straight path); what
    ``FlowMatchEulerDiscreteScheduler.step`` expects the model to predict."""
    if x0.shape != noise.shape:
        raise ValueError(f"expected noise of the same shape as x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    return noise - x0


def schedule_alphas_cumprod(name: str, num_train_timesteps: int = 1000, shift: float = 1.0,
                            zero_snr: bool = False) -> torch.Tensor:
    """alpha-bar ``(N,)`` (float64) of any schedule of the explorer, ascending ``t`` (index 0 nearly clean).

    ``name`` is a beta schedule (``scaled_linear`` uses Stable Diffusion's 0.00085..0.012) or ``"flow"``, whose
    variance-preserving equivalent is ``abar = snr / (1 + snr)`` with ``snr = ((1 - sigma) / sigma)**2``.
    ``shift`` divides the SNR by ``shift**2`` (applied first), ``zero_snr`` then rescales to a zero last SNR
    (the order CogVideoX uses). Flow matching already ends at SNR 0.
    """
    if name not in CURVE_SCHEDULES + ("squaredcos_cap_v2",):
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(CURVE_SCHEDULES)}")
    _check_shift(shift)
    if name == "flow":
        sigmas = flow_sigmas(num_train_timesteps, shift).flip(0)
        ratio = (1 - sigmas) / sigmas
        return ratio**2 / (1 + ratio**2)
    lo_hi = (0.00085, 0.012) if name == "scaled_linear" else (1e-4, 0.02)
    ac = alphas_cumprod(beta_schedule(name, num_train_timesteps, *lo_hi, dtype=torch.float64))
    ac = shift_snr(ac, shift) if shift != 1.0 else ac
    if zero_snr:
        betas = 1 - torch.cat([ac[:1], ac[1:] / ac[:-1]])
        ac = alphas_cumprod(rescale_zero_terminal_snr(betas))
    return ac


def schedule_curves(name: str, shift: float = 1.0, zero_snr: bool = False,
                    num_train_timesteps: int = 1000) -> dict[str, torch.Tensor]:
    """What the schedule explorer plots: ``t/N``, alpha-bar, ``sqrt(abar)`` (signal kept) and log-SNR.

    Returns float64 tensors of shape ``(N,)``; the log-SNR of a zero-SNR step is ``-inf`` (not drawn).
    """
    ac = schedule_alphas_cumprod(name, num_train_timesteps, shift, zero_snr)
    t = torch.arange(1, len(ac) + 1, dtype=torch.float64) / len(ac)
    return {"t": t, "alphas_cumprod": ac, "signal": ac.sqrt(), "log_snr": log_snr(ac)}


def coarse_psnr(video: torch.Tensor, sigma: float, grid=(4, 8, 8), generator: torch.Generator | None = None,
                draws: int = 8) -> float:
    """How much coarse structure survives flow-matching noise ``sigma``: PSNR (dB) of the best estimate of the
    clip on a common coarse ``grid`` (frames, height, width), averaged over ``draws`` noise draws.

    ``video`` is a clip ``(F, C, H, W)`` in [0, 1], mapped to [-1, 1]. The estimate is
    ``pool(x_sigma) / (1 - sigma)`` (area average onto ``grid``); a larger or longer clip averages more noisy
    pixels per coarse cell, so the same ``sigma`` destroys less: the reason for :func:`resolution_shift`.
    """

    video = check_video(video, allow_batch=False)
    check_args(draws=draws)
    if not 0 <= sigma < 1:
        raise ValueError(f"expected sigma in [0, 1), got {sigma}")
    f, _, h, w = video.shape
    if f < grid[0] or h < grid[1] or w < grid[2]:
        raise ValueError(f"expected a clip at least as large as grid {tuple(grid)}, got (F, H, W) = {(f, h, w)}")
    x0 = (2 * video - 1).permute(1, 0, 2, 3)  # f c h w -> c f h w: pool over frames, height, width
    target = torch.nn.functional.adaptive_avg_pool3d(x0, grid)
    errors = []
    for _ in range(draws):
        noise = torch.randn(x0.shape, generator=generator)
        pooled = torch.nn.functional.adaptive_avg_pool3d(flow_interpolate(x0, noise, sigma), grid)
        errors.append(((pooled / (1 - sigma) - target) ** 2).mean())
    mse = torch.stack(errors).mean()
    return float(10 * torch.log10(4.0 / mse))  # peak-to-peak range of [-1, 1] is 2, squared 4


def matching_sigma(sigmas, psnrs, target_psnr: float) -> float:
    """The sigma at which a measured, decreasing PSNR-vs-sigma curve crosses ``target_psnr`` (linear
    interpolation in ``log(sigma / (1 - sigma))``, where the curve is nearly straight)."""
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    p = torch.as_tensor(psnrs, dtype=torch.float64)
    if s.shape != p.shape or s.ndim != 1 or len(s) < 2:
        raise ValueError(f"expected two 1-D sequences of equal length >= 2, got {tuple(s.shape)} and {tuple(p.shape)}")
    if not ((s > 0) & (s < 1)).all():
        raise ValueError(f"sigmas: expected flow sigmas in (0, 1), got {s.tolist()}")
    if not torch.isfinite(p).all():
        raise ValueError(f"psnrs: expected finite values in dB, got {p.tolist()}")
    if isinstance(target_psnr, bool) or not isinstance(target_psnr, (int, float)) or not math.isfinite(target_psnr):
        raise ValueError(f"target_psnr: expected a finite number of dB, got {target_psnr!r}")
    if not (p.min() <= target_psnr <= p.max()):
        raise ValueError(f"target {target_psnr:.2f} dB is outside the measured range [{p.min():.2f}, {p.max():.2f}]")
    x = torch.log(s / (1 - s))
    order = torch.argsort(p)
    logit = float(np.interp(target_psnr, p[order].numpy(), x[order].numpy()))
    return 1 / (1 + math.exp(-logit))


def shift_experiment(clips: dict, base: str, sigmas, grid=(4, 8, 8), draws: int = 8,
                     generator: torch.Generator | None = None) -> tuple[dict, list[dict]]:
    """Measure :func:`coarse_psnr` against sigma for each clip and find, for every base sigma, the sigma that
    gives each larger clip the same PSNR; compare it with :func:`shift_sigmas` at :func:`resolution_shift`.

    ``clips`` maps a label to a clip ``(F, C, H, W)`` (the same scene at different sizes); ``base`` is the
    label of the reference. Returns ``(curves, rows)``: PSNR lists per label, and one row per (clip, base
    sigma) with ``measured`` and ``predicted`` sigma (rows outside the measured PSNR range are skipped).
    """
    if base not in clips:
        raise ValueError(f"expected base to be one of {list(clips)}, got {base!r}")
    check_args(draws=draws)
    sigmas = [float(s) for s in sigmas]
    curves = {k: [coarse_psnr(v, s, grid, generator, draws) for s in sigmas] for k, v in clips.items()}
    base_shape = tuple(clips[base].shape[i] for i in (0, 2, 3))
    rows = []
    for label, clip in clips.items():
        if label == base:
            continue
        shift = resolution_shift(base_shape, tuple(clip.shape[i] for i in (0, 2, 3)))
        for sigma, target in zip(sigmas, curves[base], strict=True):
            if min(curves[label]) <= target <= max(curves[label]):
                predicted = float(shift_sigmas(torch.tensor([sigma], dtype=torch.float64), shift))
                rows.append({"clip": label, "shift": shift, "base sigma": sigma, "psnr dB": target,
                             "measured": matching_sigma(sigmas, curves[label], target), "predicted": predicted})
    return curves, rows


def signal_leak(videos, alphas_cumprod, t: int | None = None, generator: torch.Generator | None = None) -> dict:
    """How much of a clip survives at step ``t`` (default: the last): per-clip mean of the clean clip (in
    [-1, 1]) and of ``add_noise`` at ``t``, and their correlation across clips.

    With Stable Diffusion's schedule ``sqrt(abar_T) = 0.068``: the mean brightness of ``x_T`` still tracks the
    clip's (correlation near 1) and a model learns to read it, but sampling starts from pure noise of mean 0.
    With zero terminal SNR the correlation is ~0 (Lin et al. 2024).
    """
    ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
    t = len(ac) - 1 if t is None else t
    clean, noisy = [], []
    for video in videos:
        x0 = 2 * video.double() - 1
        xt = add_noise(x0[None], torch.randn(x0[None].shape, generator=generator, dtype=x0.dtype), ac, t)
        clean.append(float(x0.mean()))
        noisy.append(float(xt.mean()))
    if len(clean) < 3:
        raise ValueError(f"expected at least 3 clips to correlate, got {len(clean)}")
    corr = float(np.corrcoef(clean, noisy)[0, 1])
    return {"clean_mean": clean, "noisy_mean": noisy, "correlation": corr, "signal_coef": float(ac[t].sqrt())}


#: ``make_scheduler`` sampler names -> diffusers class names.
SAMPLERS: dict[str, str] = {
    "ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "euler": "EulerDiscreteScheduler",
    "flow_euler": "FlowMatchEulerDiscreteScheduler", "cogvideox_ddim": "CogVideoXDDIMScheduler",
    "cogvideox_dpm": "CogVideoXDPMScheduler",
}


@dataclass(frozen=True)
class ScheduleSpec:
    """A labkit description of a training schedule, independent of the sampler.

    ``beta_schedule`` is a :data:`SCHEDULES` name or ``"flow"`` (rectified flow). ``shift`` divides the SNR by
    ``shift**2`` (flow: :func:`shift_sigmas`); ``zero_snr`` rescales to a zero terminal SNR after the shift.
    ``prediction_type`` is ``"epsilon"``, ``"v_prediction"`` or ``"sample"`` (flow models predict velocity).
    """

    beta_schedule: str = "scaled_linear"
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    shift: float = 1.0
    zero_snr: bool = False
    prediction_type: str = "epsilon"
    karras: bool = False

    def __post_init__(self):
        if self.beta_schedule not in SCHEDULES + ("flow",):
            raise ValueError(f"unknown schedule {self.beta_schedule!r}; expected one of {', '.join(SCHEDULES)}, flow")
        check_args(num_train_timesteps=self.num_train_timesteps, beta_start=self.beta_start,
                   beta_end=self.beta_end, shift=self.shift)
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"expected prediction_type epsilon, v_prediction or sample, got {self.prediction_type!r}")

    @property
    def diffusers_beta_schedule(self) -> str:
        return "squaredcos_cap_v2" if self.beta_schedule == "cosine" else self.beta_schedule

    def betas(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Betas with the shift applied (not the zero-SNR rescale, which diffusers applies itself)."""
        betas = beta_schedule(self.beta_schedule, self.num_train_timesteps, self.beta_start, self.beta_end, dtype)
        if self.shift == 1.0:
            return betas
        ac = shift_snr(alphas_cumprod(betas), self.shift)
        return 1 - torch.cat([ac[:1], ac[1:] / ac[:-1]])

    def alphas_cumprod(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """alpha-bar of the described schedule: shift first, then the zero-SNR rescale."""
        betas = self.betas(dtype)
        return alphas_cumprod(rescale_zero_terminal_snr(betas) if self.zero_snr else betas)


def _scheduler_class(sampler: str):
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")

    return getattr(diffusers, SAMPLERS[sampler])


def make_scheduler(spec: ScheduleSpec, sampler: str = "ddim", **overrides):
    """Build the diffusers scheduler that samples the schedule ``spec`` describes.

    DDPM-family samplers get ``trained_betas`` when ``spec.shift != 1`` (diffusers has no SNR shift there) and
    ``rescale_betas_zero_snr`` for the zero-SNR rescale; CogVideoX samplers get ``snr_shift_scale = shift**2``;
    ``"flow_euler"`` needs a ``"flow"`` spec. ``overrides`` go to the constructor (e.g. ``timestep_spacing``).
    """
    cls = _scheduler_class(sampler)
    if (spec.beta_schedule == "flow") != (sampler == "flow_euler"):
        raise ValueError(f"a {spec.beta_schedule!r} schedule cannot be sampled with {sampler!r}: flow-matching "
                         "schedules need sampler='flow_euler', beta schedules any other sampler")
    if sampler == "flow_euler":
        kwargs = dict(num_train_timesteps=spec.num_train_timesteps, shift=spec.shift, use_karras_sigmas=spec.karras)
        return cls(**{**kwargs, **overrides})
    kwargs = dict(num_train_timesteps=spec.num_train_timesteps, beta_start=spec.beta_start, beta_end=spec.beta_end,
                  beta_schedule=spec.diffusers_beta_schedule, prediction_type=spec.prediction_type,
                  rescale_betas_zero_snr=spec.zero_snr)
    if sampler.startswith("cogvideox"):
        kwargs["snr_shift_scale"] = spec.shift**2
    elif spec.shift != 1.0:
        kwargs["trained_betas"] = spec.betas(torch.float64).numpy()
    if sampler == "euler":
        kwargs["use_karras_sigmas"] = spec.karras
    elif spec.karras:
        raise ValueError(f"karras sigmas need sampler 'euler' or 'flow_euler', got {sampler!r}")
    return cls(**{**kwargs, **overrides})


def describe_scheduler(scheduler) -> ScheduleSpec:
    """Read a diffusers scheduler's config back into a :class:`ScheduleSpec` (the inverse of
    :func:`make_scheduler` for the classes in :data:`SAMPLERS`, except ones built from ``trained_betas``)."""
    config = dict(scheduler.config)
    name = type(scheduler).__name__
    if name not in SAMPLERS.values():
        raise ValueError(f"expected one of {', '.join(SAMPLERS.values())}, got {name}")
    if name == "FlowMatchEulerDiscreteScheduler":
        return ScheduleSpec("flow", config["num_train_timesteps"], shift=float(config["shift"]),
                            prediction_type="epsilon", karras=bool(config.get("use_karras_sigmas", False)))
    if config.get("trained_betas") is not None:
        raise ValueError(f"cannot describe a {name} built from trained_betas: the schedule has no name")
    shift = math.sqrt(config["snr_shift_scale"]) if "snr_shift_scale" in config else 1.0
    schedule = "cosine" if config["beta_schedule"] == "squaredcos_cap_v2" else config["beta_schedule"]
    return ScheduleSpec(schedule, config["num_train_timesteps"], config["beta_start"], config["beta_end"], shift,
                        bool(config.get("rescale_betas_zero_snr", False)), config.get("prediction_type", "epsilon"),
                        bool(config.get("use_karras_sigmas", False)))


def swap_scheduler(pipe, sampler: str, **overrides):
    """Give a pipeline another sampler for the same trained schedule: ``CLS.from_config(pipe.scheduler.config)``.

    Swapping across families (a flow-matching model to a DDPM sampler or back) raises, because the model's
    output means something else. Returns the pipeline (changed in place).
    """
    cls = _scheduler_class(sampler)
    is_flow = type(pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    if is_flow != (sampler == "flow_euler"):
        raise ValueError(f"cannot swap a {type(pipe.scheduler).__name__} for {sampler!r}: a model trained with "
                         "flow matching needs 'flow_euler', a DDPM-family model one of the other samplers")
    pipe.scheduler = cls.from_config(pipe.scheduler.config, **overrides)
    return pipe
