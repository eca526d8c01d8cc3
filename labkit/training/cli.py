"""TODO docstring"""

from __future__ import annotations

import importlib
import sys

__all__ = ["TRAINERS", "run_trainer"]


#: ``labkit train KIND ...`` -> ``"module:function"``; each function takes ``argv: list[str]``.
TRAINERS: dict[str, str] = {
    "vae": "labkit.vae_train:main",                  # notebook 01: --kind 2d|3d
    "features": "labkit.metrics.swnet:main",          # notebook 07: the Shapes-world video feature network
    "image-unet": "labkit.inflation:train_image_unet_main",      # notebook 02
    "motion-adapter": "labkit.inflation:train_motion_adapter_main",  # notebook 02
    "t2v": "labkit.t2v_train:main_t2v",               # notebook 04
    "i2v": "labkit.t2v_train:main_i2v",               # notebook 04
    "svd": "labkit.svd_train:main",                   # notebook 05
    "orbit": "labkit.multiview_train:main",           # notebook 06
}


def run_trainer(kind: str, argv: list[str]) -> int:
    """Dispatch ``labkit train KIND ARGS...`` to the trainer registered in :data:`TRAINERS`."""
    if kind not in TRAINERS:
        print(f"unknown model kind {kind!r}; expected one of: {', '.join(TRAINERS)}", file=sys.stderr)
        return 2
    module_name, func_name = TRAINERS[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        print(f"`labkit train {kind}` is not available in this version of the course yet", file=sys.stderr)
        return 2
    return int(getattr(module, func_name)(argv) or 0)
