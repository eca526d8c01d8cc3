
"""Measuring the tiny text-to-video / image-to-video model of :mod:`labkit.models.cogvideox`: held-out adherence
and the square-vs-circle probes.

Taught in ``04_train_tiny_video_model`` (sections 7-8 and "Does the model listen to the word 'square'?").

- **held-out evaluation** (the lesson's bars, :data:`BARS` and :func:`bars_problem`): :func:`evaluate_t2v`
  (colour, shape, direction and speed read back from the pixels by :func:`labkit.metrics.prompt_adherence` on every
  colour x shape x direction combination, seeds never trained on), :func:`evaluate_i2v` (first-frame PSNR, object
  kept in every frame), :func:`vae_ceiling` (the same on the VAE's own reconstructions: what no denoiser can beat)
  and :func:`guidance_sweep`;
- **why squares come out round**: :func:`shape_code_consistency` (is the VAE's square-minus-circle code one
  pattern wherever the object sits?), :func:`shape_word_effect` (in one prediction, how much of that code the model
  takes from the noisy input and from the word) and :func:`shape_word_in_sampling` (the same for whole samples,
  with the fill ratios the decoder draws), with :func:`labkit.models.cogvideox.sample_from`, the pipeline's own
  DDIM sampler started from clean latents (SDEdit; also what :func:`labkit.training.t2v.finetune_decoder` trains on).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.checks import check_args
from labkit.data.shapes import WORLD, ShapesWorld, make_clip, parse_caption, twin_caption
from labkit.data.splits import clip_seed
from labkit.evaluation.vae import code_consistency_loss, object_windows
from labkit.metrics import adherence_report, prompt_adherence, psnr
from labkit.metrics.adherence import detect_objects
from labkit.models.cogvideox import (
    NUM_FRAMES,
    SIZE,
    Denoiser,
    _check_ddim,
    animate,
    cogvideox_scheduler,
    generate,
    sample_from,
    vae_scale,
)
from labkit.models.text import tokenize
from labkit.models.vae import encode_posterior, reconstruct

__all__ = ["BARS", "bars_problem", "evaluate_t2v", "vae_ceiling", "evaluate_i2v", "guidance_sweep",
           "shape_word_effect", "shape_word_in_sampling", "shape_code_consistency"]


# ------------------------------------------------------------------------------------------------ CLI
#: The lesson's bars for shipping (held-out evaluation of all 84 colour x shape x direction combinations).
BARS = {"t2v": {"bar": 0.9}, "i2v": {"psnr_ok": 0.9, "kept": 0.9}}


def bars_problem(kind: str, report: dict | None) -> str:
    """Why an evaluation does not meet the shipping bars ("" when it does): every combination evaluated
    (``n >= 84``), t2v colour+shape+direction right in >= 90% of clips; i2v first frame >= 25 dB and object kept
    in >= 90%."""
    if not report:
        return "no evaluation: pass --eval 84"
    if report["n"] < 84:
        return f"evaluated {report['n']} clips, expected all 84 colour x shape x direction combinations"
    failed = [f"{k} = {report[k]:.3f} < {v}" for k, v in BARS[kind].items() if report[k] < v]
    return "bars not met: " + "; ".join(failed) if failed else ""


def _spread(num: int) -> list[int]:
    """``num`` test-clip indices spread over the 84 combinations (all of them, in order, when ``num >= 84``)."""
    return list(range(num)) if num >= 84 else [i * 84 // num for i in range(num)]


def _scores(report: dict, captions: list[str]) -> dict:
    """Add the lesson's scores to an ``adherence_report``: ``bar`` (one-object clips: colour, shape and direction
    right), ``all_attributes`` (every caption object has every attribute right and the count is right: for two
    objects, *both* objects right), ``by_shape`` (``all_attributes`` per caption shape, one-object clips) and
    ``shape_kept`` (the fraction of frames whose shape class is the caption's, over every caption object)."""
    results = report["results"]
    report["bar"] = sum(r["count_correct"] and all(o[a] for o in r["objects"] for a in ("color", "shape", "direction"))
                        for r in results) / len(results)
    report["all_attributes"] = report["all_correct"]
    by_shape: dict[str, list[bool]] = {}
    kept, frames = 0, 0
    for r, caption in zip(results, captions, strict=True):
        specs = parse_caption(caption)
        if len(specs) == 1:
            by_shape.setdefault(specs[0].shape, []).append(bool(r["all_correct"]))
        for o in r["objects"]:
            shapes = o["detected"]["frame_shapes"] if o["detected"] else []
            kept += sum(s == o["expected"]["shape"] for s in shapes)
            frames += NUM_FRAMES
    report["by_shape"] = {k: sum(v) / len(v) for k, v in sorted(by_shape.items())}
    report["shape_kept"] = kept / max(frames, 1)
    return report


def _test_clips(num: int, seed: int, world: str, two_objects: bool) -> ShapesWorld:
    return ShapesWorld("test", length=max(num, 84), seed=seed, world=world, two_objects=float(two_objects))


def evaluate_t2v(pipe, num: int = 84, steps: int = 25, guidance_scale: float = 4.0, seed: int = 0,
                 progress: bool = True, world: str = WORLD, two_objects: bool = False) -> dict:
    """Prompt adherence on ``num`` held-out test captions (``ShapesWorld("test")``: every colour x shape x
    direction in turn -- fewer than 84 are spread over them -- seeds no training clip uses; ``two_objects``: each
    with a second object). The scores of :func:`_scores` (``"bar"``: the lesson's bar on one-object clips, speed
    not included) beside the rest of ``adherence_report``; ``world``: the Shapes-world geometry."""
    check_args(num=num, steps=steps, guidance_scale=guidance_scale, seed=seed)
    clips = _test_clips(num, seed, world, two_objects)
    captions = [clips.caption(i) for i in _spread(num)]
    videos = [generate(pipe, c, seed=1_000 + i, steps=steps, guidance_scale=guidance_scale)
              for i, c in enumerate(tqdm(captions, desc="generate", disable=not progress, leave=False))]
    report = _scores(adherence_report(videos, captions, world), captions)
    report["videos"], report["captions"] = videos, captions
    return report


def vae_ceiling(vae, num: int = 84, seed: int = 0, progress: bool = True, world: str = WORLD,
                two_objects: bool = False) -> dict:
    """The best adherence any denoiser can reach through ``vae``: the same evaluation as :func:`evaluate_t2v`
    on the VAE's *reconstructions* of held-out clips (posterior mean), plus their PSNR in dB."""
    check_args(num=num, seed=seed)
    world_clips = _test_clips(num, seed, world, two_objects)
    clips = [world_clips[i] for i in _spread(num)]
    recons = [reconstruct(vae, v) for v, _, _ in tqdm(clips, desc="reconstruct", disable=not progress, leave=False)]
    captions = [c for _, c, _ in clips]
    report = _scores(adherence_report(recons, captions, world), captions)
    report["psnr"] = sum(psnr(r, v) for r, (v, _, _) in zip(recons, clips, strict=True)) / num
    return report


def evaluate_i2v(pipe, num: int = 84, steps: int = 25, guidance_scale: float = 4.0, seed: int = 0,
                 progress: bool = True, world: str = WORLD) -> dict:
    """Image-to-video on ``num`` held-out test clips: PSNR (dB) of the generated first frame vs the input frame,
    and whether the object keeps its colour and shape and is seen in every frame (the lesson's bars)."""
    check_args(num=num, steps=steps, guidance_scale=guidance_scale, seed=seed)
    clips = _test_clips(num, seed, world, False)
    psnrs, kept = [], []
    for i, index in enumerate(tqdm(_spread(num), desc="animate", disable=not progress, leave=False)):
        video, caption, _ = clips[index]
        out = animate(pipe, video[0], caption, seed=1_000 + i, steps=steps, guidance_scale=guidance_scale)
        psnrs.append(psnr(out[:1], video[:1]))
        r = prompt_adherence(out, caption, world)
        obj = r["objects"][0]
        kept.append(bool(r["count_correct"] and obj["color"] and obj["shape"]
                         and obj["detected"]["frames_seen"] == len(out)))
    return {"n": num, "psnr_first_frame": psnrs, "psnr_ok": sum(p >= 25 for p in psnrs) / num,
            "kept": sum(kept) / num, "kept_per_clip": kept}


def guidance_sweep(pipe, scales=(1.0, 2.0, 4.0, 7.0), num: int = 12, steps: int = 25, seed: int = 0,
                   progress: bool = True) -> dict[float, dict]:
    """Measured prompt adherence of ``pipe`` at each classifier-free guidance scale (same captions and seeds)."""
    for scale in scales:
        check_args(guidance_scale=scale)
    return {float(s): {k: v for k, v in evaluate_t2v(pipe, num, steps, s, seed, progress).items() if k != "videos"}
            for s in scales}


def _square_twins(split: str, num: int, seed: int, search: int):
    """The first ``num`` square clips among the first ``search`` of ``ShapesWorld(split)``, and their circle twins
    (:func:`twin_caption`: the same seed, path and size): two lists of :class:`labkit.data.Clip`."""

    world = ShapesWorld(split, length=search, seed=seed)
    picks = [i for i in range(search) if parse_caption(world.caption(i))[0].shape == "square"][:num]
    if len(picks) < num:
        raise ValueError(f"expected num <= {len(picks)} (the square clips among the first {search} of "
                         f"ShapesWorld({split!r})), got {num}")
    squares = [world[i] for i in picks]
    circles = [make_clip(twin_caption(c.caption, i), clip_seed(split, i, seed), NUM_FRAMES, SIZE)
               for c, i in zip(squares, picks, strict=True)]
    return squares, circles


@torch.no_grad()
def shape_word_effect(pipe, num: int = 8, timesteps=(80, 300, 700), seed: int = 0) -> dict[int, dict]:
    """Where the text-to-video model gets a square's shape from: the noisy input, or the word "square"?

    ``num`` held-out square clips and their circle twins (:func:`twin_caption`: same seed, path and size) are
    encoded with ``pipe.vae``; ``d`` = square latents - circle latents. Both are noised to ``t`` with the *same*
    noise, and the model's clean-latent prediction ``x0_hat = sqrt(abar) x_t - sqrt(1 - abar) v`` (no guidance)
    is read three ways. Per ``t``, as fractions of ``d`` (projections ``<a - b, d> / |d|^2``, mean over clips):

    - ``"from_input"``: x0_hat(square input, "square") - x0_hat(circle input, "circle"): how much of the
      shape difference the model puts back -- from both the input and the word (an ideal model: ~1 at low noise);
    - ``"from_word"``: x0_hat(square input, "square") - x0_hat(square input, "circle"): the word's share alone.
      At high noise the input holds almost nothing, so a model that draws squares from the prompt needs this
      near 1 there.
    """
    squares, circles = _square_twins("test", num, seed, search=84)
    scale, scheduler = vae_scale(pipe.vae), cogvideox_scheduler()
    mean, _ = encode_posterior(pipe.vae, torch.stack([c.video for c in squares + circles]))
    square, circle = (mean * scale).chunk(2)
    d = square - circle
    norm = (d * d).flatten(1).sum(1)
    model = Denoiser(pipe.text_encoder, pipe.transformer)
    ids_square = tokenize(pipe.tokenizer, [c.caption for c in squares])
    ids_circle = tokenize(pipe.tokenizer, [c.caption for c in circles])

    def x0_hat(x0, ids, t, noise):
        tt, abar = torch.full((num,), t), scheduler.alphas_cumprod[t]
        x_t = scheduler.add_noise(x0, noise, tt)
        return abar.sqrt() * x_t - (1 - abar).sqrt() * model(x_t, tt, ids)

    def share(a, b):  # <a - b, d> / |d|^2, mean over clips
        return float((((a - b) * d).flatten(1).sum(1) / norm).mean())

    out = {}
    for t in map(int, timesteps):
        noise = torch.randn(square.shape, generator=torch.Generator().manual_seed(seed * 1000 + t))
        sq = x0_hat(square, ids_square, t, noise)
        out[t] = {"from_input": share(sq, x0_hat(circle, ids_circle, t, noise)),
                  "from_word": share(sq, x0_hat(square, ids_circle, t, noise))}
    return out


@torch.no_grad()
def shape_word_in_sampling(pipe, num: int = 8, starts=(200, 600, 999), steps: int = 25,
                           guidance_scale: float = 4.0, seed: int = 0) -> dict[int, dict]:
    """What the word "square" changes when the model *samples* (not in one prediction: :func:`shape_word_effect`).

    ``num`` held-out squares and their circle twins (same seed, path and size). The *circles'* latents are
    noised to the first of the pipeline's ``steps`` sampler timesteps at or below ``start`` (the same noise
    for both runs), then sampled down to 0 with the pipeline's transformer, DDIM scheduler and guidance -- once
    with each circle's own caption and once with its twin's ("square"). From ``start`` ~1000 that is a full
    generation, lower it keeps the circle's path and size (SDEdit). Per ``start`` (mean over clips):

    - ``"latent_share"``: ``<z("square") - z("circle"), d> / |d|^2``, ``d`` = the true square's latents minus the
      circle's: how far the word moved the sample toward the square's code (1 = all the way);
    - ``"fill_square"`` / ``"fill_circle"``: the decoded object's median fill ratio (its area over its box: a
      square ~1, a circle ~0.8; ``labkit.metrics.adherence`` calls a shape a square from 0.87);
    - ``"square_drawn"``: the share of the "square" samples that the detector calls a square.
    """

    _check_ddim(pipe)
    squares, circles = _square_twins("test", num, seed, search=84)
    scale = vae_scale(pipe.vae)
    mean, _ = encode_posterior(pipe.vae, torch.stack([c.video for c in squares + circles]))
    square, circle = (mean * scale).chunk(2)
    d = square - circle
    norm = (d * d).flatten(1).sum(1)

    def drawn(z):  # decoded objects: (fill ratios, called a square)
        video = pipe.vae.decode((z / scale).permute(0, 2, 1, 3, 4)).sample.permute(0, 2, 1, 3, 4)
        tracks = [detect_objects(((v + 1) / 2).clamp(0, 1)) for v in video]
        return (np.array([np.nanmedian(t[0].fills) if t else np.nan for t in tracks]),
                np.array([bool(t) and t[0].shape() == "square" for t in tracks]))

    out = {}
    for start in map(int, starts):
        noise = torch.randn(circle.shape, generator=torch.Generator().manual_seed(seed * 1000 + start))
        z_square, z_circle = (sample_from(pipe, circle, tokenize(pipe.tokenizer, [c.caption for c in clips]), start,
                                          noise, steps, guidance_scale) for clips in (squares, circles))
        (fill_sq, is_sq), (fill_ci, _) = drawn(z_square), drawn(z_circle)
        out[start] = {"latent_share": float((((z_square - z_circle) * d).flatten(1).sum(1) / norm).mean()),
                      "fill_square": _mean_seen(fill_sq), "fill_circle": _mean_seen(fill_ci),
                      "square_drawn": float(is_sq.mean())}
    return out


def _mean_seen(values) -> float:
    """Mean of the finite values (nan, without numpy's warning, when there are none: no object detected)."""

    values = np.asarray(values, dtype=float)
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")


@torch.no_grad()
def shape_code_consistency(vae, num: int = 64, seed: int = 0, window: int = 3) -> dict:
    """How much of a square's latent code (minus its circle twin's) is the same wherever the object sits.

    ``num`` training-world squares and their circle twins (:func:`twin_caption`: same seed, path and size);
    only frame 0 is encoded (a causal 3D VAE codes it alone, as latent frame 0). For each pair, ``d`` = square
    latents - circle latents in the ``window`` x ``window`` latent pixels around the object's centre (odd; 3
    covers 24 pixels of an 8x VAE), aligned on the latent pixel that holds the centre. ``"rms"``: the typical
    size of ``d``; ``"consistent_share"``: the energy of the mean ``d`` over all pairs as a fraction of
    ``rms^2`` (1 - :func:`labkit.evaluation.vae.code_consistency_loss` with ``parts=("window",)``) -- 1 if the VAE codes
    "square" the same at every sub-pixel offset, ~0 if the code changes with the offset (then a denoiser must know
    where the object sits, to a fraction of a latent pixel, before the word can tell it what to draw);
    ``"pairs"``: the pairs used (objects whose window fits in the latent frame).
    """
    if num < 2:
        raise ValueError(f"expected num >= 2 pairs, got {num}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"expected an odd window >= 1 (latent pixels), got {window}")

    clips, twins = _square_twins("train", num, seed, search=64 * num)
    videos = torch.stack([c.video[:1] for c in clips + twins])  # frame 0: (2 num, 1, 3, H, W)
    mean, _ = encode_posterior(vae, videos)
    z = (mean * vae_scale(vae)).transpose(1, 2)  # (2 num, C, 1, h, w)
    centres = torch.stack([torch.as_tensor(c.truth.objects[0].positions[:1], dtype=torch.float32) for c in clips])
    square, circle = z.chunk(2)
    d = object_windows(square - circle, centres, 0, window, factor=SIZE / z.shape[-1])
    share = 1 - float(code_consistency_loss(vae, videos, centres, window, latents=z, parts=("window",)))
    return {"rms": float(d.pow(2).mean()) ** 0.5, "consistent_share": share, "pairs": len(d)}
