"""Argument checks shared by every entry point: numbers, names and paths, refused with the argument's name.

Every ``labkit`` command and every public function a lesson calls checks its arguments here before any heavy
import or work. This module imports only the standard library, so a refusal takes milliseconds
(``labkit train t2v --steps -5`` is refused before torch is imported). A message names the argument, what was
expected and what was given::

    steps: expected an integer >= 1, got -5
    guidance_scale: expected a finite number >= 0, got nan
    name: unknown model 'tiny-t2w' (did you mean 'tiny-t2v'?); expected one of [...]

- :class:`Number` is the rule for one numeric argument (integer or not, range, NaN and infinity refused);
  :data:`VOCABULARY` holds the one rule per argument name of the course (``num_frames``, ``seed``, ``lr`` ...)
  and :func:`check_args` checks keyword values against it;
- :func:`check_choice`: a name against the names it may be (a registry, a vocabulary), with "did you mean";
- :func:`check_folder` (exists, a folder, a marker file inside) and :func:`check_out` (an output folder: never a
  file, never inside ``data/`` unless shipping);
- :class:`ArgumentParser` is argparse with one-line errors; :func:`flag` turns a rule into an argparse ``type``,
  and :func:`check_namespace` checks parsed flags by name (``--batch`` by the rule of ``batch``).
"""

from __future__ import annotations

import argparse
import difflib
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import labkit

__all__ = ["Number", "VOCABULARY", "check_number", "rule_for", "check_args", "closest", "check_choice", "inside",
           "check_folder", "check_out", "ArgumentParser", "flag", "check_namespace"]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Number:
    """The rule for one numeric argument: an integer or any finite number, within ``[low, high]`` (``low_open`` /
    ``high_open`` leave that end out), optionally a multiple of ``multiple_of`` or one of ``among``. NaN and
    infinity are refused, and so are ``bool`` and strings (a ``TypeError``); a 0-dim tensor or array counts as its
    number."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    multiple_of: int | None = None
    among: tuple = ()  # the only values allowed, where there are a few (a patch size of 1, 2 or 4)
    text: str = ""  # the words for the rule, where the range alone does not say it ("a seed in [0, 2**32)")

    def describe(self) -> str:
        if self.text:
            return self.text
        if self.among:
            return f"{'an integer' if self.integer else 'a number'} in {{{', '.join(map(str, self.among))}}}"
        what = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            what += (f" in {'(' if self.low_open else '['}{_fmt(self.low)}, {_fmt(self.high)}"
                     f"{')' if self.high_open else ']'}")
        elif self.low is not None:
            what += f" {'>' if self.low_open else '>='} {_fmt(self.low)}"
        elif self.high is not None:
            what += f" {'<' if self.high_open else '<='} {_fmt(self.high)}"
        return what + (f", a multiple of {self.multiple_of}" if self.multiple_of else "")

    def check(self, value, name: str):
        """``value`` unchanged if it follows the rule; else a ``TypeError``/``ValueError`` naming ``name``."""
        number = value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(number, bool) or not isinstance(number, kind):
            raise TypeError(f"{name}: expected {self.describe()}, got {type(value).__name__} {value!r}")
        if not math.isfinite(number):
            raise ValueError(f"{name}: expected {self.describe()}, got {value!r}")
        low_bad = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        high_bad = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if low_bad or high_bad or (self.multiple_of and number % self.multiple_of) or (
                self.among and number not in self.among):
            raise ValueError(f"{name}: expected {self.describe()}, got {value!r}")
        return value


COUNT = Number(integer=True, low=1)  # steps, frames, sizes, batches: at least one
OPTIONAL_COUNT = Number(integer=True, low=0)  # 0 means "none" or "off" (warm-up steps, evaluation clips ...)
SEED = Number(integer=True, low=0, high=2**32, high_open=True, text="a seed in [0, 2**32)")
POSITIVE = Number(low=0, low_open=True)  # learning rates, sigmas, shifts, fps
NON_NEGATIVE = Number(low=0)  # guidance, weight decay, clipping
FRACTION = Number(low=0, high=1)  # probabilities, strengths, thresholds on [0, 1] values
DECAY = Number(low=0, high=1, high_open=True)  # EMA decay, dropout: 1 would never change / always drop
FINITE = Number()  # any finite number (a logit mean, an angle)

#: The one rule per argument name of the course: a public function or a flag of that name follows it.
VOCABULARY: dict[str, Number] = {
    **dict.fromkeys(["steps", "num_steps", "num_frames", "num_latent_frames", "height",
                     "width", "size", "channels", "batch", "batch_size", "latent_batch", "image_batch", "heads",
                     "head_dim", "tokens", "bytes_per_value", "num_views", "num_videos",
                     "num_images", "num_clips", "num_samples", "num_iters", "num_train_timesteps", "repeats",
                     "draws", "threads", "layers", "text_width", "latent_channels", "layers_per_block", "log_every",
                     "val_every", "window", "n", "num", "length", "per_clip", "pool", "eval_steps", "eval_clips",
                     "twin_pairs", "decode_chunk", "decode_chunk_size", "seq_len", "base_seq_len", "max_seq_len",
                     "cell_timeout", "stop_at", "sample_size", "tile_size", "workers", "frames", "captions",
                     "clips", "videos", "objects", "sigmas", "sizes", "gallery"], COUNT),
    **dict.fromkeys(["warmup", "checkpoint_every", "eval", "curve_clips", "decoder_steps", "image_steps",
                     "full_steps", "vae_steps", "deep_width", "keep", "skip", "text_tokens"], OPTIONAL_COUNT),
    "seed": SEED,
    **dict.fromkeys(["lr", "base_lr", "decoder_lr", "shift", "sigma_min", "sigma_max", "fps", "logit_std",
                     "pos_scale", "posterior_std", "radius", "depth_tol", "gain", "scale", "order"], POSITIVE),
    **dict.fromkeys(["guidance_scale", "min_guidance_scale", "max_guidance_scale", "weight_decay", "grad_clip",
                     "code_consistency", "noise_aug_strength", "motion_bucket_id", "alpha", "base_shift",
                     "max_shift", "guidance"], NON_NEGATIVE),
    **dict.fromkeys(["strength", "two_objects", "single_prob", "causal_fraction", "latent_noise", "final_frac",
                     "threshold", "spatial_stop", "temporal_stop", "strengths"], FRACTION),
    **dict.fromkeys(["ema_decay", "cfg_dropout"], DECAY),
    "top_fraction": Number(low=0, high=1, low_open=True),
    "rho": Number(low=1),  # Karras et al. use 7; 1 spaces the sigmas evenly; a tiny rho overflows sigma ** (1 / rho)
    "fov_deg": Number(low=0, high=180, low_open=True, high_open=True),
    "decoder_t_max": Number(integer=True, low=1, high=999),
    "beta_start": Number(low=0, high=1, low_open=True, high_open=True),
    "beta_end": Number(low=0, high=1, low_open=True, high_open=True),
    **dict.fromkeys(["logit_mean", "elevation", "azimuth", "azimuth_deg", "elevation_deg"], FINITE),
}


def rule_for(name: str) -> Number | None:
    """The rule of a parameter named in another style: ``TRAIN_STEPS`` and ``SAMPLE_STEPS`` by the rule of ``steps``,
    ``NUM_CLIPS`` by ``num_clips`` (the longest ``_``-separated ending that :data:`VOCABULARY` knows); ``None`` when
    no ending is known."""
    words = name.lower().split("_")
    for i in range(len(words)):
        rule = VOCABULARY.get("_".join(words[i:]))
        if rule is not None:
            return rule
    return None


def check_number(value, name: str, rule: Number):
    """``rule.check(value, name)``: ``value`` unchanged, or a ``TypeError``/``ValueError`` naming ``name``."""
    return rule.check(value, name)


def check_args(*, allow_none: Iterable[str] = (), **values) -> None:
    """Check each keyword value against the :data:`VOCABULARY` rule of its name, in order; the first bad one
    raises. ``allow_none``: names whose ``None`` means "the default" and is let through."""
    for name, value in values.items():
        if name not in VOCABULARY:
            raise KeyError(f"no rule for argument {name!r} in labkit.checks.VOCABULARY")
        if value is None and name in allow_none:
            continue
        VOCABULARY[name].check(value, name)


def closest(value, choices: Iterable) -> str:
    """`` (did you mean 'X'?)`` for the choice closest to ``value`` (difflib), or ``""`` when none is close."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(value, name: str, choices: Iterable, what: str = "value"):
    """``value`` if it is one of ``choices``; else a ``ValueError`` naming ``name``, the closest choice ("did you
    mean") and all of them (a ``TypeError`` when the choices are names and ``value`` is not a string)."""
    choices = list(choices)
    if all(isinstance(c, str) for c in choices) and not isinstance(value, str):
        raise TypeError(f"{name}: expected a {what} name (str), one of {choices}, got {type(value).__name__} "
                        f"{value!r}")
    if value not in choices:
        raise ValueError(f"{name}: unknown {what} {value!r}{closest(value, choices)}; expected one of {choices}")
    return value


def inside(path, folder) -> bool:
    """True when ``path`` lies inside ``folder`` (after resolving links and ``..``)."""
    return Path(folder).resolve() in Path(path).resolve().parents


def check_folder(path, name: str, marker: str = "", what: str = "folder") -> Path:
    """``Path(path)`` if it is an existing folder (holding ``marker`` when given); else a ``ValueError``."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise TypeError(f"{name}: expected a path to a {what}, got {type(path).__name__} {path!r}")
    path = Path(path).expanduser()
    if not path.is_dir():
        got = "a file" if path.exists() else "no such folder"
        raise ValueError(f"{name}: expected an existing {what}, got {path} ({got})")
    if marker and not (path / marker).exists():
        raise ValueError(f"{name}: expected a {what} with {marker}, got {path} (no {marker} in it)")
    return path


def check_out(path, name: str = "--out", allow_data: bool = False) -> Path:
    """An output folder: ``Path(path)`` if it is not a file and (unless ``allow_data``: shipping on purpose) not
    inside ``data/``, which holds only shipped files; else a ``ValueError``. Nothing is created."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise TypeError(f"{name}: expected a folder path, got {type(path).__name__} {path!r}")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: expected a folder, got the file {path}")
    data = labkit.DATA_DIR
    if not allow_data and (inside(path, data) or path.resolve() == data.resolve()):
        raise ValueError(f"{name}: expected a folder outside {data} (data/ holds shipped files only; ship with "
                         f"--ship or labkit ship), got {path}")
    return path


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr, ``PROG: MESSAGE``, with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (--help for the flags)\n")


def flag(name: str, rule: Number | None = None):
    """An argparse ``type`` for the flag of ``name``: parses the text and applies ``rule`` (default: the
    :data:`VOCABULARY` rule of ``name``), so a bad value is refused as the flags are parsed."""
    rule = rule or VOCABULARY[name]

    def parse(text: str):
        try:
            value = int(text) if rule.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule.describe()}, got {text!r}") from None
        try:
            return rule.check(value, name)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {rule.describe()}, got {text}") from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def check_namespace(args: argparse.Namespace, rules: dict[str, Number] | None = None) -> None:
    """Check every parsed flag that has a rule (``rules`` first, then :data:`VOCABULARY`), defaults included;
    ``None`` (not given: the default is decided later) is let through. Messages name the flag (``--batch``)."""
    for name, value in vars(args).items():
        rule = (rules or {}).get(name) or VOCABULARY.get(name)
        if rule is not None and value is not None:
            rule.check(value, "--" + name.replace("_", "-"))
