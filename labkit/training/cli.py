"""The one trainer shell behind ``labkit train KIND``: common flags, checks, ``RUN.json``, summary, shipping.

A trainer module declares only its own flags and its work::

    def add_arguments(parser, kind): ...      # its own flags (the shell adds the common ones)
    def run(args) -> TrainedRun: ...          # train, write the model into args.out, return the summary

The shell parses the common flags once (``--steps --seed --threads --out --resume --init-from --ship
--below-bars``; a trainer lists which optional ones it supports), checks them before any heavy import or work,
writes ``RUN.json`` into ``--out`` (:mod:`labkit.shipping.records`), prints one summary and ships through one
path (:func:`labkit.shipping.ship.ship_checked`): only when the model's bars are met, or ``--below-bars`` says so
and the verdict is recorded. ``--out`` inside ``data/`` (the form recorded for models shipped that way) means
``--ship`` to that folder from a run folder under ``outputs/models/``.

Every flag is checked by :mod:`labkit.checks` before the trainer module (torch, diffusers) is imported: the common
ones as they are parsed, and a trainer's own numeric flags (``--batch``, ``--lr`` ...) by the rule of their name in
:data:`labkit.checks.VOCABULARY` (``Trainer.rules`` where a name means more for one trainer); after the import the
parsed flags, defaults included, are checked again by name, then the trainer's ``check_arguments``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labkit import DATA_DIR, OUTPUTS_DIR, models
from labkit.checks import (
    VOCABULARY,
    ArgumentParser,
    Number,
    check_choice,
    check_folder,
    check_namespace,
    check_out,
    flag,
    inside,
)
from labkit.shipping.records import write_run_record
from labkit.shipping.ship import ship, ship_checked

__all__ = ["Trainer", "TrainedRun", "TRAINERS", "common_parser", "vocabulary_parser", "build_parser", "check_common",
           "main", "trainer_table"]


@dataclass(frozen=True)
class Trainer:
    """One ``labkit train KIND``: the module that does the work and the shipped model it makes."""

    kind: str
    module: str  # has add_arguments(parser, kind) and run(args) -> TrainedRun
    makes: str  # the shipped model (data/models/NAME) --ship writes by default
    notebook: str
    steps: int | None  # default --steps (None: the trainer module sets it, or picks one, e.g. per VAE kind)
    threads: int = 2
    out_name: str = ""  # run folder under outputs/models/ (str.format with the parsed args); default ``makes``
    supports: tuple[str, ...] = ()  # the optional common flags it takes: "resume", "init_from"
    init_marker: str = ""  # the file an --init-from folder must hold
    rules: dict = field(default_factory=dict)  # flag name -> labkit.checks.Number, where it differs from VOCABULARY
    choices: dict = field(default_factory=dict)  # flag name -> the values its module's parser allows (tested equal)


@dataclass
class TrainedRun:
    """What a trainer's ``run`` returns to the shell."""

    summary: dict  # printed, recorded in RUN.json and (when shipped) PROVENANCE.json
    bars_problem: str | None = None  # None: this model has no bars; "": met; else what was missed
    below_bars_allowed: bool = True  # False when the evaluation was too small to ship below the bars
    builds_on: list = field(default_factory=list)  # folders it read weights from (None entries skipped)
    ship_ignore: tuple[str, ...] = ("training_state", "RUN.json")
    after_ship: Callable[[Path, str], object] | None = None  # (dest, command): e.g. reference statistics


#: The tiny CogVideoX transformer's own limits (labkit.models.cogvideox.new_transformer): heads of 16 channels, and
#: patches that divide its 8x8 latent.
_T2V_RULES = {"width": Number(integer=True, low=16, multiple_of=16),
              "patch_size": Number(integer=True, among=(1, 2, 4))}

#: The choice flags, known here so that a mistyped name is refused before the trainer module (torch) is imported;
#: tests/training/test_cli.py checks that they equal the choices of each module's own parser.
_WORLDS = ("v1", "v2", "v2-large")
_VAE_CHOICES = {"kind": ("2d", "3d"), "crops": ("random", "object"), "spatial_factor": (4, 8), "world": _WORLDS}
_T2V_CHOICES = {"t_sampling": ("uniform", "logit-normal"), "world": _WORLDS, "posterior": ("mean", "sample")}

TRAINERS: dict[str, Trainer] = {t.kind: t for t in (
    Trainer("vae", "labkit.training.vae", "vae-3d-v4", "01_latent_compression", None, threads=1,
            out_name="vae-{kind}", supports=("init_from",), init_marker="config.json", choices=_VAE_CHOICES),
    Trainer("image-unet", "labkit.training.animatediff", "tiny-image-unet", "02_temporal_attention", 1000),
    Trainer("motion-adapter", "labkit.training.animatediff", "tiny-motion-adapter", "02_temporal_attention", 900),
    Trainer("t2v", "labkit.training.t2v", "tiny-t2v", "04_train_tiny_video_model", None,
            supports=("resume", "init_from"), init_marker="model_index.json", rules=_T2V_RULES,
            choices=_T2V_CHOICES),
    Trainer("i2v", "labkit.training.t2v", "tiny-i2v", "04_train_tiny_video_model", None,
            supports=("resume", "init_from"), init_marker="model_index.json", rules=_T2V_RULES,
            choices=_T2V_CHOICES),
    Trainer("svd", "labkit.training.svd", "tiny-svd", "05_svd_cogvideox_inference", 800, threads=1),
    Trainer("orbit", "labkit.training.orbit", "tiny-orbit", "06_multiview_generation", None, threads=1),
    Trainer("features", "labkit.training.swnet", "swnet", "07_metric_evaluation", 600),
)}


def trainer_table() -> list[tuple[str, str, str]]:
    """``(kind, the shipped models it made, notebook)`` for every trainer (``labkit train list``), from the
    registry's ``train`` entries (``--ship`` without a folder writes ``data/models/<makes>``)."""
    made = {t.kind: [n for n, e in models.REGISTRY.items() if e.train.split()[2] == t.kind] for t in TRAINERS.values()}
    return [(t.kind, ", ".join(f"data/models/{n}" for n in made[t.kind]), t.notebook) for t in TRAINERS.values()]


def common_parser(trainer: Trainer) -> argparse.ArgumentParser:
    """The flags every trainer shares (and the optional ones ``trainer.supports``); no heavy import needed."""
    p = ArgumentParser(prog=f"labkit train {trainer.kind}", add_help=False)
    common = p.add_argument_group("common to every trainer")
    common.add_argument("--steps", type=flag("steps"), default=trainer.steps, help="training steps")
    common.add_argument("--seed", type=flag("seed"), default=0, help="seed of weights, data and noise")
    common.add_argument("--threads", type=flag("threads"), default=trainer.threads, help="torch CPU threads")
    common.add_argument("--out", type=Path, default=None,
                        help=f"the run folder (default outputs/models/{trainer.out_name or trainer.makes}); "
                             "a folder inside data/ means --ship to it")
    if "resume" in trainer.supports:
        common.add_argument("--resume", type=Path, default=None, help="a run folder written by an earlier run")
    if "init_from" in trainer.supports:
        common.add_argument("--init-from", type=Path, default=None, help="a trained folder to start from")
    common.add_argument("--ship", type=Path, nargs="?", const=DATA_DIR / "models" / trainer.makes, default=None,
                        help=f"ship the result into data/ (default data/models/{trainer.makes}) if its bars are met")
    common.add_argument("--below-bars", "--ship-below-bars", dest="below_bars", action="store_true",
                        help="with --ship: ship even if the bars are missed, recording which in PROVENANCE.json")
    return p


def build_parser(trainer: Trainer, module) -> argparse.ArgumentParser:
    """The common flags, then the trainer's own (``module.add_arguments``)."""
    p = ArgumentParser(prog=f"labkit train {trainer.kind}", parents=[common_parser(trainer)],
                       description=(module.__doc__ or "").strip().splitlines()[0])
    module.add_arguments(p, trainer.kind)
    return p


def vocabulary_parser(trainer: Trainer) -> argparse.ArgumentParser:
    """A flag for every name in :data:`labkit.checks.VOCABULARY` (and ``trainer.rules``), typed by its rule, and one
    for every flag of ``trainer.choices``, matched only in full: ``parse_known_args`` over the flags the common
    parser left refuses ``--batch 0``, ``--lr nan`` or ``--kind 4d`` before the trainer module is imported (the full
    parser rejects flags the trainer lacks)."""
    p = ArgumentParser(prog=f"labkit train {trainer.kind}", add_help=False, allow_abbrev=False)
    for name, rule in {**VOCABULARY, **trainer.rules}.items():
        if name not in ("steps", "seed", "threads", *trainer.choices):  # the common parser's own, the choices
            p.add_argument("--" + name.replace("_", "-"), dest=name, type=flag(name, rule))
    for name, values in trainer.choices.items():
        kind = type(values[0])
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind if kind is int else str, choices=values)
    return p


def check_common(args: argparse.Namespace, trainer: Trainer) -> None:
    """Resolve and check the common flags before any work; a ``ValueError`` names the flag."""
    if args.out is not None and inside(args.out, DATA_DIR):  # the recorded form of shipping
        if args.ship is not None:
            raise ValueError(f"--out {args.out} is inside data/ (that means --ship {args.out}); give one of them")
        args.ship = Path(args.out)
        args.out = None
    if args.out is None:
        args.out = OUTPUTS_DIR / "models" / (trainer.out_name or trainer.makes).format(**vars(args))
    check_out(args.out)
    if args.ship is not None:
        if not inside(args.ship, DATA_DIR):
            raise ValueError(f"--ship: expected a folder inside {DATA_DIR}, got {args.ship}")
        if args.ship.exists():
            raise ValueError(f"--ship: {args.ship} exists; a training run never overwrites a shipped folder")
    elif args.below_bars:
        raise ValueError("--below-bars only applies with --ship")
    if getattr(args, "resume", None) is not None:
        check_folder(args.resume, "--resume", "training_state", what="run folder")
    if getattr(args, "init_from", None) is not None:
        check_folder(args.init_from, "--init-from", trainer.init_marker)


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, trainer: Trainer, module=None) -> None:
    """Every check of the parsed flags, a bad one ending the command with one line (exit status 2)."""
    try:
        check_common(args, trainer)
        check_namespace(args, trainer.rules)
        if module is not None and hasattr(module, "check_arguments"):
            module.check_arguments(args)
    except (TypeError, ValueError) as err:
        parser.error(str(err))


def main(kind: str, argv: list[str]) -> int:
    """``labkit train KIND ARGS...``: parse, check, run, record, summarise, ship."""
    try:
        check_choice(kind, "KIND", TRAINERS, what="trainer")
    except (TypeError, ValueError) as err:
        print(f"labkit train: {err}", file=sys.stderr)
        return 2
    trainer = TRAINERS[kind]
    if not {"-h", "--help"} & set(argv):  # every flag with a rule is checked before the trainer module is imported
        early = common_parser(trainer)
        known, rest = early.parse_known_args(argv)
        vocabulary_parser(trainer).parse_known_args(rest)
        _check(early, known, trainer)
    # lazy: a trainer module imports torch/diffusers; `labkit train` loads only the one it runs
    module = importlib.import_module(trainer.module)
    parser = build_parser(trainer, module)
    args = parser.parse_args(argv)
    args.trainer = kind
    _check(parser, args, trainer, module)
    import torch  # lazy: the flags are checked before torch is imported

    torch.set_num_threads(args.threads)
    command = f"labkit train {kind} " + shlex.join(argv)
    start = time.perf_counter()
    result = module.run(args)
    seconds = time.perf_counter() - start
    print(json.dumps(result.summary, indent=1, default=str), flush=True)
    record = dict(result.summary)
    if result.bars_problem is not None:
        record["bars_problem"] = result.bars_problem
    resume = getattr(args, "resume", None)
    resumed_here = resume is not None and Path(resume).resolve() == Path(args.out).resolve()
    write_run_record(args.out, command.strip(), args.seed, seconds, append=resumed_here, extra=record,
                     builds_on=result.builds_on)
    print(f"labkit train {kind}: {seconds:.0f} s, saved to {args.out}")
    if args.ship is None:
        return 0
    if result.bars_problem is None:
        ship(args.out, args.ship, command.strip(), args.seed, seconds, dict(result.summary),
             ignore=result.ship_ignore)
        code = 0
    else:
        code = ship_checked(args.out, args.ship, result.bars_problem,
                            args.below_bars and result.below_bars_allowed, command.strip(), args.seed, seconds,
                            dict(result.summary), ignore=result.ship_ignore)
    if code == 0 and result.after_ship is not None:
        result.after_ship(args.ship, command.strip())
    if code == 0:
        from labkit.models.cards import add_card_if_pipeline  # lazy: diffusers loads only after a ship

        add_card_if_pipeline(args.ship)  # a shipped pipeline folder gets its model card (labkit card)
    return code
