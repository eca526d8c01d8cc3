"""Inflating an image model into a video model, the AnimateDiff way, with diffusers' own classes.

Taught in ``02_temporal_attention``.

1. A tiny per-frame image denoiser (``UNet2DConditionModel``, pixel space, v-prediction) is trained on single
   Shapes-world frames with its caption (:func:`train_image_unet`, ``labkit train image-unet``).
2. A ``MotionAdapter`` (temporal attention layers, AnimateDiff, Guo et al. 2023) is inserted with
   ``UNetMotionModel.from_unet2d``; its output projections are zero-initialised as in AnimateDiff, so the fresh
   video model reproduces the image model frame by frame (:func:`zero_init_motion_modules`). The spatial weights
   are frozen and only the motion modules train on clips (:func:`train_motion_adapter`,
   ``labkit train motion-adapter``). Each batch uses causal or bidirectional temporal attention at random, so one
   adapter serves both modes (:func:`set_temporal_attention`).

Text conditioning: there is no pretrained text encoder; :class:`CaptionEncoder` is a learned embedding table over
the Shapes-world vocabulary (one token per word, plus a learned position embedding) producing
``encoder_hidden_states`` ``(B, MAX_WORDS, TEXT_DIM)``.

3. Sampling (DDIM): :func:`sample_frames` (the image model, every frame from its own noise: incoherent),
   :func:`sample_clip` (the video model, all frames denoised jointly; causal or bidirectional) and
   :func:`sample_streaming` (frame by frame with causal temporal attention: each new frame is denoised next to
   the last ``window - 1`` generated frames, re-noised to the current step: the replacement method of
   Ho et al. 2022, "Video Diffusion Models"). :func:`clip_measures` scores a clip (flicker, warping error from
   :mod:`labkit.metrics`, plus colour drift and position jitter of the foreground, defined here).

Shapes: frames ``(B, 3, S, S)``, clips ``(B, F, 3, S, S)`` in [0, 1] (the course convention); the models see
``x * 2 - 1`` and ``UNetMotionModel`` wants ``(B, C, F, H, W)``, converted at the boundary with einops.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as Fn
from diffusers import DDIMScheduler, DDPMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange

from . import DATA_DIR, OUTPUTS_DIR
from .data import ShapesWorld, collate_clips, vocabulary

__all__ = ["SIZE", "NUM_FRAMES", "MAX_WORDS", "TEXT_DIM", "WORDS", "tokenize", "CaptionEncoder", "new_image_unet",
           "new_motion_adapter", "zero_init_motion_modules", "inflate", "set_temporal_attention",
           "CausalTemporalAttnProcessor", "ImageDenoiser", "VideoDenoiser", "noise_scheduler", "sampler",
           "load_image_model", "load_video_model", "train_image_unet", "train_motion_adapter",
           "train_image_unet_main", "train_motion_adapter_main", "IMAGE_MODEL_DIR", "MOTION_MODEL_DIR",
           "downsample", "render_clip", "sample_frames", "sample_clip", "sample_streaming", "foreground_tracks", "clip_measures",
           "per_frame_error", "heldout_captions", "compare_models"]

SIZE = 24  # frame size in pixels: small enough to train on a 2-core CPU in minutes
RENDER = 48  # Shapes-world clips are rendered at 48 px (it needs >= 32) and 2x2 average-pooled to SIZE
NUM_FRAMES = 8  # frames per training clip
MAX_WORDS = 8  # "a red circle moving left" = 5 words; one-object captions only
# Speed words are left out (ShapesWorld(speeds=False)): every object moves at normal speed.
TEXT_DIM = 32  # encoder_hidden_states width = the UNet's cross_attention_dim
WORDS = ["<pad>"] + sorted({w for ws in vocabulary().values() for w in ws})
IMAGE_MODEL_DIR = DATA_DIR / "models" / "tiny-image-unet"
MOTION_MODEL_DIR = DATA_DIR / "models" / "tiny-motion-adapter"


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


def zero_init_motion_modules(model: torch.nn.Module) -> torch.nn.Module:
    """Zero the ``proj_out`` of every motion module, as the AnimateDiff reference code does
    (``zero_module(self.proj_out)``): a fresh temporal layer is then an exact identity (residual only).
    diffusers' ``MotionAdapter`` initialises it randomly."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "proj_out" in name:
                p.zero_()
    return model


def inflate(unet: UNet2DConditionModel, adapter: MotionAdapter, freeze_spatial: bool = True) -> UNetMotionModel:
    """``UNetMotionModel.from_unet2d(unet, adapter)``; with ``freeze_spatial`` only motion modules train."""
    model = UNetMotionModel.from_unet2d(unet, adapter)
    if freeze_spatial:
        for name, p in model.named_parameters():
            p.requires_grad_("motion_modules" in name)
    return model


class CausalTemporalAttnProcessor:
    """Self-attention over frames with a causal mask: a frame sees itself and earlier frames only.
    For the ``attn1`` of diffusers' motion modules, whose input is ``((B*H*W), F, C)``."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        q, k, v = (rearrange(proj(hidden_states), "s f (n d) -> s n f d", n=attn.heads)
                   for proj in (attn.to_q, attn.to_k, attn.to_v))
        out = Fn.scaled_dot_product_attention(q, k, v, is_causal=True)
        return attn.to_out[1](attn.to_out[0](rearrange(out, "s n f d -> s f (n d)")))


def set_temporal_attention(model: UNetMotionModel, causal: bool) -> UNetMotionModel:
    """Switch every motion module's self-attention to causal or back to diffusers' bidirectional default.

    Only the attention becomes causal: diffusers' motion module normalises its input with one GroupNorm over
    all frames (``AnimateDiffTransformer3D.norm`` on ``(B, C, F, H, W)``), so frame statistics still flow from
    later frames to earlier ones. :func:`sample_streaming` is causal regardless: future frames do not exist yet."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for name, module in model.named_modules():
        if "motion_modules" in name and name.endswith("attn1"):
            module.set_processor(CausalTemporalAttnProcessor() if causal else AttnProcessor2_0())
    model.temporal_causal = causal
    return model


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


def v_loss(model, x0: torch.Tensor, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """v-prediction MSE for images ``(B, 3, S, S)`` or clips ``(B, F, 3, S, S)`` in [-1, 1] (one t per sample)."""
    sched = noise_scheduler()
    t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    tt = t.view(-1, *[1] * (x0.ndim - 1))
    alpha = sched.alphas_cumprod[tt].sqrt()
    sigma = (1 - sched.alphas_cumprod[tt]).sqrt()
    target = alpha * noise - sigma * x0  # v = alpha * eps - sigma * x0
    return Fn.mse_loss(model(alpha * x0 + sigma * noise, t, ids), target)


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


# ------------------------------------------------------------------------------------------------ training
def downsample(video: torch.Tensor) -> torch.Tensor:
    """Clip(s) ``(..., 3, RENDER, RENDER)`` -> ``(..., 3, SIZE, SIZE)`` by average pooling (anti-aliased)."""
    k = video.shape[-1] // SIZE
    return Fn.avg_pool2d(video.flatten(0, -4), k).unflatten(0, video.shape[:-3])


def render_clip(caption: str, seed: int, num_frames: int = NUM_FRAMES) -> torch.Tensor:
    """The Shapes-world clip of ``caption`` at this lesson's size: ``(F, 3, SIZE, SIZE)`` in [0, 1]."""
    from .data import make_clip

    return downsample(make_clip(caption, seed, num_frames=num_frames, size=RENDER).video)


def _world(seed: int) -> ShapesWorld:
    return ShapesWorld("train", length=100_000, num_frames=NUM_FRAMES, size=RENDER, speeds=False, seed=seed)


def _frames(world: ShapesWorld, batch: int, generator: torch.Generator):
    """Endless batches of single frames ``(B, 3, S, S)`` in [-1, 1] with caption ids, one random frame per clip."""
    while True:
        idx = torch.randint(0, len(world), (batch,), generator=generator).tolist()
        videos, captions, _ = collate_clips([world[i] for i in idx])
        videos = downsample(videos)
        pick = torch.randint(0, videos.shape[1], (batch,), generator=generator)
        yield videos[torch.arange(batch), pick] * 2 - 1, tokenize(captions)


def _clips(world: ShapesWorld, batch: int, generator: torch.Generator):
    while True:
        idx = torch.randint(0, len(world), (batch,), generator=generator).tolist()
        videos, captions, _ = collate_clips([world[i] for i in idx])
        yield downsample(videos) * 2 - 1, tokenize(captions)


def train_image_unet(steps: int = 1000, batch: int = 16, lr: float = 2e-3, seed: int = 0, progress: bool = True):
    """Train the tiny image denoiser on single frames of ``ShapesWorld("train")``; returns a ``TrainResult``."""
    from .train import TrainConfig, fit

    g = torch.Generator().manual_seed(seed)
    world = _world(seed)
    model = ImageDenoiser(new_image_unet(seed), _new_text(seed))
    config = TrainConfig(steps=steps, lr=lr, warmup=min(100, steps // 10), seed=seed, ema_decay=0.995,
                         progress=progress)
    return fit(model, _frames(world, batch, g), lambda m, b, s: v_loss(m, *b, g), config)


def _new_text(seed: int) -> CaptionEncoder:
    torch.manual_seed(seed + 1)
    return CaptionEncoder()


def train_motion_adapter(image: ImageDenoiser, steps: int = 900, batch: int = 3, lr: float = 2e-3, seed: int = 0,
                         causal_fraction: float = 0.5, progress: bool = True):
    """Train only the motion modules of the inflated ``image`` model on clips ``(B, NUM_FRAMES, 3, S, S)``.
    Each step uses causal temporal attention with probability ``causal_fraction``."""
    from .train import TrainConfig, fit

    g = torch.Generator().manual_seed(seed)
    world = _world(seed)
    model = VideoDenoiser(inflate(image.unet, new_motion_adapter(seed)), image.text.requires_grad_(False))

    def loss_fn(m, batch_, step):
        set_temporal_attention(m.unet, bool(torch.rand((), generator=g) < causal_fraction))
        return v_loss(m, *batch_, g)

    params = [p for n, p in model.named_parameters() if "motion_modules" in n]
    config = TrainConfig(steps=steps, lr=lr, warmup=min(50, steps // 10), seed=seed, ema_decay=0.99,
                         progress=progress)
    result = fit(model, _clips(world, batch, g), loss_fn, config, params=params)
    set_temporal_attention(result.model.unet, False)
    return result


# ------------------------------------------------------------------------------------------------ CLI
def _args(argv, defaults: dict, name: str):
    p = argparse.ArgumentParser(prog=f"labkit train {name}")
    for key, value in defaults.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--out", type=Path, default=None, help="a folder; inside data/ it is shipped (MANIFEST)")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def _finish(save, args, name: str, seconds: float, extra: dict) -> Path:
    import shutil
    import tempfile

    from .train import ship

    out = args.out or OUTPUTS_DIR / "models" / name
    command = f"labkit train {name} " + " ".join(getattr(args, "_argv", []))
    tmp = Path(tempfile.mkdtemp(prefix=f"{Path(out).name}-"))
    save(tmp)
    if Path(out).exists() and DATA_DIR.resolve() not in Path(out).resolve().parents:
        shutil.rmtree(out)  # outputs/ is scratch: a re-run replaces it; data/ is never overwritten (ship refuses)
    ship(tmp, Path(out), command.strip(), args.seed, seconds, extra)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"saved {name} to {out}")
    return Path(out)


def train_image_unet_main(argv: list[str]) -> int:
    """``labkit train image-unet [--steps N --batch B --lr LR --seed S --out DIR --threads T]``."""
    args = _args(argv, {"steps": 1000, "batch": 16, "lr": 2e-3, "seed": 0}, "image-unet")
    args._argv = argv
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = train_image_unet(args.steps, args.batch, args.lr, args.seed)

    def save(folder: Path):
        result.model.unet.save_pretrained(folder / "unet")
        result.model.text.save_pretrained(folder / "text_encoder")
        noise_scheduler().save_pretrained(folder / "scheduler")

    extra = {"final_loss_mean_last_100": sum(result.losses[-100:]) / len(result.losses[-100:]),
             "size": SIZE, "words": WORDS}
    _finish(save, args, "image-unet", time.perf_counter() - t0, extra)
    return 0


def train_motion_adapter_main(argv: list[str]) -> int:
    """``labkit train motion-adapter [--image DIR --steps N --batch B --lr LR --seed S --out DIR]``."""
    p_defaults = {"steps": 900, "batch": 3, "lr": 2e-3, "seed": 0, "causal_fraction": 0.5,
                  "image": str(IMAGE_MODEL_DIR)}
    args = _args(argv, p_defaults, "motion-adapter")
    args._argv = argv
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = train_motion_adapter(load_image_model(args.image), args.steps, args.batch, args.lr, args.seed,
                                  args.causal_fraction)
    adapter = new_motion_adapter(args.seed)
    adapter.load_state_dict(_adapter_state(result.model.unet))

    def save(folder: Path):
        adapter.save_pretrained(folder / "motion_adapter")

    extra = {"final_loss_mean_last_100": sum(result.losses[-100:]) / len(result.losses[-100:]),
             "image_model": str(args.image), "num_frames": NUM_FRAMES}
    _finish(save, args, "motion-adapter", time.perf_counter() - t0, extra)
    return 0


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
    x = _noise((1, num_frames, 3, SIZE, SIZE), seed)[0]
    ids = tokenize([caption]).expand(num_frames, -1)
    return ((_denoise(image_model, x, ids, steps) + 1) / 2).clamp(0, 1)


def sample_clip(video_model: VideoDenoiser, caption: str, num_frames: int = NUM_FRAMES, seed: int = 0,
                steps: int = 20) -> torch.Tensor:
    """All frames denoised together by the video model -> clip ``(F, 3, S, S)`` in [0, 1]."""
    x = _noise((1, num_frames, 3, SIZE, SIZE), seed)
    return ((_denoise(video_model, x, tokenize([caption]), steps) + 1) / 2).clamp(0, 1)[0]


def sample_streaming(video_model: VideoDenoiser, caption: str, num_frames: int = 16, seed: int = 0,
                     steps: int = 20, window: int = NUM_FRAMES) -> torch.Tensor:
    """Frame-by-frame generation with causal temporal attention -> clip ``(F, 3, S, S)`` in [0, 1].

    Frame 0 is denoised alone; frame ``i`` is denoised next to the last ``window - 1`` generated frames, which are
    re-noised at every step and never see frame ``i`` (causal). Errors in a generated frame become the context of
    the next: this is where error accumulation comes from. Can run past the training length.
    """
    if not getattr(video_model.unet, "temporal_causal", False):
        raise ValueError("sample_streaming needs causal temporal attention: load_video_model(causal=True)")
    ids = tokenize([caption])
    noise = _noise((1, num_frames, 3, SIZE, SIZE), seed)
    frames = []
    for i in range(num_frames):
        context = torch.cat(frames[-(window - 1):], dim=1) if frames else None
        frames.append(_denoise(video_model, noise[:, i:i + 1], ids, steps, context, seed=seed + 1000 + i))
    return ((torch.cat(frames, dim=1) + 1) / 2).clamp(0, 1)[0]


# ------------------------------------------------------------------------------------------------ measures
def foreground_tracks(video: torch.Tensor, threshold: float = 0.25):
    """Per frame of a clip ``(F, 3, H, W)``: foreground = pixels farther than ``threshold`` (RGB distance) from the
    frame's median colour (the background). Returns ``(area (F,) in px, centroid (F, 2) x,y in px, colour (F, 3))``;
    frames without foreground give NaN centroid and colour. The colour is the median over
    core pixels (at least 3/4 of the frame's largest distance from the background): edges are mixed."""
    bg = video.flatten(2).median(dim=2).values  # (F, 3)
    dist = (video - bg[:, :, None, None]).norm(dim=1)  # (F, H, W)
    mask = dist > threshold
    core = mask & (dist >= 0.75 * dist.flatten(1).max(dim=1).values[:, None, None])  # fully covered pixels
    area = mask.flatten(1).sum(1).float()
    ys, xs = torch.meshgrid(torch.arange(video.shape[2]), torch.arange(video.shape[3]), indexing="ij")
    w = mask.float() / area.clamp(min=1)[:, None, None]
    centroid = torch.stack([(w * (xs + 0.5)).flatten(1).sum(1), (w * (ys + 0.5)).flatten(1).sum(1)], dim=1)
    colour = torch.stack([frame.flatten(1)[:, m.flatten()].median(dim=1).values if m.any() else torch.zeros(3)
                          for frame, m in zip(video, core, strict=True)])  # core pixels only: edges mix in the background
    empty = area == 0
    centroid[empty], colour[empty] = float("nan"), float("nan")
    return area, centroid, colour


def clip_measures(video: torch.Tensor) -> dict[str, float]:
    """Temporal-consistency measures of a clip ``(F, 3, H, W)`` in [0, 1] (lower is more coherent):

    - ``flicker``, ``warping_error``: from :mod:`labkit.metrics` (mean |frame difference|; flow-warped MSE);
    - ``colour_drift``: mean RGB distance of each frame's foreground colour to frame 0's (identity/colour);
    - ``position_jitter``: RMS distance (px) of the foreground centroid from its least-squares straight line (the
      Shapes world moves in straight lines, so a coherent clip scores ~0);
    - ``area_change``: mean |area_t - area_0| / area_0 (the object keeps its size).
    """
    from .metrics import flicker, warping_error

    area, centroid, colour = foreground_tracks(video)
    ok = ~torch.isnan(centroid[:, 0])
    t = torch.arange(len(video), dtype=torch.float32)[ok]
    jitter = float("nan")
    if ok.sum() >= 3:
        design = torch.stack([t, torch.ones_like(t)], dim=1)
        fit = torch.linalg.lstsq(design, centroid[ok]).solution
        jitter = float((design @ fit - centroid[ok]).pow(2).sum(1).mean().sqrt())
    return {"flicker": flicker(video), "warping_error": warping_error(video),
            "colour_drift": float((colour[ok] - colour[ok][:1]).norm(dim=1).mean()) if ok.any() else float("nan"),
            "position_jitter": jitter,
            "area_change": float(((area - area[0]).abs() / area[0].clamp(min=1)).mean())}


def per_frame_error(video: torch.Tensor, caption: str) -> dict[str, torch.Tensor]:
    """Per frame index ``(F,)``: RGB distance of the foreground colour to the caption's colour, and the foreground
    area relative to frame 0 (error accumulation shows as growth over the frame index)."""
    from .data import COLORS, parse_caption

    target = torch.tensor(COLORS[parse_caption(caption)[0].color])
    area, _, colour = foreground_tracks(video)
    return {"colour_error": (colour - target).norm(dim=1), "relative_area": area / area[0].clamp(min=1)}


def heldout_captions(num: int, seed: int = 0) -> list[str]:
    """``num`` captions of colour-shape-direction combinations never seen in training (``ShapesWorld("heldout")``)."""
    world = ShapesWorld("heldout", length=max(num, 1), num_frames=NUM_FRAMES, size=RENDER, speeds=False, seed=seed)
    return [world.caption(i) for i in range(num)]


def compare_models(samplers: dict, captions: list[str], seed: int = 0) -> tuple[dict, dict]:
    """Run every ``samplers[name](caption, seed) -> clip`` on every caption (seed ``seed + i`` for caption ``i``)
    and average :func:`clip_measures`. Returns ``(means {name: {measure: value}}, clips {name: [clip, ...]})``."""
    import math

    from tqdm.auto import tqdm

    clips = {name: [] for name in samplers}
    for i, caption in enumerate(tqdm(captions, desc="sample", leave=False)):
        for name, sample in samplers.items():
            clips[name].append(sample(caption, seed + i))
    means = {}
    for name, videos in clips.items():
        per_clip = [clip_measures(v) for v in videos]
        means[name] = {k: float(sum(m[k] for m in per_clip if not math.isnan(m[k])) /
                                max(1, sum(not math.isnan(m[k]) for m in per_clip))) for k in per_clip[0]}
    return means, clips
