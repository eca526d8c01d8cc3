"""Training the tiny text-to-video / image-to-video model of :mod:`labkit.models.cogvideox` (``labkit train t2v|i2v``).

Taught in ``04_train_tiny_video_model``.

**Objective: v-prediction with CogVideoX's own scheduler.** The pipelines sample with ``CogVideoXDDIMScheduler``
(or ``CogVideoXDPMScheduler``) configured with ``prediction_type="v_prediction"`` and zero-terminal-SNR betas, as
CogVideoX-2b/5b do. So training draws ``t ~ U{0..999}``, noise ``eps``, and uses *the same scheduler object*:

    x_t    = scheduler.add_noise(x0, eps, t)      = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    target = scheduler.get_velocity(x0, eps, t)   = sqrt(abar_t) eps - sqrt(1 - abar_t) x0
    loss   = || transformer(x_t, t, T5(caption)) - target ||^2

Why this and not flow matching: it is exactly what the real CogVideoX checkpoints were trained with, so the
shipped folder is a genuine ``CogVideoXPipeline`` whose ``__call__``/scheduler need no change; and with zero
terminal SNR, ``abar_999 = 0``, so the pure noise the sampler starts from is exactly what training saw at
``t = 999`` (v is well defined there: ``v = -x0``, while eps-prediction would be). Because ``x_t`` and the target
come from the scheduler the pipeline samples with, a denoiser that predicts v exactly recovers ``x0`` through the
pipeline's own loop (``tests/training/test_t2v.py`` checks both facts).

The rest of the recipe:

- **latent cache**: clips are encoded once with the 3D VAE; the posterior mean and std (of the clip and of its
  first frame alone, as the image-to-video pipeline encodes it) go to a safetensors file under
  ``outputs/cache/t2v/``. The clean latents are ``mean * scaling_factor`` by default (``posterior="sample"``:
  ``(mean + std * n) * scaling_factor`` as CogVideoX trains): the course VAEs are trained to decode means, and a
  VAE with a large posterior std would bury the clip's signal in a sample's noise. The image-to-video
  conditioning is always a posterior *sample*, because that is what the pipeline feeds;
- **classifier-free-guidance dropout**: a caption is replaced by ``""`` with probability ``cfg_dropout`` --
  ``""`` is exactly the pipelines' default negative prompt, i.e. the unconditional branch at sampling time
  (image-to-video keeps the image latents in both branches, as the pipeline does);
- **timesteps**: uniform on ``0..999`` as CogVideoX (default), or ``t_sampling="logit-normal"`` (SD3's density,
  Esser et al. 2024: more steps at mid noise, where the object's shape is decided). Either way each ``t`` keeps
  its target; only how often it is trained changes;
- **twins** (off by default): ``twins=True`` pairs each clip in a batch with its twin -- the same seed, path and
  noise, another shape (:func:`labkit.data.shapes.twin_caption`) -- so the loss sees the shape word's effect
  directly;
- :func:`labkit.training.loop.fit`: AdamW, warm-up + cosine LR, EMA (shipped weights), progress bar, loss history;
- **checkpoints** (the EMA weights) through ``CogVideoXPipeline.save_pretrained`` (tokenizer included), plus a
  ``training_state/`` folder (raw weights, EMA, AdamW state, losses; safetensors + JSON) for **resume**. Every
  random draw of step ``s`` comes from a generator seeded by ``(seed, s)``, so a resumed run is identical to an
  uninterrupted one;
- **decoder fine-tuning** (``--decoder-steps``, :func:`finetune_decoder`): after training, the VAE decoder learns to
  draw clips from the model's own samples, the encoder (so the latent code) frozen.

What each recipe choice measured is in ``docs/models.md`` (tiny-t2v, tiny-i2v).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from diffusers import DiffusionPipeline
from IPython.display import display
from safetensors import safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
from tqdm.auto import tqdm

from labkit import OUTPUTS_DIR
from labkit.checks import VOCABULARY, check_args, check_choice, check_number
from labkit.data.shapes import WORLD, WORLDS, ShapesWorld, check_world, make_clip, twin_caption
from labkit.data.splits import clip_seed
from labkit.evaluation.t2v import bars_problem, evaluate_i2v, evaluate_t2v
from labkit.models.cogvideox import (
    COURSE_VAE_DIR,
    NUM_FRAMES,
    SIZE,
    SIZES,
    Denoiser,
    _check_ddim,
    as_pipeline,
    cogvideox_scheduler,
    default_vae,
    init_from_t2v,
    new_denoiser,
    sample_from,
    save_pipeline,
    vae_scale,
    vae_spatial_factor,
)
from labkit.models.text import shapes_tokenizer, tokenize
from labkit.models.vae import encode_posterior, load_vae
from labkit.training.cli import _T2V_RULES, TrainedRun
from labkit.training.loop import TrainConfig, fit
from labkit.training.vae import encoder_parameters, reconstruction_loss

__all__ = ["CACHE_DIR", "T_SAMPLINGS", "LatentCache", "build_cache", "v_training_pair", "TrainT2VConfig", "train",
           "finetune_decoder", "LiveLossPlot", "add_arguments", "run", "check_arguments"]


CACHE_DIR = OUTPUTS_DIR / "cache" / "t2v"


#: Training-timestep densities of ``TrainT2VConfig.t_sampling`` (see the module docstring).
T_SAMPLINGS = ("uniform", "logit-normal")


# ------------------------------------------------------------------------------------------------ latent cache
@dataclass
class LatentCache:
    """Posterior statistics of ``N`` encoded clips (unscaled VAE latents, course layout)."""

    mean: torch.Tensor  # (N, F', C, h, w)
    std: torch.Tensor  # (N, F', C, h, w)
    first_mean: torch.Tensor  # (N, 1, C, h, w): the first frame encoded alone (as the I2V pipeline does)
    first_std: torch.Tensor
    captions: list[str]
    twin: torch.Tensor | None = None  # (N,): clip i's twin -- the same seed and words but the shape -- or None

    def __len__(self) -> int:
        return len(self.captions)


def _vae_fingerprint(vae) -> str:
    h = hashlib.sha256(json.dumps(dict(vae.config), sort_keys=True, default=str).encode())
    for name, tensor in sorted(vae.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().numpy().tobytes())
    return h.hexdigest()[:16]


def build_cache(vae, num_clips: int = 1024, seed: int = 0, batch: int = 8, cache_dir: Path | None = CACHE_DIR,
                progress: bool = True, twins: bool = False, world: str = WORLD,
                two_objects: float = 0.0) -> LatentCache:
    """Encode ``num_clips`` training clips (``ShapesWorld("train", seed=seed, world=world)``, speed words on, a
    second object with probability ``two_objects``).

    ``twins``: also encode each clip's twin (:func:`twin_caption`, the same seed), as clips ``num_clips + i``,
    with ``cache.twin`` pairing them both ways. Loaded from ``cache_dir`` when a file for the same VAE
    weights and clips exists; ``cache_dir=None`` never touches the disk.
    """

    check_args(num_clips=num_clips, seed=seed, batch=batch, two_objects=two_objects)
    if twins and two_objects:
        raise ValueError(f"twins pairs one-object clips: expected two_objects 0 with twins, got {two_objects}")
    geometry = world
    world = ShapesWorld("train", length=num_clips, num_frames=NUM_FRAMES, size=SIZE, seed=seed, world=geometry,
                        two_objects=two_objects)
    captions = [world.caption(i) for i in range(num_clips)]
    twin = None
    if twins:
        captions += [twin_caption(c, i) for i, c in enumerate(captions)]
        twin = torch.cat([torch.arange(num_clips) + num_clips, torch.arange(num_clips)])

    def clip(i: int) -> torch.Tensor:  # = world[i] for i < num_clips; twin i + num_clips: clip i's seed
        return make_clip(captions[i], clip_seed("train", i % num_clips, seed), NUM_FRAMES, SIZE, geometry)[0]

    path = None
    if cache_dir is not None:
        shape = hashlib.sha256(repr(check_world(geometry)).encode()).hexdigest()[:8]  # its sizes and speeds
        variant = ("-twins" if twins else "") + ("" if geometry == "v1" else f"-{geometry}-{shape}")
        variant += f"-two{two_objects:g}" if two_objects else ""
        name = f"vae-{_vae_fingerprint(vae)}-train{seed}-n{num_clips}{variant}.safetensors"
        path = Path(cache_dir) / name
        if path.exists():
            t = load_file(path)
            return LatentCache(t["mean"], t["std"], t["first_mean"], t["first_std"], captions, twin)
    parts = {k: [] for k in ("mean", "std", "first_mean", "first_std")}
    for start in tqdm(range(0, len(captions), batch), desc="encode clips", disable=not progress, leave=False):
        videos = torch.stack([clip(i) for i in range(start, min(start + batch, len(captions)))])
        for prefix, x in (("", videos), ("first_", videos[:, :1])):
            mean, std = encode_posterior(vae, x)
            parts[prefix + "mean"].append(mean)
            parts[prefix + "std"].append(std)
    tensors = {k: torch.cat(v).contiguous() for k, v in parts.items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, tmp)
        tmp.replace(path)  # atomic: a killed run leaves no half-written cache
    return LatentCache(**tensors, captions=captions, twin=twin)


# ------------------------------------------------------------------------------------------------ objective
def v_training_pair(scheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
    """``(x_t, v target)`` from the scheduler the pipeline samples with (see the module docstring)."""
    return scheduler.add_noise(x0, noise, t), scheduler.get_velocity(x0, noise, t)


@dataclass
class TrainT2VConfig:
    kind: str = "t2v"  # "t2v" or "i2v"
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 100
    ema_decay: float = 0.999
    cfg_dropout: float = 0.1
    num_clips: int = 1024
    seed: int = 0
    checkpoint_every: int = 500
    posterior: str = "mean"  # clean latents x0: the VAE posterior "mean" or a "sample" (CogVideoX samples)
    width: int = SIZES["width"]
    layers: int = SIZES["layers"]
    text_width: int = SIZES["text_width"]
    pos_scale: float = SIZES["pos_scale"]
    patch_size: int = SIZES["patch_size"]
    t_sampling: str = "uniform"  # training timesteps: "uniform" (CogVideoX) or "logit-normal" (SD3: more mid-noise)
    logit_mean: float = 0.0  # logit-normal only: t / 1000 = sigmoid(N(logit_mean, logit_std^2)); < 0: less noise
    logit_std: float = 1.0
    twins: bool = False  # batches of twin clips (same path, other shape) sharing t and noise: a shape contrast
    world: str = WORLD  # the Shapes-world geometry of the training clips
    two_objects: float = 0.0  # fraction of training clips with a second object

    def __post_init__(self):  # every field before any cache or model is built (labkit.checks)
        check_choice(self.kind, "kind", ("t2v", "i2v"))
        check_choice(self.posterior, "posterior", ("mean", "sample"))
        check_choice(self.t_sampling, "t_sampling", T_SAMPLINGS)
        check_world(self.world)
        rules = {**VOCABULARY, **_T2V_RULES}
        for name, value in asdict(self).items():
            if name in rules:
                check_number(value, name, rules[name])
        if self.twins and (self.two_objects or self.batch % 2):
            raise ValueError(f"twins: expected an even batch and two_objects 0, got batch {self.batch} and "
                             f"two_objects {self.two_objects}")


def _batch(cache: LatentCache, ids: torch.Tensor, empty: torch.Tensor, scale: float, cfg: TrainT2VConfig,
           step: int) -> dict:
    """Everything random about step ``step``, from a generator seeded by ``(seed, step)``."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    if cfg.twins:  # half the batch, then their twins: row i and row i + batch/2 share t and noise
        half = torch.randint(len(cache), (cfg.batch // 2,), generator=g)
        idx = torch.cat([half, cache.twin[half]])
    else:
        idx = torch.randint(len(cache), (cfg.batch,), generator=g)
    draw = torch.randn(cache.mean[idx].shape, generator=g)  # drawn either way: same stream for both settings
    x0 = (cache.mean[idx] + (cache.std[idx] * draw if cfg.posterior == "sample" else 0)) * scale
    drop = torch.rand(cfg.batch, generator=g) < cfg.cfg_dropout
    if cfg.t_sampling == "uniform":
        t = torch.randint(0, 1000, (cfg.batch,), generator=g)
    else:  # logit-normal on t / 1000 (Esser et al. 2024, SD3): dense around sigmoid(logit_mean), thin at both ends
        z = cfg.logit_mean + cfg.logit_std * torch.randn(cfg.batch, generator=g)
        t = (torch.sigmoid(z) * 1000).long().clamp(0, 999)
    noise = torch.randn(x0.shape, generator=g)
    if cfg.twins:
        h = cfg.batch // 2
        t, noise = torch.cat([t[:h], t[:h]]), torch.cat([noise[:h], noise[:h]])
    out = {"x0": x0, "ids": torch.where(drop[:, None], empty, ids[idx]), "t": t, "noise": noise}
    if cfg.kind == "i2v":  # first frame latents, then zeros, as CogVideoXImageToVideoPipeline.prepare_latents
        first = cache.first_mean[idx] + cache.first_std[idx] * torch.randn(cache.first_mean[idx].shape, generator=g)
        out["image_latents"] = torch.cat([first * scale, torch.zeros_like(x0[:, 1:])], dim=1)
    return out


def _save_state(folder: Path, raw: Denoiser, ema: Denoiser, optimizer, step: int, losses: list[float],
                cfg: TrainT2VConfig) -> None:

    folder.mkdir(parents=True, exist_ok=True)
    save_model(raw, str(folder / "raw.safetensors"))  # save_model handles T5's tied embeddings
    save_model(ema, str(folder / "ema.safetensors"))
    sd = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.contiguous() for i, st in sd["state"].items() for k, v in st.items()}
    save_file(tensors, folder / "optimizer.safetensors", metadata={"param_groups": json.dumps(sd["param_groups"])})
    (folder / "state.json").write_text(json.dumps({"step": step, "losses": losses[:step],
                                                   "config": asdict(cfg)}, indent=1))


def _load_state(folder: Path, raw: Denoiser, cfg: TrainT2VConfig) -> dict:
    """Restore raw weights into ``raw``; returns :func:`labkit.training.loop.fit`'s ``resume_from``."""

    state = json.loads((folder / "state.json").read_text())
    saved = {k: v for k, v in state["config"].items() if k not in ("steps", "checkpoint_every")}
    wanted = {k: v for k, v in asdict(cfg).items() if k in saved}
    if saved != wanted:
        diff = {k: (saved[k], wanted[k]) for k in saved if saved[k] != wanted[k]}
        raise ValueError(f"cannot resume from {folder}: its settings differ (saved, given): {diff}")
    load_model(raw, str(folder / "raw.safetensors"))
    ema = copy.deepcopy(raw)
    load_model(ema, str(folder / "ema.safetensors"))
    tensors = load_file(folder / "optimizer.safetensors")
    with safe_open(folder / "optimizer.safetensors", "pt") as f:
        groups = json.loads(f.metadata()["param_groups"])
    opt_state = {}
    for key, value in tensors.items():
        i, name = key.split(".", 1)
        opt_state.setdefault(int(i), {})[name] = value
    return {"optimizer": {"state": opt_state, "param_groups": groups}, "step": state["step"],
            "losses": state["losses"], "ema": ema.state_dict()}


# ------------------------------------------------------------------------------------------------ training
def train(cfg: TrainT2VConfig, vae=None, out: Path | None = None, resume: Path | None = None,
          cache: LatentCache | None = None, on_log=None, progress: bool = True, on_checkpoint=None,
          init_from=None):
    """Train a denoiser; returns :class:`labkit.training.loop.TrainResult` (``.model``: the EMA :class:`Denoiser`).

    ``out``: checkpoint folder (pipeline format + ``training_state/``), written every ``checkpoint_every``
    steps and at the end; ``resume``: such a folder to continue from (same settings, more or equal steps).
    ``on_checkpoint(ema_model, step)`` is called at each checkpoint (e.g. to measure adherence on the way).
    ``init_from``: a text-to-video pipeline or folder to start from (i2v: :func:`init_from_t2v`; t2v: its
    weights as they are, a fine-tune with a fresh optimizer and LR schedule).
    """

    if cfg.kind not in ("t2v", "i2v"):
        raise ValueError(f"expected kind 't2v' or 'i2v', got {cfg.kind!r}")
    if cfg.posterior not in ("mean", "sample"):
        raise ValueError(f"expected posterior 'mean' or 'sample', got {cfg.posterior!r}")
    if cfg.t_sampling not in T_SAMPLINGS:
        raise ValueError(f"expected t_sampling in {T_SAMPLINGS}, got {cfg.t_sampling!r}")
    if not cfg.logit_std > 0:
        raise ValueError(f"expected logit_std > 0, got {cfg.logit_std}")
    if cfg.twins and cfg.batch % 2:
        raise ValueError(f"twins pairs each clip with its twin: expected an even batch, got {cfg.batch}")
    if cfg.twins and cache is not None and cache.twin is None:
        raise ValueError("twins needs a cache built with build_cache(..., twins=True); this one has no twins")
    if not 0.0 <= cfg.cfg_dropout < 1.0:
        raise ValueError(f"expected cfg_dropout in [0, 1), got {cfg.cfg_dropout}")
    vae = vae if vae is not None else default_vae()
    scale, scheduler = vae_scale(vae), cogvideox_scheduler()
    cache = cache if cache is not None else build_cache(vae, cfg.num_clips, cfg.seed, progress=progress,
                                                        twins=cfg.twins, world=cfg.world,
                                                        two_objects=cfg.two_objects)
    tokenizer = shapes_tokenizer()
    ids, empty = tokenize(tokenizer, cache.captions), tokenize(tokenizer, [""])
    model = new_denoiser(cfg.kind, vae.config.latent_channels, cfg.seed, width=cfg.width, layers=cfg.layers,
                         text_width=cfg.text_width, pos_scale=cfg.pos_scale, patch_size=cfg.patch_size,
                         spatial_factor=vae_spatial_factor(vae))
    if init_from is not None and not resume:
        if isinstance(init_from, (str, Path)):

            init_from = DiffusionPipeline.from_pretrained(init_from)
        if cfg.kind == "i2v":
            init_from_t2v(model, Denoiser(init_from.text_encoder, init_from.transformer))
        else:  # fine-tune: start from its weights (the sizes must match), with a fresh optimizer and LR schedule
            model.load_state_dict(Denoiser(init_from.text_encoder, init_from.transformer).state_dict())
    resume_from = _load_state(Path(resume) / "training_state", model, cfg) if resume else None
    losses = list(resume_from["losses"]) if resume_from else []

    def loss_fn(m, _unused, step):
        b = _batch(cache, ids, empty, scale, cfg, step)
        noisy, target = v_training_pair(scheduler, b["x0"], b["noise"], b["t"])
        loss = torch.nn.functional.mse_loss(m(noisy, b["t"], b["ids"], b.get("image_latents")), target)
        del losses[step:]
        losses.append(float(loss.detach()))
        return loss

    def checkpoint(ema_model, step, optimizer):
        if on_checkpoint is not None:
            on_checkpoint(ema_model, step)
        if out is None:
            return
        save_pipeline(ema_model, vae, cfg.kind, Path(out))
        _save_state(Path(out) / "training_state", model, ema_model, optimizer, step, losses, cfg)

    config = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup=cfg.warmup, ema_decay=cfg.ema_decay, seed=cfg.seed,
                         checkpoint_every=cfg.checkpoint_every, log_every=10, progress=progress)
    return fit(model, itertools.repeat(None), loss_fn, config, resume_from=resume_from, on_log=on_log,
               checkpoint=checkpoint)


# ------------------------------------------------------------------------------------------------ decoder
def finetune_decoder(pipe, steps: int = 450, batch: int = 4, lr: float = 5e-4, t_max: int = 400,
                     guidance_scale: float = 4.0, sampler_steps: int = 25, seed: int = 0, progress: bool = True,
                     pool: int = 100_000):
    """Fine-tune ``pipe.vae``'s decoder, in place, on what ``pipe``'s own sampler makes of training clips.

    A denoiser's finished latents are never exactly a clip's code: they are a little off in ways that the
    decoder, trained only on true codes, draws as blur -- which rounds a square's corners below the detector's
    threshold even when the word moved the latents most of the way (:func:`shape_word_in_sampling`). Each step:
    ``batch`` one-object training clips (``ShapesWorld("train")``, ``pool`` of them, drawn with ``seed``) are
    encoded, sampled back from a random sampler timestep <= ``t_max`` with their captions (:func:`sample_from`,
    ``sampler_steps``, ``guidance_scale``: as the pipeline generates), and the decoder alone is trained to draw
    the *clip* from that (L1 + MSE). The encoder, so the latent code the transformer learned, is untouched. Cf.
    decoders fine-tuned on a diffusion model's own outputs. Returns :func:`labkit.training.loop.fit`'s result.
    """

    _check_ddim(pipe)
    if t_max < 1 or steps < 1 or batch < 1:
        raise ValueError(f"expected steps, batch and t_max >= 1, got {steps}, {batch}, {t_max}")
    vae, scale = pipe.vae, vae_scale(pipe.vae)
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(sampler_steps)
    starts = [int(t) for t in scheduler.timesteps if t <= t_max]
    if not starts:
        raise ValueError(f"expected t_max >= the last sampler timestep {int(scheduler.timesteps[-1])}, got {t_max}")
    world = ShapesWorld("train", length=pool, num_frames=NUM_FRAMES, size=SIZE)
    gen = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            clips = [world[i] for i in torch.randint(0, pool, (batch,), generator=gen).tolist()]
            yield torch.stack([c.video for c in clips]), tokenize(pipe.tokenizer, [c.caption for c in clips])

    def loss_fn(m, b, step):
        videos, ids = b
        with torch.no_grad():
            x0 = encode_posterior(m, videos)[0] * scale
            start = starts[int(torch.randint(0, len(starts), (1,), generator=gen))]
            z = sample_from(pipe, x0, ids, start, torch.randn(x0.shape, generator=gen), sampler_steps,
                            guidance_scale)
        recon = m.decode((z / scale).permute(0, 2, 1, 3, 4)).sample  # (B, 3, F, H, W) in [-1, 1]
        target = (videos * 2 - 1).permute(0, 2, 1, 3, 4)
        return reconstruction_loss(recon, target)

    frozen = encoder_parameters(vae)
    for q in frozen:
        q.requires_grad_(False)
    try:
        config = TrainConfig(steps=steps, lr=lr, warmup=min(20, steps // 5), seed=seed, progress=progress)
        result = fit(vae, batches(), loss_fn, config)
    finally:
        for q in frozen:
            q.requires_grad_(True)
        vae.eval()
    return result


class LiveLossPlot:
    """``on_log`` callback for ``train``: redraws the loss curve (and its running mean) in one notebook output."""

    def __init__(self, every: int = 10):

        self.handle, self.every = display(None, display_id=True), every

    def __call__(self, step: int, losses: list[float]) -> None:

        if step % self.every:
            return
        fig, ax = plt.subplots(figsize=(5, 2.5))
        ax.plot(losses, lw=0.6, alpha=0.5, label="loss")
        k = min(25, len(losses))
        ax.plot(range(k - 1, len(losses)), np.convolve(losses, np.ones(k) / k, "valid"), label=f"mean of {k}")
        ax.set(xlabel="step", ylabel="v-prediction MSE", yscale="log")
        ax.legend()
        self.handle.update(fig)
        plt.close(fig)


def _replace_folder(folder: Path, write) -> None:
    """``write(tmp)`` into a sibling temporary folder, then swap it in for ``folder`` (no half-written folder)."""

    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        write(tmp)
        old = folder.with_name(f".{folder.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_arguments(parser, kind: str) -> None:
    """``labkit train t2v|i2v``: the recipe's own flags (the shell adds the common ones)."""
    d = TrainT2VConfig(kind=kind)
    for name in ("batch", "lr", "warmup", "ema_decay", "cfg_dropout", "num_clips", "checkpoint_every", "width",
                 "layers", "text_width", "pos_scale", "patch_size", "two_objects"):
        parser.add_argument("--" + name.replace("_", "-"), type=type(getattr(d, name)), default=getattr(d, name))
    parser.set_defaults(steps=d.steps)
    parser.add_argument("--t-sampling", choices=T_SAMPLINGS, default=d.t_sampling,
                        help="training timesteps: uniform (CogVideoX, default) or logit-normal (SD3: denser mid-noise)")
    parser.add_argument("--logit-mean", type=float, default=d.logit_mean,
                        help="logit-normal only: centre of logit(t/1000); negative trains more at low noise")
    parser.add_argument("--logit-std", type=float, default=d.logit_std, help="logit-normal only: its spread")
    parser.add_argument("--world", choices=sorted(WORLDS), default=d.world, help="the Shapes-world geometry")
    parser.add_argument("--posterior", choices=["mean", "sample"], default=d.posterior,
                        help="clean latents: the VAE posterior mean (default) or a sample (CogVideoX's recipe)")
    parser.add_argument("--eval", type=int, default=0,
                        help="held-out clips to evaluate after training (84 = all; --ship needs all)")
    parser.add_argument("--twins", action="store_true",
                        help="batches of twin clips (the same path, another shape) sharing t and noise")
    parser.add_argument("--curve-clips", type=int, default=0,
                        help="t2v: held-out clips (10 sampler steps) scored at every checkpoint, for a learning curve")
    parser.add_argument("--vae", type=Path, default=None,
                        help="a 3D VAE folder (default: the course's, labkit.models.vae.COURSE_VAES['3d'])")
    parser.add_argument("--decoder-steps", type=int, default=0,
                        help="t2v: after training, fine-tune the VAE decoder on the model's own samples for this "
                             "many steps (finetune_decoder; the encoder and its code unchanged) and save it in --out")
    parser.add_argument("--decoder-t-max", type=int, default=400,
                        help="--decoder-steps: the samples start from training clips noised to a timestep <= this")
    parser.add_argument("--decoder-lr", type=float, default=5e-4, help="--decoder-steps: learning rate")


def check_arguments(args) -> None:
    if args.decoder_steps and args.trainer != "t2v":
        raise ValueError("--decoder-steps fine-tunes a text-to-video model's decoder (labkit train t2v)")
    if args.vae is not None and not Path(args.vae).is_dir():
        raise ValueError(f"--vae: expected a VAE folder, got {args.vae}")


def run(args) -> TrainedRun:
    """Train the tiny t2v (or i2v) pipeline into ``args.out``; ``--eval 84`` measures it against the bars."""
    kind = args.trainer
    cfg = TrainT2VConfig(kind=kind, **{k: getattr(args, k) for k in asdict(TrainT2VConfig()) if k != "kind"})
    t0 = time.perf_counter()
    vae = load_vae(args.vae) if args.vae is not None else default_vae()
    curve = []

    def measure(model, step):  # adherence on the way: a few held-out clips, fewer sampler steps
        if args.curve_clips and cfg.kind == "t2v" and not (curve and curve[-1]["step"] == step):  # fit saves
            # the last step twice when it is also a checkpoint step
            r = evaluate_t2v(as_pipeline(model, vae, "t2v"), args.curve_clips, steps=10, progress=False,
                             world=cfg.world)
            curve.append({"step": step, "bar": r["bar"], **{a: r[a] for a in ("color", "shape", "direction")},
                          "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(curve[-1]), flush=True)

    result = train(cfg, vae=vae, out=args.out, resume=args.resume, on_checkpoint=measure,
                   init_from=args.init_from)
    summary = {"kind": kind, "steps": cfg.steps, "seconds": round(time.perf_counter() - t0, 1),
               "final_loss_mean_last_100": sum(result.losses[-100:]) / max(1, len(result.losses[-100:]))}
    if curve:
        summary["adherence_curve"] = curve
    if args.decoder_steps:
        pipe = DiffusionPipeline.from_pretrained(args.out)
        tuned = finetune_decoder(pipe, steps=args.decoder_steps, t_max=args.decoder_t_max, lr=args.decoder_lr,
                                 seed=cfg.seed)
        _replace_folder(Path(args.out) / "vae", pipe.vae.save_pretrained)
        last = tuned.losses[-50:]
        summary["decoder"] = {"steps": tuned.steps, "t_max": args.decoder_t_max, "lr": args.decoder_lr,
                              "seconds": round(tuned.seconds, 1), "final_loss": sum(last) / len(last)}
        summary["seconds"] = round(time.perf_counter() - t0, 1)
    if args.eval:
        pipe = DiffusionPipeline.from_pretrained(args.out)
        pipe.set_progress_bar_config(disable=True)
        t1 = time.perf_counter()
        report = (evaluate_t2v if kind == "t2v" else evaluate_i2v)(pipe, args.eval, world=cfg.world)
        summary["eval"] = {k: v for k, v in report.items() if k not in ("results", "videos", "captions")}
        summary["eval"]["seconds"] = round(time.perf_counter() - t1, 1)
    full_eval = summary.get("eval", {}).get("n", 0) >= 84
    return TrainedRun(summary, bars_problem(kind, summary.get("eval")), below_bars_allowed=full_eval,
                      builds_on=[args.vae or COURSE_VAE_DIR, args.init_from, args.resume])
