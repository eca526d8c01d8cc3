"""Loading the real video pipelines offline, memory plans, and run-and-measure.

Taught in ``05_svd_cogvideox_inference``.

- :func:`load_pipeline` takes a hub id (``THUDM/CogVideoX-5b``, ``stabilityai/stable-video-diffusion-img2vid-xt``),
  a local folder, a shipped tiny model (``tiny-t2v``, ``tiny-svd``), ``random:tiny-cogvideox`` /
  ``random:tiny-svd`` (the random-weight tiny pipelines of :mod:`labkit.models`) or ``real-size-random:NAME``
  (the production architecture from ``data/configs`` with random weights, to measure cost without a download).
  It never touches the network: a hub id is looked up in the local Hugging Face cache only, and a miss raises
  :class:`WeightsNotFound` at once with instructions.
- :data:`PLANS` are named memory plans; ``"model_cpu_offload+vae_tiling"`` composes them. :func:`apply_plan`
  applies one to a pipeline and returns the call arguments it needs (``decode_chunk_size``).
- :func:`measure` generates once and reports wall time, per-step time (a ``callback_on_step_end``) and peak
  memory: CUDA peak allocated on a GPU; on the CPU the peak of live tensor bytes from ``torch.profiler`` (a second,
  profiled run of the same call), and beside it the peak resident set size increase (RSS, sampled by a thread).
"""

from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .attention import peak_allocated_cpu
from .models import RANDOM_WEIGHTS_NOTE, SHIPPED, TINY_FACTORIES

__all__ = ["WeightsNotFound", "PlanNotApplicable", "resolve_dtype", "resolve_device", "load_pipeline",
           "PlanStep", "PLANS", "parse_plan", "apply_plan", "Measurement", "PeakRSS", "measure", "generate",
           "pipeline_family", "max_abs_diff", "default_condition", "predict_for", "compare_plans",
           "mean_flow_magnitude", "sweep_knob", "throughput", "peak_allocated_cpu"]

_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
           "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


class WeightsNotFound(FileNotFoundError):
    """The weights of a spec are not on this machine (and labkit will not download them during a lesson)."""


class PlanNotApplicable(RuntimeError):
    """A memory plan that cannot run here (offloading without an accelerator, tiling on a VAE without it)."""


def resolve_dtype(dtype) -> torch.dtype:
    """``"fp32"``/``"fp16"``/``"bf16"`` (or a torch dtype) -> ``torch.dtype``; a clear error otherwise."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise ValueError(f"expected dtype one of {sorted(set(_DTYPES))} or torch.float32/float16/bfloat16, got {dtype!r}")


def resolve_device(device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available) -> ``torch.device``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"expected device 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available on this machine "
                         f"(torch {torch.__version__}); use device='cpu' with a tiny model")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"expected a cpu or cuda device, got {str(device)!r}")
    return device


def _hub_hint(repo_id: str) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    name = repo_id.split("/")[-1]
    return (f"{repo_id!r} is not in the local Hugging Face cache ({HF_HUB_CACHE}) and labkit never downloads "
            f"during a lesson (offline first).\nTo run the real model:\n"
            f"  1. on a machine with internet: huggingface-cli download {repo_id} --local-dir ~/models/{name}\n"
            f"  2. pass the folder: MODEL=\"~/models/{name}\" (or copy the cache folder here)\n"
            f"To measure its cost without the download (GPU), use MODEL=\"real-size-random:{repo_id}\".")


def _cached_hub_folder(repo_id: str) -> str | None:
    """The local snapshot folder of a hub repo when its ``model_index.json`` is cached; never a network call."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id, "model_index.json")
    except Exception:  # a malformed repo id
        return None
    return str(Path(hit).parent) if isinstance(hit, str) else None


def _from_folder(folder, device, dtype):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(folder), torch_dtype=dtype, local_files_only=True)
    return pipe.to(device)


def _real_size_random(name: str, device, dtype):
    """The production architecture with random weights, built directly on ``device`` in ``dtype``."""
    from . import budgets
    from .models import shapes_tokenizer

    spec = budgets.get_spec(name)
    need = budgets.weight_bytes(sum(budgets.parameter_counts(spec.name).values()), dtype)
    if device.type == "cpu":
        import psutil

        if need > 0.7 * psutil.virtual_memory().available:
            raise MemoryError(f"real-size-random:{spec.name} needs {need / 2**30:.1f} GiB of weights in {dtype}; "
                              f"this machine has {psutil.virtual_memory().available / 2**30:.1f} GiB free: "
                              "use a GPU, or the tiny pipelines (random:tiny-cogvideox, random:tiny-svd)")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise directly in the target dtype: no fp32 copy of 5 B parameters
    try:
        parts = {c.name: budgets.build_component(c, device).eval() for c in spec.components}
    finally:
        torch.set_default_dtype(previous)
    scheduler_cfg = budgets.load_config(spec.scheduler)
    import json

    import diffusers

    cls_name = json.loads((budgets.CONFIG_DIR / spec.scheduler).read_text())["_class_name"]
    parts["scheduler"] = getattr(diffusers, cls_name).from_config(scheduler_cfg)
    if spec.family == "svd":
        from transformers import CLIPImageProcessor

        parts["feature_extractor"] = CLIPImageProcessor(crop_size=224, size=224)
    else:
        parts["tokenizer"] = shapes_tokenizer(max_length=226)  # ids fit T5's vocabulary; the text is not T5's
    pipe = getattr(diffusers, spec.pipeline)(**parts)
    pipe.labkit_note = f"real-size architecture of {spec.hub_id} with RANDOM weights: costs are real, videos are noise"
    return pipe


def load_pipeline(spec: str, device="cpu", dtype="fp32"):
    """Load a video pipeline from ``spec`` onto ``device`` in ``dtype``, offline.

    ``spec``: a shipped tiny model (``"tiny-t2v"``, ``"tiny-i2v"``, ``"tiny-svd"``), ``"random:tiny-cogvideox"``
    or ``"random:tiny-svd"`` (random weights), ``"real-size-random:cogvideox-5b"`` (or ``:svd-xt``,
    ``:cogvideox-2b``, or the hub id), a local folder with ``model_index.json``, or a hub id present in the local
    cache. Anything else raises :class:`WeightsNotFound`/``ValueError`` before any heavy work.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"expected a model spec string, got {spec!r}")
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    if spec.startswith("random:"):
        name = spec.split(":", 1)[1]
        if name not in TINY_FACTORIES:
            raise ValueError(f"unknown random tiny pipeline {name!r}; expected one of {list(TINY_FACTORIES)}")
        pipe = TINY_FACTORIES[name]().to(device)
        if dtype != torch.float32:
            _quiet_to(pipe, dtype)
        pipe.labkit_note = RANDOM_WEIGHTS_NOTE
        return pipe
    if spec.startswith("real-size-random:"):
        return _real_size_random(spec.split(":", 1)[1], device, dtype)
    if spec in SHIPPED:
        info = SHIPPED[spec]
        if not (info["folder"] / "model_index.json").exists():
            raise WeightsNotFound(
                f"the tiny model {spec!r} has not been shipped in this checkout ({info['folder']} is missing; it "
                f"comes from {info['issue']}). Train it with `{info['train']}`, or use a random-weight tiny "
                f"pipeline: 'random:tiny-cogvideox' or 'random:tiny-svd'.")
        from .models import load as load_shipped

        pipe = load_shipped(spec).to(device)  # checks every file's sha256 against data/MANIFEST first
        if dtype != torch.float32:
            _quiet_to(pipe, dtype)
        pipe.labkit_note = f"shipped tiny model {spec} (trained on the Shapes world)"
        return pipe
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "model_index.json").exists():
            raise ValueError(f"expected a diffusers pipeline folder with model_index.json, got {path}")
        pipe = _from_folder(path, device, dtype)
        pipe.labkit_note = f"pipeline loaded from {path}"
        return pipe
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        folder = _cached_hub_folder(spec)
        if folder is None:
            raise WeightsNotFound(_hub_hint(spec))
        pipe = _from_folder(folder, device, dtype)
        pipe.labkit_note = f"{spec} from the local Hugging Face cache"
        return pipe
    raise ValueError(f"expected a hub id (owner/name), a local folder, one of {list(SHIPPED)}, 'random:NAME' or "
                     f"'real-size-random:NAME', got {spec!r} (no such folder)")


def _quiet_to(pipe, dtype) -> None:
    """``pipe.to(dtype)`` without diffusers' warning about modules kept in float32 (the tiny models have none)."""
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        pipe.to(dtype=dtype)
    finally:
        logging.set_verbosity(level)


def pipeline_family(pipe) -> str:
    """``"svd"`` (image-to-video UNet) or ``"cogvideox"`` (text-to-video transformer)."""
    return "svd" if hasattr(pipe, "unet") and pipe.unet is not None else "cogvideox"


# ---------------------------------------------------------------- memory plans
@dataclass(frozen=True)
class PlanStep:
    """One named memory-saving step: what it does, which pipelines it fits, whether it needs a GPU."""

    name: str
    doc: str
    families: tuple[str, ...] = ("svd", "cogvideox")
    needs_accelerator: bool = False


PLANS: dict[str, PlanStep] = {s.name: s for s in (
    PlanStep("none", "everything on the device, the model's own dtype"),
    PlanStep("model_cpu_offload", "keep each whole model on the CPU until it runs (accelerate hooks)",
             needs_accelerator=True),
    PlanStep("sequential_cpu_offload", "stream every layer's weights to the device as it runs (slow, smallest)",
             needs_accelerator=True),
    PlanStep("vae_slicing", "decode the videos of a batch one at a time", ("cogvideox",)),
    PlanStep("vae_tiling", "decode in overlapping spatial tiles, blended at the seams", ("cogvideox",)),
    PlanStep("decode_chunk", "decode 2 frames at a time (decode_chunk_size=2)", ("svd",)),
    PlanStep("forward_chunking", "run the UNet feed-forward layers in chunks", ("svd",)),
    PlanStep("fp16", "weights and activations in float16"),
    PlanStep("bf16", "weights and activations in bfloat16"),
    PlanStep("compile", "torch.compile the denoiser (first call pays the compile time)", needs_accelerator=True),
)}


def parse_plan(plan) -> list[str]:
    """``"model_cpu_offload+vae_tiling"`` (or a list) -> validated step names; ``"none"`` -> ``[]``."""
    names = plan.split("+") if isinstance(plan, str) else list(plan)
    names = [n.strip() for n in names if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in PLANS]
    if unknown:
        raise ValueError(f"unknown plan step(s) {unknown}; expected names from {list(PLANS)} joined by '+'")
    if {"model_cpu_offload", "sequential_cpu_offload"} <= set(names):
        raise ValueError("choose one of model_cpu_offload and sequential_cpu_offload, not both")
    return names


def apply_plan(pipe, plan, device="cpu") -> dict:
    """Apply a memory plan to ``pipe`` (in place); returns the extra ``__call__`` arguments it needs.

    Raises :class:`PlanNotApplicable` (before changing anything) when a step needs a GPU and ``device`` is the
    CPU, or does not exist for this pipeline family (VAE tiling on SVD's temporal decoder).
    """
    device, names, family = resolve_device(device), parse_plan(plan), pipeline_family(pipe)
    for name in names:
        step = PLANS[name]
        if step.needs_accelerator and device.type != "cuda":
            raise PlanNotApplicable(f"plan step {name!r} needs a CUDA device ({step.doc}); on the CPU there is "
                                    "nothing to offload to or the CPU compile time dominates: skipped")
        if family not in step.families:
            raise PlanNotApplicable(f"plan step {name!r} does not apply to a {family} pipeline "
                                    f"(it applies to {', '.join(step.families)})")
    kwargs = {}
    for name in names:
        if name in ("fp16", "bf16"):
            _quiet_to(pipe, _DTYPES[name])
        elif name == "model_cpu_offload":
            pipe.enable_model_cpu_offload(device=device)
        elif name == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload(device=device)
        elif name == "vae_slicing":
            pipe.vae.enable_slicing()
        elif name == "vae_tiling":
            _enable_tiling(pipe)
        elif name == "decode_chunk":
            kwargs["decode_chunk_size"] = 2
        elif name == "forward_chunking":
            pipe.unet.enable_forward_chunking(chunk_size=1, dim=1)
        elif name == "compile":
            denoiser = "unet" if family == "svd" else "transformer"
            setattr(pipe, denoiser, torch.compile(getattr(pipe, denoiser)))
    return kwargs


def _enable_tiling(pipe) -> None:
    """Tiled decoding. A tiny pipeline gets 32-pixel tiles overlapping by half: its videos are smaller than the
    default 240x360 tile (tiling would silently do nothing), and diffusers' tiled decode only returns the right
    size when the tile stride divides the latent size (with 1/6 overlap it returns 140x136 for 128x128)."""
    if getattr(pipe, "labkit_note", "") == RANDOM_WEIGHTS_NOTE:
        pipe.vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32,
                               tile_overlap_factor_height=0.5, tile_overlap_factor_width=0.5)
    else:
        pipe.vae.enable_tiling()


# ---------------------------------------------------------------- measuring
class PeakRSS:
    """Context manager sampling this process's resident memory every ``interval`` seconds in a thread.

    On entry it asks glibc to return freed memory (``malloc_trim``) and pins the mmap threshold, so RSS follows
    live tensors instead of the allocator's high-water mark; ``peak - baseline`` is what the run added.
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.baseline = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        _tidy_malloc()
        self.baseline = self.peak = _resident_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _resident_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _resident_bytes())
        return False


def _resident_bytes() -> int:
    """Anonymous resident memory of this process (Linux ``RssAnon``: heap and tensors), else total RSS.

    File-backed pages (the 1 GB of torch's shared libraries) are left out: on a machine under memory pressure the
    kernel evicts and re-reads them during a run, which would show up as tens of MiB of noise.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss


def _tidy_malloc() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128 KiB: tensors come from mmap and go back on free
        libc.mallopt(-1, 1 << 17)  # M_TRIM_THRESHOLD = 128 KiB: free heap tops are returned promptly
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS is then an upper bound
        pass


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


def generate(pipe, condition, num_frames: int, height: int, width: int, steps: int, seed: int = 0,
             callback=None, **kwargs) -> torch.Tensor:
    """Run ``pipe`` once: ``condition`` is a prompt (CogVideoX) or a PIL image (SVD). Returns ``(B, F, C, H, W)``
    in ``[0, 1]`` (float32, CPU). The generator is a CPU ``torch.Generator`` so a seed means the same noise on
    every device."""
    common = dict(num_frames=num_frames, height=height, width=width, num_inference_steps=steps,
                  generator=torch.Generator("cpu").manual_seed(seed), output_type="pt",
                  callback_on_step_end=callback, **kwargs)
    if pipeline_family(pipe) == "svd":
        if isinstance(condition, str):
            raise ValueError("an SVD pipeline animates an image: expected a PIL image as condition, got a prompt")
        frames = pipe(image=condition, **common).frames
    else:
        if not isinstance(condition, str):
            raise ValueError(f"a CogVideoX pipeline expects a prompt string, got {type(condition).__name__}")
        if getattr(pipe.tokenizer, "model_max_length", 226) < 226:
            common.setdefault("max_sequence_length", pipe.tokenizer.model_max_length)
        frames = pipe(prompt=condition, **common).frames
    return frames.float().cpu()


def measure(pipe, condition, plan="none", device="cpu", num_frames: int = 9, height: int = 64, width: int = 64,
            steps: int = 4, seed: int = 0, **kwargs) -> Measurement:
    """Apply ``plan`` to ``pipe`` and generate once, measuring wall time, per-step time and peak memory.

    A plan that cannot run here comes back as ``Measurement(skipped=reason)`` instead of raising. ``pipe`` is
    changed by the plan: pass a fresh pipeline per plan.
    """
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

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        video = generate(pipe, condition, num_frames, height, width, steps, seed, callback=on_step, **kwargs)
        wall = time.perf_counter() - t0
    # steady-state steps: between consecutive callbacks (the first also holds encoding, so it is left out)
    step_s = [b - a for a, b in zip(stamps[:-1], stamps[1:])] or [s - t0 for s in stamps[:1]]
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device), "CUDA peak allocated"
    else:  # a second, profiled run of the same call (the profiler would slow the timed one)
        peak = peak_allocated_cpu(lambda: generate(pipe, condition, num_frames, height, width, steps, seed,
                                                   **kwargs))
        kind = "CPU peak allocated (live tensor bytes, torch profiler)"
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
    if pipeline_family(pipe) == "cogvideox":
        return prompt
    from .data import make_clip
    from .video import to_pil

    video, _, _ = make_clip(prompt, seed=seed, num_frames=1, size=max(32, min(height, width)))
    return to_pil(video)[0].resize((width, height))


def predict_for(pipe, plan, num_frames: int, height: int, width: int, device="cpu") -> dict:
    """The planner's prediction (:func:`labkit.budgets.predict_peak_memory`) for a live pipeline and plan.

    On the CPU the weights are resident before the measurement starts, so they are left out, matching
    :func:`measure` (the profiler's peak of tensor bytes allocated during the run); on a GPU they are included,
    matching CUDA peak allocated.
    """
    from .budgets import architecture_of_pipeline, predict_peak_memory

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
    from tqdm.auto import tqdm

    plans = ["none"] + [p for p in plans if p != "none"]
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


def mean_flow_magnitude(video: torch.Tensor) -> float:
    """Mean optical-flow magnitude (pixels per frame) of a clip ``(F, C, H, W)`` in ``[0, 1]``: OpenCV's
    Farneback dense flow between consecutive grey frames, averaged over pixels and frame pairs."""
    import cv2

    from .video import check_video, to_uint8

    video = check_video(video, allow_batch=False)
    if video.shape[0] < 2:
        raise ValueError(f"expected at least 2 frames to measure motion, got {video.shape[0]}")
    frames = to_uint8(video)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.shape[-1] == 3 else f[..., 0] for f in frames]
    mags = [np.linalg.norm(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 2, 9, 3, 5, 1.1, 0), axis=-1).mean()
            for a, b in zip(grey[:-1], grey[1:])]
    return float(np.mean(mags))


def sweep_knob(pipe, image, knob: str, values, num_frames: int, height: int, width: int, steps: int,
               seed: int = 0, **fixed) -> list[dict]:
    """Generate once per value of an SVD micro-condition (``motion_bucket_id``, ``fps``, ``noise_aug_strength``,
    ``min_guidance_scale``, ``max_guidance_scale``) with the same seed, measuring the motion of each video.

    ``image``: one PIL image or a list of them (the motion is then the mean over images, ``stderr`` its standard
    error); each row keeps the video of the first image."""
    from tqdm.auto import tqdm

    allowed = ("motion_bucket_id", "fps", "noise_aug_strength", "min_guidance_scale", "max_guidance_scale")
    if pipeline_family(pipe) != "svd" or knob not in allowed:
        raise ValueError(f"expected an SVD pipeline and a knob in {allowed}, got {pipeline_family(pipe)} / {knob!r}")
    images = list(image) if isinstance(image, (list, tuple)) else [image]
    if not images:
        raise ValueError("expected at least one conditioning image, got an empty list")
    rows = []
    for value in tqdm(list(values), desc=knob, leave=False):
        videos = [generate(pipe, im, num_frames, height, width, steps, seed, **{knob: value, **fixed})[0]
                  for im in images]
        flows = [mean_flow_magnitude(v) for v in videos]
        rows.append({knob: value, "motion (px/frame)": round(float(np.mean(flows)), 4),
                     "stderr": round(float(np.std(flows) / np.sqrt(len(flows))), 4), "video": videos[0]})
    return rows


def throughput(pipe, condition, batch_sizes, num_frames: int, height: int, width: int, steps: int) -> list[dict]:
    """Videos per second for each batch size (``num_videos_per_prompt``), measured in this run."""
    rows = []
    for b in batch_sizes:
        t0 = time.perf_counter()
        video = generate(pipe, condition, num_frames, height, width, steps, num_videos_per_prompt=b)
        seconds = time.perf_counter() - t0
        rows.append({"batch": b, "seconds": round(seconds, 2), "videos/s": round(video.shape[0] / seconds, 3)})
    return rows
