"""Model cards: a ``README.md`` in every shipped pipeline folder, as on the Hugging Face Hub (``labkit card``).

Taught nowhere (it is the kit's bookkeeping); ``labkit ship`` writes the card of a pipeline folder it ships, and
``labkit card FOLDER`` (re)writes one.

A card is built from what the folder and the registry say, never typed by hand: the YAML front matter the Hub reads
(``library_name: diffusers``, ``pipeline_tag``, ``tags``); what the model is (the classes in ``model_index.json``,
parameters counted from the safetensors headers, the world it was trained on); its vocabulary and caption grammar
when it reads text (:func:`labkit.data.shapes.vocabulary`); how it was made and the figures measured at shipping
(``PROVENANCE.json``); and a diffusers call that runs when copied, from the repository root, with the arguments the
tiny model needs (``tests/models/test_cards.py`` runs the call of every shipped card).

It lives in ``models/`` rather than ``shipping/`` because it reads the registry (:data:`labkit.models.REGISTRY`)
and the Shapes world (:mod:`labkit.data`), both above ``shipping`` in the layer order; ``labkit ship`` reaches it
through :func:`labkit.shipping.ship.main`'s ``after_ship``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import diffusers
from safetensors import safe_open

from labkit import DATA_DIR
from labkit.data import knob, shapes
from labkit.models import REGISTRY
from labkit.shipping.manifest import add_files
from labkit.shipping.records import project_relative

__all__ = ["CARD", "SIZE_ARGUMENTS", "CardKind", "CARD_KINDS", "count_parameters", "call_sizes", "size_note",
           "card_text", "write_card", "add_card", "add_card_if_pipeline"]


CARD = "README.md"  # the file name the Hugging Face Hub shows as a model card
SIZE_ARGUMENTS = ("num_frames", "height", "width")  # the call's sizes: written out in every card


@dataclass(frozen=True)
class CardKind:
    """What a card says about one pipeline class."""

    pipeline_tag: str  # the Hub's task name
    tags: tuple[str, ...]
    what: str  # one phrase: "text-to-video model", ...
    world: str  # the world it learned, with {num_frames}, {height}, {width} filled from the folder
    reads_text: bool  # prompt-conditioned: the card lists the vocabulary and caption grammar
    inputs: tuple[str, ...]  # code lines that make the call's inputs
    arguments: str  # the call's arguments besides the sizes and the generator
    steps: int  # num_inference_steps of the call: the course's default for this model
    note: str  # which other arguments are required, and why ("" when none)


_SHAPES_WORLD = ("the Shapes world (`labkit.data.shapes`): {num_frames}-frame {height}x{width} clips of one or two "
                 "coloured shapes moving in a straight line over a dark background, each with the caption that "
                 "describes it")
_COGVIDEOX_NOTE = ("`max_sequence_length={max_sequence_length}` is required: `CogVideoX` pipelines pad the prompt to "
                   "226 tokens by default, and this transformer takes {max_sequence_length} text tokens "
                   "(`max_text_seq_length` in `transformer/config.json`); plain diffusers then fails deep inside "
                   "with a tensor size mismatch, `labkit.models.load` with a `ValueError` that names the fix.")

#: Per ``model_index.json`` ``_class_name``: what the card says and how the call is made.
CARD_KINDS: dict[str, CardKind] = {
    "CogVideoXPipeline": CardKind(
        "text-to-video", ("cogvideox", "text-to-video"), "text-to-video model", _SHAPES_WORLD, True, (),
        'prompt="a red square moving left", guidance_scale=4.0, max_sequence_length={max_sequence_length}', 25,
        _COGVIDEOX_NOTE),
    "CogVideoXImageToVideoPipeline": CardKind(
        "image-to-video", ("cogvideox", "image-to-video"),
        "image-to-video model (it animates a first frame as its caption says)", _SHAPES_WORLD, True,
        ("from labkit.data.shapes import make_clip",
         "from labkit.video import to_pil",
         'image = to_pil(make_clip("a red square moving left", seed=0).video[:1])[0]  # a Shapes-world first frame'),
        'image=image, prompt="a red square moving left", guidance_scale=4.0, '
        'max_sequence_length={max_sequence_length}', 25, _COGVIDEOX_NOTE),
    "StableVideoDiffusionPipeline": CardKind(
        "image-to-video", ("stable-video-diffusion", "image-to-video"), "image-to-video model (it animates a first "
        "frame at the speed its micro-conditions `motion_bucket_id` and `fps` set)",
        "the knob world (`labkit.data.knob`): {num_frames}-frame {height}x{width} clips of one shape drifting "
        "right at the speed that `motion_bucket_id` and `fps` set", False,
        ("from labkit.data.knob import knob_clip",
         "from labkit.video import to_pil",
         "image = to_pil(knob_clip(seed=2**31, motion_bucket_id=0, fps=6, num_frames=1))[0]  # a held-out first frame"),
        "image=image, fps=6, motion_bucket_id=255, decode_chunk_size={num_frames}", 10, ""),
}


# ------------------------------------------------------------------------------------------------ the folder
def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def count_parameters(folder: Path) -> dict[str, int]:
    """Parameters per component (``{"transformer": 812_000, ...}``), read from the safetensors headers of
    ``folder/*/*.safetensors`` without loading any weights."""
    counts: dict[str, int] = {}
    for path in sorted(Path(folder).glob("*/*.safetensors")):
        with safe_open(path, framework="pt") as f:
            n = sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
        counts[path.parent.name] = counts.get(path.parent.name, 0) + n
    return counts


def call_sizes(folder: Path) -> dict[str, int]:
    """The call's sizes, from the folder's configs: ``num_frames``, ``height``, ``width`` (and, for CogVideoX,
    ``max_sequence_length``). CogVideoX: the transformer's sample size times the VAE's spatial factor
    ``2 ** (levels - 1)`` (diffusers' rule); SVD: the UNet's ``num_frames`` at the knob world's frame size."""
    folder = Path(folder)
    if (folder / "transformer" / "config.json").exists():
        config = _json(folder / "transformer" / "config.json")
        spatial = 2 ** (len(_json(folder / "vae" / "config.json")["block_out_channels"]) - 1)
        return {"num_frames": config["sample_frames"], "height": config["sample_height"] * spatial,
                "width": config["sample_width"] * spatial, "max_sequence_length": config["max_text_seq_length"]}
    unet = _json(folder / "unet" / "config.json")
    return {"num_frames": unet["num_frames"], "height": knob.SIZE, "width": knob.SIZE}


def _names(names: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"`a`, `b` and `c`"``."""
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def size_note(class_name: str) -> str:
    """Which of the call's ``num_frames``, ``height``, ``width`` the tiny model needs, read from the diffusers
    pipeline's own signature: a fixed default is a production model's size (``CogVideoXImageToVideoPipeline``'s
    49 frames, SVD's 576x1024), so the card's call needs it; ``None`` means the size in the model's config."""
    parameters = inspect.signature(getattr(diffusers, class_name).__call__).parameters
    fixed = [n for n in SIZE_ARGUMENTS if parameters[n].default is not None]
    follow = [n for n in SIZE_ARGUMENTS if n not in fixed]
    sentences = []
    if fixed:
        defaults = ", ".join(f"{n}={parameters[n].default}" for n in fixed)
        verb, noun = ("is", "default") if len(fixed) == 1 else ("are", "defaults")
        sentences.append(f"{_names(fixed)} {verb} required: the pipeline's {noun} ({defaults}) {verb} for the "
                         "production model.")
    if follow:
        verb, pronoun = ("defaults", "it is") if len(follow) == 1 else ("default", "they are")
        sentences.append(f"{_names(follow)} {verb} to the size in the model's config, the size it was trained at; "
                         f"{pronoun} written out here.")
    return " ".join(sentences)


def _read(folder: Path) -> tuple[dict, CardKind, dict]:
    """``(model_index, kind, provenance)`` of a pipeline folder, with clear errors for anything else."""
    if not (folder / "model_index.json").exists():
        raise ValueError(f"expected a diffusers pipeline folder (with model_index.json), got {folder}")
    if not (folder / "PROVENANCE.json").exists():
        raise FileNotFoundError(f"{folder} has no PROVENANCE.json: a card says how the model was made, so only a "
                                "shipped folder gets one (`labkit ship` or a trainer's --ship writes it)")
    index = _json(folder / "model_index.json")
    if index["_class_name"] not in CARD_KINDS:
        raise ValueError(f"no model card for the pipeline class {index['_class_name']} ({folder}); expected one of "
                         f"{sorted(CARD_KINDS)} (add it to labkit.models.cards.CARD_KINDS)")
    return index, CARD_KINDS[index["_class_name"]], _json(folder / "PROVENANCE.json")


# ------------------------------------------------------------------------------------------------ sections
def _front_matter(kind: CardKind, entry) -> list[str]:
    tags = ["video-diffusion-lab", "tiny", *kind.tags] + ([f"notebook-{entry.notebook[:2]}"] if entry else [])
    return ["---", "library_name: diffusers", f"pipeline_tag: {kind.pipeline_tag}", "license: apache-2.0", "tags:",
            *[f"- {t}" for t in tags], "---", ""]


def _what(folder: Path, index: dict, kind: CardKind, prov: dict, sizes: dict) -> list[str]:
    entry = REGISTRY.get(folder.name)
    params = count_parameters(folder)
    parts = ", ".join(f"`{index[name][1]}` ({name}, {n:,})" for name, n in params.items() if name in index)
    lesson = f" from notebook `{entry.notebook}`" if entry else ""
    world = kind.world.format(**sizes) + (f", world geometry `{prov['world']}`" if "world" in prov else "")
    return [f"# {folder.name}", "",
            f"A tiny {kind.what}{lesson} of the Video Diffusion Lab course: a diffusers "
            f"`{index['_class_name']}` of {parts}: {sum(params.values()):,} parameters in all, float32, "
            f"safetensors. It was trained on {world}. Its videos only make sense for that world. The recipe, "
            "the figures and what was tried: `docs/models.md`.", ""]


def _grammar() -> list[str]:
    """The caption grammar as :mod:`labkit.data.shapes` states it (the indented block after ``grammar is::``)."""
    found = re.search(r"grammar is::\n\n((?: {4}.+\n)+)", shapes.__doc__ or "")
    if not found:
        raise ValueError("labkit.data.shapes no longer states its caption grammar after 'grammar is::'")
    return [line[4:] for line in found.group(1).splitlines()]


def _vocabulary(sizes: dict) -> list[str]:
    words = [f"- {role}: {', '.join(ws)}" for role, ws in shapes.vocabulary().items()]
    held = ", ".join(" ".join(c) for c in sorted(shapes.HELDOUT_COMBOS))
    return ["## Vocabulary", "", "Captions use these words only (any other word becomes `<unk>` without a warning; "
            "`labkit.models.cogvideox.check_prompt` refuses it):", "", *words, "", "in this grammar:", "", "```",
            *_grammar(), "```", "",
            f"At most {sizes['max_sequence_length'] - 1} words (the text encoder reads {sizes['max_sequence_length']} "
            "tokens with `</s>`). These colour-shape-direction combinations were held out of training (the test of "
            f"compositional generalisation): {held}.", ""]


def _made(prov: dict) -> list[str]:
    lines = ["## How it was made", "", "```bash", prov["command"], "```", "",
             f"seed {prov['seed']}, {prov['seconds']} s ({prov['seconds'] / 60:.0f} min) on {prov['hardware']}."]
    if prov.get("runs"):
        lines += ["", f"{len(prov['runs'])} runs, in order:"] + [
            f"- `{r['command']}` (seed {r['seed']}, {r['seconds']} s)" for r in prov["runs"]]
    if prov.get("replaces"):
        lines += ["", f"It replaced an earlier version of this folder: {prov['replaces']['reason']}."]
    return lines + [""]


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and value and all(isinstance(v, bool) for v in value):
        return f"{sum(value)} of {len(value)}"
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return f"mean {sum(value) / len(value):.4g} over {len(value)}"
    return str(value)


def _flatten(summary: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key} / ")
        else:
            rows.append((f"{prefix}{key}", _value(value)))
    return rows


_NOT_FIGURES = ("command", "seed", "seconds", "hardware", "kind", "world", "runs", "builds_on_shipped", "replaces",
                "bars_met", "bars_problem")


def _figures(prov: dict) -> list[str]:
    rows = _flatten({k: v for k, v in prov.items() if k not in _NOT_FIGURES})
    if not rows:
        return []
    lines = ["## Measured at shipping", "", "From `PROVENANCE.json` (the shipping run's summary and evaluation):", "",
             "| figure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    if "bars_met" in prov:
        verdict = "met" if prov["bars_met"] else f"not met ({prov['bars_problem']}); shipped below them on purpose"
        lines += [f"The lesson's bars: {verdict}.", ""]
    return lines


def _code(folder: Path, index: dict, kind: CardKind, sizes: dict) -> list[str]:
    """The Use section: a call that runs when copied (``tests/models/test_cards.py`` runs it)."""
    arguments = [kind.arguments.format(**sizes),
                 f"num_frames={sizes['num_frames']}, height={sizes['height']}, width={sizes['width']}, "
                 f"num_inference_steps={kind.steps},", 'generator=torch.Generator().manual_seed(0), output_type="np",']
    shape = f"({sizes['num_frames']}, {sizes['height']}, {sizes['width']}, 3)"
    return ["## Use", "", "From the repository root (the path is relative to it):", "", "```python", "import torch",
            "from diffusers import DiffusionPipeline", *kind.inputs[:-1], "", *kind.inputs[-1:],
            f'pipe = DiffusionPipeline.from_pretrained("{project_relative(folder)}")', "video = pipe(",
            *[f"    {a.rstrip(',')}," for a in arguments], f").frames[0]  # {shape} float32 in [0, 1]", "```", "",
            " ".join(filter(None, [kind.note.format(**sizes), size_note(index["_class_name"])])), "",
            f'With labkit: `labkit.models.load("{folder.name}")` checks every file against `data/MANIFEST` first.', ""]


# ------------------------------------------------------------------------------------------------ writing
def card_text(folder) -> str:
    """The model card of the pipeline folder ``folder`` (Markdown with YAML front matter), from its files and its
    registry entry. Raises ``FileNotFoundError`` without ``PROVENANCE.json``, ``ValueError`` for a folder that
    is not a known pipeline."""
    folder = Path(folder)
    index, kind, prov = _read(folder)
    sizes = call_sizes(folder)
    lines = (_front_matter(kind, REGISTRY.get(folder.name)) + _what(folder, index, kind, prov, sizes)
             + (_vocabulary(sizes) if kind.reads_text else []) + _code(folder, index, kind, sizes) + _made(prov)
             + _figures(prov))
    return "\n".join(lines).rstrip() + "\n"


def write_card(folder) -> Path:
    """Write ``folder/README.md`` (:func:`card_text`) atomically; returns its path."""
    folder = Path(folder)
    text = card_text(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CARD}-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, folder / CARD)
    return folder / CARD


def add_card(folder) -> Path:
    """:func:`write_card`, and inside ``data/`` record the card in ``data/MANIFEST`` with the command that
    makes it (``labkit card data/models/NAME``)."""
    t0 = time.perf_counter()
    card = write_card(folder)
    if DATA_DIR.resolve() in card.resolve().parents:
        add_files(card, f"labkit card {project_relative(folder)}", "-", time.perf_counter() - t0, data_dir=DATA_DIR)
    return card


def add_card_if_pipeline(folder) -> Path | None:
    """:func:`add_card` for a pipeline folder (``model_index.json``); ``None`` for any other (``labkit ship``)."""
    return add_card(folder) if (Path(folder) / "model_index.json").exists() else None
