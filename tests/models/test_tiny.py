"""labkit.models.tiny: tiny pipelines from the real diffusers/transformers classes, seeded per component."""

import torch

from labkit.models import tiny


def _params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_cogvideox_components_are_seeded_per_component():
    a, b, c = (tiny.tiny_cogvideox_components(seed) for seed in (0, 0, 1))
    for name in ("transformer", "vae", "text_encoder"):
        assert torch.equal(_params(a[name]), _params(b[name])), name
        assert not torch.equal(_params(a[name]), _params(c[name])), name
    # dependent size: the transformer reads the T5 encoder's width
    assert a["transformer"].config.text_embed_dim == a["text_encoder"].config.d_model


def test_svd_components_derive_their_sizes():
    comps = tiny.tiny_svd_components(0)
    unet = comps["unet"].config
    assert unet.in_channels == 2 * comps["vae"].config.latent_channels
    assert unet.projection_class_embeddings_input_dim == 3 * unet.addition_time_embed_dim
    assert unet.cross_attention_dim == comps["image_encoder"].config.projection_dim


def test_tiny_cogvideox_runs_and_matches_the_diffusers_output_convention():
    pipe = tiny.tiny_cogvideox_pipeline(0)
    assert "random weights" in pipe.labkit_note
    out = pipe("a red circle moving left", num_frames=9, height=32, width=32, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0), output_type="pt", max_sequence_length=16).frames
    assert out.shape == (1, 9, 3, 32, 32)  # (B, F, C, H, W)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
