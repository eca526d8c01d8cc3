"""Run-and-measure: generate with a pipeline under a memory plan and report time and peak memory.

Taught in ``05_svd_cogvideox_inference``.

- :func:`generate` runs a pipeline once and returns ``(B, F, C, H, W)`` in ``[0, 1]`` (a CPU generator, so a seed
  means the same noise on every device);
- :func:`measure` applies a plan and generates once, reporting wall time and per-step time in seconds (a
  ``callback_on_step_end``) and peak memory in bytes: CUDA peak allocated on a GPU; on the CPU the peak of live
  tensor bytes from ``torch.profiler`` on one thread (a second, profiled run of the same call,
  :class:`labkit.profiling.PeakAllocated`), with the resident-memory increase beside it;
- :func:`predict_for` is the planner's prediction (:func:`labkit.budgets.predict_peak_memory`) for the same
  pipeline and plan, and :func:`compare_plans` tabulates measured against predicted for every plan;
- :func:`sweep_knob` varies one SVD micro-condition (``motion_bucket_id``, ``fps``, ``noise_aug_strength``,
  guidance) at a fixed seed and measures the motion of each video; :func:`throughput` measures videos per second
  per batch size.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from labkit.budgets import architecture_of_pipeline, predict_peak_memory
from labkit.checks import COUNT, VOCABULARY, check_args, check_choice, check_number
from labkit.data.shapes import make_clip
from labkit.inference.loading import WeightsNotFound, load_pipeline, pipeline_family, resolve_device
from labkit.inference.plans import PlanNotApplicable, apply_plan, parse_plan
from labkit.metrics.temporal import mean_flow_magnitude
from labkit.models.cogvideox import run_pipeline
from labkit.models.tiny import RANDOM_WEIGHTS_NOTE
from labkit.profiling import PeakAllocated, PeakRSS
from labkit.video import to_pil

__all__ = ["Measurement", "check_generation", "generate", "measure", "max_abs_diff", "default_condition", "predict_for",
           "compare_plans", "sweep_knob", "throughput"]


@dataclass
class Measurement:
    """One measured generation: times in seconds, memory in bytes (``memory_kind`` says which memory)."""

    plan: str
    wall_s: float = float("nan")
    step_s: list = field(default_factory=list)
    peak_bytes: int = 0  # CUDA peak allocated, or (CPU) the profiler's peak of live tensor bytes
    memory_kind: str = ""
    video: torch.Tensor | None = None  # (B, F, C, H, W) in [0, 1], float32 on the CPU
    skipped: str | None = None
    rss_bytes: int = 0  # CPU only: peak resident memory - resident memory before the call (allocator included)

    @property
    def mean_step_s(self) -> float:
        return sum(self.step_s) / len(self.step_s) if self.step_s else float("nan")


def check_generation(num_frames: int, height: int, width: int, steps: int, seed: int = 0, **kwargs) -> None:
    """The numbers of one generation, before any work: sizes, steps and seed, and every pipeline argument in
    ``kwargs`` that has a rule in :data:`labkit.checks.VOCABULARY` (``guidance_scale``, ``fps``,
    ``motion_bucket_id``, ``noise_aug_strength`` ...)."""
    check_args(num_frames=num_frames, height=height, width=width, steps=steps, seed=seed)
    check_args(**{name: value for name, value in kwargs.items() if name in VOCABULARY})


def generate(pipe, condition, num_frames: int, height: int, width: int, steps: int, seed: int = 0,
             callback=None, **kwargs) -> torch.Tensor:
    """Run ``pipe`` once: ``condition`` is a prompt (CogVideoX, :func:`labkit.models.cogvideox.run_pipeline`) or a
    PIL image (SVD). Returns ``(B, F, C, H, W)`` in ``[0, 1]`` (float32, CPU). The generator is a CPU
    ``torch.Generator`` so a seed means the same noise on every device. The numbers are checked first
    (:func:`check_generation`)."""
    check_generation(num_frames, height, width, steps, seed, **kwargs)
    if pipeline_family(pipe) != "svd":
        if not isinstance(condition, str):
            raise ValueError(f"a CogVideoX pipeline expects a prompt string, got {type(condition).__name__}")
        return run_pipeline(pipe, condition, num_frames=num_frames, height=height, width=width, steps=steps,
                            seed=seed, callback_on_step_end=callback, **kwargs)
    if isinstance(condition, str):
        raise ValueError("an SVD pipeline animates an image: expected a PIL image as condition, got a prompt")
    frames = pipe(image=condition, num_frames=num_frames, height=height, width=width, num_inference_steps=steps,
                  generator=torch.Generator("cpu").manual_seed(seed), output_type="pt",
                  callback_on_step_end=callback, **kwargs).frames
    return frames.float().cpu()


def measure(pipe, condition, plan="none", device="cpu", num_frames: int = 9, height: int = 64, width: int = 64,
            steps: int = 4, seed: int = 0, **kwargs) -> Measurement:
    """Apply ``plan`` to ``pipe`` and generate once, measuring wall time, per-step time and peak memory.

    A plan that cannot run here comes back as ``Measurement(skipped=reason)`` instead of raising. ``pipe`` is
    changed by the plan: pass a fresh pipeline per plan.
    """
    check_generation(num_frames, height, width, steps, seed, **kwargs)
    device = resolve_device(device)
    try:
        kwargs = {**apply_plan(pipe, plan, device), **kwargs}
    except PlanNotApplicable as err:
        return Measurement(plan=str(plan), skipped=str(err))
    if "offload" not in str(plan):
        pipe.to(device)
    stamps = []

    def on_step(_pipe, _i, _t, callback_kwargs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())
        return callback_kwargs

    on_gpu = device.type == "cuda"
    with PeakRSS() as rss, (PeakAllocated(device) if on_gpu else nullcontext()) as gpu:
        t0 = time.perf_counter()
        video = generate(pipe, condition, num_frames, height, width, steps, seed, callback=on_step, **kwargs)
        wall = time.perf_counter() - t0
    # steady-state steps: between consecutive callbacks (the first also holds encoding, so it is left out)
    step_s = [b - a for a, b in zip(stamps[:-1], stamps[1:])] or [s - t0 for s in stamps[:1]]
    if on_gpu:  # the allocator's counter costs nothing: the timed run itself, weights on the device included
        peak, kind = gpu.baseline + gpu.peak, "CUDA peak allocated"
    else:  # a second run of the same call, profiled (the profiler would slow the timed one, which warmed it up)
        with PeakAllocated(device) as cpu:
            generate(pipe, condition, num_frames, height, width, steps, seed, **kwargs)
        peak, kind = cpu.peak, "CPU peak allocated (live tensor bytes, torch profiler, one thread)"
    return Measurement(str(plan), wall, step_s, int(peak), kind, video, rss_bytes=int(rss.peak - rss.baseline))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of two videos of the same shape (a clear error when shapes differ)."""
    if a.shape != b.shape:
        raise ValueError(f"expected videos of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return float((a.float() - b.float()).abs().max())


# ---------------------------------------------------------------- lesson helpers (notebook 05)
def default_condition(pipe, prompt: str = "a red circle moving right", height: int = 64, width: int = 64,
                      seed: int = 0):
    """A prompt for CogVideoX, or for SVD the first frame of a Shapes-world clip of that prompt (a PIL image)."""
    check_args(height=height, width=width, seed=seed)
    if pipeline_family(pipe) == "cogvideox":
        return prompt

    video, _, _ = make_clip(prompt, seed=seed, num_frames=1, size=max(32, min(height, width)))
    return to_pil(video)[0].resize((width, height))


def predict_for(pipe, plan, num_frames: int, height: int, width: int, device="cpu") -> dict:
    """The planner's prediction (:func:`labkit.budgets.predict_peak_memory`) for a live pipeline and plan.

    On the CPU the weights are resident before the measurement starts, so they are left out, matching
    :func:`measure` (the profiler's peak of tensor bytes allocated during the run); on a GPU they are included,
    matching CUDA peak allocated.
    """

    check_args(num_frames=num_frames, height=height, width=width)
    names, arch = parse_plan(plan), architecture_of_pipeline(pipe)
    if "vae_tiling" in names and getattr(pipe, "labkit_note", "") == RANDOM_WEIGHTS_NOTE:
        arch.configs["vae"].update(tile_sample_min_height=32, tile_sample_min_width=32)
    dtype = next((n for n in names if n in ("fp16", "bf16")), None) or _name_of(pipe.dtype)
    return predict_peak_memory(arch, num_frames, height, width, plan, dtype,
                               decode_chunk=2 if "decode_chunk" in names else None,
                               include_weights=resolve_device(device).type == "cuda")


def _name_of(dtype) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


def compare_plans(spec: str, plans, device="cpu", dtype="fp32", num_frames: int = 9, height: int = 64,
                  width: int = 64, steps: int = 4, seed: int = 0, warmup: bool = True,
                  repeats: int = 1) -> tuple[list, dict]:
    """Measure every plan on a fresh pipeline from ``spec``; returns (table rows, ``{plan: Measurement}``).

    Each row: wall and mean step time (s), measured and predicted peak (MiB), their ratio, and the largest
    difference to the ``"none"`` video (run first). ``warmup`` runs one throw-away step first so one-time
    allocations (thread pools, kernel caches) are not charged to the first plan. ``repeats`` > 1 keeps each plan's
    run with the lowest peak (the CPU peak is the profiler's live tensor bytes, the same in every repeat; the RSS
    column beside it varies by tens of percent on a shared machine).
    """

    check_generation(num_frames, height, width, steps, seed)
    check_args(repeats=repeats)
    plans = ["none"] + [p for p in plans if p != "none"]
    for plan in plans:
        parse_plan(plan)  # every plan's steps are known names before the first pipeline loads
    if warmup:
        pipe = load_pipeline(spec, device, dtype)
        generate(pipe, default_condition(pipe, height=height, width=width), num_frames, height, width, 1, seed)
    rows, results = [], {}
    for plan in tqdm(plans, desc="plans", leave=False):
        runs = []
        for _ in range(repeats):
            pipe = load_pipeline(spec, device, dtype)
            cond = default_condition(pipe, height=height, width=width)
            runs.append(measure(pipe, cond, plan, device, num_frames, height, width, steps, seed))
        m = results[plan] = min(runs, key=lambda r: r.peak_bytes)
        if m.skipped:
            rows.append({"plan": plan, "skipped": m.skipped})
            continue
        pred = predict_for(pipe, plan, num_frames, height, width, device)["peak"]
        rows.append({"plan": plan, "wall (s)": round(m.wall_s, 2), "step (s)": round(m.mean_step_s, 3),
                     "peak (MiB)": round(m.peak_bytes / 2**20, 1), "predicted (MiB)": round(pred / 2**20, 1),
                     **({"RSS increase (MiB)": round(m.rss_bytes / 2**20, 1)} if m.rss_bytes else {}),
                     "predicted/measured": round(pred / max(m.peak_bytes, 1), 2),
                     "max |diff| vs none": max_abs_diff(results["none"].video, m.video)})
    return rows, results


def sweep_knob(pipe, image, knob: str, values, num_frames: int, height: int, width: int, steps: int,
               seed: int = 0, **fixed) -> list[dict]:
    """Generate once per value of an SVD micro-condition (``motion_bucket_id``, ``fps``, ``noise_aug_strength``,
    ``min_guidance_scale``, ``max_guidance_scale``) with the same seed, measuring the motion of each video.

    ``image``: one PIL image or a list of them (the motion is then the mean over images, ``stderr`` its standard
    error); each row keeps the video of the first image."""

    allowed = ("motion_bucket_id", "fps", "noise_aug_strength", "min_guidance_scale", "max_guidance_scale")
    check_choice(knob, "knob", allowed, what="knob")
    if pipeline_family(pipe) != "svd":
        raise ValueError(f"pipe: expected an SVD pipeline, got a {pipeline_family(pipe)} one")
    images = list(image) if isinstance(image, (list, tuple)) else [image]
    if not images:
        raise ValueError("image: expected at least one conditioning image, got an empty list")
    values = list(values)
    if not values:
        raise ValueError(f"values: expected at least one value of {knob}, got none")
    for value in values:  # every value before the first video
        check_generation(num_frames, height, width, steps, seed, **{**fixed, knob: value})
    rows = []
    for value in tqdm(values, desc=knob, leave=False):
        videos = [generate(pipe, im, num_frames, height, width, steps, seed, **{knob: value, **fixed})[0]
                  for im in images]
        flows = [mean_flow_magnitude(v) for v in videos]
        rows.append({knob: value, "motion (px/frame)": round(float(np.mean(flows)), 4),
                     "stderr": round(float(np.std(flows) / np.sqrt(len(flows))), 4), "video": videos[0]})
    return rows


def throughput(pipe, condition, batch_sizes, num_frames: int, height: int, width: int, steps: int) -> list[dict]:
    """Videos per second for each batch size (``num_videos_per_prompt``), measured in this run."""
    check_generation(num_frames, height, width, steps)
    batch_sizes = list(batch_sizes)
    if not batch_sizes:
        raise ValueError("batch_sizes: expected at least one batch size, got none")
    for b in batch_sizes:
        check_number(b, "batch_sizes", COUNT)
    rows = []
    for b in batch_sizes:
        t0 = time.perf_counter()
        video = generate(pipe, condition, num_frames, height, width, steps, num_videos_per_prompt=b)
        seconds = time.perf_counter() - t0
        rows.append({"batch": b, "seconds": round(seconds, 2), "videos/s": round(video.shape[0] / seconds, 3)})
    return rows


#: The memory plans notebook 05 compares per pipeline family (``"none"``, the plain run, first).
COMPARED_PLANS = {
    "cogvideox": ("none", "vae_slicing", "bf16", "model_cpu_offload", "sequential_cpu_offload+vae_tiling"),
    "svd": ("none", "forward_chunking", "bf16", "decode_chunk", "model_cpu_offload"),
}


def plan_comparison(model: str, device="cpu", dtype="fp32", smoke: bool = False,
                    fallback: str = "random:tiny-cogvideox") -> tuple[str, list[str]]:
    """The pipeline spec and the plans (:data:`COMPARED_PLANS` of its family) for :func:`compare_plans`.

    The spec is ``model``, except ``fallback`` when ``model`` is a production hub model (``THUDM/...``,
    ``stabilityai/...``) and ``device`` is not a CUDA GPU, or when its weights are not on this machine
    (:class:`WeightsNotFound`). ``smoke`` keeps three plans: the plain run, the cheapest one and an offload.
    """
    on_gpu = resolve_device(device).type == "cuda"
    spec = fallback if model.startswith(("THUDM", "stabilityai")) and not on_gpu else model
    try:
        pipe = load_pipeline(spec, device if on_gpu else "cpu", dtype)
    except WeightsNotFound:
        spec, pipe = fallback, load_pipeline(fallback, "cpu", dtype)
    plans = list(COMPARED_PLANS[pipeline_family(pipe)])
    return spec, plans[:2] + plans[3:4] if smoke else plans
