"""Exercises of ``00_tour``: the course's video tensor convention, and what one attention matrix over pixel tokens
costs. References: :func:`labkit.video.from_uint8`, :func:`labkit.compression.attention_matrix_bytes` and
:func:`labkit.compression.patch_tokens`."""

from __future__ import annotations

import torch

from labkit import compression
from labkit.course.exercises.core import Case, Exercise, Mistake, WrongKind
from labkit.video import from_uint8

LESSON = "00"


def _uint8_frames(num_frames: int, height: int, width: int, channels: int, seed: int) -> torch.Tensor:
    """Seeded uint8 frames ``(F, H, W, C)`` that hold both ends of the range, 0 and 255."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (num_frames, height, width, channels), generator=g, dtype=torch.uint8)
    frames.view(-1)[0], frames.view(-1)[-1] = 0, 255
    return frames


def _clip_of(answer, frames):
    """Run a ``to_clip`` answer; a clip of the course is a torch tensor (a numpy array is refused; ``None``, an
    unfinished function, is left to :func:`~labkit.course.exercises.core.check`)."""
    clip = answer(frames)
    if clip is not None and not isinstance(clip, torch.Tensor):
        raise WrongKind(f"expected the clip as a torch.Tensor, got {type(clip).__name__} (torch.from_numpy converts "
                        "an array)")
    return clip


def _pixel_attention_bytes(num_frames, height, width, heads, bytes_per_value):
    tokens = compression.patch_tokens(num_frames, height, width)  # one token per pixel
    return compression.attention_matrix_bytes(tokens, heads=heads, bytes_per_value=bytes_per_value)


def _channels_last(frames):
    return frames.float() / 255


def _not_scaled(frames):
    return frames.permute(0, 3, 1, 2).float()


def _reshaped(frames):
    f, h, w, c = frames.shape
    return frames.reshape(f, c, h, w).float() / 255


def _minus_one_to_one(frames):
    return frames.permute(0, 3, 1, 2).float() / 127.5 - 1


TO_CLIP = Exercise(
    lesson=LESSON, key="to_clip", title="uint8 frames to a course clip",
    task=("Write `to_clip(frames)`: `frames` is a uint8 tensor of shape `(F, H, W, C)` with values 0..255 (what "
          "video readers such as `torchvision.io.read_video` return); return the course's clip, a float tensor of "
          "shape `(F, C, H, W)` with values in [0, 1]."),
    teaches="the one video convention of the course, and converting to it at the boundary: move the channel axis, "
            "rescale the values",
    reference=from_uint8,
    cases=(Case("2 RGB frames of 3x4 pixels", {"frames": _uint8_frames(2, 3, 4, 3, seed=0)}),
           Case("5 RGB frames of 6x2 pixels", {"frames": _uint8_frames(5, 6, 2, 3, seed=1)}),
           Case("one grey frame of 2x3 pixels", {"frames": _uint8_frames(1, 2, 3, 1, seed=2)}, edge=True)),
    mistakes=(
        Mistake("not scaled", _not_scaled,
                "your values still run over the whole uint8 range: the course's clips hold floats in [0, 1], "
                "so rescale by the largest value a uint8 can hold"),
        Mistake("channels last", _channels_last,
                "your clip is still channels-last, (F, H, W, C): the course layout puts the channel axis before "
                "height and width"),
        Mistake("reshaped", _reshaped,
                "the right shape with scrambled pixels: reshape (or view) keeps the values in memory order and "
                "only relabels the axes; moving the channel axis needs a permutation of the axes"),
        Mistake("[-1, 1]", _minus_one_to_one,
                "your values are in [-1, 1], the range diffusion models are trained in: the course's clips (and "
                "diffusers' output_type=\"pt\") are in [0, 1]"),
    ),
    run=_clip_of,
)

ATTENTION_BYTES = Exercise(
    lesson=LESSON, key="attention_bytes", title="the attention matrix of pixel tokens",
    task=("Write `attention_bytes(num_frames, height, width, heads, bytes_per_value)`: the bytes of the attention "
          "matrices one self-attention layer stores for a clip of F frames of H x W pixels when every pixel is "
          "one token (all its colour channels in it): one matrix per head, one score for every pair of tokens, "
          "each score `bytes_per_value` bytes. Return an int."),
    teaches="why nobody diffuses pixels: attention memory grows with the square of the number of tokens",
    reference=_pixel_attention_bytes,
    cases=(Case("8 frames of 16x16, 1 head, fp16",
                {"num_frames": 8, "height": 16, "width": 16, "heads": 1, "bytes_per_value": 2}),
           Case("3 frames of 4x6, 2 heads, fp32",
                {"num_frames": 3, "height": 4, "width": 6, "heads": 2, "bytes_per_value": 4}),
           Case("17 frames of 64x64, 4 heads, fp16",
                {"num_frames": 17, "height": 64, "width": 64, "heads": 4, "bytes_per_value": 2}),
           Case("one frame (an image) of 8x8, 1 head, fp16",
                {"num_frames": 1, "height": 8, "width": 8, "heads": 1, "bytes_per_value": 2}, edge=True)),
    mistakes=(
        Mistake("values, not tokens",
                lambda num_frames, height, width, heads, bytes_per_value:
                heads * (num_frames * 3 * height * width) ** 2 * bytes_per_value,
                "you made one token per value: a pixel token is one pixel with all its colour channels in it, so "
                "count pixels, not values"),
        Mistake("not squared",
                lambda num_frames, height, width, heads, bytes_per_value:
                heads * num_frames * height * width * bytes_per_value,
                "every token attends to every token: the matrix has a row and a column per token"),
        Mistake("entries, not bytes",
                lambda num_frames, height, width, heads, bytes_per_value:
                heads * (num_frames * height * width) ** 2,
                "that counts the scores; each score takes bytes_per_value bytes"),
        Mistake("one head",
                lambda num_frames, height, width, heads, bytes_per_value:
                (num_frames * height * width) ** 2 * bytes_per_value,
                "each head computes its own attention matrix"),
    ),
)

EXERCISES = (TO_CLIP, ATTENTION_BYTES)
