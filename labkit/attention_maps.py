"""Capture attention maps from real diffusers models: who looks at whom, layer by layer.

Taught in ``02_temporal_attention``.

diffusers' attention processors (``AttnProcessor2_0``, ``CogVideoXAttnProcessor2_0``, ...) all end in
``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask, ...)`` with ``q, k, v`` of shape
``(sequences, heads, S, d)``. :class:`capture_attention` watches those calls with a ``TorchFunctionMode`` while
a selected ``Attention`` module runs (a forward pre-hook / hook pair marks which one), and stores the
probabilities ``softmax(q k^T * scale + mask)`` it recomputes from the same ``q`` and ``k``. Nothing in the
model is replaced, so the model's outputs are bit-identical with and without capture.

Layouts of what is captured (``probs``: ``(sequences, heads, S_q, S_k)``):

- temporal attention of a motion module (``UNetMotionModel``, AnimateDiff) or of SVD's
  ``TransformerSpatioTemporalModel``: sequences are pixels ``(b h w)``, tokens are frames:
  :func:`temporal_maps` gives ``(B, heads, F_q, F_k, H, W)``;
- joint attention of ``CogVideoXTransformer3DModel``: one sequence per clip over ``[text tokens, (f h w) patches]``:
  :func:`joint_video_maps` drops the text and gives ``(B, heads, F, H, W, F, H, W)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as Fn
from diffusers.models.attention_processor import Attention
from einops import rearrange
from torch.overrides import TorchFunctionMode

from labkit.checks import Number, check_args, check_number

__all__ = ["TEMPORAL_NAMES", "attention_modules", "capture_attention", "attention_probs", "temporal_maps",
           "joint_video_maps", "frame_attention", "query_frame_attention"]

#: Module-name patterns of temporal attention in diffusers video UNets (AnimateDiff motion modules, SVD).
TEMPORAL_NAMES = r"(motion_modules|temporal_transformer_blocks).*attn1$"


def attention_probs(query, key, attn_mask=None, is_causal: bool = False, scale: float | None = None):
    """``softmax(q k^T * scale + mask)`` exactly as SDPA defines it: ``(..., S_q, d), (..., S_k, d)`` ->
    ``(..., S_q, S_k)`` in float32. A boolean mask marks allowed keys; a float mask is added."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = torch.einsum("...qd,...kd->...qk", query.float(), key.float()) * scale
    if is_causal:
        s_q, s_k = scores.shape[-2:]
        attn_mask = torch.ones(s_q, s_k, dtype=torch.bool, device=scores.device).tril()
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
            else scores + attn_mask.float()
    return scores.softmax(dim=-1)


def attention_modules(model: torch.nn.Module, select: str | None = None) -> list[str]:
    """Names of the diffusers ``Attention`` modules of ``model`` whose name matches the regex ``select``
    (``None``: all; :data:`TEMPORAL_NAMES`: the temporal ones)."""

    names = [n for n, m in model.named_modules() if isinstance(m, Attention)]
    return [n for n in names if select is None or re.search(select, n)]


class _SDPAWatcher(TorchFunctionMode):
    def __init__(self, owner: capture_attention):
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is Fn.scaled_dot_product_attention and self.owner._current is not None:
            self.owner._record(*args, **kwargs)
        return func(*args, **kwargs)


@dataclass
class capture_attention:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager recording the attention probabilities of selected modules of a diffusers model.

    ``with capture_attention(unet, select=TEMPORAL_NAMES) as cap: unet(...)``, then ``cap.maps[name]`` is a
    list (one entry per forward call, e.g. per denoising step) of ``(sequences, heads, S_q, S_k)`` float32
    CPU tensors. ``max_tokens`` refuses, before computing, a map larger than ``S_q * S_k`` (they are
    ``O(S^2)``: capture tiny models only).
    """

    model: torch.nn.Module
    select: str | None = None
    max_tokens: int = 4096 * 4096
    maps: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def __post_init__(self):
        self.names = attention_modules(self.model, self.select)
        if not self.names:
            raise ValueError(f"no diffusers Attention module of {type(self.model).__name__} matches "
                             f"select={self.select!r}; available: {attention_modules(self.model)[:6]}...")
        self._current, self._handles, self._mode = None, [], None

    def _record(self, query, key, value=None, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
        if query.shape[-2] * key.shape[-2] > self.max_tokens:
            raise MemoryError(f"attention map {query.shape[-2]}x{key.shape[-2]} exceeds max_tokens={self.max_tokens}")
        probs = attention_probs(query, key, attn_mask, is_causal, scale)
        self.maps.setdefault(self._current, []).append(probs.detach().cpu())

    def __enter__(self):
        modules = dict(self.model.named_modules())
        for name in self.names:
            module = modules[name]
            self._handles.append(module.register_forward_pre_hook(lambda m, a, n=name: setattr(self, "_current", n)))
            self._handles.append(module.register_forward_hook(lambda m, a, o: setattr(self, "_current", None)))
        self._mode = _SDPAWatcher(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        for handle in self._handles:
            handle.remove()
        self._handles, self._current = [], None
        return False


def temporal_maps(probs: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """Temporal-attention probabilities ``((B*H*W), heads, F, F)`` (pixels in ``(b h w)`` order, as diffusers'
    motion modules and SVD reshape them) -> ``(B, heads, F_q, F_k, H, W)``."""
    check_args(batch=batch, height=height, width=width)
    if probs.ndim != 4 or probs.shape[0] != batch * height * width:
        raise ValueError(f"expected probs of shape (B*H*W={batch * height * width}, heads, F, F), "
                         f"got {tuple(probs.shape)}: wrong layer resolution?")
    return rearrange(probs, "(b h w) n f g -> b n f g h w", b=batch, h=height, w=width)


def joint_video_maps(probs: torch.Tensor, num_frames: int, height: int, width: int, text_tokens: int = 0):
    """Joint-attention probabilities ``(B, heads, T+N, T+N)`` over ``[T text tokens, N = F*H*W video
    patches]`` (CogVideoX's order) -> video-to-video part ``(B, heads, F, H, W, F, H, W)`` (query, key)."""
    check_args(num_frames=num_frames, height=height, width=width, text_tokens=text_tokens)
    n = num_frames * height * width
    if probs.ndim != 4 or probs.shape[-1] != text_tokens + n:
        raise ValueError(f"expected probs of shape (B, heads, {text_tokens}+{n}, {text_tokens}+{n}) for "
                         f"{text_tokens} text tokens and a {num_frames}x{height}x{width} patch grid, got {tuple(probs.shape)}")
    video = probs[..., text_tokens:, text_tokens:]
    return rearrange(video, "b n (f h w) (g y x) -> b n f h w g y x", f=num_frames, h=height, w=width,
                     g=num_frames, y=height, x=width)


def frame_attention(maps: torch.Tensor) -> torch.Tensor:
    """Mean attention from each query frame to each key frame, ``(F, F)`` rows summing to 1:
    from :func:`temporal_maps` ``(B, n, F, F, H, W)`` or :func:`joint_video_maps` ``(B, n, F, H, W, F, H, W)``."""
    if maps.ndim == 6:
        return maps.mean(dim=(0, 1, 4, 5))
    if maps.ndim == 8:
        return maps.sum(dim=(6, 7)).mean(dim=(0, 1, 3, 4))
    raise ValueError(f"expected temporal maps (rank 6) or joint video maps (rank 8), got rank {maps.ndim}")


_INDEX = Number(integer=True, low=0)


def query_frame_attention(maps: torch.Tensor, frame: int, y: int, x: int) -> torch.Tensor:
    """Attention of the query at pixel ``(y, x)`` of ``frame`` over the key frames, averaged over batch and
    heads: ``(F,)`` from temporal maps ``(B, n, F, F, H, W)`` (what the notebook's widget plots)."""
    if maps.ndim != 6:
        raise ValueError(f"expected temporal maps (B, heads, F, F, H, W), got shape {tuple(maps.shape)}")
    for name, value in (("frame", frame), ("y", y), ("x", x)):
        check_number(value, name, _INDEX)
    f, h, w = maps.shape[2], maps.shape[4], maps.shape[5]
    if not (0 <= frame < f and 0 <= y < h and 0 <= x < w):
        raise ValueError(f"expected frame < {f}, y < {h}, x < {w}, got frame={frame}, y={y}, x={x}")
    return maps[:, :, frame, :, y, x].mean(dim=(0, 1))
