"""Budgets of the production models on the meta device (labkit.budgets)."""

import pytest
import torch

from labkit import budgets

# Published parameter counts (issue 7): SVD-XT UNet 1.525 B, CogVideoX-5B 5.570 B, -2B 1.694 B, CogVideoX VAE 0.216 B.
PUBLISHED = [("svd-xt", "unet", 1.525e9), ("cogvideox-5b", "transformer", 5.570e9),
             ("cogvideox-2b", "transformer", 1.694e9), ("cogvideox-2b", "vae", 0.216e9)]


@pytest.fixture(scope="module")
def counts():
    budgets._meta_stats.cache_clear()
    return {name: budgets.parameter_counts(name) for name in budgets.PRODUCTION}


@pytest.mark.parametrize("model,component,published", PUBLISHED)
def test_parameter_counts_match_published(counts, model, component, published):
    got = counts[model][component]
    assert abs(got - published) / published < 0.005, f"{model}.{component}: {got} vs {published}"


def test_budgets_allocate_nothing():
    module = budgets.build_component(budgets.PRODUCTION["cogvideox-5b"].components[0])
    assert all(p.device.type == "meta" for p in module.parameters())


def test_meta_count_equals_a_real_instantiation_of_a_small_config():
    # reference: the same class built for real on the CPU must count the same parameters as on meta
    from diffusers import AutoencoderKLCogVideoX

    config = dict(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2)
    with torch.device("meta"):
        meta = AutoencoderKLCogVideoX(**config)
    real = AutoencoderKLCogVideoX(**config)
    assert sum(p.numel() for p in meta.parameters()) == sum(p.numel() for p in real.parameters())


def test_weight_bytes_per_dtype():
    assert budgets.weight_bytes(1000, "fp32") == 4000
    assert budgets.weight_bytes(1000, torch.bfloat16) == 2000
    with pytest.raises(ValueError, match="expected a dtype"):
        budgets.weight_bytes(10, "int3")


def test_latent_geometry_of_the_default_videos():
    cog = budgets.architecture_of("cogvideox-5b")
    geo = budgets.latent_geometry(cog, 49, 480, 720)
    assert geo["latent_shape"] == (13, 16, 60, 90)
    assert geo["tokens"] == 13 * 30 * 45 + 226  # 2x2 patches + T5 tokens
    svd = budgets.architecture_of("svd-xt")
    assert budgets.latent_geometry(svd, 25, 576, 1024)["latent_shape"] == (25, 4, 72, 128)
    with pytest.raises(ValueError, match="4k\\+1"):
        budgets.latent_geometry(cog, 48, 480, 720)
    with pytest.raises(ValueError, match="divisible"):
        budgets.latent_geometry(svd, 25, 570, 1024)


def test_attention_flops_formula_by_hand():
    cog = budgets.architecture_of("cogvideox-2b")
    n = 13 * 30 * 45 + 226
    assert budgets.attention_flops(cog, 49, 480, 720, batch=1) == 30 * 4 * n * n * 1920
    # doubling the spatial size multiplies SVD's spatial attention by ~16 (quadratic in 4x the positions)
    svd = budgets.architecture_of("svd-xt")
    small, big = (budgets.attention_flops(svd, 14, h, w) for h, w in ((256, 256), (512, 512)))
    assert 12 < big / small < 16.5


def test_planner_orders_plans_and_counts_weights():
    spec = budgets.PRODUCTION["cogvideox-2b"]
    peaks = {p: budgets.predict_peak_memory("cogvideox-2b", 49, 480, 720, p, "fp16")["peak"]
             for p in ("none", "model_cpu_offload", "model_cpu_offload+vae_tiling", "sequential_cpu_offload")}
    assert peaks["none"] > peaks["model_cpu_offload"] > peaks["model_cpu_offload+vae_tiling"]
    assert peaks["sequential_cpu_offload"] < peaks["model_cpu_offload"]
    parts = budgets.predict_peak_memory("cogvideox-2b", 49, 480, 720, "none", "fp16")
    assert parts["weights"] == 2 * sum(budgets.parameter_counts(spec.name).values())
    with pytest.raises(ValueError, match="batch: expected an integer >= 1, got 0"):
        budgets.predict_peak_memory("cogvideox-2b", 49, 480, 720, batch=0)


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="cogvideox-5b"):
        budgets.get_spec("sora")
