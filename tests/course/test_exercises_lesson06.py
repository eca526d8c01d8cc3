"""The private references of lesson 06's exercises agree with ``labkit.multiview``: the projection inverts the
pixel rays, and the orbit position is the orbit camera's centre at ``radius`` from the origin."""

from __future__ import annotations

import torch

from labkit import multiview
from labkit.course.exercises import lesson06


def test_project_inverts_the_pixel_rays():
    cam = multiview.orbit_cameras([40.0], 25.0, size=16)[0]
    origins, directions = multiview.pixel_rays(cam, 16, 16)  # (H, W, 3) each
    points = (origins + 2.5 * directions).reshape(-1, 3)  # a point on the ray of every pixel centre
    v, u = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(16) + 0.5, indexing="ij")
    want = torch.stack([u, v], -1).reshape(-1, 2)
    torch.testing.assert_close(lesson06._project(cam.K, cam.w2c, points), want, rtol=0, atol=1e-4)


def test_orbit_position_is_the_camera_centre():
    for azimuth, elevation, radius in [(0.0, 0.0, 3.2), (30.0, 20.0, 3.2), (225.0, -15.0, 2.0)]:
        position = lesson06._orbit_position(azimuth, elevation, radius)
        centre = multiview.orbit_cameras([azimuth], elevation, radius=radius).centers[0]
        torch.testing.assert_close(position, centre)
        assert abs(float(position.norm()) - radius) < 1e-5
    assert float(lesson06._orbit_position(0.0, 0.0, 3.2)[0]) > 3.19  # azimuth 0, level: on the +x axis
