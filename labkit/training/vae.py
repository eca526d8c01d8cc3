"""``labkit train vae --kind 2d|3d``: train the tiny Shapes-world VAEs of ``01_latent_compression``.

Taught in ``01_latent_compression`` (the 3D VAE's latent space is the one ``04_train_tiny_video_model`` denoises);
the VAEs themselves and ``encode`` / ``decode`` are in :mod:`labkit.models.vae`.

Both VAEs see the same clips (17x64x64, ``ShapesWorld("train", two_objects=0.5)``, seeds disjoint from the
held-out test clips) and the same loss, ``L1 + MSE + kl_weight * KL`` in the VAE's ``[-1, 1]`` space:

- ``--kind 3d``: ``AutoencoderKLCogVideoX``, 16 latent channels -> latent ``(5, 16, 8, 8)`` per clip;
- ``--kind 2d``: ``AutoencoderKL`` per frame, 5 latent channels -> latent ``(17, 5, 8, 8)`` per clip,
  the nearest whole channel count to the 3D VAE's compression ratio (38.4 vs 40.8 on 17x64x64 clips).

After training the latent scale is measured (``scaling_factor = 1 / std`` of training latents, as for SD) and
written into the config, so ``labkit.models.vae.encode`` returns roughly unit-variance latents for diffusion.

The stages and options of :func:`train_vae` (each flag of ``labkit train vae``):

- ``image_steps``: a first stage on single frames (a causal 3D VAE codes frame 0 alone, so it is an image VAE for
  one frame), then the clip stage on crops (``crops="random"`` or ``"object"``: windows around an object, where
  the error is; :func:`clip_batches`) and finally whole clips (``full_steps``);
- ``posterior_std``: the never-trained posterior variance fixed small (:func:`fix_posterior_std`), so
  ``latent_dist.sample()`` equals the mean;
- ``init_from`` with ``standardize``: continue from a VAE folder, first making every latent channel zero-mean and
  unit-std inside the weights (:func:`standardize_latents`), as the CogVideoX pipelines only multiply by
  ``scaling_factor``;
- ``latent_noise``: the clip stage decodes slightly wrong latents (:func:`vae_loss`), as a denoiser's are;
- ``code_consistency``: square/circle twin crops (:func:`twin_batches`) trained so that the square-minus-circle code
  is one pattern wherever the object sits (:func:`labkit.evaluation.vae.code_consistency_loss`);
- ``decoder_only``: the encoder, so the code, frozen (:func:`encoder_parameters`); the decoder trained alone.

How each shipped VAE was made, with its figures: ``docs/models.md``.
"""

from __future__ import annotations

import math
import shutil

import torch
from tqdm.auto import tqdm

from labkit.data.shapes import WORLD, WORLDS, ShapesWorld, make_clip, parse_caption, twin_caption
from labkit.data.splits import clip_seed
from labkit.evaluation.vae import code_consistency_loss
from labkit.models.vae import _BLOCKS, is_3d, load_vae, tiny_vae_2d, tiny_vae_3d, to_vae_layout
from labkit.training.cli import TrainedRun
from labkit.training.loop import TrainConfig, TrainResult, fit, seed_everything

__all__ = ["DEFAULTS", "CROP", "KL_WEIGHT", "build_vae", "clip_batches", "reconstruction_loss", "vae_loss",
           "twin_batches", "encoder_parameters", "fix_posterior_std", "standardize_latents",
           "measure_scaling_factor", "train_vae", "add_arguments", "run", "check_arguments"]


#: Per kind: latent channels, steps, batch size (clips), learning rate, and the last ``full_steps`` steps that see
#: whole 64x64 clips (before them the fully convolutional VAE trains on random 32x32 crops: 4x cheaper on a CPU).
DEFAULTS = {
    "3d": {"latent_channels": 16, "steps": 700, "full_steps": 250, "batch": 2, "lr": 2e-3},
    "2d": {"latent_channels": 5, "steps": 1000, "full_steps": 120, "batch": 2, "lr": 2e-3},
}


CROP = 32  # training crop size in pixels (a multiple of the 8x spatial factor)


KL_WEIGHT = 1e-6  # small: a nearly deterministic autoencoder, with a KL term that keeps the latent bounded


def build_vae(kind: str, seed: int = 0, latent_channels: int | None = None, layers_per_block: int = 1,
              spatial_factor: int = 8):
    """The untrained tiny VAE of ``kind`` (``"2d"`` or ``"3d"``) with ``layers_per_block`` resnets per block.

    ``spatial_factor``: 8 (four blocks, as Stable Diffusion's and CogVideoX's VAEs) or 4 (the last block
    dropped: 16 x 16 latents for 64 x 64 frames; a 3D VAE keeps its 4x temporal factor).
    """

    if spatial_factor not in (4, 8):
        raise ValueError(f"expected spatial_factor 4 or 8, got {spatial_factor!r}")
    if kind not in DEFAULTS:
        raise ValueError(f"expected kind '2d' or '3d', got {kind!r}")
    if not isinstance(layers_per_block, int) or layers_per_block < 1:
        raise ValueError(f"expected layers_per_block an int >= 1, got {layers_per_block!r}")
    channels = latent_channels or DEFAULTS[kind]["latent_channels"]
    blocks = _BLOCKS if spatial_factor == 8 else _BLOCKS[:3]
    return (tiny_vae_3d if kind == "3d" else tiny_vae_2d)(latent_channels=channels, seed=seed,
                                                          layers_per_block=layers_per_block,
                                                          block_out_channels=blocks)


def clip_batches(batch: int, seed: int = 0, num_frames: int = 17, size: int = 64, pool: int = 100_000,
                 crop: int | None = None, crop_steps: int = 0, crops: str = "random", jitter: int = 6,
                 world: str = WORLD):
    """Endless batches ``(B, F, 3, H, W)`` of training clips, drawn with a seeded generator (reproducible).

    The first ``crop_steps`` batches are ``crop x crop`` windows of the clips, the rest whole clips. ``crops``:
    ``"random"`` (one random window per batch) or ``"object"`` (per clip, a window centred on the mean position
    of one of its objects, +-``jitter`` pixels: the objects are a few percent of the pixels but nearly all of
    the reconstruction error, so object windows put the training signal where the error is).
    """

    if crops not in ("random", "object"):
        raise ValueError(f"expected crops 'random' or 'object', got {crops!r}")
    world = ShapesWorld("train", length=pool, num_frames=num_frames, size=size, two_objects=0.5, world=world)
    gen = torch.Generator().manual_seed(seed)
    step = 0
    while True:
        idx = torch.randint(0, pool, (batch,), generator=gen).tolist()
        cropping = bool(crop) and step < crop_steps
        if cropping and crops == "object":
            videos = torch.stack([_object_window(world[i], crop, jitter, gen) for i in idx])
        else:
            videos = torch.stack([world[i].video for i in idx])
            if cropping:
                top, left = torch.randint(0, size - crop + 1, (2,), generator=gen).tolist()
                videos = videos[..., top:top + crop, left:left + crop]
        step += 1
        yield videos


def _object_window(clip, crop: int, jitter: int, gen: torch.Generator) -> torch.Tensor:
    """A ``crop x crop`` window of ``clip.video`` around the mean position of one of its objects."""
    objects = clip.truth.objects
    obj = objects[int(torch.randint(0, len(objects), (1,), generator=gen))]
    top, left = _window_around(obj.positions, crop, jitter, gen, clip.video.shape[-1])
    return clip.video[..., top:top + crop, left:left + crop]


def _window_around(positions, crop: int, jitter: int, gen: torch.Generator, size: int) -> tuple[int, int]:
    """``(top, left)`` of a ``crop x crop`` window centred on the mean of ``positions`` (x, y), +-``jitter``,
    kept inside a ``size x size`` frame."""
    cx, cy = (float(v) for v in positions.mean(0))
    dx, dy = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
    left = min(max(round(cx - crop / 2) + dx, 0), size - crop)
    top = min(max(round(cy - crop / 2) + dy, 0), size - crop)
    return top, left


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``L1 + MSE`` between a decoded clip and its target (both in [-1, 1]): what every decoder here trains on."""
    return (recon - target).abs().mean() + ((recon - target) ** 2).mean()


def vae_loss(model, video: torch.Tensor, generator: torch.Generator | None = None,
             latent_noise: float = 0.0, centres: torch.Tensor | None = None,
             code_consistency: float = 0.0) -> torch.Tensor:
    """``L1 + MSE`` of the reconstruction of the posterior mean, plus ``KL_WEIGHT * KL`` (mean per value).

    Decoding the mean (not a sample) makes these tiny VAEs nearly deterministic autoencoders, which is what the
    course uses them for (``labkit.models.vae.encode`` takes the mean) and what a CPU budget of minutes can train;
    the KL term keeps the latent bounded.

    ``latent_noise`` > 0: decode ``mean + s * sd_c * n`` instead, ``n ~ N(0, 1)`` from ``generator``, ``sd_c`` each
    latent channel's std in the batch (so scaling the latents up cannot outrun the noise) and ``s ~ U(0,
    latent_noise)`` per clip. A decoder that must draw sharp clips from slightly wrong latents, and an encoder
    that must code what matters (a square's corners) with a margin: a diffusion model's latents are never exact.

    ``code_consistency`` > 0 (``video`` and ``centres`` from :func:`twin_batches`): add that weight times
    :func:`code_consistency_loss` of the same latents -- an encoder that codes "square" as one pattern.
    """

    x = to_vae_layout(model, video * 2 - 1)
    posterior = model.encode(x).latent_dist
    z = posterior.mode()
    consistency = code_consistency_loss(model, video, centres, latents=z) if code_consistency else 0.0
    if latent_noise:
        sd = z.detach().transpose(0, 1).flatten(1).std(1).view(1, -1, *([1] * (z.ndim - 2)))
        s = torch.rand((len(z),) + (1,) * (z.ndim - 1), generator=generator) * latent_noise
        z = z + s * sd * torch.randn(z.shape, generator=generator)
    recon = model.decode(z).sample
    kl = posterior.kl().mean() / posterior.mean[0].numel()
    return reconstruction_loss(recon, x) + KL_WEIGHT * kl + code_consistency * consistency


def twin_batches(pairs: int, seed: int = 0, crop: int | None = CROP, jitter: int = 6, num_frames: int = 17,
                 size: int = 64, pool: int = 100_000):
    """Endless ``(videos, centres)`` of square/circle twins, for :func:`code_consistency_loss`.

    ``pairs`` one-object training clips whose object is a square or a circle, then their twins (the other shape,
    the same seed, size and path: :func:`labkit.data.shapes.twin_caption`): ``videos`` ``(2 pairs, F, 3, S, S)``,
    the square clips first; ``centres`` ``(pairs, F, 2)``: each object's centre (x, y) per frame in the window.
    ``crop``: a ``crop x crop`` window around the object (+-``jitter``), the same for both twins; None: whole clips.
    """

    world = ShapesWorld("train", length=pool, num_frames=num_frames, size=size)
    gen = torch.Generator().manual_seed(seed)
    while True:
        squares, circles, centres = [], [], []
        while len(squares) < pairs:
            i = int(torch.randint(0, pool, (1,), generator=gen))
            shape = parse_caption(world.caption(i))[0].shape
            if shape not in ("square", "circle"):
                continue
            clip = world[i]
            twin = make_clip(twin_caption(clip.caption, i), clip_seed("train", i, world.seed), num_frames, size)
            square, circle = (clip, twin) if shape == "square" else (twin, clip)
            positions = torch.as_tensor(square.truth.objects[0].positions, dtype=torch.float32)  # (F, 2) x, y
            a, b = square.video, circle.video
            if crop:
                top, left = _window_around(positions, crop, jitter, gen, size)
                a, b = (v[..., top:top + crop, left:left + crop] for v in (a, b))
                positions = positions - torch.tensor([left, top], dtype=torch.float32)
            squares.append(a)
            circles.append(b)
            centres.append(positions)
        yield torch.stack(squares + circles), torch.stack(centres)


def encoder_parameters(model) -> list[torch.nn.Parameter]:
    """The parameters that make a VAE's latent code (its encoder's and ``quant_conv``'s): what decoder-only
    training freezes."""
    return [q for name, q in model.named_parameters() if name.startswith(("encoder.", "quant_conv."))]


def _posterior_layer(model) -> torch.nn.Module:
    """The convolution whose output is the posterior's ``[mean, log-variance]`` channels: ``quant_conv`` if the VAE
    has one, else the encoder's ``conv_out`` (unwrapped: CogVideoX wraps its Conv3d in a causal-padding module)."""
    layer = model.quant_conv if getattr(model, "quant_conv", None) is not None else model.encoder.conv_out
    return getattr(layer, "conv", layer)


def _latents(model, batches, num_batches: int) -> list[torch.Tensor]:
    """Posterior-mean latents of ``num_batches`` batches of clips ``(B, F, 3, H, W)`` in ``[0, 1]``."""

    return [model.encode(to_vae_layout(model, next(batches) * 2 - 1)).latent_dist.mode() for _ in range(num_batches)]


@torch.no_grad()
def fix_posterior_std(model, std: float) -> None:
    """Make the posterior ``N(mean, std^2)`` with the same small ``std`` everywhere (the mean is unchanged).

    These VAEs decode the posterior *mean* in training and their KL weight is tiny, so the encoder's log-variance
    half is never trained for anything: it drifts to ``std ~ 1``, and then ``latent_dist.sample()`` -- which
    ``CogVideoXImageToVideoPipeline`` uses to encode its conditioning frame -- buries the image under noise.
    Setting the log-variance output (the second half of the last layer's channels: ``quant_conv`` if the VAE
    has one, else the encoder's ``conv_out``) to the constant ``log(std^2)`` makes every sample equal the mean to
    within ``std``: an honest near-deterministic autoencoder inside the KL-VAE class.
    """
    layer = _posterior_layer(model)
    half = layer.out_channels // 2
    layer.weight[half:] = 0
    layer.bias[half:] = 2 * math.log(std)


@torch.no_grad()
def standardize_latents(model, batches, num_batches: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-parametrise the latent space so that every latent channel has mean 0 and std 1 on training clips.

    Why: a diffusion model's noise schedule assumes the data has roughly unit variance *everywhere*. These tiny
    VAEs put large constant offsets in some channels (a per-channel mean of up to ~1.3 with a std of ~0.1: the
    background), so one global ``scaling_factor`` leaves the part that matters -- where the object is -- at a
    few percent of the latent's energy, drowned by noise until the last sampler steps. Per-channel
    standardisation is what SD3/FLUX's ``shift_factor`` and CogVideoX-style ``latents_mean/std`` do outside the
    VAE; the CogVideoX pipelines only multiply by ``scaling_factor``, so here it is folded *into* the weights:

    - the encoder's last layer (the mean half of ``quant_conv`` or ``encoder.conv_out``): ``z' = (z - mu) / sd``
      (exact), and its log-variance half is shifted by ``-2 log sd`` (the same distribution, rescaled);
    - every layer that reads the latent (``post_quant_conv``, or the decoder's ``conv_in`` and, in the CogVideoX
      decoder, the 1x1 convolutions of each ``SpatialNorm3D``): ``W z + b = (W sd) z' + (b + W mu)``. Exact for
      1x1 convolutions; a 3x3 ``conv_in`` pads its input with zeros, which now means ``z = mu`` instead of
      ``z = 0`` at the border, so the decoder differs slightly there until it is fine-tuned (``labkit train vae
      --standardize`` does this before training, so the training fixes the border).

    Returns the measured per-channel ``(mu, sd)`` of the *old* latents.
    """
    z = torch.cat([zz.transpose(0, 1).flatten(1) for zz in _latents(model, batches, num_batches)], 1)  # (C, values)
    mu, sd = z.mean(1), z.std(1).clamp_min(1e-6)
    channels = len(mu)
    out = _posterior_layer(model)
    view = (-1,) + (1,) * (out.weight.ndim - 1)
    out.weight[:channels] /= sd.view(view)
    out.bias[:channels] = (out.bias[:channels] - mu) / sd
    out.bias[channels:] -= 2 * torch.log(sd)
    if getattr(model, "post_quant_conv", None) is not None:
        readers = [model.post_quant_conv]
    else:
        readers = [model.decoder.conv_in] + [layer for m in model.decoder.modules() if hasattr(m, "conv_y")
                                             for layer in (m.conv_y, m.conv_b)]
    for layer in readers:
        conv = getattr(layer, "conv", layer)
        shape = (1, -1) + (1,) * (conv.weight.ndim - 2)
        conv.bias += (conv.weight * mu.view(shape)).sum(dim=tuple(range(1, conv.weight.ndim)))
        conv.weight *= sd.view(shape)
    return mu, sd


@torch.no_grad()
def measure_scaling_factor(model, batches, num_batches: int = 8) -> float:
    """``1 / std`` of posterior-mean latents over a few training batches (SD's recipe for ``scaling_factor``)."""
    return float(1.0 / torch.cat([z.flatten() for z in _latents(model, batches, num_batches)]).std())


def train_vae(kind: str, steps: int | None = None, seed: int = 0, batch: int | None = None, lr: float | None = None,
              progress: bool = True, on_log=None, full_steps: int | None = None, scale_batches: int = 8,
              crops: str = "random", val_every: int = 100, posterior_std: float | None = None,
              image_steps: int = 0, image_batch: int = 16, init_from=None, standardize: bool = False,
              layers_per_block: int = 1, latent_noise: float = 0.0, spatial_factor: int = 8,
              code_consistency: float = 0.0, twin_pairs: int = 4, decoder_only: bool = False,
              world: str = WORLD, latent_channels: int | None = None):
    """Train a tiny VAE; returns ``(model, TrainResult)`` with ``scaling_factor`` set in the model's config.

    ``full_steps``: how many final steps see whole clips (default per kind; 0 = crops only, the cheapest);
    ``crops``: how crops are chosen (:func:`clip_batches`); ``posterior_std``: if given, fixed after training
    with :func:`fix_posterior_std`;
    ``scale_batches``: training batches used to measure the latent ``scaling_factor``;
    ``image_steps``: a first stage on single frames (``image_batch`` one-frame crops per step) before the
    ``steps`` on clips. A causal 3D VAE codes frame 0 alone, so it *is* an image VAE for one frame: a frame is
    1/17 of a 17-frame clip's pixels, so images teach it colour and shape cheaply, and the clip stage then mostly
    has to learn time -- as video VAEs are often initialised from image VAEs. The result's ``losses`` are both stages' in order;
    ``init_from``: a VAE folder of the same kind to continue training from (instead of a random start);
    ``standardize``: (with ``init_from``) first make every latent channel zero-mean, unit-std on training clips
    (:func:`standardize_latents`); the training then repairs the decoder's border;
    ``layers_per_block``: resnets per encoder block (a fresh VAE only; the decoder has one more per block);
    ``latent_noise``: the clip stage decodes noisy latents (:func:`vae_loss`); ``spatial_factor``: 8 or 4
    (:func:`build_vae`; a fresh VAE only); ``code_consistency`` > 0: every clip-stage step also trains on
    ``twin_pairs`` square/circle twin crops (:func:`twin_batches`) with that weight on
    :func:`code_consistency_loss` (a 3D VAE only); ``decoder_only`` (with ``init_from``): the encoder is frozen
    and the clip stage trains the decoder alone -- its latent code stays exactly as it was (e.g. after
    ``code_consistency``), the decoder learns to draw it sharply again.
    """
    if not 0.0 <= latent_noise <= 1.0:
        raise ValueError(f"expected latent_noise in [0, 1] (a fraction of each channel's std), got {latent_noise}")
    if code_consistency < 0 or (code_consistency and (kind != "3d" or twin_pairs < 2)):
        raise ValueError(f"code_consistency needs a 3d VAE and twin_pairs >= 2, and a weight >= 0; got "
                         f"{code_consistency} for kind={kind!r}, twin_pairs={twin_pairs}")
    if decoder_only and (init_from is None or code_consistency or image_steps):
        raise ValueError("decoder_only trains a continued VAE's decoder on its frozen encoder: give init_from, and "
                         f"no code_consistency or image_steps (got init_from={init_from}, code_consistency="
                         f"{code_consistency}, image_steps={image_steps})")
    spec = DEFAULTS[kind] if kind in DEFAULTS else build_vae(kind)  # build_vae raises for a bad kind
    seed_everything(seed)
    if init_from is not None:

        if layers_per_block != 1 or spatial_factor != 8 or latent_channels is not None:
            raise ValueError("layers_per_block and spatial_factor shape a fresh VAE; a continued one keeps its own "
                             f"(drop init_from, or layers_per_block={layers_per_block} / "
                             f"spatial_factor={spatial_factor})")
        model = load_vae(init_from).train()
        if is_3d(model) != (kind == "3d"):
            raise ValueError(f"expected a {kind} VAE to continue from, got {type(model).__name__} at {init_from}")
    else:
        model = build_vae(kind, seed=seed, layers_per_block=layers_per_block, spatial_factor=spatial_factor,
                          latent_channels=latent_channels)
    if standardize:
        if init_from is None:
            raise ValueError("standardize re-parametrises a trained VAE's latents: give init_from as well")
        standardize_latents(model, clip_batches(2, seed=seed + 5, world=world), scale_batches)
    steps = spec["steps"] if steps is None else steps
    if steps < 0 or (steps == 0 and init_from is None):
        raise ValueError(f"expected steps >= 1 (or 0 with init_from: no clip training), got {steps}")
    image_losses = []
    if image_steps:
        images = clip_batches(image_batch, seed=seed + 11, num_frames=1, crop=CROP, crop_steps=image_steps,
                              crops=crops, world=world)
        config = TrainConfig(steps=image_steps, lr=lr or spec["lr"], warmup=min(50, image_steps // 5), seed=seed,
                             progress=progress, log_every=10)
        image_losses = fit(model, images, lambda m, b, step: vae_loss(m, b), config,
                           on_log=on_log or (_val_monitor(model, val_every, frames=1, world=world) if progress
                                             else None)).losses
    crop_steps = max(0, steps - (spec["full_steps"] if full_steps is None else full_steps))
    batches = clip_batches(batch or spec["batch"], seed=seed, crop=CROP, crop_steps=crop_steps, crops=crops,
                           world=world)
    gen = torch.Generator().manual_seed(seed + 1)
    if steps:
        config = TrainConfig(steps=steps, lr=lr or spec["lr"], warmup=min(50, steps // 5), seed=seed,
                             progress=progress, log_every=10)
        twins = twin_batches(twin_pairs, seed=seed + 13) if code_consistency else None

        def loss_fn(m, b, step):
            loss = vae_loss(m, b, gen, latent_noise)
            if twins is not None:
                videos, centres = next(twins)
                loss = loss + vae_loss(m, videos, gen, latent_noise, centres, code_consistency)
            return loss

        encoder = encoder_parameters(model)
        for q in encoder:
            q.requires_grad_(not decoder_only)  # frozen: no gradient, no optimizer state, no weight decay
        result = fit(model, batches, loss_fn, config,
                     on_log=on_log or (_val_monitor(model, val_every, world=world) if progress else None))
        for q in encoder:
            q.requires_grad_(True)
    else:  # a continued VAE re-parametrised or re-scaled only (e.g. --standardize --steps 0)
        result = TrainResult(model=model)
    model = result.model.eval()
    result.losses = image_losses + result.losses
    if posterior_std is not None:
        fix_posterior_std(model, posterior_std)
    scale = measure_scaling_factor(model, clip_batches(2, seed=seed + 7, world=world), scale_batches)
    model.register_to_config(scaling_factor=round(scale, 5))
    return model, result


def _val_monitor(model, every: int = 100, frames: int = 17, world: str = WORLD):
    """An ``on_log`` callback printing the PSNR of 2 validation clips (their first ``frames`` frames) every
    ``every`` steps (progress only)."""

    val = ShapesWorld("val", length=2, two_objects=0.5, world=world)
    video = torch.stack([val[i].video[:frames] for i in range(2)])

    def on_log(step: int, losses: list[float]) -> None:
        if step % every == 0:
            with torch.no_grad():
                x = to_vae_layout(model, video * 2 - 1)
                mse = float(((model.decode(model.encode(x).latent_dist.mode()).sample.clamp(-1, 1) - x) ** 2).mean())
            tqdm.write(f"step {step}: loss {sum(losses[-every:]) / every:.4f}, val PSNR {10 * math.log10(4 / mse):.2f} dB")
    return on_log


def add_arguments(parser, kind: str) -> None:
    """``labkit train vae --kind 2d|3d ...``: the VAE trainer's own flags (the shell adds the common ones)."""
    parser.add_argument("--kind", choices=sorted(DEFAULTS), required=True, help="2d: per-frame AutoencoderKL; "
                        "3d: causal AutoencoderKLCogVideoX")
    parser.add_argument("--batch", type=int, default=None, help="clips per step")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: per kind)")
    parser.add_argument("--full-steps", type=int, default=None,
                        help="final steps on whole 64x64 clips (default: per kind); the others see 32x32 crops")
    parser.add_argument("--crops", choices=["random", "object"], default="random",
                        help="random windows, or windows around an object (where the reconstruction error is)")
    parser.add_argument("--image-steps", type=int, default=0,
                        help="first train this many steps on single frames (see train_vae), then --steps on clips")
    parser.add_argument("--standardize", action="store_true",
                        help="with --init-from: first make each latent channel zero-mean, unit-std (standardize_latents)")
    parser.add_argument("--layers-per-block", type=int, default=1,
                        help="resnets per encoder block of a fresh VAE (the decoder gets one more); default 1")
    parser.add_argument("--image-batch", type=int, default=16, help="frames per step in the image stage")
    parser.add_argument("--posterior-std", type=float, default=None,
                        help="after training, fix the posterior std to this value (e.g. 1e-4; see fix_posterior_std)")
    parser.add_argument("--spatial-factor", type=int, choices=[4, 8], default=8,
                        help="spatial compression of a fresh VAE: 8 (four blocks) or 4 (three: 16x16 latents)")
    parser.add_argument("--latent-noise", type=float, default=0.0,
                        help="clip stage: decode latents + U(0, this) x channel std x N(0, 1) (see vae_loss)")
    parser.add_argument("--code-consistency", type=float, default=0.0,
                        help="3d: also train on square/circle twin crops with this weight on code_consistency_loss "
                             "(one latent pattern for 'square' wherever the object sits)")
    parser.add_argument("--decoder-only", action="store_true",
                        help="with --init-from: freeze the encoder (its latent code) and train the decoder alone")
    parser.add_argument("--twin-pairs", type=int, default=4, help="twin pairs per step for --code-consistency")
    parser.add_argument("--val-every", type=int, default=100, help="print the validation PSNR every N steps")
    parser.add_argument("--world", choices=sorted(WORLDS), default=WORLD, help="the Shapes-world geometry")
    parser.add_argument("--latent-channels", type=int, default=None,
                        help="a fresh VAE's latent channels (default: 16 for 3d, 5 for 2d)")


def check_arguments(args) -> None:
    if args.decoder_only and args.init_from is None:
        raise ValueError("--decoder-only: expected --init-from FOLDER (the VAE whose encoder is kept)")
    if args.standardize and args.init_from is None:
        raise ValueError("--standardize: expected --init-from FOLDER (the trained VAE whose latents are standardized)")
    if args.code_consistency > 0 and args.kind != "3d":
        raise ValueError(f"--code-consistency: expected --kind 3d (twin crops of the causal VAE), got --kind {args.kind}")
    if args.code_consistency > 0 and args.twin_pairs < 2:
        raise ValueError(f"--twin-pairs: expected >= 2 with --code-consistency, got {args.twin_pairs}")


def run(args) -> TrainedRun:
    """Train the VAE and save it (``save_pretrained``) into ``args.out``."""
    model, result = train_vae(args.kind, steps=args.steps, seed=args.seed, batch=args.batch, lr=args.lr,
                              full_steps=args.full_steps, crops=args.crops, val_every=args.val_every,
                              posterior_std=args.posterior_std, image_steps=args.image_steps,
                              image_batch=args.image_batch, init_from=args.init_from, standardize=args.standardize,
                              layers_per_block=args.layers_per_block, latent_noise=args.latent_noise,
                              spatial_factor=args.spatial_factor, code_consistency=args.code_consistency,
                              twin_pairs=args.twin_pairs, decoder_only=args.decoder_only, world=args.world,
                              latent_channels=args.latent_channels)
    shutil.rmtree(args.out, ignore_errors=True)  # outputs/ is scratch: a re-run replaces its folder
    model.save_pretrained(args.out, safe_serialization=True)
    last = result.losses[-50:]
    summary = {"final_loss": round(sum(last) / len(last), 5) if last else None, "steps": result.steps,
               "scaling_factor": model.config.scaling_factor}
    return TrainedRun(summary, builds_on=[args.init_from])
