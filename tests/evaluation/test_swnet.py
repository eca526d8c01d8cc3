"""labkit.evaluation.swnet: FVD-SW of generated clips against the shipped reference statistics."""

import warnings

import pytest
import torch

from labkit.data.shapes import ShapesWorld
from labkit.evaluation.swnet import fvd_sw
from labkit.metrics import FewSamplesWarning, corrupt
from labkit.metrics.fvd import load_reference_stats

torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


def clips(n, seed=0, split="test"):
    """``n`` Shapes-world clips ``(n, 17, 3, 64, 64)``."""
    world = ShapesWorld(split, length=n, seed=seed)
    return torch.stack([world[i].video for i in range(n)])


torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


def test_fvd_sw_against_shipped_reference_stats():
    ref = load_reference_stats()
    assert ref.meta["split"] == "test" and ref.meta["num_videos"] >= 512 and ref.sigma.shape == (128, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)
        clean, stutter = fvd_sw(clips(48, seed=2)), fvd_sw(corrupt(clips(48, seed=2), "drop_repeat", 1.0))
    assert clean.metric == "FVD-SW" and clean.num_real == ref.meta["num_videos"] and clean.num_fake == 48
    assert stutter.value > 3 * clean.value
    with pytest.raises(ValueError, match="17 frames at 64x64"):
        fvd_sw(clips(4)[:, :16])
