"""Tiny models built from the real diffusers/transformers classes, and the registry of every shipped one.

Taught in ``04_train_tiny_video_model`` and ``05_svd_cogvideox_inference``; every lesson loads its models here.

:data:`REGISTRY` names every folder in ``data/models/``: its kind, the notebook that uses it, the command that
trains it and how it loads. :func:`load` checks the name first (an unknown name is refused before any heavy import),
verifies every file against its sha256 in ``data/MANIFEST``, then loads it on the CPU, offline. A course model that
is missing is an error that says how to get it back, never a silent fallback.

One module per family: :mod:`.text` (tokenizer + T5), :mod:`.vae`, :mod:`.cogvideox` (the tiny text-/image-to-video
model), :mod:`.tiny` (random-weight CogVideoX / SVD pipelines of lesson 05, and pipeline folders),
:mod:`.svd`, :mod:`.animatediff` (image UNet + motion adapter), :mod:`.orbit_unet`, :mod:`.swnet`, :mod:`.i3d`,
:mod:`.embedders`.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from labkit import DATA_DIR
from labkit.checks import check_choice
from labkit.shipping.manifest import verify

__all__ = ["ModelEntry", "REGISTRY", "MODELS_DIR", "check_name", "folder", "is_shipped", "missing", "verify_files", "provenance", "load",
           "shipped_names"]

MODELS_DIR = DATA_DIR / "models"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped folder ``data/models/NAME``."""

    name: str
    kind: str  # what it is: "vae-2d", "vae-3d", "t2v-pipeline", "i2v-pipeline", "svd-pipeline", ...
    notebook: str  # the lesson that uses it
    train: str  # the trainer that makes it (the exact command is in data/MANIFEST and PROVENANCE.json)
    loader: str  # "module:function" taking the folder
    marker: str  # the file whose presence means the folder is there


_PIPELINE = "labkit.models.tiny:load_pipeline_folder"

#: Every folder in ``data/models/`` (tests/models/test_registry.py checks both directions).
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("vae-2d", "vae-2d", "01_latent_compression", "labkit train vae --kind 2d",
               "labkit.models.vae:load_vae", "config.json"),
    ModelEntry("vae-3d", "vae-3d", "01_latent_compression", "labkit train vae --kind 3d",
               "labkit.models.vae:load_vae", "config.json"),
    ModelEntry("vae-3d-v4", "vae-3d", "01_latent_compression", "labkit train vae --kind 3d",
               "labkit.models.vae:load_vae", "config.json"),
    ModelEntry("vae-3d-cc", "vae-3d", "04_train_tiny_video_model", "labkit train vae --kind 3d --code-consistency",
               "labkit.models.vae:load_vae", "config.json"),
    ModelEntry("tiny-image-unet", "image-unet", "02_temporal_attention", "labkit train image-unet",
               "labkit.models.animatediff:load_image_model", "unet/config.json"),
    ModelEntry("tiny-motion-adapter", "motion-adapter", "02_temporal_attention", "labkit train motion-adapter",
               "labkit.models.animatediff:load_video_model", "motion_adapter/config.json"),
    ModelEntry("tiny-t2v", "t2v-pipeline", "04_train_tiny_video_model", "labkit train t2v", _PIPELINE,
               "model_index.json"),
    ModelEntry("tiny-i2v", "i2v-pipeline", "04_train_tiny_video_model", "labkit train i2v", _PIPELINE,
               "model_index.json"),
    ModelEntry("tiny-svd", "svd-pipeline", "05_svd_cogvideox_inference", "labkit train svd", _PIPELINE,
               "model_index.json"),
    ModelEntry("tiny-orbit", "orbit-unet", "06_multiview_generation", "labkit train orbit",
               "labkit.models.orbit_unet:load_generator", "orbit.json"),
    ModelEntry("swnet", "feature-network", "07_metric_evaluation", "labkit train features",
               "labkit.models.swnet:load_swnet", "config.json"),
)}


def check_name(name) -> ModelEntry:
    """The registry entry of ``name``; a ``ValueError`` naming the closest and all known models otherwise, a
    ``TypeError`` for a name that is not a string (:func:`labkit.checks.check_choice`; no heavy import)."""
    return REGISTRY[check_choice(name, "name", sorted(REGISTRY), what="model")]


def folder(name: str) -> Path:
    """``data/models/NAME`` of a registered model (whether or not it is on disk)."""
    return MODELS_DIR / check_name(name).name


def is_shipped(name: str) -> bool:
    """True when the registered model's folder is on disk (its marker file exists)."""
    return (folder(name) / REGISTRY[name].marker).exists()


def shipped_names(kind_prefix: str = "") -> list[str]:
    """Registered models on disk, in registry order; only kinds starting with ``kind_prefix`` when given."""
    return [n for n, e in REGISTRY.items() if e.kind.startswith(kind_prefix) and is_shipped(n)]


def missing(name: str) -> FileNotFoundError:
    """The error for a registered model that is not on disk: where it should be and how to get it back."""
    entry = check_name(name)
    return FileNotFoundError(
        f"{name} is missing: {folder(name)} has no {entry.marker}. It ships with the course: restore it with "
        f"`git checkout -- data/models/{name}` (and `git lfs pull` if your clone uses LFS), or retrain it with the "
        f"command recorded for it in data/MANIFEST (`{entry.train} ...`)")


def provenance(name: str) -> dict:
    """The ``PROVENANCE.json`` of a shipped model: its command, seed, seconds, hardware and the shipping run's
    evaluation (with ``bars_met`` / ``bars_problem`` where the trainer checks the lesson's bars)."""
    if not is_shipped(name):
        raise missing(name)
    return json.loads((folder(name) / "PROVENANCE.json").read_text())


def verify_files(name: str) -> None:
    """Check every file of ``data/models/NAME`` against ``data/MANIFEST``; a ``RuntimeError`` lists mismatches."""
    status = verify(f"models/{name}/")
    bad = {path: s for path, s in status.items() if s != "ok"}
    if not status or bad:
        raise RuntimeError(f"{name}: files do not match data/MANIFEST: {bad or 'no manifest entries'}")


def load(name: str, verify_sha256: bool = True):
    """Load a shipped model by name on the CPU, offline: a diffusers pipeline for ``tiny-t2v``, ``tiny-i2v``,
    ``tiny-svd``; a VAE for ``vae-*``; the model object of its family otherwise (see :data:`REGISTRY`).

    A CogVideoX pipeline's transformer refuses a prompt padded to another length than its ``max_text_seq_length``
    with a ``ValueError`` that says ``pass max_sequence_length=16 to the pipeline call``
    (:func:`labkit.models.tiny.load_pipeline_folder`)."""
    entry = check_name(name)
    if not isinstance(verify_sha256, bool):
        raise TypeError(f"verify_sha256: expected True or False, got {type(verify_sha256).__name__} {verify_sha256!r}")
    if not is_shipped(name):
        raise missing(name)
    if verify_sha256:
        verify_files(name)
    module, function = entry.loader.split(":")
    # lazy: the family modules import torch/diffusers; the name and files are checked before that cost is paid
    return getattr(importlib.import_module(module), function)(folder(name))
