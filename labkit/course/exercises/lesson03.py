"""Exercises of ``03_noise_schedules``: the SNR of a schedule, zero-terminal-SNR rescaling (Lin et al. 2024) and
PYoCo's mixed noise (Ge et al. 2023). References: :func:`labkit.schedules.snr`,
:func:`labkit.schedules.rescale_zero_terminal_snr` and the mixed prior of :func:`labkit.noise.correlated_noise`."""

from __future__ import annotations

import math

import torch

from labkit import schedules
from labkit.course.exercises.core import Case, Exercise, Mistake

LESSON = "03"

_EVERY = 111  # t = 0, 111, ..., 999: ten steps of a 1000-step schedule, the nearly clean one and the last one


def _schedule(name: str, zero_snr: bool = False) -> torch.Tensor:
    """alpha-bar of a named 1000-step schedule at ten timesteps (float64, ``(10,)``)."""
    return schedules.schedule_alphas_cumprod(name, zero_snr=zero_snr)[::_EVERY].clone()


def _zero_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """alpha-bar rescaled to a zero last SNR: the betas of ``alphas_cumprod`` through
    :func:`labkit.schedules.rescale_zero_terminal_snr`, multiplied back into alpha-bar."""
    ac = torch.as_tensor(alphas_cumprod)
    betas = 1 - torch.cat([ac[:1], ac[1:] / ac[:-1]])  # abar_t = prod (1 - beta_s)
    return schedules.alphas_cumprod(schedules.rescale_zero_terminal_snr(betas))


def _mixed_noise(shared: torch.Tensor, own: torch.Tensor, alpha: float) -> torch.Tensor:
    """PYoCo's mixed prior from its two draws (what :func:`labkit.noise.correlated_noise` computes with
    ``kind="mixed"``): ``shared`` ``(1, C, H, W)`` and ``own`` ``(F, C, H, W)`` give ``(F, C, H, W)``."""
    return (alpha * shared + own) / math.sqrt(1 + alpha**2)


def _noise_pair(seed: int, f: int, c: int, h: int, w: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"shared": torch.randn(1, c, h, w, generator=g), "own": torch.randn(f, c, h, w, generator=g)}


SNR = Exercise(
    lesson=LESSON, key="snr", title="the SNR of a schedule",
    task=("Write `snr(alphas_cumprod)`: the signal-to-noise ratio of every step of a schedule, from its alpha-bar "
          "(a float64 tensor `(N,)`, the fraction of signal variance left at each step). Return a tensor `(N,)`."),
    teaches="alpha-bar is a share of variance; the SNR compares the signal's variance with the noise's",
    reference=schedules.snr,
    cases=(Case("scaled_linear, 10 steps", {"alphas_cumprod": _schedule("scaled_linear")}),
           Case("cosine, 10 steps", {"alphas_cumprod": _schedule("cosine")}),
           Case("zero terminal SNR (last alpha-bar 0)", {"alphas_cumprod": _schedule("scaled_linear", True)},
                edge=True)),
    mistakes=(
        Mistake("amplitudes", lambda alphas_cumprod: alphas_cumprod.sqrt() / (1 - alphas_cumprod).sqrt(),
                "you divided the amplitudes (standard deviations): the SNR is a ratio of variances, and alpha-bar "
                "is already a variance"),
        Mistake("inverted", lambda alphas_cumprod: (1 - alphas_cumprod) / alphas_cumprod,
                "noise over signal: that is 1 / SNR (EDM's sigma squared); the SNR puts the signal on top"),
        Mistake("signal share", lambda alphas_cumprod: alphas_cumprod.clone(),
                "alpha-bar is the signal's share of the *total* variance; the SNR divides the signal variance by "
                "the noise variance"),
        Mistake("log", lambda alphas_cumprod: torch.log(alphas_cumprod / (1 - alphas_cumprod)),
                "that is the log-SNR the curves plot; the exercise asks for the SNR itself"),
    ),
)

ZERO_SNR = Exercise(
    lesson=LESSON, key="zero_snr", title="zero-terminal-SNR rescaling",
    task=("Write `zero_snr(alphas_cumprod)`: the schedule of Lin et al. (2024, Algorithm 1) from alpha-bar "
          "(float64 `(N,)`). Take the signal amplitude `sqrt(abar)`, shift it so its last value is 0, scale it so "
          "its first value is unchanged, and return the new alpha-bar `(N,)`."),
    teaches="zero terminal SNR moves the whole amplitude curve, not just the last step, and keeps the clean end",
    reference=_zero_snr,
    cases=(Case("scaled_linear, 10 steps", {"alphas_cumprod": _schedule("scaled_linear")}),
           Case("linear, 10 steps", {"alphas_cumprod": _schedule("linear")}),
           Case("already zero terminal SNR", {"alphas_cumprod": _schedule("scaled_linear", True)}, edge=True)),
    mistakes=(
        Mistake("alpha-bar shifted", lambda alphas_cumprod: (alphas_cumprod - alphas_cumprod[-1])
                * alphas_cumprod[0] / (alphas_cumprod[0] - alphas_cumprod[-1]),
                "you shifted and scaled alpha-bar, a variance: Lin et al. shift and scale the signal amplitude, "
                "its square root, then convert back"),
        Mistake("not scaled", lambda alphas_cumprod: (alphas_cumprod.sqrt() - alphas_cumprod[-1].sqrt()) ** 2,
                "after the shift the first step has lost signal too: scale the shifted amplitude so the first "
                "(nearly clean) step keeps its value"),
        Mistake("last step only", lambda alphas_cumprod: torch.cat([alphas_cumprod[:-1],
                                                                    alphas_cumprod.new_zeros(1)]),
                "zeroing only the last step makes a jump between the last two steps: the rescaling moves every "
                "step so the curve stays smooth"),
        Mistake("amplitude returned", lambda alphas_cumprod: (alphas_cumprod.sqrt() - alphas_cumprod[-1].sqrt())
                * alphas_cumprod[0].sqrt() / (alphas_cumprod[0].sqrt() - alphas_cumprod[-1].sqrt()),
                "you returned the rescaled amplitude sqrt(abar): convert it back to alpha-bar"),
    ),
)

MIXED_NOISE = Exercise(
    lesson=LESSON, key="mixed_noise", title="PYoCo mixed noise",
    task=("Write `mixed_noise(shared, own, alpha)`: PYoCo's mixed noise prior from two standard-normal draws, "
          "`shared` of shape `(1, C, H, W)` (one for all frames) and `own` of shape `(F, C, H, W)` (one per "
          "frame). `alpha` weighs the shared part; every element of the result `(F, C, H, W)` must keep "
          "variance 1."),
    teaches="frames share part of their noise, and independent parts add variances, so the sum is renormalised",
    reference=_mixed_noise,
    cases=(Case("alpha 2, 4 frames", {**_noise_pair(0, 4, 2, 3, 3), "alpha": 2.0}),
           Case("alpha 0.5, 3 frames", {**_noise_pair(1, 3, 1, 4, 5), "alpha": 0.5}),
           Case("alpha 0 (independent frames)", {**_noise_pair(2, 3, 2, 2, 2), "alpha": 0.0}, edge=True)),
    mistakes=(
        Mistake("not renormalised", lambda shared, own, alpha: alpha * shared + own,
                "the sum of two independent parts has the sum of their variances, so it is more than 1 here: "
                "divide by the standard deviation of the sum"),
        Mistake("divided by the weights", lambda shared, own, alpha: (alpha * shared + own) / (1 + alpha),
                "you divided by the sum of the weights: independent parts add variances, not standard deviations"),
        Mistake("alpha not squared", lambda shared, own, alpha: (alpha * shared + own) / math.sqrt(1 + alpha),
                "the variance of alpha times a unit-variance draw is alpha squared, not alpha"),
        Mistake("alpha on the own part", lambda shared, own, alpha: (shared + alpha * own) / math.sqrt(1 + alpha**2),
                "alpha weighs the shared part: a larger alpha should make the frames more alike, and alpha = 0 "
                "should give independent frames"),
    ),
)

EXERCISES = (SNR, ZERO_SNR, MIXED_NOISE)
