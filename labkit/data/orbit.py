"""The orbit world: simple 3D objects seen by a camera orbiting them, with depth maps and cameras.

Taught in ``06_multiview_generation`` (re-exported from :mod:`labkit.data`).

**Objects** sit at the origin of a z-up world: a ``cube``, a ``sphere``, a flat ``torus`` or a ``composite`` (a flat
box with a ball on top), each with a random size and a random rotation (yaw) about the vertical axis.

**Colours follow a rule you can see** (so the hidden sides of a new object can be inferred from one view): the
four sides of an object (cube faces, sphere/torus quadrants) have the same saturation and brightness and hues
90 degrees apart on the colour wheel, going counter-clockwise seen from above; the top is a pale tint of the hue
half-way between side 0 and side 1; the bottom is dark grey. The base hue, saturation and brightness are continuous
random numbers, so held-out objects are new instances of the family, never copies of training objects.

**Rendering** is sphere tracing of signed distance functions (Hart 1996), vectorised over all rays of all views in
PyTorch: no OpenGL. Shading is Lambertian with a light fixed in the world (``ambient + diffuse * max(0, n . l)``),
which does not depend on the viewpoint, so two views of a surface point show the same colour and reprojection with
ground-truth depth is exact up to pixel sampling. The background is a plain light grey. Returns views
``(V, 3, H, W)`` in [0, 1], z-depth ``(V, H, W)`` (``inf`` on the background) and the cameras (see
:mod:`labkit.multiview` for the conventions). ``benchmarks/orbit_render.py`` measures the views/s.

**Orbits**: the generator's orbit always starts at azimuth 0 (where the input view is taken) and goes round in
``num_views`` equal steps, at one elevation; the object's yaw is what varies (as in SV3D, Voleti et al. 2024).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
import torch

from labkit.checks import check_args
from labkit.data.splits import check_split, clip_seed
from labkit.multiview import Camera, orbit_cameras, pixel_rays

__all__ = ["KINDS", "BACKGROUND", "LIGHT", "ELEVATION_RANGE", "OrbitObject", "OrbitViews", "object_seed",
           "random_object", "render_views", "orbit_azimuths", "render_orbit", "OrbitWorld"]


KINDS: tuple[str, ...] = ("cube", "sphere", "torus", "composite")


BACKGROUND: tuple[float, float, float] = (0.86, 0.86, 0.88)


LIGHT = (0.55, 0.35, 0.76)  # world direction towards the light (normalised below)


AMBIENT, DIFFUSE = 0.45, 0.55


ELEVATION_RANGE = (5.0, 35.0)  # degrees: the orbit world's camera elevations


ORBIT_SPLITS = ("train", "val", "test")  # the orbit world has no held-out combinations


_STEPS, _EPS, _BOUND = 64, 2e-4, 1.05  # sphere-tracing iterations, hit tolerance, bounding-sphere radius


@dataclass(frozen=True)
class OrbitObject:
    """One object of the orbit world: ``kind``, ``scale`` (about 1 = fits the unit sphere), ``yaw`` (degrees,
    counter-clockwise about +z), ``hue`` in [0, 1) of side 0, and its ``saturation``/``value`` (HSV)."""

    kind: str
    scale: float
    yaw: float
    hue: float
    saturation: float
    value: float

    def colours(self) -> torch.Tensor:
        """``(6, 3)`` RGB in [0, 1]: sides 0-3 (+x, +y, -x, -y of the object), top, bottom."""
        sides = [colorsys.hsv_to_rgb((self.hue + k / 4) % 1, self.saturation, self.value) for k in range(4)]
        top = colorsys.hsv_to_rgb((self.hue + 1 / 8) % 1, 0.35 * self.saturation, 1.0)
        return torch.tensor([*sides, top, (0.25, 0.25, 0.25)], dtype=torch.float32)


@dataclass
class OrbitViews:
    """A rendering: ``views (V, 3, H, W)`` in [0, 1], ``depth (V, H, W)`` z-depth (inf = background),
    ``cameras`` (a stack of ``V``), and the ``azimuths``/``elevations`` in degrees."""

    views: torch.Tensor
    depth: torch.Tensor
    cameras: Camera
    azimuths: list[float]
    elevations: list[float]


def object_seed(split: str, index: int, seed: int = 0) -> int:
    """Seed of object ``index`` of a split: the one split-seed rule, :func:`labkit.data.splits.clip_seed`."""
    check_split(split, ORBIT_SPLITS)
    return clip_seed(split, index, seed)


def random_object(rng: np.random.Generator) -> OrbitObject:
    """Draw an object: uniform kind, scale in [0.8, 1.0], yaw in [0, 360), hue in [0, 1), saturation in
    [0.55, 0.9], value in [0.75, 1.0]."""
    return OrbitObject(str(rng.choice(KINDS)), float(rng.uniform(0.8, 1.0)), float(rng.uniform(0, 360)),
                       float(rng.uniform(0, 1)), float(rng.uniform(0.55, 0.9)), float(rng.uniform(0.75, 1.0)))


# --- signed distances of the parts, in object coordinates (x, y horizontal, z up) -------------------------------

def _box(p: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    q = p.abs() - half
    return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0)


def _sphere(p: torch.Tensor, r: float) -> torch.Tensor:
    return p.norm(dim=-1) - r


def _torus(p: torch.Tensor, major: float, minor: float) -> torch.Tensor:
    q = torch.stack([p[..., :2].norm(dim=-1) - major, p[..., 2]], -1)
    return q.norm(dim=-1) - minor


def _parts(kind: str, s: float) -> list[tuple[str, torch.Tensor, tuple]]:
    """``(shape, centre (3,), size)`` of each part of an object of ``kind`` at scale ``s``."""
    return [(shape, torch.tensor(c), size) for shape, c, size in _part_list(kind, s)]


def _part_list(kind: str, s: float) -> list[tuple[str, tuple, tuple]]:
    if kind == "cube":
        return [("box", (0.0, 0.0, 0.0), (0.48 * s,) * 3)]
    if kind == "sphere":
        return [("sphere", (0.0, 0.0, 0.0), (0.62 * s,))]
    if kind == "torus":
        return [("torus", (0.0, 0.0, 0.0), (0.55 * s, 0.2 * s))]
    if kind == "composite":
        return [("box", (0.0, 0.0, -0.22 * s), (0.55 * s, 0.55 * s, 0.22 * s)),
                ("sphere", (0.0, 0.0, 0.3 * s), (0.32 * s,))]
    raise ValueError(f"expected kind in {KINDS}, got {kind!r}")


def _part_sdf(shape: str, p: torch.Tensor, size: tuple) -> torch.Tensor:
    return {"box": lambda: _box(p, torch.tensor(size)), "sphere": lambda: _sphere(p, size[0]),
            "torus": lambda: _torus(p, *size)}[shape]()


def _sdf_all(parts, p: torch.Tensor) -> torch.Tensor:
    """Signed distance to every part, ``(..., num_parts)``."""
    return torch.stack([_part_sdf(shape, p - c, size) for shape, c, size in parts], -1)


def _face(shape: str, p: torch.Tensor, size: tuple) -> torch.Tensor:
    """Colour index (0-3 sides, 4 top, 5 bottom) of surface points ``p (N, 3)`` relative to a part's centre."""
    side = (torch.round(torch.atan2(p[:, 1], p[:, 0]) / (math.pi / 2)).long() % 4)
    if shape == "torus":
        return side
    rel = p / torch.tensor(size if shape == "box" else size * 3)
    if shape == "sphere":
        rel = rel / rel.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        vertical = rel[:, 2].abs() > 0.72
    else:
        vertical = rel[:, 2].abs() >= rel[:, :2].abs().amax(-1)
    return torch.where(vertical, torch.where(rel[:, 2] > 0, 4, 5), side)


def _trace(parts, origins: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sphere tracing from the bounding sphere: ray parameter ``t (N,)`` and a hit mask ``(N,)``. Every 8 steps
    the rays that converged or left the bounding sphere drop out of the active set (most need few steps)."""
    b = (origins * dirs).sum(-1)
    disc = b ** 2 - ((origins ** 2).sum(-1) - _BOUND ** 2)
    t = (-b - disc.clamp_min(0).sqrt()).clamp_min(0)
    t_far = -b + disc.clamp_min(0).sqrt()
    hit = torch.zeros_like(t, dtype=torch.bool)
    active = torch.nonzero(disc > 0)[:, 0]
    for step in range(_STEPS):
        ta = t[active]
        d = _sdf_all(parts, origins[active] + ta[:, None] * dirs[active]).amin(-1)
        t[active] = ta + d
        if step % 8 == 7 or step == _STEPS - 1:
            done = d.abs() < _EPS
            hit[active[done]] = True
            active = active[~done & (t[active] < t_far[active])]
            if len(active) == 0:
                break
    return t, hit & (t < t_far)


def _normals(parts, p: torch.Tensor, h: float = 1e-3) -> torch.Tensor:
    """Unit surface normals at ``p (N, 3)`` by central differences of the SDF."""
    offsets = torch.eye(3) * h
    grads = [(_sdf_all(parts, p + o).amin(-1) - _sdf_all(parts, p - o).amin(-1)) for o in offsets]
    n = torch.stack(grads, -1)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _yaw_matrix(yaw_deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _shade(obj: OrbitObject, parts, p_obj: torch.Tensor, normals_world: torch.Tensor) -> torch.Tensor:
    """Lambert-shaded RGB ``(N, 3)`` of hit points (object coordinates) with world normals."""
    which = _sdf_all(parts, p_obj).argmin(-1)
    face = torch.zeros(len(p_obj), dtype=torch.long)
    for k, (shape, c, size) in enumerate(parts):
        sel = which == k
        offset = 2 if obj.kind == "composite" and shape == "sphere" else 0  # the ball's quadrants turn half way
        f = _face(shape, p_obj[sel] - c, size)
        face[sel] = torch.where(f < 4, (f + offset) % 4, f)
    light = torch.tensor(LIGHT) / torch.tensor(LIGHT).norm()
    lambert = AMBIENT + DIFFUSE * (normals_world @ light).clamp_min(0)
    return (obj.colours()[face] * lambert[:, None]).clamp(0, 1)


def _cast(obj: OrbitObject, parts, origins: torch.Tensor, dirs: torch.Tensor):
    """Colours ``(N, 3)``, ray parameters ``(N,)`` and hits ``(N,)`` of world rays."""
    R = _yaw_matrix(obj.yaw)  # object -> world
    o_obj, d_obj = origins @ R, dirs @ R  # world -> object (R^T x for row vectors)
    t, hit = _trace(parts, o_obj, d_obj)
    rgb = torch.tensor(BACKGROUND).repeat(len(t), 1)
    p_obj = o_obj[hit] + t[hit, None] * d_obj[hit]
    rgb[hit] = _shade(obj, parts, p_obj, _normals(parts, p_obj) @ R.T)
    return rgb, t, hit


def _edges(image: torch.Tensor, threshold: float = 0.06) -> torch.Tensor:
    """``(V, H, W)`` True where a pixel differs from a 4-neighbour by more than ``threshold`` in some channel."""
    diff_x = (image[:, :, 1:] - image[:, :, :-1]).abs().amax(-1) > threshold
    diff_y = (image[:, 1:] - image[:, :-1]).abs().amax(-1) > threshold
    edge = torch.zeros(image.shape[:3], dtype=torch.bool)
    edge[:, :, 1:] |= diff_x
    edge[:, :, :-1] |= diff_x
    edge[:, 1:] |= diff_y
    edge[:, :-1] |= diff_y
    return edge


def render_views(obj: OrbitObject, cameras: Camera, size: int = 64, antialias: int = 3) -> OrbitViews:
    """Render ``obj`` from every camera of a stack (``size`` x ``size`` images); see the module docstring.

    Anti-aliasing is adaptive supersampling: one ray through each pixel centre (which also gives the depth), then
    ``antialias`` x ``antialias`` rays in pixels that differ from a neighbour (edges, silhouettes), averaged.
    ``antialias`` must be odd so that the centre ray is one of the samples (1 = no anti-aliasing).
    """
    check_args(size=size)
    if obj.kind not in KINDS:
        raise ValueError(f"expected an object kind in {KINDS}, got {obj.kind!r}")
    if cameras.K.ndim != 3:
        raise ValueError(f"expected a stack of cameras (K of shape (V, 3, 3)), got K {tuple(cameras.K.shape)}")
    if antialias < 1 or antialias % 2 == 0:
        raise ValueError(f"expected an odd antialias factor >= 1 (1, 3, 5), got {antialias}")
    V, parts = len(cameras), _parts(obj.kind, obj.scale)
    origins, dirs = pixel_rays(cameras, size, size)
    rgb, t, hit = _cast(obj, parts, origins.reshape(-1, 3), dirs.reshape(-1, 3))
    image = rgb.reshape(V, size, size, 3)
    if antialias > 1:
        edge = _edges(image)
        shifts = ((torch.arange(antialias) - antialias // 2) / antialias).tolist()
        rays = [pixel_rays(cameras, size, size, offset=(du, dv)) for du in shifts for dv in shifts if du or dv]
        o = torch.cat([o[edge] for o, _ in rays])  # all sub-pixel rays of all edge pixels, traced at once
        d = torch.cat([d[edge] for _, d in rays])
        sub = _cast(obj, parts, o, d)[0].reshape(len(rays), -1, 3)
        image[edge] = (image[edge] + sub.sum(0)) / antialias ** 2
    p_world = origins.reshape(-1, 3) + t[:, None] * dirs.reshape(-1, 3)
    z = torch.einsum("vij,vnj->vni", cameras.w2c[:, :3, :3], p_world.reshape(V, -1, 3))[..., 2]
    z = z + cameras.w2c[:, 2, 3][:, None]
    depth = torch.where(hit.reshape(V, -1), z, torch.tensor(math.inf)).reshape(V, size, size)
    views = image.permute(0, 3, 1, 2).contiguous()  # v h w c -> v c h w
    return OrbitViews(views, depth, cameras, [], [])


def orbit_azimuths(num_views: int, start: float = 0.0) -> list[float]:
    """``num_views`` azimuths (degrees) equally spaced round the circle from ``start``."""
    check_args(num_views=num_views)
    return [start + 360.0 * k / num_views for k in range(num_views)]


def render_orbit(obj: OrbitObject, num_views: int = 8, elevation: float = 20.0, size: int = 64,
                 azimuths=None, antialias: int = 3) -> OrbitViews:
    """The orbit of ``obj``: ``num_views`` views at one ``elevation`` (degrees), azimuths from 0 (or given)."""
    check_args(num_views=num_views, elevation=elevation, size=size)
    azimuths = orbit_azimuths(num_views) if azimuths is None else [float(a) for a in azimuths]
    out = render_views(obj, orbit_cameras(azimuths, elevation, size), size, antialias)
    out.azimuths, out.elevations = azimuths, [float(elevation)] * len(azimuths)
    return out


class OrbitWorld(torch.utils.data.Dataset):
    """A deterministic dataset of orbits: item ``i`` is ``(OrbitObject, OrbitViews)`` at a random elevation in
    :data:`ELEVATION_RANGE`; it depends only on ``(split, i, seed, num_views, size)``. Splits ``train``/``val``/
    ``test`` draw from disjoint seed ranges."""

    def __init__(self, split: str = "train", length: int = 1024, num_views: int = 8, size: int = 32,
                 seed: int = 0):
        object_seed(split, 0, seed)  # validates the split and seed
        check_args(num_views=num_views, size=size, length=length)
        self.split, self.length, self.num_views, self.size, self.seed = split, int(length), num_views, size, seed

    def __len__(self) -> int:
        return self.length

    def object(self, index: int) -> tuple[OrbitObject, float]:
        """The object and elevation of item ``index`` (cheap: nothing is rendered)."""
        rng = np.random.default_rng(object_seed(self.split, index, self.seed))
        return random_object(rng), float(rng.uniform(*ELEVATION_RANGE))

    def __getitem__(self, index: int) -> tuple[OrbitObject, OrbitViews]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for an OrbitWorld of length {self.length}")
        obj, elevation = self.object(index % self.length)
        return obj, render_orbit(obj, self.num_views, elevation, self.size)
