"""Frame embedders for :func:`labkit.metrics.frame_consistency`: CLIP from a local folder, or SW-Net's frame path.

Taught in ``07_metric_evaluation``. Nothing is downloaded: CLIP needs a local ``transformers`` CLIP folder
(e.g. a saved ``openai/clip-vit-base-patch32``); without one, the Shapes-world network's frame features are used.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPModel

from labkit.models.swnet import load_swnet

__all__ = ["CLIP_MEAN", "CLIP_STD", "clip_frame_embedder", "default_frame_embedder"]


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP preprocessing constants


CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_frame_embedder(path):
    """CLIP image features of frames ``(F, C, H, W)`` in [0, 1] -> ``(F, D)``, from a local CLIP folder.

    Preprocessing as CLIP's: bicubic resize to the model's image size, normalise with :data:`CLIP_MEAN`/``STD``.
    """

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"expected a local transformers CLIP folder with config.json at {path}")
    model = CLIPModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True).eval()
    size = model.config.vision_config.image_size
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    @torch.no_grad()
    def embed(frames: torch.Tensor) -> torch.Tensor:
        x = frames.expand(-1, 3, -1, -1) if frames.shape[1] == 1 else frames
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        out = model.get_image_features(pixel_values=(x - mean) / std)
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    embed.name = f"CLIP ({path.name})"
    return embed


def default_frame_embedder(clip_path: str | None = None):
    """CLIP when ``clip_path`` is a local CLIP folder, else SW-Net's frame features; the callable has ``.name``."""
    if clip_path:
        return clip_frame_embedder(clip_path)

    model = load_swnet()

    def embed(frames: torch.Tensor) -> torch.Tensor:
        return model.frame_features(frames)

    embed.name = "SW-Net frame features (2D path, data/models/swnet)"
    return embed
