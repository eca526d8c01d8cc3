"""The tiny camera-conditioned orbit generator (SV3D-style) and its training, ``labkit train orbit``.

Taught in ``06_multiview_generation``.

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

**Orbits seen in training**: the input view at azimuth 0 and a random elevation in 5-35 degrees; the target orbit
at the same elevation, starting at azimuth 0 half of the time (then view 0 is the input view) and at a random
azimuth otherwise (so the widget's elevation and azimuth controls stay inside what was trained).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from . import OUTPUTS_DIR
from .multiview import Camera, consistency_report, orbit_cameras, plucker_rays
from .orbit import ELEVATION_RANGE, OrbitWorld, random_object, render_orbit, render_views

__all__ = ["OrbitConfig", "new_unet", "new_scheduler", "orbit_batch", "conditioning", "flow_loss", "flow_pair",
           "input_camera_views", "generate", "generate_for_object", "load_generator", "save_generator", "train",
           "evaluate", "paired_difference", "NOT_HELD", "BARS", "bars_problem", "main"]

TOKEN_DIM = 32  # width of the one constant cross-attention token
PATCH = 2  # the UNet sees 2x2 pixel patches
#: The evaluation row of joint generation without :func:`generate`'s ``hold_input`` (records made before it
#: existed call that row ``joint``).
NOT_HELD = "joint, input not held"


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
    from diffusers import UNetSpatioTemporalConditionModel

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
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)


def _render_sample(rng: np.random.Generator, cfg: OrbitConfig):
    """One training sample: input view, target orbit (views, cameras) and the input elevation."""
    obj = random_object(rng)
    elevation = float(rng.uniform(*ELEVATION_RANGE))
    az0 = 0.0 if rng.random() < 0.5 else float(rng.uniform(0, 360))
    azimuths = [0.0] + [az0 + 360.0 * k / cfg.num_views for k in range(cfg.num_views)]
    out = render_orbit(obj, len(azimuths), elevation, cfg.size, azimuths=azimuths)  # input view + orbit at once
    return out.views[0], out.views[1:], out.cameras[1:], elevation


def orbit_batch(step: int, cfg: OrbitConfig) -> dict:
    """Training batch of step ``step`` (drawn from a generator seeded by ``(seed, step)``, so resumable):
    ``input (B, 3, H, W)``, ``views (B, F, 3, H, W)``, ``plucker (B, F, 6, H, W)``, ``elevation (B,)`` degrees."""
    rng = np.random.default_rng([cfg.seed, step])
    samples = [_render_sample(rng, cfg) for _ in range(cfg.batch)]
    return {"input": torch.stack([s[0] for s in samples]), "views": torch.stack([s[1] for s in samples]),
            "plucker": torch.stack([plucker_rays(s[2], cfg.size, cfg.size) for s in samples]),
            "elevation": torch.tensor([s[3] for s in samples]), "step": step}


def conditioning(input_view: torch.Tensor, plucker: torch.Tensor, elevation: torch.Tensor):
    """Per-view conditioning channels ``(B, F, 9, H, W)`` (input view in [-1, 1] broadcast + Plücker rays),
    ``added_time_ids (B, 3)`` and the constant token ``(B, 1, TOKEN_DIM)``."""
    B, F = plucker.shape[:2]
    image = (2 * input_view - 1)[:, None].expand(B, F, *input_view.shape[1:])
    added = torch.stack([elevation.float(), torch.zeros(B), torch.zeros(B)], -1)
    return torch.cat([image, plucker.float()], 2), added, torch.zeros(B, 1, TOKEN_DIM)


def _predict(unet, x: torch.Tensor, sigma: torch.Tensor, cond: tuple) -> torch.Tensor:
    """The UNet's velocity for noisy views ``x (B, F, 3, H, W)`` at noise levels ``sigma (B,)``."""
    channels, added, token = cond
    sample = torch.cat([x, channels], 2)  # (B, F, 3 + 9, H, W): SVD concatenates its image latents the same way
    patches = rearrange(sample, "b f c (h p) (w q) -> b f (c p q) h w", p=PATCH, q=PATCH)
    out = unet(patches, sigma * 1000, encoder_hidden_states=token, added_time_ids=added).sample
    return rearrange(out, "b f (c p q) h w -> b f c (h p) (w q)", p=PATCH, q=PATCH)


def _split_views(batch: dict) -> dict:
    """A batch of ``B`` orbits as ``B * F`` single-view samples (the independent-views mode)."""
    F = batch["views"].shape[1]
    return {"input": batch["input"].repeat_interleave(F, 0),
            "views": rearrange(batch["views"], "b f c h w -> (b f) 1 c h w"),
            "plucker": rearrange(batch["plucker"], "b f c h w -> (b f) 1 c h w"),
            "elevation": batch["elevation"].repeat_interleave(F, 0)}


def flow_loss(unet, batch: dict, cfg: OrbitConfig) -> torch.Tensor:
    """Flow-matching loss ``|| v_theta(x_sigma) - (eps - x0) ||^2`` with ``sigma`` drawn logit-normally
    (SD3's choice, Esser et al. 2024); with probability ``single_prob`` the batch is split into single views."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + batch["step"])
    if torch.rand((), generator=g) < cfg.single_prob:
        batch = _split_views(batch)
    x0 = 2 * batch["views"] - 1
    sigma = torch.sigmoid(torch.randn(x0.shape[0], generator=g))
    x, target = flow_pair(x0, torch.randn(x0.shape, generator=g), sigma)
    cond = conditioning(batch["input"], batch["plucker"], batch["elevation"])
    return torch.nn.functional.mse_loss(_predict(unet, x, sigma, cond), target)


def flow_pair(x0: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow-matching input and target for clean views ``x0 (B, F, 3, H, W)`` in [-1, 1]: ``x = (1 - sigma) x0 +
    sigma eps`` (what ``FlowMatchEulerDiscreteScheduler.scale_noise`` computes) and ``v = eps - x0``."""
    s = sigma.view(-1, *[1] * (x0.ndim - 1))
    return (1 - s) * x0 + s * eps, eps - x0


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
    from .video import check_video

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
            x[:, mask] = flow_pair(x0.expand_as(eps), eps, scheduler.sigmas[i].expand(1))[0]
        v = _predict(unet, x, (t / 1000).expand(x.shape[0]), cond)
        x = scheduler.step(v, t, x).prev_sample
    if held is not None:
        x[:, mask] = x0
    return ((x + 1) / 2).clamp(0, 1)


def save_generator(unet, cfg: OrbitConfig, folder: Path) -> Path:
    """``unet/`` (``save_pretrained``, safetensors, weights stored in float16 to stay under 10 MB; loaded back in
    float32), ``scheduler/`` and ``orbit.json`` (the config)."""
    import copy

    folder = Path(folder)
    copy.deepcopy(unet).to(torch.float16).save_pretrained(folder / "unet")
    new_scheduler().save_pretrained(folder / "scheduler")
    (folder / "orbit.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    return folder


def load_generator(folder: Path):
    """``(unet, cfg)`` from a folder written by :func:`save_generator` (safetensors only)."""
    from diffusers import UNetSpatioTemporalConditionModel

    folder = Path(folder)
    if not (folder / "orbit.json").exists():
        raise FileNotFoundError(f"expected an orbit generator folder with orbit.json, got {folder}")
    cfg = OrbitConfig(**json.loads((folder / "orbit.json").read_text()))
    unet = UNetSpatioTemporalConditionModel.from_pretrained(folder / "unet", use_safetensors=True,
                                                            dtype=torch.float32).eval()
    return unet, cfg


def train(cfg: OrbitConfig, out: Path | None = None, progress: bool = True, on_log=None):
    """Train with :func:`labkit.train.fit` (AdamW, warm-up + cosine, EMA); checkpoints go to ``out``."""
    from .train import TrainConfig, fit

    unet = new_unet(cfg, cfg.seed)

    def batches():
        step = 0
        while True:
            yield orbit_batch(step, cfg)
            step += 1

    save = (lambda m, step: save_generator(m, cfg, out)) if out else None
    tc = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, ema_decay=cfg.ema_decay, seed=cfg.seed,
                     checkpoint_every=cfg.checkpoint_every, progress=progress, log_every=10)
    return fit(unet, batches(), lambda m, b, step: flow_loss(m, b, cfg), tc, save=save, on_log=on_log)


def evaluate(unet, cfg: OrbitConfig, num: int = 16, steps: int = 10, seed: int = 0, progress: bool = True,
             keep: int = 0) -> dict:
    """Joint vs independent generation on ``num`` held-out test objects (the input view is view 0 of the orbit).

    Returns the mean of each :func:`labkit.multiview.consistency_report` score per method (``joint``, with the
    input view held as view 0 -- :func:`generate`'s default --, ``joint, input not held`` -- what holding it
    adds --, ``independent``, ``input + perspective warp`` -- no generation,
    :func:`labkit.multiview.perspective_warp` -- and ``ground truth``, the floor of the reprojection and warping
    errors), the first ``keep`` orbits
    (``"orbits"``: ground truth, joint, independent) for display, and ``"paired"``: per score, joint minus
    independent object by object -- the mean difference, its standard error and on how many objects joint
    is better (a mean can hide a difference that is only noise between a few objects).
    """
    from tqdm.auto import tqdm

    world = OrbitWorld("test", num, cfg.num_views, cfg.size)
    from .multiview import perspective_warp
    from .orbit import BACKGROUND

    scores: dict = {"joint": [], NOT_HELD: [], "independent": [], "input + perspective warp": [], "ground truth": []}
    orbits = []
    for i in tqdm(range(num), desc="evaluate", disable=not progress, leave=False):
        _, gt = world[i]
        el, s = gt.elevations[0], seed + 1000 * i
        joint = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=True)
        free = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=True, hold_input=False)
        indep = generate(unet, gt.views[0], gt.cameras, el, steps, s, joint=False)
        warp = perspective_warp(gt.views[0], gt.cameras[0], gt.cameras, BACKGROUND)
        for name, views in (("joint", joint), (NOT_HELD, free), ("independent", indep),
                            ("input + perspective warp", warp), ("ground truth", gt.views)):
            scores[name].append(consistency_report(views, gt.views, gt.depth, gt.cameras))
        if i < keep:
            orbits.append({"ground truth": gt.views, "joint": joint, "independent": indep})
    table = {name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} for name, rows in scores.items()}
    for row in table.values():
        row["reprojection_psnr"] = 10 * math.log10(1 / max(row["reprojection_mse"], 1e-12))
    return {"table": table, "num": num, "steps": steps, "orbits": orbits,
            "paired": {k: paired_difference([r[k] for r in scores["joint"]], [r[k] for r in scores["independent"]],
                                            higher_is_better=k in ("novel_psnr", "novel_ssim"))
                       for k in ("novel_psnr", "novel_ssim", "reprojection_mse", "warping_error")}}


def paired_difference(joint: list[float], independent: list[float], higher_is_better: bool = True) -> dict:
    """Object-by-object ``joint - independent``: ``{"mean", "stderr", "joint_better", "num"}`` (``stderr``:
    sample standard deviation / sqrt(n); ``joint_better``: objects where joint is better)."""
    if len(joint) != len(independent) or not joint:
        raise ValueError(f"expected two equal, non-empty lists of per-object scores, got {len(joint)} and "
                         f"{len(independent)}")
    diff = np.asarray(joint, np.float64) - np.asarray(independent, np.float64)
    stderr = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    better = int((diff > 0).sum() if higher_is_better else (diff < 0).sum())
    return {"mean": float(diff.mean()), "stderr": stderr, "joint_better": better, "num": len(diff)}


#: The issue's bars on held-out objects.
BARS = {"joint_novel_psnr": 20.0, "psnr_margin": 1.0, "reprojection_ratio": 0.8}


def bars_problem(report: dict) -> str:
    """Why an evaluation misses the bars ("" when it meets them): joint novel-view PSNR >= 20 dB, at least 1 dB
    above the independent views, and a joint reprojection error below 0.8x the independent one."""
    j, ind = report["table"]["joint"], report["table"]["independent"]
    problems = []
    if j["novel_psnr"] < BARS["joint_novel_psnr"]:
        problems.append(f"joint novel-view PSNR {j['novel_psnr']:.2f} dB < {BARS['joint_novel_psnr']}")
    if j["novel_psnr"] < ind["novel_psnr"] + BARS["psnr_margin"]:
        problems.append(f"joint PSNR {j['novel_psnr']:.2f} not {BARS['psnr_margin']} dB above independent "
                        f"{ind['novel_psnr']:.2f}")
    if j["reprojection_mse"] > BARS["reprojection_ratio"] * ind["reprojection_mse"]:
        problems.append(f"joint reprojection MSE {j['reprojection_mse']:.4f} not below "
                        f"{BARS['reprojection_ratio']}x independent {ind['reprojection_mse']:.4f}")
    return "; ".join(problems)


def _parse(argv: list[str]) -> argparse.Namespace:
    d = OrbitConfig()
    p = argparse.ArgumentParser(prog="labkit train orbit", description=__doc__.splitlines()[0])
    for name, value in asdict(d).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--out", type=Path, default=OUTPUTS_DIR / "models" / "tiny-orbit",
                   help="checkpoint folder (default outputs/models/tiny-orbit; trial runs stay out of data/)")
    p.add_argument("--eval", type=int, default=0, help="held-out test objects to evaluate after training")
    p.add_argument("--eval-steps", type=int, default=10, help="sampler steps in the evaluation")
    p.add_argument("--ship", type=Path, default=None,
                   help="ship into this data/models/ folder, only if --eval meets the issue's bars")
    p.add_argument("--ship-below-bars", action="store_true",
                   help="with --ship and --eval: ship even if the bars are missed, recording which ones in "
                        "PROVENANCE.json (bars_met false, bars_problem) so every reader can say so")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``labkit train orbit [--steps N --batch B ... --out DIR --eval N --ship DIR --threads T]``."""
    from .train import ship_checked

    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    cfg = OrbitConfig(**{k: getattr(args, k) for k in asdict(OrbitConfig())})
    t0 = time.perf_counter()
    result = train(cfg, args.out)
    seconds = time.perf_counter() - t0
    summary = {"steps": cfg.steps, "train_seconds": round(seconds, 1),
               "final_loss_mean_last_100": float(np.mean(result.losses[-100:]))}
    if args.eval:
        t1 = time.perf_counter()
        report = evaluate(result.model, cfg, args.eval, args.eval_steps)
        summary["eval"] = {"num": report["num"], "steps": report["steps"], "table": report["table"],
                           "paired": report["paired"], "seconds": round(time.perf_counter() - t1, 1)}
    print(json.dumps(summary, indent=1), flush=True)
    command = ("labkit train orbit " + " ".join(argv)).strip()
    if Path(args.out).is_dir():
        from .provenance import write_run_record

        write_run_record(args.out, command, cfg.seed, time.perf_counter() - t0)
    if args.ship:
        problem = bars_problem(summary["eval"]) if args.eval else "no evaluation (--eval N)"
        return ship_checked(args.out, args.ship, problem, bool(args.ship_below_bars and args.eval), command,
                            cfg.seed, time.perf_counter() - t0, summary, ignore=("RUN.json",))
    return 0
