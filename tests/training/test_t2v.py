"""labkit.training.t2v: the v-prediction objective matches the pipelines' samplers, the latent cache, CFG dropout,
timestep sampling, twin batches, exact resume, fine-tuning from a pipeline and decoder fine-tuning."""

from unittest import mock

import pytest
import torch
from diffusers import DiffusionPipeline

from labkit.data.shapes import make_clip, twin_caption
from labkit.data.splits import clip_seed
from labkit.models import cogvideox as t2v
from labkit.models import text
from labkit.models.vae import tiny_vae_3d
from labkit.training import cli
from labkit.training import t2v as tt
from labkit.training.vae import encoder_parameters

SIZES = {"width": 32, "layers": 1, "text_width": 32}


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


def test_latent_cache_is_written_once_and_reloaded(vae, tmp_path):
    a = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False)
    assert a.mean.shape == (3, 5, 4, 8, 8) and a.first_mean.shape == (3, 1, 4, 8, 8) and len(a) == 3
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    with mock.patch.object(tt, "encode_posterior", side_effect=AssertionError("re-encoded")):
        b = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.first_std, b.first_std) and a.captions == b.captions
    with pytest.raises(ValueError, match="^num_clips: expected an integer >= 1"):
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


def _parse(argv, kind):
    """``labkit train KIND ARGV`` parsed and checked as the trainer shell does, without training."""
    args = cli.build_parser(cli.TRAINERS[kind], tt).parse_args(argv)
    args.trainer = kind
    cli.check_common(args, cli.TRAINERS[kind])
    tt.check_arguments(args)
    return args


def test_cli_arguments_default_to_a_trial_folder_outside_data():
    args = _parse([], "i2v")
    assert args.out.parts[-3:] == ("outputs", "models", "tiny-i2v") and args.ship is None
    assert args.steps == tt.TrainT2VConfig(kind="i2v").steps
    parsed = _parse(["--steps", "7", "--cfg-dropout", "0.2"], "t2v")
    assert (parsed.steps, parsed.cfg_dropout) == (7, 0.2)
    assert _parse(["--decoder-steps", "5"], "t2v").decoder_steps == 5
    with pytest.raises(ValueError, match="--decoder-steps"):  # an i2v model shares the t2v model's tuned VAE
        _parse(["--decoder-steps", "5"], "i2v")


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


def test_twin_batches_pair_clips_of_the_same_path_with_shared_noise_and_t(vae, tmp_path):
    c = tt.build_cache(vae, 3, seed=2, cache_dir=tmp_path, progress=False, twins=True)
    assert len(c) == 6 and c.twin.tolist() == [3, 4, 5, 0, 1, 2]
    assert c.captions[4] == twin_caption(c.captions[1], 1)
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
    cfg = tt.TrainT2VConfig(steps=1, batch=2, lr=1e-30, warmup=1, checkpoint_every=0, ema_decay=0.0, **SIZES)
    tuned = tt.train(cfg, vae=vae, cache=cache, init_from=start, progress=False).model  # lr ~0: weights kept
    for (name, p), q in zip(tuned.transformer.state_dict().items(), start.transformer.state_dict().values(),
                            strict=True):
        assert torch.allclose(p, q, rtol=0, atol=1e-20), name
    fresh = tt.train(cfg, vae=vae, cache=cache, progress=False).model  # seed 0: not the seed-5 weights
    assert not torch.equal(fresh.transformer.proj_out.weight, start.transformer.proj_out.weight)


def test_finetune_decoder_trains_the_decoder_alone_on_the_models_samples_deterministically():
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


@pytest.mark.parametrize("bad,name", [({"steps": -5}, "steps"), ({"lr": float("nan")}, "lr"),
                                      ({"patch_size": 3}, "patch_size"), ({"width": 40}, "width"),
                                      ({"world": "v9"}, "world"), ({"two_objects": 2.0}, "two_objects"),
                                      ({"twins": True, "two_objects": 0.5}, "twins"), ({"kind": "t2i"}, "kind")])
def test_config_refuses_a_bad_field_by_name_before_any_work(bad, name):
    with pytest.raises((ValueError, TypeError), match=f"^{name}:"):
        tt.TrainT2VConfig(**bad)
