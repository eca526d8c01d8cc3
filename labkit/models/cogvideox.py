
"""A tiny text-to-video and image-to-video model assembled from the real CogVideoX pipeline classes.

Taught in ``04_train_tiny_video_model`` (trained by :mod:`labkit.training.t2v`, measured by
:mod:`labkit.evaluation.t2v`; shipped as ``data/models/tiny-t2v`` and ``tiny-i2v``).

The parts are the ones CogVideoX-2b/5b use, at laptop size:

- tokenizer: :func:`labkit.models.text.shapes_tokenizer` (word level, Shapes-world vocabulary, saved with the pipeline);
- text encoder: ``transformers.T5EncoderModel`` (2 layers, ``text_width`` wide);
- denoiser: ``diffusers.CogVideoXTransformer3DModel`` (``layers`` blocks, ``width`` wide, ``patch_size`` 2x2
  latent pixels per token as in CogVideoX, or 1);
- VAE: the course's causal 3D ``AutoencoderKLCogVideoX`` (``labkit.models.vae.COURSE_VAES['3d']``, notebook 01);
- scheduler: ``CogVideoXDDIMScheduler`` with CogVideoX-2b's config (v-prediction, zero terminal SNR, trailing
  timesteps), ``snr_shift_scale`` 1 instead of 3 (see :func:`cogvideox_scheduler`).

Shapes (a 17x64x64 clip; latent channels ``C`` come from the VAE)::

    video (F=17, 3, 64, 64) --VAE 4x time, 8x space--> latents (F'=5, C, 8, 8)
    --2x2 patches--> 5*4*4 = 80 video tokens, + 16 text tokens -> transformer -> v-prediction (5, C, 8, 8)

Image-to-video (``CogVideoXImageToVideoPipeline``) doubles the transformer's input channels: the noisy latents
are concatenated (channel axis) with the first frame's latents followed by zeros for the other latent frames.

Public helpers: :func:`build_pipeline`, :func:`check_prompt` (unknown words raise, naming the vocabulary),
:func:`generate` (text -> video), :func:`animate` (image + text -> video), :func:`text_to_image_to_video`.
:func:`run_pipeline` is the one call of a CogVideoX pipeline (any size: :func:`labkit.inference.generate` uses it
too); :func:`video_from_noise` runs one from given initial noise (notebook 03's noise experiments).
:func:`guard_text_length` makes a loaded pipeline refuse a prompt padded to the wrong length with the fix in the
message (``labkit.models.load`` applies it to the shipped ``tiny-t2v`` and ``tiny-i2v``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import (
    CogVideoXDDIMScheduler,
    CogVideoXDPMScheduler,
    CogVideoXImageToVideoPipeline,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
)

from labkit import DATA_DIR
from labkit.checks import check_args, check_choice
from labkit.models import folder
from labkit.models.text import TEXT_LENGTH, TEXT_WIDTH, new_text_encoder, shapes_tokenizer, tokenize
from labkit.models.vae import COURSE_VAES, load_vae
from labkit.video import from_pil, from_pipeline_output

__all__ = ["SIZES", "COURSE_VAE_DIR", "default_vae", "vae_scale", "cogvideox_scheduler",
           "vae_spatial_factor", "new_transformer", "components", "build_pipeline", "component_table",
           "check_prompt", "guard_text_length", "generate", "animate", "text_to_image_to_video", "run_pipeline",
           "noise_shape",
           "video_from_noise", "decode_latents", "noise_generator", "Denoiser", "new_denoiser",
           "init_from_t2v", "as_pipeline", "save_pipeline", "sample_from"]


NUM_FRAMES, SIZE = 17, 64  # Shapes-world clips: 17 = 8*2 + 1 frames (see generate), 64x64 pixels


#: Default model sizes (about 1 M parameters in transformer + text encoder; see the notebook's table).
SIZES = {"width": 96, "layers": 4, "text_width": TEXT_WIDTH, "pos_scale": 1.875, "patch_size": 2}


#: The course VAE's folder: what the tiny pipelines (and ``labkit train t2v`` without ``--vae``) use.
COURSE_VAE_DIR = folder(COURSE_VAES["3d"])


# ------------------------------------------------------------------------------------------------ parts
def default_vae():
    """The course's 3D VAE (``COURSE_VAES["3d"]``, trained in notebook 01), float32 on the CPU."""
    return load_vae(COURSE_VAES["3d"])


def vae_scale(vae) -> float:
    """The factor the CogVideoX pipelines multiply VAE latents by (they ignore ``shift_factor``)."""
    shift = vae.config.get("shift_factor", None)
    if shift:
        raise ValueError(f"expected a VAE without shift_factor (CogVideoX pipelines ignore it), got {shift}")
    return float(vae.config.scaling_factor)


def cogvideox_scheduler(kind: str = "ddim", snr_shift_scale: float = 1.0):
    """CogVideoX-2b's scheduler config (``data/configs/cogvideox-2b``) as a DDIM or DPM scheduler.

    ``snr_shift_scale`` 3.0 in CogVideoX-2b lowers the SNR of every timestep to compensate for 17 550 latent
    tokens per clip (more tokens = more redundancy = noise is easier to see through); our clips have 80 tokens,
    so the default here is 1.0 (no shift).
    """

    classes = {"ddim": CogVideoXDDIMScheduler, "dpm": CogVideoXDPMScheduler}
    if kind not in classes:
        raise ValueError(f"expected scheduler kind in {sorted(classes)}, got {kind!r}")
    config = json.loads((DATA_DIR / "configs" / "cogvideox-2b" / "scheduler.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    return classes[kind].from_config({**config, "snr_shift_scale": snr_shift_scale})


def vae_spatial_factor(vae) -> int:
    """How many pixels one latent pixel spans, per side: ``2 ** (blocks - 1)`` (diffusers' own rule)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def new_transformer(latent_channels: int, image_to_video: bool = False, width: int = SIZES["width"],
                    layers: int = SIZES["layers"], text_width: int = SIZES["text_width"], seed: int = 0,
                    pos_scale: float = SIZES["pos_scale"], patch_size: int = SIZES["patch_size"],
                    spatial_factor: int = 8, num_frames: int = NUM_FRAMES):
    """A tiny ``CogVideoXTransformer3DModel`` for 17x64x64 clips with ``latent_channels`` VAE channels.

    ``pos_scale`` is the transformer's ``spatial_interpolation_scale``: its 3D sin-cos position embedding puts
    the patch in row ``i`` at position ``i / pos_scale``. ``patch_size`` 2 (CogVideoX's) makes one token of each
    2x2 latent pixels (80 video tokens per clip); 1 gives every latent pixel its own token (320).
    ``spatial_factor`` is the VAE's (:func:`vae_spatial_factor`): 8 gives 8x8 latents, 4 gives 16x16.
    ``num_frames``: the clip length its position embedding is precomputed for (other lengths compute it per call).
    """

    if width % 16:
        raise ValueError(f"expected width divisible by 16 (attention heads of 16), got {width}")
    if spatial_factor not in (4, 8):
        raise ValueError(f"expected a VAE spatial_factor of 4 or 8, got {spatial_factor!r}")
    if patch_size not in (1, 2, 4):
        raise ValueError(f"expected patch_size 1, 2 or 4 (it must divide the {SIZE // spatial_factor}x"
                         f"{SIZE // spatial_factor} latent), got {patch_size!r}")
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(
        num_attention_heads=width // 16, attention_head_dim=16,
        in_channels=2 * latent_channels if image_to_video else latent_channels,  # noisy latents (+ image latents)
        out_channels=latent_channels, time_embed_dim=width, text_embed_dim=text_width,  # = T5 d_model
        num_layers=layers, sample_width=SIZE // spatial_factor, sample_height=SIZE // spatial_factor,  # latent size
        sample_frames=num_frames, patch_size=patch_size, temporal_compression_ratio=4, max_text_seq_length=TEXT_LENGTH,
        dropout=0.0, attention_bias=True, spatial_interpolation_scale=pos_scale).eval()


def components(kind: str = "t2v", vae=None, seed: int = 0, **sizes) -> dict:
    """The components of a ``CogVideoXPipeline`` (``kind="t2v"``) or ``CogVideoXImageToVideoPipeline`` ("i2v").

    ``vae`` defaults to :func:`default_vae`; ``sizes`` override :data:`SIZES` (``width``, ``layers``,
    ``text_width``). Each model is created right after ``torch.manual_seed(seed)``.
    """
    if kind not in ("t2v", "i2v"):
        raise ValueError(f"expected kind 't2v' or 'i2v', got {kind!r}")
    unknown = set(sizes) - set(SIZES)
    if unknown:
        raise ValueError(f"unknown size argument(s) {sorted(unknown)}; expected some of {sorted(SIZES)}")
    sizes = {**SIZES, **sizes}
    vae = vae if vae is not None else default_vae()
    tokenizer = shapes_tokenizer()
    return {"tokenizer": tokenizer,
            "text_encoder": new_text_encoder(tokenizer, sizes["text_width"], seed),
            "transformer": new_transformer(vae.config.latent_channels, kind == "i2v", seed=seed,
                                           spatial_factor=vae_spatial_factor(vae), **sizes),
            "vae": vae.eval(), "scheduler": cogvideox_scheduler()}


def build_pipeline(kind: str = "t2v", vae=None, seed: int = 0, **sizes):
    """Assemble a (randomly initialised) pipeline from :func:`components`; progress bar off, on the CPU."""

    cls = CogVideoXPipeline if kind == "t2v" else CogVideoXImageToVideoPipeline
    pipe = cls(**components(kind, vae, seed, **sizes))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def component_table(pipe) -> list[dict]:
    """One row per pipeline component: name, class, parameters and float32 megabytes."""
    rows = []
    for name, part in pipe.components.items():
        params = sum(p.numel() for p in part.parameters()) if isinstance(part, torch.nn.Module) else 0
        rows.append({"component": name, "class": type(part).__name__, "parameters": params,
                     "MB (float32)": round(params * 4 / 1e6, 2)})
    return rows


# ------------------------------------------------------------------------------------------------ prompts
def check_prompt(tokenizer, prompt: str) -> str:
    """Raise if ``prompt`` has words the tokenizer does not know (they would all become ``<unk>`` silently)."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: expected a string, got {type(prompt).__name__} {prompt!r}")
    vocab = tokenizer.get_vocab()
    words = re.findall(r"\w+|[^\w\s]+", prompt.lower())  # what the tokenizer's Whitespace pre-tokenizer splits
    unknown = [w for w in words if w not in vocab]
    if unknown:
        known = sorted(w for w in vocab if not w.startswith("<"))
        raise ValueError(f"prompt: unknown word(s) {unknown} in {prompt!r}: this model only knows the Shapes-world "
                         f"vocabulary {known}")
    if len(words) + 1 > TEXT_LENGTH:  # + 1 for </s>
        raise ValueError(f"prompt: expected at most {TEXT_LENGTH - 1} words, got {len(words)} in {prompt!r}")
    return prompt


def guard_text_length(transformer):
    """Make a ``CogVideoXTransformer3DModel`` refuse text embeddings ``(B, L, text_width)`` whose length ``L`` is not
    its ``max_text_seq_length``, before it does any work: a forward pre-hook that raises a ``ValueError`` naming the
    fix. Without it, a pipeline called with diffusers' default ``max_sequence_length=226`` fails deep inside the
    transformer (``size of tensor a (306) must match ... (96)`` for the tiny models). Returns the hook's handle."""
    expected = transformer.config.max_text_seq_length

    def check(module, args, kwargs):
        text = kwargs.get("encoder_hidden_states", args[1] if len(args) > 1 else None)
        if text is not None and text.shape[1] != expected:
            raise ValueError(f"expected text embeddings of {expected} tokens (this transformer's max_text_seq_length), "
                             f"got {text.shape[1]}: pass max_sequence_length={expected} to the pipeline call "
                             "(CogVideoX pipelines pad prompts to 226 tokens by default)")

    return transformer.register_forward_pre_hook(check, with_kwargs=True)


def _check_call(pipe, prompt: str, num_frames: int, steps: int, seed: int, guidance_scale: float) -> None:
    """The arguments of :func:`generate` / :func:`animate`, before the pipeline runs."""
    check_args(num_frames=num_frames, steps=steps, seed=seed, guidance_scale=guidance_scale)
    if (num_frames - 1) % 8:
        raise ValueError(f"num_frames: expected 8k+1 (9, 17, 25, ...), got {num_frames!r}: the VAE makes 4k+1 "
                         "frames 1+k latent frames and diffusers' decoder needs an odd number of them")
    check_prompt(pipe.tokenizer, prompt)


def generate(pipe, prompt: str, seed: int = 0, steps: int = 25, guidance_scale: float = 4.0,
             num_frames: int = NUM_FRAMES, output_type: str = "pt") -> torch.Tensor:
    """Text -> video ``(F, 3, 64, 64)`` in [0, 1] with a ``CogVideoXPipeline``; same inputs, same frames.

    ``guidance_scale`` <= 1 turns classifier-free guidance off (one transformer pass per step instead of two).
    ``output_type="latent"`` returns the final latents ``(F', C, 8, 8)`` instead.
    """
    _check_call(pipe, prompt, num_frames, steps, seed, guidance_scale)
    check_choice(output_type, "output_type", ("pt", "latent"))
    return run_pipeline(pipe, prompt, num_frames=num_frames, height=SIZE, width=SIZE, steps=steps, seed=seed,
                        output_type=output_type, guidance_scale=guidance_scale)[0]


def _as_image(image) -> torch.Tensor:
    """A PIL image or a frame ``(3, H, W)`` / ``(1, 3, H, W)`` in [0, 1] -> ``(1, 3, H, W)``."""
    if not isinstance(image, torch.Tensor):

        image = from_pil([image.convert("RGB")])
    image = image[None] if image.ndim == 3 else image
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected an RGB frame (3, H, W) in [0, 1], got shape {tuple(image.shape)}")
    if image.shape[-2:] != (SIZE, SIZE):
        raise ValueError(f"expected a {SIZE}x{SIZE} frame, got {tuple(image.shape[-2:])}")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"expected values in [0, 1], got [{float(image.min()):.3f}, {float(image.max()):.3f}]")
    return image.float()


def animate(pipe, image, prompt: str, seed: int = 0, steps: int = 25, guidance_scale: float = 4.0,
            num_frames: int = NUM_FRAMES) -> torch.Tensor:
    """Image + text -> video ``(F, 3, 64, 64)`` with a ``CogVideoXImageToVideoPipeline``.

    ``image``: the first frame, ``(3, 64, 64)`` in [0, 1] or a PIL image; the pipeline encodes it with the VAE
    (posterior sample, seeded) and the transformer sees it beside every latent frame it denoises.
    """
    _check_call(pipe, prompt, num_frames, steps, seed, guidance_scale)
    return run_pipeline(pipe, prompt, image=_as_image(image), num_frames=num_frames, height=SIZE, width=SIZE,
                        steps=steps, seed=seed, guidance_scale=guidance_scale)[0]


def text_to_image_to_video(t2v_pipe, i2v_pipe, prompt: str, seed: int = 0, steps: int = 25,
                           guidance_scale: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two stages: stage 1 takes the first frame of a text-to-video sample; stage 2 animates it.

    Returns ``(first_frame (3, 64, 64), video (F, 3, 64, 64))``.
    """
    check_args(seed=seed)
    if seed == 2**32 - 1:
        raise ValueError(f"seed: expected a seed in [0, 2**32 - 1) (stage 2 uses seed + 1), got {seed}")
    first = generate(t2v_pipe, prompt, seed, steps, guidance_scale)[0]
    return first, animate(i2v_pipe, first, prompt, seed + 1, steps, guidance_scale)


# ------------------------------------------------------------------------------------------------ running
def run_pipeline(pipe, prompt: str | None = None, *, num_frames: int, height: int, width: int, steps: int,
                 seed: int | None = 0, output_type: str = "pt", **kwargs) -> torch.Tensor:
    """Call a CogVideoX pipeline once (text-to-video, or image-to-video with ``image=``): the one place the course
    calls one. Returns its ``.frames`` as float32 on the CPU: videos ``(B, F, C, H, W)`` in [0, 1] for
    ``output_type="pt"``, the final latents ``(B, F', C, h, w)`` for ``"latent"``.

    ``seed``: a CPU ``torch.Generator`` seeded with it, so a seed means the same noise on every device (``None``:
    no generator, for a caller that gives ``latents``). A prompt is tokenised to the transformer's text length
    (``max_text_seq_length``: 16 for the tiny models, 226 for CogVideoX). ``kwargs`` go to the pipeline
    (``image``, ``latents``, ``guidance_scale``, ``prompt_embeds``, ``callback_on_step_end`` ...).
    """
    if prompt is not None:
        kwargs.setdefault("max_sequence_length", pipe.transformer.config.max_text_seq_length)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    frames = pipe(prompt=prompt, num_frames=num_frames, height=height, width=width, num_inference_steps=steps,
                  generator=generator, output_type=output_type, **kwargs).frames
    return frames.float().cpu()


def noise_shape(pipe, num_frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
    """The initial-noise shape ``(1, F_latent, C, h, w)`` a CogVideoX pipeline uses for a video (its
    ``prepare_latents``): ``F_latent = (num_frames - 1) // temporal_factor + 1``, ``h = height // spatial``."""
    f_t, f_s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    if (num_frames - 1) % f_t or height % f_s or width % f_s:
        raise ValueError(f"expected num_frames = {f_t}k+1 and height, width multiples of {f_s}, "
                         f"got {num_frames} frames of {height}x{width}")
    channels = pipe.transformer.config.in_channels  # text-to-video: the latent channels only
    return (1, (num_frames - 1) // f_t + 1, channels, height // f_s, width // f_s)


def video_from_noise(pipe, latents: torch.Tensor, steps: int, num_frames: int, height: int, width: int,
                     output: str = "video", **pipe_kwargs) -> torch.Tensor:
    """:func:`run_pipeline` from given initial noise ``latents`` ``(1, F_latent, C, h, w)`` (frames on axis -4, so
    :func:`labkit.noise.correlated_noise` fits directly). ``output="video"`` returns the clip ``(F, C, H, W)`` in
    [0, 1]; ``"latent"`` the final latents (what :func:`labkit.noise.freeinit_sample` iterates on).
    ``pipe_kwargs`` go to the pipeline (``prompt`` or ``prompt_embeds``, ``guidance_scale`` ...)."""

    want = noise_shape(pipe, num_frames, height, width)
    if tuple(latents.shape) != want:
        raise ValueError(f"expected initial latents of shape {want} for {num_frames} frames of {height}x{width}, "
                         f"got {tuple(latents.shape)}")
    if output not in ("video", "latent"):
        raise ValueError(f"expected output 'video' or 'latent', got {output!r}")
    frames = run_pipeline(pipe, pipe_kwargs.pop("prompt", None), num_frames=num_frames, height=height, width=width,
                          steps=steps, seed=None, output_type="pt" if output == "video" else "latent",
                          latents=latents, **pipe_kwargs)
    return frames[0] if output == "video" else frames


def decode_latents(pipe, latents: torch.Tensor) -> torch.Tensor:
    """Decode CogVideoX pipeline latents ``(1, F_latent, C, h, w)`` into a clip ``(F, C, H, W)`` in [0, 1] (the
    pipeline's own ``decode_latents`` and ``postprocess_video``)."""

    with torch.no_grad():
        frames = pipe.video_processor.postprocess_video(pipe.decode_latents(latents), output_type="pt")
    return from_pipeline_output(frames)[0]


def noise_generator(pipe, num_frames: int, height: int, width: int, steps: int,
                    **pipe_kwargs) -> Callable[..., torch.Tensor]:
    """``generate(latents, steps=steps, output="video")``: :func:`video_from_noise` with the clip size and the
    pipeline arguments (``prompt``, ``guidance_scale`` ...) fixed, the form :func:`labkit.noise.compare_initial_noise`
    and :func:`labkit.noise.freeinit_sample` call (notebook 03, section 9).

    ``latents``: initial noise ``(1, F_latent, C, h, w)`` (:func:`noise_shape`); returns a clip ``(F, C, H, W)`` in
    [0, 1], or with ``output="latent"`` the final latents ``(1, F_latent, C, h, w)``.
    """

    def generate(latents: torch.Tensor, steps: int = steps, output: str = "video") -> torch.Tensor:
        return video_from_noise(pipe, latents, steps, num_frames, height, width, output=output, **pipe_kwargs)

    return generate


# ------------------------------------------------------------------------------------------------ model
class Denoiser(torch.nn.Module):
    """The trained parts -- T5 text encoder + CogVideoX transformer -- called exactly as the pipelines call them."""

    def __init__(self, text_encoder, transformer):
        super().__init__()
        self.text_encoder, self.transformer = text_encoder, transformer

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, ids: torch.Tensor,
                image_latents: torch.Tensor | None = None) -> torch.Tensor:
        """``noisy`` ``(B, F', C, h, w)``, ``t`` ``(B,)``, ``ids`` ``(B, TEXT_LENGTH)`` -> v ``(B, F', C, h, w)``.

        Image-to-video: ``image_latents`` ``(B, F', C, h, w)`` are concatenated on the channel axis (dim 2).
        """
        x = noisy if image_latents is None else torch.cat([noisy, image_latents], dim=2)
        text = self.text_encoder(ids)[0]  # (B, TEXT_LENGTH, text_width)
        return self.transformer(hidden_states=x, encoder_hidden_states=text, timestep=t, return_dict=False)[0]


def new_denoiser(kind: str, latent_channels: int, seed: int = 0, spatial_factor: int = 8, **sizes) -> Denoiser:
    sizes = {**SIZES, **sizes}
    return Denoiser(new_text_encoder(shapes_tokenizer(), sizes["text_width"], seed),
                    new_transformer(latent_channels, kind == "i2v", seed=seed, spatial_factor=spatial_factor,
                                    **sizes))


@torch.no_grad()
def init_from_t2v(i2v: Denoiser, t2v: Denoiser) -> Denoiser:
    """Start an image-to-video denoiser from a trained text-to-video one (as CogVideoX-I2V starts from CogVideoX).

    Every weight is copied; the patch embedding gets zero weights for the extra image-latent input channels,
    so at step 0 the image-to-video model predicts exactly what the text-to-video model does.
    """
    i2v.text_encoder.load_state_dict(t2v.text_encoder.state_dict())
    state = dict(t2v.transformer.state_dict())
    w = state["patch_embed.proj.weight"]  # (inner_dim, C, p, p): a patch conv over the noisy latents only
    state["patch_embed.proj.weight"] = torch.cat([w, torch.zeros_like(w)], dim=1)  # + C image channels
    i2v.transformer.load_state_dict(state)
    return i2v


# ------------------------------------------------------------------------------------------------ saving
def as_pipeline(model: Denoiser, vae, kind: str):
    """A ``CogVideoXPipeline`` ("t2v") or ``CogVideoXImageToVideoPipeline`` ("i2v") around trained parts."""

    cls = CogVideoXPipeline if kind == "t2v" else CogVideoXImageToVideoPipeline
    pipe = cls(tokenizer=shapes_tokenizer(), text_encoder=model.text_encoder,
               transformer=model.transformer, vae=vae, scheduler=cogvideox_scheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_pipeline(model: Denoiser, vae, kind: str, folder: Path) -> Path:
    """Write ``model`` + tokenizer + VAE + scheduler as a diffusers pipeline folder (``save_pretrained``)."""
    as_pipeline(model, vae, kind).save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def _check_ddim(pipe) -> None:

    if not isinstance(pipe.scheduler, CogVideoXDDIMScheduler):
        raise ValueError(f"expected a pipeline with a CogVideoXDDIMScheduler, got {type(pipe.scheduler).__name__}")


@torch.no_grad()
def sample_from(pipe, x0: torch.Tensor, ids: torch.Tensor, start: int, noise: torch.Tensor, steps: int = 25,
                guidance_scale: float = 4.0) -> torch.Tensor:
    """The pipeline's sampler run from ``x0`` (SDEdit): scaled latents ``(B, F', C, h, w)`` noised with ``noise`` to
    the first of its ``steps`` DDIM timesteps at or below ``start``, then denoised to 0 by ``pipe``'s transformer
    with captions ``ids`` and classifier-free guidance against the empty prompt (off at ``guidance_scale <= 1``),
    as ``CogVideoXPipeline`` does. ``start`` >= 999 is a whole generation. Returns the finished latents."""

    _check_ddim(pipe)
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(steps)
    timesteps = [t for t in scheduler.timesteps if t <= start]
    if not timesteps:
        raise ValueError(f"expected starts >= the last sampler timestep {int(scheduler.timesteps[-1])}, got {start}")
    model, n = Denoiser(pipe.text_encoder, pipe.transformer), len(x0)
    empty = tokenize(pipe.tokenizer, [""] * n)
    x = scheduler.add_noise(x0, noise, timesteps[0].expand(n))
    for t in timesteps:
        v = model(x, t.expand(n), ids)
        if guidance_scale > 1:
            uncond = model(x, t.expand(n), empty)
            v = uncond + guidance_scale * (v - uncond)
        x = scheduler.step(v, t, x, return_dict=False)[0]
    return x
