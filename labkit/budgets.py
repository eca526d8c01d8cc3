"""Real-size budgets of the production video models, computed on the ``meta`` device, and the memory planner.

Taught in ``05_svd_cogvideox_inference``.

The production configurations live in ``data/configs/`` (copied from the published ``config.json`` files of
``stabilityai/stable-video-diffusion-img2vid-xt``, ``THUDM/CogVideoX-2b`` and ``THUDM/CogVideoX-5b``). Each
component is instantiated from its real diffusers/transformers class under ``torch.device("meta")``: shapes
exist, storage does not, so counting 5.6 billion parameters takes milliseconds and no memory.

- :func:`parameter_counts` -- parameters per component (SVD-XT UNet 1.525 B, CogVideoX-5B transformer 5.570 B);
- :func:`weight_bytes` -- weight memory per dtype;
- :func:`latent_geometry` -- latent shape and token count for a frame count and resolution;
- :func:`attention_flops` -- FLOPs of the attention products (``QK^T`` and ``AV``) in one denoising step;
- :func:`predict_peak_memory` -- the planner: weights + denoiser activations + attention + VAE decode, for a plan.

The planner's activation constants are order-of-magnitude models of which tensors are alive at once (explained
next to each constant); ``tests/inference/test_runs.py`` checks them against peak memory measured on the tiny
pipelines, and ``benchmarks/gpu_real_size.py`` against a GPU when one is available.
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field

import torch

from labkit import DATA_DIR
from labkit.checks import OPTIONAL_COUNT, check_args, check_choice, check_number

__all__ = ["CONFIG_DIR", "DTYPE_BYTES", "Component", "ModelSpec", "PRODUCTION", "get_spec", "load_config",
           "build_component", "parameter_counts", "weight_bytes", "latent_geometry", "attention_flops",
           "Architecture", "architecture_of", "architecture_of_pipeline", "predict_peak_memory", "budget_table",
           "fits_table", "GIB"]

CONFIG_DIR = DATA_DIR / "configs"
GIB = 1024**3
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}
_TORCH_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


@dataclass(frozen=True)
class Component:
    """One pipeline component: its attribute name, ``"library:Class"`` and config file under ``data/configs``."""

    name: str
    cls: str
    config: str


@dataclass(frozen=True)
class ModelSpec:
    """A production model: where it lives on the hub, its components and its default generation settings."""

    name: str
    hub_id: str
    pipeline: str  # diffusers pipeline class
    components: tuple[Component, ...]
    num_frames: int
    height: int
    width: int
    steps: int
    scheduler: str  # config file of the scheduler
    published: dict = field(default_factory=dict)  # reference parameter counts per component

    @property
    def family(self) -> str:
        return "svd" if self.pipeline == "StableVideoDiffusionPipeline" else "cogvideox"


_SVD = (Component("unet", "diffusers:UNetSpatioTemporalConditionModel", "svd-xt/unet.json"),
        Component("vae", "diffusers:AutoencoderKLTemporalDecoder", "vae/svd-temporal-vae.json"),
        Component("image_encoder", "transformers:CLIPVisionModelWithProjection", "svd-xt/image_encoder.json"))


def _cog(size: str) -> tuple[Component, ...]:
    return (Component("transformer", "diffusers:CogVideoXTransformer3DModel", f"cogvideox-{size}/transformer.json"),
            Component("vae", "diffusers:AutoencoderKLCogVideoX", "vae/cogvideox-vae.json"),
            Component("text_encoder", "transformers:T5EncoderModel", "t5-xxl/text_encoder.json"))


PRODUCTION: dict[str, ModelSpec] = {
    "svd-xt": ModelSpec("svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", "StableVideoDiffusionPipeline",
                        _SVD, 25, 576, 1024, 25, "svd-xt/scheduler.json", {"unet": 1.525e9}),
    "cogvideox-2b": ModelSpec("cogvideox-2b", "THUDM/CogVideoX-2b", "CogVideoXPipeline", _cog("2b"), 49, 480, 720,
                              50, "cogvideox-2b/scheduler.json", {"transformer": 1.694e9, "vae": 0.216e9}),
    "cogvideox-5b": ModelSpec("cogvideox-5b", "THUDM/CogVideoX-5b", "CogVideoXPipeline", _cog("5b"), 49, 480, 720,
                              50, "cogvideox-5b/scheduler.json", {"transformer": 5.570e9, "vae": 0.216e9}),
}


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``"svd-xt"``, ``"cogvideox-2b"``, ``"cogvideox-5b"`` or their hub ids."""
    by_name = {**{s.name: s for s in PRODUCTION.values()}, **{s.hub_id: s for s in PRODUCTION.values()}}
    return by_name[check_choice(name, "name", by_name, what="production model")]


def load_config(relative: str) -> dict:
    """A config from ``data/configs/`` without its ``_``-prefixed bookkeeping keys."""
    path = CONFIG_DIR / relative
    if not path.exists():
        raise FileNotFoundError(f"expected the production config {path}; it is missing from this checkout")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def _class(path: str):
    library, name = path.split(":")
    return getattr(importlib.import_module(library), name)


def build_component(component: Component, device: str | torch.device = "meta") -> torch.nn.Module:
    """Instantiate a component from its real class and config; on ``meta`` nothing is allocated."""
    cls, config = _class(component.cls), load_config(component.config)
    with torch.device(device):
        if component.cls.startswith("diffusers:"):
            return cls.from_config(config)
        config_cls = importlib.import_module("transformers").AutoConfig.for_model(config.pop("model_type"), **config)
        if hasattr(config_cls, "vision_config") and component.cls.endswith("VisionModelWithProjection"):
            config_cls = config_cls.vision_config
        return cls(config_cls)


@functools.cache
def _meta_stats(name: str) -> dict[str, tuple[int, int]]:
    """``{component: (parameters, largest leaf-module parameters)}`` on the meta device."""
    stats = {}
    for comp in get_spec(name).components:
        module = build_component(comp)
        leaves = [sum(p.numel() for p in m.parameters(recurse=False)) for m in module.modules()]
        stats[comp.name] = (sum(p.numel() for p in module.parameters()), max(leaves))
    return stats


def parameter_counts(name: str) -> dict[str, int]:
    """Parameters per component of a production model, counted on the meta device (no allocation)."""
    return {k: v[0] for k, v in _meta_stats(get_spec(name).name).items()}


def _dtype_name(dtype) -> str:
    name = _TORCH_DTYPES.get(dtype, dtype)
    if name not in DTYPE_BYTES:
        raise ValueError(f"expected a dtype in {list(DTYPE_BYTES)} or a torch float dtype, got {dtype!r}")
    return name


def weight_bytes(num_parameters: int, dtype="fp16") -> int:
    """Memory of ``num_parameters`` weights stored in ``dtype`` (``"fp32"``, ``"fp16"``, ``"bf16"``, ``"fp8"``)."""
    check_number(num_parameters, "num_parameters", OPTIONAL_COUNT)
    return int(num_parameters) * DTYPE_BYTES[_dtype_name(dtype)]


# ---------------------------------------------------------------- architectures (production or tiny, live)
@dataclass
class Architecture:
    """What the planner needs to know about a pipeline: family, configs and parameter counts per component."""

    family: str  # "svd" or "cogvideox"
    configs: dict  # component -> config dict (unet/transformer and vae at least)
    params: dict  # component -> parameter count
    largest_leaf: int  # parameters of the largest leaf module (what sequential offload keeps on the device)
    text_tokens: int = 226

    @property
    def denoiser(self) -> dict:
        return self.configs.get("unet") or self.configs["transformer"]


def architecture_of(name: str) -> Architecture:
    """The :class:`Architecture` of a production model, from ``data/configs`` and meta-device counts."""
    spec, stats = get_spec(name), _meta_stats(get_spec(name).name)
    configs = {c.name: load_config(c.config) for c in spec.components}
    text = configs.get("transformer", {}).get("max_text_seq_length", 0)
    return Architecture(spec.family, configs, {k: v[0] for k, v in stats.items()}, max(v[1] for v in stats.values()),
                        text)


def architecture_of_pipeline(pipe) -> Architecture:
    """The :class:`Architecture` of a live diffusers pipeline (e.g. a tiny one from :mod:`labkit.models`)."""
    modules = {k: v for k, v in pipe.components.items() if isinstance(v, torch.nn.Module)}
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in modules.items()}
    leaves = [sum(p.numel() for p in m.parameters(recurse=False)) for mod in modules.values() for m in mod.modules()]
    configs = {k: dict(m.config) for k, m in modules.items() if k in ("unet", "transformer", "vae")}
    family = "svd" if "unet" in modules else "cogvideox"
    text = configs.get("transformer", {}).get("max_text_seq_length", 0)
    return Architecture(family, configs, params, max(leaves), text)


def latent_geometry(arch: Architecture, num_frames: int, height: int, width: int) -> dict:
    """Latent shape ``(F_lat, C, h, w)`` and token count for a video of ``num_frames`` x ``height`` x ``width``.

    SVD: a per-frame 2D VAE (8x spatial), so ``F_lat = F``; its UNet has no tokens but spatial attention over
    ``h*w`` positions per frame. CogVideoX: a causal 3D VAE (8x spatial, 4x temporal: ``F_lat = (F-1)/4 + 1``),
    then 2x2 patches, so ``tokens = F_lat * h/2 * w/2`` video tokens plus 226 text tokens.
    """
    check_args(num_frames=num_frames, height=height, width=width)
    vae = arch.configs["vae"]
    spatial = 2 ** (len(vae["block_out_channels"]) - 1)
    if height % spatial or width % spatial:
        raise ValueError(f"height, width: expected both divisible by the VAE factor {spatial}, got {height}x{width}")
    h, w = height // spatial, width // spatial
    if arch.family == "svd":
        channels = arch.denoiser["out_channels"]
        return {"latent_shape": (num_frames, channels, h, w), "tokens": h * w, "video_tokens": h * w}
    temporal = int(vae.get("temporal_compression_ratio", 4))
    if (num_frames - 1) % temporal:
        raise ValueError(f"expected num_frames = {temporal}k+1 for CogVideoX, got {num_frames}")
    f_lat, p = (num_frames - 1) // temporal + 1, arch.denoiser["patch_size"]
    video_tokens = f_lat * (h // p) * (w // p)
    return {"latent_shape": (f_lat, vae["latent_channels"], h, w), "tokens": video_tokens + arch.text_tokens,
            "video_tokens": video_tokens}


def _unet_levels(unet: dict, h: int, w: int):
    """Yield ``(channels, positions, transformer_blocks)`` per resolution level of a spatio-temporal UNet."""
    n, per = len(unet["block_out_channels"]), unet["layers_per_block"]
    for i, channels in enumerate(unet["block_out_channels"]):
        down = per if "CrossAttn" in unet["down_block_types"][i] else 0
        up = per + 1 if "CrossAttn" in unet["up_block_types"][n - 1 - i] else 0
        mid = 1 if i == n - 1 else 0  # the mid block works at the lowest resolution
        yield channels, (h >> i) * (w >> i), down + up + mid


def attention_flops(arch: Architecture, num_frames: int, height: int, width: int, batch: int = 2) -> int:
    """FLOPs of the attention products in one denoising step: ``4 * L_q * L_k * d_model`` per attention
    (``QK^T`` and ``AV``, a multiply-add counted as 2), ``batch`` 2 for classifier-free guidance.

    CogVideoX: full 3D attention over text + video tokens in each of ``num_layers`` blocks.
    SVD UNet: per transformer block, spatial self-attention over ``h*w`` positions per frame, temporal
    self-attention over ``F`` frames per position, and two cross-attentions to the single image token.
    """
    check_args(batch=batch)
    geo = latent_geometry(arch, num_frames, height, width)
    den = arch.denoiser
    if arch.family == "cogvideox":
        d_model = den["num_attention_heads"] * den["attention_head_dim"]
        return batch * den["num_layers"] * 4 * geo["tokens"] ** 2 * d_model
    _, _, h, w = geo["latent_shape"]
    total = 0
    for channels, hw, blocks in _unet_levels(den, h, w):
        spatial = num_frames * hw * hw + num_frames * hw  # self + cross (1 image token)
        temporal = hw * num_frames * num_frames + hw * num_frames
        total += blocks * 4 * channels * (spatial + temporal)
    return batch * total


# ---------------------------------------------------------------- the memory planner
#: Live tensors of size ``B x tokens x d_model`` at the peak of a transformer block (input and residual, the
#: norm output, the 4x feed-forward hidden and its activation: 1 + 1 + 4 + 4 = 10).
TRANSFORMER_LIVE = 10
#: Live channel-maps of the largest UNet level at its peak: inside a transformer block's GEGLU feed-forward,
#: the input and norm (1 + 1), the 8x projection, the 4x GELU(gate) and the 4x product (8 + 4 + 4) = 18, plus
#: what the surrounding ``TransformerSpatioTemporalModel`` keeps alive meanwhile (its input for the outer
#: residual, the spatial branch's output waiting for the time mixer, the temporal branch's rearranged input and
#: time-embedded copy, the group-norm / proj_in maps: ~6) = 24. Checked with the torch profiler's peak of live
#: tensor bytes on the tiny CPU SVD: 23.9 maps at 64x64 x 9 frames.
UNET_LIVE = 24
#: With ``enable_forward_chunking`` the feed-forward runs one token at a time, so its 16 hidden maps vanish and
#: attention is the peak: q, k, v, the attention output and its projection (5), the block input and norm (2) and
#: the same ~6 outer maps = 13 (profiler on the tiny CPU SVD: 12.8 at 64x64 x 9 frames).
UNET_LIVE_CHUNKED = 13
#: Live tensors of the largest VAE decoder feature map, per family. SVD's temporal decoder: the input kept for
#: the residual, norm, activation, conv output and the (b f) c h w -> b c f h w copy of its temporal conv (5).
#: CogVideoX's decoder also computes a spatially-modulated norm (conv_y(z) and conv_b(z) maps, their product
#: and sum) and a causally padded copy before each conv; counting those gives ~11, which matches the peak
#: measured on the tiny CPU pipelines at 64x64 and 128x128 (ratio 2.1-2.2 to the 5-map model).
VAE_LIVE = {"svd": 5, "cogvideox": 11}


def _plan_flags(plan) -> dict:
    names = set(plan.split("+")) if isinstance(plan, str) else set(plan)
    names.discard("none")
    return {"names": names, "model_offload": "model_cpu_offload" in names,
            "sequential": "sequential_cpu_offload" in names, "tiling": "vae_tiling" in names,
            "slicing": "vae_slicing" in names, "eager": "eager_attention" in names,
            "chunked": "forward_chunking" in names}


def _denoiser_activations(arch, geo, batch, nbytes, eager, chunked: bool = False) -> int:
    den = arch.denoiser
    if arch.family == "cogvideox":
        d_model = den["num_attention_heads"] * den["attention_head_dim"]
        acts = TRANSFORMER_LIVE * batch * geo["tokens"] * d_model * nbytes
        scores = batch * den["num_attention_heads"] * geo["tokens"] ** 2 * nbytes if eager else 0
        return acts + scores
    f, _, h, w = geo["latent_shape"]
    skips = sum(c * hw * (den["layers_per_block"] + 1) for c, hw, _ in _unet_levels(den, h, w))
    top = den["block_out_channels"][0] * h * w
    heads = den["num_attention_heads"][0] if isinstance(den["num_attention_heads"], list) else 1
    scores = heads * (h * w) ** 2 if eager else 0
    return batch * f * (skips + (UNET_LIVE_CHUNKED if chunked else UNET_LIVE) * top + scores) * nbytes


def _decode_activations(arch, num_frames, height, width, flags, nbytes, decode_chunk: int | None) -> int:
    vae = arch.configs["vae"]
    channels = vae["block_out_channels"]
    top = channels[1] if len(channels) > 1 else channels[0]  # the last upsample brings these to full size
    if flags["tiling"] and arch.family == "cogvideox":  # SVD's temporal decoder cannot tile
        # decoded tile by tile: diffusers' default tile is half the model's sample size (240x360 for 480x720)
        height = min(height, vae.get("tile_sample_min_height") or vae.get("sample_height", 480) // 2)
        width = min(width, vae.get("tile_sample_min_width") or vae.get("sample_width", 720) // 2)
    if arch.family == "cogvideox":  # diffusers decodes 2 latent frames (8 video frames) per batch, +1 the first
        frames = min(num_frames, 9)
    else:
        frames = min(num_frames, decode_chunk or num_frames)
    return VAE_LIVE[arch.family] * frames * top * height * width * nbytes


def predict_peak_memory(arch: Architecture | str, num_frames: int, height: int, width: int, plan="none",
                        dtype="fp16", batch: int = 1, guidance: bool = True, decode_chunk: int | None = None,
                        include_weights: bool = True) -> dict:
    """Predict the peak device memory (bytes) of generating ``batch`` videos with a memory ``plan``.

    ``plan``: ``"none"`` or names joined by ``+`` (``"model_cpu_offload+vae_tiling"``). Returns the parts and
    ``peak = weights + max(denoiser step, VAE decode) + output``:

    - weights: all components (none) or the largest leaf module (sequential offload); with model offload each
      phase holds only its own model: ``max(encoder, denoiser + step, VAE + decode)``;
    - denoiser step: ``TRANSFORMER_LIVE`` / ``UNET_LIVE`` (``UNET_LIVE_CHUNKED`` with forward chunking) live
      feature maps (+ the UNet skip stack), plus the
      attention score matrix only with ``eager_attention`` (SDPA/FlashAttention kernels never store it);
    - VAE decode: ``VAE_LIVE`` maps of the top decoder level for the frames decoded at once (``decode_chunk``
      for SVD, 8+1 for CogVideoX) at full or tile resolution;
    - output: the decoded video in fp32.
    """
    arch = architecture_of(arch) if isinstance(arch, str) else arch
    flags, nbytes = _plan_flags(plan), DTYPE_BYTES[_dtype_name(dtype)]
    check_args(batch=batch, decode_chunk=decode_chunk, allow_none=("decode_chunk",))
    geo = latent_geometry(arch, num_frames, height, width)
    cfg_batch = batch * (2 if guidance else 1)
    if flags["sequential"]:
        weights = arch.largest_leaf * nbytes
    elif flags["model_offload"]:
        weights = max(arch.params.values()) * nbytes
    else:
        weights = sum(arch.params.values()) * nbytes
    denoise = _denoiser_activations(arch, geo, cfg_batch, nbytes, flags["eager"], flags["chunked"])
    per_video = 1 if flags["slicing"] else batch
    decode = per_video * _decode_activations(arch, num_frames, height, width, flags, nbytes, decode_chunk)
    output = batch * num_frames * 3 * height * width * 4
    if not include_weights:
        weights, peak = 0, max(denoise, decode)
    elif flags["model_offload"]:  # one model on the device at a time: each phase with its own weights
        den_name = "unet" if "unet" in arch.params else "transformer"
        encoders = [v for k, v in arch.params.items() if k not in (den_name, "vae")]
        peak = max(max(encoders, default=0) * nbytes, arch.params[den_name] * nbytes + denoise,
                   arch.params["vae"] * nbytes + decode)
    else:
        peak = weights + max(denoise, decode)
    return {"weights": weights, "denoise": denoise, "decode": decode, "output": output, "peak": peak + output}


def budget_table(names=tuple(PRODUCTION), dtype="bf16") -> list[dict]:
    """One row per production model: parameters per component, weights in ``dtype``, latent shape, tokens and
    attention TFLOPs per step at the model's default frames x height x width."""
    rows = []
    for name in names:
        spec, arch, counts = get_spec(name), architecture_of(name), parameter_counts(name)
        geo = latent_geometry(arch, spec.num_frames, spec.height, spec.width)
        flops = attention_flops(arch, spec.num_frames, spec.height, spec.width)
        rows.append({"model": name, "video": f"{spec.num_frames}x{spec.height}x{spec.width}",
                     **{f"{k} (B params)": round(v / 1e9, 3) for k, v in counts.items()},
                     f"weights {dtype} (GiB)": round(weight_bytes(sum(counts.values()), dtype) / GIB, 2),
                     "latent (F,C,h,w)": geo["latent_shape"], "tokens": geo["tokens"],
                     "attention TFLOP/step": round(flops / 1e12, 1)})
    return rows


#: The plans :func:`fits_table` compares, per family (SVD decodes in frame chunks; CogVideoX tiles).
FIT_PLANS = {"svd": ("none", "model_cpu_offload", "model_cpu_offload+decode_chunk",
                     "model_cpu_offload+decode_chunk+forward_chunking", "sequential_cpu_offload+decode_chunk"),
             "cogvideox": ("none", "model_cpu_offload", "model_cpu_offload+vae_tiling",
                           "sequential_cpu_offload+vae_tiling")}


def fits_table(names=tuple(PRODUCTION), gpus_gib=(24, 40, 80), dtype="bf16") -> list[dict]:
    """Predicted peak (GiB) per model and plan, and the smallest of ``gpus_gib`` it fits on (planner estimate).
    ``decode_chunk`` decodes 2 frames at a time, as in :mod:`labkit.inference`."""
    rows = []
    for name in names:
        spec = get_spec(name)
        for plan in FIT_PLANS[spec.family]:
            chunk = 2 if "decode_chunk" in plan else None
            peak = predict_peak_memory(name, spec.num_frames, spec.height, spec.width, plan, dtype,
                                       decode_chunk=chunk)["peak"] / GIB
            fits = next((f"{g} GB" for g in gpus_gib if peak <= g * 1e9 / GIB), f"> {max(gpus_gib)} GB")
            rows.append({"model": name, "plan": plan, "predicted peak (GiB)": round(peak, 1), "fits on": fits})
    return rows
