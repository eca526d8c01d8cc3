"""labkit.metrics.fvd: FVD plumbing with a transparent feature extractor (the Fréchet distance of its features,
frame sampling, input checks), and FVD-SW of corrupted clips against the shipped reference statistics."""

import warnings

import pytest
import torch

from labkit.data.shapes import ShapesWorld
from labkit.metrics import FewSamplesWarning, corrupt, frechet_distance, gaussian_stats
from labkit.metrics.fvd import fvd, fvd_from_stats, load_reference_stats, prepare_videos, sample_frames
from labkit.models.swnet import SWNetFeatures

torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


class ColourMotionFeatures:
    """A transparent 6-d embedding: mean colour and mean absolute frame difference per channel."""

    name, dim, metric = "colour+motion", 6, "FVD-test"

    def __call__(self, videos):
        colour = videos.mean(dim=(1, 3, 4))
        motion = (videos[:, 1:] - videos[:, :-1]).abs().mean(dim=(1, 3, 4)) * 10
        return torch.cat([colour, motion], 1)


def clips(n, seed=0, split="test"):
    """``n`` Shapes-world clips ``(n, 17, 3, 64, 64)``."""
    world = ShapesWorld(split, length=n, seed=seed)
    return torch.stack([world[i].video for i in range(n)])


def test_fvd_equals_frechet_of_the_features_and_reports_its_settings():
    real, fake = clips(24), corrupt(clips(24, seed=1), "noise", 0.5)
    feats = ColourMotionFeatures()
    result = fvd(real, fake, features=feats)
    mu_r, s_r = gaussian_stats(feats(real).double())
    mu_f, s_f = gaussian_stats(feats(fake).double())
    assert result.value == pytest.approx(frechet_distance(mu_r, s_r, mu_f, s_f), rel=1e-9)
    assert (result.num_real, result.num_fake, result.num_frames, result.size) == (24, 24, 17, (64, 64))
    assert "FVD-test" in str(result) and "24 real vs 24 generated" in str(result)
    assert fvd(real, real, features=feats).value == pytest.approx(0.0, abs=1e-9)


def test_fvd_validates_frames_sizes_and_warns_for_few_videos():
    real = clips(8)
    feats = ColourMotionFeatures()
    with pytest.raises(ValueError, match="same number of frames, got 17 and 16: pass num_frames="):
        fvd(real, real[:, :16], features=feats)
    assert fvd(real, real[:, :16], features=feats, num_frames=16).num_frames == 16
    small = torch.nn.functional.interpolate(real.flatten(0, 1), size=(32, 32)).unflatten(0, (8, 17))
    with pytest.raises(ValueError, match=r"same \(C, H, W\).*pass size="):
        fvd(real, small, features=feats)
    assert fvd(real, small, features=feats, size=32).size == (32, 32)
    with pytest.warns(FewSamplesWarning, match="5 samples for 6 feature dimensions"):
        fvd(real[:5], real[3:8], features=feats)
    with pytest.raises(ValueError, match="channels last"):
        fvd(real.permute(0, 1, 3, 4, 2), real, features=feats)
    with pytest.raises(TypeError, match="features"):  # no default extractor: the caller names what FVD measures
        fvd(real, real)


def test_frame_sampling_modes():
    videos = torch.arange(10.0).view(1, 10, 1, 1, 1).expand(1, 10, 3, 2, 2) / 10
    pick = lambda mode: sample_frames(videos, 4, mode)[0, :, 0, 0, 0].mul(10).round().tolist()  # noqa: E731
    assert pick("first") == [0, 1, 2, 3] and pick("center") == [3, 4, 5, 6] and pick("uniform") == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="clip_sampling"):
        sample_frames(videos, 4, "random")
    with pytest.raises(ValueError, match=r"num_frames <= 10"):
        prepare_videos(videos, num_frames=12)


def test_fvd_sw_grows_with_blur_and_frame_shuffling():
    # what SW-Net is trained on -- shapes (edges) and motion -- is what FVD-SW notices. It is nearly blind to
    # additive noise (its 4x4 patch embedding averages noise out): see the content-bias section of notebook 07.
    feats, ref = SWNetFeatures(), load_reference_stats()
    fake = clips(48, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # 48 < 128 dims: biased, but the bias is the same
        for kind in ("blur", "shuffle"):
            values = [fvd_from_stats(ref, corrupt(fake, kind, s), feats).value for s in (0.0, 0.5, 1.0)]
            assert values[0] < values[1] < values[2], (kind, values)
