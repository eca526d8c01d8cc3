"""Tests for labkit.attention_maps: capture from real (tiny, randomly initialised) diffusers video models."""

import math

import pytest
import torch

from labkit import attention_maps as M

F, H, W = 6, 8, 8


def _motion_unet():
    """Tiny AnimateDiff-style model: UNet2DConditionModel + MotionAdapter via UNetMotionModel.from_unet2d."""
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=H, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=8, norm_num_groups=8)
    torch.manual_seed(1)
    adapter = MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1, motion_num_attention_heads=2,
                            motion_norm_num_groups=8, motion_max_seq_length=32, use_motion_mid_block=False)
    model = UNetMotionModel.from_unet2d(unet, adapter).eval()
    for name, p in model.named_parameters():  # un-zero the motion modules' output projections: real attention
        if "motion_modules" in name and "proj_out" in name:
            torch.nn.init.normal_(p, std=0.05)
    return model


def _motion_inputs(batch=1):
    g = torch.Generator().manual_seed(2)
    sample = torch.randn(batch, 4, F, H, W, generator=g)  # (B, C, F, H, W): UNetMotionModel's layout
    text = torch.randn(batch, 3, 16, generator=g).repeat_interleave(F, dim=0)  # one copy per frame
    return sample, text


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def motion():
    return _motion_unet()


def test_motion_module_maps_match_manual_recompute(motion):
    sample, text = _motion_inputs()
    name = M.attention_modules(motion, M.TEMPORAL_NAMES)[0]
    attn = dict(motion.named_modules())[name]
    seen = {}

    def keep_input(module, args, kwargs):
        seen.setdefault("x", kwargs.get("hidden_states", args[0] if args else None))

    handle = attn.register_forward_pre_hook(keep_input, with_kwargs=True)
    try:
        with torch.no_grad(), M.capture_attention(motion, M.TEMPORAL_NAMES) as cap:
            motion(sample, 10, text)
    finally:
        handle.remove()
    x = seen["x"]  # (B*H*W, F, C): the input of the first temporal attention
    with torch.no_grad():
        q, k = (rearrange_heads(t, attn.heads) for t in (attn.to_q(x), attn.to_k(x)))
        expected = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)
    got = cap.maps[name][0]
    assert got.shape == (H * W, 2, F, F)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert len(cap.maps) == len(M.attention_modules(motion, M.TEMPORAL_NAMES))


def rearrange_heads(t, heads):
    b, s, c = t.shape
    return t.view(b, s, heads, c // heads).transpose(1, 2)


def test_capture_leaves_outputs_unchanged_and_removes_hooks(motion):
    sample, text = _motion_inputs(batch=2)
    with torch.no_grad():
        plain = motion(sample, 10, text).sample
        with M.capture_attention(motion, M.TEMPORAL_NAMES) as cap:
            captured = motion(sample, 10, text).sample
        after = motion(sample, 10, text).sample
    assert torch.equal(plain, captured) and torch.equal(plain, after)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in motion.modules())
    maps = M.temporal_maps(cap.maps[M.attention_modules(motion, M.TEMPORAL_NAMES)[0]][0], 2, H, W)
    assert maps.shape == (2, 2, F, F, H, W)
    torch.testing.assert_close(maps.sum(dim=3), torch.ones(2, 2, F, H, W), atol=1e-5, rtol=0)
    per_frame = M.frame_attention(maps)
    assert per_frame.shape == (F, F)
    q = M.query_frame_attention(maps, 3, 5, 6)
    torch.testing.assert_close(q, maps[:, :, 3, :, 5, 6].mean(dim=(0, 1)))
    # different pixels attend differently: the maps are not a constant
    assert (maps[0, 0, :, :, 0, 0] - maps[0, 0, :, :, 5, 6]).abs().max() > 1e-3


def test_svd_temporal_attention_capture():
    from diffusers import UNetSpatioTemporalConditionModel

    torch.manual_seed(0)
    svd = UNetSpatioTemporalConditionModel(
        sample_size=H, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,  # GroupNorm(32)
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=16,
        num_attention_heads=(2, 4), addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12,  # 3 added time ids x addition_time_embed_dim
        transformer_layers_per_block=1).eval()
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 5, 8, H, W, generator=g)  # (B, F, C, H, W): noisy latents + image latents
    with torch.no_grad(), M.capture_attention(svd, M.TEMPORAL_NAMES) as cap:
        svd(sample, 10, torch.randn(1, 1, 16, generator=g), added_time_ids=torch.randn(1, 3, generator=g))
    name = "down_blocks.0.attentions.0.temporal_transformer_blocks.0.attn1"
    maps = M.temporal_maps(cap.maps[name][0], 1, H, W)
    assert maps.shape == (1, 2, 5, 5, H, W)
    torch.testing.assert_close(maps.sum(dim=3), torch.ones(1, 2, 5, H, W), atol=1e-5, rtol=0)


def test_cogvideox_joint_attention_capture():
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(0)
    cog = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=8,
        text_embed_dim=16, num_layers=1, sample_width=8, sample_height=8, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=4).eval()
    g = torch.Generator().manual_seed(0)
    latents, text = torch.randn(1, 3, 4, 8, 8, generator=g), torch.randn(1, 4, 16, generator=g)
    with torch.no_grad(), M.capture_attention(cog) as cap:
        cog(latents, text, torch.tensor([10]))
    probs = cap.maps["transformer_blocks.0.attn1"][0]
    assert probs.shape == (1, 2, 4 + 3 * 4 * 4, 4 + 3 * 4 * 4)  # 4 text tokens + 3 frames of 4x4 patches
    torch.testing.assert_close(probs.sum(-1), torch.ones(1, 2, 52), atol=1e-5, rtol=0)
    video = M.joint_video_maps(probs, 3, 4, 4, text_tokens=4)
    assert video.shape == (1, 2, 3, 4, 4, 3, 4, 4)
    frames = M.frame_attention(video)
    assert frames.shape == (3, 3)
    assert (frames.sum(-1) < 1).all()  # the rest of each row goes to the text tokens
    assert (frames > 0).all()  # joint attention reaches every frame, the past and the future


def test_attention_probs_matches_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 8, generator=g) for _ in range(3))
    mask = torch.rand(7, 7, generator=g) > 0.3
    mask[:, 0] = True
    for kwargs in ({}, {"attn_mask": mask}, {"is_causal": True}, {"scale": 0.3}):
        probs = M.attention_probs(q, k, **kwargs)
        torch.testing.assert_close(probs @ v, torch.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs),
                                   atol=1e-5, rtol=0)


def test_errors_are_clear(motion):
    with pytest.raises(ValueError, match="no diffusers Attention module"):
        M.capture_attention(motion, select="no-such-layer")
    with pytest.raises(ValueError, match=r"B\*H\*W=128"):
        M.temporal_maps(torch.rand(64, 2, 6, 6), 2, 8, 8)
    with pytest.raises(ValueError, match="text tokens"):
        M.joint_video_maps(torch.rand(1, 2, 50, 50), 3, 4, 4, text_tokens=4)
