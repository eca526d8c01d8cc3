"""Initial noise for video: noise correlated across frames (PYoCo) and FreeInit frequency re-initialisation.

Taught in ``03_noise_schedules`` (the schedules themselves are in :mod:`labkit.schedules`).

- :func:`correlated_noise` draws the *mixed* and *progressive* noise priors of Ge et al. 2023, "Preserve Your
  Own Correlation: A Noise Prior for Video Diffusion Models" (PYoCo). Every element keeps unit variance; frames
  share part of their noise. diffusers has no implementation, so :func:`correlation_theory` and the statistical
  tests are the reference.
- :func:`freq_filter` / :func:`freq_mix` / :func:`freeinit_reinit` follow Wu et al. 2023, "FreeInit: Bridging
  Initialization Gap in Video Diffusion Models", and match diffusers' ``FreeInitMixin`` (checked in the tests).
- :func:`denoise` and :func:`freeinit_sample` are the sampling loops of the notebook's model experiments (with the
  shipped ``tiny-t2v``; the tests drive them with small denoisers of known answer); :func:`compare_initial_noise`
  and :func:`steps_vs_quality` measure the videos. Every experiment takes the model as a function of the initial
  noise; :func:`labkit.models.cogvideox.noise_generator` makes one from a ``CogVideoXPipeline``.

Layout: noise tensors use the course convention, frames on axis ``-4`` (``(F, C, H, W)`` or ``(B, F, C, H, W)``);
pass ``frame_dim`` for another layout (diffusers' AnimateDiff latents ``(B, C, F, H, W)`` have ``frame_dim=-3``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from labkit.checks import check_args
from labkit.schedules import swap_scheduler

__all__ = [
    "NOISE_KINDS", "FILTERS", "correlated_noise", "correlation_theory", "frame_covariance",
    "covariance_standard_error", "freq_filter", "freq_mix", "freeinit_reinit", "denoise", "freeinit_sample",
    "compare_initial_noise", "correlation_demo", "lowpass_correlation", "steps_vs_quality",
]

NOISE_KINDS: tuple[str, ...] = ("independent", "mixed", "progressive")
FILTERS: tuple[str, ...] = ("gaussian", "butterworth", "ideal")


def _check_alpha(alpha) -> float:
    check_args(alpha=alpha)  # >= 0; 0 means independent frames
    return float(alpha)


def _frame_axis(shape: tuple[int, ...], frame_dim: int) -> int:
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"expected a shape as a tuple of positive ints, got {shape!r}")
    if len(shape) < 2 or not -len(shape) <= frame_dim < len(shape):
        raise ValueError(f"expected a shape with a frame axis {frame_dim} (e.g. (F, C, H, W)), got {tuple(shape)}")
    return frame_dim % len(shape)


def correlated_noise(shape, alpha: float = 1.0, kind: str = "mixed", generator: torch.Generator | None = None,
                     frame_dim: int = -4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Gaussian noise of ``shape`` with unit variance per element, correlated across frames (PYoCo, Sec. 3.2).

    - ``"mixed"``: one shared noise ``~ N(0, a^2/(1+a^2))`` plus an independent part ``~ N(0, 1/(1+a^2))`` per
      frame; any two frames have correlation ``a^2 / (1 + a^2)``.
    - ``"progressive"``: an AR(1) chain ``e_i = a/sqrt(1+a^2) e_(i-1) + 1/sqrt(1+a^2) z_i``; correlation at lag
      ``k`` is ``(a / sqrt(1 + a^2)) ** k``.
    - ``"independent"``: plain ``randn`` (``alpha`` ignored).

    ``alpha = 0`` gives independent frames, large ``alpha`` nearly identical ones. Deterministic for a
    ``generator``. Elements in different positions or channels stay independent.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {', '.join(NOISE_KINDS)}")
    alpha = _check_alpha(alpha)
    axis = _frame_axis(tuple(shape), frame_dim)
    moved = list(shape)
    moved.insert(0, moved.pop(axis))  # frames first while drawing
    if kind == "independent":
        noise = torch.randn(moved, generator=generator, dtype=dtype)
    elif kind == "mixed":
        shared = torch.randn([1, *moved[1:]], generator=generator, dtype=dtype)
        own = torch.randn(moved, generator=generator, dtype=dtype)
        noise = (alpha * shared + own) / math.sqrt(1 + alpha**2)
    else:
        z = torch.randn(moved, generator=generator, dtype=dtype)
        keep, new = alpha / math.sqrt(1 + alpha**2), 1 / math.sqrt(1 + alpha**2)
        frames = [z[0]]
        for i in range(1, moved[0]):
            frames.append(keep * frames[-1] + new * z[i])
        noise = torch.stack(frames)
    return noise.movedim(0, axis)


def correlation_theory(num_frames: int, alpha: float, kind: str = "mixed") -> torch.Tensor:
    """The frame-by-frame correlation matrix ``(F, F)`` (float64) that :func:`correlated_noise` should have."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {', '.join(NOISE_KINDS)}")
    alpha = _check_alpha(alpha)
    check_args(num_frames=num_frames)
    lag = torch.arange(num_frames)
    lag = (lag[:, None] - lag[None, :]).abs().double()
    if kind == "independent":
        return torch.eye(num_frames, dtype=torch.float64)
    if kind == "mixed":
        rho = alpha**2 / (1 + alpha**2)
        return torch.where(lag == 0, torch.ones_like(lag), torch.full_like(lag, rho))
    return (alpha / math.sqrt(1 + alpha**2)) ** lag


def frame_covariance(noise: torch.Tensor, frame_dim: int = -4) -> torch.Tensor:
    """Empirical second moments ``M[i, j] = mean(e_i * e_j)`` ``(F, F)`` over all other axes (float64).

    With zero-mean unit-variance noise this estimates the correlation matrix; its standard errors are
    :func:`covariance_standard_error`.
    """
    axis = _frame_axis(tuple(noise.shape), frame_dim)
    frames = noise.movedim(axis, 0).reshape(noise.shape[axis], -1).double()
    return frames @ frames.T / frames.shape[1]


def covariance_standard_error(theory: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Standard error of each entry of :func:`frame_covariance` from ``num_samples`` independent pairs.

    For a bivariate normal with unit variances and correlation ``r``, ``Var(e_i e_j) = 1 + r^2`` (``2`` on the
    diagonal), so the standard error is ``sqrt((1 + r^2) / n)``.
    """
    check_args(num_samples=num_samples)
    theory = torch.as_tensor(theory, dtype=torch.float64)
    return ((1 + theory**2) / num_samples).sqrt()


def freq_filter(shape, kind: str = "butterworth", spatial_stop: float = 0.25, temporal_stop: float = 0.25,
                order: float = 4) -> torch.Tensor:
    """FreeInit low-pass filter ``(F, H, W)`` in ``fftshift``-ed frequency coordinates (float32, values in [0, 1]).

    ``d^2 = ((spatial_stop / temporal_stop) * (2f/F - 1))^2 + (2h/H - 1)^2 + (2w/W - 1)^2``; Gaussian
    ``exp(-d^2 / (2 spatial_stop^2))``, Butterworth ``1 / (1 + (d^2 / spatial_stop^2)^order)``, ideal
    ``d^2 <= 2 spatial_stop`` (the original code's threshold, kept so results match). Vectorised version of
    diffusers ``FreeInitMixin._get_free_init_freq_filter`` (FreeInit, Wu et al. 2023). Quirk kept from both:
    for an odd size the grid ``2k/n - 1`` misses 0, so the mask sits slightly off the zero frequency.
    """
    if kind not in FILTERS:
        raise ValueError(f"unknown filter {kind!r}; expected one of {', '.join(FILTERS)}")
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 3 or not all(
            isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"expected a filter shape (F, H, W) of positive ints, got {shape!r}")
    check_args(spatial_stop=spatial_stop, temporal_stop=temporal_stop, order=order)
    if spatial_stop == 0 or temporal_stop == 0:
        return torch.zeros(shape)
    f, h, w = (2 * torch.arange(n, dtype=torch.float64) / n - 1 for n in shape)
    d2 = ((spatial_stop / temporal_stop) * f)[:, None, None] ** 2 + h[None, :, None] ** 2 + w[None, None, :] ** 2
    if kind == "gaussian":
        mask = torch.exp(-d2 / (2 * spatial_stop**2))
    elif kind == "butterworth":
        mask = 1 / (1 + (d2 / spatial_stop**2) ** order)
    else:
        mask = (d2 <= spatial_stop * 2).double()
    return mask.float()


def _fft_dims(x: torch.Tensor, frame_dim: int) -> tuple[int, int, int]:
    axis = _frame_axis(tuple(x.shape), frame_dim)
    if axis >= x.ndim - 2:
        raise ValueError(f"expected frames before the last two (H, W) axes, got frame_dim {frame_dim} for "
                         f"shape {tuple(x.shape)}")
    return axis, x.ndim - 2, x.ndim - 1


def freq_mix(x: torch.Tensor, noise: torch.Tensor, low_pass: torch.Tensor, frame_dim: int = -4) -> torch.Tensor:
    """Low frequencies of ``x`` + high frequencies of ``noise`` (3D FFT over frames, H, W; FreeInit eq. 6).

    ``low_pass`` is a :func:`freq_filter` of shape ``(F, H, W)``. Same result as diffusers
    ``FreeInitMixin._apply_freq_filter`` (which uses ``frame_dim=-3``).
    """
    if x.shape != noise.shape:
        raise ValueError(f"expected noise of the same shape as x {tuple(x.shape)}, got {tuple(noise.shape)}")
    dims = _fft_dims(x, frame_dim)
    want = tuple(x.shape[d] for d in dims)
    if tuple(low_pass.shape) != want:
        raise ValueError(f"expected a filter of shape (F, H, W) = {want}, got {tuple(low_pass.shape)}")
    view = [1] * x.ndim
    for d, n in zip(dims, want, strict=True):
        view[d] = n
    lp = low_pass.reshape(view).to(x.device)
    xf = torch.fft.fftshift(torch.fft.fftn(x, dim=dims), dim=dims)
    nf = torch.fft.fftshift(torch.fft.fftn(noise, dim=dims), dim=dims)
    mixed = xf * lp + nf * (1 - lp)
    return torch.fft.ifftn(torch.fft.ifftshift(mixed, dim=dims), dim=dims).real


def freeinit_reinit(latents: torch.Tensor, initial_noise: torch.Tensor, scheduler, low_pass: torch.Tensor,
                    generator: torch.Generator | None = None, frame_dim: int = -4) -> torch.Tensor:
    """One FreeInit re-initialisation: diffuse the last sample back to the final training step with the
    *first* initial noise, keep its low frequencies, draw fresh high frequencies (diffusers ``_apply_free_init``).

    Works because ``sqrt(abar_T) > 0`` leaks signal into the last step. With a zero-terminal-SNR schedule or
    flow matching that leak is 0 and the result only re-uses the first noise's low frequencies.
    """
    last = scheduler.config.num_train_timesteps - 1
    if hasattr(scheduler, "add_noise"):
        z_t = scheduler.add_noise(latents, initial_noise, torch.full((latents.shape[0],), last, dtype=torch.long))
    else:  # flow matching: sigma of the last training step is 1 -> pure noise
        z_t = initial_noise.clone()
    fresh = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(latents.device)
    return freq_mix(z_t.float(), fresh, low_pass, frame_dim=frame_dim)


def denoise(model: Callable, latents: torch.Tensor, scheduler, num_steps: int, progress: bool = False) -> torch.Tensor:
    """The plain sampling loop: ``scheduler.set_timesteps``, then ``latents = scheduler.step(model(x, t), t, x)``.

    ``model(x, t) -> prediction`` of the scheduler's ``prediction_type`` (a pipeline's denoiser wrapped with
    its conditioning). ``latents`` is the initial noise (already scaled by ``scheduler.init_noise_sigma``).
    """
    check_args(num_steps=num_steps)
    scheduler.set_timesteps(num_steps)
    x = latents
    for t in tqdm(scheduler.timesteps, desc="denoise", disable=not progress, leave=False):
        x_in = scheduler.scale_model_input(x, t) if hasattr(scheduler, "scale_model_input") else x
        with torch.no_grad():
            x = scheduler.step(model(x_in, t), t, x).prev_sample
    return x


def freeinit_sample(sample_fn: Callable[[torch.Tensor], torch.Tensor], initial_noise: torch.Tensor, scheduler,
                    num_iters: int = 3, filter_kind: str = "butterworth", spatial_stop: float = 0.25,
                    temporal_stop: float = 0.25, generator: torch.Generator | None = None,
                    frame_dim: int = -4) -> list[torch.Tensor]:
    """FreeInit: sample, re-initialise the low frequencies from that sample (:func:`freeinit_reinit`), sample
    again, ``num_iters`` times in all. ``sample_fn(noise) -> latents``. Returns every iteration's latents
    (index 0 is the plain sample, without FreeInit), so an experiment can measure each."""
    check_args(num_iters=num_iters)
    dims = _fft_dims(initial_noise, frame_dim)
    low_pass = freq_filter(tuple(initial_noise.shape[d] for d in dims), filter_kind, spatial_stop, temporal_stop)
    samples = [sample_fn(initial_noise)]
    for _ in tqdm(range(1, num_iters), desc="FreeInit", leave=False, disable=num_iters < 3):
        noise = freeinit_reinit(samples[-1], initial_noise, scheduler, low_pass, generator, frame_dim)
        samples.append(sample_fn(noise))
    return samples


def compare_initial_noise(generate: Callable[[torch.Tensor], torch.Tensor], shape, settings: dict[str, dict],
                          seeds, metrics: dict[str, Callable[[torch.Tensor], float]]) -> list[dict]:
    """Run ``generate(initial_noise) -> video`` once per seed and noise setting and measure each video.

    ``settings`` maps a label to :func:`correlated_noise` keyword arguments (``{"independent": {"kind":
    "independent"}, "mixed a=1": {"kind": "mixed", "alpha": 1.0}}``); ``metrics`` maps a name to
    ``metric(video) -> float``. Returns one row per label with the mean and standard error of each metric.
    """
    seeds = list(seeds)
    if not seeds or not settings or not metrics:
        raise ValueError("expected at least one seed, one noise setting and one metric")
    _check_callables(generate=generate, **{f"metrics[{k!r}]": m for k, m in metrics.items()})
    for seed in seeds:
        check_args(seed=seed)
    for label, kwargs in settings.items():
        if not isinstance(kwargs, dict):
            raise TypeError(f"settings[{label!r}]: expected a dict of correlated_noise arguments, "
                            f"got {type(kwargs).__name__}")
        check_args(alpha=kwargs.get("alpha", 1.0))
    rows = []
    for label, kwargs in settings.items():
        values = {name: [] for name in metrics}
        for seed in tqdm(seeds, desc=label, leave=False):
            video = generate(correlated_noise(shape, generator=torch.Generator().manual_seed(seed), **kwargs))
            for name, metric in metrics.items():
                values[name].append(float(metric(video)))
        rows.append({"noise": label, "n": len(seeds), **_mean_and_se(values)})
    return rows


def _check_callables(**functions) -> None:
    for name, fn in functions.items():
        if not callable(fn):
            raise TypeError(f"{name}: expected a function, got {type(fn).__name__}")


def _mean_and_se(values: dict[str, list[float]]) -> dict[str, float]:
    """``{name: mean, "name se": standard error}`` over the seeds of each measured metric."""
    row = {}
    for name, vals in values.items():
        v = torch.tensor(vals, dtype=torch.float64)
        row[name] = float(v.mean())
        row[f"{name} se"] = float(v.std() / math.sqrt(len(vals))) if len(vals) > 1 else float("nan")
    return row


def correlation_demo(alpha: float, kind: str = "mixed", num_frames: int = 8, size: int = 32, draws: int = 8,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """What the noise-correlation explorer shows: one channel of a noise clip ``(F, size, size)``, the theory
    ``(F, F)`` and the measured frame correlation over ``draws`` clips of ``(F, 4, size, size)`` noise."""
    check_args(alpha=alpha, num_frames=num_frames, size=size, draws=draws, seed=seed)
    g = torch.Generator().manual_seed(seed)
    noise = correlated_noise((draws, num_frames, 4, size, size), alpha, kind, generator=g)
    return {"frames": noise[0, :, 0], "theory": correlation_theory(num_frames, alpha, kind),
            "measured": frame_covariance(noise), "num_samples": torch.tensor(draws * 4 * size * size)}


def lowpass_correlation(a: torch.Tensor, b: torch.Tensor, low_pass: torch.Tensor, frame_dim: int = -4) -> float:
    """Pearson correlation of the low-pass parts of ``a`` and ``b`` (same shape; :func:`freq_filter` mask):
    how much of ``b``'s coarse space-time structure ``a`` carries (FreeInit's premise)."""
    zeros = torch.zeros_like(a)
    la = freq_mix(a.double(), zeros.double(), low_pass.double(), frame_dim).flatten()
    lb = freq_mix(b.double(), zeros.double(), low_pass.double(), frame_dim).flatten()
    la, lb = la - la.mean(), lb - lb.mean()
    return float((la @ lb) / (la.norm() * lb.norm()))


def steps_vs_quality(generate: Callable[[str, int, int], torch.Tensor], samplers, steps, seeds,
                     metrics: dict[str, Callable[[torch.Tensor], float]]) -> list[dict]:
    """The steps-vs-quality sweep: ``generate(sampler, num_steps, seed) -> video`` for every combination,
    measured with ``metrics`` (e.g. prompt adherence and flicker). One row per (sampler, steps) with the mean
    and standard error over seeds, plus the seconds per video."""

    seeds, samplers, steps = list(seeds), list(samplers), list(steps)
    if not seeds or not metrics or not samplers or not steps:
        raise ValueError("expected at least one sampler, one step count, one seed and one metric")
    _check_callables(generate=generate, **{f"metrics[{k!r}]": m for k, m in metrics.items()})
    for seed in seeds:
        check_args(seed=seed)
    for n in steps:
        check_args(steps=n)
    rows = []
    for sampler in samplers:
        for n in steps:
            values, start = {name: [] for name in metrics}, time.perf_counter()
            for seed in tqdm(seeds, desc=f"{sampler} {n} steps", leave=False):
                video = generate(sampler, n, seed)
                for name, metric in metrics.items():
                    values[name].append(float(metric(video)))
            seconds = (time.perf_counter() - start) / len(seeds)
            rows.append({"sampler": sampler, "steps": n, "seconds per video": seconds, **_mean_and_se(values)})
    return rows


def sampler_generator(pipe, generate: Callable[..., torch.Tensor], shape) -> Callable[[str, int, int], torch.Tensor]:
    """``with_sampler(sampler, num_steps, seed) -> video``, the form :func:`steps_vs_quality` calls.

    Gives ``pipe`` the sampler named ``sampler`` for its trained schedule (:func:`labkit.schedules.swap_scheduler`,
    in place), draws independent initial noise of ``shape`` (e.g. ``(1, F_latent, C, h, w)``) from a CPU generator
    seeded ``seed`` and returns ``generate(noise, num_steps)`` (e.g. :func:`labkit.models.cogvideox.noise_generator`).
    """

    def with_sampler(sampler: str, num_steps: int, seed: int) -> torch.Tensor:
        swap_scheduler(pipe, sampler)
        noise = correlated_noise(shape, kind="independent", generator=torch.Generator().manual_seed(seed))
        return generate(noise, num_steps)

    return with_sampler
