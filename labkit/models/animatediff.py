"""The tiny image model of ``02_temporal_attention``, its inflated video model, and their samplers.

Taught in ``02_temporal_attention``; trained by :mod:`labkit.training.animatediff`, inflated with
:mod:`labkit.inflation`, measured by :mod:`labkit.evaluation.animatediff`; shipped as ``data/models/tiny-image-unet``
and ``data/models/tiny-motion-adapter``.

- **image model** (:class:`ImageDenoiser`): a tiny per-frame ``UNet2DConditionModel`` (:func:`new_image_unet`,
  pixel space, v-prediction with the cosine schedule of :func:`noise_scheduler`) and a :class:`CaptionEncoder`:
  there is no pretrained text encoder, so a learned embedding table over the Shapes-world vocabulary (one token per
  word, plus a learned position embedding) gives ``encoder_hidden_states`` ``(B, MAX_WORDS, TEXT_DIM)``;
- **video model** (:class:`VideoDenoiser`): the same UNet inflated into a ``UNetMotionModel`` with a
  ``MotionAdapter`` (AnimateDiff, Guo et al. 2023; :func:`new_motion_adapter`, output projections zero-initialised),
  temporal attention causal or bidirectional;
- **sampling** (DDIM, :func:`sampler`): :func:`sample_frames` (the image model, every frame from its own noise:
  incoherent), :func:`sample_clip` (the video model, all frames denoised jointly) and :func:`sample_streaming`
  (frame by frame with causal temporal attention: each new frame is denoised next to the last ``window - 1``
  generated frames, re-noised to the current step: the replacement method of Ho et al. 2022, "Video Diffusion
  Models"); :func:`load_image_model` and :func:`load_video_model` load the shipped weights.

Shapes: frames ``(B, 3, S, S)``, clips ``(B, F, 3, S, S)`` in [0, 1] (the course convention); the models see
``x * 2 - 1`` and ``UNetMotionModel`` wants ``(B, C, F, H, W)``, converted at the boundary with einops.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as Fn
from diffusers import DDIMScheduler, DDPMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange

from labkit.checks import check_args
from labkit.data.shapes import make_clip, vocabulary
from labkit.inflation import inflate, set_temporal_attention, zero_init_motion_modules
from labkit.models import folder

__all__ = ["SIZE", "RENDER", "NUM_FRAMES", "MAX_WORDS", "TEXT_DIM", "WORDS", "IMAGE_MODEL_DIR", "MOTION_MODEL_DIR",
           "tokenize", "CaptionEncoder", "new_image_unet", "new_motion_adapter", "ImageDenoiser",
           "VideoDenoiser", "noise_scheduler", "sampler", "load_image_model", "load_video_model",
           "downsample", "render_clip", "sample_frames", "sample_clip", "sample_streaming"]


SIZE = 24  # frame size in pixels: small enough to train on a 2-core CPU in minutes


RENDER = 48  # Shapes-world clips are rendered at 48 px (it needs >= 32) and 2x2 average-pooled to SIZE


NUM_FRAMES = 8  # frames per training clip


MAX_WORDS = 8  # "a red circle moving left" = 5 words; one-object captions only


# Speed words are left out (ShapesWorld(speeds=False)): every object moves at normal speed.
TEXT_DIM = 32  # encoder_hidden_states width = the UNet's cross_attention_dim


WORDS = ["<pad>"] + sorted({w for ws in vocabulary().values() for w in ws})


IMAGE_MODEL_DIR = folder("tiny-image-unet")


MOTION_MODEL_DIR = folder("tiny-motion-adapter")


def tokenize(captions: list[str]) -> torch.Tensor:
    """Captions -> word ids ``(B, MAX_WORDS)`` (0 = padding); unknown words raise with the vocabulary."""
    index = {w: i for i, w in enumerate(WORDS)}
    ids = torch.zeros(len(captions), MAX_WORDS, dtype=torch.long)
    for row, caption in enumerate(captions):
        words = caption.lower().split()
        unknown = [w for w in words if w not in index]
        if unknown or len(words) > MAX_WORDS:
            raise ValueError(f"expected a one-object Shapes-world caption of <= {MAX_WORDS} words from "
                             f"{WORDS[1:]}, got {caption!r}")
        ids[row, : len(words)] = torch.tensor([index[w] for w in words])
    return ids


class CaptionEncoder(ModelMixin, ConfigMixin):
    """Word ids ``(B, L)`` -> ``encoder_hidden_states`` ``(B, L, dim)``: word + position embeddings, one
    LayerNorm. Saved with ``save_pretrained`` (safetensors) beside the UNet."""

    @register_to_config
    def __init__(self, vocab_size: int = len(WORDS), max_words: int = MAX_WORDS, dim: int = TEXT_DIM):
        super().__init__()
        self.words = torch.nn.Embedding(vocab_size, dim)
        self.positions = torch.nn.Parameter(torch.zeros(max_words, dim))
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.words(ids) + self.positions[: ids.shape[1]])


def new_image_unet(seed: int = 0) -> UNet2DConditionModel:
    """The tiny image denoiser: 3 levels (24 -> 12 -> 6 px), cross-attention to the caption at 12 and 6 px."""
    check_args(seed=seed)
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=SIZE, in_channels=3, out_channels=3, block_out_channels=(16, 32, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_DIM, attention_head_dim=4,  # diffusers' legacy name: 4 heads
        norm_num_groups=8)


def new_motion_adapter(seed: int = 0) -> MotionAdapter:
    """A MotionAdapter matching :func:`new_image_unet` (same block channels and layers per block), with its
    output projections zero-initialised."""
    torch.manual_seed(seed)
    adapter = MotionAdapter(block_out_channels=(16, 32, 32), motion_layers_per_block=1,
                            motion_num_attention_heads=4, motion_norm_num_groups=8, motion_max_seq_length=32,
                            use_motion_mid_block=True)
    zero_init_motion_modules(adapter)
    return adapter


class ImageDenoiser(torch.nn.Module):
    """Caption encoder + UNet2DConditionModel: ``(x (B, 3, S, S) in [-1, 1], t (B,), ids (B, L))`` -> v."""

    def __init__(self, unet: UNet2DConditionModel, text: CaptionEncoder):
        super().__init__()
        self.unet, self.text = unet, text

    def forward(self, x, t, ids):
        return self.unet(x, t, self.text(ids)).sample


class VideoDenoiser(torch.nn.Module):
    """Caption encoder + UNetMotionModel: ``(x (B, F, 3, S, S) in [-1, 1], t (B,), ids (B, L))`` -> v, same shape."""

    def __init__(self, unet: UNetMotionModel, text: CaptionEncoder):
        super().__init__()
        self.unet, self.text = unet, text

    def forward(self, x, t, ids):
        num_frames = x.shape[1]
        context = self.text(ids).repeat_interleave(num_frames, dim=0)  # UNetMotionModel wants one per frame
        out = self.unet(rearrange(x, "b f c h w -> b c f h w"), t, context).sample
        return rearrange(out, "b c f h w -> b f c h w")


def noise_scheduler() -> DDPMScheduler:
    """Training noise: 1000 steps, cosine ᾱ (Nichol & Dhariwal 2021), v-prediction (Salimans & Ho 2022)."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                         clip_sample=False)


def sampler() -> DDIMScheduler:
    """Deterministic DDIM sampler with the training schedule (eta = 0)."""
    return DDIMScheduler.from_config(noise_scheduler().config, timestep_spacing="trailing")


# ------------------------------------------------------------------------------------------------ loading
def load_image_model(path=IMAGE_MODEL_DIR) -> ImageDenoiser:
    """The shipped (or a trained) tiny image model from ``path`` (``unet/``, ``text_encoder/``)."""
    path = Path(path)
    if not (path / "unet").exists():
        raise FileNotFoundError(f"no image model at {path}; train one with `labkit train image-unet`")
    model = ImageDenoiser(UNet2DConditionModel.from_pretrained(path / "unet"),
                          CaptionEncoder.from_pretrained(path / "text_encoder"))
    return model.eval().requires_grad_(False)


def load_video_model(path=MOTION_MODEL_DIR, image_path=IMAGE_MODEL_DIR, fresh: bool = False,
                     causal: bool = False) -> VideoDenoiser:
    """The image model inflated with the shipped motion adapter (``fresh``: a new zero-initialised one)."""
    image = load_image_model(image_path)
    adapter = new_motion_adapter() if fresh else MotionAdapter.from_pretrained(Path(path) / "motion_adapter")
    model = VideoDenoiser(inflate(image.unet, adapter), image.text).eval().requires_grad_(False)
    set_temporal_attention(model.unet, causal)
    return model


# ------------------------------------------------------------------------------------------------ inputs
def downsample(video: torch.Tensor) -> torch.Tensor:
    """Clip(s) ``(..., 3, RENDER, RENDER)`` -> ``(..., 3, SIZE, SIZE)`` by average pooling (anti-aliased)."""
    k = video.shape[-1] // SIZE
    return Fn.avg_pool2d(video.flatten(0, -4), k).unflatten(0, video.shape[:-3])


def render_clip(caption: str, seed: int, num_frames: int = NUM_FRAMES) -> torch.Tensor:
    """The Shapes-world clip of ``caption`` at this lesson's size: ``(F, 3, SIZE, SIZE)`` in [0, 1]."""
    check_args(seed=seed, num_frames=num_frames)
    return downsample(make_clip(caption, seed, num_frames=num_frames, size=RENDER).video)


def _adapter_state(unet: UNetMotionModel) -> dict:
    """The motion-module weights of an inflated UNet, keyed as in ``MotionAdapter`` (``down_blocks.i.motion_modules``
    -> ``down_blocks.i.motion_modules``, ``mid_block.motion_modules`` -> ``mid_block.motion_modules``)."""
    return {k: v for k, v in unet.state_dict().items() if "motion_modules" in k}


# ------------------------------------------------------------------------------------------------ sampling
def _noise(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _denoise(model, x: torch.Tensor, ids: torch.Tensor, steps: int, context=None, seed: int = 0) -> torch.Tensor:
    """DDIM from noise ``x`` (clips ``(B, F, 3, S, S)`` or frames ``(B, 3, S, S)``) to a sample in [-1, 1].
    ``context`` (clean frames ``(B, K, 3, S, S)``) is re-noised to each step and put before ``x`` (frames axis);
    only ``x`` is updated."""
    sched = sampler()
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    for t in sched.timesteps:
        tt = torch.full((x.shape[0],), int(t))
        if context is None:
            v = model(x, tt, ids)
        else:
            noisy = sched.add_noise(context, torch.randn(context.shape, generator=g), tt)
            v = model(torch.cat([noisy, x], dim=1), tt, ids)[:, context.shape[1]:]
        x = sched.step(v, t, x).prev_sample
    return x


def sample_frames(image_model: ImageDenoiser, caption: str, num_frames: int = NUM_FRAMES, seed: int = 0,
                  steps: int = 20) -> torch.Tensor:
    """``num_frames`` images for one caption, each from its own noise -> clip ``(F, 3, S, S)`` in [0, 1].
    Uses the same noise as :func:`sample_clip` with the same seed."""
    check_args(num_frames=num_frames, seed=seed, steps=steps)
    x = _noise((1, num_frames, 3, SIZE, SIZE), seed)[0]
    ids = tokenize([caption]).expand(num_frames, -1)
    return ((_denoise(image_model, x, ids, steps) + 1) / 2).clamp(0, 1)


def sample_clip(video_model: VideoDenoiser, caption: str, num_frames: int = NUM_FRAMES, seed: int = 0,
                steps: int = 20) -> torch.Tensor:
    """All frames denoised together by the video model -> clip ``(F, 3, S, S)`` in [0, 1]."""
    check_args(num_frames=num_frames, seed=seed, steps=steps)
    x = _noise((1, num_frames, 3, SIZE, SIZE), seed)
    return ((_denoise(video_model, x, tokenize([caption]), steps) + 1) / 2).clamp(0, 1)[0]


def sample_streaming(video_model: VideoDenoiser, caption: str, num_frames: int = 16, seed: int = 0,
                     steps: int = 20, window: int = NUM_FRAMES) -> torch.Tensor:
    """Frame-by-frame generation with causal temporal attention -> clip ``(F, 3, S, S)`` in [0, 1].

    Frame 0 is denoised alone; frame ``i`` is denoised next to the last ``window - 1`` generated frames, which are
    re-noised at every step and never see frame ``i`` (causal). Errors in a generated frame become the context of
    the next: this is where error accumulation comes from. Can run past the training length.
    """
    check_args(num_frames=num_frames, seed=seed, steps=steps, window=window)
    if not getattr(video_model.unet, "temporal_causal", False):
        raise ValueError("sample_streaming needs causal temporal attention: load_video_model(causal=True)")
    ids = tokenize([caption])
    noise = _noise((1, num_frames, 3, SIZE, SIZE), seed)
    frames = []
    for i in range(num_frames):
        context = torch.cat(frames[-(window - 1):], dim=1) if frames else None
        frames.append(_denoise(video_model, noise[:, i:i + 1], ids, steps, context, seed=seed + 1000 + i))
    return ((torch.cat(frames, dim=1) + 1) / 2).clamp(0, 1)[0]
