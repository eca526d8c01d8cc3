"""labkit.metrics.corruptions: every corruption keeps shape and range, is the identity at strength 0, deterministic
for a seed; temporal ones only reorder frames; input checks."""

import pytest
import torch

from labkit.data.shapes import ShapesWorld
from labkit.metrics import CORRUPTIONS, corrupt

torch.set_num_threads(2)


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corruptions_keep_shape_range_identity_and_determinism(kind):
    clip = ShapesWorld("test", 1)[0].video
    assert torch.equal(corrupt(clip, kind, 0.0), clip) or torch.allclose(corrupt(clip, kind, 0.0), clip)
    out = corrupt(clip, kind, 0.7, seed=3)
    assert out.shape == clip.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, corrupt(clip, kind, 0.7, seed=3))
    assert not torch.allclose(out, clip)


def test_temporal_corruptions_keep_the_frames_themselves():
    clip = ShapesWorld("test", 1)[0].video
    frames = {f.numpy().tobytes() for f in clip}
    for kind in ("shuffle", "drop_repeat", "reverse"):
        assert {f.numpy().tobytes() for f in corrupt(clip, kind, 1.0)} <= frames
    assert torch.equal(corrupt(clip, "reverse", 1.0), clip.flip(0))


def test_corrupt_validates_kind_strength_and_batches():
    clip = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown corruption 'melt'"):
        corrupt(clip, "melt", 0.5)
    with pytest.raises(ValueError, match=r"strength: expected a finite number in \[0, 1\], got 1.5"):
        corrupt(clip, "blur", 1.5)
    batch = corrupt(torch.stack([clip, clip]), "noise", 0.5)
    assert batch.shape == (2, 4, 3, 8, 8) and not torch.equal(batch[0], batch[1])
