"""Cameras, Plücker rays, reprojection with depth, and the perspective-warp baseline.

Taught in ``06_multiview_generation``.

**Camera convention** (OpenCV / COLMAP): a camera looks along its ``+z`` axis, ``x`` points right and ``y`` down
in the image. ``K`` is the 3x3 intrinsic matrix in pixels; the extrinsic ``w2c`` is the 4x4 world-to-camera matrix
``[[R, t], [0, 1]]`` (``x_cam = R x_world + t``), so the camera centre is ``-R^T t``. Pixel ``(u, v)`` (column,
row) covers ``[u, u + 1) x [v, v + 1)``; its centre is at ``(u + 0.5, v + 0.5)``, and ``cx = W / 2`` puts the
principal point in the middle of the image. The world is **z-up**; the orbit camera at azimuth ``a`` and elevation
``e`` (degrees) sits at ``radius * (cos e cos a, cos e sin a, sin e)`` and looks at the origin.

**Depth** is z-depth in the camera frame (the distance along the optical axis, not along the ray), ``inf`` where
a pixel sees the background.

**Plücker rays** (Plücker 1865; used as camera conditioning by CAT3D, Gao et al. 2024 and SPAD, Kant et al.
2024): the ray through a pixel is the 6-vector ``(d, o x d)`` of its unit direction ``d`` and its moment about the
origin (``o`` the camera centre), which does not depend on where along the ray ``o`` is taken.

**Reprojection** (:func:`reproject`) lifts every pixel of view ``i`` to 3D with its depth, projects it into camera
``j`` and splats it to the nearest pixel there with a z-buffer (the nearest point wins), i.e. forward warping.
Pixels of ``j`` that receive no point -- occluded in ``i``, outside its frame, background, or holes where ``j``
magnifies the surface -- are outside the returned visibility mask. :func:`reprojection_error` scores how well a set
of views agrees with a known geometry; :func:`perspective_warp` is the no-generation baseline (the input view as a
flat card facing its camera). The scores of a generated orbit are in :mod:`labkit.metrics.multiview`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from labkit.checks import Number, check_args, check_number

_SECANT_STEPS = 6

__all__ = ["Camera", "intrinsics", "look_at", "orbit_pose", "orbit_cameras", "check_camera", "pixel_rays",
           "plucker_rays", "reproject", "perspective_warp", "reprojection_demo", "reprojection_error",
           "psnr_from_mse"]


@dataclass(frozen=True)
class Camera:
    """One pinhole camera or a stack of ``V``: ``K`` ``(3, 3)``/``(V, 3, 3)``, ``w2c`` ``(4, 4)``/``(V, 4, 4)``."""

    K: torch.Tensor
    w2c: torch.Tensor

    def __len__(self) -> int:
        return 1 if self.K.ndim == 2 else self.K.shape[0]

    def __getitem__(self, index) -> Camera:
        if self.K.ndim == 2:
            raise TypeError("a single Camera cannot be indexed")
        return Camera(self.K[index], self.w2c[index])

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres in world coordinates, ``(3,)`` or ``(V, 3)``: ``-R^T t``."""
        R, t = self.w2c[..., :3, :3], self.w2c[..., :3, 3:]
        return (-R.transpose(-1, -2) @ t)[..., 0]


def intrinsics(height: int, width: int | None = None, fov_deg: float = 35.0) -> torch.Tensor:
    """Pinhole ``K (3, 3)`` with a horizontal field of view ``fov_deg``: ``f = (W / 2) / tan(fov / 2)`` pixels,
    square pixels, principal point at the image centre ``(W / 2, H / 2)``."""
    check_args(height=height, width=width, fov_deg=fov_deg, allow_none=("width",))
    width = height if width is None else width
    if not 1.0 <= fov_deg <= 170.0:
        raise ValueError(f"fov_deg: expected a field of view in [1, 170] degrees, got {fov_deg}")
    f = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """World-to-camera ``(4, 4)`` of a camera at ``eye`` looking at ``target`` (OpenCV axes: +z forward, +y down).

    ``up`` is the world's up direction (z-up); it must not be parallel to the viewing direction.
    """
    eye, target, up = (torch.as_tensor(v, dtype=torch.float64) for v in (eye, target, up))
    forward = target - eye
    if forward.norm() < 1e-9:
        raise ValueError(f"expected eye != target, got both {tuple(eye.tolist())}")
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if right.norm() < 1e-9:
        raise ValueError("the viewing direction is parallel to `up`: choose another up vector")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    R = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ eye
    return w2c.float()


def orbit_pose(azimuth_deg: float, elevation_deg: float, radius: float = 3.2) -> torch.Tensor:
    """World-to-camera ``(4, 4)`` of the orbit camera at ``azimuth_deg``/``elevation_deg`` looking at the origin."""
    check_args(azimuth_deg=azimuth_deg, elevation_deg=elevation_deg, radius=radius)
    if not -89.0 <= elevation_deg <= 89.0:
        raise ValueError(f"elevation_deg: expected an elevation in [-89, 89] degrees, got {elevation_deg}")
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = (radius * math.cos(e) * math.cos(a), radius * math.cos(e) * math.sin(a), radius * math.sin(e))
    return look_at(eye)


def orbit_cameras(azimuths, elevations, size: int = 64, radius: float = 3.2, fov_deg: float = 30.0) -> Camera:
    """``V`` orbit cameras (degrees; ``elevations`` a number or one per view) with square ``size`` x ``size`` images."""
    check_args(size=size, radius=radius, fov_deg=fov_deg)
    azimuths = [float(a) for a in np.atleast_1d(azimuths)]
    elevations = np.broadcast_to(np.asarray(elevations, dtype=float), (len(azimuths),))
    w2c = torch.stack([orbit_pose(a, float(e), radius) for a, e in zip(azimuths, elevations)])
    return Camera(intrinsics(size, size, fov_deg).expand(len(azimuths), 3, 3).clone(), w2c)


def check_camera(cam: Camera, name: str = "camera") -> None:
    """Raise ``ValueError`` unless ``cam`` is one pinhole camera with positive focal lengths and a proper rotation
    (``R R^T = I`` and ``det R = +1`` within 1e-3)."""
    if not isinstance(cam, Camera):
        raise TypeError(f"expected {name} as a labkit.multiview.Camera, got {type(cam).__name__}")
    if tuple(cam.K.shape) != (3, 3) or tuple(cam.w2c.shape) != (4, 4):
        raise ValueError(f"expected {name} with K (3, 3) and w2c (4, 4), got K {tuple(cam.K.shape)} and "
                         f"w2c {tuple(cam.w2c.shape)}: index a stack of cameras with cams[i]")
    if not (cam.K[0, 0] > 0 and cam.K[1, 1] > 0):
        raise ValueError(f"expected {name} focal lengths > 0, got fx={float(cam.K[0, 0])}, fy={float(cam.K[1, 1])}")
    R = cam.w2c[:3, :3].double()
    err = float((R @ R.T - torch.eye(3, dtype=torch.float64)).abs().max())
    det = float(torch.linalg.det(R))
    if err > 1e-3 or abs(det - 1) > 1e-3:
        raise ValueError(f"expected {name} rotation w2c[:3, :3] orthonormal with det +1, got max |R R^T - I| = "
                         f"{err:.3g} and det {det:.3g}: a scaled or sheared matrix is not a camera pose")


def pixel_rays(cam: Camera, height: int, width: int, offset=(0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space rays through the pixel centres (moved by ``offset`` = (du, dv) pixels, for supersampling):
    origins and unit directions, each ``(V, H, W, 3)`` (``(H, W, 3)`` for one camera)."""
    check_args(height=height, width=width)
    single = cam.K.ndim == 2
    K, w2c = (cam.K[None], cam.w2c[None]) if single else (cam.K, cam.w2c)
    v, u = torch.meshgrid(torch.arange(height) + 0.5 + offset[1], torch.arange(width) + 0.5 + offset[0],
                          indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1)  # (H, W, 3) homogeneous pixel centres
    d_cam = torch.einsum("vij,hwj->vhwi", torch.linalg.inv(K), pix)
    R = w2c[:, :3, :3]
    d_world = torch.einsum("vji,vhwj->vhwi", R, d_cam)  # R^T d
    d_world = d_world / d_world.norm(dim=-1, keepdim=True)
    origins = Camera(K, w2c).centers[:, None, None, :].expand_as(d_world)
    return (origins[0], d_world[0]) if single else (origins, d_world)


def plucker_rays(cam: Camera, height: int, width: int) -> torch.Tensor:
    """Plücker embedding ``(V, 6, H, W)`` (``(6, H, W)`` for one camera): channels ``(d, o x d)`` per pixel."""
    o, d = pixel_rays(cam, height, width)
    emb = torch.cat([d, torch.linalg.cross(o, d, dim=-1)], -1)
    return emb.movedim(-1, -3)


def _check_view_depth(view: torch.Tensor, depth: torch.Tensor) -> None:
    if not isinstance(view, torch.Tensor) or view.ndim != 3 or view.shape[0] not in (1, 3):
        shape = tuple(view.shape) if isinstance(view, torch.Tensor) else type(view).__name__
        raise ValueError(f"expected view_i of shape (C, H, W) with C in {{1, 3}}, got {shape}")
    if not isinstance(depth, torch.Tensor) or tuple(depth.shape) != tuple(view.shape[1:]):
        shape = tuple(depth.shape) if isinstance(depth, torch.Tensor) else type(depth).__name__
        raise ValueError(f"expected depth_i of shape (H, W) = {tuple(view.shape[1:])} like view_i, got {shape}")
    if torch.isnan(depth).any():
        raise ValueError("depth_i contains NaN (use inf for background pixels)")
    if (depth < 0).any():
        raise ValueError(f"expected depth_i >= 0 (z-depth; inf for background), got a minimum of "
                         f"{float(depth.min()):.4g}: negative depth is behind the camera")


def _fill_holes(zbuf: torch.Tensor) -> torch.Tensor:
    """Empty pixels ``(H, W)`` take the nearest depth of their 3x3 neighbours (a surface that ``j`` sees larger
    than ``i`` leaves one-pixel holes between the splatted points); the backward check then vets them."""
    pooled = -torch.nn.functional.max_pool2d(-zbuf[None, None], 3, stride=1, padding=1)[0, 0]
    return torch.where(torch.isfinite(zbuf), zbuf, pooled)


def _erode(mask: torch.Tensor) -> torch.Tensor:
    """Keep the pixels of a mask ``(H, W)`` whose 8 neighbours are all in it."""
    padded = torch.nn.functional.pad(mask.float()[None, None], (1, 1, 1, 1))
    return -torch.nn.functional.max_pool2d(-padded, 3, stride=1)[0, 0] > 0.5


def _bilinear_taps(uv: torch.Tensor, H: int, W: int):
    """The 4 pixel centres around continuous points ``uv (N, 2)``: indices ``(N, 4)`` (rows, cols), weights
    ``(N, 4)`` and whether all 4 lie inside the image (pixel centres sit at ``+0.5``)."""
    x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    cols = torch.stack([x0, x0 + 1, x0, x0 + 1], -1).long()
    rows = torch.stack([y0, y0, y0 + 1, y0 + 1], -1).long()
    weights = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], -1)
    inside = (cols >= 0).all(-1) & (cols < W).all(-1) & (rows >= 0).all(-1) & (rows < H).all(-1)
    return rows.clamp(0, H - 1), cols.clamp(0, W - 1), weights, inside


def reproject(view_i: torch.Tensor, depth_i: torch.Tensor, cam_i: Camera, cam_j: Camera,
              depth_tol: float = 1e-3):
    """Warp ``view_i (C, H, W)`` with its z-depth ``depth_i (H, W)`` from camera ``cam_i`` into ``cam_j``.

    1. forward: every pixel centre of ``i`` with finite depth is lifted to 3D and projected into ``j``; a z-buffer
       keeps the nearest point per pixel of ``j`` (one-pixel holes are filled from their neighbours);
    2. backward: the centre of each pixel of ``j``, at that depth, is projected back into ``i``; it is *visible*
       when the 4 pixels of ``i`` around it all have a depth within ``depth_tol`` (relative) of it -- this drops
       pixels that ``i`` does not see (occluded, outside its frame, background) and the undecidable sub-pixel
       rim of silhouettes; its colour is the bilinear blend of those 4 pixels.

    Returns ``(warped (C, H, W), mask (H, W) bool)``; ``warped`` is 0 outside ``mask``. With ground-truth depth and
    cameras, ``warped`` matches the true view ``j`` on ``mask`` up to pixel sampling (``tests/test_multiview.py``).
    """
    check_args(depth_tol=depth_tol)
    _check_view_depth(view_i, depth_i)
    check_camera(cam_i, "cam_i")
    check_camera(cam_j, "cam_j")
    C, H, W = view_i.shape
    Ri, ti, Ki = cam_i.w2c[:3, :3].double(), cam_i.w2c[:3, 3].double(), cam_i.K.double()
    Rj, tj, Kj = cam_j.w2c[:3, :3].double(), cam_j.w2c[:3, 3].double(), cam_j.K.double()
    v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1).reshape(-1, 3).double()  # (H W, 3) pixel centres
    # 1. forward: a z-buffer in j of the points of i
    valid = torch.isfinite(depth_i.reshape(-1)) & (depth_i.reshape(-1) > 0)
    x_i = (pix[valid] @ torch.linalg.inv(Ki).T) * depth_i.reshape(-1)[valid].double()[:, None]
    x_j = ((x_i - ti) @ Ri) @ Rj.T + tj  # camera i -> world -> camera j
    z = x_j[:, 2]
    uv = (x_j @ Kj.T)[:, :2] / z.clamp_min(1e-9)[:, None]
    col, row = torch.floor(uv[:, 0]).long(), torch.floor(uv[:, 1]).long()
    ok = (z > 1e-6) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
    zbuf = torch.full((H * W,), math.inf, dtype=torch.float64)
    zbuf = zbuf.scatter_reduce(0, row[ok] * W + col[ok], z[ok], "amin")
    zbuf = _fill_holes(zbuf.reshape(H, W)).reshape(-1)
    # 2. backward: intersect the centre ray of each pixel of j with the surface of i's depth map (bilinear),
    #    by the secant method on f(d) = z_i(X(d)) - depth_i(proj_i(X(d))), starting from the z-buffer depth
    has = torch.nonzero(torch.isfinite(zbuf))[:, 0]
    ray_j = pix[has] @ torch.linalg.inv(Kj).T  # X(d) = d * ray_j in camera j

    def residual(d: torch.Tensor):
        x_i = ((d[:, None] * ray_j - tj) @ Rj) @ Ri.T + ti  # camera j -> world -> camera i
        uv_i = (x_i @ Ki.T)[:, :2] / x_i[:, 2:].clamp_min(1e-9)
        taps = _bilinear_taps(uv_i, H, W)
        surface = (depth_i[taps[0], taps[1]].double() * taps[2]).sum(-1)
        return x_i[:, 2] - surface, taps

    d0, d1 = zbuf[has], zbuf[has] * 1.01
    f0, f1 = residual(d0)[0], residual(d1)[0]
    for _ in range(_SECANT_STEPS):
        step = f1 * (d1 - d0) / torch.where((f1 - f0).abs() > 1e-12, f1 - f0, torch.ones_like(f1))
        d0, f0, d1 = d1, f1, (d1 - step).nan_to_num(nan=0.0)
        f1, taps = residual(d1)
    rows, cols, weights, inside = taps
    agree = inside & torch.isfinite(depth_i[rows, cols]).all(-1) & (f1.abs() < depth_tol * d1)
    colours = (view_i[:, rows[agree], cols[agree]] * weights[agree].to(view_i.dtype)).sum(-1)  # (C, N)
    out = torch.zeros(C, H * W, dtype=view_i.dtype)
    out[:, has[agree]] = colours
    mask = torch.zeros(H * W, dtype=torch.bool)
    mask[has[agree]] = True
    mask = _erode(mask.reshape(H, W))  # 3. drop the one-pixel rim: its pixels straddle an edge of what i sees
    return out.reshape(C, H, W) * mask, mask


def perspective_warp(view: torch.Tensor, cam: Camera, cams: Camera, background=(0.86, 0.86, 0.88)) -> torch.Tensor:
    """The no-generation baseline: warp one view ``(3, H, W)`` into every camera of ``cams`` as if the scene were
    the plane through the world origin facing ``cam`` (a homography per view, done by :func:`reproject` with a
    constant depth); pixels the plane does not cover get ``background``. Returns ``(V, 3, H, W)``."""
    plane = torch.full(view.shape[1:], float(cam.centers.norm()))  # z-depth of the plane through the origin
    out = []
    for k in range(len(cams)):
        warped, mask = reproject(view, plane, cam, cams[k])
        fill = torch.tensor(background, dtype=view.dtype)[:, None, None].expand_as(warped)
        out.append(torch.where(mask, warped, fill))
    return torch.stack(out)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the [0, 1] scale: ``10 log10(1 / mse)`` (an MSE floored at 1e-12, so a
    perfect match gives 120 dB, not infinity). For the MSE over a visibility mask, which whole-frame PSNR
    (:func:`labkit.metrics.psnr`) cannot take."""
    return 10 * math.log10(1 / max(mse, 1e-12))


def reprojection_demo(views: torch.Tensor, depths: torch.Tensor, cams: Camera, i: int, j: int) -> dict:
    """Notebook 06's reprojection panel: view ``i`` warped into camera ``j`` with ground-truth depth -- the warp,
    the visibility mask, the per-pixel squared error ``(H, W)`` against view ``j`` on the mask, its PSNR (dB) and
    the fraction of ``j``'s object pixels that are visible from ``i``."""
    for name, index in (("i", i), ("j", j)):
        check_number(index, name, Number(integer=True, low=0, high=len(views) - 1))
    warped, mask = reproject(views[i], depths[i], cams[i], cams[j])
    error = ((warped - views[j]) ** 2).mean(0) * mask
    mse = float(error[mask].mean()) if mask.any() else float("nan")
    visible = float(mask.sum() / torch.isfinite(depths[j]).sum().clamp_min(1))
    return {"warped": warped, "mask": mask, "error": error, "psnr": psnr_from_mse(mse),
            "visible": visible}


def reprojection_error(views: torch.Tensor, depths: torch.Tensor, cams: Camera) -> dict:
    """How well a set of views ``(V, 3, H, W)`` agrees with a *known* geometry (``depths (V, H, W)``, ``cams``).

    For every pair of orbit neighbours ``(k, k + 1)`` (cyclically), view ``k`` is reprojected with the ground-truth
    depth of ``k`` into camera ``k + 1`` and compared with view ``k + 1`` over the visibility mask. Returns
    ``{"mse": mean squared error ([0, 1] scale), "psnr": 10 log10(1 / mse) dB, "per_pair": [...]}``. Ground-truth
    views score the reprojection floor; views inconsistent with the object's true shape score worse.
    """
    V = views.shape[0]
    if views.ndim != 4 or tuple(depths.shape) != (V, *views.shape[2:]) or len(cams) != V:
        raise ValueError(f"expected views (V, 3, H, W), depths (V, H, W) and V cameras, got "
                         f"{tuple(views.shape)}, {tuple(depths.shape)} and {len(cams)} cameras")
    per_pair = []
    for k in range(V):
        warped, mask = reproject(views[k], depths[k], cams[k], cams[(k + 1) % V])
        per_pair.append(float(((warped - views[(k + 1) % V]) ** 2).mean(0)[mask].mean()) if mask.any() else 0.0)
    mse = float(np.mean(per_pair))
    return {"mse": mse, "psnr": psnr_from_mse(mse), "per_pair": per_pair}
