"""labkit.models.cogvideox: tiny CogVideoX text/image-to-video pipelines from the real classes (tiny sizes, random
weights): assembly, determinism, offline save/load, the denoiser's view of the pipeline, patch and VAE sizes."""

import json
from unittest import mock

import pytest
import torch
from diffusers import (
    AutoencoderKLCogVideoX,
    CogVideoXDDIMScheduler,
    CogVideoXImageToVideoPipeline,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    DiffusionPipeline,
)
from transformers import T5EncoderModel

from labkit import DATA_DIR
from labkit.data.shapes import make_clip
from labkit.models import cogvideox, text
from labkit.models import cogvideox as t2v
from labkit.models.vae import encode_posterior, tiny_vae_3d

SIZES = {"width": 32, "layers": 1, "text_width": 32}


@pytest.fixture(scope="module")
def pipe(vae):
    return t2v.build_pipeline("t2v", vae=vae, **SIZES)


@pytest.fixture(scope="module")
def i2v_pipe(vae):
    return t2v.build_pipeline("i2v", vae=vae, **SIZES)


def test_pipelines_are_assembled_from_the_real_classes(pipe, i2v_pipe, vae):
    assert type(pipe) is CogVideoXPipeline and type(i2v_pipe) is CogVideoXImageToVideoPipeline
    assert isinstance(pipe.text_encoder, T5EncoderModel)
    assert isinstance(pipe.transformer, CogVideoXTransformer3DModel)
    assert isinstance(pipe.vae, AutoencoderKLCogVideoX) and isinstance(pipe.scheduler, CogVideoXDDIMScheduler)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    # dependent sizes: latent channels from the VAE, doubled for image-to-video; text width = T5 width
    assert pipe.transformer.config.in_channels == vae.config.latent_channels
    assert i2v_pipe.transformer.config.in_channels == 2 * vae.config.latent_channels
    assert pipe.transformer.config.text_embed_dim == pipe.text_encoder.config.d_model
    rows = {r["component"]: r for r in t2v.component_table(pipe)}
    assert rows["transformer"]["parameters"] == sum(p.numel() for p in pipe.transformer.parameters())


def test_same_prompt_seed_and_steps_give_identical_frames(pipe):
    a = t2v.generate(pipe, "a red circle moving left", seed=3, steps=2)
    b = t2v.generate(pipe, "a red circle moving left", seed=3, steps=2)
    c = t2v.generate(pipe, "a red circle moving left", seed=4, steps=2)
    assert a.shape == (17, 3, 64, 64) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_unknown_words_raise_naming_the_vocabulary(pipe):
    with pytest.raises(ValueError, match=r"unknown word\(s\) \['purple'\].*vocabulary.*magenta"):
        t2v.generate(pipe, "a purple circle moving left", steps=1)
    with pytest.raises(ValueError, match="8k\\+1"):
        t2v.generate(pipe, "a red circle moving left", steps=1, num_frames=13)
    t2v.check_prompt(pipe.tokenizer, "A Red circle moving LEFT and a blue square moving up")  # case-insensitive


def test_save_and_load_with_diffusion_pipeline_offline(pipe, i2v_pipe, tmp_path):
    for name, p in (("t2v", pipe), ("i2v", i2v_pipe)):
        p.save_pretrained(tmp_path / name)
        q = DiffusionPipeline.from_pretrained(tmp_path / name)
        q.set_progress_bar_config(disable=True)
        assert type(q) is type(p)
        prompt = "a cyan triangle moving down quickly"
        assert q.tokenizer(prompt).input_ids == p.tokenizer(prompt).input_ids
        with pytest.raises(ValueError, match="unknown word"):
            t2v.check_prompt(q.tokenizer, "a red zebra moving left")
    a = t2v.generate(pipe, "a green square moving up", seed=1, steps=2, output_type="latent")
    q = DiffusionPipeline.from_pretrained(tmp_path / "t2v")
    q.set_progress_bar_config(disable=True)
    assert torch.equal(a, t2v.generate(q, "a green square moving up", seed=1, steps=2, output_type="latent"))


def test_image_to_video_and_two_stage_text_to_image_to_video(pipe, i2v_pipe):
    frame = make_clip("a red circle moving left", seed=5).video[0]
    a = t2v.animate(i2v_pipe, frame, "a red circle moving left", seed=2, steps=2)
    assert a.shape == (17, 3, 64, 64)
    assert torch.equal(a, t2v.animate(i2v_pipe, frame, "a red circle moving left", seed=2, steps=2))
    with pytest.raises(ValueError, match="64x64"):
        t2v.animate(i2v_pipe, frame[:, :32, :32], "a red circle moving left", steps=1)
    first, video = t2v.text_to_image_to_video(pipe, i2v_pipe, "a blue square moving right", seed=0, steps=1)
    assert first.shape == (3, 64, 64) and video.shape == (17, 3, 64, 64)
    assert torch.equal(first, t2v.generate(pipe, "a blue square moving right", seed=0, steps=1)[0])


def test_scheduler_follows_the_cogvideox_2b_config_except_the_shift():
    ref = json.loads((DATA_DIR / "configs" / "cogvideox-2b" / "scheduler.json").read_text())
    s = t2v.cogvideox_scheduler("dpm")
    for key in ("beta_schedule", "beta_start", "beta_end", "prediction_type", "rescale_betas_zero_snr",
                "timestep_spacing"):
        assert s.config[key] == ref[key], key
    assert s.config.snr_shift_scale == 1.0 and float(s.alphas_cumprod[-1]) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="ddim"):
        t2v.cogvideox_scheduler("euler")


def test_denoiser_sees_the_text_and_image_exactly_as_the_pipelines_give_them(vae):
    pipe = t2v.build_pipeline("i2v", vae=vae, **SIZES)
    model = t2v.Denoiser(pipe.text_encoder, pipe.transformer)
    seen = {}

    def spy(hidden_states, encoder_hidden_states, timestep, **_):
        seen.update(x=hidden_states, text=encoder_hidden_states)
        return (hidden_states[:, :, :4] * 0,)

    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    with mock.patch.object(pipe.transformer, "forward", spy):
        pipe(image=image, prompt="a red circle moving left", num_frames=17, height=64, width=64,
             num_inference_steps=1, guidance_scale=1.0, generator=torch.Generator().manual_seed(7),
             max_sequence_length=16, output_type="latent")
    ids = text.tokenize(pipe.tokenizer, ["a red circle moving left"])
    torch.testing.assert_close(seen["text"], model.text_encoder(ids)[0])
    # the image latents the pipeline builds = what training builds from the cache (same posterior draw)
    mean, std = encode_posterior(vae, image[None, None])
    g = torch.Generator().manual_seed(7)
    first = (mean + std * torch.randn(mean.shape, generator=g)) * t2v.vae_scale(vae)
    image_latents = seen["x"][:, :, 4:]
    torch.testing.assert_close(image_latents[:, :1], first, rtol=0, atol=1e-5)
    assert torch.count_nonzero(image_latents[:, 1:]) == 0


@pytest.mark.parametrize("patch_size", [2, 1])
def test_image_to_video_can_start_from_a_text_to_video_model(patch_size):
    sizes = {**SIZES, "patch_size": patch_size}
    a = t2v.new_denoiser("t2v", 4, seed=1, **sizes)
    b = t2v.init_from_t2v(t2v.new_denoiser("i2v", 4, seed=2, **sizes), a)
    g = torch.Generator().manual_seed(0)
    x, image = torch.randn(2, 5, 4, 8, 8, generator=g), torch.randn(2, 5, 4, 8, 8, generator=g)
    t, ids = torch.tensor([10, 900]), torch.randint(3, 20, (2, 16), generator=g)
    with torch.no_grad():
        torch.testing.assert_close(b(x, t, ids, image), a(x, t, ids))  # image channels start at zero weight
        fresh = t2v.new_denoiser("i2v", 4, seed=2, **sizes)
        assert not torch.allclose(fresh(x, t, ids, image), a(x, t, ids), atol=1e-3)


@pytest.mark.parametrize("patch_size, tokens", [(2, 5 * 4 * 4), (1, 5 * 8 * 8)])
def test_patch_size_sets_the_number_of_video_tokens(patch_size, tokens):
    model = t2v.new_denoiser("t2v", 4, **SIZES, patch_size=patch_size)
    x, ids = torch.randn(2, 5, 4, 8, 8), torch.randint(3, 20, (2, 16))
    with torch.no_grad():
        embedded_text = model.text_encoder(ids)[0]
        embedded = model.transformer.patch_embed(embedded_text, x)  # text tokens first, then the video tokens
        assert embedded.shape == (2, 16 + tokens, SIZES["width"])
        assert model(x, torch.tensor([5, 500]), ids).shape == x.shape  # unpatchified back to the latent layout
    with pytest.raises(ValueError, match="patch_size 1, 2 or 4"):
        t2v.new_transformer(4, patch_size=3)


def test_a_4x_spatial_vae_gives_the_transformer_16x16_latents():
    vae = tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8))  # three blocks: 4x spatial
    assert t2v.vae_spatial_factor(vae) == 4
    pipe = t2v.build_pipeline("t2v", vae=vae, patch_size=4)
    embed = pipe.transformer.patch_embed
    assert (embed.sample_height, embed.sample_width) == (16, 16)
    assert embed.pos_embedding.shape[1] == 16 + 5 * 4 * 4  # text tokens + 4x4 tokens of 4x4 latent pixels per frame
    video = t2v.generate(pipe, "a red square moving left slowly", steps=1)
    assert video.shape == (17, 3, 64, 64)
    with pytest.raises(ValueError, match="spatial_factor of 4 or 8"):
        t2v.new_transformer(4, spatial_factor=2)


def test_noise_generator_fixes_size_and_prompt(fake_cogvideox):
    pipe = fake_cogvideox()
    generate = cogvideox.noise_generator(pipe, 9, 16, 16, steps=3, prompt="a red circle moving right",
                                         guidance_scale=4.0)
    shape = cogvideox.noise_shape(pipe, 9, 16, 16)
    assert shape == (1, 3, 4, 2, 2)
    video = generate(torch.zeros(shape))
    assert video.shape == (9, 3, 16, 16)  # (F, C, H, W) in [0, 1]
    assert pipe.calls[-1]["steps"] == 3 and pipe.calls[-1]["guidance_scale"] == 4.0
    assert pipe.calls[-1]["max_sequence_length"] == 8  # tokenised to the tiny transformer's text length
    latents = generate(torch.ones(shape), steps=5, output="latent")
    assert torch.equal(latents, torch.ones(shape)) and pipe.calls[-1]["steps"] == 5
    with pytest.raises(ValueError, match="expected initial latents of shape"):
        generate(torch.zeros(1, 2, 4, 2, 2))


def test_a_loaded_pipeline_refuses_diffusers_default_text_length_naming_the_fix():
    """diffusers pads prompts to 226 tokens; the tiny transformer takes 16: the check names the fix before the
    transformer does any work (its patch embedding never runs)."""
    from labkit import models

    pipe = models.load("tiny-t2v")
    calls = []
    pipe.transformer.patch_embed.register_forward_pre_hook(lambda *_: calls.append(1))
    call = dict(prompt="a red square moving left", num_inference_steps=1, num_frames=9, output_type="latent")
    with pytest.raises(ValueError, match="expected text embeddings of 16 tokens .* got 226: "
                                         "pass max_sequence_length=16 to the pipeline call"):
        pipe(**call)
    assert calls == []
    assert pipe(**call, max_sequence_length=16).frames.shape == (1, 3, 16, 8, 8) and calls == [1]
