from labkit.data import shapes as shapes_data
from labkit.evaluation import t2v as t2v_evaluation
from labkit.models import cogvideox as cogvideox_models
from labkit.models import text
from labkit.models import vae as vae_models

"""labkit.t2v_train: the objective matches the sampler, latent cache, CFG dropout, exact resume."""

from unittest import mock

import pytest
import torch

from labkit.evaluation import t2v as te
from labkit.models import cogvideox as t2v
from labkit.training import t2v as tt

SIZES = {"width": 32, "layers": 1, "text_width": 32}


@pytest.fixture(scope="module")
def vae(tiny_vae):
    return tiny_vae


@pytest.fixture(scope="module")
def cache(vae):
    return tt.build_cache(vae, 4, cache_dir=None, progress=False)


def test_training_pair_is_the_v_prediction_formula_with_zero_terminal_snr():
    s = t2v.cogvideox_scheduler()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 5, 4, 8, 8, generator=g), torch.randn(3, 5, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 999])
    noisy, v = tt.v_training_pair(s, x0, eps, t)
    a = s.alphas_cumprod[t].double().sqrt().view(-1, 1, 1, 1, 1)
    b = (1 - s.alphas_cumprod[t].double()).sqrt().view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(noisy.double(), a * x0 + b * eps, rtol=0, atol=1e-5)
    torch.testing.assert_close(v.double(), a * eps - b * x0, rtol=0, atol=1e-5)
    torch.testing.assert_close(v[2], -x0[2], rtol=0, atol=1e-5)  # abar_999 = 0: pure noise in, v = -x0
    assert not torch.allclose(v[1], eps[1], atol=1e-2)  # an eps target would be a different objective


def _oracle(pipe, x0, target="v"):
    """A transformer forward that returns the exact v (or, as a negative control, eps) for known clean latents."""
    s, c = pipe.scheduler, x0.shape[2]

    def forward(hidden_states, encoder_hidden_states, timestep, **_):
        x_t = hidden_states[:, :, :c]  # image-to-video appends the image latents after the noisy ones
        abar = s.alphas_cumprod[timestep.long()].view(-1, 1, 1, 1, 1)
        eps = (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()
        return (s.get_velocity(x0.expand_as(x_t), eps, timestep.long()) if target == "v" else eps,)
    return forward


@pytest.mark.parametrize("kind,scheduler", [("t2v", "ddim"), ("t2v", "dpm"), ("i2v", "ddim")])
def test_a_denoiser_predicting_the_exact_v_recovers_the_data_through_the_pipeline(vae, kind, scheduler):
    pipe = t2v.build_pipeline(kind, vae=vae, **SIZES)
    pipe.scheduler = t2v.cogvideox_scheduler(scheduler)
    x0 = torch.randn(1, 5, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    extra = {"image": torch.rand(3, 64, 64)} if kind == "i2v" else {}
    call = dict(prompt="a red circle moving left", num_frames=17, height=64, width=64, num_inference_steps=10,
                guidance_scale=3.0, generator=torch.Generator().manual_seed(0), max_sequence_length=16,
                output_type="latent", **extra)
    with mock.patch.object(pipe.transformer, "forward", _oracle(pipe, x0)):
        out = pipe(**call).frames
    torch.testing.assert_close(out, x0, rtol=0, atol=2e-3)
    call["generator"] = torch.Generator().manual_seed(0)
    with mock.patch.object(pipe.transformer, "forward", _oracle(pipe, x0, target="eps")):
        wrong = pipe(**call).frames
    assert (wrong - x0).abs().max() > 0.1  # the control: an eps-predictor is not what this sampler expects


def test_denoiser_sees_the_text_and_image_exactly_as_the_pipelines_give_them(vae):
    pipe = t2v.build_pipeline("i2v", vae=vae, **SIZES)
    model = cogvideox_models.Denoiser(pipe.text_encoder, pipe.transformer)
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
    mean, std = vae_models.encode_posterior(vae, image[None, None])
    g = torch.Generator().manual_seed(7)
    first = (mean + std * torch.randn(mean.shape, generator=g)) * t2v.vae_scale(vae)
    image_latents = seen["x"][:, :, 4:]
    torch.testing.assert_close(image_latents[:, :1], first, rtol=0, atol=1e-5)
    assert torch.count_nonzero(image_latents[:, 1:]) == 0


def test_latent_cache_is_written_once_and_reloaded(vae, tmp_path):
    a = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False)
    assert a.mean.shape == (3, 5, 4, 8, 8) and a.first_mean.shape == (3, 1, 4, 8, 8) and len(a) == 3
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    with mock.patch.object(tt, "encode_posterior", side_effect=AssertionError("re-encoded")):
        b = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.first_std, b.first_std) and a.captions == b.captions
    with pytest.raises(ValueError, match="num_clips >= 1"):
        tt.build_cache(vae, 0, cache_dir=None)


def test_cfg_dropout_replaces_captions_by_the_empty_negative_prompt(cache):
    tok = t2v.shapes_tokenizer()
    ids, empty = text.tokenize(tok, cache.captions), text.tokenize(tok, [""])
    cfg = tt.TrainT2VConfig(batch=64, cfg_dropout=0.3)
    dropped = [(tt._batch(cache, ids, empty, 1.0, cfg, s)["ids"] == empty).all(1).float().mean() for s in range(20)]
    assert 0.2 < float(torch.stack(dropped).mean()) < 0.4
    none = tt._batch(cache, ids, empty, 1.0, tt.TrainT2VConfig(batch=64, cfg_dropout=0.0), 0)["ids"]
    assert not (none == empty).all(1).any()
    i2v = tt._batch(cache, ids, empty, 1.0, tt.TrainT2VConfig(kind="i2v", batch=4), 0)["image_latents"]
    assert i2v.shape == (4, 5, 4, 8, 8) and torch.count_nonzero(i2v[:, 1:]) == 0


def test_resume_continues_exactly_like_an_uninterrupted_run(vae, cache, tmp_path):
    from diffusers import DiffusionPipeline

    cfg = dict(kind="i2v", batch=2, warmup=1, checkpoint_every=0, **SIZES)
    full = tt.train(tt.TrainT2VConfig(steps=4, **cfg), vae=vae, cache=cache, progress=False)
    tt.train(tt.TrainT2VConfig(steps=2, **cfg), vae=vae, cache=cache, out=tmp_path / "ck", progress=False)
    resumed = tt.train(tt.TrainT2VConfig(steps=4, **cfg), vae=vae, cache=cache, resume=tmp_path / "ck",
                       progress=False)
    assert resumed.losses == full.losses and len(full.losses) == 4
    for (name, p), q in zip(full.model.named_parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q), name
    pipe = DiffusionPipeline.from_pretrained(tmp_path / "ck")  # checkpoints are pipelines
    assert type(pipe).__name__ == "CogVideoXImageToVideoPipeline"
    with pytest.raises(ValueError, match="width"):
        tt.train(tt.TrainT2VConfig(steps=4, **{**cfg, "width": 48}), vae=vae, cache=cache,
                 resume=tmp_path / "ck", progress=False)
    with pytest.raises(ValueError, match="kind"):
        tt.train(tt.TrainT2VConfig(kind="v2v"), vae=vae, cache=cache)


def test_shipping_needs_the_full_held_out_evaluation_to_meet_the_bars():
    assert "--eval 84" in t2v_evaluation.bars_problem("t2v", None)
    assert "84" in t2v_evaluation.bars_problem("t2v", {"n": 12, "bar": 1.0})
    assert "bar = 0.800 < 0.9" in t2v_evaluation.bars_problem("t2v", {"n": 84, "bar": 0.8})
    assert t2v_evaluation.bars_problem("t2v", {"n": 84, "bar": 0.95}) == ""
    assert "kept" in t2v_evaluation.bars_problem("i2v", {"n": 84, "psnr_ok": 0.95, "kept": 0.5})
    assert t2v_evaluation.bars_problem("i2v", {"n": 84, "psnr_ok": 0.95, "kept": 0.92}) == ""


def test_cli_arguments_default_to_a_trial_folder_outside_data():
    args = tt._parse([], "i2v")
    assert args.out.parts[-3:] == ("outputs", "models", "tiny-i2v") and args.ship is None
    assert tt._parse(["--steps", "7", "--cfg-dropout", "0.2"], "t2v").steps == 7
    assert tt._parse(["--decoder-steps", "5"], "t2v").decoder_steps == 5
    with pytest.raises(SystemExit):  # an image-to-video model shares the text-to-video model's tuned VAE
        tt._parse(["--decoder-steps", "5"], "i2v")


def test_evaluation_scores_a_perfect_generator_as_perfect_and_a_blank_one_as_zero(monkeypatch):
    from labkit.data.shapes import make_clip

    truth = lambda pipe, caption, seed=0, **_: make_clip(caption, seed=seed).video  # noqa: E731
    monkeypatch.setattr(t2v, "generate", truth)
    report = te.evaluate_t2v(None, num=6, progress=False)
    assert report["bar"] == 1.0 and report["n"] == 6 and len(set(report["captions"])) == 6
    monkeypatch.setattr(t2v, "generate", lambda *a, **k: torch.zeros(17, 3, 64, 64))
    assert te.evaluate_t2v(None, num=2, progress=False)["bar"] == 0.0

    def copy_then_hold(pipe, image, caption, **_):  # keeps the first frame, then freezes: kept, but no motion
        return image[None].expand(17, -1, -1, -1).clone()
    monkeypatch.setattr(t2v, "animate", copy_then_hold)
    report = te.evaluate_i2v(None, num=3, progress=False)
    assert report["psnr_ok"] == 1.0 and report["kept"] == 1.0
    monkeypatch.setattr(t2v, "animate", lambda pipe, image, caption, **_: torch.zeros(17, 3, 64, 64))
    report = te.evaluate_i2v(None, num=2, progress=False)
    assert report["psnr_ok"] == 0.0 and report["kept"] == 0.0


@pytest.mark.parametrize("patch_size", [2, 1])
def test_image_to_video_can_start_from_a_text_to_video_model(patch_size):
    sizes = {**SIZES, "patch_size": patch_size}
    a = cogvideox_models.new_denoiser("t2v", 4, seed=1, **sizes)
    b = cogvideox_models.init_from_t2v(cogvideox_models.new_denoiser("i2v", 4, seed=2, **sizes), a)
    g = torch.Generator().manual_seed(0)
    x, image = torch.randn(2, 5, 4, 8, 8, generator=g), torch.randn(2, 5, 4, 8, 8, generator=g)
    t, ids = torch.tensor([10, 900]), torch.randint(3, 20, (2, 16), generator=g)
    with torch.no_grad():
        torch.testing.assert_close(b(x, t, ids, image), a(x, t, ids))  # image channels start at zero weight
        fresh = cogvideox_models.new_denoiser("i2v", 4, seed=2, **sizes)
        assert not torch.allclose(fresh(x, t, ids, image), a(x, t, ids), atol=1e-3)


@pytest.mark.parametrize("patch_size, tokens", [(2, 5 * 4 * 4), (1, 5 * 8 * 8)])
def test_patch_size_sets_the_number_of_video_tokens(patch_size, tokens):
    model = cogvideox_models.new_denoiser("t2v", 4, **SIZES, patch_size=patch_size)
    x, ids = torch.randn(2, 5, 4, 8, 8), torch.randint(3, 20, (2, 16))
    with torch.no_grad():
        text = model.text_encoder(ids)[0]
        embedded = model.transformer.patch_embed(text, x)  # text tokens first, then the video tokens
        assert embedded.shape == (2, 16 + tokens, SIZES["width"])
        assert model(x, torch.tensor([5, 500]), ids).shape == x.shape  # unpatchified back to the latent layout
    with pytest.raises(ValueError, match="patch_size 1, 2 or 4"):
        t2v.new_transformer(4, patch_size=3)


def test_a_4x_spatial_vae_gives_the_transformer_16x16_latents():
    from labkit.models.vae import tiny_vae_3d

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


def test_vae_ceiling_scores_reconstructions(monkeypatch, vae):
    from labkit.models import vae

    monkeypatch.setattr(labkit.vae, "reconstruct", lambda vae, video: video.clone())  # a perfect VAE
    report = te.vae_ceiling(vae, 4, progress=False)
    assert report["bar"] == 1.0 and report["psnr"] == float("inf")
    monkeypatch.setattr(labkit.vae, "reconstruct", lambda vae, video: video * 0 + video.mean())  # a grey one
    assert te.vae_ceiling(vae, 2, progress=False)["bar"] == 0.0


def test_clean_latents_are_the_posterior_mean_or_a_sample(cache):
    tok = t2v.shapes_tokenizer()
    ids, empty = text.tokenize(tok, cache.captions), text.tokenize(tok, [""])
    mean = tt._batch(cache, ids, empty, 2.0, tt.TrainT2VConfig(batch=3), 5)
    g = torch.Generator().manual_seed(5)  # seed 0 * 1_000_003 + step 5
    idx = torch.randint(len(cache), (3,), generator=g)
    torch.testing.assert_close(mean["x0"], cache.mean[idx] * 2.0)
    sample = tt._batch(cache, ids, empty, 2.0, tt.TrainT2VConfig(batch=3, posterior="sample"), 5)
    torch.testing.assert_close(sample["t"], mean["t"])  # same random stream otherwise
    assert (sample["x0"] - mean["x0"]).abs().mean() > 0.1
    with pytest.raises(ValueError, match="posterior"):
        tt.train(tt.TrainT2VConfig(posterior="mode"), vae=None, cache=cache)


def test_logit_normal_timesteps_are_denser_in_the_middle(cache):
    tok = t2v.shapes_tokenizer()
    ids, empty = text.tokenize(tok, cache.captions), text.tokenize(tok, [""])
    middle = {}
    for sampling in ("uniform", "logit-normal"):
        t = tt._batch(cache, ids, empty, 1.0, tt.TrainT2VConfig(batch=4000, t_sampling=sampling), 3)["t"]
        assert t.dtype == torch.int64 and 0 <= int(t.min()) and int(t.max()) <= 999
        middle[sampling] = float(((t >= 250) & (t < 750)).float().mean())
    # uniform: 1/2 of the draws; logit-normal(0, 1): P(|n| < logit(0.75) = 1.0986) = 0.728
    assert abs(middle["uniform"] - 0.5) < 0.03 and abs(middle["logit-normal"] - 0.728) < 0.03
    with pytest.raises(ValueError, match="t_sampling"):
        tt.train(tt.TrainT2VConfig(t_sampling="cosine"), vae=object(), cache=cache)


def test_logit_mean_and_std_move_and_narrow_the_timesteps(cache):
    tok = t2v.shapes_tokenizer()
    ids, empty = text.tokenize(tok, cache.captions), text.tokenize(tok, [""])

    def draw(**kw):
        return tt._batch(cache, ids, empty, 1.0, tt.TrainT2VConfig(batch=4000, t_sampling="logit-normal", **kw), 3)["t"]

    torch.testing.assert_close(draw(logit_mean=0.0, logit_std=1.0), draw())  # the defaults are SD3's (0, 1)
    low, narrow = draw(logit_mean=-0.5), draw(logit_std=0.5)
    # median t = 1000 * sigmoid(logit_mean): 378 for -0.5, 500 for 0
    assert abs(float(low.float().median()) - 377.5) < 15 and abs(float(narrow.float().median()) - 500) < 15
    # P(250 <= t < 750) with std 0.5: P(|n| < 1.0986 / 0.5) = 0.972 (std 1: 0.728)
    assert abs(float(((narrow >= 250) & (narrow < 750)).float().mean()) - 0.972) < 0.015
    with pytest.raises(ValueError, match="logit_std"):
        tt.train(tt.TrainT2VConfig(t_sampling="logit-normal", logit_std=0.0), vae=object(), cache=cache)


def test_twin_captions_change_only_the_shape_and_avoid_held_out_combinations():
    from labkit.data.shapes import HELDOUT_COMBOS, parse_caption

    assert shapes_data.twin_caption("a red circle moving up slowly", 0) == "a red square moving up slowly"
    assert shapes_data.twin_caption("a red square moving left", 5) == "a red circle moving left"
    assert {shapes_data.twin_caption("a red triangle moving left", i) for i in (0, 1)} == {
        "a red circle moving left", "a red square moving left"}
    # ("cyan", "square", "left") is held out: a cyan circle moving left gets a triangle twin instead
    assert shapes_data.twin_caption("a cyan circle moving left", 0) == "a cyan triangle moving left"
    from labkit.data.shapes import ShapesWorld

    world = ShapesWorld("train", length=300)
    for i in range(300):
        (a,), (b,) = parse_caption(world.caption(i)), parse_caption(shapes_data.twin_caption(world.caption(i), i))
        assert a.shape != b.shape and (a.color, a.direction, a.speed) == (b.color, b.direction, b.speed)
        assert (b.color, b.shape, b.direction) not in HELDOUT_COMBOS


def test_twin_batches_pair_clips_of_the_same_path_with_shared_noise_and_t(vae, tmp_path):
    from labkit.data.shapes import make_clip
    from labkit.data.splits import clip_seed

    c = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False, twins=True)
    assert len(c) == 6 and c.twin.tolist() == [3, 4, 5, 0, 1, 2]
    assert c.captions[4] == shapes_data.twin_caption(c.captions[1], 1)
    assert len(list(tmp_path.glob("*-twins.safetensors"))) == 1 and not list(tmp_path.glob("*.tmp"))
    # the twin is the same seed rendered with the other shape: few pixels differ (the corners)
    a = make_clip(c.captions[1], clip_seed("train", 1, 2))[0]
    b = make_clip(c.captions[4], clip_seed("train", 1, 2))[0]
    differ = float(((a - b).abs().sum(1) > 0.05).float().mean())
    assert 0 < differ < 0.05
    tok = t2v.shapes_tokenizer()
    ids, empty = text.tokenize(tok, c.captions), text.tokenize(tok, [""])
    b = tt._batch(c, ids, empty, 1.0, tt.TrainT2VConfig(batch=8, twins=True, cfg_dropout=0.0), 3)
    assert torch.equal(b["t"][:4], b["t"][4:]) and torch.equal(b["noise"][:4], b["noise"][4:])
    assert not torch.equal(b["noise"][0], b["noise"][1])
    rows = [next(j for j in range(len(c)) if torch.equal(c.mean[j], x)) for x in b["x0"]]  # which clip each row is
    assert rows[4:] == [int(c.twin[j]) for j in rows[:4]]  # row i + 4 is row i's twin
    with pytest.raises(ValueError, match="even batch"):
        tt.train(tt.TrainT2VConfig(batch=3, twins=True), vae=object(), cache=c)
    with pytest.raises(ValueError, match="no twins"):
        tt.train(tt.TrainT2VConfig(twins=True), vae=object(), cache=tt.build_cache(vae, 2, cache_dir=None,
                                                                                  progress=False))


def test_text_to_video_can_fine_tune_from_a_pipeline(vae, cache):
    start = t2v.build_pipeline("t2v", vae=vae, seed=5, **SIZES)
    cfg = tt.TrainT2VConfig(steps=1, batch=2, lr=0.0, warmup=1, checkpoint_every=0, ema_decay=0.0, **SIZES)
    tuned = tt.train(cfg, vae=vae, cache=cache, init_from=start, progress=False).model  # lr 0: weights kept
    for (name, p), q in zip(tuned.transformer.state_dict().items(), start.transformer.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    fresh = tt.train(cfg, vae=vae, cache=cache, progress=False).model  # seed 0: not the seed-5 weights
    assert not torch.equal(fresh.transformer.proj_out.weight, start.transformer.proj_out.weight)


def test_shape_word_effect_splits_the_difference_between_the_input_and_the_word(vae):
    """Two transformers whose answers are known: one that predicts v = 0 reads x0_hat = sqrt(abar) x_t, so it puts
    back exactly abar_t of the square-circle difference and the word adds nothing; one that only reads the text
    puts back abar_t from the input plus whatever the word adds (``from_input = abar_t + from_word``)."""
    pipe = t2v.build_pipeline("t2v", vae=vae, **SIZES)
    abar = pipe.scheduler.alphas_cumprod

    def zero(hidden_states, **_):
        return (torch.zeros_like(hidden_states),)

    def text_only(hidden_states, encoder_hidden_states, **_):
        return (encoder_hidden_states.mean((1, 2)).view(-1, 1, 1, 1, 1) * torch.ones_like(hidden_states)
                + encoder_hidden_states[:, 2, :1].view(-1, 1, 1, 1, 1),)

    with mock.patch.object(pipe.transformer, "forward", zero):
        out = te.shape_word_effect(pipe, num=2, timesteps=(80, 700))
    for t in (80, 700):
        assert out[t]["from_word"] == 0.0
        assert out[t]["from_input"] == pytest.approx(float(abar[t]), abs=1e-4)
    with mock.patch.object(pipe.transformer, "forward", text_only):
        out = te.shape_word_effect(pipe, num=2, timesteps=(80, 700))
    for t in (80, 700):
        assert abs(out[t]["from_word"]) > 1e-3  # the shape token differs, so does this model's answer
        assert out[t]["from_input"] == pytest.approx(float(abar[t]) + out[t]["from_word"], abs=1e-4)
    with pytest.raises(ValueError, match="num <= "):
        te.shape_word_effect(pipe, num=100)


def test_shape_word_in_sampling_reads_the_samples_of_known_denoisers(vae):
    """A denoiser that predicts the true square for the caption "square" and the true circle otherwise: sampled
    without guidance the word moves the latents all the way (share ~1; DDIM's last step keeps a trace of noise),
    with guidance 4 four times as far (the empty prompt predicts the circle); a text-blind one moves nothing. A
    decoder that draws the nearest true clip shows the fill ratios and shape calls are read from the samples."""
    from types import SimpleNamespace

    pipe = t2v.build_pipeline("t2v", vae=vae, **SIZES)
    squares, circles = te._square_twins("test", 2, 0, search=84)
    scale = t2v.vae_scale(vae)
    mean, _ = vae_models.encode_posterior(vae, torch.stack([c.video for c in squares + circles]))
    square, circle = (mean * scale).chunk(2)
    text_square = pipe.text_encoder(text.tokenize(pipe.tokenizer, [c.caption for c in squares]))[0]
    abar = pipe.scheduler.alphas_cumprod

    def perfect(hidden_states, encoder_hidden_states, timestep, **_):
        is_square = ((encoder_hidden_states - text_square).abs().flatten(1).amax(1) < 1e-4).view(-1, 1, 1, 1, 1)
        x0 = torch.where(is_square, square, circle)
        a = abar[timestep].view(-1, 1, 1, 1, 1).to(hidden_states.dtype)
        return ((a.sqrt() * hidden_states - x0) / (1 - a).sqrt(),)

    clips = torch.stack([c.video for c in squares + circles]) * 2 - 1

    def nearest_clip(z):  # (B, C, F', h, w) unscaled latents -> the true clip whose latents are nearest
        ref = (mean * scale).permute(0, 2, 1, 3, 4) / scale
        rows = torch.cdist(z.flatten(1), ref.flatten(1)).argmin(1)
        return SimpleNamespace(sample=clips[rows].permute(0, 2, 1, 3, 4))

    with mock.patch.object(pipe.transformer, "forward", perfect), mock.patch.object(pipe.vae, "decode", nearest_clip):
        plain = te.shape_word_in_sampling(pipe, num=2, starts=(300, 999), steps=10, guidance_scale=1.0)
        guided = te.shape_word_in_sampling(pipe, num=2, starts=(999,), steps=10, guidance_scale=4.0)
    for start in (300, 999):
        assert plain[start]["latent_share"] == pytest.approx(1.0, abs=0.02)
        assert plain[start]["square_drawn"] == 1.0
        assert plain[start]["fill_square"] > 0.87 > plain[start]["fill_circle"] > 0.7
    assert guided[999]["latent_share"] == pytest.approx(4.0, abs=0.08)
    with mock.patch.object(pipe.transformer, "forward", lambda hidden_states, **_: (torch.zeros_like(hidden_states),)):
        blind = te.shape_word_in_sampling(pipe, num=2, starts=(600,), steps=10)
    assert blind[600]["latent_share"] == 0.0
    with pytest.raises(ValueError, match="starts >= the last sampler timestep"):
        te.shape_word_in_sampling(pipe, num=2, starts=(10,), steps=10)


def test_finetune_decoder_trains_the_decoder_alone_on_the_models_samples_deterministically():
    from labkit.models.vae import tiny_vae_3d
    from labkit.training.vae import encoder_parameters

    def tuned(seed):
        vae = tiny_vae_3d(latent_channels=4, block_out_channels=(8, 8, 8, 8))
        pipe = t2v.build_pipeline("t2v", vae=vae, **SIZES)
        before = {k: v.clone() for k, v in vae.state_dict().items()}
        result = tt.finetune_decoder(pipe, steps=2, batch=1, t_max=400, sampler_steps=4, seed=seed,
                                     progress=False, pool=50)
        assert result.steps == 2 and len(result.losses) == 2
        return before, vae

    before, vae = tuned(0)
    after = vae.state_dict()
    encoder = {k for k in after if k.startswith(("encoder.", "quant_conv."))}
    assert encoder and all(torch.equal(after[k], before[k]) for k in encoder)  # the latent code is kept exactly
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("decoder."))
    assert all(q.requires_grad for q in encoder_parameters(vae)) and not vae.training
    _, again = tuned(0)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in after.items())  # same seed, same decoder
    pipe = t2v.build_pipeline("t2v", vae=vae, **SIZES)
    with pytest.raises(ValueError, match="t_max >= the last sampler timestep"):
        tt.finetune_decoder(pipe, t_max=5, sampler_steps=4, progress=False)
    pipe.scheduler = t2v.cogvideox_scheduler("dpm")
    with pytest.raises(ValueError, match="CogVideoXDDIMScheduler"):
        tt.finetune_decoder(pipe, progress=False)


def test_shape_code_consistency_is_one_for_a_fixed_code_and_small_for_one_that_flips_with_the_offset(monkeypatch):
    """Two fake encoders of known answer: "square" always coded the same (share 1), or coded with a sign that
    flips with the object's sub-pixel offset inside its latent pixel (the mean cancels: share near 0)."""
    vae = mock.Mock(config=mock.Mock(shift_factor=None, scaling_factor=1.0, get=lambda k, d=None: None))

    def latents(x, sign):  # x (2n, 1, 3, 64, 64): n squares then their n circle twins
        n = len(x) // 2
        out = torch.zeros(len(x), 1, 4, 8, 8)
        out[:n] = sign(x[:n]).view(-1, 1, 1, 1, 1)
        return out, torch.ones_like(out)

    def offset_sign(frames):  # +1 / -1 by which half of its latent pixel the object's centroid falls in
        mask = (frames[:, 0] - frames[:, 0, :, :1, :1]).abs().sum(1) > 0.2  # (n, H, W)
        cx = (mask.float() * torch.arange(64.0)).sum((1, 2)) / mask.sum((1, 2))
        return torch.where(cx / 8 - 0.5 - (cx / 8 - 0.5).round() > 0, 1.0, -1.0)

    monkeypatch.setattr(tt, "encode_posterior", lambda v, x: latents(x, lambda f: torch.ones(len(f))))
    fixed = te.shape_code_consistency(vae, num=24)
    monkeypatch.setattr(tt, "encode_posterior", lambda v, x: latents(x, offset_sign))
    flips = te.shape_code_consistency(vae, num=24)
    assert fixed["consistent_share"] == pytest.approx(1.0) and fixed["pairs"] >= 12
    assert flips["consistent_share"] < 0.2 and flips["rms"] == pytest.approx(fixed["rms"])
    assert te.shape_code_consistency(vae, num=24, window=5)["consistent_share"] < 0.2  # same answer, wider window
    with pytest.raises(ValueError, match="num >= 2"):
        te.shape_code_consistency(vae, num=1)
    with pytest.raises(ValueError, match="odd window >= 1"):
        te.shape_code_consistency(vae, num=4, window=2)
