"""The tiny camera-conditioned orbit generator (SV3D-style): the model, its conditioning and its sampling.

Taught in ``06_multiview_generation``; trained by :mod:`labkit.training.orbit` (``labkit train orbit``), measured by
:mod:`labkit.evaluation.orbit`, shipped as ``data/models/tiny-orbit``.

**The idea** (SV3D, Voleti et al. 2024): an orbit of camera views around an object *is a video*, so an
image-to-video model whose frames are the views, conditioned on the input view and on each view's camera, becomes
a novel-view generator. Its temporal layers (here: attention and convolution across the views) let the views of one
orbit see each other while they are denoised, which is what makes them agree (MVDream, Shi et al. 2023 and CAT3D,
Gao et al. 2024 use attention across views for the same reason).

**The model** is a real ``diffusers.UNetSpatioTemporalConditionModel`` (SVD's UNet) at a tiny size, in pixel space
at 32x32 (the course's 3D VAE was trained on the Shapes world, not on orbits). Its input channels per view are
``noisy view (3) + input view (3, the same for every view) + Plücker rays of the view's camera (6)``;
``added_time_ids`` carries the input view's elevation; ``encoder_hidden_states`` is one constant token (this world
has no text). Views are ``(B, F, C, H, W)`` with F = the number of views -- exactly SVD's layout.

**Objective: flow matching** (Lipman et al. 2023; Esser et al. 2024) matched to the sampler,
``diffusers.FlowMatchEulerDiscreteScheduler``: ``x_sigma = (1 - sigma) x0 + sigma eps``, the UNet predicts
``v = eps - x0`` at timestep ``1000 sigma``, and the scheduler's Euler step ``x <- x + (sigma_next - sigma) v`` is
the ODE that model defines. Sampling is deterministic given the starting noise, with few steps (10 by default):
low stochasticity helps novel-view PSNR.

**Holding the input view** (joint sampling's default, :func:`generate`): the view at the input's own camera is
replaced at every step by the input noised to that step's sigma (the replacement method, Ho et al. 2022), so the
other views attend to the true input while they are denoised -- something no view generated alone can use.

**Independent views** (the baseline): the same network with ``num_frames = 1``: every view denoised alone from
its own noise seed, with only its own camera as conditioning. Training shows it both ways (a batch is split into
single views with probability ``single_prob``), so the baseline is a trained per-view generator, not a crippled one.

**Orbits**: the input view is taken at azimuth 0 and an elevation in 5-35 degrees (the trained range); the
generated orbit has that elevation and may start at any azimuth (:func:`generate_for_object`, the widget's
controls). :func:`save_generator` / :func:`load_generator` write and read the ``unet/``, ``scheduler/`` and
``orbit.json`` folder.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, UNetSpatioTemporalConditionModel
from einops import rearrange

from labkit.checks import check_args
from labkit.data.orbit import render_orbit, render_views
from labkit.multiview import Camera, orbit_cameras, plucker_rays
from labkit.schedules import flow_interpolate
from labkit.video import check_video

__all__ = ["TOKEN_DIM", "PATCH", "OrbitConfig", "new_unet", "new_scheduler", "conditioning",
           "input_camera_views", "generate", "generate_for_object", "save_generator", "load_generator"]


TOKEN_DIM = 32  # width of the one constant cross-attention token


PATCH = 2  # the UNet sees 2x2 pixel patches


@dataclass
class OrbitConfig:
    steps: int = 2000
    batch: int = 2
    lr: float = 1e-3
    warmup: int = 100
    ema_decay: float = 0.999
    seed: int = 0
    num_views: int = 8
    size: int = 32
    single_prob: float = 0.25
    width: int = 32  # channels of the first UNet level (>= 64 lets GroupNorm(32) keep the time embedding)
    deep_width: int = 0  # channels of the two lower levels (0: 2 * width)
    checkpoint_every: int = 500

    def __post_init__(self):
        check_args(**asdict(self))
        if self.size % PATCH:
            raise ValueError(f"size: expected a multiple of the patch size {PATCH}, got {self.size}")


def new_unet(cfg: OrbitConfig, seed: int = 0):
    """A tiny SVD UNet: 3 levels of ``(w, d, d)`` channels (``d = deep_width or 2w``), attention (spatial + across
    views) in the lower two. SVD's blocks use GroupNorm(32) and add the timestep embedding as a per-channel shift
    before it: with 32 channels (one per group) the norm removes the shift, so the first level needs >= 64.

    It works on 2x2 patches (space-to-depth, like DiT's patch size 2): a ``size`` x ``size`` view is a
    ``size / 2`` grid of 12-channel patches, which makes the network 3-4x cheaper on the CPU at the same image size.
    ``in_channels = PATCH**2 * (3 + 3 + 6)``: noisy views, the input view, Plücker rays;
    ``projection_class_embeddings_input_dim = 3 * addition_time_embed_dim`` because SVD embeds three
    ``added_time_ids`` (here: input elevation, 0, 0).
    """

    torch.manual_seed(seed)
    w, time_dim = cfg.width, 16
    deep = cfg.deep_width or 2 * w
    channels = (w, deep, deep)
    return UNetSpatioTemporalConditionModel(
        sample_size=cfg.size // PATCH, in_channels=PATCH ** 2 * (3 + 3 + 6), out_channels=PATCH ** 2 * 3,
        block_out_channels=channels,
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                          "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
        layers_per_block=1, cross_attention_dim=TOKEN_DIM, num_attention_heads=tuple(max(1, c // 16) for c in channels),
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=3 * time_dim,
        num_frames=cfg.num_views)


def new_scheduler():
    """The sampler the objective is matched to (flow matching, no shift)."""

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)


def conditioning(input_view: torch.Tensor, plucker: torch.Tensor, elevation: torch.Tensor):
    """Per-view conditioning channels ``(B, F, 9, H, W)`` (input view in [-1, 1] broadcast + Plücker rays),
    ``added_time_ids (B, 3)`` and the constant token ``(B, 1, TOKEN_DIM)``."""
    B, F = plucker.shape[:2]
    image = (2 * input_view - 1)[:, None].expand(B, F, *input_view.shape[1:])
    added = torch.stack([elevation.float(), torch.zeros(B), torch.zeros(B)], -1)
    return torch.cat([image, plucker.float()], 2), added, torch.zeros(B, 1, TOKEN_DIM)


def predict_velocity(unet, x: torch.Tensor, sigma: torch.Tensor, cond: tuple) -> torch.Tensor:
    """The UNet's velocity for noisy views ``x (B, F, 3, H, W)`` at noise levels ``sigma (B,)``."""
    channels, added, token = cond
    sample = torch.cat([x, channels], 2)  # (B, F, 3 + 9, H, W): SVD concatenates its image latents the same way
    patches = rearrange(sample, "b f c (h p) (w q) -> b f (c p q) h w", p=PATCH, q=PATCH)
    out = unet(patches, sigma * 1000, encoder_hidden_states=token, added_time_ids=added).sample
    return rearrange(out, "b f (c p q) h w -> b f c (h p) (w q)", p=PATCH, q=PATCH)


def input_camera_views(cameras: Camera, elevation: float, size: int) -> torch.Tensor:
    """Boolean ``(V,)``: which of ``cameras`` is the input view's own camera (azimuth 0 at ``elevation``, the
    orbit world's radius and field of view), so that the input view *is* that view's ground truth."""
    ref = orbit_cameras([0.0], elevation, size)
    same_pose = (cameras.w2c - ref.w2c).abs().amax((-2, -1)) < 1e-4
    same_k = (cameras.K - ref.K).abs().amax((-2, -1)) < 1e-4
    return (same_pose & same_k).reshape(-1)


@torch.no_grad()
def generate(unet, input_view: torch.Tensor, cameras: Camera, elevation: float, steps: int = 10, seed: int = 0,
             joint: bool = True, hold_input: bool = True) -> torch.Tensor:
    """Generate the views ``(F, 3, H, W)`` in [0, 1] of ``cameras`` from one ``input_view (3, H, W)`` taken at
    azimuth 0 and ``elevation`` degrees. ``joint``: all views denoised together (attention across views);
    otherwise each view alone (``num_frames = 1``) from its own noise (seed ``seed + k``).

    ``hold_input`` (joint only): a view whose camera is the input's (:func:`input_camera_views`; view 0 of an
    orbit that starts at azimuth 0) is *held* to the input while the others are denoised -- at every step it is
    replaced by the input view noised to the current ``sigma`` along the training path ``(1 - sigma) x0 + sigma
    eps`` (the replacement method for conditional sampling, Ho et al. 2022, "Video Diffusion Models"; CAT3D, Gao
    et al. 2024, likewise puts its observed views into the joint set clean). Attention across views then reads
    the true input at every noise level. Independent views cannot use it: each is denoised alone.
    """
    check_args(elevation=elevation, steps=steps, seed=seed)
    check_video(input_view[None], "input_view", allow_batch=False)
    H, W = input_view.shape[1:]
    plucker = plucker_rays(cameras, H, W)[None]  # (1, F, 6, H, W)
    if joint:
        noise = torch.randn((1, len(cameras), 3, H, W), generator=torch.Generator().manual_seed(seed))
        held = input_camera_views(cameras, elevation, H) if hold_input else torch.zeros(len(cameras), dtype=bool)
        out = _sample(unet, noise, conditioning(input_view[None], plucker, torch.tensor([elevation])), steps,
                      held=(held, 2 * input_view - 1) if held.any() else None)
        return out[0]
    views = []
    for k in range(len(cameras)):
        noise = torch.randn((1, 1, 3, H, W), generator=torch.Generator().manual_seed(seed + k))
        cond = conditioning(input_view[None], plucker[:, k:k + 1], torch.tensor([elevation]))
        views.append(_sample(unet, noise, cond, steps)[0, 0])
    return torch.stack(views)


def generate_for_object(unet, obj, elevation: float = 20.0, azimuth: float = 0.0, num_views: int = 8,
                        size: int = 32, steps: int = 10, seed: int = 0, joint: bool = True) -> dict:
    """Novel views of an orbit-world object from its view at azimuth 0 and ``elevation``: the generated views at
    azimuths ``azimuth + 360 k / num_views`` (same elevation), the ground truth there and the input view."""
    check_args(elevation=elevation, azimuth=azimuth, num_views=num_views, size=size, steps=steps, seed=seed)
    cams = orbit_cameras([azimuth + 360.0 * k / num_views for k in range(num_views)], elevation, size)
    inp = render_orbit(obj, 1, elevation, size, azimuths=[0.0]).views[0]
    return {"input": inp, "generated": generate(unet, inp, cams, elevation, steps, seed, joint),
            "ground truth": render_views(obj, cams, size).views, "cameras": cams}


def _sample(unet, x: torch.Tensor, cond: tuple, steps: int, held: tuple | None = None) -> torch.Tensor:
    """The scheduler's Euler loop from pure noise ``x (B, F, 3, H, W)``; returns views in [0, 1]. ``held``:
    ``(mask (F,), x0 (3, H, W) in [-1, 1])``: the masked views follow ``x0``'s forward path, their starting noise
    kept, at every step (see :func:`generate`) and end as ``x0`` exactly."""
    scheduler = new_scheduler()
    scheduler.set_timesteps(steps)
    if held is not None:
        mask, x0 = held
        eps = x[:, mask].clone()
    for i, t in enumerate(scheduler.timesteps):
        if held is not None:
            x[:, mask] = flow_interpolate(x0.expand_as(eps), eps, scheduler.sigmas[i])
        v = predict_velocity(unet, x, (t / 1000).expand(x.shape[0]), cond)
        x = scheduler.step(v, t, x).prev_sample
    if held is not None:
        x[:, mask] = x0
    return ((x + 1) / 2).clamp(0, 1)


def save_generator(unet, cfg: OrbitConfig, folder: Path) -> Path:
    """``unet/`` (``save_pretrained``, safetensors, weights stored in float16 to stay under 10 MB; loaded back in
    float32), ``scheduler/`` and ``orbit.json`` (the config)."""

    folder = Path(folder)
    copy.deepcopy(unet).to(torch.float16).save_pretrained(folder / "unet")
    new_scheduler().save_pretrained(folder / "scheduler")
    (folder / "orbit.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    return folder


def load_generator(folder: Path):
    """``(unet, cfg)`` from a folder written by :func:`save_generator` (safetensors only)."""

    folder = Path(folder)
    if not (folder / "orbit.json").exists():
        raise FileNotFoundError(f"expected an orbit generator folder with orbit.json, got {folder}")
    cfg = OrbitConfig(**json.loads((folder / "orbit.json").read_text()))
    unet = UNetSpatioTemporalConditionModel.from_pretrained(folder / "unet", use_safetensors=True,
                                                            dtype=torch.float32).eval()
    return unet, cfg
