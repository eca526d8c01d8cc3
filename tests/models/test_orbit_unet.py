"""labkit.models.orbit_unet: the tiny orbit generator's flow-matching pair against diffusers' scheduler, the
sampler loop, determinism, joint vs independent views, holding the input view, save/load."""

import pytest
import torch
from einops import rearrange

from labkit.models import orbit_unet
from labkit.models.orbit_unet import (
    PATCH,
    OrbitConfig,
    _sample,
    conditioning,
    generate,
    input_camera_views,
    load_generator,
    new_scheduler,
    new_unet,
    save_generator,
)
from labkit.multiview import orbit_cameras
from labkit.schedules import flow_interpolate, flow_velocity

TINY = OrbitConfig(batch=1, num_views=3, size=16)


@pytest.fixture(scope="module")
def unet():
    return new_unet(TINY, seed=0).eval()


def test_training_path_matches_the_orbit_scheduler_scale_noise():
    sched = new_scheduler()
    sched.set_timesteps(10)
    x0, eps = torch.rand(1, 2, 3, 4, 4) * 2 - 1, torch.randn(1, 2, 3, 4, 4)
    t = sched.timesteps[3]
    sigma = sched.sigmas[3]
    x, v = flow_interpolate(x0, eps, sigma.reshape(1)), flow_velocity(x0, eps)
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
    cams = orbit_cameras([0.0, 120.0, 240.0], 20.0, 16)
    assert input_camera_views(cams, 20.0, 16).tolist() == [True, False, False]
    assert not input_camera_views(cams, 25.0, 16).any()
    view = torch.rand(3, 16, 16)
    seen, predict = [], orbit_unet.predict_velocity
    monkeypatch.setattr(orbit_unet, "predict_velocity", lambda u, x, sigma, cond: seen.append((x.clone(), sigma)) or predict(u, x, sigma, cond))
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
