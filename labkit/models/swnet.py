"""SW-Net: a small Shapes-world video classifier whose features give "FVD-SW", the in-domain analogue of FVD.

Taught in ``07_metric_evaluation``; trained by ``labkit train features``.

FVD embeds videos with I3D, a Kinetics-400 action classifier, and compares Gaussian fits of the embeddings. Our
videos are 64x64 Shapes-world clips, far from Kinetics, so the course trains its own embedding network on the
things that vary in this world -- colour, shape, direction and speed -- and calls the distance **FVD-SW** so nobody
mistakes it for FVD. The network is factorised (2+1)D (Tran et al., CVPR 2018, "A closer look at spatiotemporal
convolutions"): per-frame 2D convolutions, each followed by a residual temporal convolution over frames::

    (B, 17, 3, 64, 64) -> every 2nd frame, RGB + temporal difference -> '(b f) c h w'    (b 9) 6 64 64
                      -> 4x4 patch conv s4 -> 24 x 16 x 16
                      -> conv2d s2 -> 32 x 8 x 8 -> + temporal conv (k=3)          ('b c f h w' layout for it)
                      -> conv2d s2 -> 48 x 4 x 4 -> + temporal conv (k=3, dil 2)
                      -> conv2d    -> 64 x 4 x 4 -> + temporal conv (k=3, dil 4)
                      -> mean and max over (F, H, W) -> Linear -> 128-d video embedding -> 4 heads

``frame_features`` runs the 2D path only on each frame alone (no temporal mixing) and pools it: the per-frame embedding used by
:func:`labkit.metrics.frame_consistency` when no CLIP is available.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file, save_file
from torch import nn

from labkit.data.shapes import COLORS, DIRECTIONS, SHAPES, SPEEDS
from labkit.metrics._checks import as_batch
from labkit.models import folder as registry_folder

__all__ = ["DEFAULT_PATH", "HEADS", "SWNetConfig", "TemporalBlock", "temporal_difference", "SWNet", "save_swnet",
           "load_swnet", "swnet_frame_embedder", "labels_of", "SWNetFeatures"]


DEFAULT_PATH = registry_folder("swnet")


#: head name -> class names, in label order.
HEADS: dict[str, list[str]] = {"color": list(COLORS), "shape": list(SHAPES), "direction": list(DIRECTIONS),
                               "speed": list(SPEEDS)}


@dataclass
class SWNetConfig:
    widths: tuple[int, ...] = (24, 32, 48, 64)
    embed_dim: int = 128
    size: int = 64  # input frames are resized (antialiased) to size x size
    patch: int = 4  # the first convolution is a non-overlapping patch embedding: full detail, 1/16 of the positions
    frame_stride: int = 2  # SW-Net looks at every 2nd frame (17 -> 9): half the cost, same first and last frame

    @property
    def dilations(self) -> tuple[int, ...]:  # one temporal block after every 2D stage but the first
        return tuple(2 ** i for i in range(len(self.widths) - 1))


class TemporalBlock(nn.Module):
    """Residual temporal convolution over frames at every pixel: ``x + conv1d_t(x)``."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(dilation, 0, 0), dilation=(dilation, 1, 1))

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        y = rearrange(x, "(b f) c h w -> b c f h w", f=num_frames)
        y = self.conv(F.silu(self.norm(y)))
        return x + rearrange(y, "b c f h w -> (b f) c h w")


def temporal_difference(x: torch.Tensor) -> torch.Tensor:
    """``(B, F, C, H, W)`` -> central frame difference ``(x[t+1] - x[t-1]) / 2`` (one-sided at the ends)."""
    padded = torch.cat([x[:, :1], x, x[:, -1:]], dim=1)
    return (padded[:, 2:] - padded[:, :-2]) / 2


class SWNet(nn.Module):
    """The (2+1)D Shapes-world classifier; ``forward`` returns ``{head: logits}`` and ``"embedding"``.

    Each frame enters with its temporal difference as 3 extra channels (the "RGB difference" input of TSN,
    Wang et al., ECCV 2016): a moving edge shows up as a signed pair, so direction and speed are local patterns.
    """

    def __init__(self, config: SWNetConfig | None = None):
        super().__init__()
        self.config = config = config or SWNetConfig()
        w = config.widths
        first = nn.Conv2d(6, w[0], config.patch, stride=config.patch)  # 6 = RGB + RGB difference
        stages = [nn.Conv2d(i, o, 3, stride=s, padding=1) for i, o, s in zip(w[:-1], w[1:], [2] * (len(w) - 2) + [1])]
        self.spatial = nn.ModuleList(nn.Sequential(conv, nn.GroupNorm(8, conv.out_channels), nn.SiLU())
                                     for conv in [first, *stages])
        self.temporal = nn.ModuleList(TemporalBlock(c, d) for c, d in zip(w[1:], config.dilations))
        self.embed = nn.Sequential(nn.Linear(2 * w[-1], config.embed_dim), nn.SiLU())  # mean- and max-pooled
        self.heads = nn.ModuleDict({k: nn.Linear(config.embed_dim, len(v)) for k, v in HEADS.items()})

    def _prepare(self, videos: torch.Tensor, motion: bool = True) -> torch.Tensor:
        """``(B, F, C, H, W)`` in [0, 1] -> ``(B*F, 6, size, size)``: RGB in [-1, 1] and the temporal difference."""
        videos = as_batch(videos)[:, ::self.config.frame_stride]
        if videos.shape[2] == 1:
            videos = videos.expand(-1, -1, 3, -1, -1)
        b, f = videos.shape[:2]
        if videos.shape[-2:] != (self.config.size,) * 2:
            flat = F.interpolate(videos.flatten(0, 1), size=(self.config.size,) * 2, mode="bilinear",
                                 antialias=True, align_corners=False)
            videos = flat.unflatten(0, (b, f))
        diff = temporal_difference(videos) * 2 if motion else torch.zeros_like(videos)
        return rearrange(torch.cat([videos * 2 - 1, diff], dim=2), "b f c h w -> (b f) c h w")

    def forward(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """``videos`` ``(B, F, C, H, W)`` in [0, 1] -> ``{"embedding": (B, D), head: (B, classes)}``."""
        x = self._prepare(videos)
        num_frames = x.shape[0] // as_batch(videos).shape[0]
        x = self.spatial[0](x)
        for conv, temporal in zip(self.spatial[1:], self.temporal):
            x = temporal(conv(x), num_frames)
        x = rearrange(x, "(b f) c h w -> b c (f h w)", f=num_frames)
        emb = self.embed(torch.cat([x.mean(-1), x.amax(-1)], dim=1))  # max: the object is a small part of the frame
        return {"embedding": emb, **{k: head(emb) for k, head in self.heads.items()}}

    def _prepare_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Each frame of a clip ``(F, C, H, W)`` as its own still video (all frames, no stride)."""
        stride, self.config.frame_stride = self.config.frame_stride, 1
        try:
            return self._prepare(frames.unsqueeze(0), motion=False)
        finally:
            self.config.frame_stride = stride

    @torch.no_grad()
    def features(self, videos: torch.Tensor) -> torch.Tensor:
        """The 128-d video embedding ``(B, D)`` used by FVD-SW."""
        return self.forward(videos)["embedding"]

    @torch.no_grad()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Appearance features ``(F, widths[-1])`` of a clip ``(F, C, H, W)``: each frame alone (difference channels
        zero, as for a still frame), 2D path only, mean-pooled."""
        x = self._prepare_frames(frames)
        for conv in self.spatial:
            x = conv(x)
        return x.mean(dim=(-2, -1))


def save_swnet(model: SWNet, folder, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (with ``extra``, e.g. accuracies) into ``folder``."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    config = {**asdict(model.config), "heads": HEADS, **(extra or {})}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def load_swnet(folder=None) -> SWNet:
    """Load SW-Net from ``folder`` (default: the shipped ``data/models/swnet``), safetensors only, in eval mode."""

    folder = Path(folder or DEFAULT_PATH)
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"no SW-Net weights at {folder / 'model.safetensors'}: train them with "
                                "`labkit train features`")
    config = json.loads((folder / "config.json").read_text())
    model = SWNet(SWNetConfig(tuple(config["widths"]), config["embed_dim"], config["size"], config["patch"],
                              config["frame_stride"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval()


def swnet_frame_embedder(model: SWNet | None = None):
    """A frame embedder for :func:`labkit.metrics.frame_consistency`: frames ``(F, C, H, W)`` -> ``(F, 64)``."""
    model = model or load_swnet()
    return model.frame_features


def labels_of(truths) -> dict[str, torch.Tensor]:
    """Class labels per head from the ground truth of one-object clips: ``{head: (B,) long}``."""
    if any(len(t.objects) != 1 for t in truths):
        raise ValueError("SW-Net labels need one-object clips (ShapesWorld(two_objects=0))")
    objs = [t.objects[0] for t in truths]
    return {head: torch.tensor([names.index(getattr(o, head)) for o in objs]) for head, names in HEADS.items()}


class SWNetFeatures:
    """SW-Net's 128-d video embedding as an FVD feature extractor (the distance is reported as "FVD-SW")."""

    metric = "FVD-SW"

    def __init__(self, model=None):

        self.model = model if model is not None else load_swnet()
        self.dim = self.model.config.embed_dim
        self.name = "SW-Net (Shapes-world classifier, data/models/swnet)"

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        return self.model.features(videos)
