"""The tiny orbit generator (labkit.multiview_train): objective matched to diffusers' flow-matching scheduler,
conditioning shapes, determinism, joint vs independent paths, save/load, the shipping bars."""

import pytest
import torch
from einops import rearrange

from labkit import DATA_DIR
from labkit.evaluation.orbit import BARS, NOT_HELD, bars_problem, paired_difference
from labkit.models.orbit_unet import (
    PATCH,
    OrbitConfig,
    _sample,
    conditioning,
    flow_pair,
    generate,
    input_camera_views,
    load_generator,
    new_scheduler,
    new_unet,
    save_generator,
)
from labkit.multiview import orbit_cameras
from labkit.training.orbit import flow_loss, orbit_batch

TINY = OrbitConfig(batch=1, num_views=3, size=16)


@pytest.fixture(scope="module")
def unet():
    return new_unet(TINY, seed=0).eval()


def test_flow_pair_matches_scheduler_scale_noise():
    sched = new_scheduler()
    sched.set_timesteps(10)
    x0, eps = torch.rand(1, 2, 3, 4, 4) * 2 - 1, torch.randn(1, 2, 3, 4, 4)
    t = sched.timesteps[3]
    sigma = sched.sigmas[3]
    x, v = flow_pair(x0, eps, sigma.reshape(1))
    assert torch.allclose(x, sched.scale_noise(x0, t.reshape(1), eps), atol=1e-6)
    assert torch.allclose(v, eps - x0)


class _Oracle(torch.nn.Module):
    """Predicts the exact velocity towards known clean views: (x - x0) / sigma."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0

    def forward(self, patches, timestep, encoder_hidden_states, added_time_ids):
        x = rearrange(patches, "b f (c p q) h w -> b f c (h p) (w q)", p=PATCH, q=PATCH)[:, :, :3]
        sigma = (timestep / 1000).view(-1, 1, 1, 1, 1)
        v = (x - self.x0) / sigma
        out = rearrange(v, "b f c (h p) (w q) -> b f (c p q) h w", p=PATCH, q=PATCH)
        return type("Out", (), {"sample": out})()


def test_sampler_loop_recovers_views_from_an_exact_velocity():
    x0 = torch.rand(1, 3, 3, 8, 8) * 2 - 1
    cond = conditioning(torch.rand(1, 3, 8, 8), torch.zeros(1, 3, 6, 8, 8), torch.tensor([20.0]))
    out = _sample(_Oracle(x0), torch.randn(1, 3, 3, 8, 8), cond, steps=4)
    assert torch.allclose(out, (x0 + 1) / 2, atol=1e-4)
    wrong = _sample(_Oracle(x0 * 0.5), torch.randn(1, 3, 3, 8, 8), cond, steps=4)
    assert not torch.allclose(wrong, (x0 + 1) / 2, atol=1e-2)


def test_batch_and_conditioning_shapes():
    b = orbit_batch(0, OrbitConfig(batch=2, num_views=3, size=16))
    assert b["input"].shape == (2, 3, 16, 16) and b["views"].shape == (2, 3, 3, 16, 16)
    assert b["plucker"].shape == (2, 3, 6, 16, 16)
    channels, added, token = conditioning(b["input"], b["plucker"], b["elevation"])
    assert channels.shape == (2, 3, 9, 16, 16) and added.shape == (2, 3) and token.shape[:2] == (2, 1)
    assert torch.equal(orbit_batch(5, TINY)["views"], orbit_batch(5, TINY)["views"])
    assert not torch.equal(orbit_batch(5, TINY)["views"], orbit_batch(6, TINY)["views"])


def test_loss_backpropagates_in_both_modes(unet):
    torch.manual_seed(0)
    for single_prob in (0.0, 1.0):
        cfg = OrbitConfig(batch=1, num_views=3, size=16, single_prob=single_prob)
        loss = flow_loss(unet, orbit_batch(1, cfg), cfg)
        loss.backward()
        assert torch.isfinite(loss) and loss > 0.1
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in unet.parameters())
        unet.zero_grad()


def test_generate_deterministic_joint_and_independent(unet):
    cams = orbit_cameras([0.0, 120.0, 240.0], 20.0, 16)
    view = torch.rand(3, 16, 16)
    a = generate(unet, view, cams, 20.0, steps=2, seed=3)
    assert a.shape == (3, 3, 16, 16) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, generate(unet, view, cams, 20.0, steps=2, seed=3))
    b = generate(unet, view, cams, 20.0, steps=2, seed=3, joint=False)
    assert b.shape == a.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="input_view"):
        generate(unet, view.permute(1, 2, 0), cams, 20.0, steps=2)


def test_joint_generation_holds_the_input_view_on_its_forward_path(unet, monkeypatch):
    """hold_input: the view whose camera is the input's is, at every sampler step, the input noised to that
    step's sigma with the view's own starting noise, and ends as the input; the other views, which attend to it,
    change; nothing changes when no camera is the input's or the views are independent."""
    from labkit.models import orbit_unet as mt

    cams = orbit_cameras([0.0, 120.0, 240.0], 20.0, 16)
    assert input_camera_views(cams, 20.0, 16).tolist() == [True, False, False]
    assert not input_camera_views(cams, 25.0, 16).any()
    view = torch.rand(3, 16, 16)
    seen, predict = [], mt._predict
    monkeypatch.setattr(mt, "_predict", lambda u, x, sigma, cond: seen.append((x.clone(), sigma)) or predict(u, x, sigma, cond))
    held = generate(unet, view, cams, 20.0, steps=3, seed=3)
    eps = torch.randn((1, 3, 3, 16, 16), generator=torch.Generator().manual_seed(3))[0, 0]
    assert len(seen) == 3
    for x, sigma in seen:
        assert torch.allclose(x[0, 0], (1 - sigma) * (2 * view - 1) + sigma * eps, atol=1e-6)
    assert torch.allclose(held[0], view, atol=1e-6)
    free = generate(unet, view, cams, 20.0, steps=3, seed=3, hold_input=False)
    assert not torch.allclose(held[1:], free[1:], atol=1e-4)  # attention across views read the held view
    assert torch.equal(generate(unet, view, cams, 20.0, 3, 3, joint=False),
                       generate(unet, view, cams, 20.0, 3, 3, joint=False, hold_input=False))
    turned = orbit_cameras([10.0, 130.0, 250.0], 20.0, 16)  # no view at the input's camera: nothing to hold
    assert not input_camera_views(turned, 20.0, 16).any()
    assert torch.equal(generate(unet, view, turned, 20.0, 3, 3), generate(unet, view, turned, 20.0, 3, 3,
                                                                           hold_input=False))


def test_save_load_roundtrip(unet, tmp_path):
    save_generator(unet, TINY, tmp_path / "g")
    loaded, cfg = load_generator(tmp_path / "g")
    assert cfg == TINY
    assert not list((tmp_path / "g").rglob("*.bin")) and list((tmp_path / "g").rglob("*.safetensors"))
    cams = orbit_cameras([0.0, 120.0, 240.0], 20.0, 16)
    view = torch.rand(3, 16, 16)
    a, b = generate(unet, view, cams, 20.0, 2, 1), generate(loaded, view, cams, 20.0, 2, 1)
    assert (a - b).abs().max() < 2e-2  # weights stored in float16
    with pytest.raises(FileNotFoundError, match="orbit.json"):
        load_generator(tmp_path)


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


def test_generator_widget_headless(unet):
    from labkit.data.orbit import OrbitObject
    from labkit.widgets.multiview import generator_panel

    panel = generator_panel(unet, OrbitObject("cube", 0.9, 10.0, 0.2, 0.8, 0.9), note="random weights", steps=1,
                            num_views=3, size=16)
    assert "random weights" in panel.view.value and "generated 120°" in panel.view.value
    panel.controls["azimuth"].value = 10.0
    assert "generated 130°" in panel.view.value and "PSNR" in panel.view.value


SHIPPED = DATA_DIR / "models" / "tiny-orbit"


@pytest.mark.skipif(not (SHIPPED / "orbit.json").exists(), reason="data/models/tiny-orbit is not shipped")
def test_shipped_generator_files_and_provenance():
    import json

    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= 10e6, f"{size / 1e6:.1f} MB > 10 MB"
    assert not list(SHIPPED.rglob("*.bin")) and not list(SHIPPED.rglob("*.pt"))
    prov = json.loads((SHIPPED / "PROVENANCE.json").read_text())
    assert prov["command"].startswith("labkit train orbit") and prov["seed"] == 0
    # the shipping run's own verdict on its evaluation is recorded, and agrees with bars_problem
    assert prov["bars_problem"] == bars_problem(prov["eval"]) and prov["bars_met"] == (prov["bars_problem"] == "")
    if not prov["bars_met"]:
        assert "--ship-below-bars" in prov["command"]
    unet, cfg = load_generator(SHIPPED)
    assert unet.config.block_out_channels[0] >= 64  # GroupNorm(32) keeps the timestep shift from 64 channels on


@pytest.fixture(scope="module")
def shipped_report():
    from labkit.evaluation.orbit import evaluate

    unet, cfg = load_generator(SHIPPED)
    return evaluate(unet, cfg, num=16, steps=10, progress=False)  # the shipping run's objects and steps (~50 s)


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "orbit.json").exists(), reason="data/models/tiny-orbit is not shipped")
def test_shipped_generator_reproduces_its_recorded_evaluation_and_the_bars_it_meets(shipped_report):
    """Re-measured on the 16 held-out objects: the numbers in PROVENANCE.json (the shipped weights are float16,
    the run measured float32, hence the small tolerance; the run sampled without holding the input view, so its
    ``joint`` row is today's ``joint, input not held``), joint novel-view PSNR >= 20 dB, and joint reprojection
    MSE <= 0.8x the independent views' (consistency: the point of joint generation)."""
    import json

    recorded = json.loads((SHIPPED / "PROVENANCE.json").read_text())["eval"]["table"]
    for method, recorded_as in ((NOT_HELD, "joint"), ("independent", "independent")):
        assert shipped_report["table"][method]["novel_psnr"] == pytest.approx(recorded[recorded_as]["novel_psnr"],
                                                                              abs=0.1)
        assert shipped_report["table"][method]["reprojection_mse"] == pytest.approx(
            recorded[recorded_as]["reprojection_mse"], rel=0.05)
    j, ind = shipped_report["table"]["joint"], shipped_report["table"]["independent"]
    assert j["novel_psnr"] >= 20.0 and j["reprojection_mse"] <= 0.8 * ind["reprojection_mse"], shipped_report["table"]
    assert shipped_report["paired"]["reprojection_mse"]["joint_better"] >= 10  # of 16 objects, not a mean of a few


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "orbit.json").exists(), reason="data/models/tiny-orbit is not shipped")
def test_shipped_generator_beats_independent_views_by_the_psnr_margin(shipped_report):
    """The issue's PSNR part, met by joint generation that holds the input view (21.50 vs 20.18 dB on these 16
    objects when measured; on 64 held-out objects +1.34 +- 0.34 dB, better on 41 of 64): the margin of
    BARS['psnr_margin'] dB, on most objects, and more than holding the input adds to the not-held joint row."""
    assert bars_problem(shipped_report) == "", shipped_report["table"]
    paired, t = shipped_report["paired"]["novel_psnr"], shipped_report["table"]
    assert paired["mean"] >= BARS["psnr_margin"] and paired["joint_better"] >= 9, paired
    assert t["joint"]["novel_psnr"] > t[NOT_HELD]["novel_psnr"] + 0.2, t
