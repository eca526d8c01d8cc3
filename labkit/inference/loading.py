"""Loading the real video pipelines offline: one spec string, a clear error before any heavy work.

Taught in ``05_svd_cogvideox_inference``.

:func:`load_pipeline` takes a shipped tiny pipeline (``"tiny-t2v"``, ``"tiny-i2v"``, ``"tiny-svd"``: loaded
through :func:`labkit.models.load`, every file checked against ``data/MANIFEST``), ``"random:tiny-cogvideox"`` /
``"random:tiny-svd"`` (the random-weight pipelines of :mod:`labkit.models.tiny`), ``"real-size-random:NAME"``
(a production architecture from ``data/configs`` with random weights, to measure cost without a download), a local
folder with ``model_index.json``, or a hub id (``THUDM/CogVideoX-5b``,
``stabilityai/stable-video-diffusion-img2vid-xt``). It never touches the network: a hub id is looked up in the local
Hugging Face cache only, and a miss raises :class:`WeightsNotFound` at once, saying how to download the weights and
pass the local path. Every pipeline gets a ``labkit_note`` saying what it is (random weights are labelled).
:func:`resolve_device` and :func:`resolve_dtype` check ``"cpu" | "cuda" | "auto"`` and ``"fp32" | "fp16" |
"bf16"``; :func:`pipeline_family` tells an SVD pipeline from a CogVideoX one.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import psutil
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.constants import HF_HUB_CACHE
from transformers import CLIPImageProcessor

from labkit import budgets, models
from labkit.checks import check_choice, closest
from labkit.models.text import shapes_tokenizer
from labkit.models.tiny import RANDOM_WEIGHTS_NOTE, TINY_FACTORIES

__all__ = ["WeightsNotFound", "resolve_dtype", "resolve_device", "load_pipeline", "pipeline_family"]


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
           "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


class WeightsNotFound(FileNotFoundError):
    """The weights of a spec are not on this machine (and labkit will not download them during a lesson)."""


def resolve_dtype(dtype) -> torch.dtype:
    """``"fp32"``/``"fp16"``/``"bf16"`` (or a torch dtype) -> ``torch.dtype``; a clear error otherwise."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in DTYPES:
        return DTYPES[dtype.lower()]
    raise ValueError(f"expected dtype one of {sorted(set(DTYPES))} or torch.float32/float16/bfloat16, got {dtype!r}")


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

    name = repo_id.split("/")[-1]
    return (f"{repo_id!r} is not in the local Hugging Face cache ({HF_HUB_CACHE}) and labkit never downloads "
            f"during a lesson (offline first).\nTo run the real model:\n"
            f"  1. on a machine with internet: hf download {repo_id} --local-dir ~/models/{name}\n"
            f"  2. pass the folder: MODEL=\"~/models/{name}\" (or copy the cache folder here)\n"
            f"To measure its cost without the download (GPU), use MODEL=\"real-size-random:{repo_id}\".")


def _cached_hub_folder(repo_id: str) -> str | None:
    """The local snapshot folder of a hub repo when its ``model_index.json`` is cached; never a network call."""

    try:
        hit = try_to_load_from_cache(repo_id, "model_index.json")
    except Exception:  # a malformed repo id
        return None
    return str(Path(hit).parent) if isinstance(hit, str) else None


def _from_folder(folder, device, dtype):

    pipe = DiffusionPipeline.from_pretrained(str(folder), torch_dtype=dtype, local_files_only=True)
    return pipe.to(device)


def _real_size_random(name: str, device, dtype):
    """The production architecture with random weights, built directly on ``device`` in ``dtype``."""

    spec = budgets.get_spec(name)
    need = budgets.weight_bytes(sum(budgets.parameter_counts(spec.name).values()), dtype)
    if device.type == "cpu":

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

    cls_name = json.loads((budgets.CONFIG_DIR / spec.scheduler).read_text())["_class_name"]
    parts["scheduler"] = getattr(diffusers, cls_name).from_config(scheduler_cfg)
    if spec.family == "svd":

        parts["feature_extractor"] = CLIPImageProcessor(crop_size=224, size=224)
    else:
        parts["tokenizer"] = shapes_tokenizer(max_length=226)  # ids fit T5's vocabulary; the text is not T5's
    pipe = getattr(diffusers, spec.pipeline)(**parts)
    pipe.labkit_note = f"real-size architecture of {spec.hub_id} with RANDOM weights: costs are real, videos are noise"
    return pipe


#: The shipped models that are whole diffusers pipelines.
PIPELINES = [n for n, e in models.REGISTRY.items() if e.kind.endswith("-pipeline")]


def load_pipeline(spec: str, device="cpu", dtype="fp32"):
    """Load a video pipeline from ``spec`` onto ``device`` in ``dtype``, offline.

    ``spec``: a shipped tiny model (``"tiny-t2v"``, ``"tiny-i2v"``, ``"tiny-svd"``), ``"random:tiny-cogvideox"``
    or ``"random:tiny-svd"`` (random weights), ``"real-size-random:cogvideox-5b"`` (or ``:svd-xt``,
    ``:cogvideox-2b``, or the hub id), a local folder with ``model_index.json``, or a hub id present in the local
    cache. Anything else raises :class:`WeightsNotFound`/``ValueError`` before any heavy work.
    """
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"spec: expected a model spec string, got {type(spec).__name__} {spec!r}")
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    if spec.startswith("random:"):
        name = spec.split(":", 1)[1]
        check_choice(name, "spec", list(TINY_FACTORIES), what="random tiny pipeline")
        pipe = TINY_FACTORIES[name]().to(device)
        if dtype != torch.float32:
            cast_quietly(pipe, dtype)
        pipe.labkit_note = RANDOM_WEIGHTS_NOTE
        return pipe
    if spec.startswith("real-size-random:"):
        return _real_size_random(spec.split(":", 1)[1], device, dtype)
    if spec in PIPELINES:
        if not models.is_shipped(spec):
            raise WeightsNotFound(f"{models.missing(spec)}; or use a random-weight tiny pipeline: "
                                  "'random:tiny-cogvideox' or 'random:tiny-svd'")
        pipe = models.load(spec).to(device)  # checks every file's sha256 against data/MANIFEST first
        if dtype != torch.float32:
            cast_quietly(pipe, dtype)
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
    known = PIPELINES + [f"random:{name}" for name in TINY_FACTORIES]
    raise ValueError(f"spec: expected a hub id (owner/name), a local folder, one of {list(PIPELINES)}, 'random:NAME' "
                     f"or 'real-size-random:NAME', got {spec!r} (no such folder){closest(spec, known)}")


def cast_quietly(pipe, dtype) -> None:
    """``pipe.to(dtype)`` without diffusers' warning about modules kept in float32 (the tiny models have none)."""

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        pipe.to(dtype=dtype)
    finally:
        logging.set_verbosity(level)


def pipeline_family(pipe) -> str:
    """``"svd"`` (image-to-video UNet) or ``"cogvideox"`` (text-to-video transformer)."""
    return "svd" if hasattr(pipe, "unet") and pipe.unet is not None else "cogvideox"


def load_or_fallback(spec: str, fallback: str, device="cpu", dtype="fp32"):
    """:func:`load_pipeline` of ``spec``, or of ``fallback`` (e.g. ``"random:tiny-cogvideox"``) when the weights of
    ``spec`` are not on this machine (:class:`WeightsNotFound`, whose message says how to get them is printed).

    Notebook 05 uses it so that a hub id runs the real model where its weights are cached and the tiny random
    pipeline, saying so (``pipe.labkit_note``), where they are not. A course model (``tiny-svd``, ...) never falls
    back: if it is missing, that is an error saying how to restore it.
    """
    if spec in PIPELINES:
        return load_pipeline(spec, device, dtype)
    try:
        return load_pipeline(spec, device, dtype)
    except WeightsNotFound as err:
        print(f"{err}\n-> falling back to {fallback}")
        return load_pipeline(fallback, device, dtype)
