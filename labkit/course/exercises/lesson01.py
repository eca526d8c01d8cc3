"""Exercises of ``01_latent_compression``: the latent shape of a causal 3D VAE, and a VAE's compression ratio read
from its config. References: :func:`labkit.compression.latent_shape` (with the shipped CogVideoX VAE config) and
:func:`labkit.compression.compression_ratio`."""

from __future__ import annotations

from labkit import compression
from labkit.course.exercises.core import Case, Exercise, Mistake

LESSON = "01"

#: The published VAE configs the ratio exercise reads (``data/configs/vae/``).
_CONFIGS = compression.production_configs()

#: The tiny per-frame VAE of this lesson (``vae-2d``), the config keys the arithmetic reads.
_TINY_2D = {"_class_name": "AutoencoderKL", "block_out_channels": [16, 32, 32, 32], "in_channels": 3,
            "latent_channels": 5}


def _cogvideox_latent_shape(num_frames, height, width):
    return compression.latent_shape(_CONFIGS["cogvideox-vae"], num_frames, height, width)


def _compression_ratio(config, num_frames, height, width):
    return compression.compression_ratio(config, num_frames, height, width)


def _shape_per_frame(num_frames, height, width):
    return num_frames, 16, height // 8, width // 8


def _shape_no_first_frame(num_frames, height, width):
    return num_frames // 4, 16, height // 8, width // 8


def _shape_channels_first(num_frames, height, width):
    return 16, (num_frames - 1) // 4 + 1, height // 8, width // 8


def _shape_colour_channels(num_frames, height, width):
    return (num_frames - 1) // 4 + 1, 3, height // 8, width // 8


def _ratio(config, num_frames, height, width, every_block=False, colours=True, temporal=True, causal=True):
    """The compression ratio with one typical mistake switched on (for the mistakes below)."""
    spatial = 2 ** (len(config["block_out_channels"]) - (0 if every_block else 1))
    factor = config.get("temporal_compression_ratio", 1) if temporal else 1
    frames = (num_frames - 1) // factor + 1 if causal else num_frames / factor
    latent = frames * config["latent_channels"] * (height // spatial) * (width // spatial)
    return num_frames * (config["in_channels"] if colours else 1) * height * width / latent


LATENT_SHAPE = Exercise(
    lesson=LESSON, key="latent_shape", title="the latent shape of a causal 3D VAE",
    task=("Write `latent_shape(num_frames, height, width)` for CogVideoX's VAE: it codes the first frame on its "
          "own and then every 4 frames into one latent frame, downsamples height and width 8x, and has 16 latent "
          "channels. Return the latent of one clip as a tuple `(F_latent, C_latent, h, w)`, the course layout "
          "(latent frames first). `num_frames` is of the form 4k+1."),
    teaches="what a causal 3D VAE turns a video into: 4k+1 frames become k+1 latent frames, 8x smaller, 16 channels",
    reference=_cogvideox_latent_shape,
    cases=(Case("CogVideoX's 49 frames of 480x720", {"num_frames": 49, "height": 480, "width": 720}),
           Case("17 frames of 64x64", {"num_frames": 17, "height": 64, "width": 64}),
           Case("9 frames of 32x48", {"num_frames": 9, "height": 32, "width": 48}),
           Case("one frame (an image) of 64x64", {"num_frames": 1, "height": 64, "width": 64}, edge=True)),
    mistakes=(
        Mistake("no first frame", _shape_no_first_frame,
                "the VAE is causal: the first frame is coded on its own, and only the frames after it are grouped"),
        Mistake("per frame", _shape_per_frame,
                "you kept every frame, as a per-frame 2D VAE does: a 3D VAE compresses time as well as space"),
        Mistake("channels first", _shape_channels_first,
                "that is the layout the VAE itself works in, channels before frames: the course layout keeps latent "
                "frames first, like a clip"),
        Mistake("colour channels", _shape_colour_channels,
                "the latent has the VAE's own latent channels, not the video's colour channels"),
    ),
    names=("latent frames", "latent channels", "latent height", "latent width"),
)

COMPRESSION_RATIO = Exercise(
    lesson=LESSON, key="compression_ratio", title="a compression ratio from a VAE config",
    task=("Write `compression_ratio(config, num_frames, height, width)`: video values / latent values for a clip "
          "of F frames of H x W pixels, read from a diffusers VAE config dict. Every entry of "
          "`block_out_channels` is a down block and every block but the last halves height and width; "
          "`in_channels` and `latent_channels` count the video's and the latent's channels; a causal 3D VAE has "
          "`temporal_compression_ratio` (first frame alone, then groups of that many frames), a config without "
          "it codes every frame on its own. Return a float."),
    teaches="how to read a VAE's compression from its config alone, and that a ratio counts values, not tokens",
    reference=_compression_ratio,
    cases=(Case("SD's VAE (per frame), 17 frames of 64x64", {"config": _CONFIGS["sd-vae"], "num_frames": 17,
                                                             "height": 64, "width": 64}),
           Case("CogVideoX's VAE, 49 frames of 480x720", {"config": _CONFIGS["cogvideox-vae"], "num_frames": 49,
                                                          "height": 480, "width": 720}),
           Case("the tiny 2D VAE, 17 frames of 64x64", {"config": _TINY_2D, "num_frames": 17, "height": 64,
                                                        "width": 64}),
           Case("CogVideoX's VAE, one frame of 480x720", {"config": _CONFIGS["cogvideox-vae"], "num_frames": 1,
                                                          "height": 480, "width": 720}, edge=True)),
    mistakes=(
        Mistake("every block halves", lambda config, num_frames, height, width:
                _ratio(config, num_frames, height, width, every_block=True),
                "you halved height and width once per down block: the last block keeps its resolution"),
        Mistake("no colour channels", lambda config, num_frames, height, width:
                _ratio(config, num_frames, height, width, colours=False),
                "count the video's values with its colour channels (in_channels), as the latent's are counted "
                "with its latent channels"),
        Mistake("no time", lambda config, num_frames, height, width:
                _ratio(config, num_frames, height, width, temporal=False),
                "you compressed space only: a config with temporal_compression_ratio also groups frames into "
                "latent frames"),
        Mistake("no first frame", lambda config, num_frames, height, width:
                _ratio(config, num_frames, height, width, causal=False),
                "a causal 3D VAE codes the first frame on its own: only the frames after it are grouped"),
    ),
)

EXERCISES = (LATENT_SHAPE, COMPRESSION_RATIO)
