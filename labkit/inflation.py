"""Inflating an image model into a video model, the AnimateDiff way, with diffusers' own classes.

Taught in ``02_temporal_attention``.

:func:`inflate` turns a per-frame ``UNet2DConditionModel`` into a ``UNetMotionModel`` with
``UNetMotionModel.from_unet2d(unet, adapter)``, inserting a ``MotionAdapter``'s temporal attention layers (Guo et al.
2023, "AnimateDiff") after the spatial ones and, by default, freezing every weight but the motion modules.
:func:`zero_init_motion_modules` zeroes each motion module's output projection, as the AnimateDiff reference code
does, so the fresh video model reproduces the image model frame by frame. The motion modules attend over frames on
``((B*H*W), F, C)``; :class:`CausalTemporalAttnProcessor` masks that attention so a frame sees only itself and
earlier frames, and :func:`set_temporal_attention` switches a model between causal and bidirectional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as Fn
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from einops import rearrange

__all__ = ["zero_init_motion_modules", "inflate", "CausalTemporalAttnProcessor", "set_temporal_attention"]


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

    for name, module in model.named_modules():
        if "motion_modules" in name and name.endswith("attn1"):
            module.set_processor(CausalTemporalAttnProcessor() if causal else AttnProcessor2_0())
    model.temporal_causal = causal
    return model
