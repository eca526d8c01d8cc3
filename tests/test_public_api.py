"""What learners import keeps working: the public names of the course's modules."""

import importlib

import pytest

PUBLIC = {
    "labkit.video": ["check_video", "save_video", "show_video", "show_videos", "filmstrip", "to_uint8"],
    "labkit.data": ["make_clip", "ShapesWorld", "vocabulary", "parse_caption", "clip_seed", "OrbitWorld",
                    "render_orbit", "OrbitObject"],
    "labkit.compression": ["video_values", "patch_tokens", "compression_ratio", "latent_shape"],
    "labkit.attention": ["spatial_attention", "temporal_attention", "joint_attention", "attention_cost"],
    "labkit.schedules": ["beta_schedule", "alphas_cumprod", "snr", "rescale_zero_terminal_snr", "karras_sigmas",
                         "make_scheduler"],
    "labkit.noise": ["correlated_noise", "freeinit_sample"],
    "labkit.metrics": ["fvd", "fvd_from_stats", "frechet_distance", "psnr", "ssim", "flicker", "warping_error",
                       "prompt_adherence"],
    "labkit.inference": ["load_pipeline", "PLANS", "apply_plan", "measure", "compare_plans"],
    "labkit.models": ["load", "REGISTRY", "is_shipped", "provenance"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_importable(module):
    mod = importlib.import_module(module)
    assert [name for name in PUBLIC[module] if not hasattr(mod, name)] == []
    assert set(PUBLIC[module]) <= set(getattr(mod, "__all__", PUBLIC[module]))
