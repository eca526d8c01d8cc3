from labkit.evaluation import t2v as t2v_evaluation

"""The shipped tiny text-to-video and image-to-video pipelines (data/models/tiny-t2v, tiny-i2v), once shipped.

Each shipping run evaluated all 84 held-out colour x shape x direction combinations and wrote the result to
PROVENANCE.json; these tests re-measure it and hold the issue's bars (strict xfail for a bar the recorded run
missed, so it passes loudly once a better model is shipped).
"""

import pytest
import torch

from labkit import DATA_DIR, models
from labkit.evaluation import t2v as te

T2V, I2V = DATA_DIR / "models" / "tiny-t2v", DATA_DIR / "models" / "tiny-i2v"
t2v_shipped = pytest.mark.skipif(not models.is_shipped("tiny-t2v"), reason="data/models/tiny-t2v is not shipped")
i2v_shipped = pytest.mark.skipif(not models.is_shipped("tiny-i2v"), reason="data/models/tiny-i2v is not shipped")


@pytest.mark.parametrize("kind", ["t2v", "i2v"])
def test_shipped_files_size_and_provenance(kind):
    folder = {"t2v": T2V, "i2v": I2V}[kind]
    if not models.is_shipped(f"tiny-{kind}"):
        pytest.skip(f"data/models/tiny-{kind} is not shipped")
    from diffusers import DiffusionPipeline

    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 10e6, f"{size / 1e6:.1f} MB > 10 MB"
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt")) and not list(folder.rglob("training_state"))
    prov = models.provenance(f"tiny-{kind}")
    assert prov["command"].startswith(f"labkit train {kind}") and prov["seed"] == 0 and prov["eval"]["n"] == 84
    # the shipping run's verdict on its own evaluation is recorded, and agrees with bars_problem
    assert prov["bars_problem"] == t2v_evaluation.bars_problem(kind, prov["eval"])
    assert prov["bars_met"] == (prov["bars_problem"] == "")
    if not prov["bars_met"]:
        assert "--ship-below-bars" in prov["command"]
    pipe = DiffusionPipeline.from_pretrained(folder)  # the promise: a plain diffusers folder, offline
    assert type(pipe).__name__ == {"t2v": "CogVideoXPipeline", "i2v": "CogVideoXImageToVideoPipeline"}[kind]


@t2v_shipped
def test_shipped_t2v_is_deterministic_and_draws_the_prompted_colour():
    from labkit.metrics import prompt_adherence
    from labkit.models.cogvideox import generate

    pipe = models.load("tiny-t2v")
    a = generate(pipe, "a red triangle moving left", seed=3, steps=10)
    b = generate(pipe, "a red triangle moving left", seed=3, steps=10)
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
@t2v_shipped
def test_shipped_t2v_reproduces_its_recorded_evaluation(t2v_report):
    """Colour, direction, speed and count are what the recorded run measured (each clip is deterministic; a
    different CPU's float rounding may flip a borderline clip, hence 2 of 84)."""
    recorded = models.provenance("tiny-t2v")["eval"]
    for key in ("color", "shape", "direction", "speed", "count", "bar"):
        assert abs(t2v_report[key] - recorded[key]) <= 2 / 84, (key, t2v_report[key], recorded[key])
    assert t2v_report["color"] >= 0.9 and t2v_report["direction"] >= 0.9


@pytest.mark.slow
@t2v_shipped
@pytest.mark.xfail(strict=True, reason="shipped tiny-t2v: colour, direction, speed, count right in 100% of the 84 "
                   "held-out clips but squares come out as circles (shape 65.5%), so the bar is 0.655 < 0.9; "
                   "strict: passes loudly once a model meeting it is shipped")
def test_shipped_t2v_meets_the_prompt_adherence_bar(t2v_report):
    assert t2v_evaluation.bars_problem("t2v", t2v_report) == "", t2v_report["bar"]


@pytest.mark.slow
@i2v_shipped
def test_shipped_i2v_reproduces_the_first_frame(i2v_report):
    """The first-frame bar (>= 25 dB in >= 90% of clips) and the recorded numbers."""
    recorded = models.provenance("tiny-i2v")["eval"]
    assert abs(i2v_report["psnr_ok"] - recorded["psnr_ok"]) <= 2 / 84
    assert abs(i2v_report["kept"] - recorded["kept"]) <= 2 / 84
    assert i2v_report["psnr_ok"] >= 0.9, i2v_report["psnr_ok"]


@pytest.mark.slow
@i2v_shipped
@pytest.mark.xfail(strict=True, reason="shipped tiny-i2v: first frame >= 25 dB in 97.6% of clips, but the object "
                   "keeps colour and shape in every frame in 65.5% (squares round off as they move); bar 90%")
def test_shipped_i2v_keeps_the_object(i2v_report):
    assert i2v_report["kept"] >= 0.9, i2v_report["kept"]
