"""Exercises of ``02_temporal_attention``: the temporal-attention pattern, the causal mask, and what attention
costs per variant. References: :data:`labkit.attention.PATTERNS`, :func:`labkit.attention.token_mask`."""

from __future__ import annotations

import torch
from einops import rearrange

from labkit.attention import PATTERNS, token_mask
from labkit.course.exercises.core import Case, Exercise, Mistake, WrongKind

LESSON = "02"


def _feature_video(b: int, f: int, c: int, h: int, w: int) -> torch.Tensor:
    """A feature video whose every value is distinct, so any regrouping of its axes shows."""
    return torch.arange(b * f * c * h * w, dtype=torch.float32).reshape(b, f, c, h, w)


def _apply_pattern(pattern, x, heads):
    if not isinstance(pattern, str):
        raise WrongKind(f"expected an einops pattern (a string), got {type(pattern).__name__}")
    return rearrange(x, pattern, n=heads) if "n" in pattern.split("->")[0] else rearrange(x, pattern)


def _causal_mask(num_frames: int) -> torch.Tensor:
    frame = torch.arange(num_frames)
    return frame[None, :] <= frame[:, None]


def _matrix_entries(variant: str, num_frames: int, height: int, width: int) -> int:
    return int(token_mask(variant, num_frames, height, width).sum())


TEMPORAL_PATTERN = Exercise(
    lesson=LESSON, key="temporal_pattern", title="the temporal-attention pattern",
    task=("Write the einops pattern that turns a feature video `q` of layout `b f (n d) h w` (n heads of d "
          "channels) into the sequences temporal attention attends over: one sequence of frames per pixel and "
          "head, laid out `sequences, heads, tokens, channels` as `scaled_dot_product_attention` expects."),
    teaches="which axes become the sequence and which become the batch in factorised attention",
    reference=PATTERNS["temporal"][0],
    cases=(Case("b=2, f=3, 2 heads of 2 channels, 4x5 pixels", {"x": _feature_video(2, 3, 4, 4, 5), "heads": 2}),
           Case("one frame, 1 head", {"x": _feature_video(1, 1, 3, 2, 2), "heads": 1}, edge=True)),
    mistakes=(
        Mistake("spatial", PATTERNS["spatial"][0],
                "each of your sequences holds the pixels of one frame: that is spatial attention. Temporal "
                "attention gives each pixel a sequence of its own values across the frames"),
        Mistake("joint", PATTERNS["joint"][0],
                "your sequences hold every token of the clip at once: that is joint attention"),
        Mistake("pixels before batch", "b f (n d) h w -> (h w b) n f d",
                "the right sequences in another order: keep b first in the merged axis, (b h w), so the inverse "
                "pattern puts every pixel back where it came from"),
        Mistake("heads kept whole", "b f c h w -> (b h w) f c",
                "you kept the channels whole: split them into n heads of d channels, (n d), and give the heads "
                "their own axis"),
    ),
    run=_apply_pattern,
)

CAUSAL_MASK = Exercise(
    lesson=LESSON, key="causal_mask", title="the causal temporal mask",
    task=("Write `causal_mask(num_frames)`: a boolean `(F, F)` tensor, row = query frame, column = key frame, True "
          "where the query frame may attend to the key frame when a video is generated frame by frame."),
    teaches="what a frame may see when video streams: itself and the past, never the future",
    reference=_causal_mask,
    cases=(Case("4 frames", {"num_frames": 4}), Case("7 frames", {"num_frames": 7}),
           Case("1 frame", {"num_frames": 1}, edge=True)),
    mistakes=(
        Mistake("future", lambda num_frames: torch.ones(num_frames, num_frames).triu().bool(),
                "your mask lets each frame see the frames after it: a streaming model has not made those yet"),
        Mistake("no diagonal", lambda num_frames: torch.ones(num_frames, num_frames).tril(-1).bool(),
                "a frame must also attend to itself: look at the diagonal"),
        Mistake("everything", lambda num_frames: torch.ones(num_frames, num_frames, dtype=torch.bool),
                "every frame sees every frame: that is the bidirectional mask, not the causal one"),
    ),
)

ATTENTION_ENTRIES = Exercise(
    lesson=LESSON, key="attention_entries", title="attention-matrix entries per variant",
    task=("Write `attention_entries(variant, num_frames, height, width)`: how many query-key scores one head "
          "computes for one clip of F x H x W tokens under 'spatial', 'temporal' or 'joint' attention "
          "(the number of sequences times the squared sequence length)."),
    teaches="why joint attention's cost grows with the square of the whole clip and factorised attention's does not",
    reference=_matrix_entries,
    cases=tuple(Case(f"{v}, {f}x{h}x{w}", {"variant": v, "num_frames": f, "height": h, "width": w})
                for v in ("spatial", "temporal", "joint") for f, h, w in ((4, 3, 5), (9, 8, 8)))
    + (Case("temporal, 1 frame", {"variant": "temporal", "num_frames": 1, "height": 4, "width": 4}, edge=True),),
    mistakes=(
        Mistake("one sequence", lambda variant, num_frames, height, width:
                {"spatial": (height * width) ** 2, "temporal": num_frames ** 2}.get(
                    variant, (num_frames * height * width) ** 2),
                "you counted one sequence: count all of them (one per frame for spatial, one per pixel for "
                "temporal) and add up their matrices"),
        Mistake("not squared", lambda variant, num_frames, height, width: num_frames * height * width,
                "each sequence of S tokens scores every token against every token: S x S entries, not S"),
    ),
)

EXERCISES = (TEMPORAL_PATTERN, ATTENTION_ENTRIES, CAUSAL_MASK)
