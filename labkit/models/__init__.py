"""TODO docstring"""

from __future__ import annotations

import json

import torch

from labkit import DATA_DIR

__all__ = ["SHIPPED", "is_shipped", "provenance", "load"]


#: Trained tiny models shipped in ``data/models/`` (name -> folder, trainer command, pipeline class).
SHIPPED = {
    "tiny-t2v": {"folder": DATA_DIR / "models" / "tiny-t2v", "train": "labkit train t2v",
                 "pipeline": "CogVideoXPipeline", "issue": "issue 6 (tiny text-to-video)"},
    "tiny-i2v": {"folder": DATA_DIR / "models" / "tiny-i2v", "train": "labkit train i2v",
                 "pipeline": "CogVideoXImageToVideoPipeline", "issue": "issue 6 (tiny image-to-video)"},
    "tiny-svd": {"folder": DATA_DIR / "models" / "tiny-svd", "train": "labkit train svd",
                 "pipeline": "StableVideoDiffusionPipeline", "issue": "issue 7 (tiny SVD)"},
}


def is_shipped(name: str) -> bool:
    """True when the shipped model ``name`` (a key of :data:`SHIPPED`) has its ``model_index.json`` in ``data/``."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped model {name!r}; expected one of {sorted(SHIPPED)}")
    return (SHIPPED[name]["folder"] / "model_index.json").exists()


def provenance(name: str) -> dict:
    """The ``PROVENANCE.json`` of a shipped model: its command, seed, seconds, hardware and the shipping run's
    evaluation (with ``bars_met`` / ``bars_problem`` where the trainer checks the issue's bars)."""
    if not is_shipped(name):
        raise FileNotFoundError(f"{name} is not shipped yet; it is trained by `{SHIPPED[name]['train']}`")
    return json.loads((SHIPPED[name]["folder"] / "PROVENANCE.json").read_text())


def load(name: str, verify_sha256: bool = True):
    """Load a shipped tiny pipeline (``"tiny-t2v"``, ``"tiny-i2v"``, ...) from ``data/models`` on the CPU, offline.

    Every file is checked against its sha256 in ``data/MANIFEST`` first (``labkit.manifest.verify``); a model that
    is not shipped yet raises ``FileNotFoundError`` saying which command trains it.
    """
    from diffusers import DiffusionPipeline

    from labkit.shipping.manifest import verify

    if not is_shipped(name):
        info = SHIPPED[name]
        raise FileNotFoundError(f"{name} is not shipped yet ({info['folder']} has no model_index.json); it is "
                                f"trained by `{info['train']}` ({info['issue']})")
    folder = SHIPPED[name]["folder"]
    if verify_sha256:
        prefix = f"{folder.relative_to(DATA_DIR).as_posix()}/"
        status = verify(prefix)
        bad = {path: s for path, s in status.items() if s != "ok"}
        if not status or bad:
            raise RuntimeError(f"{name}: files do not match data/MANIFEST: {bad or 'no manifest entries'}")
    pipe = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe
