"""Exercises of ``04_train_tiny_video_model``: the v-prediction target, the clean clip a v prediction implies, and
classifier-free guidance. References: :func:`labkit.schedules.v_target` (``DDPMScheduler.get_velocity``), the
``pred_original_sample`` of ``CogVideoXDDIMScheduler.step`` in v-prediction mode, and the guidance step of
``CogVideoXPipeline`` (:func:`labkit.models.cogvideox.sample_from`)."""

from __future__ import annotations

import torch

from labkit import schedules
from labkit.course.exercises.core import Case, Exercise, Mistake

LESSON = "04"

#: The tiny pipelines' training schedule: scaled_linear rescaled to zero terminal SNR (alpha-bar 0 at t = 999).
_ALPHAS_CUMPROD = schedules.schedule_alphas_cumprod("scaled_linear", zero_snr=True)


def _coefs(alphas_cumprod: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sqrt(abar_t)`` and ``sqrt(1 - abar_t)``, one per clip, shaped ``(B, 1, 1, 1, 1)`` to broadcast."""
    a = alphas_cumprod[t].to(like.dtype).reshape(-1, *[1] * (like.ndim - 1))
    return a.sqrt(), (1 - a).sqrt()


def _x0_from_v(x_t: torch.Tensor, v: torch.Tensor, alphas_cumprod: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The clean clip a v prediction implies, ``sqrt(abar_t) x_t - sqrt(1 - abar_t) v`` (Salimans & Ho 2022;
    ``pred_original_sample`` of ``CogVideoXDDIMScheduler.step`` with ``prediction_type="v_prediction"``)."""
    a, s = _coefs(alphas_cumprod, t, x_t)
    return a * x_t - s * v


def _guide(v_uncond: torch.Tensor, v_text: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) in diffusers' convention: ``scale = 1`` is no guidance."""
    return v_uncond + scale * (v_text - v_uncond)


def _clips(seed: int, t: list[int], names: tuple[str, str], shape=(2, 2, 3, 5)) -> dict:
    """Two seeded standard-normal batches ``(B, F, C, H, W)`` (W differs from B, so a coefficient of shape ``(B,)``
    cannot broadcast by accident), the schedule and one timestep per clip."""
    g = torch.Generator().manual_seed(seed)
    b = len(t)
    first, second = (torch.randn(b, *shape, generator=g) for _ in range(2))
    return {names[0]: first, names[1]: second, "alphas_cumprod": _ALPHAS_CUMPROD, "t": torch.tensor(t)}


def _guidance_case(seed: int, scale: float) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"v_uncond": torch.randn(2, 3, 2, 2, 3, generator=g), "v_text": torch.randn(2, 3, 2, 2, 3, generator=g),
            "scale": scale}


V_TARGET = Exercise(
    lesson=LESSON, key="v_target", title="the v-prediction target",
    task=("Write `v_target(x0, noise, alphas_cumprod, t)`: the v-prediction target for clean latents `x0` and "
          "noise `noise` (both `(B, F, C, H, W)`) at timesteps `t` (a long tensor `(B,)`, one per clip) of the "
          "schedule `alphas_cumprod` (`(1000,)`). Shape each clip's coefficients so they broadcast over its "
          "`(F, C, H, W)` values."),
    teaches="the training target that matches a v-prediction sampler, and that it is defined at pure noise",
    reference=schedules.v_target,
    cases=(Case("3 clips at t = 0, 500, 900", _clips(0, [0, 500, 900], ("x0", "noise"))),
           Case("2 clips at t = 250, 750", _clips(1, [250, 750], ("x0", "noise"))),
           Case("pure noise, t = 999", _clips(2, [999, 999], ("x0", "noise")), edge=True)),
    mistakes=(
        Mistake("epsilon", lambda x0, noise, alphas_cumprod, t: noise.clone(),
                "that is the epsilon-prediction target: v mixes the noise and the clean latents, weighted by the "
                "schedule"),
        Mistake("flow velocity", lambda x0, noise, alphas_cumprod, t: noise - x0,
                "that is the flow-matching velocity of a straight path; on the DDPM path both terms are weighted "
                "by the schedule at step t"),
        Mistake("coefficients swapped", lambda x0, noise, alphas_cumprod, t:
                (lambda a, s: s * noise - a * x0)(*_coefs(alphas_cumprod, t, x0)),
                "each coefficient is on the other term: at t = 0 (almost clean) v should be almost all noise"),
        Mistake("noisy input", lambda x0, noise, alphas_cumprod, t: schedules.add_noise(x0, noise, alphas_cumprod, t),
                "that is x_t, the noisy latents the model gets as input; the target v is another mix of the same "
                "two terms"),
    ),
)

X0_FROM_V = Exercise(
    lesson=LESSON, key="x0_from_v", title="the clean clip from a v prediction",
    task=("Write `x0_from_v(x_t, v, alphas_cumprod, t)`: the clean latents that a noisy `x_t` and a v prediction "
          "`v` (both `(B, F, C, H, W)`) imply at timesteps `t` (a long tensor `(B,)`) of the schedule "
          "`alphas_cumprod` (`(1000,)`), as the DDIM sampler computes them at every step. Use "
          "`x_t = sqrt(abar) x0 + sqrt(1 - abar) eps` and `v = sqrt(abar) eps - sqrt(1 - abar) x0`."),
    teaches="why v-prediction works at every step: x_t and v are a rotation of (x0, eps), so x0 is a fixed mix of them",
    reference=_x0_from_v,
    cases=(Case("3 clips at t = 0, 500, 900", _clips(3, [0, 500, 900], ("x_t", "v"))),
           Case("2 clips at t = 250, 750", _clips(4, [250, 750], ("x_t", "v"))),
           Case("pure noise, t = 999", _clips(5, [999, 999], ("x_t", "v")), edge=True)),
    mistakes=(
        Mistake("epsilon inversion", lambda x_t, v, alphas_cumprod, t:
                (lambda a, s: (x_t - s * v) / a)(*_coefs(alphas_cumprod, t, x_t)),
                "that inverts x_t as if the model predicted eps: it divides by sqrt(abar), which fails at pure "
                "noise. Eliminate eps between the two equations instead"),
        Mistake("v sign", lambda x_t, v, alphas_cumprod, t:
                (lambda a, s: a * x_t + s * v)(*_coefs(alphas_cumprod, t, x_t)),
                "check the sign of the v term: substitute both equations into your answer, and the eps terms "
                "must cancel"),
        Mistake("coefficients swapped", lambda x_t, v, alphas_cumprod, t:
                (lambda a, s: s * x_t - a * v)(*_coefs(alphas_cumprod, t, x_t)),
                "each coefficient is on the other term: at t = 0 (almost clean) x_t itself is nearly x0"),
        Mistake("x_t unweighted", lambda x_t, v, alphas_cumprod, t:
                (lambda a, s: x_t - s * v)(*_coefs(alphas_cumprod, t, x_t)),
                "x_t needs a coefficient too: x0 is a weighted mix of x_t and v, both weighted by the schedule"),
    ),
)

GUIDANCE = Exercise(
    lesson=LESSON, key="guidance", title="classifier-free guidance",
    task=("Write `guide(v_uncond, v_text, scale)`: the prediction classifier-free guidance gives from the "
          "unconditional prediction `v_uncond` (caption `\"\"`) and the conditional one `v_text` (both "
          "`(B, F, C, H, W)`) at guidance scale `scale`, in the convention of diffusers' pipelines "
          "(`guidance_scale = 1` is no guidance)."),
    teaches="guidance extrapolates from the unconditional prediction through the conditional one",
    reference=_guide,
    cases=(Case("scale 4", _guidance_case(0, 4.0)), Case("scale 7.5", _guidance_case(1, 7.5)),
           Case("scale 1 (guidance off)", _guidance_case(2, 1.0), edge=True)),
    mistakes=(
        Mistake("difference reversed", lambda v_uncond, v_text, scale: v_uncond + scale * (v_uncond - v_text),
                "you step away from the caption: the caption's effect is the conditional prediction minus the "
                "unconditional one, and guidance steps along it"),
        Mistake("scaled prediction", lambda v_uncond, v_text, scale: scale * v_text,
                "guidance scales the difference the caption makes, not the whole prediction (which would change "
                "the noise level the sampler assumes)"),
        Mistake("Imagen convention", lambda v_uncond, v_text, scale: v_text + scale * (v_text - v_uncond),
                "that is the convention of the CFG paper, where weight 0 is no guidance; in diffusers' convention "
                "scale 1 gives the conditional prediction unchanged"),
        Mistake("average", lambda v_uncond, v_text, scale: (v_uncond + scale * v_text) / (1 + scale),
                "a weighted average stays between the two predictions; a scale above 1 goes beyond the "
                "conditional one"),
    ),
)

EXERCISES = (V_TARGET, X0_FROM_V, GUIDANCE)
