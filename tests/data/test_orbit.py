"""The orbit world (labkit.data.orbit): determinism, splits, depth against analytic
ray-sphere intersections, the colour rule, input checks."""

import colorsys
import math

import numpy as np
import pytest
import torch

from labkit.data import OrbitWorld, render_orbit
from labkit.data.orbit import BACKGROUND, KINDS, OrbitObject, object_seed, render_views
from labkit.multiview import orbit_cameras, pixel_rays


def test_dataset_is_deterministic_and_splits_differ():
    a, b = OrbitWorld("train", 4)[2], OrbitWorld("train", 4)[2]
    assert a[0] == b[0] and torch.equal(a[1].views, b[1].views)
    assert OrbitWorld("test", 4).object(2) != OrbitWorld("train", 4).object(2)
    seeds = {s: {object_seed(s, i) for i in range(1000)} for s in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["test"]) and not (seeds["val"] & seeds["test"])
    with pytest.raises(ValueError, match="split: unknown split"):
        OrbitWorld("heldout")


def test_views_depth_and_cameras_shapes():
    obj, o = OrbitWorld("val", 3, num_views=6, size=24)[1]
    assert obj.kind in KINDS
    assert o.views.shape == (6, 3, 24, 24) and o.depth.shape == (6, 24, 24) and len(o.cameras) == 6
    assert 0 <= float(o.views.min()) and float(o.views.max()) <= 1
    bg = torch.isinf(o.depth)
    assert 0.3 < float(bg.float().mean()) < 0.95
    sharp = render_orbit(obj, 6, o.elevations[0], 24, antialias=1)  # anti-aliasing blends the silhouette rim
    assert torch.equal(torch.isinf(sharp.depth), bg)
    assert torch.allclose(sharp.views.permute(0, 2, 3, 1)[bg], torch.tensor(BACKGROUND), atol=1e-6)
    assert float(o.depth[~bg].min()) > 0


def test_sphere_depth_matches_analytic_intersection():
    obj = OrbitObject("sphere", 1.0, 12.0, 0.2, 0.7, 0.9)
    cams = orbit_cameras([0.0, 100.0], [10.0, 30.0], 32)
    out = render_views(obj, cams, 32, antialias=1)
    o, d = pixel_rays(cams, 32, 32)
    r = 0.62  # the sphere's radius at scale 1
    b = (o * d).sum(-1)
    disc = b ** 2 - ((o ** 2).sum(-1) - r ** 2)
    t = -b - disc.clamp_min(0).sqrt()
    z = torch.einsum("vij,vhwj->vhwi", cams.w2c[:, :3, :3], o + t[..., None] * d)[..., 2] + cams.w2c[:, 2, 3, None, None]
    inside = disc > 1e-3  # away from the silhouette
    assert torch.equal(torch.isfinite(out.depth) & inside, inside)
    assert torch.allclose(out.depth[inside], z[inside], atol=2e-3)
    assert torch.isinf(out.depth[disc < -1e-3]).all()


def _hue(rgb: torch.Tensor) -> float:
    return colorsys.rgb_to_hsv(*rgb.tolist())[0]


def test_colour_rule_sides_go_round_the_hue_wheel():
    """Looking at the cube's side k from outside (camera at azimuth yaw + 90 k) shows hue ``hue + k / 4``."""
    obj = OrbitObject("cube", 0.9, 25.0, 0.1, 0.8, 0.9)
    out = render_orbit(obj, 4, 5.0, 33, azimuths=[25.0 + 90.0 * k for k in range(4)])
    for k in range(4):
        centre = out.views[k, :, 18, 16]  # just below the centre: the side face, not the top
        got, want = _hue(centre), (0.1 + k / 4) % 1
        assert min(abs(got - want), 1 - abs(got - want)) < 0.02, (k, got, want)


def test_antialias_changes_only_edges_and_validates():
    obj = OrbitObject("torus", 0.9, 0.0, 0.5, 0.8, 0.9)
    sharp, smooth = render_orbit(obj, 2, 20.0, 32, antialias=1), render_orbit(obj, 2, 20.0, 32)
    assert torch.equal(sharp.depth, smooth.depth)
    changed = (sharp.views - smooth.views).abs().amax(1) > 1e-6
    assert 0 < float(changed.float().mean()) < 0.3
    with pytest.raises(ValueError, match="odd antialias"):
        render_orbit(obj, 2, 20.0, 16, antialias=2)
    with pytest.raises(ValueError, match="expected an object kind"):
        render_orbit(OrbitObject("cone", 1, 0, 0, 0.5, 0.5), 2)


def test_orbit_azimuths_and_elevation_validation():
    out = render_orbit(OrbitObject("cube", 0.9, 0.0, 0.5, 0.8, 0.9), 4, 15.0, 8)
    assert out.azimuths == [0.0, 90.0, 180.0, 270.0] and out.elevations == [15.0] * 4
    centres = out.cameras.centers
    assert np.allclose(centres.norm(dim=-1).numpy(), 3.2, atol=1e-4)
    assert math.isclose(math.degrees(math.asin(float(centres[0, 2]) / 3.2)), 15.0, abs_tol=1e-3)
    with pytest.raises(ValueError, match="elevation"):
        render_orbit(OrbitObject("cube", 0.9, 0.0, 0.5, 0.8, 0.9), 4, 95.0, 8)
