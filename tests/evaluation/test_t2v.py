"""labkit.evaluation.t2v: the lesson's bars, the held-out evaluation on known generators, the square-vs-circle
probes on known denoisers, and the shipped tiny text-to-video and image-to-video pipelines (data/models/tiny-t2v,
tiny-i2v) re-measured against their PROVENANCE.json (strict xfail for a bar the shipped run missed, so it passes
loudly once a better model is shipped)."""

from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from diffusers import DiffusionPipeline

from labkit import models
from labkit.data.shapes import make_clip
from labkit.evaluation import t2v as te
from labkit.metrics import prompt_adherence
from labkit.models import cogvideox as t2v
from labkit.models import text
from labkit.models.vae import COURSE_VAES, SHAPE_CODE_VAE, encode_posterior, load_vae

SIZES = {"width": 32, "layers": 1, "text_width": 32}


@pytest.mark.parametrize("kind", ["t2v", "i2v"])
def test_shipped_files_size_and_provenance(kind):
    folder = models.folder(f"tiny-{kind}")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 10e6, f"{size / 1e6:.1f} MB > 10 MB"
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt")) and not list(folder.rglob("training_state"))
    prov = models.provenance(f"tiny-{kind}")
    assert prov["command"].startswith(f"labkit train {kind}") and prov["seed"] == 0 and prov["eval"]["n"] == 84
    # the shipping run's verdict on its own evaluation is recorded, and agrees with bars_problem
    assert prov["bars_problem"] == te.bars_problem(kind, prov["eval"])
    assert prov["bars_met"] == (prov["bars_problem"] == "")
    if not prov["bars_met"]:
        assert "below-bars" in prov["command"]  # --below-bars (--ship-below-bars in older runs)
    pipe = DiffusionPipeline.from_pretrained(folder)  # the promise: a plain diffusers folder, offline
    assert type(pipe).__name__ == {"t2v": "CogVideoXPipeline", "i2v": "CogVideoXImageToVideoPipeline"}[kind]


def test_shipped_t2v_is_deterministic_and_draws_the_prompted_colour():
    pipe = models.load("tiny-t2v")
    a = t2v.generate(pipe, "a red triangle moving left", seed=3, steps=10)
    b = t2v.generate(pipe, "a red triangle moving left", seed=3, steps=10)
    assert a.shape == (17, 3, 64, 64) and torch.equal(a, b)
    assert prompt_adherence(a, "a red triangle moving left")["objects"][0]["color"]


@pytest.fixture(scope="module")
def t2v_report():
    pipe = models.load("tiny-t2v")
    return te.evaluate_t2v(pipe, 84, progress=False)  # the shipping run's evaluation (~2 min on 2 cores)


@pytest.fixture(scope="module")
def i2v_report():
    pipe = models.load("tiny-i2v")
    return te.evaluate_i2v(pipe, 84, progress=False)


@pytest.mark.slow
def test_shipped_t2v_reproduces_its_recorded_evaluation(t2v_report):
    """Colour, direction, speed and count are what the recorded run measured (each clip is deterministic; a
    different CPU's float rounding may flip a borderline clip, hence 2 of 84)."""
    recorded = models.provenance("tiny-t2v")["eval"]
    for key in ("color", "shape", "direction", "speed", "count", "bar"):
        assert abs(t2v_report[key] - recorded[key]) <= 2 / 84, (key, t2v_report[key], recorded[key])
    assert t2v_report["color"] >= 0.9 and t2v_report["direction"] >= 0.9


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="shipped tiny-t2v: colour, direction, speed, count right in 100% of the 84 "
                   "held-out clips but squares come out as circles (shape 65.5%), so the bar is 0.655 < 0.9; "
                   "strict: passes loudly once a model meeting it is shipped")
def test_shipped_t2v_meets_the_prompt_adherence_bar(t2v_report):
    assert te.bars_problem("t2v", t2v_report) == "", t2v_report["bar"]


@pytest.mark.slow
def test_shipped_i2v_reproduces_the_first_frame(i2v_report):
    """The first-frame bar (>= 25 dB in >= 90% of clips) and the recorded numbers."""
    recorded = models.provenance("tiny-i2v")["eval"]
    assert abs(i2v_report["psnr_ok"] - recorded["psnr_ok"]) <= 2 / 84
    assert abs(i2v_report["kept"] - recorded["kept"]) <= 2 / 84
    assert i2v_report["psnr_ok"] >= 0.9, i2v_report["psnr_ok"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="shipped tiny-i2v: first frame >= 25 dB in 97.6% of clips, but the object "
                   "keeps colour and shape in every frame in 65.5% (squares round off as they move); bar 90%")
def test_shipped_i2v_keeps_the_object(i2v_report):
    assert i2v_report["kept"] >= 0.9, i2v_report["kept"]


def test_shipping_needs_the_full_held_out_evaluation_to_meet_the_bars():
    assert "--eval 84" in te.bars_problem("t2v", None)
    assert "84" in te.bars_problem("t2v", {"n": 12, "bar": 1.0})
    assert "bar = 0.800 < 0.9" in te.bars_problem("t2v", {"n": 84, "bar": 0.8})
    assert te.bars_problem("t2v", {"n": 84, "bar": 0.95}) == ""
    assert "kept" in te.bars_problem("i2v", {"n": 84, "psnr_ok": 0.95, "kept": 0.5})
    assert te.bars_problem("i2v", {"n": 84, "psnr_ok": 0.95, "kept": 0.92}) == ""


def test_evaluation_scores_a_perfect_generator_as_perfect_and_a_blank_one_as_zero(monkeypatch):
    truth = lambda pipe, caption, seed=0, **_: make_clip(caption, seed=seed).video  # noqa: E731
    monkeypatch.setattr(te, "generate", truth)
    report = te.evaluate_t2v(None, num=6, progress=False)
    assert report["bar"] == 1.0 and report["n"] == 6 and len(set(report["captions"])) == 6
    monkeypatch.setattr(te, "generate", lambda *a, **k: torch.zeros(17, 3, 64, 64))
    assert te.evaluate_t2v(None, num=2, progress=False)["bar"] == 0.0

    def copy_then_hold(pipe, image, caption, **_):  # keeps the first frame, then freezes: kept, but no motion
        return image[None].expand(17, -1, -1, -1).clone()
    monkeypatch.setattr(te, "animate", copy_then_hold)
    report = te.evaluate_i2v(None, num=3, progress=False)
    assert report["psnr_ok"] == 1.0 and report["kept"] == 1.0
    monkeypatch.setattr(te, "animate", lambda pipe, image, caption, **_: torch.zeros(17, 3, 64, 64))
    report = te.evaluate_i2v(None, num=2, progress=False)
    assert report["psnr_ok"] == 0.0 and report["kept"] == 0.0


def test_vae_ceiling_scores_reconstructions(monkeypatch, vae):
    monkeypatch.setattr(te, "reconstruct", lambda vae, video: video.clone())  # a perfect VAE
    report = te.vae_ceiling(vae, 4, progress=False)
    assert report["bar"] == 1.0 and report["psnr"] == float("inf")
    monkeypatch.setattr(te, "reconstruct", lambda vae, video: video * 0 + video.mean())  # a grey one
    assert te.vae_ceiling(vae, 2, progress=False)["bar"] == 0.0


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
    pipe = t2v.build_pipeline("t2v", vae=vae, **SIZES)
    squares, circles = te._square_twins("test", 2, 0, search=84)
    scale = t2v.vae_scale(vae)
    mean, _ = encode_posterior(vae, torch.stack([c.video for c in squares + circles]))
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

    monkeypatch.setattr(te, "encode_posterior", lambda v, x: latents(x, lambda f: torch.ones(len(f))))
    fixed = te.shape_code_consistency(vae, num=24)
    monkeypatch.setattr(te, "encode_posterior", lambda v, x: latents(x, offset_sign))
    flips = te.shape_code_consistency(vae, num=24)
    assert fixed["consistent_share"] == pytest.approx(1.0) and fixed["pairs"] >= 12
    assert flips["consistent_share"] < 0.2 and flips["rms"] == pytest.approx(fixed["rms"])
    assert te.shape_code_consistency(vae, num=24, window=5)["consistent_share"] < 0.2  # same answer, wider window
    with pytest.raises(ValueError, match="num >= 2"):
        te.shape_code_consistency(vae, num=1)
    with pytest.raises(ValueError, match="odd window >= 1"):
        te.shape_code_consistency(vae, num=4, window=2)


def test_shipped_code_consistent_vae_codes_a_square_alike_wherever_it_sits_and_records_its_chain():
    """vae-3d-cc (notebook 04), measured on 32 square/circle twins: its square-minus-circle code keeps most of its
    energy when averaged over where the object sits, the course VAE's very little; its PROVENANCE.json names every
    run from the course VAE on, in order."""
    cc = te.shape_code_consistency(load_vae(SHAPE_CODE_VAE), num=32)["consistent_share"]
    course = te.shape_code_consistency(load_vae(COURSE_VAES["3d"]), num=32)["consistent_share"]
    assert cc >= 0.45 and course <= 0.2, (cc, course)
    info = models.provenance(SHAPE_CODE_VAE)
    assert info["builds_on_shipped"] == [f"data/models/{COURSE_VAES['3d']}"]
    commands = info["command"].split(" && ")
    assert len(commands) == len(info["runs"]) + 1 == 5 and commands[-1].startswith("labkit ship ")
    assert "--code-consistency 0.3" in commands[0] and all("--decoder-only" in c for c in commands[1:4])
