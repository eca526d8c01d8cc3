"""labkit.t2v: tiny CogVideoX text/image-to-video pipelines from the real classes (tiny sizes, random weights)."""

import pytest
import torch

from labkit import models
from labkit.models import cogvideox as t2v

SIZES = {"width": 32, "layers": 1, "text_width": 32}


@pytest.fixture(scope="module")
def vae(tiny_vae):
    return tiny_vae


@pytest.fixture(scope="module")
def pipe(vae):
    return t2v.build_pipeline("t2v", vae=vae, **SIZES)


@pytest.fixture(scope="module")
def i2v_pipe(vae):
    return t2v.build_pipeline("i2v", vae=vae, **SIZES)


def test_pipelines_are_assembled_from_the_real_classes(pipe, i2v_pipe, vae):
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )
    from transformers import T5EncoderModel

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
    from diffusers import DiffusionPipeline

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
    from labkit.data.shapes import make_clip

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
    import json

    from labkit import DATA_DIR

    ref = json.loads((DATA_DIR / "configs" / "cogvideox-2b" / "scheduler.json").read_text())
    s = t2v.cogvideox_scheduler("dpm")
    for key in ("beta_schedule", "beta_start", "beta_end", "prediction_type", "rescale_betas_zero_snr",
                "timestep_spacing"):
        assert s.config[key] == ref[key], key
    assert s.config.snr_shift_scale == 1.0 and float(s.alphas_cumprod[-1]) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="ddim"):
        t2v.cogvideox_scheduler("euler")


def test_registry_names_the_trainer_of_a_model_not_shipped_yet():
    with pytest.raises(ValueError, match="tiny-t2v"):
        models.load("tiny-nothing")
    for name in ("tiny-t2v", "tiny-i2v"):
        if not models.is_shipped(name):
            with pytest.raises(FileNotFoundError, match="labkit train"):
                models.load(name)
        else:  # once shipped: loads offline after the sha256 check
            assert models.load(name).transformer is not None
