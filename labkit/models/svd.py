"""The tiny Stable Video Diffusion: its pipeline and the EDM preconditioning its scheduler applies.

Taught in ``05_svd_cogvideox_inference`` (the micro-conditioning sweep); trained by :mod:`labkit.training.svd` on the
knob world (:mod:`labkit.data.knob`), shipped as ``data/models/tiny-svd``.

:func:`build_pipeline` assembles a random-weight ``StableVideoDiffusionPipeline`` from
:func:`labkit.models.tiny.tiny_svd_components`: a 2-level spatio-temporal UNet of :data:`UNET_CHANNELS`, a tiny
``AutoencoderKLTemporalDecoder``, a tiny CLIP image encoder and ``EulerDiscreteScheduler`` with SVD-XT's config.

:func:`edm_coefficients` is that scheduler's preconditioning with ``prediction_type="v_prediction"`` and continuous
timesteps (EDM, Karras et al. 2022, with sigma_data = 1): for latents ``x = x0 + sigma * eps`` the UNet sees
``c_in * x`` with ``c_in = 1 / sqrt(sigma^2 + 1)`` and the timestep ``c_noise = 0.25 ln(sigma)``, and ``step`` reads
its output ``F`` as ``x0_hat = c_skip * x + c_out * F`` with ``c_skip = 1 / (sigma^2 + 1)`` and
``c_out = -sigma / sqrt(sigma^2 + 1)``.
"""

from __future__ import annotations

import torch
from diffusers import StableVideoDiffusionPipeline

from labkit.models.tiny import tiny_svd_components

__all__ = ["edm_coefficients", "UNET_CHANNELS", "build_pipeline"]


# ------------------------------------------------------------------------------------------------ objective
def edm_coefficients(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_in, c_skip, c_out, c_noise)`` of ``EulerDiscreteScheduler`` with v-prediction, continuous timesteps."""
    c_in = 1 / (sigma ** 2 + 1).sqrt()
    return c_in, 1 / (sigma ** 2 + 1), -sigma * c_in, 0.25 * sigma.log()


# ------------------------------------------------------------------------------------------------ model
#: UNet widths. **At least 64 channels at every level**: diffusers' SVD resnets use ``GroupNorm(32)`` right after
#: adding the time embedding (timestep + fps + motion_bucket_id + noise_aug_strength) as a per-channel shift; with
#: 32 channels every group is one channel, the norm subtracts each channel's mean and the embedding is erased --
#: a 32-channel SVD UNet cannot hear its knobs (nor the noise level), whatever its weights
#: (``tests/models/test_svd.py::test_unet_hears_the_micro_conditions``).
UNET_CHANNELS = (64, 64)


def build_pipeline(seed: int = 0):
    """A fresh ``StableVideoDiffusionPipeline`` (random weights) from :func:`labkit.models.tiny.tiny_svd_components`:
    a 2-level UNet of :data:`UNET_CHANNELS`, one layer per block, attention only at the 8x8 latent level and the
    mid block (attention at 16x16 would double a CPU training step)."""

    pipe = StableVideoDiffusionPipeline(**tiny_svd_components(seed, unet_channels=UNET_CHANNELS, unet_layers=1,
                                                              attention_levels=(1,)))
    pipe.set_progress_bar_config(disable=True)
    return pipe
