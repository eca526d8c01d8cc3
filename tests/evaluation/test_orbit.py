"""labkit.evaluation.orbit: the shipping bars and paired differences on known numbers, and the shipped tiny orbit
generator (data/models/tiny-orbit) re-measured against its PROVENANCE.json and the lesson's bars."""


import pytest
import torch

from labkit import models
from labkit.evaluation import orbit as orbit_eval
from labkit.evaluation.orbit import BARS, NOT_HELD, bars_problem, evaluate, paired_difference
from labkit.models.orbit_unet import load_generator


def test_bars_problem():
    row = lambda psnr, mse: {"novel_psnr": psnr, "reprojection_mse": mse}  # noqa: E731
    ok = {"table": {"joint": row(21.0, 0.01), "independent": row(18.0, 0.03)}}
    assert bars_problem(ok) == ""
    low = {"table": {"joint": row(19.0, 0.01), "independent": row(15.0, 0.03)}}
    assert "< 20" in bars_problem(low)
    close = {"table": {"joint": row(21.0, 0.029), "independent": row(20.5, 0.03)}}
    assert "above independent" in bars_problem(close) and "reprojection" in bars_problem(close)


def test_paired_difference_counts_objects_and_direction():
    r = paired_difference([21.0, 20.0, 22.0], [20.0, 20.5, 21.0])  # diffs 1, -0.5, 1
    assert r["num"] == 3 and r["joint_better"] == 2 and r["mean"] == pytest.approx(0.5)
    assert r["stderr"] == pytest.approx(torch.tensor([1.0, -0.5, 1.0]).std().item() / 3 ** 0.5)
    lower = paired_difference([0.01, 0.03], [0.02, 0.02], higher_is_better=False)  # an error: lower is better
    assert lower["joint_better"] == 1 and lower["mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="equal, non-empty lists.*got 2 and 1"):
        paired_difference([1.0, 2.0], [1.0])


SHIPPED = models.folder("tiny-orbit")


def test_shipped_generator_files_and_provenance():
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= 10e6, f"{size / 1e6:.1f} MB > 10 MB"
    assert not list(SHIPPED.rglob("*.bin")) and not list(SHIPPED.rglob("*.pt"))
    prov = models.provenance("tiny-orbit")
    assert prov["command"].startswith("labkit train orbit") and prov["seed"] == 0
    # the shipping run's own verdict on its evaluation is recorded, and agrees with bars_problem
    assert prov["bars_problem"] == bars_problem(prov["eval"]) and prov["bars_met"] == (prov["bars_problem"] == "")
    if not prov["bars_met"]:
        assert "below-bars" in prov["command"]  # --below-bars (--ship-below-bars in older runs)
    unet, cfg = load_generator(SHIPPED)
    assert unet.config.block_out_channels[0] >= 64  # GroupNorm(32) keeps the timestep shift from 64 channels on


@pytest.fixture(scope="module")
def shipped_report():
    unet, cfg = load_generator(SHIPPED)
    return evaluate(unet, cfg, num=16, steps=10, progress=False)  # the shipping run's objects and steps (~50 s)


@pytest.mark.slow
def test_shipped_generator_reproduces_its_recorded_evaluation_and_the_bars_it_meets(shipped_report):
    """Re-measured on the 16 held-out objects: the numbers in PROVENANCE.json (the shipped weights are float16,
    the run measured float32, hence the small tolerance; the run sampled without holding the input view, so its
    ``joint`` row is today's ``joint, input not held``), joint novel-view PSNR >= 20 dB, and joint reprojection
    MSE <= 0.8x the independent views' (consistency: the point of joint generation)."""
    recorded = models.provenance("tiny-orbit")["eval"]["table"]
    for method, recorded_as in ((NOT_HELD, "joint"), ("independent", "independent")):
        assert shipped_report["table"][method]["novel_psnr"] == pytest.approx(recorded[recorded_as]["novel_psnr"],
                                                                              abs=0.1)
        assert shipped_report["table"][method]["reprojection_mse"] == pytest.approx(
            recorded[recorded_as]["reprojection_mse"], rel=0.05)
    j, ind = shipped_report["table"]["joint"], shipped_report["table"]["independent"]
    assert j["novel_psnr"] >= 20.0 and j["reprojection_mse"] <= 0.8 * ind["reprojection_mse"], shipped_report["table"]
    assert shipped_report["paired"]["reprojection_mse"]["joint_better"] >= 10  # of 16 objects, not a mean of a few


@pytest.mark.slow
def test_shipped_generator_beats_independent_views_by_the_psnr_margin(shipped_report):
    """The issue's PSNR part, met by joint generation that holds the input view (21.50 vs 20.18 dB on these 16
    objects when measured; on 64 held-out objects +1.34 +- 0.34 dB, better on 41 of 64): the margin of
    BARS['psnr_margin'] dB, on most objects, and more than holding the input adds to the not-held joint row."""
    assert bars_problem(shipped_report) == "", shipped_report["table"]
    paired, t = shipped_report["paired"]["novel_psnr"], shipped_report["table"]
    assert paired["mean"] >= BARS["psnr_margin"] and paired["joint_better"] >= 9, paired
    assert t["joint"]["novel_psnr"] > t[NOT_HELD]["novel_psnr"] + 0.2, t


def test_shipped_note_says_why_bars_are_missed():
    prov = {"command": "labkit train orbit --steps 3000", "seconds": 2963.3, "hardware": "2 cores"}
    assert orbit_eval.shipped_note({**prov, "bars_met": True}) == (
        "shipped model data/models/tiny-orbit: `labkit train orbit --steps 3000` (2963 s, 2 cores)")
    note = orbit_eval.shipped_note({**prov, "bars_met": False, "bars_problem": "joint PSNR 21.02 too low"})
    assert "below the lesson's bars (joint PSNR 21.02 too low)" in note and orbit_eval.NOT_HELD in note
