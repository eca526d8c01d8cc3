"""Tiny random-weight video pipelines built from the real diffusers/transformers classes.

Taught in ``05_svd_cogvideox_inference`` (and the factories are the shapes the tiny trained checkpoints use).

Every factory follows diffusers' ``get_dummy_components``: each component is created right after
``torch.manual_seed(seed)``, so the same seed gives the same weights on every machine. **The weights are random**:
these pipelines produce noise-like videos. They exist to exercise the exact code paths of
``CogVideoXPipeline`` and ``StableVideoDiffusionPipeline`` (memory plans, timings, shapes) at a size a laptop CPU
runs in seconds. Their ``pipe.labkit_note`` says so, and every notebook cell that shows their output repeats it.

- :func:`tiny_cogvideox_components` / :func:`tiny_cogvideox_pipeline` -- the Shapes-world tokenizer
  (:func:`labkit.models.text.shapes_tokenizer`) + T5 encoder + CogVideoX transformer + causal 3D VAE +
  ``CogVideoXDDIMScheduler``;
- :func:`tiny_svd_components` / :func:`tiny_svd_pipeline` -- spatio-temporal UNet + temporal-decoder VAE +
  CLIP vision encoder + ``CLIPImageProcessor`` + ``EulerDiscreteScheduler`` (the SVD-XT scheduler config);
- :func:`load_pipeline_folder` -- a saved pipeline folder (the shipped ``tiny-t2v``, ``tiny-i2v``, ``tiny-svd``);
  a CogVideoX transformer in it refuses text of the wrong length (:func:`labkit.models.cogvideox.guard_text_length`).
"""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKLTemporalDecoder,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    StableVideoDiffusionPipeline,
    UNetSpatioTemporalConditionModel,
)
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from labkit.models.cogvideox import cogvideox_scheduler, guard_text_length, new_transformer
from labkit.models.text import new_text_encoder, shapes_tokenizer
from labkit.models.vae import tiny_vae_3d

__all__ = ["RANDOM_WEIGHTS_NOTE", "tiny_cogvideox_components", "tiny_svd_components", "tiny_cogvideox_pipeline",
           "tiny_svd_pipeline", "TINY_FACTORIES", "load_pipeline_folder"]


RANDOM_WEIGHTS_NOTE = ("random weights (an untrained tiny pipeline built by labkit.models): its videos are noise, "
                       "only its shapes, timings and memory are meaningful")


def tiny_cogvideox_components(seed: int = 0, width: int = 32, layers: int = 2, vae_channels: int = 32) -> dict:
    """Components of a tiny ``CogVideoXPipeline`` (random weights, seeded per component), made by the course's
    factories at their own sizes: :func:`labkit.models.text.new_text_encoder`,
    :func:`labkit.models.cogvideox.new_transformer`, :func:`labkit.models.vae.tiny_vae_3d` and CogVideoX-2b's
    scheduler (:func:`labkit.models.cogvideox.cogvideox_scheduler`).

    ``width``: the transformer's model width (``num_attention_heads * attention_head_dim``, heads of 16); the
    T5 encoder has the same width so ``text_embed_dim`` matches. The VAE keeps the production layout (4 levels:
    8x spatial, 4x temporal compression), with 4 latent channels instead of 16.
    """

    tokenizer, latent_channels = shapes_tokenizer(), 4
    return {"tokenizer": tokenizer, "text_encoder": new_text_encoder(tokenizer, width, seed),
            "transformer": new_transformer(latent_channels, width=width, layers=layers,
                                           text_width=width,  # = the T5 encoder's d_model
                                           seed=seed, num_frames=9),  # notebook 05's default length
            "vae": tiny_vae_3d(latent_channels, (vae_channels,) * 4, seed), "scheduler": cogvideox_scheduler()}


def tiny_svd_components(seed: int = 0, unet_channels: tuple[int, ...] = (32, 32), vae_channels=(32, 32),
                        unet_layers: int = 2, attention_levels: tuple[int, ...] | None = None) -> dict:
    """Components of a tiny ``StableVideoDiffusionPipeline`` (random weights, seeded per component).

    Sizes follow diffusers' own SVD test (32 channels: the smallest its GroupNorm(32) allows); dependent sizes are
    derived: the UNet's ``cross_attention_dim`` is the CLIP projection width, and
    ``projection_class_embeddings_input_dim = 3 * addition_time_embed_dim`` because SVD embeds three
    micro-conditions (fps, motion_bucket_id, noise_aug_strength). ``unet_layers`` is ``layers_per_block``;
    ``attention_levels`` the UNet levels with (cross-)attention blocks (default: all but the deepest, as SVD);
    the trained tiny SVD (:func:`labkit.models.svd.build_pipeline`) keeps attention off the full-resolution level,
    which halves a training step on the CPU.
    """

    clip_width, time_dim, latent_channels = 32, 32, 4
    levels = len(unet_channels)
    attention_levels = range(levels - 1) if attention_levels is None else attention_levels
    down = tuple(("CrossAttn" if i in attention_levels else "") + "DownBlockSpatioTemporal" for i in range(levels))
    up = tuple(("CrossAttn" if i in attention_levels else "") + "UpBlockSpatioTemporal" for i in reversed(range(levels)))
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=tuple(unet_channels), layers_per_block=unet_layers, sample_size=8,
        in_channels=2 * latent_channels,  # noisy latents + the conditioning image's latents
        out_channels=latent_channels, down_block_types=down, up_block_types=up,
        cross_attention_dim=clip_width, num_attention_heads=tuple(max(1, c // 16) for c in unet_channels),
        projection_class_embeddings_input_dim=3 * time_dim, addition_time_embed_dim=time_dim, num_frames=8)
    torch.manual_seed(seed)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=tuple(vae_channels), in_channels=3, out_channels=3,
                                       down_block_types=("DownEncoderBlock2D",) * len(vae_channels),
                                       latent_channels=latent_channels)
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=clip_width, projection_dim=clip_width, num_hidden_layers=2, num_attention_heads=2,
        image_size=224, intermediate_size=2 * clip_width, patch_size=32))  # the pipeline resizes to 224x224
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    return {"unet": unet.eval(), "vae": vae.eval(), "image_encoder": image_encoder.eval(),
            "scheduler": scheduler, "feature_extractor": feature_extractor}


def _labelled(pipe):
    pipe.labkit_note = RANDOM_WEIGHTS_NOTE
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_cogvideox_pipeline(seed: int = 0, **sizes):
    """A tiny random-weight ``CogVideoXPipeline`` on the CPU (see :func:`tiny_cogvideox_components`)."""

    return _labelled(CogVideoXPipeline(**tiny_cogvideox_components(seed, **sizes)))


def tiny_svd_pipeline(seed: int = 0, **sizes):
    """A tiny random-weight ``StableVideoDiffusionPipeline`` on the CPU (see :func:`tiny_svd_components`)."""

    return _labelled(StableVideoDiffusionPipeline(**tiny_svd_components(seed, **sizes)))


#: ``real-size-random:NAME`` and ``random:NAME`` specs of :func:`labkit.inference.load_pipeline`.
TINY_FACTORIES = {"tiny-cogvideox": tiny_cogvideox_pipeline, "tiny-svd": tiny_svd_pipeline}


def load_pipeline_folder(path) -> DiffusionPipeline:
    """A diffusers pipeline folder (``model_index.json``) loaded float32 on the CPU, progress bars off; a CogVideoX
    transformer gets :func:`labkit.models.cogvideox.guard_text_length` (a prompt padded to diffusers' default 226
    tokens is refused with the fix, not a size mismatch deep inside)."""
    pipe = DiffusionPipeline.from_pretrained(path, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    if isinstance(getattr(pipe, "transformer", None), CogVideoXTransformer3DModel):
        guard_text_length(pipe.transformer)
    return pipe
