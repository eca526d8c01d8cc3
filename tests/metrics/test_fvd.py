"""Tests of labkit.metrics.fvd and labkit.metrics.i3d: FVD plumbing with a transparent feature extractor, FVD-SW
with the shipped SW-Net, the I3D architecture (pytorch-i3d names and shapes, random weights) and its two loaders."""

import warnings

import pytest
import torch

from labkit.data.shapes import ShapesWorld
from labkit.metrics import FewSamplesWarning, corrupt, frechet_distance, gaussian_stats
from labkit.metrics.fvd import fvd, prepare_videos, sample_frames
from labkit.models.i3d import I3DFeatures, InceptionI3d, load_i3d
from labkit.models.swnet import DEFAULT_PATH

torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


class ColourMotionFeatures:
    """A transparent 6-d embedding: mean colour and mean absolute frame difference per channel."""

    name, dim, metric = "colour+motion", 6, "FVD-test"

    def __call__(self, videos):
        colour = videos.mean(dim=(1, 3, 4))
        motion = (videos[:, 1:] - videos[:, :-1]).abs().mean(dim=(1, 3, 4)) * 10
        return torch.cat([colour, motion], 1)


def clips(n, seed=0, split="test"):
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


def test_frame_sampling_modes():
    videos = torch.arange(10.0).view(1, 10, 1, 1, 1).expand(1, 10, 3, 2, 2) / 10
    pick = lambda mode: sample_frames(videos, 4, mode)[0, :, 0, 0, 0].mul(10).round().tolist()  # noqa: E731
    assert pick("first") == [0, 1, 2, 3] and pick("center") == [3, 4, 5, 6] and pick("uniform") == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="clip_sampling"):
        sample_frames(videos, 4, "random")
    with pytest.raises(ValueError, match=r"num_frames <= 10"):
        prepare_videos(videos, num_frames=12)


shipped = pytest.mark.skipif(not (DEFAULT_PATH / "model.safetensors").exists(), reason="SW-Net not shipped yet")


@shipped
def test_fvd_sw_grows_with_blur_and_frame_shuffling():
    # what SW-Net is trained on -- shapes (edges) and motion -- is what FVD-SW notices. It is nearly blind to
    # additive noise (its 4x4 patch embedding averages noise out): see the content-bias section of notebook 07.
    from labkit.metrics.fvd import fvd_from_stats, load_reference_stats
    from labkit.models.swnet import SWNetFeatures

    feats, ref = SWNetFeatures(), load_reference_stats()
    fake = clips(48, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # 48 < 128 dims: biased, but the bias is the same
        for kind in ("blur", "shuffle"):
            values = [fvd_from_stats(ref, corrupt(fake, kind, s), feats).value for s in (0.0, 0.5, 1.0)]
            assert values[0] < values[1] < values[2], (kind, values)


@shipped
def test_fvd_sw_against_shipped_reference_stats():
    from labkit.evaluation.swnet import fvd_sw
    from labkit.metrics.fvd import load_reference_stats

    ref = load_reference_stats()
    assert ref.meta["split"] == "test" and ref.meta["num_videos"] >= 512 and ref.sigma.shape == (128, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)
        clean, stutter = fvd_sw(clips(48, seed=2)), fvd_sw(corrupt(clips(48, seed=2), "drop_repeat", 1.0))
    assert clean.metric == "FVD-SW" and clean.num_real == ref.meta["num_videos"] and clean.num_fake == 48
    assert stutter.value > 3 * clean.value
    with pytest.raises(ValueError, match="17 frames at 64x64"):
        fvd_sw(clips(4)[:, :16])


# ---------------------------------------------------------------- I3D
def test_i3d_has_the_pytorch_i3d_names_and_shapes():
    state = InceptionI3d().state_dict()
    expected = {
        "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
        "Conv3d_2c_3x3.bn.running_var": (192,),
        "Mixed_3b.b1b.conv3d.weight": (128, 96, 3, 3, 3),
        "Mixed_4f.b0.conv3d.weight": (256, 528, 1, 1, 1),
        "Mixed_5c.b3b.conv3d.weight": (128, 832, 1, 1, 1),
        "logits.conv3d.weight": (400, 1024, 1, 1, 1),
        "logits.conv3d.bias": (400,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("logits.bn") for k in state)
    n_params = sum(p.numel() for p in InceptionI3d().parameters())
    assert 12_000_000 < n_params < 13_000_000  # I3D RGB: ~12.3 M parameters


def test_i3d_state_dict_loader_reads_safetensors_and_never_unpickles(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = InceptionI3d()
    path = tmp_path / "rgb_imagenet.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    loaded = load_i3d(path)
    assert torch.equal(loaded.Mixed_5c.b3b.conv3d.weight, model.Mixed_5c.b3b.conv3d.weight)
    pickled = tmp_path / "rgb_imagenet.pt"  # the published format: refused, with the conversion to run once
    torch.save(model.state_dict(), pickled)
    with pytest.raises(ValueError, match="never unpickles.*save_file"):
        load_i3d(pickled)
    evil = tmp_path / "evil.pt"
    torch.save({"logits.conv3d.weight": torch.zeros(1), "payload": ColourMotionFeatures()}, evil)
    with pytest.raises(ValueError, match="not a TorchScript module"):
        load_i3d(evil)
    with pytest.raises(FileNotFoundError, match="pytorch-i3d"):
        load_i3d(tmp_path / "missing.pt")
    bad = tmp_path / "bad.safetensors"
    save_file({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="logits.conv3d.weight"):
        load_i3d(bad)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_i3d(junk)


class FakeTorchScriptI3D(torch.nn.Module):
    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        if rescale or resize or not return_features:
            return torch.full((x.shape[0], 400), -1.0)
        return x.mean(dim=(2, 3, 4)).repeat(1, 134)[:, :400]


def test_torchscript_loader_calls_with_fvd_arguments_and_features_preprocess(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(FakeTorchScriptI3D()).save(str(path))
    feats = I3DFeatures(load_i3d(path))
    videos = torch.rand(2, 9, 3, 32, 32)
    out = feats(videos)
    assert out.shape == (2, 400)
    expected = (videos * 2 - 1).mean(dim=(1, 3, 4))  # per-channel mean in [-1, 1] (resizing keeps the mean)
    assert torch.allclose(out[:, :3], expected, atol=2e-2)
    with pytest.raises(ValueError, match="at least 9 frames"):
        feats(torch.rand(1, 8, 3, 32, 32))


def test_i3d_rejects_course_layout():
    with pytest.raises(ValueError, match=r"expected I3D input \(B, 3, F >= 9, 224, 224\)"):
        InceptionI3d()(torch.rand(1, 16, 3, 224, 224))


@pytest.mark.slow
def test_i3d_forward_shape_with_random_weights():
    # slow: one 16-frame 224x224 clip through the full 12 M-parameter network takes ~5-20 s on 2 CPU cores
    torch.manual_seed(0)
    out = I3DFeatures(InceptionI3d())(torch.rand(1, 16, 3, 64, 64))
    assert out.shape == (1, 400) and torch.isfinite(out).all()
    mixed = InceptionI3d().extract(torch.zeros(1, 3, 16, 224, 224))
    assert mixed.shape == (1, 1024, 2, 7, 7)
