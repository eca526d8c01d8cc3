"""labkit.models.i3d: the I3D architecture (pytorch-i3d names and shapes, random weights) and its two loaders."""

import pytest
import torch
from safetensors.torch import save_file

from labkit.models.i3d import I3DFeatures, InceptionI3d, load_i3d

torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


class _Payload:
    """Any pickled Python object: what a malicious .pt could carry."""


torch.set_num_threads(1)  # on a busy shared 2-core machine one thread was ~3x faster (measured)


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
    torch.save({"logits.conv3d.weight": torch.zeros(1), "payload": _Payload()}, evil)
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
