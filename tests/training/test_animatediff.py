"""labkit.training.animatediff through the trainer shell: `labkit train image-unet` then `motion-adapter` write
safetensors folders that load back as working models."""

import torch

from labkit.models import animatediff as I
from labkit.training import cli


def test_trainers_write_safetensors_that_load_back(tmp_path):
    out = tmp_path / "image"
    assert cli.main("image-unet", ["--steps", "2", "--batch", "2", "--out", str(out), "--threads", "1"]) == 0
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert (out / "text_encoder" / "diffusion_pytorch_model.safetensors").exists()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(1, 3, 3, I.SIZE, I.SIZE, generator=g), torch.tensor([500])
    ids = I.tokenize(["a red circle moving left"])
    assert torch.isfinite(I.load_image_model(out)(x[:, 0], t, ids)).all()
    adapter_out = tmp_path / "adapter"
    argv = ["--steps", "1", "--batch", "1", "--image", str(out), "--out", str(adapter_out), "--threads", "1"]
    assert cli.main("motion-adapter", argv) == 0
    video = I.load_video_model(adapter_out, out)
    assert video(x, t, ids).shape == (1, 3, 3, I.SIZE, I.SIZE)
