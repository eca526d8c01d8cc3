"""Exercises of ``06_multiview_generation``: a pinhole camera's intrinsics from its field of view, the position of
an orbit camera, and projecting world points to pixels. References: :func:`labkit.multiview.intrinsics`,
:func:`labkit.multiview.orbit_pose` (its camera centre) and the OpenCV projection ``K (R X + t)`` that
:func:`labkit.multiview.reproject` uses."""

from __future__ import annotations

import math

import torch

from labkit.course.exercises.core import Case, Exercise, Mistake
from labkit.multiview import Camera, intrinsics, orbit_pose

LESSON = "06"


def _orbit_position(azimuth_deg: float, elevation_deg: float, radius: float) -> torch.Tensor:
    """The centre ``-R^T t`` of :func:`labkit.multiview.orbit_pose`'s camera, ``(3,)`` world coordinates."""
    return Camera(intrinsics(8), orbit_pose(azimuth_deg, elevation_deg, radius)).centers


def _project(K: torch.Tensor, w2c: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """World points ``(N, 3)`` -> pixel coordinates ``(N, 2)``, ``(u, v)`` = (column, row)."""
    x_cam = points @ w2c[:3, :3].T + w2c[:3, 3]  # world -> camera: R X + t
    uvw = x_cam @ K.T  # camera -> homogeneous pixels
    return uvw[:, :2] / uvw[:, 2:]


def _pinhole(height: int, width: int, focal: float) -> torch.Tensor:
    """K with a focal length of ``focal`` pixels and the principal point at the centre (for the mistakes)."""
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def _with_rotation(w2c: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """``w2c`` with its rotation replaced by ``R`` (for the mistakes)."""
    out = w2c.clone()
    out[:3, :3] = R
    return out


def _orbit_xyz(azimuth_deg, elevation_deg, radius, degrees=False, polar=False, flat=False):
    """An orbit position computed one of the typical wrong ways (for the mistakes)."""
    a, e = (azimuth_deg, elevation_deg) if degrees else (math.radians(azimuth_deg), math.radians(elevation_deg))
    ring = 1.0 if flat else (math.sin(e) if polar else math.cos(e))
    return radius * torch.tensor([ring * math.cos(a), ring * math.sin(a), math.cos(e) if polar else math.sin(e)])


def _projection_case(azimuth_deg: float, elevation_deg: float, size: int, fov_deg: float, points) -> dict:
    return {"K": intrinsics(size, size, fov_deg), "w2c": orbit_pose(azimuth_deg, elevation_deg),
            "points": torch.as_tensor(points, dtype=torch.float32)}


def _cube_points(seed: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g) * 2 - 1  # inside the cube [-1, 1]^3 around the object


INTRINSICS = Exercise(
    lesson=LESSON, key="intrinsics", title="intrinsics from a field of view",
    task=("Write `intrinsics(height, width, fov_deg)`: the 3x3 pinhole matrix K (a float tensor) of a camera "
          "with a horizontal field of view of `fov_deg` degrees across the `width` pixels of the image, square "
          "pixels, and the principal point at the centre of the image (pixel (u, v) covers [u, u+1) x [v, v+1))."),
    teaches="what the focal length in pixels means: half the image width over the tangent of half the view angle",
    reference=intrinsics,
    cases=(Case("64x64, 50 degrees", {"height": 64, "width": 64, "fov_deg": 50.0}),
           Case("32x32, 90 degrees", {"height": 32, "width": 32, "fov_deg": 90.0}),
           Case("a wide image, 48x80, 40 degrees", {"height": 48, "width": 80, "fov_deg": 40.0}, edge=True)),
    mistakes=(
        Mistake("degrees", lambda height, width, fov_deg: _pinhole(height, width, width / 2 / math.tan(fov_deg / 2)),
                "math.tan and torch.tan take radians: convert the field of view from degrees first"),
        Mistake("whole angle", lambda height, width, fov_deg:
                _pinhole(height, width, width / 2 / math.tan(math.radians(fov_deg))),
                "the field of view spans the whole width: the angle from the optical axis to the image's edge is "
                "half of it"),
        Mistake("focal from the height", lambda height, width, fov_deg:
                _pinhole(height, width, height / 2 / math.tan(math.radians(fov_deg) / 2)),
                "right for square images only: the field of view here is horizontal, so it spans the width, "
                "not the height"),
        Mistake("centre of the middle pixel", lambda height, width, fov_deg:
                intrinsics(height, width, fov_deg) - torch.tensor([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]]),
                "half a pixel off: pixel u covers [u, u+1), so the image spans [0, width) and its centre is the "
                "middle of that range, not the index of a middle pixel"),
    ),
    rtol=1e-5, atol=1e-4,
)

ORBIT_POSITION = Exercise(
    lesson=LESSON, key="orbit_position", title="where the orbit camera sits",
    task=("Write `orbit_position(azimuth_deg, elevation_deg, radius)`: the world position, a float tensor of shape "
          "(3,), of the orbit camera at `azimuth_deg` (counter-clockwise from the +x axis, seen from above) and "
          "`elevation_deg` (up from the ground plane) degrees, `radius` from the origin, in this z-up world."),
    teaches="spherical coordinates of an orbit: azimuth turns around the up axis, elevation lifts off the ground",
    reference=_orbit_position,
    cases=(Case("azimuth 30, elevation 20, radius 3.2",
                {"azimuth_deg": 30.0, "elevation_deg": 20.0, "radius": 3.2}),
           Case("azimuth 225, elevation -15, radius 2", {"azimuth_deg": 225.0, "elevation_deg": -15.0, "radius": 2.0}),
           Case("azimuth 100, elevation 60, radius 1", {"azimuth_deg": 100.0, "elevation_deg": 60.0, "radius": 1.0}),
           Case("azimuth 0, elevation 0", {"azimuth_deg": 0.0, "elevation_deg": 0.0, "radius": 3.2}, edge=True)),
    mistakes=(
        Mistake("degrees", lambda azimuth_deg, elevation_deg, radius:
                _orbit_xyz(azimuth_deg, elevation_deg, radius, degrees=True),
                "math.cos and torch.cos take radians: convert the angles from degrees first"),
        Mistake("polar angle", lambda azimuth_deg, elevation_deg, radius:
                _orbit_xyz(azimuth_deg, elevation_deg, radius, polar=True),
                "elevation is measured up from the ground plane, not down from the zenith: at elevation zero the "
                "camera is level with the object"),
        Mistake("y up", lambda azimuth_deg, elevation_deg, radius:
                _orbit_xyz(azimuth_deg, elevation_deg, radius)[[0, 2, 1]],
                "this world is z-up: the elevation lifts the camera along z, and the azimuth turns it in the "
                "x-y plane"),
        Mistake("ring not shrunk", lambda azimuth_deg, elevation_deg, radius:
                _orbit_xyz(azimuth_deg, elevation_deg, radius, flat=True),
                "your camera is further than `radius` from the origin: as it rises, its circle around the up axis "
                "shrinks"),
    ),
    rtol=1e-5, atol=1e-5,
)

PROJECT = Exercise(
    lesson=LESSON, key="project", title="projecting world points to pixels",
    task=("Write `project(K, w2c, points)`: the pixel coordinates `(N, 2)` of world points `points (N, 3)` seen by "
          "the camera with intrinsics `K (3, 3)` and world-to-camera matrix `w2c (4, 4)` = [[R, t], [0, 1]] "
          "(OpenCV convention: x_cam = R x_world + t, +z forward). Each row is (u, v) = (column, row)."),
    teaches="the pinhole projection: into the camera with [R | t], onto the image with K, then divide by depth",
    reference=_project,
    cases=(Case("5 points, camera at azimuth 30, elevation 20, 64 px",
                _projection_case(30.0, 20.0, 64, 30.0, _cube_points(0, 5))),
           Case("4 points, camera at azimuth 135, elevation -10, 48 px",
                _projection_case(135.0, -10.0, 48, 40.0, _cube_points(1, 4))),
           Case("the origin (what the camera looks at)", _projection_case(200.0, 35.0, 32, 30.0, [[0.0, 0.0, 0.0]]),
                edge=True)),
    mistakes=(
        Mistake("no divide", lambda K, w2c, points: ((points @ w2c[:3, :3].T + w2c[:3, 3]) @ K.T)[:, :2],
                "you returned homogeneous coordinates: a pinhole camera divides by the depth (the third "
                "coordinate) to land on the image"),
        Mistake("R transposed", lambda K, w2c, points: _project(K, _with_rotation(w2c, w2c[:3, :3].T), points),
                "w2c maps the world into the camera as x_cam = R x_world + t: check whether you applied R or "
                "its transpose"),
        Mistake("no translation", lambda K, w2c, points: _project(K, _with_rotation(torch.eye(4), w2c[:3, :3]), points),
                "you rotated the points but did not move them: the world-to-camera transform is a rotation and "
                "then a translation"),
        Mistake("w2c inverted", lambda K, w2c, points: _project(K, torch.linalg.inv(w2c), points),
                "you applied the inverse of w2c, the camera-to-world matrix: w2c itself already takes world points "
                "into the camera"),
    ),
    rtol=1e-4, atol=1e-4,
)

EXERCISES = (INTRINSICS, ORBIT_POSITION, PROJECT)
